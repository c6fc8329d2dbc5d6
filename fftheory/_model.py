"""The layer the theory is about: h = ReLU(W x), no bias.

Every function takes an optional leading case dimension, so one call handles
many independent (network, batch) cases at once.
"""

from __future__ import annotations

import torch
from torch import Tensor


def layer(W: Tensor, X: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """Pre-activations, activations and active mask of every point.

    Args:
      W: weights, shape (..., n, m).
      X: batch of inputs, one point a row, shape (..., N, m).

    Returns:
      Z, H, M, each of shape (..., N, n): Z = X W^T, H = ReLU(Z), and the
      0/1 mask M = [H > 0] in the dtype of Z.
    """
    Z, H = forward(W, X)
    return Z, H, (Z > 0).to(Z.dtype)


def forward(W: Tensor, X: Tensor) -> tuple[Tensor, Tensor]:
    """Z = X W^T and H = ReLU(Z), each (..., N, n): `layer` without the mask."""
    Z = X @ W.transpose(-1, -2)
    return Z, torch.relu(Z)


def gram(X: Tensor) -> Tensor:
    """Input Gram matrix a_ik = x_i . x_k, shape (..., N, N)."""
    return X @ X.transpose(-1, -2)
