"""How a researcher checks a new goodness in their own CI: a few lines with the plugin."""

import torch

from fftheory import Goodness


def quartic(h: torch.Tensor) -> torch.Tensor:
    """A new goodness to try: the sum of fourth powers."""
    return h.pow(4).sum(-1)


def test_quartic_goodness_against_the_theory(check_variant):
    report = check_variant(Goodness(name="quartic", fn=quartic))
    assert any(v.claim == "chebyshev.single-point" for _, v in report.rows)  # grad/h = 4h^2 rises with h
