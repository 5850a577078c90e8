"""DistillationLoss against numbers worked out by hand."""

import math

import pytest
import torch
import torch.nn.functional as F

from distill.errors import UserError
from distill.loss import SCHEDULES, DistillationLoss, scheduled_temperature

STUDENT = torch.tensor([[0.0, 0.0]])
TEACHER = torch.tensor([[math.log(3.0), 0.0]])  # softmax = (0.75, 0.25)


def kl_to_uniform(p: float) -> float:
    """KL((p, 1-p) || (0.5, 0.5)), by hand."""
    return p * math.log(p / 0.5) + (1 - p) * math.log((1 - p) / 0.5)


def test_soft_term_matches_hand_computed_kl_at_t1() -> None:
    loss = DistillationLoss(alpha=1.0, temperature=1.0)
    assert loss(STUDENT, torch.tensor([0]), TEACHER).item() == pytest.approx(kl_to_uniform(0.75), abs=1e-6)


def test_soft_term_is_softened_by_t_and_scaled_by_t_squared() -> None:
    p = math.sqrt(3.0) / (math.sqrt(3.0) + 1.0)  # softmax((ln 3) / 2, 0)
    loss = DistillationLoss(alpha=1.0, temperature=2.0)
    assert loss(STUDENT, torch.tensor([0]), TEACHER).item() == pytest.approx(4 * kl_to_uniform(p), abs=1e-6)


def test_alpha_mixes_soft_and_hard_terms() -> None:
    loss = DistillationLoss(alpha=0.25, temperature=1.0)
    expected = 0.25 * kl_to_uniform(0.75) + 0.75 * math.log(2.0)  # CE of a uniform student
    assert loss(STUDENT, torch.tensor([0]), TEACHER).item() == pytest.approx(expected, abs=1e-6)


def test_alpha_zero_is_plain_cross_entropy() -> None:
    student, labels = torch.randn(8, 5), torch.randint(0, 5, (8,))
    loss = DistillationLoss(alpha=0.0, temperature=3.0)
    assert torch.allclose(loss(student, labels, torch.randn(8, 5)), F.cross_entropy(student, labels))


def test_no_teacher_logits_is_plain_cross_entropy_whatever_alpha() -> None:
    student, labels = torch.randn(8, 5), torch.randint(0, 5, (8,))
    assert torch.allclose(DistillationLoss(alpha=0.9)(student, labels), F.cross_entropy(student, labels))


def test_identical_logits_give_zero_kl() -> None:
    logits = torch.randn(16, 20)
    loss = DistillationLoss(alpha=1.0, temperature=4.0)
    assert loss(logits, torch.zeros(16, dtype=torch.long), logits.clone()).item() == pytest.approx(0.0, abs=1e-6)


def test_kl_argument_order_is_teacher_then_student() -> None:
    """KL(p_t || p_s) and KL(p_s || p_t) differ; check we compute the former."""
    student = torch.tensor([[math.log(0.9), math.log(0.1)]])
    teacher = torch.tensor([[math.log(0.6), math.log(0.4)]])
    forward_kl = 0.6 * math.log(0.6 / 0.9) + 0.4 * math.log(0.4 / 0.1)
    loss = DistillationLoss(alpha=1.0, temperature=1.0)
    assert loss(student, torch.tensor([0]), teacher).item() == pytest.approx(forward_kl, abs=1e-6)


def test_unlabelled_examples_contribute_only_the_soft_term() -> None:
    student = torch.cat([STUDENT, torch.tensor([[2.0, -1.0]])])
    teacher = torch.cat([TEACHER, torch.tensor([[2.0, -1.0]])])  # second example: KL 0
    loss = DistillationLoss(alpha=0.5, temperature=1.0)
    labels = torch.tensor([-1, 0])
    hard = F.cross_entropy(torch.tensor([[2.0, -1.0]]), torch.tensor([0])).item()
    expected = 0.5 * kl_to_uniform(0.75) / 2 + 0.5 * hard  # batchmean over 2, CE over the labelled one
    assert loss(student, labels, teacher).item() == pytest.approx(expected, abs=1e-6)
    all_unlabelled = loss(student, torch.tensor([-1, -1]), teacher)
    assert all_unlabelled.item() == pytest.approx(0.5 * kl_to_uniform(0.75) / 2, abs=1e-6)


def test_t_squared_keeps_soft_gradients_comparable_across_temperatures() -> None:
    torch.manual_seed(0)
    teacher, labels = torch.randn(32, 10) * 3, torch.zeros(32, dtype=torch.long)
    norms = {}
    for t in (2.0, 8.0):
        torch.manual_seed(1)
        student = (torch.randn(32, 10) * 3).requires_grad_()
        DistillationLoss(alpha=1.0, temperature=t)(student, labels, teacher).backward()
        norms[t] = student.grad.norm().item()
    # Without T^2 the gradient would shrink by (8/2)^2 = 16x; with it, it stays within 2x.
    assert 0.5 < norms[8.0] / norms[2.0] < 2.0


