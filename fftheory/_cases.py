"""Test cases: a small, hashable spec (what hypothesis draws and shrinks) and
the float64 tensors built from it deterministically.

A spec describes `count` independent cases of one shape, all derived from its
seed, so one hypothesis example checks many cases in one vectorised call and
any single case can be rebuilt from (spec, index).

Validity is by construction: in the "designed" layout the pre-activations are
drawn first, each at least `margin` away from zero, and W is solved from them
(W = Z^T (X X^T)^-1 X, exact when the N inputs are independent, N <= m).
"""

from __future__ import annotations

import dataclasses
from typing import Literal

import torch
from torch import Tensor

from ._model import gram, layer

Inputs = Literal["nonnegative", "signed", "orthogonal"]
Design = Literal["designed", "gaussian"]


@dataclasses.dataclass(frozen=True, kw_only=True)
class CaseSpec:
    """Everything needed to rebuild a batch of cases.

    Attributes:
      n_points: N, points per batch. n_in: m, input size. n_units: n, layer width.
      seed: torch seed for every random draw. count: independent cases (B).
      inputs: "nonnegative" (uniform [0, 1)), "signed" (Gaussian) or
        "orthogonal" (orthonormal rows times a random length; needs N <= m).
      normalise: scale each input to unit length, as FF does between layers.
      design: "designed" (pre-activations drawn with |z| >= margin, W solved;
        needs N <= m) or "gaussian" (W ~ N(0, 1/m), margins whatever they are).
      margin: smallest |z| in the designed layout.
      p_active: probability that a designed unit is active (each point keeps
        at least one active unit).
      n_positive: positive points per batch, for the ff rules.
      theta_scale: theta = theta_scale * the batch's median goodness.
      quantize: if > 0, designed |z| are rounded to multiples of it (ties
        between units, to expose goodness functions with kinks at ties).
      eta_fraction: step size as a fraction of the reference step eta*
        (the no-crossing bound, capped; see `step_scale`).
    """

    n_points: int
    n_in: int
    n_units: int
    seed: int
    count: int = 1
    inputs: Inputs = "nonnegative"
    normalise: bool = False
    design: Design = "designed"
    margin: float = 0.05
    p_active: float = 0.5
    n_positive: int = 0
    theta_scale: float = 1.0
    eta_fraction: float = 0.5
    quantize: float = 0.0

    def __post_init__(self) -> None:
        if min(self.n_points, self.n_in, self.n_units, self.count) < 1:
            raise ValueError(f"CaseSpec sizes must be >= 1: {self}")
        if self.design == "designed" or self.inputs == "orthogonal":
            if self.n_points > self.n_in:
                raise ValueError(f"layout needs n_points <= n_in, got {self.n_points} > {self.n_in}")
        if not 0 <= self.n_positive <= self.n_points:
            raise ValueError(f"n_positive must be in [0, n_points], got {self.n_positive}")


@dataclasses.dataclass(frozen=True)
class Case:
    """A batch of B cases. W (B, n, m), X (B, N, m), positive (B, N) bool, theta (B,)."""

    spec: CaseSpec
    W: Tensor
    X: Tensor
    positive: Tensor
    theta: Tensor

    def select(self, index: int) -> "Case":
        """Case `index` alone, keeping a case dimension of 1."""
        s = slice(index, index + 1)
        return Case(self.spec, self.W[s], self.X[s], self.positive[s], self.theta[s])


def _inputs(spec: CaseSpec, gen: torch.Generator) -> Tensor:
    shape = (spec.count, spec.n_points, spec.n_in)
    if spec.inputs == "nonnegative":
        X = torch.rand(shape, generator=gen, dtype=torch.float64)
    elif spec.inputs == "signed":
        X = torch.randn(shape, generator=gen, dtype=torch.float64)
    elif spec.inputs == "orthogonal":
        raw = torch.randn(spec.count, spec.n_in, spec.n_points, generator=gen, dtype=torch.float64)
        Q, _ = torch.linalg.qr(raw)  # orthonormal columns
        lengths = 0.5 + torch.rand(spec.count, spec.n_points, 1, generator=gen, dtype=torch.float64)
        X = Q.transpose(-1, -2) * lengths
    else:
        raise ValueError(f"unknown inputs kind {spec.inputs!r}")
    if spec.normalise:
        X = X / torch.linalg.vector_norm(X, dim=-1, keepdim=True)
    return X


def _designed_weights(spec: CaseSpec, X: Tensor, gen: torch.Generator) -> Tensor:
    shape = (spec.count, spec.n_points, spec.n_units)
    active = torch.rand(shape, generator=gen, dtype=torch.float64) < spec.p_active
    # Every point keeps at least one active unit, so its Hoyer sparsity is defined.
    forced = torch.randint(spec.n_units, shape[:-1], generator=gen)
    active |= torch.nn.functional.one_hot(forced, spec.n_units).bool()
    magnitude = spec.margin + torch.rand(shape, generator=gen, dtype=torch.float64)
    if spec.quantize > 0:
        magnitude = spec.margin + spec.quantize * torch.ceil((magnitude - spec.margin) / spec.quantize)
    return weights_for(X, torch.where(active, magnitude, -magnitude))


def weights_for(X: Tensor, Z: Tensor) -> Tensor:
    """The minimum-norm W with X W^T = Z, W = Z^T (X X^T)^-1 X; needs independent inputs."""
    coef = torch.linalg.solve(gram(X), Z)  # (B, N, n)
    return coef.transpose(-1, -2) @ X


def build(spec: CaseSpec) -> Case:
    """The B cases of `spec`, in float64, deterministic in the spec."""
    gen = torch.Generator().manual_seed(spec.seed)
    X = _inputs(spec, gen)
    if spec.design == "designed":
        W = _designed_weights(spec, X, gen)
    else:
        W = torch.randn(spec.count, spec.n_units, spec.n_in, generator=gen, dtype=torch.float64)
        W = W / spec.n_in**0.5
    order = torch.rand(spec.count, spec.n_points, generator=gen).argsort(-1)
    positive = order < spec.n_positive
    _, H, _ = layer(W, X)
    theta = spec.theta_scale * H.square().sum(-1).median(-1).values
    return Case(spec, W, X, positive, theta)


def with_constant_u(case: Case, *, flat: bool) -> Case:
    """Re-design point 1 so that u_0 = sum_i a_i0 h_i is constant on point 0's active units.

    Batch-decrease's u. With flat=True point 0's active activations are also made
    equal (the equality case of Theorem 1f). Needs N >= 2 and a_10 > 0
    (non-negative inputs give that); activations stay a margin from zero.
    """
    if case.spec.n_points < 2:
        raise ValueError("with_constant_u needs n_points >= 2")
    Z, _, _ = layer(case.W, case.X)
    Z = Z.clone()
    active0 = Z[:, 0] > 0
    if flat:
        level = torch.where(active0, Z[:, 0], 0.0).sum(-1) / active0.sum(-1)
        Z[:, 0] = torch.where(active0, level[:, None], Z[:, 0])
    A = gram(case.X)
    H = torch.relu(Z)
    others = (A[:, :, 0, None] * H).sum(1) - A[:, 1, 0, None] * H[:, 1]  # sum over i != 1
    a10 = A[:, 1, 0, None]
    c = torch.where(active0, others, -torch.inf).amax(-1, keepdim=True) + a10 * (case.spec.margin + 1)
    Z[:, 1] = torch.where(active0, (c - others) / a10, Z[:, 1])
    return dataclasses.replace(case, W=weights_for(case.X, Z))
