"""The remainder bounds of fftheory._predict.remainder_bound (see bounds.md).

Symbolic part (n = 3 or 4, generic real h and dh): the goodness remainder,
the L1 remainder on the active orthant, the derivatives of f = ||h + t dh||,
q = 1/f and r = L1/L2 along the segment, the Cauchy-Schwarz (Lagrange)
identities that bound them, and the distance of the segment from the origin.
Numeric part: on random steps crossing no zero (generic, radial, orthogonal;
small and large) the derivative bounds hold on a grid of t, the formula for
r'' matches autograd of fftheory's own L1/L2, and |q(h + dh) - q(h) - grad q . dh|
never exceeds remainder_bound.

Run: python proofs/bounds.py
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import itertools  # noqa: E402
import math  # noqa: E402
from typing import Callable  # noqa: E402

import sympy as sp  # noqa: E402
import torch  # noqa: E402

from fftheory._predict import QUANTITIES, autograd_prediction, measure, remainder_bound  # noqa: E402
from fftheory._sparsity import l1 as t_l1, l2 as t_l2  # noqa: E402

from _common import Timer, assert_same, dot, passed  # noqa: E402

N_SYM = 3


def _vectors(n=N_SYM):
    h = sp.Matrix(sp.symbols(f"h0:{n}", real=True))
    d = sp.Matrix(sp.symbols(f"d0:{n}", real=True))
    return h, d


# --------------------------------------------------------------------------- symbolic


def check_goodness_and_l1():
    h, d = _vectors()
    # Goodness: g(h + dh) - g(h) - 2 h.dh = ||dh||^2 exactly.
    assert_same("goodness remainder", dot(h + d, h + d) - dot(h, h) - 2 * dot(h, d), dot(d, d))
    # L1: on the active set A both endpoints are >= 0 (no crossing), off A dh = 0.
    A = {0, 1}
    hp = [sp.Symbol(f"h{p}", positive=True) if p in A else 0 for p in range(N_SYM)]
    after = [sp.Symbol(f"a{p}", nonnegative=True) if p in A else 0 for p in range(N_SYM)]  # h_p + dh_p
    dh = [a - b for a, b in zip(after, hp)]
    mask = [1 if p in A else 0 for p in range(N_SYM)]
    remainder = sum(sp.Abs(a) for a in after) - sum(sp.Abs(b) for b in hp) - dot(mask, dh)
    assert_same("l1 remainder", remainder, 0)
    passed("goodness", "remainder g(h+dh) - g(h) - 2<h,dh> = ||dh||^2 exactly")
    passed("l1", "remainder 0: L1 = sum of entries on the non-negative orthant, grad = m")


def check_segment():
    """f(t) = ||h + t dh||: derivatives, their bounds, and f(t) >= ||h|| - t ||dh||."""
    h, d = _vectors()
    t = sp.Symbol("t", nonnegative=True)
    ht = h + t * d
    f = sp.sqrt(dot(ht, ht))
    s2 = dot(d, d)  # ||dh||^2
    f1 = dot(ht, d) / f
    assert_same("f'", sp.diff(f, t), f1)
    assert_same("f''", sp.diff(f, t, 2), (s2 - f1**2) / f)
    # Lagrange: ||a||^2 ||b||^2 - (a.b)^2 = sum_{p<q} (a_p b_q - a_q b_p)^2, so f'^2 <= ||dh||^2.
    for n in (3, 4):
        a, b = _vectors(n)
        lagrange = sp.Add(*[(a[p] * b[q] - a[q] * b[p]) ** 2 for p, q in itertools.combinations(range(n), 2)])
        assert_same(f"Lagrange n={n}", dot(a, a) * dot(b, b) - dot(a, b) ** 2, lagrange)
        assert lagrange.is_nonnegative
    # f(t)^2 - (||h|| - t ||dh||)^2 = 2t (<h,dh> + ||h|| ||dh||) >= 0 (Cauchy-Schwarz), so f(t) >= rho.
    nh, nd = sp.sqrt(dot(h, h)), sp.sqrt(s2)
    assert_same("segment distance", dot(ht, ht) - (nh - t * nd) ** 2, 2 * t * (dot(h, d) + nh * nd))
    passed("l2", "f' = <h_t,dh>/f, f'' = (||dh||^2 - f'^2)/f in [0, ||dh||^2/rho]: remainder <= ||dh||^2/(2 rho)")

    # q = 1/f and r = L1(t) q with L1(t) = L1 + t b (linear on the orthant).
    q = 1 / f
    q1, q2 = -f1 / f**2, (3 * f1**2 - s2) / f**3
    assert_same("q'", sp.diff(q, t), q1)
    assert_same("q''", sp.diff(q, t, 2), q2)
    # q'' = (3 f'^2 - ||dh||^2)/f^3 with 0 <= f'^2 <= ||dh||^2: q'' in [-||dh||^2/f^3, 2 ||dh||^2/f^3].
    L1, b = sp.symbols("L1 b", real=True)
    r = (L1 + t * b) * q
    assert_same("r''", sp.diff(r, t, 2), 2 * b * q1 + (L1 + t * b) * q2)
    # Hoyer: S = (sqrt n - r)/(sqrt n - 1), so S'' = -r''/(sqrt n - 1).
    S = (sp.sqrt(N_SYM) - r) / (sp.sqrt(N_SYM) - 1)
    assert_same("S''", sp.diff(S, t, 2), -sp.diff(r, t, 2) / (sp.sqrt(N_SYM) - 1))
    # Taylor with integral remainder: |phi(1) - phi(0) - phi'(0)| <= max|phi''| * int_0^1 (1 - t) dt.
    assert sp.integrate(1 - t, (t, 0, 1)) == sp.Rational(1, 2)
    passed("q, r", "q' = -f'/f^2, q'' = (3f'^2 - ||dh||^2)/f^3, r'' = 2 b q' + L1(t) q''")
    passed("hoyer", "|S remainder| <= max|r''| / (2 (sqrt n - 1)), |r''| <= 2|b| s/rho^2 + 2(L1+|b|) s^2/rho^3")


# --------------------------------------------------------------------------- numeric


def sample_steps(count: int, n: int, kind: str, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Random h >= 0 (random active set) and steps dh supported on it that cross no zero."""
    g = torch.Generator().manual_seed(seed)
    f64 = dict(dtype=torch.float64, generator=g)
    M = (torch.rand(count, n, **f64) < 0.7).to(torch.float64)
    M[:, 0] = 1.0
    H = torch.rand(count, n, **f64) * M + 1e-3 * M
    D = torch.randn(count, n, **f64) * M
    if kind == "radial":  # along +-h, the worst case for q''
        sign = torch.where(torch.rand(count, 1, **f64) < 0.7, -1.0, 1.0)
        D = sign * H + 1e-3 * D
    elif kind == "orthogonal":  # perpendicular to h, the worst case for the L2 remainder
        D = D - (D * H).sum(-1, keepdim=True) / (H * H).sum(-1, keepdim=True) * H
    D = D / t_l2(D)[:, None].clamp_min(1e-300)
    lo, hi = math.log(1e-4), math.log(0.999)
    length = t_l2(H) * torch.exp(lo + (hi - lo) * torch.rand(count, **f64))
    dH = D * length[:, None]
    # Shrink steps that would take an active unit below zero (they may end exactly on it).
    ratio = torch.where(dH < 0, H / (-dH).clamp_min(1e-300), torch.inf).amin(-1).clamp(max=1.0)
    return H, dH * ratio[:, None]


