"""One tolerance table and one comparison helper for every analytic-vs-empirical check.

All checks run in float64. A comparison is made per case: the allowed error is
atol + rtol * scale, where scale is the largest |value| in that case, so that a
tiny entry next to large ones is judged on the case's own scale.
"""

from __future__ import annotations

import dataclasses

import torch
from torch import Tensor


@dataclasses.dataclass(frozen=True)
class Tolerance:
    rtol: float
    atol: float


TOLERANCES: dict[str, Tolerance] = {
    # Two computations of the same exact quantity (closed form vs autograd, lemma vs real step).
    "identity": Tolerance(rtol=1e-9, atol=1e-12),
    # A quantity the theory says is unchanged, after a real step.
    "unchanged": Tolerance(rtol=1e-9, atol=1e-12),
    # Rounding allowance added to a rigorous remainder bound, relative to the quantities compared.
    "rounding": Tolerance(rtol=1e-11, atol=1e-13),
    # Errors below 100 times this (about 5,000 ulp) are not used to fit a Taylor rate.
    "taylor-floor": Tolerance(rtol=1e-14, atol=1e-16),
}

# Each case's fitted Taylor rate must exceed 2 - this; the median over cases must lie within it of 2.
TAYLOR_RATE_TOL = 0.25


@dataclasses.dataclass(frozen=True)
class Comparison:
    """Result of `compare`, entry by entry (same shape as the inputs).

    margin > 0 means within tolerance (margin = 1 - error / allowed error).
    """

    margin: Tensor
    abs_err: Tensor
    rel_err: Tensor

    def describe(self) -> str:
        """Both errors at the worst entry."""
        worst = int(torch.nan_to_num(self.margin, nan=torch.inf).argmin())
        flat = lambda t: t.reshape(-1)[worst]  # noqa: E731
        return (
            f"abs err {float(flat(self.abs_err)):.3e}, rel err {float(flat(self.rel_err)):.3e}, "
            f"margin {float(flat(self.margin)):+.3f}"
        )


def allowance(scale: Tensor, tol: str) -> Tensor:
    """Allowed error atol + rtol * scale for tolerance entry `tol`."""
    t = TOLERANCES[tol]
    return t.atol + t.rtol * scale


def compare(
    analytic: Tensor, empirical: Tensor, *, tol: str, point_dims: int = 1, floor: Tensor | float = 0.0
) -> Comparison:
    """Compare two tensors entry by entry; the scale is per case (max over the last `point_dims` axes).

    `floor` is added to the allowed error where the values are small results
    of larger computed terms (a difference of pre-activations, a cancellation):
    pass the rounding allowance of those terms. NaN entries must coincide (an
    undefined quantity on both sides); a NaN on one side only is an infinite error.
    """
    both_nan = torch.isnan(analytic) & torch.isnan(empirical)
    err = torch.where(both_nan, 0.0, (analytic - empirical).abs())
    err = torch.nan_to_num(err, nan=torch.inf)
    size = torch.where(both_nan, 0.0, torch.maximum(analytic.abs(), empirical.abs()))
    size = torch.nan_to_num(size, nan=0.0, posinf=0.0)
    dims = tuple(range(-point_dims, 0))
    scale = size.amax(dim=dims, keepdim=True)
    margin = 1 - err / (allowance(scale, tol) + floor)
    return Comparison(margin=margin, abs_err=err, rel_err=err / scale.clamp_min(1e-300))
