"""The FastAPI app over a ``Catalogue`` of loaded models: the page, its static files and the JSON API.

    POST /predict   {"text": "...", "models": [...]} -> every model's classes, latency, agreement
    GET  /models    what is served: role, runtime, size, test accuracy
    GET  /health    {"status": "ok"}
    GET  /openapi.json

The body of /predict is read here rather than by FastAPI, so that each bad request (wrong
content type or charset, over the size limit, not UTF-8, not JSON or nested too deep, bad
fields, unknown models, a text with nothing left after cleaning) gets its own 4xx with the
problem and the fix; a client that leaves before its body arrived is one log line. Models run
in the threadpool, one call at a time each (``distill.web.models.Served``). Nothing loads from
another origin: the page's files come from ``static/`` only, which ``Content-Security-Policy:
default-src 'self'`` enforces in the browser; FastAPI's /docs page (Swagger UI from a CDN) is off.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path

from fastapi import FastAPI, HTTPException, Request
from fastapi.middleware.gzip import GZipMiddleware
from fastapi.responses import FileResponse, Response
from fastapi.staticfiles import StaticFiles
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect

from distill.web.models import Catalogue
from distill.preprocessing import clean
from distill.web.predict import predict_all
from distill.web.schema import MAX_TEXT_BYTES, Health, ModelsResponse, PredictRequest, PredictResponse

STATIC = Path(__file__).resolve().parent / "static"
MAX_BODY_BYTES = 6 * MAX_TEXT_BYTES + 10_000  # JSON may escape a character as \uXXXX: 6 bytes
FULL_CLEANING = {"strip": ["headers", "footers", "quotes"]}  # what the page promises to strip
NAMES_SHOWN = 5  # an unknown-model error lists this many names, and the count
ERRORS = {status: {"description": why, "content": {"application/json": {"example": {"detail": "problem: fix"}}}}
          for status, why in [(400, "body not UTF-8, not JSON, or JSON nested too deep"),
                              (413, f"text over {MAX_TEXT_BYTES} bytes"),
                              (415, "Content-Type is not application/json, or its charset is not UTF-8"),
                              (422, "missing, empty or mistyped field, unknown model, or nothing left after "
                                    "cleaning headers, quotes and signatures")]}
log = logging.getLogger("distill.web")


def check_content_type(content_type: str) -> None:
    """JSON is UTF-8 (RFC 8259): any other charset is refused rather than decoded wrongly."""
    media, *parameters = [part.strip().lower() for part in content_type.split(";")]
    if media != "application/json":
        raise HTTPException(415, f"Content-Type is {content_type or 'missing'!r}: send the body as JSON with "
                                 "Content-Type: application/json")
    charset = next((value.strip('"') for key, _, value in (p.partition("=") for p in parameters)
                    if key.strip() == "charset"), "utf-8")
    if charset not in ("utf-8", "utf8"):
        raise HTTPException(415, f"charset {charset[:40]!r} is not supported: encode the JSON as UTF-8 "
                                 "(Content-Type: application/json or application/json; charset=utf-8)")


async def read_body(request: Request) -> bytes:
    """The body, at most MAX_BODY_BYTES; a client gone before it all arrived is logged in one line."""
    body = bytearray()
    try:
        async for chunk in request.stream():
            body += chunk
            if len(body) > MAX_BODY_BYTES:
                raise HTTPException(413, f"the body is over {MAX_BODY_BYTES} bytes: send at most {MAX_TEXT_BYTES} "
                                         "bytes of text")
    except ClientDisconnect:
        client = request.client
        where = f"{client.host}:{client.port}" if client else "a client"
        log.warning("%s disconnected after %d bytes of its request body", where, len(body))
        raise HTTPException(400, "the connection closed before the whole body arrived") from None
    return bytes(body)


def unknown_models(unknown: list[str], known: list[str]) -> str:
    """Name a few of each list and count them: neither a request nor the catalogue is echoed whole."""
    def few(names: list[str]) -> str:
        shown = ", ".join(repr(name if len(name) <= 40 else name[:40] + "...") for name in names[:NAMES_SHOWN])
        return shown + (f" and {len(names) - NAMES_SHOWN} more" if len(names) > NAMES_SHOWN else "")

    return (f"unknown models {few(unknown)}: choose among the {len(known)} served ({few(known)}; "
            "GET /models lists them all), or leave models out for all of them")


async def read_request(request: Request, known: list[str]) -> PredictRequest:
    """The validated body of a /predict request; an HTTPException names what is wrong and the fix."""
    check_content_type(request.headers.get("content-type", ""))
    body = await read_body(request)
    try:
        data = json.loads(body.decode("utf-8"))
    except RecursionError:
        raise HTTPException(400, 'the JSON is nested too deep: send an object such as {"text": "...", '
                                 '"models": ["teacher"]}') from None
    except UnicodeDecodeError as error:
        raise HTTPException(400, f"the body is not valid UTF-8 (byte {error.start}): encode the JSON as UTF-8")
    except json.JSONDecodeError as error:
        raise HTTPException(400, f"malformed JSON ({error.msg}, line {error.lineno} column {error.colno}): "
                                 'send an object such as {"text": "the shuttle launch slipped"}')
    if not isinstance(data, dict):
        raise HTTPException(422, f'the body is a JSON {type(data).__name__}: send an object such as {{"text": "..."}}')
    try:
        payload = PredictRequest.model_validate(data)
    except RecursionError:
        raise HTTPException(422, 'a field is nested too deep (expected {"text": string, "models": [names]})') from None
    except ValidationError as error:
        problems = "; ".join(f"{'.'.join(map(str, item['loc'])) or 'body'}: {item['msg']}" for item in error.errors())
        raise HTTPException(422, f"{problems} (expected {{\"text\": string, \"models\": [names] or left out}})")
    check_text(payload.text)
    if payload.models == []:
        raise HTTPException(422, "models is an empty list: name at least one, or leave models out for all of them")
    unknown = [name for name in payload.models or [] if name not in known]
    if unknown:
        raise HTTPException(422, unknown_models(unknown, known))
    return payload


def check_text(text: str) -> None:
    if not text.strip():
        raise HTTPException(422, f"text is {'empty' if not text else 'only whitespace'}: type or paste a message")
    try:
        size = len(text.encode("utf-8"))
    except UnicodeEncodeError as error:
        raise HTTPException(400, f"text holds an unpaired surrogate at character {error.start}: send valid Unicode")
    if size > MAX_TEXT_BYTES:
        raise HTTPException(413, f"text is {size} bytes of UTF-8, over the limit of {MAX_TEXT_BYTES} (100 KB): "
                                 "send the first part of it")
    if not any(character.isalnum() for character in clean([text], FULL_CLEANING)[0]):
        raise HTTPException(422, "nothing left after cleaning headers, quotes and signatures: send the body of "
                                 "a message, with some words in it")


def create_app(catalogue: Catalogue) -> FastAPI:
    """The server's app; ``catalogue`` is loaded once, before the first request."""
    models = catalogue.models
    names = list(models)
    app = FastAPI(title="distill", summary="A BERT teacher and its distilled students, side by side.",
                  version="1", docs_url=None, redoc_url=None)
    app.add_middleware(GZipMiddleware, minimum_size=1024)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.middleware("http")
    async def same_origin_only(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        response = await call_next(request)
        response.headers["Content-Security-Policy"] = "default-src 'self'"
        return response

    @app.get("/", include_in_schema=False)
    def page() -> FileResponse:
        return FileResponse(STATIC / "index.html")

    @app.get("/health", response_model=Health)
    def health() -> dict:
        return {"status": "ok", "models": len(models)}

    @app.get("/models", response_model=ModelsResponse)
    def served_models() -> dict:
        first = next(iter(models.values()))
        return {
            "models": [{"name": name, "role": served.role, "runtime": served.model.runtime,
                        "size_mb": served.model.size_mb, "params": served.model.params,
                        "max_length": served.model.max_length, "test_acc": served.test_acc}
                       for name, served in models.items()],
            "labels": first.model.labels,
            "browser_model": catalogue.browser_model.stem if catalogue.browser_model else None,
            "max_text_bytes": MAX_TEXT_BYTES,
        }

    @app.get("/browser-model.json", include_in_schema=False)
    def browser_model() -> FileResponse:
        if catalogue.browser_model is None:
            raise HTTPException(404, "no logistic student here to run in the browser: serve a run folder with one")
        return FileResponse(catalogue.browser_model, media_type="application/json")

    @app.post("/predict", response_model=PredictResponse, responses=ERRORS, openapi_extra={"requestBody": {
        "required": True, "content": {"application/json": {"schema": PredictRequest.model_json_schema()}}}})
    async def predict(request: Request) -> dict:
        """Classify one text with every model (or ``models``), each compared with the teacher."""
        payload = await read_request(request, names)
        wanted = list(dict.fromkeys(payload.models or names))
        return await run_in_threadpool(predict_all, models, wanted, payload.text)

    return app
