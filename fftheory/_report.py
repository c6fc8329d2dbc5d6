"""Writing a variant's report: JSON, Markdown, a predicted-vs-observed figure,
and each failing case as an .npz that `fftheory predict` reads back.

Everything is written atomically inside the chosen directory only.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np

from ._cases import CaseSpec, build
from ._check_variant import VariantReport, variant_claims, with_theta
from ._step import take_step
from ._io import deferred_interrupt, write_atomic, write_json
from ._variants import Variant


def _fmt(value, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def _cell(text: str) -> str:
    """Text for a Markdown table cell: a bare | would end the cell."""
    return text.replace("|", "\\|")


def markdown(report: VariantReport) -> str:
    """The report as Markdown: properties, LaTeX of the derivation, the verdict table."""
    lines = [
        f"# fftheory check: {report.variant}",
        "",
        f"{report.description} (FF loss: {report.loss}). Profile `{report.profile}`, "
        f"min cases {report.min_cases}, {report.seconds:.1f} s.",
        "",
        "Detected properties: "
        + (", ".join(k for k, v in vars(report.properties).items() if v) or "none"),
        "",
    ]
    if report.latex:
        lines += ["## Symbolic form", ""] + [f"- {k}: $${v}$$" for k, v in report.latex.items()] + [""]
    lines += [
        "## Verdicts",
        "",
        "| kind | claim | statement | valid cases | agreement | Taylor rate | verdict |",
        "| --- | --- | --- | ---: | ---: | ---: | --- |",
    ]
    for kind, v in report.rows:
        agreement = f"{v.points_agreed}/{v.points_decided}" if v.points_decided else "-"
        lines.append(
            f"| {kind} | `{v.claim}` | {_cell(v.statement)} | {v.cases_applicable}/{v.cases_tried} | {agreement} "
            f"| {_fmt(v.taylor_rate, '.3f')} | **{v.status}** |"
        )
    notes = [(v.claim, v.note) for _, v in report.rows if v.note]
    if notes:
        lines += ["", "## Notes", ""] + [f"- `{c}`: {n}" for c, n in notes]
    return "\n".join(lines) + "\n"


def counterexample_arrays(variant: Variant, claim_id: str, counterexample: dict, *, target: str) -> dict[str, np.ndarray]:
    """The failing case as arrays for `fftheory predict`: W, X, positive, eta, theta, rule, variant, spec."""
    claims = dict((c.id, c) for _, c in variant_claims(variant))
    claim = claims[claim_id]
    spec = CaseSpec(**counterexample["spec"])
    case = claim.build(spec).select(counterexample["index"])
    rule_name = claim.rule or "batch-decrease"
    step = take_step(case, variant.rules()[rule_name], goodness=variant.goodness)
    return {
        "W": case.W[0].numpy(),
        "X": case.X[0].numpy(),
        "positive": case.positive[0].numpy(),
        "eta": np.array(float(step.eta[0])),
        "theta": np.array(float(case.theta[0])),
        "rule": np.array(rule_name),
        "variant": np.array(target),
        "spec": np.array(json.dumps(counterexample["spec"])),
        "index": np.array(counterexample["index"]),
    }


def figure_png(variant: Variant, *, seed: int = 0) -> bytes:
    """Predicted (first-order) against observed change of Hoyer sparsity and goodness, per rule."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rules = variant.rules()
    fig, axes = plt.subplots(2, len(rules), figsize=(3.2 * len(rules), 6.0), squeeze=False)
    spec = CaseSpec(n_points=6, n_in=12, n_units=10, seed=seed, count=24, n_positive=3, eta_fraction=0.3)
    case = with_theta(variant.goodness)(build(spec))
    for col, (name, rule) in enumerate(rules.items()):
        step = take_step(case, rule, goodness=variant.goodness)
        for row, q in enumerate(("hoyer", "goodness")):
            ax = axes[row, col]
            keep = step.clean
            pred, obs = step.closed[q][keep].numpy(), step.obs.changes[q][keep].numpy()
            ax.scatter(pred, obs, s=6, alpha=0.6)
            lim = float(np.nanmax(np.abs(np.concatenate([pred, obs])))) if len(pred) else 1.0
            ax.plot([-lim, lim], [-lim, lim], lw=0.8, color="grey")
            ax.set_title(f"{name}: {q}", fontsize=9)
            ax.set_xlabel("predicted (first order)", fontsize=8)
            ax.set_ylabel("observed", fontsize=8)
            ax.tick_params(labelsize=7)
    fig.suptitle(f"{variant.name}: predicted vs observed change", fontsize=10)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110)
    plt.close(fig)
    return buffer.getvalue()


def replay_target(variant: Variant) -> str:
    """A name `fftheory predict --variant` can load for this variant: its catalogue
    entry, or the catalogue goodness it uses with Hinton's loss; else its own name."""
    from ._goodness import GOODNESS
    from ._variants import CATALOGUE

    if CATALOGUE.get(variant.name) is variant:
        return variant.name
    if variant.loss.name == "hinton" and GOODNESS.get(variant.goodness.name) is variant.goodness:
        return variant.goodness.name
    return variant.name


def write_report(
    report: VariantReport, variant: Variant, directory: str | Path, *, target: str | None = None
) -> dict[str, str]:
    """Write report.json, report.md, predicted_vs_observed.png and counterexamples/*.npz into `directory`.

    `target` (catalogue name or module:attr; default `replay_target(variant)`)
    is stored in each .npz so that `fftheory predict` can rebuild the variant.
    Returns the paths written, by role. The JSON's failing rows name their .npz.
    Everything is computed before the first file is written, each file is written
    atomically, and Ctrl-C is held during the renames: an interrupted run leaves the
    previous report. A counterexample left from an earlier run for a row of this
    report that now holds (counterexamples/<claim>.npz) is removed; other files stay.
    """
    directory = Path(directory)
    payload = report.to_json()
    files: dict[str, tuple[Path, bytes]] = {}
    stale: list[Path] = []
    for row in payload["claims"]:
        path = directory / "counterexamples" / f"{row['claim']}.npz"
        if row["status"] in ("fails", "not differentiable") and row["counterexample"] and row["expect"] == "holds":
            arrays = counterexample_arrays(variant, row["claim"], row["counterexample"], target=target or replay_target(variant))
            buffer = io.BytesIO()
            np.savez(buffer, **arrays)
            files[f"counterexample {row['claim']}"] = (path, buffer.getvalue())
            row["counterexample"]["npz"] = str(path)
        else:
            stale.append(path)
    files["markdown"] = (directory / "report.md", markdown(report).encode())
    files["figure"] = (directory / "predicted_vs_observed.png", figure_png(variant))
    directory.mkdir(parents=True, exist_ok=True)
    written_paths = {path for path, _ in files.values()}
    with deferred_interrupt():  # milliseconds of renames: Ctrl-C waits for the set to be whole
        for path, data in files.values():
            write_atomic(path, data)
        for path in stale:
            if path not in written_paths:  # a row id listed twice may have failed once
                path.unlink(missing_ok=True)
        write_json(directory / "report.json", payload)
    written = {role: str(path) for role, (path, _) in files.items()}
    written["json"] = str(directory / "report.json")
    return written

