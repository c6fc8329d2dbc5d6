"""Unit tests of the building blocks: measures, construction, tolerances, rules."""

import math

import pytest
import torch

import fftheory
from fftheory._cases import weights_for, with_constant_u
from fftheory._tolerance import compare


def t(*rows):
    return torch.tensor(rows, dtype=torch.float64)


def test_hoyer_known_values():
    assert fftheory.hoyer(t(0.0, 3.0, 0.0, 0.0)).item() == pytest.approx(1.0)
    assert fftheory.hoyer(t(2.0, 2.0, 2.0, 2.0)).item() == pytest.approx(0.0, abs=1e-15)
    h = t(1.0, 2.0, 0.0)
    expected = (math.sqrt(3) - 3 / math.sqrt(5)) / (math.sqrt(3) - 1)
    assert fftheory.hoyer(h).item() == pytest.approx(expected)


def test_hoyer_undefined_cases_are_nan():
    assert math.isnan(fftheory.hoyer(t(0.0, 0.0, 0.0)).item())
    assert math.isnan(fftheory.hoyer(t(5.0)).item())


def test_active_fraction():
    assert fftheory.active_fraction(t(0.0, 1.0, 2.0, 0.0)).item() == 0.5


def test_designed_cases_keep_the_margin_and_are_exact():
    spec = fftheory.CaseSpec(n_points=4, n_in=6, n_units=5, seed=7, count=32, margin=0.1)
    case = fftheory.build(spec)
    Z, H, _ = fftheory.layer(case.W, case.X)
    assert Z.abs().min() >= 0.1 - 1e-9
    assert (H.sum(-1) > 0).all()  # every point has an active unit
    assert (case.X >= 0).all()
    assert torch.allclose(fftheory.layer(weights_for(case.X, Z), case.X)[0], Z, atol=1e-9)


def test_build_is_deterministic_and_select_matches():
    spec = fftheory.CaseSpec(n_points=3, n_in=5, n_units=4, seed=1, count=4, n_positive=1)
    a, b = fftheory.build(spec), fftheory.build(spec)
    assert torch.equal(a.W, b.W) and torch.equal(a.X, b.X) and torch.equal(a.positive, b.positive)
    assert torch.equal(a.select(2).W[0], a.W[2])
    assert (a.positive.sum(-1) == 1).all()


def test_orthogonal_inputs_are_orthogonal():
    case = fftheory.build(fftheory.CaseSpec(n_points=3, n_in=5, n_units=4, seed=2, count=8, inputs="orthogonal"))
    A = fftheory.gram(case.X)
    off = A - torch.diag_embed(torch.diagonal(A, dim1=-2, dim2=-1))
    assert off.abs().max() < 1e-12


def test_constant_u_construction():
    case = fftheory.build(fftheory.CaseSpec(n_points=3, n_in=5, n_units=6, seed=3, count=8, p_active=0.7))
    built = with_constant_u(case, flat=False)
    _, H, M = fftheory.layer(built.W, built.X)
    U = fftheory.u_vectors(built.X, H, torch.ones(H.shape[:-1], dtype=H.dtype))
    u0 = torch.where(M[:, 0] > 0, U[:, 0], float("nan"))
    spread = u0.nan_to_num(-math.inf).amax(-1) - u0.nan_to_num(math.inf).amin(-1)
    assert (spread < 1e-9 * U[:, 0].abs().amax(-1)).all()


def test_spec_rejects_impossible_layouts():
    with pytest.raises(ValueError, match="n_points <= n_in"):
        fftheory.CaseSpec(n_points=5, n_in=3, n_units=2, seed=0)
    with pytest.raises(ValueError, match="n_positive"):
        fftheory.CaseSpec(n_points=2, n_in=3, n_units=2, seed=0, n_positive=3)


def test_compare_reports_both_errors_and_fails_beyond_tolerance():
    ok = compare(t(1.0, 2.0), t(1.0, 2.0 + 1e-12), tol="identity")
    assert (ok.margin > 0).all()
    bad = compare(t(1.0, 2.0), t(1.0, 2.001), tol="identity")
    assert (bad.margin <= 0).any()
    assert "abs err 1.000e-03" in bad.describe() and "rel err" in bad.describe()
    nan_one_side = compare(t(float("nan")), t(1.0), tol="identity")
    assert (nan_one_side.margin < 0).all()


def test_ff_rules_need_labels():
    case = fftheory.build(fftheory.CaseSpec(n_points=2, n_in=3, n_units=2, seed=0))
    with pytest.raises(ValueError, match="positive mask"):
        fftheory.apply_rule(fftheory.RULES["ff-simultaneous"], case.W, case.X, eta=0.1)


def test_batch_increase_is_batch_decrease_with_negated_eta():
    case = fftheory.build(fftheory.CaseSpec(n_points=3, n_in=4, n_units=3, seed=4, count=3))
    up = fftheory.apply_rule(fftheory.RULES["batch-increase"], case.W, case.X, eta=0.01)
    down = fftheory.apply_rule(fftheory.RULES["batch-decrease"], case.W, case.X, eta=-0.01)
    assert torch.allclose(up, down, rtol=1e-14, atol=1e-14)


