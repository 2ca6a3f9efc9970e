"""Form statistics of a piece as heard: parts played again, bars repeated, and how it ends.

Computed on the unfolded notes (repeats played out, as the readers give them) and on the piece's
bar grid: bar lines from its time signature(s), 4/4 when there is none; a pickup
(`metadata["pickup_ticks"]`, the length of a short first bar) is bar 0 and bar 1 starts after it.
The pickup bar is neither counted nor compared. A bar is the sorted tuple of its notes'
(onset within the bar, pitch, duration), onsets and durations rounded to `grid_per_beat` steps of a
quarter note, so two bars are equal when they hold the same notes at the same places. Drums are ignored.

Parts: a score that carries a written form (`score.form.parts()` → (first, last) written bar of each
part) reports those parts' lengths. Otherwise the bars from bar 1 are cut into `part_bars`-bar
spans (a shorter tail is its own span) and each span is named by a letter: the letter of the first
earlier span of the same length it matches in all bars but at most `part_bars − same_part_bars`
(one, by default: a first or second ending), else the next new letter. The threshold is stricter
than `min_equal_bars` because many tunes' second parts end like their first (The Boys of Bluehill
shares 6 of 8 bars between its parts). A double reel played AABB reads "AABB"; a piece with no part played
again reads "ABCD…".
"""

from __future__ import annotations

import bisect
import math
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from composer.score import PITCH_CLASS_NAMES, Score, analysed_tonic, bar_starts, ends_on_tonic
from composer.score.form import Form, heard_parts
from composer.score.meter import last_on_main_beat as meter_last_on_main_beat

Bar = tuple[tuple[int, int, int], ...]


@dataclass(frozen=True)
class FormConfig:
    """How form is measured: part length, equal bars for a part played again and for a part named by an
    earlier part's letter, the onset grid, and whether to run music21's key analysis (one per piece)."""

    part_bars: int = 8
    min_equal_bars: int = 6
    same_part_bars: int = 7
    grid_per_beat: int = 12
    analyse_key: bool = True


def score_bars(score: Score, config: FormConfig = FormConfig()) -> tuple[list[int], list[Bar]]:
    """Start ticks of bars 1…n (the pickup bar left out) and each bar's quantised notes."""
    starts = bar_starts(score)
    pickup = int(score.metadata.get("pickup_ticks", 0) or 0)
    if pickup > 0 and starts[:1] == [0]:
        starts = starts[1:]
    if not starts:
        return [], []
    step = score.tpq / config.grid_per_beat
    contents: list[list[tuple[int, int, int]]] = [[] for _ in starts]
    for n in score.notes:
        i = bisect.bisect_right(starts, n.start) - 1
        if n.is_drum or i < 0:
            continue
        contents[i].append((round((n.start - starts[i]) / step), n.pitch, round(n.duration / step)))
    return starts, [tuple(sorted(c)) for c in contents]


def _equal_count(bars: Sequence[Bar], a: int, b: int, length: int) -> int:
    return sum(bars[a + k] == bars[b + k] for k in range(length))


def repeated_part_starts(bars: Sequence[Bar], config: FormConfig = FormConfig()) -> list[int]:
    """Every bar i (0-based) where bars i…i+p−1 equal bars i+p…i+2p−1 in ≥ min_equal_bars of p bars."""
    p = config.part_bars
    return [i for i in range(len(bars) - 2 * p + 1) if _equal_count(bars, i, i + p, p) >= config.min_equal_bars]


def bar_repetition(bars: Sequence[Bar]) -> float:
    """Share of bars with notes that equal an earlier bar (NaN when no bar has notes)."""
    seen: set[Bar] = set()
    played = repeats = 0
    for bar in bars:
        if not bar:
            continue
        played += 1
        repeats += bar in seen
        seen.add(bar)
    return repeats / played if played else math.nan


def detect_parts(bars: Sequence[Bar], config: FormConfig = FormConfig()) -> tuple[str, list[int]]:
    """Letters and lengths of the piece's `part_bars`-bar spans, equal spans sharing a letter (module doc)."""
    p = config.part_bars
    spans = [(i, min(p, len(bars) - i)) for i in range(0, len(bars), p)]
    letters: list[str] = []
    for k, (start, length) in enumerate(spans):
        need = length - (p - config.same_part_bars)
        same = next((letters[j] for j, (s, n) in enumerate(spans[:k])
                     if n == length and _equal_count(bars, s, start, length) >= need), None)
        letters.append(same or _letter(len(set(letters))))
    return "".join(letters), [n for _, n in spans]


def _letter(i: int) -> str:
    return chr(ord("A") + i) if i < 26 else "?"


def written_parts(form: Form | None) -> tuple[str, list[int]] | None:
    """The parts as heard (AABB) and the length of each written part in bars, from a written Form, or None."""
    if form is None or not form.repeats:
        return None
    lengths = [last - first + 1 for first, last in form.parts()]
    return "".join(_letter(part) for part, _ in heard_parts(form)), lengths


def last_on_main_beat(score: Score, config: FormConfig = FormConfig()) -> bool | None:
    """Whether the last note starts on a main beat of its bar (composer.score.last_on_main_beat on this grid)."""
    return meter_last_on_main_beat(score, config.grid_per_beat)


