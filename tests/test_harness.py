"""The harness must never say "holds" when it should not: vacuous and thin
evidence, false claims, and mutated theory are all caught here."""

import dataclasses
import math

import pytest
import torch

import fftheory
from fftheory import _checks as C
from fftheory import _step
from fftheory import _theory
from fftheory._harness import replay, run_claim

TINY = fftheory.Profile("tiny", max_examples=5, count=2, derandomize=True)
SMALL = fftheory.Profile("small", max_examples=15, count=8, derandomize=True)
MUTANT = fftheory.Profile("mutant", max_examples=15, count=8, derandomize=True, shrink=False)  # fails fast


def _claim(check, **specs):
    return fftheory.Claim(id="test", statement="test", check=check, specs=specs or dict(points=(1, 4)))


def _constant(applicable: bool, margin: float):
    def check(case):
        B = case.W.shape[0]
        return C.Outcomes(
            torch.full((B,), applicable),
            torch.full((B,), margin if applicable else float("nan"), dtype=torch.float64),
            torch.ones(B, dtype=torch.long),
            torch.full((B,), int(margin > 0), dtype=torch.long),
        )

    return check


def test_only_invalid_cases_is_undecided_never_holds():
    """A generator that yields only invalid cases: every case counted not applicable, none a pass."""
    verdict = run_claim(_claim(_constant(False, 1.0)), profile=TINY, min_cases=1)
    assert verdict.status == "undecided", verdict
    assert verdict.cases_applicable == 0 and verdict.cases_tried == verdict.cases_not_applicable == 10
    assert verdict.points_decided == 0 and verdict.to_json()["cases_not_applicable"] == 10
    assert "0 of 10" in verdict.note


@pytest.mark.parametrize("min_cases", [0, -1, 2.5, True])
def test_min_cases_must_be_a_positive_integer(min_cases):
    with pytest.raises(ValueError, match="min_cases"):
        run_claim(_claim(_constant(True, 1.0)), profile=TINY, min_cases=min_cases)


def test_too_few_valid_cases_is_undecided_never_holds():
    verdict = run_claim(_claim(_constant(True, 1.0)), profile=TINY, min_cases=11)
    assert verdict.status == "undecided", verdict
    assert run_claim(_claim(_constant(True, 1.0)), profile=TINY, min_cases=10).status == "holds"


def test_a_failing_case_fails_the_claim():
    assert run_claim(_claim(_constant(True, -0.5)), profile=TINY).status == "fails"


def _every_point(rule, quantity, sign):
    """A deliberately false claim: `quantity` moves by `sign` for every point."""

    def check(case):
        step = C.take_step(case, fftheory.RULES[rule])
        change = step.obs.changes[quantity]
        return C.from_points(sign * change / change.abs().clamp_min(1e-300), step.clean)

    return check


@pytest.mark.parametrize(
    "rule, quantity, sign",
    [
        ("batch-decrease", "hoyer", -1),  # false: 1e says a lone point's S is unchanged; 1f says it can rise
        ("batch-decrease", "goodness", +1),  # false: 1d says goodness falls
        ("ff-simultaneous", "hoyer", +1),
    ],
)
def test_false_claims_fail_with_a_replayable_counterexample(rule, quantity, sign):
    claim = _claim(_every_point(rule, quantity, sign), points=(2, 5), labels=rule.startswith("ff"))
    verdict = run_claim(claim, profile=SMALL)
    assert verdict.status == "fails"
    spec = fftheory.CaseSpec(**verdict.counterexample["spec"])
    assert replay(claim, spec, verdict.counterexample["index"]).failed.all()


# ---- mutated theory: each mutant must make some claim fail.

def _mutant_u_sign(X, H, s, **kw):
    return -_theory.u_vectors(X, H, s, **kw)


def _mutant_no_self_term(X, H, s, **kw):
    A = fftheory.gram(X)
    A = A - torch.diag_embed(torch.diagonal(A, dim1=-2, dim2=-1))
    return A @ (s[..., None] * H)


def _mutant_hoyer_l2(H, U, eta, **kw):
    out = _theory.first_order_changes(H, U, eta, **kw)
    M = (H > 0).to(H.dtype)
    L1, L2 = fftheory.l1(H), fftheory.l2(H)
    n = H.shape[-1]
    hu, mu = (H * U).sum(-1), (M * U).sum(-1)
    out["hoyer"] = 2 * eta[..., None] / ((n**0.5 - 1) * L2) * (mu - L1 / L2 * hu)  # ||h|| for ||h||^2
    return out


