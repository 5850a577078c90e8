"""The web server (python -m distill.web) on a tiny pipeline-shaped run: models, API, bad input, safety."""

from __future__ import annotations

import base64
import http.client
import json
import re
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("fastapi")
from fastapi.testclient import TestClient  # noqa: E402

from conftest import GROUPS, ROOT, benchmark_module  # noqa: E402
import distill.cli.serve as serve_cli  # noqa: E402
from distill.cli.serve import main as serve_main, run_splits  # noqa: E402
from distill.errors import UserError  # noqa: E402
from distill.export import export_run, main as export_main  # noqa: E402
from distill.web.app import create_app  # noqa: E402
from distill.web.models import ENSEMBLE, fitted_ensemble, load_folder, prepare  # noqa: E402
from distill.serving import from_onnx  # noqa: E402
from distill.preprocessing import TfidfTransform  # noqa: E402
from distill.evaluation import mean_cosine, mean_kl  # noqa: E402
from distill.data.corpus import Corpus  # noqa: E402
from distill.logit_store import LogitStore  # noqa: E402
from distill.report import build_report  # noqa: E402

serve_common = benchmark_module("serve_common")

SERVED = {"teacher", "logistic_kd", "bilstm_kd", "sk_complementnb", ENSEMBLE}
LONG = " ".join(["orbit rocket launch nasa shuttle moon"] * 20)  # ~120 words > teacher.max_length=32
RAW = ("From: someone@example.com\nSubject: engines\n\nIn article <1@x>, a writes:\n> pixel shader\n"
       "engine wheel brake gearbox tyre\n\n-- \nSig Nature, Example Corp\n")
TEXTS = ["engine", "Pixel RENDER, shader!", "orbit rocket engine brake caf\xe9 na\xefve zzz", LONG, RAW,
         "render render texture image polygon", "the shuttle launch slipped a week"]


@pytest.fixture(scope="module")
def catalogue(serve_run: Path):
    return load_folder(serve_run, prepare(serve_run, lambda: run_splits(serve_run)))


@pytest.fixture(scope="module")
def client(catalogue):
    with TestClient(create_app(catalogue)) as client:
        yield client


def post(client: TestClient, body: bytes | str | dict | list, content_type: str | None = "application/json"):
    data = json.dumps(body) if isinstance(body, (dict, list)) else body
    headers = {"Content-Type": content_type} if content_type else {}
    return client.post("/predict", content=data, headers=headers)


def test_every_model_is_loaded_once_in_its_fastest_runtime(catalogue, serve_run: Path) -> None:
    models = catalogue.models
    assert set(models) == SERVED and list(models)[0] == "teacher"
    assert {name: served.model.runtime for name, served in models.items()} == {
        "teacher": "onnxruntime", "logistic_kd": "onnxruntime", "bilstm_kd": "onnxruntime",
        "sk_complementnb": "sklearn", ENSEMBLE: "onnxruntime"}
    for name in ("teacher", "logistic_kd", "bilstm_kd"):
        assert (serve_run / "export" / name / "model.onnx").is_file()
    assert catalogue.browser_model == serve_run / "export" / "web" / "logistic_kd.json"
    for name in ("teacher", "logistic_kd", "sk_complementnb"):
        recorded = json.loads((serve_run / name / "metrics.json").read_text())["metrics"]["test/acc"]
        assert models[name].test_acc == recorded


