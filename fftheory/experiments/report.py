"""Writing the reproduction's outputs: results.json, summary.md and the figures.

Every file is written atomically (a temporary file in the same directory, then
os.replace), and only the file names listed in OUTPUT_FILES are ever touched.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from typing import Callable

import numpy as np

OUTPUT_FILES = ("results.json", "summary.md", "sparsity.png", "theory.png", "accuracy.png")


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def write_atomic(directory: str, name: str, write: Callable[[object], None], binary: bool = False) -> str:
    """Create directory/name through write(file object) on a temporary file, then os.replace it into place."""
    if name not in OUTPUT_FILES:
        raise ValueError(f"refusing to write {name!r}: not one of the reproduction's outputs")
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{name}.", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb" if binary else "w", **({} if binary else {"encoding": "utf-8"})) as fh:
            write(fh)
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; give the file ordinary permissions
        os.replace(tmp, os.path.join(directory, name))
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    return os.path.join(directory, name)


def json_ready(value):
    """Convert numpy scalars/arrays and non-finite floats (-> None) for strict JSON."""
    if isinstance(value, dict):
        return {str(k): json_ready(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_ready(v) for v in value]
    if isinstance(value, np.ndarray):
        return json_ready(value.tolist())
    if isinstance(value, (np.bool_,)):
        return bool(value)
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        value = float(value)
        return value if math.isfinite(value) else None
    return value


def write_json(directory: str, results: dict) -> str:
    text = json.dumps(json_ready(results), indent=2, allow_nan=False)
    return write_atomic(directory, "results.json", lambda fh: fh.write(text + "\n"))


def _fmt(value, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "n/a"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def summary_markdown(results: dict) -> str:
    """The run as Markdown: configuration, the checkpoint table and the theory table."""
    cfg, final = results["config"], results["final"]
    n_layers = len(cfg["layers"]) - 1
    rules = results["rules"]
    lines = [
        "# FF sparsity theory on MNIST",
        "",
        f"Data: {results['data']['source']} ({results['data']['n_train']} train / {results['data']['n_test']} test). "
        f"Layers {'-'.join(map(str, cfg['layers']))}, {cfg['epochs']} epochs, seed {results['seed']}, "
        f"wall time {results['timings']['total_s']:.1f} s.",
        "",
        f"Final test accuracy **{_fmt(final['test_accuracy'], 4)}** (error {_fmt(final['test_error'], 4)}).",
        "",
        "## Checkpoints",
        "",
    ]
    header = ["epoch", "test acc"]
    for layer in range(1, n_layers + 1):
        header += [f"L{layer} Hoyer +", f"L{layer} Hoyer -", f"L{layer} active +"]
    header += [f"sign agr. {r} (min over layers)" for r in rules]
    lines += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for cp in results["checkpoints"]:
        row = [str(cp["epoch"]), _fmt(cp["test_accuracy"], 4)]
        for lay in cp["layers"]:
            row += [_fmt(lay["positive"]["hoyer"]), _fmt(lay["negative"]["hoyer"]), _fmt(lay["positive"]["active_fraction"])]
        for r in rules:
            vals = [t["sign_agreement"] for t in cp["theory"][r]]
            row.append(_fmt(min(vals) if all(v is not None for v in vals) else None))
        lines.append("| " + " | ".join(row) + " |")
    lines += [
        "",
        "## Theory check (Hoyer sparsity change, over all checkpoints)",
        "",
        "| rule | layer | min sign agreement | lowest 95% CI bound | decided | undecided | min Spearman | "
        "units crossing zero | inputs non-negative |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rules:
        for li, agg in enumerate(results["theory_summary"][r], start=1):
            lines.append(
                f"| {r} | {li} | {_fmt(agg['min_sign_agreement'])} | {_fmt(agg['min_ci_low'])} | {agg['decided']} | "
                f"{agg['undecided']} | {_fmt(agg['min_spearman'])} | {agg['points_crossing_zero']} | "
                f"{'yes' if agg['inputs_nonnegative'] else 'NO'} |"
            )
    lines += ["", "## Targets", "", "| target | measured | met |", "|---|---|---|"]
    for t in results["targets"]:
        lines.append(f"| {t['name']} | {_fmt(t['measured'], 4)} | {'yes' if t['met'] else 'no'} |")
    lines += ["", "## Conventions", ""]
    lines += [f"- **{k}**: {v}" for k, v in results["conventions"].items()]
    return "\n".join(lines) + "\n"


def write_summary(directory: str, results: dict) -> str:
    text = summary_markdown(results)
    return write_atomic(directory, "summary.md", lambda fh: fh.write(text))


def _figure(width: float, height: float, ncols: int = 1):
    """A figure on the Agg canvas, without pyplot: no global backend switch, nothing left open."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height))
    FigureCanvasAgg(fig)
    return fig, fig.subplots(1, ncols, squeeze=False)[0]