def test_step_scale_is_finite_when_nothing_moves_to_first_order():
    # Two identical inputs, one positive one negative, theta = their goodness: the step cancels.
    W = t([1.0, 0.5], [0.3, -1.0])
    X = t([1.0, 2.0], [1.0, 2.0])
    positive = torch.tensor([True, False])
    theta = fftheory.sum_of_squares(fftheory.layer(W, X)[1])[0]
    V = fftheory.lemma_direction(fftheory.RULES["ff-simultaneous"], W, X, positive=positive, theta=theta)
    assert V.abs().max() < 1e-12
    scale = fftheory.step_scale(fftheory.layer(W, X)[0], V, X)
    assert math.isfinite(scale.item()) and scale.item() < 10


def test_crossing_bound_counts_only_units_moving_toward_zero():
    Z = t([[0.5, -2.0, 3.0]])
    V = t([[1.0, 1.0, -1.0]])  # unit 0 moves away from zero; unit 1 reaches it at eta 2, unit 2 at eta 3
    assert fftheory.crossing_bound(Z, V).item() == pytest.approx(2.0)
    assert fftheory.crossing_bound(t([[0.5]]), t([[1.0]])).item() == math.inf


def test_crossing_bound_at_zero():
    """A unit exactly at zero turns on at once if it moves up (bound 0) and stays off if it moves down."""
    assert fftheory.crossing_bound(t([[0.0, 1.0]]), t([[1.0, -0.5]])).item() == 0.0
    assert fftheory.crossing_bound(t([[0.0, 1.0]]), t([[-1.0, -0.5]])).item() == pytest.approx(2.0)
    assert fftheory.crossing_bound(t([[0.0, 1.0]]), t([[0.0, 0.5]])).item() == math.inf


@pytest.mark.parametrize("goodness", ["sum-of-squares", "l1", "log-sum-exp"])
def test_gradient_norms_match_autograd(goodness):
    """The analytic gradients of L1, L2 and Hoyer (used for bounds and rounding) are autograd's."""
    from fftheory._predict import gradient_norms, measure

    g = fftheory.GOODNESS[goodness]
    H = torch.relu(torch.randn(3, 5, 7, dtype=torch.float64, generator=torch.Generator().manual_seed(0)))
    H[0, 0] = 0.0  # an undefined point: no L2 direction, no Hoyer sparsity
    got = gradient_norms(H, g)
    Hg = H.clone().requires_grad_(True)
    values = measure(Hg, g)
    defined = H.abs().sum(-1) > 0
    for q, value in values.items():
        (grad,) = torch.autograd.grad(value[defined].sum(), Hg, retain_graph=True)
        want = fftheory.l2(grad)[defined]
        cmp = compare(got[q][defined], want, tol="identity")
        assert (cmp.margin > 0).all(), f"{q}: {cmp.describe()}"
    assert torch.isnan(got["hoyer"][0, 0]) and torch.isnan(got["l2"][0, 0])


def test_predict_points_api_refuses_layers_outside_the_theory():
    case = fftheory.build(fftheory.CaseSpec(n_points=4, n_in=6, n_units=5, seed=3)).select(0)
    W, X = case.W[0], case.X[0]
    dec = fftheory.RULES["batch-decrease"]
    biased = fftheory.predict_points(dec, W, X, bias=torch.full((5,), 0.1, dtype=torch.float64))
    assert not biased["applicable"] and biased["points"] == [] and "bias" in biased["not_applicable"][0]
    assert not fftheory.predict_points(dec, W, X, activation="gelu")["applicable"]
    plain = fftheory.predict_points(dec, W, X, bias=torch.zeros(5, dtype=torch.float64))
    assert plain["applicable"] and len(plain["points"]) == 4 and plain["points_crossed"] == 0


@pytest.mark.parametrize("rule", sorted(fftheory.RULES))
def test_the_engine_step_is_apply_rule(rule):
    """step_on reuses its W-gradient for single-stage rules: the result must be apply_rule's."""
    case = fftheory.build(fftheory.CaseSpec(n_points=5, n_in=6, n_units=7, seed=4, count=3, n_positive=2))
    step = fftheory.take_step(case, fftheory.RULES[rule])
    W_new = fftheory.apply_rule(fftheory.RULES[rule], case.W, case.X, eta=step.eta, positive=case.positive,
                                theta=case.theta)
    assert torch.equal(step.obs.W_new, W_new)


def test_predict_points_needs_labels_for_the_ff_rules():
    case = fftheory.build(fftheory.CaseSpec(n_points=4, n_in=6, n_units=5, seed=3)).select(0)
    with pytest.raises(ValueError, match="missing array 'positive'"):
        fftheory.predict_points(fftheory.RULES["ff-simultaneous"], case.W[0], case.X[0], theta=1.0)


def test_a_missing_remainder_bound_is_infinite_not_huge():
    """No remainder bound means no decision: +inf, which every check's isfinite() leaves out."""
    from fftheory._predict import remainder_bound

    H = torch.rand(2, 3, 4, dtype=torch.float64)
    bare = fftheory.Goodness(name="no-remainder", fn=fftheory.sum_of_squares.fn)
    assert torch.isposinf(remainder_bound(H, 1e-3 * H, bare)["goodness"]).all()


def test_jvp_prediction_of_an_undefined_quantity_is_undefined():
    """Hoyer sparsity of one unit (n = 1) is undefined: its JVP prediction is NaN, not a change of 0."""
    from fftheory._predict import autograd_prediction

    H = torch.tensor([[[1.0], [2.0]]], dtype=torch.float64)
    out = autograd_prediction(H, 0.1 * torch.ones_like(H))
    assert torch.isnan(out["hoyer"]).all()
    assert torch.allclose(out["goodness"], torch.tensor([[0.2, 0.4]], dtype=torch.float64))
