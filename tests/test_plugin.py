"""The pytest plugin as a user's test file uses it, and its failure path."""

import fftheory

pytest_plugins = ["pytester"]


def test_check_claim_fixture_runs_a_claim(check_claim, fftheory_profile):
    verdict = check_claim("1e.self")
    assert verdict.status == "holds"
    assert verdict.cases_tried == fftheory_profile.max_examples * fftheory_profile.count


def test_plugin_fails_a_test_whose_claim_does_not_hold(pytester):
    pytester.makepyfile(
        """
        import torch
        import fftheory
        from fftheory import _checks as C

        def always_wrong(case):
            B = case.W.shape[0]
            ones = torch.ones(B, dtype=torch.long)
            return C.Outcomes(torch.ones(B, dtype=torch.bool), -torch.ones(B, dtype=torch.float64), ones, 0 * ones)

        def test_wrong(check_claim):
            check_claim(fftheory.Claim(id="wrong", statement="s", check=always_wrong, specs={}))
        """
    )
    result = pytester.runpytest_inprocess("--fftheory-profile", "quick", "-p", "no:cacheprovider")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*claim wrong fails*"])
