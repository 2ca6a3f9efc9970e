"""A piece on the metric scheme's position grid: what encode lays out as ids and what decode reads back."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Layout:
    """A piece on the position grid: what encode lays out as ids and what decode reads back."""

    meter: str
    key: str
    tune_type: str
    tempo: int
    starts: np.ndarray  # (B,) position of each bar line
    meters: list[tuple[int, str]]  # (bar ≥ 1, METER value) where the meter changes
    keys: list[tuple[int, str]]  # (bar ≥ 1, KEY value) where the key changes
    notes: np.ndarray  # (N, 5) position, program, pitch, duration, velocity
    origin: int = 0  # position of tick 0 in bar 0: bar 0's length minus the pickup, or 0


def sorted_unique(g: np.ndarray) -> np.ndarray:
    """Grid notes in token order (position, program, pitch, duration, velocity); unisons (two voices on
    one pitch at one position) are all kept."""
    return g[np.lexsort((g[:, 4], g[:, 3], g[:, 2], g[:, 1], g[:, 0]))]


def changes(changes: list[tuple[int, str]], first: str) -> list[tuple[int, str]]:
    """Changes with one per bar (the last) and none that repeats the value in force before it."""
    out = [(0, first)]
    for bar, v in changes:
        if len(out) > 1 and out[-1][0] == bar:
            out.pop()
        if v != out[-1][1]:
            out.append((bar, v))
    return out[1:]