def _save(fig, directory: str, name: str) -> str:
    return write_atomic(directory, name, lambda fh: fig.savefig(fh, format="png", dpi=110), binary=True)


def write_figures(directory: str, results: dict, scatter: dict) -> list[str]:
    """sparsity.png, theory.png, accuracy.png. `scatter[rule]` is a list of (layer, predicted, observed)."""
    import matplotlib

    cps = results["checkpoints"]
    epochs = [cp["epoch"] for cp in cps]
    n_layers = len(results["config"]["layers"]) - 1
    colours = matplotlib.rcParams["axes.prop_cycle"].by_key()["color"]
    paths = []

    fig, (ax,) = _figure(6.4, 4.2)
    for li in range(n_layers):
        c = colours[li % len(colours)]
        for kind, style in (("positive", "-"), ("negative", "--")):
            ax.plot(epochs, [cp["layers"][li][kind]["hoyer"] for cp in cps], style, color=c, marker="o", ms=3,
                    label=f"layer {li + 1}, {kind}")
    ax.set_xlabel("epoch")
    ax.set_ylabel("mean Hoyer sparsity (test data)")
    ax.set_ylim(0, 1)
    ax.set_title("Sparsity during FF training")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    paths.append(_save(fig, directory, "sparsity.png"))

    rules = results["rules"]
    fig, axes = _figure(5.2 * len(rules), 4.6, ncols=len(rules))
    for ax, rule in zip(axes, rules):
        lo = hi = 0.0
        for li, pred, obs in scatter[rule]:
            if len(pred) == 0:
                continue
            # Each (checkpoint, layer) is scaled by its largest |prediction|: eta differs between them.
            s = float(np.max(np.abs(pred))) or 1.0
            ax.scatter(pred / s, obs / s, s=6, alpha=0.5, color=colours[li % len(colours)])
            lo, hi = min(lo, float(np.min(pred / s)), float(np.min(obs / s))), max(hi, float(np.max(pred / s)), float(np.max(obs / s)))
        for li in range(n_layers):
            ax.scatter([], [], color=colours[li % len(colours)], label=f"layer {li + 1}")
        ax.plot([lo, hi], [lo, hi], "k-", lw=0.8, label="observed = predicted")
        ax.axhline(0, color="grey", lw=0.5)
        ax.axvline(0, color="grey", lw=0.5)
        ax.set_xlabel("predicted Hoyer change (first order, scaled)")
        ax.set_ylabel("observed Hoyer change (scaled)")
        ax.set_title(rule)
        ax.legend(fontsize=8)
    fig.suptitle("Theorem 1b predictions vs real steps, every checkpoint")
    fig.tight_layout()
    paths.append(_save(fig, directory, "theory.png"))

    fig, (ax,) = _figure(6.4, 4.2)
    ax.plot(epochs, [cp["test_accuracy"] for cp in cps], "-o", ms=3, label="test")
    ax.plot(epochs, [cp["train_accuracy"] for cp in cps], "--o", ms=3, label="train (fixed subset, unshifted)")
    ax.set_xlabel("epoch")
    ax.set_ylabel("accuracy")
    ax.set_ylim(0, 1)
    ax.set_title("FF accuracy (label with the highest goodness)")
    ax.legend()
    ax.grid(alpha=0.3)
    paths.append(_save(fig, directory, "accuracy.png"))
    return paths
