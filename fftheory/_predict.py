"""The prediction engine: first-order predictions by autograd, observed changes
after a real step, and rigorous bounds on the difference.

Nothing here is specific to sum of squares except `remainder_bound`'s goodness
term; `_theory` holds the paper's closed forms, which tests compare with these.
"""

from __future__ import annotations

import dataclasses
import functools
import math

import torch
from torch import Tensor

from ._goodness import Goodness, sum_of_squares
from ._model import forward as layer_forward
from ._model import gram
from ._rules import Rule, apply_rule, weight_gradient
from ._sparsity import active_count, hoyer_from_norms, l1, l2

QUANTITIES = ("goodness", "l1", "l2", "hoyer")


def measure(H: Tensor, goodness: Goodness = sum_of_squares) -> dict[str, Tensor]:
    """Goodness, L1, L2 and Hoyer sparsity of every point, each (..., N)."""
    L1, L2 = l1(H), l2(H)
    return {"goodness": goodness(H), "l1": L1, "l2": L2, "hoyer": hoyer_from_norms(L1, L2, H.shape[-1])}


def lemma_direction(
    rule: Rule,
    W: Tensor,
    X: Tensor,
    *,
    goodness: Goodness = sum_of_squares,
    positive: Tensor | None = None,
    theta: Tensor | float = 0.0,
) -> Tensor:
    """dz per unit eta from the general lemma, by autograd: -X (dL/dW)^T, shape (..., N, n).

    For the single-stage rules this is exact (z is linear in W); for ff-two-step
    it is the first-order direction.
    """
    if positive is None:
        positive = torch.zeros(X.shape[:-1], dtype=torch.bool)
    theta_t = torch.as_tensor(theta, dtype=W.dtype).expand(W.shape[:-2])
    grad = weight_gradient(
        rule.first_order_objective, W, X, goodness=goodness, positive=positive, theta=theta_t
    )
    return direction_from_gradient(X, grad)


def direction_from_gradient(X: Tensor, grad: Tensor) -> Tensor:
    """dz per unit eta of the step W <- W - eta grad: -X grad^T, (..., N, n)."""
    return -X @ grad.transpose(-1, -2)


def goodness_gradient(H: Tensor, goodness: Goodness = sum_of_squares) -> Tensor:
    """grad g(h) for every point, (..., N, n), by autograd."""
    H = H.detach().requires_grad_(True)
    (grad,) = torch.autograd.grad(goodness(H).sum(), H)
    return grad


def loss_weights(rule: Rule, G: Tensor, positive: Tensor, theta: Tensor) -> Tensor:
    """l_i'(g_i) = dL/dg_i of the rule's first-order objective, (..., N), by autograd."""
    G = G.detach().requires_grad_(True)
    (weights,) = torch.autograd.grad(rule.first_order_objective(G, positive, theta).sum(), G)
    return weights


def lemma_gram_direction(
    rule: Rule,
    X: Tensor,
    H: Tensor,
    *,
    goodness: Goodness = sum_of_squares,
    positive: Tensor | None = None,
    theta: Tensor | float = 0.0,
) -> Tensor:
    """The lemma in its Gram form: dz_k / eta = -sum_i a_ik l_i'(g_i) (m_i * grad g(h_i)), (..., N, n).

    Independent of `lemma_direction` (which differentiates the loss in W).
    """
    if positive is None:
        positive = torch.zeros(X.shape[:-1], dtype=torch.bool)
    theta_t = torch.as_tensor(theta, dtype=H.dtype).expand(H.shape[:-2])
    c = loss_weights(rule, goodness(H), positive, theta_t)
    M = (H > 0).to(H.dtype)
    return -gram(X) @ (c[..., None] * M * goodness_gradient(H, goodness))


def linear_predictions(H: Tensor, dH: Tensor, grad_g: Tensor) -> dict[str, Tensor]:
    """First-order changes for an activation step dH, by the explicit formulas
    dg = <grad g, dh>, dL1 = <m, dh>, dL2 = <h, dh>/L2 and the Hoyer quotient rule."""
    M = (H > 0).to(H.dtype)
    L1, L2 = l1(H), l2(H)
    d1, d2 = (M * dH).sum(-1), (H * dH).sum(-1) / L2
    root = math.sqrt(H.shape[-1])
    return {
        "goodness": (grad_g * dH).sum(-1),
        "l1": d1,
        "l2": d2,
        "hoyer": -(d1 / L2 - L1 * d2 / L2**2) / (root - 1),
    }


def linear_term_sizes(H: Tensor, dH: Tensor, grad_g: Tensor) -> dict[str, Tensor]:
    """Size of the terms summed in `linear_predictions` (rounding scales with these)."""
    M = (H > 0).to(H.dtype)
    L1, L2 = l1(H), l2(H)
    d1, d2 = (M * dH.abs()).sum(-1), (H * dH.abs()).sum(-1) / L2
    root = math.sqrt(H.shape[-1])
    return {
        "goodness": (grad_g * dH).abs().sum(-1),
        "l1": d1,
        "l2": d2,
        "hoyer": (d1 / L2 + L1 * d2 / L2**2) / (root - 1),
    }


