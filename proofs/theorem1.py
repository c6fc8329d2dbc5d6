"""Theorem 1 (see theorem1.md), checked symbolically from the definitions.

L = sum_i ||h_i||^2 on a layer with symbolic W (3 x 2) and inputs x_1, x_2
(active sets fixed), one real step W' = W - eta dL/dW, and every claim 1a..1g.
1c, 1e, 1f are also proved for generic activation vectors (positive symbols)
and arbitrary u, as the theorem states them.

Run: python proofs/theorem1.py
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import itertools  # noqa: E402

import sympy as sp  # noqa: E402
import torch  # noqa: E402

from fftheory import RULES  # noqa: E402
from fftheory._theory import first_order_changes, point_coefficients, u_vectors  # noqa: E402

from _common import (  # noqa: E402
    ETA,
    MEASURES,
    Layer,
    Timer,
    assert_close,
    assert_same,
    assert_vectors_same,
    check_1b_forms,
    closed_1b,
    dot,
    evaluate,
    first_order_measures,
    hoyer,
    l1,
    l2,
    passed,
)

N_UNITS, N_INPUTS = 3, 2
ACTIVE = [{0, 1}, {0, 1, 2}]
LAYER = Layer(N_UNITS, N_INPUTS, ACTIVE)


def batch_step(layer: Layer, sign: int = 1):
    """L = sign * sum_i ||h_i||^2, one step: z_k(eta), h_k(eta) and u_k (with the sign folded in)."""
    H = [layer.h(layer.W, i) for i in range(layer.N)]
    L = sign * sp.Add(*[dot(h, h) for h in H])
    W_new = layer.step(L)
    Z_new = [layer.z(W_new, k) for k in range(layer.N)]
    H_new = [layer.h(W_new, k) for k in range(layer.N)]
    U = [layer.u(k, [sign] * layer.N) for k in range(layer.N)]
    return Z_new, H_new, U


# --------------------------------------------------------------------------- 1a, 1b


def check_1a(step):
    Z_new, H_new, U = step
    lay = LAYER
    for k in range(lay.N):
        dz = Z_new[k] - lay.z(lay.W, k)
        assert_vectors_same(f"1a dz point {k}", dz, -2 * ETA * U[k])
        dh = H_new[k] - lay.h(lay.W, k)
        m = lay.mask(k)
        assert_vectors_same(f"1a dh point {k}", dh, [-2 * ETA * m[p] * U[k][p] for p in range(lay.n)])
    passed("1a", "dz_k = -2 eta u_k exactly; dh_k = -2 eta m_k * u_k (no crossing)")


def check_1b(step, closed=closed_1b):
    _, H_new, U = step
    derived = check_1b_forms("1b", LAYER, H_new, U, closed)
    passed("1b", "first-order dg, dL1, dL2, dS along the real step = closed forms (each point)")
    return derived


def numeric_crosscheck(derived, rule_name="batch-decrease", sign=1, claim="1b.num"):
    """Derived first-order coefficients at a random instance vs fftheory._theory.

    sign: the rule's point coefficient s_i (+1 decrease, -1 increase)."""
    lay = LAYER
    values = lay.sample(seed=3)
    W, X, H = lay.tensors(values)
    G = H.square().sum(-1)
    positive = torch.zeros(lay.N, dtype=torch.bool)
    theta = torch.tensor(0.0, dtype=torch.float64)
    coefficients = point_coefficients(RULES[rule_name], G, positive, theta)
    assert_close(f"{claim} coefficients", coefficients.numpy(), [sign] * lay.N)
    U = u_vectors(X, H, coefficients)
    eta = torch.tensor(0.3, dtype=torch.float64)
    changes = first_order_changes(H, U, eta)
    for q in MEASURES:
        got = [0.3 * evaluate(derived[k][q], values) for k in range(lay.N)]
        assert_close(f"{claim} {q}", got, changes[q].numpy())
    passed(claim, f"random instance: derived coefficients = fftheory first_order_changes ({rule_name})")


# --------------------------------------------------------------------------- 1c


