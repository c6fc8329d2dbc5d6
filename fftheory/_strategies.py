"""Public hypothesis strategies for layers and batches.

`case_specs` draws a `CaseSpec` (shapes, seed, margin, step fraction...), which
hypothesis shrinks toward small shapes and seeds; `cases` builds the tensors.
Users can reuse both in their own property tests.
"""

from __future__ import annotations

from typing import Sequence

from hypothesis import strategies as st

from ._cases import Case, CaseSpec, build


@st.composite
def case_specs(
    draw,
    *,
    count: int = 1,
    inputs: Sequence[str] = ("nonnegative",),
    designs: Sequence[str] = ("designed",),
    normalise: Sequence[bool] = (False, True),
    points: tuple[int, int] = (1, 6),
    units: tuple[int, int] = (2, 12),
    labels: bool = False,
    eta_fraction: tuple[float, float] = (0.01, 0.9),
    margin: tuple[float, float] = (1e-3, 0.5),
    quantize: Sequence[float] = (0.0,),
) -> CaseSpec:
    """Draw a CaseSpec.

    Args:
      count: cases per spec (B).
      inputs, designs, normalise: the choices to draw from (see CaseSpec).
      points, units: inclusive ranges of N and n.
      labels: draw positive and negative points (needs N >= 2).
      eta_fraction: range of eta as a fraction of the no-crossing bound.
      margin: range of the designed pre-activation margin.
      quantize: choices of the designed-|z| grid (0: continuous, no ties).
    """
    n_points = draw(st.integers(max(points[0], 2 if labels else 1), points[1]))
    design = draw(st.sampled_from(tuple(designs)))
    kind = draw(st.sampled_from(tuple(inputs)))
    needs_room = design == "designed" or kind == "orthogonal"
    n_in = n_points + draw(st.integers(1, 8)) if needs_room else draw(st.integers(1, 12))
    return CaseSpec(
        n_points=n_points,
        n_in=n_in,
        n_units=draw(st.integers(*units)),
        seed=draw(st.integers(0, 2**32 - 1)),
        count=count,
        inputs=kind,
        normalise=draw(st.sampled_from(tuple(normalise))),
        design=design,
        margin=draw(st.floats(*margin)),
        p_active=draw(st.floats(0.2, 0.9)),
        n_positive=draw(st.integers(1, n_points - 1)) if labels else 0,
        theta_scale=draw(st.floats(0.25, 4.0)) if labels else 1.0,
        eta_fraction=draw(st.floats(*eta_fraction)),
        quantize=draw(st.sampled_from(tuple(quantize))),
    )


def cases(**kwargs) -> st.SearchStrategy[Case]:
    """Built float64 cases; same arguments as `case_specs`."""
    return case_specs(**kwargs).map(build)


def ff_cases(**kwargs) -> st.SearchStrategy[Case]:
    """Cases with positive and negative points, for the FF rules."""
    return cases(labels=True, **kwargs)