KINDS = ("generic", "radial", "orthogonal")
SIZES = (2, 3, 5, 8)


def _cases(count: int):
    for j, (n, kind) in enumerate(itertools.product(SIZES, KINDS)):
        H, dH = sample_steps(count, n, kind, seed=100 + j)
        yield n, kind, H, dH


def check_derivative_bounds(count: int = 2000, q2_upper: float = 2.0, grid: int = 11) -> None:
    """On a grid of t: |q'| <= s/rho^2, -s^2/rho^3 <= q'' <= q2_upper s^2/rho^3, |r''| <= code's bound,
    and the closed form of r'' equals autograd's second derivative of fftheory's L1/L2."""
    for n, kind, H, dH in _cases(count):
        s = t_l2(dH)
        rho = t_l2(H) - s
        b = dH.sum(-1)
        L1 = t_l1(H)
        r2_bound = 2 * b.abs() * s / rho**2 + 2 * (L1 + b.abs()) * s**2 / rho**3
        assert torch.allclose(
            remainder_bound(H, dH)["hoyer"], r2_bound / (2 * (math.sqrt(n) - 1))
        ), "remainder_bound's Hoyer term is not max|r''| / (2 (sqrt n - 1))"
        for t0 in torch.linspace(0, 1, grid, dtype=torch.float64):
            t = torch.full((count, 1), float(t0), dtype=torch.float64, requires_grad=True)
            ht = H + t * dH
            r = t_l1(ht) / t_l2(ht)
            (r1,) = torch.autograd.grad(r.sum(), t, create_graph=True)
            (r2_auto,) = torch.autograd.grad(r1.sum(), t)
            with torch.no_grad():
                f = t_l2(ht)
                f1 = (ht * dH).sum(-1) / f
                q1 = -f1 / f**2
                q2 = (3 * f1**2 - s**2) / f**3
                r2 = 2 * b * q1 + (L1 + float(t0) * b) * q2
                tol = 1e-9
                assert (f >= rho * (1 - tol)).all(), f"{kind} n={n}: segment closer than rho"
                assert (q1.abs() <= s / rho**2 * (1 + tol)).all(), f"{kind} n={n}: |q'| bound"
                assert (q2 >= -(s**2) / rho**3 * (1 + tol)).all(), f"{kind} n={n}: q'' lower bound"
                assert (q2 <= q2_upper * s**2 / rho**3 * (1 + tol)).all(), f"{kind} n={n}: q'' upper bound"
                assert (r2.abs() <= r2_bound * (1 + tol) + 1e-300).all(), f"{kind} n={n}: |r''| bound"
                scale = (2 * b.abs() * q1.abs() + (L1 + b.abs()) * q2.abs()).clamp_min(1e-300)
                # autograd differentiates |.| at 0 as 0: compare where no active unit sits on zero.
                interior = torch.where(H > 0, ht, torch.inf).amin(-1) > 1e-9 * f
                error = (r2 - r2_auto[:, 0]).abs()
                assert (error[interior] <= 1e-9 * scale[interior]).all(), f"{kind} n={n}: r'' formula vs autograd"
    passed("num.deriv", f"{len(SIZES) * len(KINDS) * count} steps x {grid} t: q', q'', r'' within their bounds")