def check_1c(derived):
    """(sqrt n - 1) dS = (L1/L2)(dL2/L2 - dL1/L1): to first order along the real step, and for
    any finite change of (L1, L2), where the sign of dS is that of dL2/L2 - dL1/L1."""
    lay = LAYER
    root = sp.sqrt(lay.n)
    for k in range(lay.N):
        h = lay.h(lay.W, k)
        L1, L2 = l1(h), l2(h)
        d = derived[k]
        assert_same(f"1c point {k}", (root - 1) * d["hoyer"], L1 / L2 * (d["l2"] / L2 - d["l1"] / L1))
    # Finite changes: S depends on h only through L1/L2.
    L1, L2, L1n, L2n = sp.symbols("L1 L2 L1n L2n", positive=True)
    S = lambda a, b: (root - a / b) / (root - 1)  # noqa: E731
    d1, d2 = (L1n - L1) / L1, (L2n - L2) / L2
    exact = (root - 1) * (S(L1n, L2n) - S(L1, L2))
    assert_same("1c finite", exact, (L1 / L2) * (d2 - d1) / (1 + d2))
    assert (1 + d2).equals(L2n / L2) and (L2n / L2).is_positive
    passed("1c", "(sqrt n - 1) dS = (L1/L2)(dL2/L2 - dL1/L1), first order and finite (factor L2/L2' > 0)")


# --------------------------------------------------------------------------- 1d, 1g.monotone


def _monotone(sign: int, claim: str):
    """Non-negative inputs: u_k >= 0 entrywise, so z moves by -sign * 2 eta u_k (exact, any eta)."""
    n, m, N = N_UNITS, N_INPUTS, 2
    xs = [sp.Matrix(sp.symbols(f"x{i}_0:{m}", nonnegative=True)) for i in range(N)]
    hs = [sp.Matrix(sp.symbols(f"h{i}_0:{n}", nonnegative=True)) for i in range(N)]  # ReLU outputs
    for k in range(N):
        u = sum(((xs[i].T * xs[k])[0, 0] * hs[i] for i in range(N)), sp.zeros(n, 1))
        for p in range(n):
            assert u[p].is_nonnegative, f"{claim}: u not provably >= 0"
            dz = -sign * 2 * ETA * u[p]
            assert (dz if sign < 0 else -dz).is_nonnegative
            # An inactive unit (z <= 0) cannot turn on under the decrease; an active one stays on under the increase.
            z = sp.Symbol("z", nonpositive=True) if sign > 0 else sp.Symbol("z", positive=True)
            assert (z + dz).is_nonpositive if sign > 0 else (z + dz).is_positive
    # The three measures are non-decreasing in each non-negative coordinate (ReLU is monotone).
    y = sp.symbols("y0:3", positive=True)
    for f in (lambda v: dot(v, v), l1, l2):
        for p in range(3):
            assert sp.diff(f(y), y[p]).is_nonnegative


def check_1d():
    _monotone(+1, "1d")
    passed("1d", "x >= 0: u_k >= 0, so every z weakly falls (any eta); g, L1, L2 fall; no unit turns on")


# --------------------------------------------------------------------------- 1e


def check_1e_self():
    """u_k = a_kk h_k adds nothing to dS_k, on every active set of n = 3 and 4 units."""
    for n in (3, 4):
        for size in range(1, n + 1):
            A = set(range(size))
            h = [sp.Symbol(f"h{p}", positive=True) if p in A else 0 for p in range(n)]
            mask = [1 if p in A else 0 for p in range(n)]
            a = sp.Symbol("a_kk", positive=True)
            u = [a * e for e in h]
            assert_same(f"1e.self n={n} |A|={size}", closed_1b(h, mask, u)["hoyer"], 0)
            assert_same(f"1e.self bracket n={n}", dot(mask, h) - l1(h) / l2(h) ** 2 * dot(h, h), 0)
    passed("1e.self", "self term u_k = a_kk h_k: <m,h> - (L1/L2^2)<h,h> = 0, so dS_k gets nothing")


def check_1e_orthogonal():
    """Orthogonal inputs x_1 = (s, t), x_2 = c(-t, s): h_k' = (1 - 2 eta ||x_k||^2) h_k, S_k unchanged."""
    s, t, c = sp.symbols("s t c", real=True)
    inputs = [sp.Matrix([s, t]), sp.Matrix([-c * t, c * s])]
    lay = Layer(N_UNITS, N_INPUTS, ACTIVE, inputs=inputs)
    assert sp.expand(lay.a(0, 1)) == 0
    for N in (1, 2):  # one point, and two orthogonal points
        sub = Layer(N_UNITS, N_INPUTS, ACTIVE[:N], inputs=inputs[:N])
        H = [sub.h(sub.W, i) for i in range(N)]
        W_new = sub.step(sp.Add(*[dot(h, h) for h in H]))
        for k in range(N):
            factor = 1 - 2 * ETA * sub.a(k, k)
            h_new = sub.h(W_new, k)
            assert_vectors_same(f"1e.orthogonal N={N} point {k}", h_new, factor * H[k])
    # S is invariant under h -> c h for c > 0 (here c = 1 - 2 eta ||x_k||^2 > 0).
    scale = sp.Symbol("scale", positive=True)
    y = [sp.Symbol(f"y{p}", positive=True) for p in range(N_UNITS)]
    assert_same("1e.orthogonal scale", hoyer([scale * e for e in y]), hoyer(y))
    passed("1e.orth", "one point / orthogonal inputs: h_k' = (1 - 2 eta ||x_k||^2) h_k, S_k unchanged if factor > 0")


