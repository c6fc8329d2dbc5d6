"""The sympy derivations in proofs/ run green, and their checks can fail.

proofs/ is not a package: each script is loaded by path. Every script's main()
raises AssertionError on a failed check; the negative tests feed the same
helpers deliberately wrong closed forms and bounds and expect that error.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest
import sympy as sp

PROOFS = Path(__file__).resolve().parents[1] / "proofs"

# Claim ids each script must report as passed (they map onto fftheory/_claims.py).
EXPECTED = {
    "lemma": ("lemma", "lemma.mask", "lemma.spec", "lemma.num"),
    "theorem1": ("1a", "1b", "1b.num", "1c", "1d", "1e.self", "1e.orth", "1f", "1g", "1g.num"),
    "theorem2": ("2a", "2a.num", "2b", "2c", "2d"),
    "bounds": ("goodness", "l1", "l2", "q, r", "hoyer", "num.deriv", "num.rem"),
}


def load(name: str):
    """Import proofs/<name>.py by path (cached, so the negative tests reuse it)."""
    key = f"_fftheory_proofs_{name}"
    if key in sys.modules:
        return sys.modules[key]
    spec = importlib.util.spec_from_file_location(key, PROOFS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[key] = module
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_script_passes(name, capsys):
    load(name).main()
    lines = capsys.readouterr().out.splitlines()
    reported = {line.split("PASS")[0].strip() for line in lines if "PASS" in line}
    missing = set(EXPECTED[name]) - reported
    assert not missing, f"{name}: no PASS line for {sorted(missing)}"


# --------------------------------------------------------------------------- the checks can fail


def common():
    load("lemma")  # puts proofs/ on sys.path
    import _common

    return _common


def test_zero_test_rejects_nonzero():
    C = common()
    x, y = sp.symbols("x y", positive=True)
    r = sp.sqrt(x**2 + y**2)
    assert C.is_zero(r**2 - x**2 - y**2)
    assert C.is_zero(x / r - x * r / (x**2 + y**2))
    assert not C.is_zero(r - x - y)
    assert not C.is_zero(x / r - x * r)  # ||h||_2 in place of ||h||_2^2
    with pytest.raises(AssertionError):
        C.assert_same("flipped", x / r, -x / r)


def _wrong_l2_power(h, mask, u):
    """1b with ||h||_2 where ||h||_2^2 belongs in the Hoyer term."""
    C = common()
    forms = C.closed_1b(h, mask, u)
    n, L1, L2 = len(h), C.l1(h), C.l2(h)
    forms["hoyer"] = 2 / ((sp.sqrt(n) - 1) * L2) * (C.dot(mask, u) - L1 / L2 * C.dot(h, u))
    return forms


def _wrong_sign(h, mask, u):
    C = common()
    forms = C.closed_1b(h, mask, u)
    forms["l2"] = -forms["l2"]
    return forms


@pytest.mark.parametrize("wrong", [_wrong_l2_power, _wrong_sign], ids=["L2-not-squared", "flipped-sign"])
def test_theorem1_rejects_wrong_closed_form(wrong):
    T1 = load("theorem1")
    step = T1.batch_step(T1.LAYER)
    with pytest.raises(AssertionError):
        T1.check_1b(step, closed=wrong)


def test_lemma_rejects_wrong_sign():
    L = load("lemma")
    C = common()
    dz, closed, _ = L.generic_step()
    with pytest.raises(AssertionError):
        C.assert_vectors_same("lemma flipped", dz[0], [-c for c in closed[0]])


def test_theorem2_rejects_wrong_weights():
    """u_k with sigma(g - theta) on a positive point (the weight of the wrong class)."""
    T2 = load("theorem2")
    C = common()
    lay = T2.LAYER
    W_new, U = T2.simultaneous_step()
    G = T2.goodnesses(lay.W)
    wrong = [C.sigmoid(G[i] - C.THETA) for i in range(lay.N)]  # right on Neg, wrong on Pos
    dz = lay.z(W_new, 0) - lay.z(lay.W, 0)
    with pytest.raises(AssertionError):
        C.assert_vectors_same("2a wrong weights", dz, -2 * C.ETA * lay.u(0, wrong))


def test_bounds_reject_smaller_l2_bound():
    B = load("bounds")
    from fftheory._predict import remainder_bound

    def too_small(H, dH):
        out = remainder_bound(H, dH)
        return {**out, "l2": out["l2"] / 2}

    with pytest.raises(AssertionError, match="l2 remainder"):
        B.check_remainders(bound=too_small, count=500)


def test_bounds_reject_smaller_q2_bound():
    B = load("bounds")
    with pytest.raises(AssertionError, match="q'' upper bound"):
        B.check_derivative_bounds(count=300, q2_upper=1.0, grid=3)


# --------------------------------------------------------------------------- goodness variants (proofs/variants.py)

VARIANT_CLAIMS = ("monotone", "radial", "chebyshev", "chebyshev.num", "l1.exact", "top-k",
                  "remainder", "remainder.num", "symba")


def test_variants_script_passes(capsys):
    load("variants").main()
    lines = capsys.readouterr().out.splitlines()
    reported = {line.split("PASS")[0].strip() for line in lines if "PASS" in line}
    missing = set(VARIANT_CLAIMS) - reported
    assert not missing, f"variants: no PASS line for {sorted(missing)}"


@pytest.mark.parametrize(
    "name, divisor",
    [("softplus-sum", 2.0), ("log-sum-exp", 2.0), ("mean-of-squares", 1.01)],
    ids=["softplus-halved", "lse-halved", "mean-of-squares-1pct"],
)
def test_variants_reject_smaller_remainder(name, divisor):
    """phi'' <= 1/8 for softplus, ||Hessian|| <= 1/4 for log-sum-exp, or a hair under ||dh||^2/n: all violated."""
    V = load("variants")
    from fftheory._goodness import GOODNESS

    exact = GOODNESS[name].remainder
    with pytest.raises(AssertionError, match=f"{name} remainder"):
        V.check_remainders(bounds={name: lambda H, dH: exact(H, dH) / divisor}, count=500)


def test_variants_reject_flipped_chebyshev_sign():
    V = load("variants")
    with pytest.raises(AssertionError, match="wrong sign"):
        V.check_chebyshev_numeric(count=500, flip=True)


def test_variants_reject_wrong_chebyshev_factor():
    """L1/L2 in place of L1/E_w[h] = L1^2/L2^2 in the Chebyshev form."""
    V = load("variants")
    C = common()
    h, r = sp.symbols("h0:3", positive=True), sp.symbols("r0:3", real=True)
    a, t = sp.Symbol("a", positive=True), sp.Symbol("t", real=True)
    derived = sp.diff(C.hoyer([x - t * a * y * x for x, y in zip(h, r)]), t).subs(t, 0)
    right, cov = V.chebyshev_closed(list(h), list(r), 1, a)
    C.assert_same("chebyshev right", derived, right)
    wrong = -a / ((sp.sqrt(3) - 1) * C.l2(h)) * (C.l1(h) / C.l2(h)) * cov
    with pytest.raises(AssertionError):
        C.assert_same("chebyshev wrong factor", derived, wrong)


def test_variants_reject_symba_without_alpha():
    import torch

    V = load("variants")
    C = common()
    from fftheory._losses import LOSSES

    G = torch.rand(50, 4, dtype=torch.float64) * 3
    positive = torch.tensor([True, True, False, False]).expand(50, 4)
    Gg = G.clone().requires_grad_(True)
    (auto,) = torch.autograd.grad(LOSSES["symba(alpha=4)"](Gg, positive, torch.zeros(50)).sum(), Gg)
    C.assert_close("symba", V.symba_weights(G, positive, 4.0), auto)
    with pytest.raises(AssertionError):
        C.assert_close("symba without alpha", V.symba_weights(G, positive, 4.0) / 4.0, auto)
