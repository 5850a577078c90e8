"""The web API against hostile or odd requests, on stand-in models (no training): each case a user hit.

Deep JSON, a charset other than UTF-8, a text that cleans to nothing, an unknown model among
thousands, stalled and vanishing clients (a real uvicorn server on a loopback socket, with a
short request deadline).
"""

from __future__ import annotations

import asyncio
import logging
import socket
import threading
import time
from collections.abc import Iterator

import numpy as np
import pytest

pytest.importorskip("fastapi")
import uvicorn  # noqa: E402
from fastapi.testclient import TestClient  # noqa: E402

from distill.cli.serve import listen, server_config  # noqa: E402
from distill.serving import LoadedModel  # noqa: E402
from distill.web.app import create_app  # noqa: E402
from distill.web.models import Catalogue, Served  # noqa: E402

LABELS = ["rec.autos", "sci.space"]
DEADLINE_S = 1.0


def stand_in(name: str, delay: float = 0.0) -> LoadedModel:
    def proba(texts: list[str]) -> np.ndarray:
        time.sleep(delay)
        return np.tile([0.25, 0.75], (len(texts), 1))

    return LoadedModel(name, "onnxruntime", LABELS, proba, 10, 0.1, 0.2)


def catalogue(names: list[str], delay: float = 0.0) -> Catalogue:
    models = {name: Served(stand_in(name, delay), "teacher" if index == 0 else "student", None)
              for index, name in enumerate(names)}
    return Catalogue(models, [], None)


@pytest.fixture(scope="module")
def client() -> Iterator[TestClient]:
    with TestClient(create_app(catalogue(["teacher", "student"]))) as client:
        yield client


def post(client: TestClient, body: str | bytes, content_type: str = "application/json"):
    return client.post("/predict", content=body, headers={"Content-Type": content_type})


@pytest.mark.parametrize("body", [
    "[" * 100_000 + "]" * 100_000,
    '{"text": "engine", "models": ' + "[" * 100_000 + "]" * 100_000 + "}",
    '{"text": "engine", "models": [' + '{"a": ' * 50_000 + "1" + "}" * 50_000 + "]}",
])
def test_deeply_nested_json_is_a_400_not_a_500(client: TestClient, body: str) -> None:
    reply = post(client, body)
    assert reply.status_code == 400, reply.text[:300]
    assert "nested too deep" in reply.json()["detail"]
    assert post(client, '{"text": "engine"}').status_code == 200


def test_a_charset_other_than_utf8_is_refused(client: TestClient) -> None:
    reply = post(client, '{"text": "caf\xe9"}'.encode("latin-1"), "application/json; charset=latin-1")
    assert reply.status_code == 415
    assert "charset 'latin-1' is not supported" in reply.json()["detail"]
    assert post(client, '{"text": "café"}'.encode(), 'application/json; charset="UTF-8"').status_code == 200


@pytest.mark.parametrize("text", ["\x00\x00\x00", "From: a@b.example\nSubject: hello\n\n",
                                  "From: a@b.example\n\nIn article <1@x>, c writes:\n> a quote\n", "!!! ?? \x00"])
def test_a_text_that_cleans_to_nothing_is_a_422(client: TestClient, text: str) -> None:
    reply = client.post("/predict", json={"text": text})
    assert reply.status_code == 422
    assert reply.json()["detail"].startswith("nothing left after cleaning headers, quotes and signatures")


def test_an_unknown_model_names_a_few_and_the_count() -> None:
    names = [f"model_{index:05d}" for index in range(10_000)]
    with TestClient(create_app(catalogue(names))) as client:
        reply = client.post("/predict", json={"text": "engine", "models": ["gpt", *(f"x{i}" for i in range(3000))]})
    detail = reply.json()["detail"]
    assert reply.status_code == 422 and len(reply.content) < 1000, len(reply.content)
    assert "unknown models 'gpt', 'x0', 'x1', 'x2', 'x3' and 2996 more" in detail
    assert "among the 10000 served ('model_00000'" in detail and "and 9995 more; GET /models" in detail


@pytest.fixture
def live(caplog: pytest.LogCaptureFixture) -> Iterator[tuple[str, int]]:
    """A real uvicorn server (the CLI's settings, a 1 s request deadline) in a thread, on loopback."""
    caplog.set_level(logging.WARNING)
    sock = listen("127.0.0.1", 0)
    config = server_config(create_app(catalogue(["teacher"], delay=1.5 * DEADLINE_S)), DEADLINE_S, log_config=None)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=lambda: asyncio.run(server.serve(sockets=[sock])), daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.01)
    yield sock.getsockname()[:2]
    server.should_exit = True
    thread.join(10)


def closed_within(connection: socket.socket, seconds: float) -> bool:
    """Whether the server closes ``connection`` within ``seconds`` (what it sent before that is ignored)."""
    connection.settimeout(seconds)
    try:
        while connection.recv(4096):
            pass
        return True
    except (TimeoutError, socket.timeout):
        return False
    except ConnectionResetError:
        return True


def test_stalled_requests_are_closed_and_a_slow_answer_is_not(live, caplog: pytest.LogCaptureFixture) -> None:
    headers = b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
    stalled = [socket.create_connection(live) for _ in range(10)]
    for index, connection in enumerate(stalled):  # half in the headers, half in the body
        connection.sendall(headers if index % 2 else headers + b'Content-Length: 100\r\n\r\n{"text": "eng')
    answered = socket.create_connection(live)  # arrives at once, answered after 1.5 deadlines
    body = b'{"text": "engine"}'
    answered.sendall(headers + b"Content-Length: %d\r\n\r\n%s" % (len(body), body))
    start = time.monotonic()
    assert all(closed_within(connection, 5 * DEADLINE_S) for connection in stalled)
    assert time.monotonic() - start < 5 * DEADLINE_S
    answered.settimeout(10)
    assert answered.recv(4096).startswith(b"HTTP/1.1 200")
    answered.sendall(b"GET /health HTTP/1.1\r\nHo")  # keep-alive: the next request gets a deadline too
    assert closed_within(answered, 5 * DEADLINE_S)
    lines = [record.getMessage() for record in caplog.records]
    assert sum("did not arrive within 1 s" in line for line in lines) == 11, lines
    assert not any(record.exc_info for record in caplog.records)


def test_a_client_leaving_mid_body_is_one_log_line(live, caplog: pytest.LogCaptureFixture) -> None:
    connection = socket.create_connection(live)
    connection.sendall(b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                       b'Content-Length: 100\r\n\r\n{"text": "eng')
    time.sleep(0.2)
    connection.close()
    time.sleep(0.5)
    messages = [record.getMessage() for record in caplog.records]
    assert any(message.endswith("disconnected after 13 bytes of its request body") for message in messages)
    assert len(messages) == 1 and "\n" not in messages[0], messages
    assert not any(record.exc_info for record in caplog.records)
