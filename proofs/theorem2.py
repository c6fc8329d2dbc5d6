"""Theorem 2 (see theorem2.md), checked symbolically from the definitions.

Hinton's loss L = sum_Pos softplus(theta - g_i) + sum_Neg softplus(g_j - theta)
on a layer with symbolic W (3 x 2), three inputs (points 0 and 2 positive,
point 1 negative) and fixed active sets. softplus and sigmoid are sympy
functions whose declared derivatives (softplus' = sigmoid, sigmoid' = s(1-s))
are checked against log(1 + e^x) and 1/(1 + e^-x) first.

Run: python proofs/theorem2.py
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import sympy as sp  # noqa: E402
import torch  # noqa: E402

from fftheory import RULES  # noqa: E402
from fftheory._predict import measure  # noqa: E402
from fftheory._rules import apply_rule  # noqa: E402
from fftheory._theory import first_order_changes, point_coefficients, u_vectors  # noqa: E402

from _common import (  # noqa: E402
    ETA,
    MEASURES,
    THETA,
    Layer,
    Timer,
    assert_close,
    assert_same,
    assert_vectors_same,
    check_1b_forms,
    check_logistic,
    dot,
    evaluate,
    explicit,
    first_order,
    l1,
    l2,
    passed,
    sigmoid,
    softplus,
)

N_UNITS, N_INPUTS = 3, 2
ACTIVE = [{0, 1}, {1, 2}, {0, 1, 2}]
POSITIVE = [True, False, True]
LAYER = Layer(N_UNITS, N_INPUTS, ACTIVE)
POS = [i for i in range(LAYER.N) if POSITIVE[i]]
NEG = [j for j in range(LAYER.N) if not POSITIVE[j]]


def goodnesses(W):
    return [dot(h, h) for h in (LAYER.h(W, i) for i in range(LAYER.N))]


def losses(W=None):
    """The negative and the positive part of Hinton's loss, as functions of the W symbols."""
    G = goodnesses(LAYER.W if W is None else W)
    negative = sp.Add(*[softplus(G[j] - THETA) for j in NEG])
    positive = sp.Add(*[softplus(THETA - G[i]) for i in POS])
    return negative, positive


def coefficients(W, which=("neg", "pos")):
    """s_j = w_j- on negative points, -w_i+ on positive ones (0 for a part left out)."""
    G = goodnesses(W)
    out = []
    for i in range(LAYER.N):
        if POSITIVE[i]:
            out.append(-sigmoid(THETA - G[i]) if "pos" in which else 0)
        else:
            out.append(sigmoid(G[i] - THETA) if "neg" in which else 0)
    return out


# --------------------------------------------------------------------------- 2a


def simultaneous_step():
    lay = LAYER
    negative, positive = losses()
    W_new = lay.step(negative + positive)
    s = coefficients(lay.W)
    U = [lay.u(k, s) for k in range(lay.N)]
    return W_new, U


def check_2a(W_new, U):
    lay = LAYER
    H_new = []
    for k in range(lay.N):
        dz = lay.z(W_new, k) - lay.z(lay.W, k)
        assert_vectors_same(f"2a dz point {k}", dz, -2 * ETA * U[k])
        h_new = lay.h(W_new, k)
        m = lay.mask(k)
        assert_vectors_same(f"2a dh point {k}", h_new - lay.h(lay.W, k), [-2 * ETA * m[p] * U[k][p] for p in range(lay.n)])
        H_new.append(h_new)
    derived = check_1b_forms("2a", lay, H_new, U)
    passed("2a", "dz_k = -2 eta u_k (ff u_k, exact); dh = -2 eta m*u; 1b's first-order forms hold")
    return derived


_SAMPLE: list = []


def sample():
    """One random instance with the assumed active sets (cached: rejection sampling is not free)."""
    if _SAMPLE:
        values, *rest = _SAMPLE[0]
        return (dict(values), *rest)
    values = LAYER.sample(seed=11)
    W, X, H = LAYER.tensors(values)
    G = H.square().sum(-1)
    theta = float(G.median())  # both sigmoid weights away from 0 and 1
    values[THETA] = theta
    _SAMPLE.append((values, W, X, H, G, torch.tensor(theta, dtype=torch.float64)))
    return sample()


def numeric_2a(derived):
    lay = LAYER
    values, W, X, H, G, theta = sample()
    positive = torch.tensor(POSITIVE)
    s_derived = [evaluate(c, values) for c in coefficients(lay.W)]
    for name in ("ff-simultaneous", "ff-two-step"):
        s = point_coefficients(RULES[name], G, positive, theta)
        assert_close(f"2a.num {name} coefficients", s_derived, s.numpy())
        U = u_vectors(X, H, s)
        changes = first_order_changes(H, U, torch.tensor(1.0, dtype=torch.float64))
        for q in MEASURES:
            assert_close(f"2a.num {name} {q}", [evaluate(derived[k][q], values) for k in range(lay.N)], changes[q].numpy())
    passed("2a.num", "random instance: coefficients and first-order changes = fftheory (ff-simultaneous, ff-two-step)")


# --------------------------------------------------------------------------- 2b, 2c


def two_step():
    """W1 = W - eta dL_neg/dW(W); W2 = W1 - eta dL_pos/dW(W1)."""
    lay = LAYER
    negative, positive = losses()
    W1 = lay.step(negative)
    W2 = lay.step(positive, W=W1)
    return W1, W2


