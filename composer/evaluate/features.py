"""Per-piece features of a Score: the MGEval set (Yang & Lerch 2018) and muspy-style musical metrics.

Everything is computed with numpy over `Score.note_array()`; drum notes are ignored. Times are in
beats (quarter notes, ticks / tpq); bars come from the first time signature (4/4 when there is none)
and start at tick 0, so a pickup shifts every bar by the same amount. Undefined values (an average
interval of a one-note piece, groove of a one-bar piece) are NaN; `compare` drops them per feature.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from composer.score import MODE_OFFSETS, Score

# MGEval's 12 note-length classes, in beats (quarter notes): plain, dotted, triplet.
NOTE_LENGTH_CLASSES = (
    ("whole", 4.0),
    ("half", 2.0),
    ("quarter", 1.0),
    ("8th", 0.5),
    ("16th", 0.25),
    ("dotted half", 3.0),
    ("dotted quarter", 1.5),
    ("dotted 8th", 0.75),
    ("dotted 16th", 0.375),
    ("half triplet", 4 / 3),
    ("quarter triplet", 2 / 3),
    ("8th triplet", 1 / 3),
)
_LENGTHS = np.array([v for _, v in NOTE_LENGTH_CLASSES])
MAJOR_SCALE = np.array([0, 2, 4, 5, 7, 9, 11])
# SCALE_MASKS[t, pc]: pitch class pc is in the major scale on tonic t (minor scales are their relative majors).
SCALE_MASKS = np.zeros((12, 12), dtype=bool)
for _t in range(12):
    SCALE_MASKS[_t, (MAJOR_SCALE + _t) % 12] = True

FeatureValue = float | np.ndarray


@dataclass(frozen=True)
class FeatureConfig:
    """How features are computed: the onset grid for bar patterns (positions per beat)."""

    grid_per_beat: int = 12


@dataclass(frozen=True)
class FeatureSpec:
    """One feature: its name, shape kind, family (mgeval or muspy) and a short description."""

    name: str
    kind: Literal["scalar", "histogram", "matrix"]
    group: Literal["mgeval", "muspy"]
    doc: str


FEATURES: tuple[FeatureSpec, ...] = (
    FeatureSpec("pitch_count", "scalar", "mgeval", "number of distinct MIDI pitches used (PC)"),
    FeatureSpec("pitch_class_count", "scalar", "mgeval", "number of distinct pitch classes used"),
    FeatureSpec("pitch_class_histogram", "histogram", "mgeval", "share of notes on each pitch class C..B (12)"),
    FeatureSpec(
        "pitch_class_transitions",
        "matrix",
        "mgeval",
        "pitch class → next pitch class along the melody, sums to 1 (12×12)",
    ),
    FeatureSpec("pitch_range", "scalar", "mgeval", "highest minus lowest pitch, semitones"),
    FeatureSpec("avg_pitch_interval", "scalar", "mgeval", "mean |Δpitch| between consecutive melody notes, semitones"),
    FeatureSpec("note_count", "scalar", "mgeval", "number of notes"),
    FeatureSpec("avg_ioi", "scalar", "mgeval", "mean time between consecutive distinct onsets, beats"),
    FeatureSpec("note_length_histogram", "histogram", "mgeval", "share of notes in each of the 12 length classes"),
    FeatureSpec(
        "note_length_transitions",
        "matrix",
        "mgeval",
        "length class → next length class along the melody, sums to 1 (12×12)",
    ),
    FeatureSpec(
        "pitch_in_scale_rate", "scalar", "muspy", "share of notes in the key's scale (best major scale if no key)"
    ),
    FeatureSpec("scale_consistency", "scalar", "muspy", "largest pitch-in-scale rate over the 24 major/minor scales"),
    FeatureSpec("pitch_entropy", "scalar", "muspy", "entropy of the pitch histogram, bits"),
    FeatureSpec("pitch_class_entropy", "scalar", "muspy", "entropy of the pitch-class histogram, bits"),
    FeatureSpec("polyphony", "scalar", "muspy", "mean number of pitches sounding over the time something sounds"),
    FeatureSpec("empty_beat_rate", "scalar", "muspy", "share of beats in which no note sounds"),
    FeatureSpec(
        "groove_consistency", "scalar", "muspy", "1 − mean Hamming distance of consecutive bars' onset patterns"
    ),
    FeatureSpec(
        "bar_repetition_rate",
        "scalar",
        "muspy",
        "share of non-empty bars whose (position, pitch) content repeats an earlier bar",
    ),
    FeatureSpec(
        "bar_self_similarity",
        "scalar",
        "muspy",
        "mean Jaccard similarity of (position, pitch) content over pairs of bars",
    ),
)
FEATURE_NAMES = tuple(f.name for f in FEATURES)
_NAN = float("nan")


def piece_features(score: Score, config: FeatureConfig = FeatureConfig()) -> dict[str, FeatureValue]:
    """Every feature in FEATURES for one score: floats, (12,) histograms and (12, 12) matrices."""
    na = score.note_array()
    na = na[na[:, 5] == 0]
    order = np.lexsort((-na[:, 0], na[:, 1]))  # by onset, highest pitch first
    pitch, start, dur = na[order, 0], na[order, 1], na[order, 2]
    tpq = score.tpq
    ts = score.time_signature
    bar_beats = ts.bar_beats if ts is not None else 4.0
    out: dict[str, FeatureValue] = {}
    out.update(_pitch_features(pitch))
    top = np.r_[True, start[1:] != start[:-1]] if len(start) else np.zeros(0, dtype=bool)
    out.update(_melody_features(pitch[top], dur[top] / tpq, dur / tpq))
    out["note_count"] = float(len(pitch))
    onsets = start[top] / tpq
    out["avg_ioi"] = float(np.diff(onsets).mean()) if len(onsets) > 1 else _NAN
    out.update(_scale_features(pitch, score))
    out["polyphony"] = _polyphony(pitch, start, start + dur)
    out["empty_beat_rate"] = _empty_beat_rate(start, start + dur, tpq)
    out.update(_bar_features(pitch, start, tpq, bar_beats, config.grid_per_beat))
    return {name: out[name] for name in FEATURE_NAMES}


def _entropy(counts: np.ndarray) -> float:
    total = counts.sum()
    if total == 0:
        return _NAN
    p = counts[counts > 0] / total
    return float(-(p * np.log2(p)).sum() + 0.0)


def _pitch_features(pitch: np.ndarray) -> dict[str, FeatureValue]:
    pcs = np.bincount(pitch % 12, minlength=12).astype(np.float64)
    used = np.unique(pitch)
    return {
        "pitch_count": float(len(used)),
        "pitch_class_count": float(np.count_nonzero(pcs)),
        "pitch_class_histogram": pcs / pcs.sum() if len(pitch) else pcs,
        "pitch_range": float(pitch.max() - pitch.min()) if len(pitch) else _NAN,
        "pitch_entropy": _entropy(np.bincount(pitch - pitch.min())) if len(pitch) else _NAN,
        "pitch_class_entropy": _entropy(pcs),
    }


def length_classes(beats: np.ndarray) -> np.ndarray:
    """Index into NOTE_LENGTH_CLASSES of the class nearest to each duration in beats (MGEval's rule)."""
    return np.abs(np.asarray(beats, dtype=np.float64)[:, None] - _LENGTHS[None, :]).argmin(axis=1)


def _transitions(seq: np.ndarray) -> np.ndarray:
    m = (
        np.bincount(seq[:-1] * 12 + seq[1:], minlength=144).astype(np.float64).reshape(12, 12)
        if len(seq) > 1
        else np.zeros((12, 12))
    )
    total = m.sum()
    return m / total if total else m


def _melody_features(mel_pitch: np.ndarray, mel_beats: np.ndarray, all_beats: np.ndarray) -> dict[str, FeatureValue]:
    classes = length_classes(all_beats)
    hist = np.bincount(classes, minlength=12).astype(np.float64)
    return {
        "pitch_class_transitions": _transitions(mel_pitch % 12),
        "avg_pitch_interval": float(np.abs(np.diff(mel_pitch)).mean()) if len(mel_pitch) > 1 else _NAN,
        "note_length_histogram": hist / hist.sum() if hist.sum() else hist,
        "note_length_transitions": _transitions(length_classes(mel_beats)),
    }


def _scale_features(pitch: np.ndarray, score: Score) -> dict[str, FeatureValue]:
    if not len(pitch):
        return {"pitch_in_scale_rate": _NAN, "scale_consistency": _NAN}
    pcs = np.bincount(pitch % 12, minlength=12)
    rates = SCALE_MASKS @ pcs / len(pitch)  # (12,) one per major scale (= its relative minor)
    key = score.key_signature
    if key is not None:
        in_key = float(rates[(key.tonic - MODE_OFFSETS.get(key.mode, 0)) % 12])
    else:
        in_key = float(rates.max())
    return {"pitch_in_scale_rate": in_key, "scale_consistency": float(rates.max())}


def _union_length(starts: np.ndarray, ends: np.ndarray) -> float:
    """Total length covered by the intervals [start, end)."""
    order = np.argsort(starts, kind="stable")
    s, e = starts[order], ends[order]
    prev = np.maximum.accumulate(np.r_[s[:1], e[:-1]])
    return float(np.clip(e - np.maximum(s, prev), 0, None).sum())


def _polyphony(pitch: np.ndarray, start: np.ndarray, end: np.ndarray) -> float:
    """muspy's polyphony: pitch-ticks sounding (overlaps of one pitch counted once) over ticks with sound."""
    if not len(pitch):
        return _NAN
    sounding = _union_length(start, end)
    if sounding == 0:
        return _NAN
    span = int(end.max()) + 1
    per_pitch = _union_length(start + pitch * span, end + pitch * span)
    return per_pitch / sounding


def _empty_beat_rate(start: np.ndarray, end: np.ndarray, tpq: int) -> float:
    """muspy's empty-beat rate: beats (0 .. last note's end) in which no note sounds."""
    if not len(start):
        return _NAN
    n_beats = int(-(-int(end.max()) // tpq))
    cover = np.zeros(n_beats + 1, dtype=np.int64)
    np.add.at(cover, start // tpq, 1)
    np.add.at(cover, (np.maximum(end, start + 1) - 1) // tpq + 1, -1)
    return float(np.count_nonzero(np.cumsum(cover)[:n_beats] == 0) / n_beats)


def _bar_features(
    pitch: np.ndarray, start: np.ndarray, tpq: int, bar_beats: float, grid: int
) -> dict[str, FeatureValue]:
    nan = {"groove_consistency": _NAN, "bar_repetition_rate": _NAN, "bar_self_similarity": _NAN}
    if not len(pitch):
        return nan
    bar_len = max(1, int(round(bar_beats * grid)))
    pos = np.rint(start * grid / tpq).astype(np.int64)
    bar, within = np.divmod(pos, bar_len)
    n_bars = int(bar.max()) + 1
    out = dict(nan)
    if n_bars > 1:
        patterns = np.zeros((n_bars, bar_len), dtype=bool)
        patterns[bar, within] = True
        hamming = np.count_nonzero(patterns[1:] != patterns[:-1])
        out["groove_consistency"] = 1.0 - hamming / (bar_len * (n_bars - 1))
    keys, col = np.unique(within * 128 + pitch, return_inverse=True)
    content = np.zeros((n_bars, len(keys)), dtype=bool)
    content[bar, col.reshape(-1)] = True
    content = content[content.any(axis=1)]
    if len(content) < 2:
        return out
    _, first, inverse = np.unique(content, axis=0, return_index=True, return_inverse=True)
    out["bar_repetition_rate"] = float(np.mean(first[inverse.reshape(-1)] < np.arange(len(content))))
    c = content.astype(np.float64)
    inter = c @ c.T  # (bars, bars) shared (position, pitch) events
    size = c.sum(axis=1)
    jaccard = inter / (size[:, None] + size[None, :] - inter)
    out["bar_self_similarity"] = float(jaccard[np.triu_indices(len(c), k=1)].mean())
    return out
