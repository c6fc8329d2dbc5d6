"""The real `fftheory` command, run as a user would."""

import dataclasses
import json
import subprocess
import sys

import numpy as np
import pytest
import torch

import fftheory


def run(*args, cwd=None):
    """The real command, in a new process (exit code, stderr, no traceback)."""
    return subprocess.run(
        [sys.executable, "-m", "fftheory.cli", *args], capture_output=True, text=True, cwd=cwd, timeout=600
    )


def invoke(capsys, *args):
    """The same entry point in-process (no 3 s interpreter start): returncode, stdout, stderr."""
    from fftheory import cli

    code = cli.main(list(args))
    captured = capsys.readouterr()
    return subprocess.CompletedProcess(args, code, captured.out, captured.err)


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


def test_verify_unknown_claim_exits_2(capsys):
    r = invoke(capsys, "verify", "--claims", "9z")
    assert r.returncode == 2 and "unknown claim" in r.stderr and "Traceback" not in r.stderr


def _case_file(path, **overrides):
    case = fftheory.build(fftheory.CaseSpec(n_points=4, n_in=6, n_units=5, seed=3, n_positive=2)).select(0)
    arrays = dict(W=case.W[0].numpy(), X=case.X[0].numpy(), positive=case.positive[0].numpy())
    arrays.update(overrides)
    np.savez(path, **{k: v for k, v in arrays.items() if v is not None})
    return path


@pytest.mark.parametrize("rule", sorted(fftheory.RULES))
def test_predict_reports_every_point(tmp_path, capsys, rule):
    case = _case_file(tmp_path / "case.npz")
    out = tmp_path / "p.json"
    args = ("predict", str(case), "--rule", rule, "--theta", "1.5", "--json", str(out))
    r = run(*args) if rule == "ff-two-step" else invoke(capsys, *args)  # one rule through a real process
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
        (dict(W=np.full((5, 6), np.inf)), [], "array 'W' contains NaN or Inf"),
        (dict(W=np.ones((5, 6), dtype=np.int64)), [], "integer dtype"),
        (dict(positive=np.ones(3, dtype=bool)), ["--rule", "ff-two-step", "--theta", "1"], "shape (3,)"),
        (dict(positive=np.ones(4, dtype=bool)), ["--rule", "ff-two-step", "--theta", "1"], "one negative"),
        (dict(positive=np.zeros(4, dtype=bool)), ["--rule", "ff-simultaneous", "--theta", "1"], "one positive"),
        (dict(positive=np.ones(4)), ["--rule", "ff-two-step", "--theta", "1"], "expected bool"),
        ({}, ["--rule", "ff-simultaneous"], "needs --theta"),
        ({}, ["--eta", "-1"], "--eta must be > 0"),
        ({}, ["--eta", "nan"], "--eta must be finite"),
    ],
)
def test_predict_bad_input_exits_2_with_a_clear_message(tmp_path, capsys, overrides, args, message):
    case = _case_file(tmp_path / "case.npz", **overrides)
    if "--rule" not in args:
        args = ["--rule", "batch-decrease", *args]
    # Two through a real process (exit status, stderr); the rest in-process, same entry point.
    real = message in ("missing array 'W'", "NaN or Inf")
    r = run("predict", str(case), *args) if real else invoke(capsys, "predict", str(case), *args)
    assert r.returncode == 2, (r.stdout, r.stderr)
    assert message in r.stderr and "Traceback" not in r.stderr


def test_predict_refuses_object_arrays(tmp_path):
    path = tmp_path / "evil.npz"
    np.savez(path, W=np.array([{"a": 1}], dtype=object), X=np.ones((2, 2)))
    r = run("predict", str(path), "--rule", "batch-decrease")
    assert r.returncode == 2 and "object arrays are refused" in r.stderr


