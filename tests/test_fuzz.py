"""Fuzzing the readers: every input loads or raises a ComposerError, quickly (docs/limits.md)."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.fuzz_inputs import make_case, midi_file, midi_seeds, oneills_tunes, run_case, vlq

MAX_SECONDS = 10.0  # a hang detector, not a timing claim (machines here are noisy); bench figures report the real max


@pytest.fixture(scope="module")
def seeds(tmp_path_factory) -> tuple[list[bytes], list[str]]:
    folder = tmp_path_factory.mktemp("seeds")
    return midi_seeds(folder, tunes=8), oneills_tunes(30)


def _run_family(family: str, count: int, seeds, tmp_path: Path) -> dict[str, int]:
    midi, tunes = seeds
    outcomes: dict[str, int] = {}
    for i in range(count):
        data, suffix = make_case(family, i, midi, tunes)
        out = run_case(data, suffix, tmp_path)
        assert not out.kind.startswith("CRASH"), (family, i, out)
        assert out.seconds < MAX_SECONDS, (family, i, out.seconds)
        outcomes[out.kind] = outcomes.get(out.kind, 0) + 1
    return outcomes


def test_mutated_real_midi(seeds, tmp_path: Path) -> None:
    outcomes = _run_family("midi_mut", 250, seeds, tmp_path)
    assert outcomes.get("loaded", 0) > 0 and outcomes.get("InputError", 0) > 0, outcomes


def test_hostile_midi_constructs(seeds, tmp_path: Path) -> None:
    outcomes = _run_family("midi_hostile", 100, seeds, tmp_path)
    assert outcomes.get("LimitError", 0) > 0, outcomes


def test_mutated_abc(seeds, tmp_path: Path) -> None:
    outcomes = _run_family("abc_mut", 150, seeds, tmp_path)
    assert outcomes.get("loaded", 0) > 0 and outcomes.get("InputError", 0) > 0, outcomes


def test_random_bytes_as_abc(seeds, tmp_path: Path) -> None:
    _run_family("abc_random", 50, seeds, tmp_path)


def test_seeds_load_back_exactly(seeds, tmp_path: Path) -> None:
    midi, _ = seeds
    assert run_case(midi[0], ".mid", tmp_path).kind == "loaded"


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    events=st.lists(
        st.tuples(st.integers(0, 0x0FFFFFFF), st.binary(min_size=1, max_size=4)), min_size=0, max_size=40
    ),
    division=st.integers(0, 0xFFFF),
    ntracks=st.integers(0, 0xFFFF),
)
def test_hypothesis_midi_events(tmp_path: Path, events, division: int, ntracks: int) -> None:
    body = b"".join(vlq(d) + e for d, e in events) + b"\x00\xff\x2f\x00"
    out = run_case(midi_file([body], division=division, ntracks=ntracks), ".mid", tmp_path)
    assert not out.kind.startswith("CRASH"), out
    assert out.seconds < MAX_SECONDS


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=st.text(max_size=300), meter=st.text(max_size=6), length=st.text(max_size=6))
def test_hypothesis_abc_text(tmp_path: Path, body: str, meter: str, length: str) -> None:
    text = f"X:1\nT:h\nM:{meter}\nL:{length}\nK:D\n{body}\n"
    out = run_case(text.encode("utf-8", errors="replace"), ".abc", tmp_path)
    assert not out.kind.startswith("CRASH"), out
    assert out.seconds < MAX_SECONDS


@pytest.mark.fuzz_long
def test_long_fuzz(seeds, tmp_path: Path) -> None:
    for family, count in (("midi_mut", 4000), ("midi_hostile", 2000), ("abc_mut", 3000), ("abc_random", 1000)):
        _run_family(family, count, seeds, tmp_path)


def test_case_generation_is_reproducible(seeds) -> None:
    midi, tunes = seeds
    assert make_case("abc_mut", 5, midi, tunes) == make_case("abc_mut", 5, midi, tunes)
    assert random.Random("x").random() == random.Random("x").random()
