"""Verification profiles: how many hypothesis examples, and cases per example.

quick: development (random, few examples). ci: derandomised, so the same
commit gives the same verdicts. thorough: release runs. Chosen by the CLI's
--profile, the pytest option --fftheory-profile, or FFTHEORY_PROFILE.
"""

from __future__ import annotations

import dataclasses
import os

from hypothesis import HealthCheck, Phase, settings

PROFILE_ENV = "FFTHEORY_PROFILE"


@dataclasses.dataclass(frozen=True)
class Profile:
    """max_examples hypothesis examples per claim, each checking `count` cases at once.

    shrink=False skips hypothesis's shrinking of a failure (for runs that only
    need to know that a claim fails, such as mutation tests).
    """

    name: str
    max_examples: int
    count: int
    derandomize: bool
    shrink: bool = True

    def settings(self, *, database=None) -> settings:
        """Hypothesis settings; `database` is ignored when derandomised (hypothesis forbids both)."""
        # too_slow: one example builds and steps `count` networks; the time is real work.
        return settings(
            max_examples=self.max_examples,
            derandomize=self.derandomize,
            deadline=None,
            database=None if self.derandomize else database,
            suppress_health_check=[HealthCheck.too_slow],
            phases=tuple(Phase) if self.shrink else tuple(p for p in Phase if p is not Phase.shrink),
        )


PROFILES: dict[str, Profile] = {
    p.name: p
    for p in (
        Profile("quick", max_examples=10, count=8, derandomize=False),
        Profile("ci", max_examples=25, count=16, derandomize=True),
        Profile("thorough", max_examples=300, count=128, derandomize=False),
    )
}

DEFAULT_PROFILE = "ci"


def get_profile(profile: str | Profile) -> Profile:
    """A Profile, or the registered one of that name (ValueError naming the choices)."""
    if isinstance(profile, Profile):
        return profile
    if profile not in PROFILES:
        raise ValueError(f"unknown profile {profile!r}; choose from {sorted(PROFILES)}")
    return PROFILES[profile]


def profile_from_env(default: str = DEFAULT_PROFILE) -> Profile:
    """The profile named by FFTHEORY_PROFILE, else `default`."""
    name = os.environ.get(PROFILE_ENV, default)
    if name not in PROFILES:
        raise ValueError(f"{PROFILE_ENV}={name!r} is not a profile; choose from {sorted(PROFILES)}")
    return PROFILES[name]