def crossing_bound(Z: Tensor, V: Tensor) -> Tensor:
    """Largest eta for which no unit of z + eta v crosses zero, per case (...,); +inf if none moves toward zero."""
    # Unit p reaches zero at eta = -z_p / v_p, which is > 0 exactly when it moves toward zero.
    if Z.numel() and bool(Z.abs().amin() > 0):
        # No unit exactly at zero: 1 / the largest -v_p / z_p (element-wise float ops only,
        # several times cheaper than masks and `where`; equal to min -z_p / v_p up to an ulp).
        return 1 / torch.relu(-V / Z).flatten(-2).amax(-1)
    # A unit exactly at zero turns on at once if it moves up (bound 0); moving down it stays off.
    ratio = -Z / V
    toward_zero = (ratio > 0) | ((Z == 0) & (V > 0))
    return torch.where(toward_zero, ratio.abs(), torch.inf).flatten(-2).amin(-1)


def step_scale(
    Z: Tensor,
    V: Tensor,
    X: Tensor,
    goodness: Goodness = sum_of_squares,
    weights: Tensor | None = None,
    *,
    goodness_grad: Tensor | None = None,
    A: Tensor | None = None,
) -> Tensor:
    """The reference step size eta* per case (...,): the crossing bound, capped
    where some point's step would be as long as its activation if the terms of
    the lemma did not cancel: |dz_k| <= eta sum_i |a_ik| |l_i'| |grad g(h_i)|.

    `weights` are the loss weights l_i' (..., N) (default 1, as for the batch
    rules; Hinton's are sigmoids, below 1; SymBa's can exceed 1). Checks take
    eta as a fraction (or multiple) of eta*, so steps stay on the scale where
    first-order predictions mean something, even where V cancels to ~0.
    `goodness_grad` (grad g(h) at H = relu(Z)) and `A` (the Gram matrix of X): if the caller has them.
    """
    H = torch.relu(Z)
    grad = goodness_gradient(H, goodness) if goodness_grad is None else goodness_grad
    size = l2(torch.sign(H) * grad)  # sign(h) is the 0/1 active mask (float ops are cheaper than masks)
    if weights is not None:
        size = size * weights.abs()
    pull = (gram(X) if A is None else A).abs() @ size[..., None]  # (..., N, 1)
    L2 = l2(H)
    length = torch.where(L2 > 0, L2 / pull[..., 0].clamp_min(1e-300), torch.inf).amin(-1)
    scale = torch.minimum(crossing_bound(Z, V), length)
    # A case with no active unit anywhere: nothing moves, any finite step will do.
    return torch.where(torch.isfinite(scale), scale, torch.ones_like(scale))


def autograd_prediction(H: Tensor, dH: Tensor, goodness: Goodness = sum_of_squares) -> dict[str, Tensor]:
    """First-order change of each quantity: its Jacobian-vector product at H along dH.

    NaN where the quantity itself is undefined (e.g. Hoyer for n = 1, whose constant
    NaN would otherwise get a zero tangent)."""
    values, tangents = torch.func.jvp(lambda h: measure(h, goodness), (H,), (dH,))
    return {q: torch.where(torch.isnan(values[q]), torch.nan, t) for q, t in tangents.items()}


@dataclasses.dataclass(frozen=True)
class Observation:
    """What a real step did. Every tensor has shape (..., N) unless noted.

    Attributes:
      W, W_new: the weights before and after the step (..., n, m).
      Z, H: before the step, (..., N, n). Z_new, H_new: after it.
      before, after: quantity -> its value before / after the step.
      changes: quantity -> observed change (after - before).
      crossed: whether any unit of the point changed sign (crossed zero).
      active_change: change in the number of active units (computed on first use).
    """

    W: Tensor
    W_new: Tensor
    Z: Tensor
    H: Tensor
    Z_new: Tensor
    H_new: Tensor
    before: dict[str, Tensor]
    after: dict[str, Tensor]
    changes: dict[str, Tensor]
    crossed: Tensor

    @functools.cached_property
    def active_change(self) -> Tensor:
        return active_count(self.H_new) - active_count(self.H)


def observe(
    W: Tensor,
    W_new: Tensor,
    X: Tensor,
    goodness: Goodness = sum_of_squares,
    *,
    forward: tuple[Tensor, Tensor] | None = None,
) -> Observation:
    """Measure every point before and after the update W -> W_new.

    `forward` = (Z, H) at W, if the caller has them already (saves a forward pass).
    """
    Z, H = layer_forward(W, X) if forward is None else forward
    Z_new, H_new = layer_forward(W_new, X)
    before, after = measure(H, goodness), measure(H_new, goodness)
    # A unit crossed zero where the 0/1 active masks sign(h) differ.
    crossed = (torch.sign(H_new) - torch.sign(H)).abs().amax(-1) > 0
    return Observation(
        W=W,
        W_new=W_new,
        Z=Z,
        H=H,
        Z_new=Z_new,
        H_new=H_new,
        before=before,
        after=after,
        changes={q: after[q] - before[q] for q in QUANTITIES},
        crossed=crossed,
    )