BoundFn = Callable[[torch.Tensor, torch.Tensor], dict]


def check_remainders(bound: BoundFn = remainder_bound, count: int = 4000) -> dict[str, float]:
    """|q(h + dh) - q(h) - grad q . dh| <= bound (+ rounding) on every sampled step; returns the
    largest ratio remainder / bound seen per quantity (how tight the bound is)."""
    worst = {q: 0.0 for q in QUANTITIES}
    for n, kind, H, dH in _cases(count):
        before, after = measure(H), measure(H + dH)
        jvp = autograd_prediction(H, dH)
        limits = bound(H, dH)
        for q in QUANTITIES:
            remainder = (after[q] - before[q] - jvp[q]).abs()
            rounding = 1e-12 * (before[q].abs() + after[q].abs() + jvp[q].abs()) + 1e-15
            bad = remainder > limits[q] + rounding
            if bad.any():
                i = int(bad.nonzero()[0, 0])
                raise AssertionError(
                    f"{q} remainder {float(remainder[i]):.3e} > bound {float(limits[q][i]):.3e} "
                    f"({kind} step, n={n}, |h|={float(t_l2(H[i])):.3g}, |dh|={float(t_l2(dH[i])):.3g})"
                )
            meaningful = remainder > 1e3 * rounding
            if meaningful.any():
                worst[q] = max(worst[q], float((remainder[meaningful] / limits[q][meaningful]).max()))
    passed(
        "num.rem",
        f"{len(SIZES) * len(KINDS) * count} steps: every remainder <= remainder_bound "
        f"(max ratio l2 {worst['l2']:.3f}, hoyer {worst['hoyer']:.3f})",
    )
    return worst


def main() -> None:
    with Timer():
        check_goodness_and_l1()
        check_segment()
        check_derivative_bounds()
        worst = check_remainders()
        # The L2 bound is tight (small orthogonal steps), so a smaller constant would be wrong.
        assert worst["l2"] > 0.9, worst


if __name__ == "__main__":
    main()
