"""The paper's closed forms (Theorems 1 and 2), for goodness = sum of squares.

With s_i = dL/dg_i for the rule's first-order objective, the general lemma
gives dz_k = -2 eta u_k where u_k = sum_i a_ik s_i h_i. The rules differ only
in s: batch-decrease s = 1, batch-increase s = -1, the ff rules s = w_j- on
negative points and -w_i+ on positive ones. See proofs/ for the derivations.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from ._model import gram
from ._rules import Rule
from ._sparsity import l1, l2


def ff_weights(G: Tensor, positive: Tensor, theta: Tensor) -> Tensor:
    """w_i+ = sigmoid(theta - g_i) on positive points, w_j- = sigmoid(g_j - theta) on negative ones."""
    theta = theta[..., None]
    return torch.where(positive, torch.sigmoid(theta - G), torch.sigmoid(G - theta))


def point_coefficients(rule: Rule, G: Tensor, positive: Tensor, theta: Tensor) -> Tensor:
    """s_i, the weight of point i in u_k, shape (..., N)."""
    if rule.name == "batch-decrease":
        return torch.ones_like(G)
    if rule.name == "batch-increase":
        return -torch.ones_like(G)
    if rule.name in ("ff-simultaneous", "ff-two-step"):
        w = ff_weights(G, positive, theta)
        return torch.where(positive, -w, w)
    raise ValueError(f"no closed form for rule {rule.name!r}")


def u_vectors(X: Tensor, H: Tensor, coefficients: Tensor, *, A: Tensor | None = None) -> Tensor:
    """u_k = sum_i a_ik s_i h_i for every point k, shape (..., N, n); `A`: gram(X), if the caller has it."""
    if A is None:
        A = gram(X)
    return A @ (coefficients[..., None] * H)


def first_order_changes(
    H: Tensor, U: Tensor, eta: Tensor, *, h_norms: tuple[Tensor, Tensor] | None = None
) -> dict[str, Tensor]:
    """Theorem 1b's first-order changes of goodness, L1, L2 and Hoyer sparsity.

    Args:
      H: activations (..., N, n). U: u vectors (..., N, n). eta: (...,).
      h_norms: (||h||_1, ||h||_2) per point (..., N), if the caller has them.
    Returns:
      name -> (..., N). Hoyer is NaN where h_k = 0 (undefined).
    """
    eta = eta[..., None]
    hu = (H * U).sum(-1)
    mu = (torch.sign(H) * U).sum(-1)  # <m_k, u_k>: sign(h) is the 0/1 mask, as h = ReLU(z) >= 0
    L1, L2 = (l1(H), l2(H)) if h_norms is None else h_norms
    root = math.sqrt(H.shape[-1])
    return {
        "goodness": -4 * eta * hu,
        "l1": -2 * eta * mu,
        "l2": -2 * eta * hu / L2,
        "hoyer": 2 * eta / ((root - 1) * L2) * (mu - L1 / L2**2 * hu),
    }


def term_sizes(H: Tensor, U: Tensor, eta: Tensor) -> dict[str, Tensor]:
    """Size of the terms summed in each first-order change (|u| for u, no cancellation).

    The rounding error of a closed form is relative to this, not to its value,
    which can cancel to zero (e.g. a radial step leaves Hoyer unchanged).
    """
    sizes = first_order_changes(H, U.abs(), eta)
    M = (H > 0).to(H.dtype)
    L1, L2 = l1(H), l2(H)
    mu, hu = (M * U.abs()).sum(-1), (H * U.abs()).sum(-1)
    root = math.sqrt(H.shape[-1])
    sizes = {q: v.abs() for q, v in sizes.items()}
    sizes["hoyer"] = 2 * eta[..., None].abs() / ((root - 1) * L2) * (mu + L1 / L2**2 * hu)
    return sizes
