"""The FastAPI app over a ``Catalogue`` of loaded models: the page, its static files and the JSON API.

    POST /predict   {"text": "...", "models": [...]} -> every model's classes, latency, agreement
    GET  /models    what is served: role, runtime, size, test accuracy
    GET  /health    {"status": "ok"}
    GET  /openapi.json

The body of /predict is read here rather than by FastAPI, so that each bad request (wrong
content type, over the size limit, not UTF-8, not JSON, bad fields, unknown models) gets its
own 4xx with the problem and the fix. Models run in the threadpool, one call at a time each
(``distill.web.models.Served``). Nothing loads from another origin: the page's files come from
``static/`` only, which ``Content-Security-Policy: default-src 'self'`` enforces in the
browser; FastAPI's /docs page (Swagger UI from a CDN) is off.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from pathlib import Path

from fastapi import FastAPI, HTTPException, Request
from fastapi.middleware.gzip import GZipMiddleware
from fastapi.responses import FileResponse, Response
from fastapi.staticfiles import StaticFiles
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from distill.web.models import Catalogue
from distill.web.predict import predict_all
from distill.web.schema import MAX_TEXT_BYTES, Health, ModelsResponse, PredictRequest, PredictResponse

STATIC = Path(__file__).resolve().parent / "static"
MAX_BODY_BYTES = 6 * MAX_TEXT_BYTES + 10_000  # JSON may escape a character as \uXXXX: 6 bytes
ERRORS = {status: {"description": why, "content": {"application/json": {"example": {"detail": "problem: fix"}}}}
          for status, why in [(400, "body not UTF-8, or not JSON"), (413, f"text over {MAX_TEXT_BYTES} bytes"),
                              (415, "Content-Type is not application/json"),
                              (422, "missing, empty or mistyped field, or unknown model")]}


async def read_request(request: Request, known: list[str]) -> PredictRequest:
    """The validated body of a /predict request; an HTTPException names what is wrong and the fix."""
    content_type = request.headers.get("content-type", "")
    if content_type.split(";")[0].strip().lower() != "application/json":
        raise HTTPException(415, f"Content-Type is {content_type or 'missing'!r}: send the body as JSON with "
                                 "Content-Type: application/json")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY_BYTES:
            raise HTTPException(413, f"the body is over {MAX_BODY_BYTES} bytes: send at most {MAX_TEXT_BYTES} "
                                     "bytes of text")
    try:
        data = json.loads(body.decode("utf-8"))
    except UnicodeDecodeError as error:
        raise HTTPException(400, f"the body is not valid UTF-8 (byte {error.start}): encode the JSON as UTF-8")
    except json.JSONDecodeError as error:
        raise HTTPException(400, f"malformed JSON ({error.msg}, line {error.lineno} column {error.colno}): "
                                 'send an object such as {"text": "the shuttle launch slipped"}')
    if not isinstance(data, dict):
        raise HTTPException(422, f'the body is a JSON {type(data).__name__}: send an object such as {{"text": "..."}}')
    try:
        payload = PredictRequest.model_validate(data)
    except ValidationError as error:
        problems = "; ".join(f"{'.'.join(map(str, item['loc'])) or 'body'}: {item['msg']}" for item in error.errors())
        raise HTTPException(422, f"{problems} (expected {{\"text\": string, \"models\": [names] or left out}})")
    check_text(payload.text)
    if payload.models == []:
        raise HTTPException(422, "models is an empty list: name at least one, or leave models out for all of them")
    unknown = [name for name in payload.models or [] if name not in known]
    if unknown:
        raise HTTPException(422, f"unknown models {unknown}: choose from {known} (GET /models), "
                                 "or leave models out for all of them")
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