def test_mse_is_squared_logit_distance_summed_over_classes() -> None:
    loss = DistillationLoss(alpha=1.0, kind="mse", temperature=5.0)
    student = torch.tensor([[0.0, 0.0], [1.0, 1.0]])
    teacher = torch.tensor([[1.0, -1.0], [1.0, 1.0]])
    assert loss(student, torch.tensor([0, 1]), teacher).item() == pytest.approx((2.0 + 0.0) / 2)


def test_mse_ignores_the_row_shift_softmax_ignores() -> None:
    torch.manual_seed(0)
    loss = DistillationLoss(alpha=1.0, kind="mse")
    student, teacher, labels = torch.randn(8, 5), torch.randn(8, 5) * 4, torch.zeros(8, dtype=torch.long)
    raw = loss(student, labels, teacher)
    as_log_probs = loss(student + torch.randn(8, 1), labels, teacher.log_softmax(dim=-1))
    assert as_log_probs.item() == pytest.approx(raw.item(), rel=1e-5)
    assert loss(teacher, labels, teacher.log_softmax(dim=-1)).item() == pytest.approx(0.0, abs=1e-5)


@pytest.mark.parametrize("schedule", SCHEDULES)
def test_schedule_endpoints_and_monotonicity(schedule: str) -> None:
    values = [scheduled_temperature(schedule, 8.0, 1.0, step / 20) for step in range(21)]
    assert values[0] == pytest.approx(8.0)
    assert values[-1] == pytest.approx(8.0 if schedule == "constant" else 1.0)
    assert all(a >= b for a, b in zip(values, values[1:]))
    rising = [scheduled_temperature(schedule, 1.0, 4.0, step / 20) for step in range(21)]
    assert all(a <= b for a, b in zip(rising, rising[1:]))


def test_set_progress_moves_the_temperature_used_by_the_loss() -> None:
    loss = DistillationLoss(alpha=1.0, temperature=4.0, temperature_end=1.0, schedule="linear")
    assert loss.set_progress(0.5) == pytest.approx(2.5)
    assert loss.set_progress(1.0) == pytest.approx(1.0)
    assert loss(STUDENT, torch.tensor([0]), TEACHER).item() == pytest.approx(kl_to_uniform(0.75), abs=1e-6)


@pytest.mark.parametrize(
    "kwargs, key",
    [({"alpha": 1.5}, "distill.alpha"), ({"alpha": math.nan}, "distill.alpha"), ({"kind": "js"}, "distill.kind"),
     ({"schedule": "step"}, "distill.schedule")],
)
def test_bad_settings_name_the_config_key(kwargs: dict, key: str) -> None:
    with pytest.raises(UserError, match=key):
        DistillationLoss(**kwargs)


@pytest.mark.parametrize(
    "start, end, shown",
    [(0.0, None, "start=0.0, end=0.0"), (math.nan, None, "start=nan, end=nan"), (math.inf, 1.0, "start=inf, end=1.0"),
     (4.0, math.nan, "start=4.0, end=nan"), (4.0, -math.inf, "start=4.0, end=-inf"), (2.0, 0.0, "start=2.0, end=0.0")],
)
def test_temperatures_must_be_finite_and_positive(start: float, end: float | None, shown: str) -> None:
    with pytest.raises(UserError) as error:
        DistillationLoss(temperature=start, temperature_end=end, schedule="linear")
    assert str(error.value) == (
        "distill.temperature (start) and distill.temperature_end (end) must be finite and positive, got " + shown
    )


@pytest.mark.parametrize("kind", ["kl", "mse"])
def test_soft_term_of_bf16_student_is_computed_in_float32(kind: str) -> None:
    """Under bf16 mixed precision the student's logits are bf16 but the cached teacher's are
    float32: the teacher keeps its precision and the soft term is computed in float32."""
    torch.manual_seed(0)
    student = (torch.randn(4, 6) * 3).to(torch.bfloat16)
    teacher = torch.randn(4, 6) * 3
    labels = torch.zeros(4, dtype=torch.long)
    loss = DistillationLoss(alpha=1.0, temperature=2.0, kind=kind)
    value = loss(student, labels, teacher)
    assert value.dtype == torch.float32
    assert value.item() == pytest.approx(loss(student.float(), labels, teacher).item(), rel=1e-6)
    nudged = teacher.clone()
    nudged[:, 0] += 1e-3  # below bf16 resolution at these magnitudes: rounding would erase it
    assert torch.equal(nudged.to(torch.bfloat16), teacher.to(torch.bfloat16))
    assert loss(student, labels, nudged).item() != value.item()
