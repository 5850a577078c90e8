"""A val-chosen stage is replaced by its refit only where the run has one, and a refit names its twin."""

from __future__ import annotations

from distill.final_fit import final_fit, twin


def test_the_refit_replaces_its_twin_only_where_the_run_has_it() -> None:
    run = {"logistic_kd", "logistic_kd_refit", "bilstm_kd"}
    assert final_fit("logistic_kd", run) == "logistic_kd_refit"
    assert final_fit("bilstm_kd", run) == "bilstm_kd"  # no refit: the twin is the final fit
    assert final_fit("logistic_kd_refit", run) == "logistic_kd_refit"  # no refit of a refit


def test_a_refit_names_its_twin_and_other_stages_have_none() -> None:
    assert twin("bilstm_bag_kd_transfer_refit") == "bilstm_bag_kd_transfer"
    assert twin("refit_of_nothing") is None and twin("logistic_kd") is None
