"""Write a comparison to a folder: report.json, one PNG per feature, a summary PNG and a self-contained HTML page.

Layout of the folder:
    report.json            ComparisonResult.to_dict(): every number
    summary.png            overlap area per feature (bar chart)
    features/<name>.png    the feature's distance densities (intra reference, intra generated, inter)
                           beside its values (scalars: histograms; histograms: mean bars; matrices: means)
    report.html            all of the above in one file (images embedded), readable without the rest
"""

from __future__ import annotations

import base64
import html
import io
import json
from pathlib import Path
from typing import Any

import numpy as np

from composer.errors import OutputError
from composer.evaluate.compare import ComparisonResult, FeatureComparison
from composer.evaluate.features import FEATURES, NOTE_LENGTH_CLASSES
from composer.files import atomic_write_bytes, atomic_write_text
from composer.score import PITCH_CLASS_NAMES

_DOCS = {f.name: f.doc for f in FEATURES}
_COLORS = {"intra_reference": "tab:blue", "intra_generated": "tab:orange", "inter": "tab:green"}


def write_report(result: ComparisonResult, out_dir: str | Path, force: bool = False) -> Path:
    """Write the report files into `out_dir` and return that folder; a non-empty folder is refused unless force."""
    out = Path(out_dir)
    if out.exists() and (not out.is_dir() or any(out.iterdir())) and not force:
        raise OutputError("already exists and is not empty; pass --force (force=True) to write over it", out)
    images: dict[str, bytes] = {"summary": _png(_summary_figure(result))}
    for row in result.rows:
        images[row.name] = _png(_feature_figure(row))
    atomic_write_text(out / "report.json", json.dumps(result.to_dict(), indent=2, allow_nan=False) + "\n")
    atomic_write_bytes(out / "summary.png", images["summary"])
    for row in result.rows:
        atomic_write_bytes(out / "features" / f"{row.name}.png", images[row.name])
    atomic_write_text(out / "report.html", _html(result, images))
    return out


