"""General lemma (see lemma.md), checked symbolically from the definitions.

Layer z_i = W x_i, n = 3 units, m = 2 inputs, N = 3 points with fixed active
sets. The goodness g is an arbitrary differentiable function of the n
activations and every point has its own arbitrary differentiable loss l_i:
both are sympy functions whose derivatives are opaque functions (g_p for
dg/dh_p, dl_i for l_i'), so the identity proved holds for every choice.
Then the generic result is specialised to g = ||h||^2 and to the losses of
the harness's rules and cross-checked numerically against fftheory.

Run: python proofs/lemma.py
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import sympy as sp  # noqa: E402
import torch  # noqa: E402

from fftheory import RULES  # noqa: E402
from fftheory._predict import lemma_direction  # noqa: E402
from fftheory._theory import point_coefficients, u_vectors  # noqa: E402

from _common import (  # noqa: E402
    ETA,
    THETA,
    Layer,
    Timer,
    assert_close,
    assert_same,
    assert_vectors_same,
    check_logistic,
    evaluate,
    first_order,
    passed,
    sigmoid,
    softplus,
)

N_UNITS, N_INPUTS = 3, 2
ACTIVE = [{0, 1}, {1, 2}, {0, 1, 2}]
LAYER = Layer(N_UNITS, N_INPUTS, ACTIVE)
POSITIVE = [True, False, True]  # labels for Hinton's loss

# An arbitrary goodness g(h_1, ..., h_n) with partial derivatives g_p.
PARTIALS = [sp.Function(f"g_{p}") for p in range(N_UNITS)]


class g(sp.Function):
    nargs = N_UNITS

    def fdiff(self, argindex=1):
        return PARTIALS[argindex - 1](*self.args)


def _loss(i: int):
    """An arbitrary per-point loss l_i with derivative dl_i."""
    derivative = sp.Function(f"dl{i}")
    cls = type(f"l{i}", (sp.Function,), {"nargs": 1, "fdiff": lambda self, argindex=1, d=derivative: d(self.args[0])})
    return cls, derivative


LOSSES = [_loss(i) for i in range(LAYER.N)]


def generic_step():
    """L = sum_i l_i(g(h_i)); the real step's change of every z_k, and the lemma's closed form."""
    lay = LAYER
    H = [lay.h(lay.W, i) for i in range(lay.N)]
    L = sp.Add(*[LOSSES[i][0](g(*H[i])) for i in range(lay.N)])
    W_new = lay.step(L)
    dz = [lay.z(W_new, k) - lay.z(lay.W, k) for k in range(lay.N)]
    closed = []
    for k in range(lay.N):
        total = sp.zeros(lay.n, 1)
        for i in range(lay.N):
            dl = LOSSES[i][1](g(*H[i]))
            grad_g = sp.Matrix([lay.mask(i)[p] * PARTIALS[p](*H[i]) for p in range(lay.n)])
            total += lay.a(i, k) * dl * grad_g
        closed.append(-ETA * total)
    return dz, closed, W_new


def specialise(expr, dl_values):
    """g = sum of squares (g_p = 2 h_p) and l_i' = dl_values[i] (a function of g_i)."""
    y = sp.symbols(f"y0:{N_UNITS}", real=True)
    square_sum = sp.Add(*[t**2 for t in y])
    for p in range(N_UNITS):  # the partials really are those of the sum of squares
        assert sp.diff(square_sum, y[p]) == 2 * y[p]
    for i, value in enumerate(dl_values):
        expr = expr.replace(LOSSES[i][1], value)
    for p in range(N_UNITS):
        expr = expr.replace(PARTIALS[p], lambda *args, p=p: 2 * args[p])
    return expr.replace(g, lambda *args: sp.Add(*[t**2 for t in args]))


