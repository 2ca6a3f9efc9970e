"""Piano-roll pictures of a Score: beats across, pitch names up, bar lines from the meter map."""

from __future__ import annotations

import io

import numpy as np

from composer.score import Score, bar_starts, pitch_name
from composer.score.form import heard_parts as form_parts

ROW_BEATS = 48.0  # beats per row of the piano roll: 16 bars of 6/8 or 2/4, 12 of 4/4


def heard_parts(score: Score) -> list[tuple[str, int]]:
    """(letter, start tick) of each part as heard — A, A, B, B for a reel — from the score's Form; [] without one."""
    if score.form is None or not score.form.repeats:
        return []
    return [(chr(ord("A") + part % 26), score.form.starts[k]) for part, k in form_parts(score.form)]


def piano_roll_png(score: Score, seed_end_tick: int = 0, row_beats: float = ROW_BEATS) -> bytes:
    """A piano roll as PNG bytes, in rows of whole bars (at most `row_beats` beats each, like lines of a
    score): notes coloured by velocity (or by program when there are several), bars numbered along
    the top, the seed (ticks before `seed_end_tick`) shaded up to a red line, the parts heard (A, B …) in blue."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    notes, tpq = score.note_array(), score.tpq
    starts = bar_starts(score)
    first = 0 if score.metadata.get("pickup_ticks") else 1  # a pickup is bar 0
    rows = _rows([t / tpq for t in starts], max(score.end_tick / tpq, 1.0), row_beats)
    width = max(b - a for a, b in rows)
    fig, axes = plt.subplots(len(rows), 1, figsize=(min(14.0, max(8.0, width / 3.5)), 0.7 + 2.6 * len(rows)),
                             dpi=100, squeeze=False)
    colours, handles = _colours(notes)
    for ax, (a, b) in zip(axes[:, 0], rows, strict=True):
        if len(notes):
            ax.add_collection(_note_boxes(notes, tpq, colours, a, a + width))
            _pitch_axis(ax, int(notes[:, 0].min()) - 1, int(notes[:, 0].max()) + 1)
        bars = [(i, t / tpq) for i, t in enumerate(starts, start=first) if a <= t / tpq < b]
        ax.vlines([x for _, x in bars], 0, 1, transform=ax.get_xaxis_transform(), color="0.55", linewidth=0.7,
                  zorder=0)
        for i, x in bars:
            ax.annotate(str(i), (x, 1), xycoords=("data", "axes fraction"), xytext=(0, 3), textcoords="offset points",
                        ha="center", va="bottom", fontsize=7)
        if seed_end_tick:
            ax.axvspan(0, seed_end_tick / tpq, color="0.88", zorder=-1)
            ax.axvline(seed_end_tick / tpq, color="crimson", linewidth=1.2)
        for label, tick in heard_parts(score):
            if a <= tick / tpq < b:
                ax.axvline(tick / tpq, color="tab:blue", linewidth=1.6, zorder=0)
                ax.annotate(label, (tick / tpq, 1), xycoords=("data", "axes fraction"), xytext=(3, -12),
                            textcoords="offset points", color="tab:blue", fontweight="bold", fontsize=10)
        ax.set_xlim(a, a + width)
        ax.tick_params(axis="x", labelsize=7)
    if seed_end_tick:
        handles.append(Patch(color="0.88", label="seed"))
    if handles:
        axes[0, 0].legend(handles=handles, loc="upper right", fontsize=7, framealpha=0.9)
    axes[-1, 0].set_xlabel("beats (quarter notes); numbers on top: bars")
    fig.suptitle(score.title or "composition", fontsize=10)
    _margins(fig, len(rows))
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    return buffer.getvalue()


def _margins(fig, rows: int, left: float = 0.75, right: float = 0.2, top: float = 0.75, bottom: float = 0.55,
             gap: float = 0.6) -> None:
    """Fixed margins in inches, room for the pitch names, bar numbers and title (tight_layout measured every
    label and cost a quarter of each picture's time)."""
    width, height = fig.get_size_inches()
    axes_height = (height - top - bottom - gap * (rows - 1)) / rows
    fig.subplots_adjust(left=left / width, right=1 - right / width, top=1 - top / height, bottom=bottom / height,
                        hspace=gap / axes_height)


def _rows(bars: list[float], end: float, row_beats: float) -> list[tuple[float, float]]:
    """(start, end) beats of each row: whole bars, at most `row_beats` long (a longer bar gets a row)."""
    edges = [x for x in bars if 0 < x < end] + [end]
    rows, start, last = [], 0.0, 0.0
    for x in edges:
        if x - start > row_beats and last > start:
            rows.append((start, last))
            start = last
        last = x
    rows.append((start, end))
    return rows


def _note_boxes(notes, tpq: int, colours, a: float, b: float):
    """One PolyCollection of the notes sounding between beats a and b: a box per note, pitch high, as long as it
    sounds (one artist per row, not a patch per note: drawing 3,000 patches was most of compose's time)."""
    from matplotlib.collections import PolyCollection

    x0, x1 = notes[:, 1] / tpq, (notes[:, 1] + notes[:, 2]) / tpq
    keep = (x0 < b) & (x1 > a)
    x0, x1, y = x0[keep], x1[keep], notes[keep, 0].astype(float)
    boxes = np.stack([np.stack([x0, y - 0.425], 1), np.stack([x0, y + 0.425], 1),
                      np.stack([x1, y + 0.425], 1), np.stack([x1, y - 0.425], 1)], axis=1)
    return PolyCollection(boxes, facecolors=np.asarray(colours)[keep], edgecolors="black", linewidths=0.4)


def _colours(notes):
    """Note colours and legend entries: by program when there are several, else by velocity."""
    import matplotlib
    from matplotlib.patches import Patch

    if not len(notes):
        return [], []
    programs = sorted(set(notes[:, 4].tolist()))
    if len(programs) > 1:
        cmap = matplotlib.colormaps["tab10"]
        handles = [Patch(color=cmap(i % 10), label=f"program {p}") for i, p in enumerate(programs)]
        return [cmap(programs.index(p) % 10) for p in notes[:, 4]], handles
    return matplotlib.colormaps["viridis"](0.25 + 0.6 * notes[:, 3] / 127), []


def _pitch_axis(ax, lo: int, hi: int) -> None:
    """Name every natural note when the range is small, else every C, E and G; grid lines at each C."""
    naturals = (0, 2, 4, 5, 7, 9, 11) if hi - lo <= 36 else (0, 4, 7)
    ticks = [p for p in range(lo, hi + 1) if p % 12 in naturals]
    ax.set_yticks(ticks, [pitch_name(p) for p in ticks], fontsize=7)
    for p in range(lo, hi + 1):
        if p % 12 == 0:
            ax.axhline(p - 0.5, color="0.8", linewidth=0.5, zorder=0)
    ax.set_ylim(lo - 0.5, hi + 0.5)
    ax.set_ylabel("pitch")
