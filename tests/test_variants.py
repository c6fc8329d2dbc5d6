"""Goodness variants: the catalogue's verdicts, derived properties, false claims
caught with replayable counterexamples, user modules, and misbehaving variants."""

import json
import re
import subprocess
import sys

import numpy as np
import pytest
import torch

import fftheory
from fftheory._check_variant import VariantError, check_variant, detect_properties, variant_claims
from fftheory._goodness import GOODNESS, Goodness, sum_of_squares
from fftheory._report import write_report
from fftheory._variants import CATALOGUE, Statement, TargetError, Variant, load_target

# A small derandomised profile for sweeping the whole catalogue in CI.
SWEEP = fftheory.Profile("sweep", max_examples=4, count=12, derandomize=True)

# Detected properties of every catalogue goodness (the derivations are in proofs/variants.md).
PROPERTIES = {
    "sum-of-squares": {"nondecreasing", "radial"},
    "mean-of-squares": {"nondecreasing", "radial"},
    "l2-norm": {"nondecreasing", "radial"},
    "negative-sum-of-squares": {"nonincreasing", "radial"},
    "l1": {"nondecreasing", "sublinear"},
    "top-2-sum-of-squares": {"nondecreasing", "superlinear"},
    "softplus-sum": {"nondecreasing", "sublinear"},
    "log-sum-exp": {"nondecreasing"},
}


@pytest.mark.parametrize("name, expected", PROPERTIES.items())
def test_detected_properties(name, expected):
    found = {k for k, v in vars(detect_properties(GOODNESS[name])).items() if v}
    assert found == expected


@pytest.mark.parametrize("name", list(CATALOGUE))
def test_catalogue_verdicts(name):
    """Every row of every catalogue entry holds, except that top-k is reported not differentiable."""
    report = check_variant(CATALOGUE[name], profile=SWEEP)
    expected_kink = name.startswith("top-")
    for kind, verdict in report.rows:
        if verdict.claim == "differentiable":
            assert verdict.status == ("not differentiable" if expected_kink else "holds"), verdict.note
        else:
            assert verdict.status == "holds", (kind, verdict.claim, verdict.note)
    assert report.exit_code == 0


def test_catalogue_single_point_sparsity_verdicts():
    """The sparsity direction of a lone point under batch-decrease, per variant, as derived rows say it."""
    rows = {name: {c.id: c.statement for _, c in variant_claims(v)} for name, v in CATALOGUE.items()}
    assert "radial.single-point" in rows["sum-of-squares"]  # unchanged
    assert "rises" in rows["l1"]["chebyshev.single-point"]
    assert "rises" in rows["softplus-sum"]["chebyshev.single-point"]
    assert "falls" in rows["top-2-sum-of-squares"]["chebyshev.single-point"]
    assert "chebyshev.single-point" not in rows["log-sum-exp"]


def test_symbolic_form_renders_latex():
    report = check_variant(CATALOGUE["sum-of-squares"], profile=SWEEP, kinds=())
    assert "2 h_{1}" in report.latex["gradient"]


FALSE_STATEMENTS = [
    Statement(rule="batch-decrease", quantity="hoyer", direction="decreases", points=(2, 6)),
    Statement(rule="batch-decrease", quantity="goodness", direction="increases"),
    Statement(rule="ff-simultaneous", quantity="hoyer", direction="increases", subject="positive-points", points=(2, 6)),
    Statement(rule="batch-decrease", quantity="l2", direction="unchanged", points=(1, 1)),
]


