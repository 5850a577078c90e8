"""The JSON the API takes and gives, as pydantic models: they validate requests and write /openapi.json."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

MAX_TEXT_BYTES = 100_000  # 100 KB of UTF-8: a long Usenet thread, far beyond any model's max_length


class PredictRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    text: str = Field(description=f"the raw text, at most {MAX_TEXT_BYTES} bytes of UTF-8; "
                                  "Usenet headers, quotes and signatures are stripped as in training")
    models: list[str] | None = Field(None, description="model names from GET /models; all of them when left out")


class TopClass(BaseModel):
    label: str
    prob: float


class Comparison(BaseModel):
    cosine: float = Field(description="cosine similarity of the model's and the teacher's probabilities")
    kl: float = Field(description="KL(teacher || model) in nats")
    agrees: bool = Field(description="whether the top-1 classes are the same")


class ModelResult(BaseModel):
    model: str
    role: str
    runtime: str
    label: str
    top: list[TopClass]
    latency_ms: float = Field(description="time the model took for this text on the server (the ensemble's "
                                          "includes waits for its members)")
    truncated: bool = Field(description="whether the text was longer than max_length tokens (the rest was not read)")
    max_length: int | None
    vs_teacher: Comparison | None = Field(description="null for the teacher, or when it was not asked for")


class Summary(BaseModel):
    model: str = Field(description="the fastest model whose top-1 is the teacher's")
    latency_ms: float
    teacher_latency_ms: float
    speedup: float


class PredictResponse(BaseModel):
    teacher: str | None
    text_bytes: int
    results: list[ModelResult]
    summary: Summary | None


class ModelInfo(BaseModel):
    name: str
    role: str
    runtime: str
    size_mb: float = Field(description="MiB on disk of what is served: model file and preprocessing files, or "
                                       "the pickle (the ensemble: its members'); see distill.serving.size")
    params: int | None = Field(description="learned numbers (weights and biases); null for an ONNX export "
                                           "written before exports recorded it")
    max_length: int | None
    test_acc: float | None = Field(description="from the stage's metrics.json "
                                               "(the ensemble's: from its members' test logits)")


class ModelsResponse(BaseModel):
    models: list[ModelInfo]
    labels: list[str]
    browser_model: str | None = Field(description="the logistic student the page runs in the browser")
    max_text_bytes: int


class Health(BaseModel):
    status: str
    models: int