def test_the_ensemble_weight_is_the_val_best_by_brute_force_and_its_accuracy_that_blends(catalogue,
                                                                                         serve_run: Path) -> None:
    """Worked out here by hand, from the members' stored logits (the pair bilstm_kd's record names): every
    weight of a 0.1 grid scored on val, the best nearest the even average, then that mix scored on test."""
    splits = run_splits(serve_run)

    def stored(name: str, split: str) -> np.ndarray:
        logits = LogitStore.load(serve_run / name / "logits.npz").aligned(split, splits[split].ids)
        exp = np.exp(logits - logits.max(1, keepdims=True))
        return exp / exp.sum(1, keepdims=True)

    def accuracy(weight: float, split: str) -> float:
        mix = weight * stored("bilstm_kd", split) + (1 - weight) * stored("logistic_kd", split)
        return float(np.mean(mix.argmax(1) == splits[split].labels))

    scores = {weight / 10: accuracy(weight / 10, "val") for weight in range(11)}
    weight = min((w for w, score in scores.items() if score == max(scores.values())), key=lambda w: abs(w - 0.5))
    note = next(note for note in catalogue.notes if note.startswith(ENSEMBLE))
    assert note == f"{ENSEMBLE}: weight {weight:.1f} on bilstm_kd (with logistic_kd) fitted on val"
    assert catalogue.models[ENSEMBLE].test_acc == pytest.approx(accuracy(weight, "test"), abs=1e-6)
    members = {name: catalogue.models[name].model.predict_proba(TEXTS) for name in ("bilstm_kd", "logistic_kd")}
    np.testing.assert_allclose(catalogue.models[ENSEMBLE].model.predict_proba(TEXTS),
                               weight * members["bilstm_kd"] + (1 - weight) * members["logistic_kd"], atol=1e-6)


def test_the_ensemble_is_chosen_on_its_twins_val_and_serves_their_refits(tmp_path: Path) -> None:
    """Val picks the pair and weight on the twins; the served members and their test accuracy are the refits'."""
    labels = np.array([0, 1, 0, 1])
    val, test = (Corpus(np.arange(start, start + 4), ["text"] * 4, labels, ["a", "b"]) for start in (0, 10))
    right = np.eye(2)[labels] * 4.0
    splits = {"val": val, "test": test}
    stored = {"bilstm_kd": {"val": right, "test": -right}, "logistic_kd": {"val": right, "test": -right},
              "final": {"test": 2 * right}}  # a refit has no val: it learnt val
    for name, logits in stored.items():
        LogitStore.from_predictions({split: splits[split] for split in logits}, logits, {"kind": "student"}).save(
            tmp_path / name / "logits.npz")
    records = {"bilstm_kd": {"stage": {"blend_with": ["logistic_kd"]}}, "logistic_kd": {},
               "final": {"stage": {"refit_of": "logistic_kd"}}}  # what the stages' metrics.json say of them
    members, weight, test_acc = fitted_ensemble(tmp_path, records, splits)
    assert members == ("bilstm_kd", "final") and weight == 0.5
    assert test_acc == 1.0  # the twin's test logits are all wrong: only the refit's can be right


def test_a_restart_reads_the_ensemble_fit_until_what_it_was_made_from_changes(serve_run: Path,
                                                                               tmp_path: Path) -> None:
    """The fit is recorded with what it depends on: an unchanged run starts without its corpus, and
    another store or another pairing is fitted again."""
    run = tmp_path / "run"
    shutil.copytree(serve_run, run, ignore=shutil.ignore_patterns("students_ensemble.json"))
    loads = []

    def splits():
        loads.append(True)
        return run_splits(run)

    first = prepare(run, splits)
    assert loads == [True] and first.ensemble_weight is not None
    again = prepare(run, lambda: pytest.fail("an unchanged run must not load its corpus"))
    assert ((again.ensemble_members, again.ensemble_weight, again.ensemble_test_acc)
            == (first.ensemble_members, first.ensemble_weight, first.ensemble_test_acc))
    path = run / "logistic_kd" / "logits.npz"
    store = LogitStore.load(path)  # as if the stage had been trained again: other logits
    negated = {split: -values for split, values in store.logits.items()}
    LogitStore(store.ids, negated, store.manifest).only(list(store.ids)).save(path)
    assert prepare(run, splits).ensemble_weight is not None and len(loads) == 2
    for stage, partners in (("bilstm_kd", []), ("logistic_kd", ["bilstm_kd"])):  # the pair declared the other way
        record = json.loads((run / stage / "metrics.json").read_text())
        record["stage"]["blend_with"] = partners
        (run / stage / "metrics.json").write_text(json.dumps(record))
    assert prepare(run, splits).ensemble_members == ("logistic_kd", "bilstm_kd") and len(loads) == 3