def step_and_observe(
    rule: Rule,
    W: Tensor,
    X: Tensor,
    *,
    eta: Tensor,
    goodness: Goodness = sum_of_squares,
    positive: Tensor | None = None,
    theta: Tensor | float = 0.0,
) -> Observation:
    """Apply `rule` for real and observe it."""
    W_new = apply_rule(rule, W, X, eta=eta, goodness=goodness, positive=positive, theta=theta)
    return observe(W, W_new, X, goodness)


def remainder_bound(
    H: Tensor, dH: Tensor, goodness: Goodness = sum_of_squares, *, h_norms: tuple[Tensor, Tensor] | None = None
) -> dict[str, Tensor]:
    """Rigorous bounds on |q(h + dh) - q(h) - grad q(h) . dh| for a step that crosses no zero.

    Goodness: the goodness's own `remainder` (+inf if it has none); L1 is linear on
    the active orthant; L2 and Hoyer use the curvature bounds derived in
    proofs/bounds.md, with rho = ||h|| - ||dh|| the closest the segment gets to
    the origin. Where rho <= 0 the bound is +inf (no decision possible).
    `h_norms` = (||h||_1, ||h||_2) per point, if the caller has them.
    """
    L1, L2 = (l1(H), l2(H)) if h_norms is None else h_norms
    step = l2(dH)
    rho = L2 - step
    rho = torch.where(rho > 0, rho, torch.nan)
    b = dH.sum(-1).abs()  # |d||h||_1|, exact on the active orthant
    n = H.shape[-1]
    # |r''| <= 2|b| |dh| / rho^2 + 2 (L1 + |b|) |dh|^2 / rho^3 for r = ||h||_1 / ||h||_2.
    r2 = 2 * b * step / rho**2 + 2 * (L1 + b) * step**2 / rho**3
    bounds = {
        "goodness": goodness.remainder(H, dH) if goodness.remainder else torch.full_like(step, math.inf),
        "l1": torch.zeros_like(step),
        "l2": step**2 / (2 * rho),
        "hoyer": r2 / (2 * (math.sqrt(n) - 1)) if n > 1 else torch.full_like(step, math.nan),
    }
    # NaN (no bound) -> +inf; nan_to_num's default would also turn +inf into the largest finite float.
    return {q: torch.nan_to_num(v, nan=math.inf, posinf=math.inf) for q, v in bounds.items()}



def gradient_norms(
    H: Tensor,
    goodness: Goodness = sum_of_squares,
    *,
    goodness_grad: Tensor | None = None,
    h_norms: tuple[Tensor, Tensor] | None = None,
) -> dict[str, Tensor]:
    """||grad_h q(h)||_2 of every quantity at every point, each (..., N).

    The goodness by autograd; L1, L2 and Hoyer from their gradients sign(h),
    h / ||h||_2 and -(sign(h)/||h||_2 - ||h||_1 h/||h||_2^3)/(sqrt(n) - 1)
    (NaN where h = 0 for L2 and Hoyer; tests compare them with autograd).
    `h_norms` = (||h||_1, ||h||_2) per point, if the caller has them.
    """
    L1, L2 = (l1(H), l2(H)) if h_norms is None else h_norms
    n = H.shape[-1]
    # With s = sign(h), c = ||s||^2 = #{h_p != 0} and <s, h> = L1:
    # ||s / L2 - L1 h / L2^3||^2 = c / L2^2 - L1^2 / L2^4 = (c - (L1/L2)^2) / L2^2 >= 0.
    # The difference can cancel; 8 eps c inside the root keeps the norm an upper bound.
    c = (H != 0).sum(-1).to(H.dtype)
    r = L1 / L2
    eps = torch.finfo(H.dtype).eps
    hoyer_norm = torch.sqrt((c - r * r).clamp_min(0) + 8 * eps * c) / (L2 * (math.sqrt(n) - 1))
    return {
        "goodness": l2(goodness_gradient(H, goodness) if goodness_grad is None else goodness_grad),
        "l1": torch.sqrt(c),
        "l2": L2 / L2,
        "hoyer": hoyer_norm if n > 1 else torch.full_like(L2, math.nan),
    }


def error_bound(
    H: Tensor,
    dH_observed: Tensor,
    dH_predicted: Tensor,
    goodness: Goodness = sum_of_squares,
    *,
    norms: dict[str, Tensor] | None = None,
    h_norms: tuple[Tensor, Tensor] | None = None,
) -> dict[str, Tensor]:
    """Bound on |observed - predicted| for each quantity, for points crossing no zero.

    The remainder bound along the real step, plus |grad q| times the part of the
    real step that the first-order step misses (zero up to rounding for the
    single-stage rules, O(eta^2) for ff-two-step). `norms`: `gradient_norms` at H;
    `h_norms` = (||h||_1, ||h||_2): if the caller has them.
    """
    remainder = remainder_bound(H, dH_observed, goodness, h_norms=h_norms)
    missed = l2(dH_observed - dH_predicted)
    grads = gradient_norms(H, goodness, h_norms=h_norms) if norms is None else norms
    return {q: remainder[q] + grads[q] * missed for q in QUANTITIES}
