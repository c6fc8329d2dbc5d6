"""The real `fftheory` command, run as a user would."""

import json
import subprocess
import sys

import numpy as np
import pytest

import fftheory


def run(*args, cwd=None):
    return subprocess.run(
        [sys.executable, "-m", "fftheory.cli", *args], capture_output=True, text=True, cwd=cwd, timeout=600
    )


def test_verify_subset_writes_json_and_exits_0(tmp_path):
    out = tmp_path / "v.json"
    r = run("verify", "--profile", "quick", "--claims", "1a", "1e.self", "--json", str(out))
    assert r.returncode == 0, r.stderr
    assert "1a" in r.stdout and "holds" in r.stdout
    report = json.loads(out.read_text())
    assert [c["claim"] for c in report["claims"]] == ["1a", "1e.self"]
    assert all(c["status"] == "holds" and c["cases_applicable"] >= 20 for c in report["claims"])


def test_verify_exits_1_when_a_claim_does_not_hold(monkeypatch, capsys):
    from fftheory import cli

    def fake(claim, **kwargs):
        return fftheory.Verdict(claim=claim.id, statement="", expect="holds", status="fails", note="forced")

    monkeypatch.setattr(cli, "run_claim", fake)
    assert cli.main(["verify", "--claims", "1a"]) == 1
    assert "fails" in capsys.readouterr().out


def test_verify_unknown_claim_exits_2():
    r = run("verify", "--claims", "9z")
    assert r.returncode == 2 and "unknown claim" in r.stderr and "Traceback" not in r.stderr


def _case_file(path, **overrides):
    case = fftheory.build(fftheory.CaseSpec(n_points=4, n_in=6, n_units=5, seed=3, n_positive=2)).select(0)
    arrays = dict(W=case.W[0].numpy(), X=case.X[0].numpy(), positive=case.positive[0].numpy())
    arrays.update(overrides)
    np.savez(path, **{k: v for k, v in arrays.items() if v is not None})
    return path


@pytest.mark.parametrize("rule", sorted(fftheory.RULES))
def test_predict_reports_every_point(tmp_path, rule):
    case = _case_file(tmp_path / "case.npz")
    out = tmp_path / "p.json"
    r = run("predict", str(case), "--rule", rule, "--theta", "1.5", "--json", str(out))
    assert r.returncode == 0, r.stderr
    report = json.loads(out.read_text())
    assert report["rule"] == rule and report["eta"] > 0
    assert [p["index"] for p in report["points"]] == [0, 1, 2, 3]
    for p in report["points"]:
        assert set(p["predicted"]) == set(p["observed"]) == {"goodness", "l1", "l2", "hoyer"}
        if not p["crossed"]:  # the default eta is 0.1 of the reference step: first order is close
            for q, bound in p["bound"].items():
                assert abs(p["predicted"][q] - p["observed"][q]) <= bound + 1e-12


@pytest.mark.parametrize(
    "overrides, args, message",
    [
        (dict(W=None), [], "missing array 'W'"),
        (dict(X=np.ones((4, 7))), [], "shape mismatch"),
        (dict(X=np.ones(6)), [], "rank 1"),
        (dict(X=np.zeros((0, 6))), [], "empty batch"),
        (dict(X=np.full((4, 6), np.nan)), [], "NaN or Inf"),
        (dict(W=np.ones((5, 6), dtype=np.int64)), [], "integer dtype"),
        (dict(positive=np.ones(3, dtype=bool)), ["--rule", "ff-two-step", "--theta", "1"], "shape (3,)"),
        (dict(positive=np.ones(4, dtype=bool)), ["--rule", "ff-two-step", "--theta", "1"], "one negative"),
        ({}, ["--rule", "ff-simultaneous"], "needs --theta"),
        ({}, ["--eta", "-1"], "--eta must be > 0"),
        ({}, ["--eta", "nan"], "--eta must be finite"),
    ],
)
def test_predict_bad_input_exits_2_with_a_clear_message(tmp_path, overrides, args, message):
    case = _case_file(tmp_path / "case.npz", **overrides)
    if "--rule" not in args:
        args = ["--rule", "batch-decrease", *args]
    r = run("predict", str(case), *args)
    assert r.returncode == 2, (r.stdout, r.stderr)
    assert message in r.stderr and "Traceback" not in r.stderr


def test_predict_refuses_object_arrays(tmp_path):
    path = tmp_path / "evil.npz"
    np.savez(path, W=np.array([{"a": 1}], dtype=object), X=np.ones((2, 2)))
    r = run("predict", str(path), "--rule", "batch-decrease")
    assert r.returncode == 2 and "object arrays are refused" in r.stderr


def test_predict_missing_file_exits_2(tmp_path):
    r = run("predict", str(tmp_path / "nope.npz"), "--rule", "batch-decrease")
    assert r.returncode == 2 and "no such file" in r.stderr
