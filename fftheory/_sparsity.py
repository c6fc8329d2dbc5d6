"""Norms and sparsity measures of activation vectors (last axis = units)."""

from __future__ import annotations

import math

import torch
from torch import Tensor


def l1(h: Tensor) -> Tensor:
    """||h||_1 over the last axis."""
    return h.abs().sum(-1)


def l2(h: Tensor) -> Tensor:
    """||h||_2 over the last axis."""
    return torch.linalg.vector_norm(h, dim=-1)


def hoyer(h: Tensor) -> Tensor:
    """Hoyer sparsity (sqrt(n) - ||h||_1/||h||_2) / (sqrt(n) - 1).

    0 for a constant vector, 1 for a one-hot one. Undefined (NaN) for an
    all-zero vector and for n = 1, so callers must count, not average, those.
    """
    return hoyer_from_norms(l1(h), l2(h), h.shape[-1])


def hoyer_from_norms(L1: Tensor, L2: Tensor, n: int) -> Tensor:
    """Hoyer sparsity of n-unit vectors from their norms ||h||_1, ||h||_2 (same NaN cases as `hoyer`)."""
    if n < 2:
        return torch.full_like(L1, math.nan)
    root = math.sqrt(n)
    return (root - L1 / L2) / (root - 1)


def active_count(h: Tensor) -> Tensor:
    """Number of active (strictly positive) units, as a float tensor."""
    return (h > 0).to(h.dtype).sum(-1)


def active_fraction(h: Tensor) -> Tensor:
    """Fraction of active units #{h_p > 0} / n."""
    return active_count(h) / h.shape[-1]