def test_predict_gives_every_model_compared_with_the_teacher(client: TestClient, catalogue, serve_run: Path) -> None:
    reply = post(client, {"text": TEXTS[2]})
    assert reply.status_code == 200, reply.text
    body = reply.json()
    assert body["teacher"] == "teacher" and [row["model"] for row in body["results"]] == list(catalogue.models)
    rows = {row["model"]: row for row in body["results"]}
    for name, row in rows.items():
        probs = [entry["prob"] for entry in row["top"]]
        assert len(row["top"]) == len(GROUPS) and probs == sorted(probs, reverse=True)
        assert sum(probs) == pytest.approx(1.0, abs=1e-5) and row["label"] == row["top"][0]["label"]
        assert row["latency_ms"] > 0 and row["runtime"] == catalogue.models[name].model.runtime
        if name == "teacher":
            assert row["vs_teacher"] is None
        else:
            teacher_top = rows["teacher"]["label"]
            assert row["vs_teacher"]["agrees"] == (row["label"] == teacher_top)
            assert 0 < row["vs_teacher"]["cosine"] <= 1 + 1e-9 and row["vs_teacher"]["kl"] >= 0
    direct = from_onnx(serve_run / "export" / "logistic_kd").predict_proba([TEXTS[2]])[0]
    served = {entry["label"]: entry["prob"] for entry in rows["logistic_kd"]["top"]}
    np.testing.assert_allclose([served[label] for label in sorted(GROUPS)], direct, atol=1e-6)
    teacher = from_onnx(serve_run / "export" / "teacher").predict_proba([TEXTS[2]])
    assert rows["logistic_kd"]["vs_teacher"]["cosine"] == pytest.approx(mean_cosine(direct[None], teacher), abs=1e-5)
    assert rows["logistic_kd"]["vs_teacher"]["kl"] == pytest.approx(mean_kl(teacher, direct[None]), abs=1e-5)
    summary = body["summary"]
    if summary is not None:
        assert rows[summary["model"]]["vs_teacher"]["agrees"]
        assert summary["speedup"] == pytest.approx(summary["teacher_latency_ms"] / summary["latency_ms"])


def test_truncation_is_reported_per_model(client: TestClient) -> None:
    rows = {row["model"]: row for row in post(client, {"text": LONG}).json()["results"]}
    assert rows["teacher"]["truncated"] and rows["bilstm_kd"]["truncated"] and rows[ENSEMBLE]["truncated"]
    assert rows["teacher"]["max_length"] == 32
    assert not rows["logistic_kd"]["truncated"] and not rows["sk_complementnb"]["truncated"]
    short = {row["model"]: row for row in post(client, {"text": "engine"}).json()["results"]}
    assert not any(row["truncated"] for row in short.values())


def test_a_subset_of_models_without_the_teacher_has_no_comparison(client: TestClient) -> None:
    body = post(client, {"text": "engine wheel", "models": ["logistic_kd", "logistic_kd", "bilstm_kd"]}).json()
    assert [row["model"] for row in body["results"]] == ["logistic_kd", "bilstm_kd"]
    assert body["teacher"] is None and body["summary"] is None
    assert all(row["vs_teacher"] is None for row in body["results"])


