"""``experiment=own_teacher`` end to end on a tiny CSV corpus, for a BERT, a DistilBERT and a RoBERTa
with a BPE tokenizer saved with save_pretrained (labels in a shuffled order): the teacher labels,
the students (BiLSTM on the model's own tokenizer and embeddings included) learn, and the run ends
with its report and exports."""

from __future__ import annotations

from pathlib import Path

import pytest
from omegaconf import OmegaConf

from conftest import CONFIG_DIR
from hf_models import save_model
from test_own_teacher import data_overrides, tiny_corpus  # noqa: F401 (a session fixture shared with it)
from distill.logit_store import LogitStore

STAGES = ["teacher", "logistic_hard", "logistic_kd", "bilstm_hard", "bilstm_kd"]


@pytest.mark.parametrize("arch", ["bert", "distilbert", "roberta"])
def test_own_teacher_runs_end_to_end(arch: str, tiny_corpus: Path, tmp_path: Path) -> None:
    from hydra import compose, initialize_config_dir

    from distill.cli.finish import finish
    from distill.cli.pipeline import run_pipeline
    from distill.cli.plan import plan_stages

    model = save_model(tmp_path / arch, arch)
    unlabelled = arch == "bert"  # one of them with an unlabelled file, the report and the exports
    overrides = ["experiment=own_teacher", f"teacher.pretrained={model}", *data_overrides(tiny_corpus, unlabelled),
                 f"paths.cache_dir={tmp_path / 'cache'}", "trainer.accelerator=cpu", "model.max_epochs=1",
                 "teacher.backend=torch", "++trainer.enable_progress_bar=false",
                 "++callbacks.progress_bar=null"]
    out = tmp_path / "run"
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        cfg = compose(config_name="pipeline", overrides=[*overrides, f"paths.output_dir={out}"])
        results = run_pipeline(plan_stages(cfg), overrides, out)
    assert list(results) == STAGES and "test/agreement" in results["bilstm_kd"]
    table = (out / "comparison.md").read_text()
    assert all(f"| {name} |" in table for name in STAGES)
    teacher = LogitStore.load(out / "teacher" / "logits.npz")
    assert teacher.source["kind"] == "teacher_finetuned" and ("unlabelled" in teacher.ids) == unlabelled
    assert results["teacher"]["test/acc"] == teacher.source["metrics"]["test/acc"]
    if unlabelled:
        (out / ".hydra").mkdir()
        OmegaConf.save(cfg, out / ".hydra" / "config.yaml")
        finish(list(cfg.pipeline.finish), out)
        assert (out / "report" / "report.md").is_file()
        assert (out / "export" / "bilstm_kd" / "model.onnx").is_file()
        assert (out / "export" / "web" / "logistic_kd.json").is_file()