@pytest.mark.parametrize(
    "argv, message",
    [
        (["predict", "{tmp}/single.npy", "--rule", "batch-decrease"], "a single .npy array, not an .npz archive"),
        (["verify", "--claims", "1a", "--json", "{tmp}"], "is a directory; give a file name"),
        (["verify", "--claims", "1a", "--json", "{tmp}/plain.txt/v.json"], "cannot write there"),
        (["check", "l1", "--report", "{tmp}/plain.txt"], "exists and is not a directory"),
        (["reproduce", "--quick", "--out", "{tmp}/plain.txt"], "exists and is not a directory"),
        (["check", "exits_on_import:g"], "cannot import module 'exits_on_import': SystemExit"),
        (["verify", "--claims", "1a", "--json", "{tmp}/" + "x" * 300 + ".json"], "cannot write there (File name too long)"),
        (["check", "l1", "--report", "{tmp}/dangling"], "a link to nothing"),
    ],
    ids=["npy-not-npz", "json-is-a-directory", "json-under-a-file", "report-is-a-file", "out-is-a-file",
         "target-calls-sys-exit", "name-too-long", "dangling-link"],
)
def test_bad_paths_and_targets_exit_2_before_any_work(tmp_path, capsys, monkeypatch, argv, message):
    from fftheory import cli

    from fftheory import _check_variant
    from fftheory.experiments import mnist

    np.save(tmp_path / "single.npy", np.ones(3))
    (tmp_path / "plain.txt").write_text("the user's file\n")
    (tmp_path / "exits_on_import.py").write_text("import sys\nsys.exit(0)\n")
    (tmp_path / "dangling").symlink_to(tmp_path / "nowhere")
    monkeypatch.chdir(tmp_path)

    def no_work(*args, **kwargs):
        pytest.fail("work started before the usage check")

    for module, name in ((cli, "run_claim"), (_check_variant, "run_claim"), (mnist, "reproduce")):
        monkeypatch.setattr(module, name, no_work)
    r = invoke(capsys, *[a.format(tmp=tmp_path) for a in argv])
    assert r.returncode == 2 and message in r.stderr and "Traceback" not in r.stderr, r.stderr
    assert (tmp_path / "plain.txt").read_text() == "the user's file\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dangling", "exits_on_import.py", "plain.txt", "single.npy"]


def test_predict_missing_file_exits_2(tmp_path, capsys):
    r = invoke(capsys, "predict", str(tmp_path / "nope.npz"), "--rule", "batch-decrease")
    assert r.returncode == 2 and "no such file" in r.stderr


