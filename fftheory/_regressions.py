"""Every counterexample hypothesis ever found against a claim, replayed first on
every run (hypothesis @example). Each entry says what it exposed; all were
harness defects, fixed, not theory failures.
"""

from __future__ import annotations

from ._cases import CaseSpec

REGRESSIONS: dict[str, tuple[CaseSpec, ...]] = {
    # A point with no active unit: L2 and Hoyer predictions are undefined (0/0).
    "1b.autograd": (
        CaseSpec(n_points=1, n_in=1, n_units=2, seed=0, count=8, design="gaussian", margin=0.5),
    ),
    # theta - g > 20: torch's F.softplus turns linear there (gradient 1, not sigmoid).
    "2a.autograd": (
        CaseSpec(n_points=2, n_in=1, n_units=2, seed=1, count=64, normalise=True, design="gaussian",
                 margin=0.5, n_positive=1, theta_scale=3.0),
    ),
    "2a": (
        CaseSpec(n_points=2, n_in=3, n_units=7, seed=1, count=64, margin=0.5, n_positive=1, theta_scale=4.0),
    ),
    # Identical inputs and theta = g: the simultaneous step is exactly zero (V = 0),
    # which once made the reference step size infinite.
    "2b": (
        CaseSpec(n_points=2, n_in=1, n_units=2, seed=0, count=64, normalise=True, design="gaussian",
                 margin=0.5, n_positive=1),
        # A nearly vanishing second-order coefficient: rate 3 over the fitted range.
        CaseSpec(n_points=2, n_in=4, n_units=2, seed=1, count=64, margin=0.001953125, n_positive=1,
                 theta_scale=0.25),
        # Case 33: a cancellation dip, then local slopes 1.47, 1.79, 1.91 bending toward 2
        # in the fitted window (fitted 1.73, a false "fails"; found by the thorough profile).
        CaseSpec(n_points=2, n_in=1, n_units=8, seed=1, count=128, design="gaussian", margin=0.5,
                 n_positive=1, theta_scale=0.25),
    ),
    # h_0 flat only to 1e-11 after re-solving W: dS_0 = -3e-19, a rounding-level "negative".
    "1f.equality": (
        CaseSpec(n_points=5, n_in=6, n_units=2, seed=0, count=8, margin=0.5),
    ),
    # Pre-asymptotic Taylor fits (errors still bending toward rate 2).
    "1b.taylor": (
        CaseSpec(n_points=3, n_in=4, n_units=3, seed=1, count=64, normalise=True, margin=0.5),
        CaseSpec(n_points=3, n_in=6, n_units=3, seed=3, count=64, margin=0.001, p_active=0.21875),
    ),
    "2a.taylor": (
        CaseSpec(n_points=2, n_in=3, n_units=4, seed=0, count=64, margin=0.5, p_active=0.75, n_positive=1,
                 theta_scale=3.0),
    ),
    "2b.taylor": (
        CaseSpec(n_points=2, n_in=3, n_units=2, seed=0, count=64, margin=0.5, n_positive=1),
        CaseSpec(n_points=6, n_in=7, n_units=2, seed=0, count=64, margin=0.001, p_active=0.25, n_positive=1,
                 theta_scale=0.25),
    ),
    # Radial steps (n_in = 1): dS cancels to ~1e-12 on both sides of the 1c identity.
    "2d": (
        CaseSpec(n_points=2, n_in=1, n_units=3, seed=0, count=64, inputs="signed", design="gaussian",
                 margin=0.5, n_positive=1, theta_scale=3.0, eta_fraction=3.0),
    ),
}


# The same for the rows `fftheory check` builds for any goodness variant, by row id
# (replayed for every variant: the specs do not depend on the goodness).
VARIANT_REGRESSIONS: dict[str, tuple[CaseSpec, ...]] = {
    # h^3 called "not differentiable": its directional derivative nearly cancelled, and the
    # one-sided quotients were compared relative to it instead of to |grad g| |d|.
    "differentiable": (
        CaseSpec(n_points=5, n_in=9, n_units=3, seed=166, count=8, inputs="signed", design="designed",
                 margin=0.087890625, p_active=0.25, quantize=0.25),
    ),
}
