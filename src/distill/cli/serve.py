"""``python -m distill.web <run or export folder>`` / ``distill-serve``: the web page and JSON API.

A child process prepares the folder (ONNX and browser exports, the students' ensemble weight
fitted on the val split that the run's ``.hydra/config.yaml`` names), so PyTorch, Hydra and the
corpus never stay in the server's memory. Then every model is loaded once
(``distill.web.models``), the URL to open is printed, and ``distill.web.app`` is served with
uvicorn until Ctrl+C. It listens on 127.0.0.1 (this machine only) unless ``--host`` says
otherwise; ``--port 0`` takes a free port. A request whose headers and body have not arrived
within ``--request-timeout`` seconds is dropped (``distill.web.deadline``); docs/serving.md
says how to put the server behind a reverse proxy.
"""

from __future__ import annotations

import argparse
import logging
import multiprocessing
import socket
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

from distill.console import quiet_third_party, user_errors
from distill.data.corpus import Corpus
from distill.errors import UserError
from distill.web.models import Prepared, load_folder, prepare

DEFAULT_REQUEST_TIMEOUT = 30.0  # seconds for headers and body: a 100 KB text needs far less on any link
KEEP_ALIVE_S = 5  # an idle keep-alive connection is closed after this long (uvicorn's default)


def run_splits(folder: Path) -> dict[str, Corpus] | None:
    """The run's val and test splits, or None (with a line saying why) when they cannot be read."""
    from omegaconf import OmegaConf

    from distill.cli.config import load_splits

    config = folder / ".hydra" / "config.yaml"
    if not config.is_file():
        return None
    try:
        return load_splits(OmegaConf.load(config))
    except (UserError, OSError) as error:
        print(f"[serve] the run's data did not load ({error}): run from the folder pipeline.py ran in")
        return None


def prepare_folder(folder: Path) -> Prepared:
    """``prepare`` with the run's own splits; run in a child process (which inherits no warning filters)."""
    quiet_third_party()
    return prepare(folder, lambda: run_splits(folder))


def listen(host: str, port: int) -> socket.socket:
    """A listening socket, bound before uvicorn starts, so a busy port is a clear error and port 0 works."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        return socket.create_server((host, port), family=family)
    except OSError as error:
        raise UserError(f"cannot listen on {host}:{port} ({error.strerror}): pass another --port, "
                        "or --port 0 for a free one") from None


def server_config(app: Any, request_timeout: float, **settings: Any) -> Any:
    """uvicorn's settings: each request must arrive within ``request_timeout`` s, idle connections close."""
    import uvicorn

    from distill.web.deadline import with_deadline

    return uvicorn.Config(app, log_level="warning", http=with_deadline(request_timeout),
                          timeout_keep_alive=KEEP_ALIVE_S, **settings)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m distill.web", description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path, help="a pipeline run folder (logs/pipeline/<time>) or an export folder")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1: this machine)")
    parser.add_argument("--port", type=int, default=8000, help="port (default 8000; 0 takes a free one)")
    parser.add_argument("--request-timeout", type=float, default=DEFAULT_REQUEST_TIMEOUT, metavar="SECONDS",
                        help="close a connection whose request (headers and body) has not arrived within this "
                             f"many seconds (default {DEFAULT_REQUEST_TIMEOUT:g})")
    parser.add_argument("--debug", action="store_true", help="show the traceback of an error")
    args = parser.parse_args(argv)
    with user_errors(parser, args.debug):
        import uvicorn

        from distill.web.app import create_app

        if not args.request_timeout > 0:
            raise UserError(f"--request-timeout {args.request_timeout:g} is not a positive number of seconds")

        with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as child:
            prepared = child.submit(prepare_folder, args.folder).result()
        catalogue = load_folder(args.folder, prepared)
        for served in catalogue.models.values():  # the first text's latencies should not pay set-up costs
            served.predict("warm up")
        for note in catalogue.notes:
            print(f"[serve] {note}")
        for name, served in catalogue.models.items():
            print(f"[serve] {name}: {served.role}, {served.model.runtime}, {served.model.size_mb:.2f} MB on disk")
        sock = listen(args.host, args.port)
    host, port = sock.getsockname()[:2]
    print(f"[serve] open http://{f'[{host}]' if ':' in host else host}:{port}/  (Ctrl+C to stop)", flush=True)
    quiet_third_party()
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("[serve] %(message)s"))
    logging.getLogger("distill.web").addHandler(handler)
    uvicorn.Server(server_config(create_app(catalogue), args.request_timeout)).run(sockets=[sock])
