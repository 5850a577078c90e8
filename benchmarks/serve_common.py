"""Shared by the serving benchmarks and tests: run ``python -m distill.web`` in a subprocess, and Chromium.

The server is started on a free port (``--port 0``) and found by the URL it prints, so two
servers never race for one port.
"""

from __future__ import annotations

import queue
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Playwright

URL_LINE = re.compile(r"\[serve\] open (http://\S+?)/?\s")
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--no-first-run"]


@dataclass
class Server:
    url: str  # http://127.0.0.1:<port>, no trailing slash
    pid: int
    output: list[str] = field(default_factory=list)  # everything it printed so far


@contextmanager
def serving(folder: str | Path, cwd: str | Path | None = None, timeout: float = 600) -> Iterator[Server]:
    """A server for ``folder`` until the block ends; an error shows what it printed if it did not start."""
    command = [sys.executable, "-m", "distill.web", str(folder), "--port", "0"]
    process = subprocess.Popen(command, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    output: list[str] = []
    found: queue.Queue[str | None] = queue.Queue()

    def read() -> None:
        for line in process.stdout:
            output.append(line)
            if match := URL_LINE.search(line):
                found.put(match.group(1))
        found.put(None)  # it exited

    threading.Thread(target=read, daemon=True).start()
    try:
        try:
            url = found.get(timeout=timeout)
        except queue.Empty:
            url = None
        if url is None:
            raise RuntimeError("distill.web did not start:\n" + "".join(output[-40:]))
        yield Server(url, process.pid, output)
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def rss_mb(pid: int) -> float:
    """Resident memory of a process (Linux), in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for process {pid}")


def chromium(playwright: Playwright) -> Browser:
    """Headless Chromium from the system package (``playwright install`` needs a download)."""
    return playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