def _figure(width: float, height: float) -> Any:
    """A matplotlib Figure with an Agg canvas (no pyplot, no global state)."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:  # pragma: no cover - matplotlib is a core dependency
        raise OutputError("plots need matplotlib: pip install matplotlib") from None
    fig = Figure(figsize=(width, height), dpi=80)
    FigureCanvasAgg(fig)
    return fig


def _png(fig: Any) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


def _summary_figure(result: ComparisonResult) -> Any:
    fig = _figure(9, 4.5)
    ax = fig.add_subplot(1, 1, 1)
    names = [r.name for r in result.rows]
    x = np.arange(len(names))
    ax.bar(x - 0.2, [np.nan_to_num(r.overlap) for r in result.rows], 0.4, label="reference intra vs inter")
    ax.bar(x + 0.2, [np.nan_to_num(r.overlap_generated) for r in result.rows], 0.4, label="generated intra vs inter")
    ax.set_xticks(x, names, rotation=60, ha="right", fontsize=8)
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("overlap area")
    ax.set_title(f"Overlap area per feature (mean {result.mean_overlap:.3f}; 1 = indistinguishable)")
    ax.legend(fontsize=8, loc="lower left")
    fig.tight_layout()
    return fig


def _feature_figure(row: FeatureComparison) -> Any:
    panels = 3 if row.kind == "matrix" else 2
    fig = _figure(4.2 * panels, 3.4)
    ax = fig.add_subplot(1, panels, 1)
    grid = row.curves.get("grid")
    if grid is not None:
        for key, label in (
            ("intra_reference", "intra reference"),
            ("intra_generated", "intra generated"),
            ("inter", "inter-set"),
        ):
            if key in row.curves:
                ax.plot(grid, row.curves[key], color=_COLORS[key], label=label)
        ax.legend(fontsize=7)
    ax.set_xlabel("distance")
    ax.set_ylabel("density")
    ax.set_title(f"{row.name}: overlap {row.overlap:.3f}, KL {row.kl:.3f}", fontsize=9)
    if row.kind == "scalar":
        _value_histograms(fig.add_subplot(1, panels, 2), row)
    elif row.kind == "histogram":
        _mean_bars(fig.add_subplot(1, panels, 2), row)
    else:
        labels = _labels(row.name)
        for i, key in enumerate(("reference_vector", "generated_vector")):
            sub = fig.add_subplot(1, panels, 2 + i)
            sub.imshow(row.curves[key].reshape(12, 12), cmap="viridis", origin="upper")
            sub.set_xticks(range(12), labels, rotation=90, fontsize=6)
            sub.set_yticks(range(12), labels, fontsize=6)
            sub.set_title(f"mean, {key.split('_')[0]}", fontsize=9)
            sub.set_xlabel("next")
            sub.set_ylabel("from")
    fig.tight_layout()
    return fig


def _value_histograms(ax: Any, row: FeatureComparison) -> None:
    gen, ref = row.curves["generated_values"], row.curves["reference_values"]
    both = np.concatenate([gen, ref])
    if len(both):
        lo, hi = float(both.min()), float(both.max())
        bins = np.linspace(lo, hi if hi > lo else lo + 1, 31)
        ax.hist(
            ref,
            bins=bins,
            density=True,
            alpha=0.5,
            color="tab:blue",
            label=f"reference (mean {row.reference_mean:.3g})",
        )
        ax.hist(
            gen,
            bins=bins,
            density=True,
            alpha=0.5,
            color="tab:orange",
            label=f"generated (mean {row.generated_mean:.3g})",
        )
        ax.legend(fontsize=7)
    ax.set_xlabel(row.name)
    ax.set_title("values per piece", fontsize=9)


def _labels(name: str) -> list[str]:
    return list(PITCH_CLASS_NAMES) if name.startswith("pitch") else [n for n, _ in NOTE_LENGTH_CLASSES]


def _mean_bars(ax: Any, row: FeatureComparison) -> None:
    labels = _labels(row.name)
    x = np.arange(len(labels))
    ax.bar(x - 0.2, row.curves["reference_vector"], 0.4, color="tab:blue", label="reference")
    ax.bar(x + 0.2, row.curves["generated_vector"], 0.4, color="tab:orange", label="generated")
    ax.set_xticks(x, labels, rotation=60, ha="right", fontsize=7)
    ax.set_title("mean per set", fontsize=9)
    ax.legend(fontsize=7)


def _num(value: float, digits: int = 3) -> str:
    return "—" if value is None or not np.isfinite(value) else f"{value:.{digits}f}"


def _html(result: ComparisonResult, images: dict[str, bytes]) -> str:
    def img(name: str) -> str:
        data = base64.b64encode(images[name]).decode("ascii")
        return f'<img alt="{html.escape(name)}" src="data:image/png;base64,{data}">'

    cols = ("gen mean", "ref mean", "intra gen", "intra ref", "inter", "overlap", "KL", "overlap (gen)", "KL (gen)")
    rows = "".join(
        f"<tr><td title='{html.escape(_DOCS.get(r.name, ''))}'>{html.escape(r.name)}</td>"
        + "".join(
            f"<td>{_num(v)}</td>"
            for v in (
                r.generated_mean,
                r.reference_mean,
                r.intra_generated,
                r.intra_reference,
                r.inter,
                r.overlap,
                r.kl,
                r.overlap_generated,
                r.kl_generated,
            )
        )
        + "</tr>"
        for r in result.rows
    )
    absolute = "".join(
        f"<tr><td>{html.escape(k)}</td><td>{_num(v['generated'])}</td><td>{_num(v['reference'])}</td><td>{_num(v['difference'])}</td></tr>"
        for k, v in result.absolute().items()
    )
    sections = "".join(
        f"<h3>{html.escape(r.name)}</h3><p>{html.escape(_DOCS.get(r.name, ''))}</p>{img(r.name)}" for r in result.rows
    )
    return f"""<!doctype html>
<html><head><meta charset="utf-8"><title>composer evaluation</title>
<style>body{{font-family:sans-serif;max-width:1100px;margin:2em auto}}table{{border-collapse:collapse}}
td,th{{border:1px solid #ccc;padding:2px 8px;text-align:right}}td:first-child{{text-align:left}}img{{max-width:100%}}</style>
</head><body>
<h1>composer evaluation</h1>
<p>{result.n_generated} generated vs {result.n_reference} reference pieces. Mean overlap area
<b>{_num(result.mean_overlap)}</b> (reference intra-set vs inter-set distances; 1 = indistinguishable),
{_num(result.mean_overlap_generated)} (generated intra-set vs inter-set).</p>
{img("summary")}
<h2>Distances per feature (MGEval)</h2>
<table><tr><th>feature</th>{"".join(f"<th>{c}</th>" for c in cols)}</tr>{rows}</table>
<h2>Musical metrics (muspy style)</h2>
<table><tr><th>metric</th><th>generated</th><th>reference</th><th>difference</th></tr>{absolute}</table>
<h2>Features</h2>
{sections}
</body></html>
"""
