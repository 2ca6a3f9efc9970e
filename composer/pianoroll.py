"""Piano-roll pictures of a Score: beats across, pitch names up, bar lines from the meter map."""

from __future__ import annotations

import io

from composer.score import Score, pitch_name

MAX_BARS = 4000


def bar_starts(score: Score, end_tick: int | None = None) -> list[int]:
    """Ticks where bars begin, from the time-signature map (4/4 when there is none), after any pickup."""
    end = score.end_tick if end_tick is None else end_tick
    sigs = list(score.time_signatures)
    tick, i = int(score.metadata.get("pickup_ticks", 0) or 0), 0
    length = _bar_ticks(score, sigs[0]) if sigs else 4 * score.tpq
    starts = [0] if tick > 0 else []
    while tick < end and len(starts) < MAX_BARS:
        while i + 1 < len(sigs) and sigs[i + 1].tick <= tick:
            i += 1
            length = _bar_ticks(score, sigs[i])
        starts.append(tick)
        tick += length
    return starts


def _bar_ticks(score: Score, sig) -> int:
    return max(1, round(sig.bar_beats * score.tpq))


def piano_roll_png(score: Score, seed_end_tick: int = 0) -> bytes:
    """A piano roll as PNG bytes: notes coloured by velocity (or by program when there are several),
    bar lines numbered along the top, the seed (ticks before `seed_end_tick`) shaded."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    notes, tpq = score.note_array(), score.tpq
    beats = max(score.end_tick / tpq, 1.0)
    fig, ax = plt.subplots(figsize=(min(max(8.0, beats / 5), 30.0), 4.5), dpi=100)
    handles = []
    if len(notes):
        programs = sorted(set(notes[:, 4].tolist()))
        if len(programs) > 1:
            cmap = matplotlib.colormaps["tab10"]
            colours = [cmap(programs.index(p) % 10) for p in notes[:, 4]]
            handles = [Patch(color=cmap(i % 10), label=f"program {p}") for i, p in enumerate(programs)]
        else:
            colours = matplotlib.colormaps["viridis"](0.25 + 0.6 * notes[:, 3] / 127)
        ax.barh(notes[:, 0], notes[:, 2] / tpq, left=notes[:, 1] / tpq, height=0.85, color=colours,
                edgecolor="black", linewidth=0.4)
        lo, hi = int(notes[:, 0].min()) - 1, int(notes[:, 0].max()) + 1
        _pitch_axis(ax, lo, hi)
    bars = [t / tpq for t in bar_starts(score)]
    for x in bars:
        ax.axvline(x, color="0.55", linewidth=0.7, zorder=0)
    top = ax.secondary_xaxis("top")
    first = 0 if score.metadata.get("pickup_ticks") else 1  # a pickup is bar 0
    shown = list(enumerate(bars, start=first))[:: max(1, len(bars) // 40)]
    top.set_xticks([x for _, x in shown], [str(i) for i, _ in shown], fontsize=7)
    top.set_xlabel("bar", fontsize=8)
    if seed_end_tick:
        ax.axvspan(0, seed_end_tick / tpq, color="0.88", zorder=-1)
        ax.axvline(seed_end_tick / tpq, color="crimson", linewidth=1.2)
        handles.append(Patch(color="0.88", label="seed"))
    if handles:
        ax.legend(handles=handles, loc="upper right", fontsize=7, framealpha=0.9)
    ax.set_xlim(0, beats)
    ax.set_xlabel("beats (quarter notes)")
    ax.set_title(score.title or "composition", fontsize=10)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    return buffer.getvalue()


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
