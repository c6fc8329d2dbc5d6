"""pytest plugin (registered through the pytest11 entry point).

Options:
  --fftheory-profile quick|ci|thorough  (default: $FFTHEORY_PROFILE, else ci)
  --fftheory-seed N                     hypothesis seed for the random profiles

Fixtures:
  fftheory_profile   the selected Profile
  check_claim        check_claim(claim_or_id) -> Verdict; fails the test with
                     the verdict's note (and replayable counterexample) unless
                     the claim holds.
  check_variant      check_variant(goodness_or_variant) -> VariantReport; fails
                     the test with the report's table if any claim fails or is
                     undecided.

Using a fixture tunes glibc's allocator for the session (fftheory._memory;
FFTHEORY_MALLOC=default opts out).

The hypothesis settings profiles "fftheory-quick", "fftheory-ci" and
"fftheory-thorough" are registered for users' own @given tests; the selected
one is loaded when the option is given.
"""

from __future__ import annotations

import json

import pytest
from hypothesis import settings

from ._claims import CLAIMS_BY_ID, Claim
from ._harness import Verdict, run_claim
from ._memory import tune_allocator
from ._profiles import PROFILES, Profile, profile_from_env

for _name, _profile in PROFILES.items():
    settings.register_profile(f"fftheory-{_name}", _profile.settings(database=settings.default.database))


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("fftheory")
    group.addoption("--fftheory-profile", choices=sorted(PROFILES), default=None, help="verification profile")
    group.addoption("--fftheory-seed", type=int, default=None, help="hypothesis seed for random profiles")


def pytest_configure(config: pytest.Config) -> None:
    name = config.getoption("--fftheory-profile")
    if name:
        settings.load_profile(f"fftheory-{name}")


def pytest_report_header(config: pytest.Config) -> str:
    return f"fftheory profile: {_selected(config).name}"


def _selected(config: pytest.Config) -> Profile:
    name = config.getoption("--fftheory-profile")
    return PROFILES[name] if name else profile_from_env()


@pytest.fixture
def fftheory_profile(request: pytest.FixtureRequest) -> Profile:
    tune_allocator()  # sessions that check claims reuse freed memory (see fftheory._memory)
    return _selected(request.config)


@pytest.fixture
def check_claim(request: pytest.FixtureRequest, fftheory_profile: Profile):
    seed = request.config.getoption("--fftheory-seed")

    def check(claim: Claim | str, **kwargs) -> Verdict:
        claim = CLAIMS_BY_ID[claim] if isinstance(claim, str) else claim
        verdict = run_claim(claim, profile=fftheory_profile, seed=seed, **kwargs)
        if verdict.status != "holds":
            detail = json.dumps(verdict.counterexample, indent=1) if verdict.counterexample else ""
            pytest.fail(f"claim {claim.id} {verdict.status}: {verdict.note}\n{detail}", pytrace=False)
        return verdict

    return check


@pytest.fixture
def check_variant(request: pytest.FixtureRequest, fftheory_profile: Profile):
    from ._check_variant import check_variant as run
    from ._report import markdown

    seed = request.config.getoption("--fftheory-seed")

    def check(target, **kwargs):
        report = run(target, profile=fftheory_profile, seed=seed, **kwargs)
        if report.exit_code:
            pytest.fail(markdown(report), pytrace=False)
        return report

    return check