def test_models_health_and_openapi(client: TestClient, catalogue) -> None:
    info = client.get("/models").json()
    assert [model["name"] for model in info["models"]] == list(catalogue.models)
    assert info["labels"] == sorted(GROUPS) and info["browser_model"] == "logistic_kd"
    assert info["max_text_bytes"] == 100_000
    for model in info["models"]:
        assert model["size_mb"] > 0 and model["runtime"]
        assert model["role"] in ("teacher", "student", "ensemble", "classic")
        assert model["test_acc"] == catalogue.models[model["name"]].test_acc
    assert client.get("/health").json() == {"status": "ok", "models": len(SERVED)}
    schema = client.get("/openapi.json").json()
    assert {"/predict", "/models", "/health"} <= set(schema["paths"])
    request = schema["paths"]["/predict"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert request["required"] == ["text"] and set(request["properties"]) == {"text", "models"}
    assert {"400", "413", "415", "422"} <= set(schema["paths"]["/predict"]["post"]["responses"])
    assert client.get("/docs").status_code == 404  # Swagger UI would load from a CDN


def test_models_report_and_page_give_one_size(client: TestClient, serve_run: Path) -> None:
    """/models, the report and the page: parameters as recorded at training, MiB on disk of what is served."""
    info = {model["name"]: model for model in client.get("/models").json()["models"]}
    report = build_report(serve_run, run_splits(serve_run)["test"], {})["summary"]
    for name in ("teacher", "logistic_kd", "bilstm_kd", "sk_complementnb"):
        recorded = json.loads((serve_run / name / "metrics.json").read_text())["metrics"]["params"]
        assert info[name]["params"] == recorded == report[name]["params"]
        assert info[name]["size_mb"] == pytest.approx(report[name]["size_mb"], abs=1e-9)
    onnx = serve_run / "export" / "logistic_kd"
    assert info["logistic_kd"]["size_mb"] == pytest.approx(
        sum(path.stat().st_size for path in (onnx / "model.onnx", onnx / "features.json")) / 2**20)
    assert info[ENSEMBLE]["params"] == info["bilstm_kd"]["params"] + info["logistic_kd"]["params"]
    assert info[ENSEMBLE]["size_mb"] == pytest.approx(info["bilstm_kd"]["size_mb"] + info["logistic_kd"]["size_mb"])


BAD = {  # name: (body, content type, status, words of the message)
    "empty text": ({"text": ""}, "application/json", 422, "text is empty"),
    "whitespace only": ({"text": " \n\t\u3000 "}, "application/json", 422, "only whitespace"),
    "text over 100 KB": ({"text": "a" * 100_001}, "application/json", 413, "over the limit of 100000"),
    "multibyte text over 100 KB": ({"text": "\xe9" * 50_001}, "application/json", 413, "100002 bytes"),
    "body far over the limit": (b'{"text": "' + b"a" * 700_000 + b'"}', "application/json", 413, "body is over"),
    "invalid UTF-8": (b'{"text": "caf\xe9"}', "application/json", 400, "not valid UTF-8"),
    "malformed JSON": (b'{"text": "abc"', "application/json", 400, "malformed JSON"),
    "not an object": ([1, 2], "application/json", 422, "JSON list"),
    "text missing": ({"txt": "engine"}, "application/json", 422, "text: Field required"),
    "text not a string": ({"text": 5}, "application/json", 422, "text: Input should be a valid string"),
    "unknown key": ({"text": "engine", "model": "x"}, "application/json", 422, "model: Extra inputs"),
    "unpaired surrogate": (b'{"text": "engine \\ud800"}', "application/json", 400, "unpaired surrogate"),
    "wrong content type": ({"text": "engine"}, "text/plain", 415, "Content-Type: application/json"),
    "form post": (b"text=engine", "application/x-www-form-urlencoded", 415, "application/json"),
    "no content type": ({"text": "engine"}, None, 415, "missing"),
    "unknown model": ({"text": "engine", "models": ["gpt", "teacher"]}, "application/json", 422,
                      "unknown models 'gpt': choose among the 5 served"),
    "empty model list": ({"text": "engine", "models": []}, "application/json", 422, "empty list"),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_input_gets_a_clear_4xx_and_the_server_keeps_serving(client: TestClient, case: str) -> None:
    body, content_type, status, words = BAD[case]
    reply = post(client, body, content_type)
    assert reply.status_code == status, reply.text
    assert words in reply.json()["detail"]
    assert post(client, {"text": "engine"}).status_code == 200


def test_charset_in_content_type_is_fine(client: TestClient) -> None:
    assert post(client, {"text": "engine"}, "application/json; charset=utf-8").status_code == 200


def test_page_and_static_files_only(client: TestClient) -> None:
    page = client.get("/")
    assert page.status_code == 200 and '<script type="module" src="/static/app.js">' in page.text
    assert page.headers["content-security-policy"] == "default-src 'self'"
    assert "LogisticStudent" in client.get("/static/tfidf.js").text
    assert client.get("/browser-model.json").json()["model"] == "logistic_kd"
    for path in ("/static/../app.py", "/static/%2e%2e/app.py", "/static/%2E%2E/models.py", "/static/..%2fapp.py",
                 "/static/%2e%2e%2f%2e%2e%2fserve%2fapp.py", "/static/..%5capp.py", "/static//etc/passwd",
                 "/static/%2fetc%2fpasswd", "/app.py", "/static/../../../../pyproject.toml"):
        reply = client.get(path)
        assert reply.status_code == 404, path
        assert "create_app" not in reply.text and "root:" not in reply.text


def test_concurrent_requests_give_the_sequential_answers(client: TestClient) -> None:
    def answer(text: str) -> list[tuple[str, list[float]]]:
        reply = post(client, {"text": text})
        assert reply.status_code == 200, reply.text
        return [(row["label"], [entry["prob"] for entry in row["top"]]) for row in reply.json()["results"]]

    sequential = {text: answer(text) for text in TEXTS}
    jobs = [TEXTS[i % len(TEXTS)] for i in range(50)]
    with ThreadPoolExecutor(8) as pool:
        concurrent = list(pool.map(answer, jobs))
    for text, got in zip(jobs, concurrent):
        for (label, probs), (expected_label, expected) in zip(got, sequential[text]):
            assert label == expected_label and probs == pytest.approx(expected, abs=1e-6)


def test_web_export_holds_the_logistic_student(serve_run: Path, tmp_path: Path) -> None:
    """--format web: one JSON per logistic student, which reproduces the served model in plain numpy."""
    export_main([str(serve_run), "--format", "web", "--out", str(tmp_path)])
    assert sorted(path.name for path in (tmp_path / "web").iterdir()) == ["logistic_kd.json"]
    spec = json.loads((tmp_path / "web" / "logistic_kd.json").read_text())
    vocab, classes = spec["shape"]

    def floats(key: str) -> np.ndarray:
        return np.frombuffer(base64.b64decode(spec[key]), dtype="<f4")

    transform = TfidfTransform({**spec, "vocabulary": {term: i for i, term in enumerate(spec["terms"])},
                                "idf": floats("idf")})
    weights, bias = floats("weights").reshape(vocab, classes), floats("bias")
    from distill.preprocessing import clean

    rows = [transform.row(text) for text in clean(TEXTS, spec["cleaning"])]
    logits = np.stack([weights[columns].T @ values + bias for columns, values in rows])
    probs = np.exp(logits - logits.max(1, keepdims=True))
    probs /= probs.sum(1, keepdims=True)
    expected = from_onnx(serve_run / "export" / "logistic_kd").predict_proba(TEXTS)
    np.testing.assert_allclose(probs, expected, atol=1e-6)
    assert spec["labels"] == sorted(GROUPS) and len(spec["terms"]) == vocab == len(floats("idf"))


def test_web_export_refuses_a_run_without_a_logistic_student(serve_run: Path, tmp_path: Path) -> None:
    shutil.copytree(serve_run / "bilstm_kd", tmp_path / "run" / "bilstm_kd")
    with pytest.raises(UserError, match="no logistic"):
        export_run(tmp_path / "run", format="web")


def test_a_stage_without_a_model_is_skipped_with_a_note(serve_run: Path, tmp_path: Path) -> None:
    """A teacher reused from a logit store has no checkpoint: the others are served, and say so."""
    run = tmp_path / "run"
    shutil.copytree(serve_run, run)  # its exports stay current: the copy is not exported again
    record = json.loads((run / "teacher" / "metrics.json").read_text())
    (run / "teacher" / "metrics.json").write_text(json.dumps({**record, "checkpoint": None, "features": None,
                                                              "reused": "teacher_logits.npz"}))
    catalogue = load_folder(run)
    assert set(catalogue.models) == SERVED - {"teacher"}
    assert "teacher: skipped, no model, only logits, reused from teacher_logits.npz" in catalogue.notes
    fallback = f"{ENSEMBLE}: weight 0.5 on bilstm_kd (with logistic_kd) (no weight fitted for these members)"
    assert fallback in catalogue.notes
    with TestClient(create_app(catalogue)) as client:
        body = post(client, {"text": "engine"}).json()
    assert body["teacher"] is None and all(row["vs_teacher"] is None for row in body["results"])


def test_networks_without_a_current_export_run_in_pytorch(serve_run: Path, tmp_path: Path) -> None:
    shutil.copytree(serve_run, tmp_path / "run", ignore=shutil.ignore_patterns("export"))
    catalogue = load_folder(tmp_path / "run")
    assert catalogue.models["bilstm_kd"].model.runtime == "pytorch" and catalogue.browser_model is None
    assert "bilstm_kd: no current ONNX export, served in PyTorch" in catalogue.notes
    assert not (tmp_path / "run" / "export").exists()  # loading alone writes nothing


def test_an_export_folder_is_served_as_it_is(catalogue, serve_run: Path) -> None:
    exports = load_folder(serve_run / "export")
    assert set(exports.models) == {"teacher", "logistic_kd", "bilstm_kd", ENSEMBLE}
    assert exports.models["teacher"].test_acc == catalogue.models["teacher"].test_acc
    assert exports.browser_model == serve_run / "export" / "web" / "logistic_kd.json"


def test_the_cli_explains_what_it_cannot_serve(serve_run: Path, capsys: pytest.CaptureFixture,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """The folder is prepared in a thread here, not a spawned child (2 s each): the live server tests the child."""
    monkeypatch.setattr(serve_cli, "ProcessPoolExecutor", lambda workers, mp_context: ThreadPoolExecutor(workers))
    with pytest.raises(SystemExit) as exit_:
        serve_main([str(ROOT / "benchmarks" / "results" / "newsgroups20" / "run")])
    assert exit_.value.code == 2 and "logits only" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        serve_main([str(serve_run / "teacher" / "metrics.json")])
    assert "is not a folder" in capsys.readouterr().err
    import socket

    with socket.create_server(("127.0.0.1", 0)) as busy, pytest.raises(SystemExit):
        serve_main([str(serve_run / "export"), "--port", str(busy.getsockname()[1])])
    assert "pass another --port" in capsys.readouterr().err


def test_no_hydra_below_the_wiring_layer() -> None:
    """hydra and omegaconf are imported in distill.cli only; serving must not pull them in."""
    imports = re.compile(r"^\s*(from|import)\s+(hydra|omegaconf)\b", re.MULTILINE)
    package = ROOT / "src" / "distill"
    offenders = [str(path.relative_to(ROOT)) for path in package.rglob("*.py")
                 if path.relative_to(package).parts[0] != "cli" and imports.search(path.read_text())]
    assert offenders == []
    code = ("import sys, distill.web.app, distill.web.models; "
            "print(sorted({'hydra', 'omegaconf'} & set(sys.modules)))")
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert loaded.strip() == "[]"


@pytest.fixture(scope="module")
def live(trained_run: Path, tmp_path_factory: pytest.TempPathFactory):
    """The real server (uvicorn, a subprocess) started from an empty folder on a copy of the run that was never
    exported, so this is its first start; the run and its files (all but export/) before it."""
    root = tmp_path_factory.mktemp("live")
    run, cwd = root / "run", root / "cwd"
    shutil.copytree(trained_run, run, ignore=shutil.ignore_patterns("export"))
    cwd.mkdir()
    before = {path for path in run.rglob("*") if "export" not in path.relative_to(run).parts}
    with serve_common.serving(run, cwd=cwd) as server:
        yield server, run, cwd, before


def raw_get(url: str, path: str) -> tuple[int, bytes]:
    """GET ``path`` exactly as written (no client-side clean-up of .. or %2e)."""
    host, port = url.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=30)
    connection.putrequest("GET", path, skip_accept_encoding=True)
    connection.endheaders()
    response = connection.getresponse()
    return response.status, response.read()


def test_the_real_server_serves_no_file_outside_static(live) -> None:
    server, _, _, _ = live
    assert raw_get(server.url, "/static/app.css")[0] == 200
    for path in ("/static/../app.py", "/static/../../serve/app.py", "/static/%2e%2e/app.py", "/static/%2e%2e%2fapp.py",
                 "/static/..%2f..%2fexport.py", "/static/%2E%2E/%2E%2E/%2E%2E/%2E%2E/pyproject.toml",
                 "/static/....//app.py", "/../../etc/passwd", "/static/%252e%252e/app.py"):
        status, body = raw_get(server.url, path)
        assert status in (400, 404), (path, status)
        assert b"create_app" not in body and b"root:" not in body and b"[project]" not in body


def test_the_real_server_holds_no_pytorch(live) -> None:
    """Exports and the ensemble weight were prepared by a child process: PyTorch never loads here."""
    server, _, _, _ = live
    maps = Path(f"/proc/{server.pid}/maps").read_text()
    assert "libtorch" not in maps and "onnxruntime" in maps
    assert any("fitted on val" in line for line in server.output)


def test_the_real_server_writes_nothing_outside_its_run_folder(live) -> None:
    server, run, cwd, before = live
    for text in TEXTS:
        raw = json.dumps({"text": text}).encode()
        host, port = server.url.removeprefix("http://").split(":")
        connection = http.client.HTTPConnection(host, int(port), timeout=60)
        connection.request("POST", "/predict", raw, {"Content-Type": "application/json"})
        assert connection.getresponse().status == 200
    assert list(cwd.iterdir()) == []
    after = {path for path in run.rglob("*") if "export" not in path.relative_to(run).parts}
    assert after == before


def test_the_first_start_exports_quietly(live) -> None:
    """The live server's first start exports the networks in its child process and prints no third-party
    warnings doing so (torchvision, TorchScript, LSTM)."""
    server, run, _, _ = live
    output = "".join(server.output)
    exported = sorted(path.parent.name for path in (run / "export").glob("*/model.onnx"))
    assert output.count("exported to") == 3 and exported == ["bilstm_kd", "logistic_kd", "teacher"]
    noise = ("torchvision is not installed", "TorchScript", "can cause an error", "Warning", "Attribute type")
    assert [line for line in output.splitlines() if any(word in line for word in noise)] == []


def test_load_script_small(serve_run: Path, tmp_path: Path) -> None:
    """benchmarks/serve_load.py as a user runs it, shrunk to 50 requests: no errors, every student timed."""
    out = tmp_path / "serve_load.json"
    command = [sys.executable, str(ROOT / "benchmarks" / "serve_load.py"), str(serve_run), "--requests", "50",
               "--out", str(out)]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    result = json.loads(out.read_text())
    assert result["requests"] == 50 and result["concurrency"] == 8 and result["errors"] == 0
    assert set(result["models"]) == {"logistic_kd", "bilstm_kd", ENSEMBLE}
    for timing in result["models"].values():
        assert 0 < timing["latency_ms_p50"] <= timing["latency_ms_p95"]
    assert result["rss_mb"]["after_warmup"] > 0 and result["rss_mb"]["after_run"] > 0
    assert "p95" in done.stdout