def check_2b(W1, W2, W_sim):
    lay = LAYER
    values, W, X, H, G, theta = sample()
    second = []
    for k in range(lay.N):
        D = lay.z(W2, k) - lay.z(W_sim, k)
        for p in range(lay.n):
            assert D[p].subs(ETA, 0) == 0
            assert_same(f"2b first derivative point {k} unit {p}", first_order(D[p]), 0)
            if k == 0:  # the second derivative at the numeric instance (numbers first: no swell)
                numeric = sp.sympify(explicit(D[p])).xreplace({s: sp.Float(v) for s, v in values.items()})
                second.append(float(sp.diff(numeric, ETA, 2).subs(ETA, 0)))
    assert max(abs(v) for v in second) > 1e-6, f"2b: second derivative vanished at the instance {second}"
    # The real two-step update, numerically, against fftheory.apply_rule.
    positive = torch.tensor(POSITIVE)
    eta = 0.05
    for name, W_sym in (("ff-two-step", W2), ("ff-simultaneous", W_sim)):
        W_new = apply_rule(RULES[name], W, X, eta=eta, positive=positive, theta=theta)
        derived = [[evaluate(e.subs(ETA, eta), values) for e in row] for row in W_sym.tolist()]
        assert_close(f"2b.num {name} W'", derived, W_new.numpy())
    passed("2b", f"d/deta (z_two-step - z_simultaneous) = 0 at eta = 0; 2nd derivative != 0 (max {max(map(abs, second)):.3g})")


def check_2c(W1, W2):
    lay = LAYER
    for k in range(lay.N):
        # Negative step: exactly -2 eta sum_Neg a_jk w_j- h_j.
        s_neg = coefficients(lay.W, which=("neg",))
        assert_vectors_same(f"2c neg point {k}", lay.z(W1, k) - lay.z(lay.W, k), -2 * ETA * lay.u(k, s_neg))
        # Positive step, taken at W1: exactly +2 eta sum_Pos a_ik w_i+(W1) h_i(W1).
        s_pos = coefficients(W1, which=("pos",))
        assert_vectors_same(f"2c pos point {k}", lay.z(W2, k) - lay.z(W1, k), -2 * ETA * lay.u(k, s_pos, W=W1))
    # Signs, for non-negative inputs: every term is a product of non-negative factors.
    n, m, N = N_UNITS, N_INPUTS, 3
    xs = [sp.Matrix(sp.symbols(f"x{i}_0:{m}", nonnegative=True)) for i in range(N)]
    hs = [sp.Matrix(sp.symbols(f"h{i}_0:{n}", nonnegative=True)) for i in range(N)]
    gs = sp.symbols(f"g0:{N}", nonnegative=True)
    for k in range(N):
        neg = sum(((xs[j].T * xs[k])[0, 0] * (1 / (1 + sp.exp(THETA - gs[j]))) * hs[j] for j in NEG), sp.zeros(n, 1))
        pos = sum(((xs[i].T * xs[k])[0, 0] * (1 / (1 + sp.exp(gs[i] - THETA))) * hs[i] for i in POS), sp.zeros(n, 1))
        for p in range(n):
            assert (-(-2 * ETA * neg[p])).is_nonnegative, "2c: negative step not provably <= 0"
            assert (2 * ETA * pos[p]).is_nonnegative, "2c: positive step not provably >= 0"
    passed("2c", "x >= 0: negative step dz = -2 eta sum_Neg a w- h <= 0, positive step (at W1) dz >= 0, exact")


# --------------------------------------------------------------------------- 2d


def check_2d(derived, W2):
    lay = LAYER
    root = sp.sqrt(lay.n)
    for k in range(lay.N):
        h = lay.h(lay.W, k)
        L1, L2 = l1(h), l2(h)
        d = derived[k]
        assert_same(f"2d point {k}", (root - 1) * d["hoyer"], L1 / L2 * (d["l2"] / L2 - d["l1"] / L1))
    # Finite steps of both rules: sign(dS) = sign(dL2/L2 - dL1/L1) (1c's finite identity), at a real instance.
    values, W, X, H, G, theta = sample()
    positive = torch.tensor(POSITIVE)
    checked = 0
    for name in ("ff-simultaneous", "ff-two-step"):
        for eta in (0.01, 0.1, 1.0):
            W_new = apply_rule(RULES[name], W, X, eta=eta, positive=positive, theta=theta)
            before, after = measure(H), measure(torch.relu(X @ W_new.T))
            dS = after["hoyer"] - before["hoyer"]
            rel = (after["l2"] - before["l2"]) / before["l2"] - (after["l1"] - before["l1"]) / before["l1"]
            exact = (before["l1"] / before["l2"]) * rel / (after["l2"] / before["l2"]) / (float(root) - 1)
            assert_close(f"2d finite {name} eta={eta}", dS.numpy(), exact.numpy(), rtol=1e-9, atol=1e-13)
            checked += int((torch.sign(dS) == torch.sign(rel)).sum())
    assert checked == 6 * lay.N
    passed("2d", "(sqrt n - 1) dS = (L1/L2)(dL2/L2 - dL1/L1) for the ff step; finite steps of both rules agree")


def main() -> None:
    with Timer():
        check_logistic()
        W_sim, U = simultaneous_step()
        derived = check_2a(W_sim, U)
        numeric_2a(derived)
        W1, W2 = two_step()
        check_2b(W1, W2, W_sim)
        check_2c(W1, W2)
        check_2d(derived, W2)


if __name__ == "__main__":
    main()