def _mutant_swap_ff_weights(rule, G, positive, theta):
    return _theory.point_coefficients(rule, G, ~positive, theta)


def _mutant_no_first_order(H, U, eta, **kw):
    return {q: torch.zeros_like(v) for q, v in _theory.first_order_changes(H, U, eta, **kw).items()}


def _mutant_point_mask(H, U, eta, **kw):
    """The mask of another point (i = k + 1) used in place of point k's."""
    out = _theory.first_order_changes(H, U, eta, **kw)
    M = (torch.roll(H, 1, dims=-2) > 0).to(H.dtype)
    out["l1"] = -2 * eta[..., None] * (M * U).sum(-1)
    return out


@pytest.mark.parametrize(
    "target, mutant, claim_id",
    [
        ("u_vectors", _mutant_u_sign, "1a"),
        ("u_vectors", _mutant_u_sign, "1b.sign"),
        ("u_vectors", _mutant_no_self_term, "1b.autograd"),
        ("first_order_changes", _mutant_hoyer_l2, "1b.autograd"),
        ("point_coefficients", _mutant_swap_ff_weights, "2a"),
        ("first_order_changes", _mutant_no_first_order, "1b.taylor"),
        ("first_order_changes", _mutant_point_mask, "1b.bound"),
    ],
)
def test_mutants_are_killed(monkeypatch, target, mutant, claim_id):
    for module in (C, _step):  # wherever the engine looks the function up
        if hasattr(module, target):
            monkeypatch.setattr(module, target, mutant)
    claim = dataclasses.replace(fftheory.CLAIMS_BY_ID[claim_id], examples=())
    assert run_claim(claim, profile=MUTANT).status == "fails"


def test_taylor_rate_one_is_rejected():
    assert C._rate_margin(torch.tensor([1.0, 1.7, 2.0, 3.0])).gt(0).tolist() == [False, False, True, True]


def test_taylor_fit_decides_only_consistent_windows():
    """Rate 1 and rate 2 are decided; a window bending toward 2 after a cancellation dip
    (the errors of the 2b counterexample in _regressions) is undecided, not a failure."""
    import numpy as np

    etas = 0.05 * 2.0 ** -np.arange(12)
    floors = np.full(12, 1e-16)
    bending = [1.517e-06, 1.761e-07, 1.863e-08, 1.485e-09, 2.513e-11, 5.584e-11, 2.015e-11, 5.813e-12,
               1.550e-12, 1.2e-14, 1.1e-14, 1.0e-14]  # fitted window: the 4 entries from 5.584e-11
    floors_bending = np.full(12, 1.1e-14)
    rates = C._fit_rates(np.stack([etas] * 3), np.stack([etas, etas**2, np.array(bending)]),
                         np.stack([floors, floors, floors_bending]))
    assert rates[0] == pytest.approx(1.0) and rates[1] == pytest.approx(2.0)
    assert np.isnan(rates[2])


def test_undefined_points_are_counted_and_left_out():
    """A point with no active unit has no Hoyer sparsity: it is counted, never decided."""
    from fftheory._harness import evaluate

    claim = fftheory.CLAIMS_BY_ID["1b.sign"]
    spec = fftheory.CaseSpec(n_points=1, n_in=1, n_units=2, seed=0, count=8, design="gaussian", margin=0.5)
    out = evaluate(claim, spec)
    step = C.take_step(claim.build(spec), fftheory.RULES["batch-decrease"])
    zero = ~step.defined
    assert zero.any()
    assert torch.equal(out.undefined, zero.sum(-1))
    assert (out.decided[zero[:, 0]] == 0).all()


