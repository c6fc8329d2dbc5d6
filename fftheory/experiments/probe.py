"""The theory checked on a trained layer: one small step of a rule, predicted vs observed.

On a probe batch (the layer's actual normalised inputs, half positive, half
negative), in float64 on a copy of the layer's weights:
  * the rule (the package's definition of the step: Hinton's loss summed over
    points, theta in sum-of-squares units) is applied for real at a small eta,
    a fraction of the package's reference step `step_scale`;
  * Theorem 1b's closed forms predict each point's first-order change;
  * the package's rigorous second-order bound decides a point's sign where the
    prediction exceeds bound + rounding allowance and no unit crossed zero;
  * on decided points the observed sign must agree with the predicted one.
"""

from __future__ import annotations

import numpy as np
import torch
from scipy import stats
from torch import Tensor

from .. import QUANTITIES, Rule
from .._step import rounding, step_on

CONFIDENCE = 0.95


def _binomial(agreed: int, decided: int) -> dict:
    if decided == 0:
        return {"agreement": None, "ci_low": None, "ci_high": None}
    ci = stats.binomtest(agreed, decided).proportion_ci(confidence_level=CONFIDENCE, method="exact")
    return {"agreement": agreed / decided, "ci_low": float(ci.low), "ci_high": float(ci.high)}


def _spearman(a: np.ndarray, b: np.ndarray) -> float | None:
    if len(a) < 3 or np.all(a == a[0]) or np.all(b == b[0]):
        return None
    rho = stats.spearmanr(a, b).statistic
    return None if not np.isfinite(rho) else float(rho)


def check_layer(
    rule: Rule, W: Tensor, X: Tensor, positive: Tensor, theta: float, eta_fraction: float = 0.1
) -> tuple[dict, dict[str, np.ndarray]]:
    """Check `rule` on one layer. W (n, m) and X (N, m) are copied to float64.

    Returns the record (JSON-ready) and the per-point Hoyer predictions and
    observations of defined points, for plotting.
    """
    W = W.detach().to(torch.float64).clone()
    X = X.detach().to(torch.float64).clone()
    theta_t = torch.tensor([float(theta)], dtype=torch.float64)
    # The package's engine on a batch of one case (leading dimension 1).
    step = step_on(rule, W[None], X[None], positive[None], theta_t, eta_fraction=eta_fraction)
    obs, predicted, bound = step.obs, step.closed, step.bound
    eta = step.eta[0]
    reference = eta / eta_fraction
    H, M = obs.H, (obs.H > 0).to(obs.H.dtype)

    defined = step.defined
    clean = step.clean
    # Sanity: the theorem's closed-form step -2 eta m u equals the lemma's eta m v (autograd).
    closed_step, lemma_step = -2 * eta * M * step.U, eta * M * step.V
    closed_vs_lemma = float((closed_step - lemma_step).abs().max() / lemma_step.abs().max().clamp_min(1e-300))

    per_quantity = {}
    for q in QUANTITIES:
        pred, seen = predicted[q], obs.changes[q]
        decided = clean & (pred.abs() > bound[q] + rounding(step, q))
        agreed = decided & (torch.sign(seen) == torch.sign(pred))
        per_quantity[q] = {
            "decided": int(decided.sum()),
            "agreed": int(agreed.sum()),
            **_binomial(int(agreed.sum()), int(decided.sum())),
        }

    pred_h = predicted["hoyer"][defined].numpy()
    obs_h = obs.changes["hoyer"][defined].numpy()
    pos_d, neg_d = positive[defined[0]].numpy(), ~positive[defined[0]].numpy()
    hoyer_rec = per_quantity["hoyer"]

    def rising(values: np.ndarray, mask: np.ndarray | None = None) -> float | None:
        values = values if mask is None else values[mask]
        return float(np.mean(values > 0)) if len(values) else None

    record = {
        "rule": rule.name,
        "points": int(len(X)),
        "units": int(W.shape[0]),
        "eta": float(eta),
        "eta_fraction": eta_fraction,
        "step_scale": float(reference),
        # Sign agreement of the Hoyer sparsity change (the headline) ...
        "sign_agreement": hoyer_rec["agreement"],
        "ci_low": hoyer_rec["ci_low"],
        "ci_high": hoyer_rec["ci_high"],
        "confidence": CONFIDENCE,
        "decided": hoyer_rec["decided"],
        "undecided": int(len(X)) - hoyer_rec["decided"],
        "spearman": _spearman(pred_h, obs_h),
        "rising_fraction_observed": rising(obs_h),
        "rising_fraction_predicted": rising(pred_h),
        "rising_fraction_positive": rising(obs_h, pos_d),
        "rising_fraction_negative": rising(obs_h, neg_d),
        # ... and of every quantity the theorem predicts.
        "quantities": per_quantity,
        "assumptions": {
            "inputs_nonnegative": bool((X >= 0).all()),
            "min_input": float(X.min()),
            "points_crossing_zero": int(obs.crossed.sum()),
            "all_zero_points": int((~defined).sum()),
            "closed_form_vs_lemma_rel_err": closed_vs_lemma,
        },
    }
    return record, {"predicted": pred_h, "observed": obs_h}