def form_features(score: Score, config: FormConfig = FormConfig()) -> dict[str, Any]:
    """The form statistics of one piece (module doc): bars, part_repeated, bar_repetition, parts,
    ends_on_tonic, last_on_main_beat and, when `config.analyse_key`, analysed_tonic and tonic_matches."""
    _, bars = score_bars(score, config)
    at = repeated_part_starts(bars, config)
    written = written_parts(getattr(score, "form", None))
    form, lengths = written or detect_parts(bars, config)
    key = score.key_signature
    out: dict[str, Any] = {
        "bars": len(bars),
        "part_repeated": bool(at),
        "part_repeated_at_boundary": any(i % config.part_bars == 0 for i in at),
        "bar_repetition": bar_repetition(bars),
        "parts": form,
        "part_lengths": lengths,
        "parts_written": written is not None,
        "ends_on_tonic": ends_on_tonic(score),
        "last_on_main_beat": last_on_main_beat(score, config),
        "key_tonic": PITCH_CLASS_NAMES[key.tonic] if key else None,
    }
    if config.analyse_key:
        tonic = analysed_tonic(score)
        out["analysed_tonic"] = PITCH_CLASS_NAMES[tonic] if tonic is not None else None
        out["tonic_matches"] = None if tonic is None or key is None else tonic == key.tonic
    return out


def _share(values: Iterable[bool | None]) -> float:
    known = [v for v in values if v is not None]
    return sum(known) / len(known) if known else math.nan


def _mean(values: Iterable[float]) -> float:
    known = [v for v in values if v == v]
    return sum(known) / len(known) if known else math.nan


SUMMARY_COLUMNS = (
    ("n", "pieces", "{:d}"),
    ("mean_bars", "bars", "{:.1f}"),
    ("part_repeated", "part again", "{:.2f}"),
    ("part_repeated_at_boundary", "on bar 8k+1", "{:.2f}"),
    ("bar_repetition", "bars repeated", "{:.2f}"),
    ("ends_on_tonic", "ends on tonic", "{:.2f}"),
    ("last_on_main_beat", "ends on beat", "{:.2f}"),
    ("tonic_matches", "analysed key", "{:.2f}"),
)


def summarise(features: Sequence[dict[str, Any]], top_parts: int = 6) -> dict[str, Any]:
    """Shares and means over per-piece `form_features`, and a histogram of the commonest parts."""
    parts = Counter(f["parts"] or "no bars" for f in features)
    out: dict[str, Any] = {
        "n": len(features),
        "mean_bars": _mean(f["bars"] for f in features),
        "part_repeated": _share(f["part_repeated"] for f in features),
        "part_repeated_at_boundary": _share(f["part_repeated_at_boundary"] for f in features),
        "bar_repetition": _mean(f["bar_repetition"] for f in features),
        "ends_on_tonic": _share(f["ends_on_tonic"] for f in features),
        "last_on_main_beat": _share(f["last_on_main_beat"] for f in features),
        "tonic_matches": _share(f.get("tonic_matches") for f in features),
        "parts": dict(parts.most_common(top_parts)),
    }
    if len(parts) > top_parts:
        out["parts"]["other"] = sum(parts.values()) - sum(out["parts"].values())
    return out


def form_summary(scores: Iterable[Score], config: FormConfig = FormConfig()) -> dict[str, Any]:
    """`summarise` of the form features of every score in a set."""
    return summarise([form_features(s, config) for s in scores])


def form_by_type(scores: Sequence[Score], type_of: Callable[[Score], str | None],
                 config: FormConfig = FormConfig()) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    """The summary of the whole set and of each tune type `type_of` names (pieces it types None join only the whole)."""
    features = [form_features(s, config) for s in scores]
    groups: dict[str, list[dict[str, Any]]] = {}
    for s, f in zip(scores, features, strict=True):
        t = type_of(s)
        if t:
            groups.setdefault(t, []).append(f)
    return summarise(features), {t: summarise(fs) for t, fs in sorted(groups.items())}


def piece_type(score: Score) -> str | None:
    """The type a piece was asked for (`metadata["asked_type"]`), else the type it carries."""
    return score.metadata.get("asked_type") or score.tune_type


def form_side_by_side(generated: Sequence[Score], reference: Sequence[Score],
                      config: FormConfig = FormConfig()) -> dict[str, Any]:
    """Form summaries of a generated and a reference set, whole and per tune type the generated set names."""
    gen, gen_types = form_by_type(generated, piece_type, config)
    ref, ref_types = form_by_type(reference, piece_type, config)
    by_type = {t: {"generated": s, "reference": ref_types.get(t)} for t, s in gen_types.items()}
    return {"generated": gen, "reference": ref, "by_type": by_type}


def side_by_side_rows(form: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Table rows of `form_side_by_side`: generated, reference, then each type's pair."""
    rows = {"generated": form["generated"], "reference": form["reference"]}
    for t, pair in form.get("by_type", {}).items():
        rows[f"generated {t}"] = pair["generated"]
        if pair.get("reference"):
            rows[f"reference {t}"] = pair["reference"]
    return rows


def form_table(rows: dict[str, dict[str, Any]]) -> list[str]:
    """A plain-text table, one row per named summary, a column per statistic, then each row's parts."""
    name_width = max([len(name) for name in rows] + [4])
    head = " " * name_width + "".join(f" | {label:>{max(len(label), 5)}}" for _, label, _ in SUMMARY_COLUMNS)
    lines = [head, "-" * len(head)]
    for name, summary in rows.items():
        cells = []
        for key, label, fmt in SUMMARY_COLUMNS:
            value = summary.get(key)
            text = "–" if value is None or value != value else fmt.format(value)
            cells.append(f" | {text:>{max(len(label), 5)}}")
        lines.append(f"{name:<{name_width}}" + "".join(cells))
    lines += [f"{name}: parts {summary['parts']}" for name, summary in rows.items() if summary.get("parts")]
    return lines
