"""The trainer's records: metrics.jsonl reading, the loss-curve PNG, and the rich progress bar."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any


def read_metrics(path: Path) -> list[dict[str, Any]]:
    """The events of a metrics.jsonl, skipping a torn last line."""
    if not path.exists():
        return []
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            rows.append(json.loads(line))
        except ValueError:
            continue  # a torn last line from a killed run
    return rows


def loss_curve_png(history: list[dict[str, Any]]) -> bytes:
    """A PNG of train loss per logged step and validation loss per epoch, in nats per token."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7, 4), dpi=100)
    ax = fig.add_subplot()
    plotted = False
    for kind, key, style in (("train", "loss", "-"), ("val", "val_loss", "o-")):
        points = [(e["step"], e[key]) for e in history if e.get("event") == kind]
        if points:
            ax.plot(*zip(*points, strict=True), style, label=f"{kind} loss")
            plotted = True
    ax.set_xlabel("step")
    ax.set_ylabel("cross-entropy (nats/token)")
    ax.grid(alpha=0.3)
    if plotted:
        ax.legend()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", bbox_inches="tight")
    return buffer.getvalue()


class ProgressBar:
    """A rich progress bar (loss, tokens/s, ETA) when shown; a context yielding itself, or None when hidden.

    Loss and rate read '–' until the first step has a figure (never 'nan' or 0)."""

    def __init__(self, show: bool, total: int, done: int) -> None:
        self.visible, self.total, self.done, self.bar = show, total, done, None

    def __enter__(self) -> Any:
        if not self.visible:
            return None
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        self.bar = Progress(TextColumn("train"), BarColumn(), MofNCompleteColumn(),
                            TextColumn("loss {task.fields[loss]}"), TextColumn("{task.fields[rate]} tok/s"),
                            TimeRemainingColumn())
        self.task = self.bar.add_task("train", total=self.total, completed=self.done, loss="–", rate="–")
        self.bar.start()
        return self

    def show(self, step: int, loss: float, rate: float) -> None:
        """Move the bar to `step` with the latest loss (nats/token) and tokens/s."""
        if self.bar is not None:
            self.bar.update(self.task, completed=step, loss=f"{loss:.3f}", rate=f"{rate:,.0f}")

    def __exit__(self, *exc: Any) -> None:
        if self.bar is not None:
            self.bar.stop()