def test_an_interrupted_write_leaves_the_old_file_and_no_temporary(tmp_path, monkeypatch):
    """Interrupted half-way through writing: the report on disk is the previous one, whole."""
    import os

    from fftheory import _io

    path = tmp_path / "report.json"
    path.write_text('{"old": true}\n')
    real_fdopen = os.fdopen

    class HalfThenInterrupt:
        def __init__(self, f):
            self.f = f

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.f.close()

        def write(self, data):
            self.f.write(data[: len(data) // 2])
            self.f.flush()
            raise KeyboardInterrupt

    monkeypatch.setattr(_io.os, "fdopen", lambda fd, mode: HalfThenInterrupt(real_fdopen(fd, mode)))
    with pytest.raises(KeyboardInterrupt):
        _io.write_json(path, {"new": list(range(1000))})
    assert json.loads(path.read_text()) == {"old": True}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.json"]


def test_an_interrupted_report_leaves_the_previous_one_whole(tmp_path, monkeypatch):
    """Interrupted while the report is being computed (the figure takes seconds): every file
    in the directory is the previous run's; then a finished run removes a stale counterexample."""
    from fftheory import _report

    variant = fftheory.CATALOGUE["l1"]
    tiny = fftheory.Profile("tiny", max_examples=2, count=8, derandomize=True)
    report = fftheory.check_variant(variant, profile=tiny, min_cases=1)
    _report.write_report(report, variant, tmp_path)
    holding = next(v.claim for _, v in report.rows if v.status == "holds")
    stale = tmp_path / "counterexamples" / f"{holding}.npz"
    stale.parent.mkdir(exist_ok=True)
    stale.write_bytes(b"from an earlier run")
    before = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}

    def interrupted(_variant):
        raise KeyboardInterrupt

    monkeypatch.setattr(_report, "figure_png", interrupted)
    newer = dataclasses.replace(report, seconds=report.seconds + 1)  # a report.json that differs
    with pytest.raises(KeyboardInterrupt):
        _report.write_report(newer, variant, tmp_path)
    assert {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()} == before
    monkeypatch.undo()
    _report.write_report(report, variant, tmp_path)
    assert not stale.exists() and not list(tmp_path.rglob("*.tmp"))


def test_ctrl_c_is_held_while_report_files_are_renamed(tmp_path, monkeypatch):
    """SIGINT arriving between two renames is delivered after the last one: the directory
    holds the new report whole (its report.json names the new run)."""
    import os
    import signal

    from fftheory import _io, _report

    variant = fftheory.CATALOGUE["l1"]
    tiny = fftheory.Profile("tiny", max_examples=2, count=8, derandomize=True)
    report = fftheory.check_variant(variant, profile=tiny, min_cases=1)
    _report.write_report(report, variant, tmp_path)
    real_write = _io.write_atomic
    calls = []

    def write_then_signal(path, data):
        real_write(path, data)
        calls.append(path)
        if len(calls) == 1:
            os.kill(os.getpid(), signal.SIGINT)

    monkeypatch.setattr(_report, "write_atomic", write_then_signal)
    newer = dataclasses.replace(report, seconds=report.seconds + 1)
    with pytest.raises(KeyboardInterrupt):
        _report.write_report(newer, variant, tmp_path)
    assert len(calls) >= 2  # the signal came before the other files were renamed
    assert json.loads((tmp_path / "report.json").read_text())["seconds"] == newer.seconds
    assert not list(tmp_path.rglob("*.tmp"))


def test_a_report_interrupted_by_ctrl_c_is_absent_or_whole(tmp_path):
    """SIGINT at several moments of a real `fftheory check --report`: exit 130 (or a finished
    run), and every file in the report directory is complete; no temporary is left."""
    import signal
    import time

    # Signal only once the CLI is imported (an interrupt during `import torch` is Python's, not ours).
    launcher = "import sys; from fftheory import cli; print('ready', flush=True); sys.exit(cli.main(sys.argv[1:]))"
    for delay in (0.2, 2.0):
        out = tmp_path / f"after-{delay}"
        proc = subprocess.Popen(
            [sys.executable, "-c", launcher, "check", "l1", "--profile", "quick", "--report", str(out)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        assert proc.stdout.readline().strip() == "ready"
        time.sleep(delay)
        # One Ctrl-C must do, even when it lands in hypothesis's gc callback (where Python
        # would drop the KeyboardInterrupt; the CLI re-delivers it). Exiting takes about 1 s.
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=600)
        if delay < 1:  # long before the report is due: the run must have been interrupted
            assert proc.returncode == 130 and "fftheory: interrupted" in err, err
        assert proc.returncode in (0, 1, 130), err
        files = sorted(p for p in out.rglob("*") if p.is_file()) if out.exists() else []
        assert not [p for p in files if p.name.endswith(".tmp")]
        for p in files:
            if p.suffix == ".json":
                json.loads(p.read_text())  # whole, parseable
            elif p.suffix == ".png":
                assert p.read_bytes().endswith(b"IEND\xaeB`\x82")  # a PNG's last chunk


@pytest.mark.parametrize(
    "extras, reason",
    [
        (dict(b=np.array([0.0, 0.1, 0.0, 0.0, -0.2])), "bias term: 2 non-zero entries"),
        (dict(activation=np.array("tanh")), "activation 'tanh'"),
        (dict(b=np.zeros(5), activation=np.array("ReLU")), None),  # a zero bias and ReLU: covered
    ],
)
def test_predict_marks_layers_outside_the_theory_not_applicable(tmp_path, capsys, extras, reason):
    from fftheory import cli

    case, out = _case_file(tmp_path / "case.npz", **extras), tmp_path / "p.json"
    assert cli.main(["predict", str(case), "--rule", "batch-decrease", "--json", str(out)]) == 0
    report, printed = json.loads(out.read_text()), capsys.readouterr().out
    if reason is None:
        assert report["applicable"] and len(report["points"]) == 4 and report["nonnegative_inputs"]
    else:
        assert not report["applicable"] and report["points"] == [] and "predicted" not in printed
        assert any(reason in r for r in report["not_applicable"]) and "not applicable" in printed


@pytest.mark.parametrize(
    "extras, message",
    [(dict(b=np.zeros(4)), "array 'b' has shape (4,)"), (dict(activation=np.array([1.0])), "array 'activation'")],
)
def test_predict_bad_bias_or_activation_exits_2(tmp_path, capsys, extras, message):
    from fftheory import cli

    assert cli.main(["predict", str(_case_file(tmp_path / "case.npz", **extras)), "--rule", "batch-decrease"]) == 2
    assert message in capsys.readouterr().err


def test_predict_counts_crossings_and_notes_signed_inputs(tmp_path, capsys):
    from fftheory import cli

    signed = fftheory.build(fftheory.CaseSpec(n_points=4, n_in=6, n_units=5, seed=3, inputs="signed")).select(0)
    case, out = _case_file(tmp_path / "case.npz", X=signed.X[0].numpy()), tmp_path / "p.json"
    assert cli.main(["predict", str(case), "--rule", "batch-decrease", "--eta", "10", "--json", str(out)]) == 0
    report, printed = json.loads(out.read_text()), capsys.readouterr().out
    assert not report["nonnegative_inputs"] and "negative entries" in printed
    assert report["points_crossed"] == sum(p["crossed"] for p in report["points"]) > 0


def test_predict_one_unit_reports_hoyer_undefined(tmp_path, capsys):
    """n = 1: Hoyer sparsity is undefined at every point; reported and counted, never a number."""
    from fftheory import cli

    W, X = np.array([[0.7, 0.2, 0.4]]), np.array([[1.0, 0.5, 0.1], [0.3, 0.9, 0.2]])
    case, out = tmp_path / "one.npz", tmp_path / "p.json"
    np.savez(case, W=W, X=X)
    assert cli.main(["predict", str(case), "--rule", "batch-decrease", "--json", str(out)]) == 0
    report = json.loads(out.read_text())
    assert report["points_undefined"] == 2 and "n = 1" in capsys.readouterr().out
    for p in report["points"]:
        assert p["undefined"] == ["hoyer"] and p["predicted"]["hoyer"] is None and p["observed"]["hoyer"] is None
        assert p["predicted"]["goodness"] < 0 and p["observed"]["goodness"] < 0  # the rest is still predicted


def test_predict_a_point_with_no_active_unit_has_no_l2_direction():
    """At h = 0 the L2 change has no first-order direction (its bound is undefined) and Hoyer
    no value: both listed as undefined; an active point has none."""
    W = np.array([[1.0, -2.0], [0.5, -1.0]])
    X = np.array([[0.1, 1.0], [1.0, 0.1]])  # point 0: z < 0 for both units; point 1: both active
    report = fftheory.predict_points(fftheory.RULES["batch-decrease"], W, X)
    dead, alive = report["points"]
    assert dead["undefined"] == ["l2", "hoyer"] and dead["bound"]["l2"] is None and not dead["crossed"]
    assert alive["undefined"] == [] and report["points_undefined"] == 1


def test_predict_refuses_a_layer_that_overflows_float64(tmp_path, capsys):
    case = _case_file(tmp_path / "huge.npz", W=np.full((5, 6), 1e300))
    r = invoke(capsys, "predict", str(case), "--rule", "batch-decrease", "--json", str(tmp_path / "p.json"))
    assert r.returncode == 2 and "overflows float64" in r.stderr and not (tmp_path / "p.json").exists()


@pytest.mark.parametrize(
    "change, message",
    [
        (dict(W=torch.full((5, 6), float("nan"), dtype=torch.float64)), "array 'W' contains NaN or Inf"),
        (dict(X=torch.ones(4, 7, dtype=torch.float64)), "shape mismatch"),
        (dict(X=torch.ones(4, 6, dtype=torch.int64)), "integer dtype"),
        (dict(eta=0.0), "eta must be > 0"),
        (dict(eta=float("inf")), "eta must be finite"),
        (dict(positive=torch.zeros(4, dtype=torch.bool)), "one positive"),
        (dict(positive=None), "missing array 'positive'"),
    ],
)
def test_predict_points_api_rejects_bad_input(change, message):
    """The Python API validates as the CLI does, naming the array; the caller's tensors are untouched."""
    case = fftheory.build(fftheory.CaseSpec(n_points=4, n_in=6, n_units=5, seed=3, n_positive=2)).select(0)
    args = dict(W=case.W[0].clone(), X=case.X[0].clone(), positive=case.positive[0].clone(), theta=1.0, eta=None)
    args.update(change)
    with pytest.raises(fftheory.InputError, match=message.replace("(", r"\(")):
        fftheory.predict_points(fftheory.RULES["ff-simultaneous"], **args)


def test_predict_points_api_leaves_the_callers_arrays_alone():
    case = fftheory.build(fftheory.CaseSpec(n_points=4, n_in=6, n_units=5, seed=3)).select(0)
    W, X = case.W[0].clone(), case.X[0].clone()
    W0, X0 = W.clone(), X.clone()
    result = fftheory.predict_points(fftheory.RULES["batch-decrease"], W, X)
    assert result["applicable"] and torch.equal(W, W0) and torch.equal(X, X0)


def test_check_variant_unknown_profile_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown profile 'fast'"):
        fftheory.check_variant("l1", profile="fast")


def test_reports_are_readable_as_the_umask_allows(tmp_path):
    """Atomic writes go through mkstemp (mode 0600); the report must end up 0666 & ~umask."""
    import os

    from fftheory._io import write_json

    old = os.umask(0o022)
    try:
        write_json(tmp_path / "r.json", {"a": 1})
    finally:
        os.umask(old)
    assert (tmp_path / "r.json").stat().st_mode & 0o777 == 0o644


def test_markdown_report_escapes_pipes_in_statements():
    from fftheory._report import markdown

    report = fftheory.check_variant(fftheory.CATALOGUE["l1"], profile=fftheory.Profile(
        "tiny", max_examples=1, count=2, derandomize=True), min_cases=1, kinds=("general",))
    rows = [line for line in markdown(report).splitlines() if line.startswith("| ") and ".taylor`" in line]
    assert rows and all(line.count(" | ") == 6 and "\\|observed - predicted\\|" in line for line in rows)


def test_version(capsys):
    from fftheory import cli

    with pytest.raises(SystemExit) as exit_info:
        cli.main(["--version"])
    assert exit_info.value.code == 0 and capsys.readouterr().out.startswith("fftheory 0.")