@pytest.mark.parametrize("statement", FALSE_STATEMENTS, ids=lambda s: s.describe())
def test_false_statements_fail_with_a_counterexample_that_replays(tmp_path, statement):
    variant = Variant(goodness=sum_of_squares, statements=(statement,), name="wrong")
    report = check_variant(variant, profile=SWEEP, kinds=("declared",))
    (_, verdict), = report.rows
    assert verdict.status == "fails" and report.exit_code == 1
    written = write_report(report, variant, tmp_path / "report")
    npz = written["counterexample declared.1"]
    out = tmp_path / "replay.json"
    r = subprocess.run([sys.executable, "-m", "fftheory.cli", "predict", npz, "--json", str(out)],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    replay = json.loads(out.read_text())
    assert replay["rule"] == statement.rule
    # The replayed step shows the violation: some point moves the wrong way (or moves at all).
    changes = [p["observed"][statement.quantity] for p in replay["points"]
               if p["observed"][statement.quantity] is not None]
    if statement.direction == "decreases":
        assert max(changes) > 0
    elif statement.direction == "increases":
        assert min(changes) < 0
    else:
        assert max(abs(c) for c in changes) > 1e-9


def test_user_module_variant_via_cli(tmp_path):
    (tmp_path / "my_goodness.py").write_text(
        "import torch\n"
        "def cubic(h):\n"
        "    return (h ** 3).sum(-1)\n"
    )
    out = tmp_path / "report.json"
    r = subprocess.run([sys.executable, "-m", "fftheory.cli", "check", "my_goodness:cubic", "--profile", "quick",
                        "--json", str(out)], capture_output=True, text=True, cwd=tmp_path, timeout=600)
    assert r.returncode == 0, r.stdout + r.stderr
    report = json.loads(out.read_text())
    assert report["variant"] == "cubic"
    ids = {c["claim"] for c in report["claims"]}
    assert {"monotone.batch-decrease", "chebyshev.single-point"} <= ids  # h^3: increasing, r = 3h superlinear
    assert all(c["status"] == "holds" for c in report["claims"]), [c for c in report["claims"] if c["status"] != "holds"]


@pytest.mark.parametrize(
    "fn, message",
    [
        (lambda h: 1 / 0, "raised ZeroDivisionError"),
        (lambda h: h.sum(), "expected shape (2,)"),
        (lambda h: h.sum(-1) * float("nan"), "non-finite"),
    ],
)
def test_misbehaving_variants_are_named(fn, message):
    with pytest.raises(VariantError, match=re.escape(message)):
        check_variant(Goodness(name="bad", fn=fn), profile=SWEEP)


def test_smooth_goodness_is_differentiable_where_its_directional_derivative_cancels():
    """Regression: h^3 was called not differentiable on this case (found by a random quick run)."""
    from fftheory._harness import evaluate
    from fftheory._regressions import VARIANT_REGRESSIONS

    cubic = Goodness(name="cubic", fn=lambda h: (h ** 3).sum(-1))
    from fftheory._check_variant import variant_claims

    row = next(c for kind, c in variant_claims(fftheory.as_variant(cubic), fftheory.detect_properties(cubic))
               if c.id == "differentiable")
    assert row.examples == VARIANT_REGRESSIONS["differentiable"]
    out = evaluate(row, row.examples[0])
    assert out.applicable.any() and not out.failed.any()


def _nan_beyond(h):
    return torch.where(h.amax(-1) > 3.5, torch.nan, h.pow(2).sum(-1))


def _raises_on_batches(h):
    if h.dim() > 2:
        raise RuntimeError("no case dimension please")
    return h.pow(2).sum(-1)


@pytest.mark.parametrize(
    "fn, message",
    [
        (_nan_beyond, "returned nan at h = "),  # passes the plain batch and the property probe
        (_raises_on_batches, "raised RuntimeError: no case dimension please on activations of shape"),
        (lambda h: (h ** 2).sum(1), "expected (8, 1)"),  # sums over points, not units
    ],
    ids=["nan-beyond-the-probe", "raises-on-batches", "sums-over-points"],
)
def test_variants_misbehaving_only_on_drawn_cases_are_named(fn, message):
    """Misbehaviour the plain batch does not show is reported with the claim and the case."""
    with pytest.raises(VariantError, match=re.escape(message)) as info:
        check_variant(Goodness(name="late", fn=fn), profile="quick", seed=0)
    assert "goodness 'late'" in str(info.value) and "; claim " in str(info.value) and "CaseSpec(" in str(info.value)


def test_unloadable_targets_exit_2(tmp_path):
    for target, message in [("nosuch", "unknown variant"), ("no_such_module:x", "cannot import"), ("os:nothing", "no attribute")]:
        with pytest.raises(TargetError, match=message):
            load_target(target)
    r = subprocess.run([sys.executable, "-m", "fftheory.cli", "check", "no_such_module:x"],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 2 and "cannot import" in r.stderr and "Traceback" not in r.stderr


def test_statement_validation():
    with pytest.raises(ValueError, match="quantity"):
        Statement(rule="batch-decrease", quantity="entropy", direction="decreases")
    with pytest.raises(ValueError, match="at least 2 points"):
        Statement(rule="ff-simultaneous", quantity="l1", direction="decreases", subject="positive-points", points=(1, 3))


def test_symba_loss_weights_have_the_right_signs():
    """SymBa pushes positive goodness up (dL/dg_i < 0) and negative goodness down (dL/dg_j > 0)."""
    from fftheory._predict import loss_weights

    rule = CATALOGUE["symba"].rules()["ff-simultaneous"]
    G = torch.tensor([1.0, 2.0, 0.5, 3.0], dtype=torch.float64)
    positive = torch.tensor([True, False, True, False])
    c = loss_weights(rule, G, positive, torch.tensor(0.0, dtype=torch.float64))
    assert (c[positive] < 0).all() and (c[~positive] > 0).all()