def check_generic():
    dz, closed, W_new = generic_step()
    for k in range(LAYER.N):
        assert_vectors_same(f"lemma point {k}", dz[k], closed[k])
        # Exact, linear in eta: W' = W - eta dL/dW with dL/dW independent of eta.
        for entry in LAYER.z(W_new, k):
            assert sp.diff(entry, ETA, 2) == 0, "z' is not linear in eta"
    passed("lemma", "dz_k = -eta sum_i a_ik l_i'(g_i) (m_i * grad g(h_i)), any g and l_i, exact in eta")
    return dz


def check_mask():
    """No crossing: active units stay positive, inactive stay non-positive, so dh = m * dz."""
    for active in (True, False):
        if active:
            z, z_new = sp.symbols("z z_new", positive=True)
        else:
            z, z_new = sp.symbols("z z_new", nonpositive=True)
        dh = sp.Max(z_new, 0) - sp.Max(z, 0)
        assert_same(f"lemma.mask active={active}", dh, (1 if active else 0) * (z_new - z))
    passed("lemma.mask", "dh_k = m_k * dz_k when no unit of point k crosses zero")


def specialisations(dz):
    """The lemma with g = ||h||^2 and each rule's losses, against the same rule's loss built directly."""
    lay = LAYER
    H = [lay.h(lay.W, i) for i in range(lay.N)]
    G = [sum(e**2 for e in h) for h in H]
    one, minus_one = (lambda t: 1), (lambda t: -1)
    rules = {  # rule -> (l_i' as functions of g_i, the rule's loss built directly)
        "batch-decrease": ([one] * lay.N, sp.Add(*G)),
        "batch-increase": ([minus_one] * lay.N, -sp.Add(*G)),
        "ff-simultaneous": (
            [(lambda t: -sigmoid(THETA - t)) if pos else (lambda t: sigmoid(t - THETA)) for pos in POSITIVE],
            sp.Add(*[softplus(THETA - G[i]) if POSITIVE[i] else softplus(G[i] - THETA) for i in range(lay.N)]),
        ),
    }
    out = {}
    for name, (dl_values, L) in rules.items():
        W_new = lay.step(L)
        direct = [lay.z(W_new, k) - lay.z(lay.W, k) for k in range(lay.N)]
        for k in range(lay.N):
            special = specialise(dz[k], dl_values)
            assert_vectors_same(f"lemma {name} point {k}", direct[k], special)
            # ... which is -2 eta u_k, u_k = sum_i a_ik l_i'(g_i) h_i.
            coeffs = [d(G[i]) for i, d in enumerate(dl_values)]
            assert_vectors_same(f"lemma {name} u point {k}", direct[k], -2 * ETA * lay.u(k, coeffs))
        out[name] = direct
    check_logistic()
    passed("lemma.spec", "g = ||h||^2 and l = +-identity, softplus (softplus' = sigmoid): dz_k = -2 eta u_k")
    return out


def numeric_crosscheck(direct):
    """Derived dz per unit eta vs fftheory's autograd lemma direction and its closed-form u."""
    lay = LAYER
    values = lay.sample(seed=7)
    theta = 0.8
    values[THETA] = theta
    W, X, H = lay.tensors(values)
    positive = torch.tensor(POSITIVE)
    theta_t = torch.tensor(theta, dtype=torch.float64)
    for name, dz in direct.items():
        derived = [[evaluate(first_order(e), values) for e in dz[k]] for k in range(lay.N)]
        rule = RULES[name]
        V = lemma_direction(rule, W, X, positive=positive, theta=theta_t)
        assert_close(f"lemma {name} vs lemma_direction", derived, V.numpy())
        U = u_vectors(X, H, point_coefficients(rule, H.square().sum(-1), positive, theta_t))
        assert_close(f"lemma {name} vs -2 u_vectors", derived, (-2 * U).numpy())
    passed("lemma.num", "random instance: derived dz/eta = fftheory lemma_direction = -2 u_vectors (3 rules)")


def main() -> None:
    with Timer():
        dz = check_generic()
        check_mask()
        direct = specialisations(dz)
        numeric_crosscheck(direct)


if __name__ == "__main__":
    main()