def test_negated_predictions_leave_out_undefined_points():
    """1g.negated compares L2 and Hoyer predictions: at a point with no active unit they are
    NaN on both sides, which must be counted as undefined, not as an agreement."""
    from fftheory._harness import evaluate

    spec = fftheory.CaseSpec(n_points=1, n_in=1, n_units=2, seed=0, count=8, design="gaussian", margin=0.5)
    claim = fftheory.CLAIMS_BY_ID["1g.negated"]
    out, case = evaluate(claim, spec), claim.build(spec)
    H = torch.relu(case.X @ case.W.transpose(-1, -2))
    zero = H.abs().sum(-1) == 0  # (B, N): no active unit
    assert zero.any() and (~zero).any()
    assert torch.equal(out.undefined, zero.sum(-1))
    # Defined points: goodness, L1, L2, Hoyer all decided; undefined points: only goodness and L1.
    assert torch.equal(out.decided, 4 * (~zero).sum(-1) + 2 * zero.sum(-1))


def test_hoyer_criterion_counts_observed_changes_within_rounding_as_too_close():
    """1c decides the observed sign only beyond rounding; the rest is counted, not dropped."""
    verdict = run_claim(fftheory.CLAIMS_BY_ID["1c"], profile="ci")
    assert verdict.status == "holds" and verdict.points_too_close > 0 and verdict.points_undefined > 0


def test_a_nan_margin_on_an_applicable_point_fails():
    """NaN where a decision was due is a failure, never a point silently dropped."""
    out = C.from_points(torch.tensor([[math.nan, 1.0], [1.0, 1.0]], dtype=torch.float64),
                        torch.ones(2, 2, dtype=torch.bool))
    assert out.failed.tolist() == [True, False]


def test_a_case_with_nothing_decided_is_not_applicable():
    out = C.from_points(torch.ones(3, 4, dtype=torch.float64), torch.zeros(3, 4, dtype=torch.bool))
    assert not out.applicable.any() and torch.isnan(out.margin).all()
    assert not out.failed.any()


def test_a_median_taylor_rate_far_from_two_fails_the_claim():
    """Each case may show a rate above 2 (a vanishing second-order term), but not all of them."""

    def rate_three(case):
        B = case.W.shape[0]
        ones = torch.ones(B, dtype=torch.long)
        return C.Outcomes(torch.ones(B, dtype=torch.bool), torch.ones(B, dtype=torch.float64), ones, ones,
                          rate=torch.full((B,), 3.0, dtype=torch.float64))

    verdict = run_claim(_claim(rate_three), profile=TINY, min_cases=5)
    assert verdict.status == "fails" and "median Taylor rate" in verdict.note


def test_a_counterexample_row_fails_when_none_is_found():
    claim = dataclasses.replace(_claim(_constant(True, 1.0)), expect="counterexample")
    verdict = run_claim(claim, profile=TINY)
    assert verdict.status == "fails" and verdict.note == "no counterexample found"
    found = dataclasses.replace(_claim(_constant(True, -1.0)), expect="counterexample")
    assert run_claim(found, profile=TINY).status == "holds"


def test_points_too_close_to_call_are_counted_not_decided():
    """A clean (point, quantity) pair with a finite bound is decided or counted too close to call;
    one with no finite bound (here: a goodness without a remainder bound) is neither."""
    from fftheory._harness import evaluate

    claim = fftheory.CLAIMS_BY_ID["1b.sign"]
    spec = fftheory.CaseSpec(n_points=6, n_in=8, n_units=10, seed=3, count=16, eta_fraction=0.9)
    out = evaluate(claim, spec)
    step = C.take_step(claim.build(spec), fftheory.RULES["batch-decrease"])
    assert out.too_close.sum() > 0  # a large step leaves some too close
    assert torch.equal(out.decided + out.too_close, step.clean.sum(-1) * len(fftheory.QUANTITIES))
    # Without a remainder bound the goodness is never decidable: not "too close" either.
    no_bound = fftheory.Goodness(name="sos-no-remainder", fn=fftheory.sum_of_squares.fn)
    bare = C.sign_outcomes(C.take_step(claim.build(spec), fftheory.RULES["batch-decrease"], goodness=no_bound))
    assert torch.equal(bare.decided + bare.too_close, step.clean.sum(-1) * (len(fftheory.QUANTITIES) - 1))
    # The verdict adds up the counts of every example it ran.
    seen = []
    counting = dataclasses.replace(claim, check=lambda case: seen.append(claim.check(case)) or seen[-1], examples=())
    verdict = run_claim(counting, profile=TINY)
    assert verdict.points_too_close == sum(int(o.too_close.sum()) for o in seen) > 0