# --------------------------------------------------------------------------- 1f


def check_1f():
    """u_k = c on the active set A: dS_k = 2 eta c (|A| - L1^2/L2^2)/((sqrt n - 1) L2), >= 0 by Lagrange."""
    c = sp.Symbol("c", nonnegative=True)
    for n, size in ((3, 3), (4, 3), (4, 4)):
        A = range(size)
        h = [sp.Symbol(f"h{p}", positive=True) if p < size else 0 for p in range(n)]
        mask = [1 if p < size else 0 for p in range(n)]
        u = [c if p < size else sp.Symbol(f"u{p}", real=True) for p in range(n)]  # off A: anything
        L1, L2 = l1(h), l2(h)
        dS = closed_1b(h, mask, u)["hoyer"]
        assert_same(f"1f n={n} |A|={size}", dS, 2 * c / ((sp.sqrt(n) - 1) * L2) * (size - L1**2 / L2**2))
        lagrange = sp.Add(*[(h[p] - h[q]) ** 2 for p, q in itertools.combinations(A, 2)])
        assert_same(f"1f Lagrange |A|={size}", size * L2**2 - L1**2, lagrange)
        assert lagrange.is_nonnegative
        # so dS = 2 eta c * lagrange / ((sqrt n - 1) L2^3) >= 0, zero iff h is constant on A
        assert_same("1f factored", dS, 2 * c * lagrange / ((sp.sqrt(n) - 1) * L2**3))
        assert (2 * c * lagrange / ((sp.sqrt(n) - 1) * L2**3)).is_nonnegative
        v = sp.Symbol("v", positive=True)
        assert lagrange.subs({h[p]: v for p in A}) == 0
    passed("1f", "u = c on A: dS_k = 2 eta c sum_{p<q in A}(h_p - h_q)^2 / ((sqrt n - 1) L2^3) >= 0")


# --------------------------------------------------------------------------- 1g


def check_1g(decrease_derived):
    """batch-increase (L = -sum g): dz = +2 eta u_k, every first-order change negated; eta -> -eta."""
    step = batch_step(LAYER, sign=-1)
    Z_new, H_new, U_inc = step
    lay = LAYER
    _, _, U_dec = batch_step(LAYER, sign=1)
    for k in range(lay.N):
        assert_vectors_same(f"1g u point {k}", U_inc[k], -U_dec[k])
        assert_vectors_same(f"1g dz point {k}", Z_new[k] - lay.z(lay.W, k), 2 * ETA * U_dec[k])
    # Every first-order change along the real increase step is minus the decrease one ...
    derived = {k: first_order_measures(H_new[k]) for k in range(lay.N)}
    for k in range(lay.N):
        for q in MEASURES:
            assert_same(f"1g negated point {k} {q}", derived[k][q], -decrease_derived[k][q])
    # ... as 1b's closed forms predict: they are odd in u.
    h = [sp.Symbol(f"h{p}", positive=True) for p in range(lay.n)]
    u = [sp.Symbol(f"u{p}", real=True) for p in range(lay.n)]
    plus, minus = closed_1b(h, [1] * lay.n, u), closed_1b(h, [1] * lay.n, [-e for e in u])
    for q in MEASURES:
        assert_same(f"1g odd {q}", minus[q], -plus[q])
    # eta -> -eta in the decrease step gives the increase step exactly.
    Z_dec, _, _ = batch_step(LAYER, sign=1)
    for k in range(lay.N):
        assert_vectors_same(f"1g eta->-eta point {k}", Z_dec[k].subs(ETA, -ETA), Z_new[k])
    _monotone(-1, "1g.monotone")
    passed("1g", "L = -sum g: u -> -u, dz and all first-order changes negated (eta -> -eta); x >= 0: z rises")
    return derived


def main() -> None:
    with Timer():
        step = batch_step(LAYER)
        check_1a(step)
        derived = check_1b(step)
        numeric_crosscheck(derived)
        check_1c(derived)
        check_1d()
        check_1e_self()
        check_1e_orthogonal()
        check_1f()
        increase = check_1g(derived)
        numeric_crosscheck(increase, "batch-increase", sign=-1, claim="1g.num")


if __name__ == "__main__":
    main()
