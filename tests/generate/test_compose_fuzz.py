"""Composing with the shipped model under random settings, then writing every file: a ComposerError at most.

The studio's continue step once failed on one random seed in about 200 (a sampled `|1` after a first ending's
`:|` left a bar unheard and ABC out raised ValueError); this samples the settings a user can reach.
"""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from composer.errors import ComposerError
from composer.generate.composer import Composer
from composer.render import render_batch
from composer.render.write import render

SEEDS = sorted((Path(__file__).resolve().parents[2] / "midi_corpus" / "seeds").glob("*.abc"))
TYPES = ("reel", "jig", "hornpipe", "polka", None)
KEYS = (None, "D major", "G major", "A dorian", "E minor")


@pytest.fixture(scope="module")
def shipped() -> Composer:
    return Composer.load(None, device="cpu")


def random_request(rnd: random.Random) -> tuple[Path | None, dict]:
    """A seed (or none) and compose arguments as the CLI and the studio can ask for them."""
    seed = rnd.choice([*SEEDS, None, None])
    args: dict = {"n": rnd.choice([1, 2, 4]), "rng_seed": rnd.randrange(10**6)}
    mode = rnd.choice(["bars", "whole", "form", "parts"])
    if mode == "bars":
        args["bars"] = rnd.choice([1, 2, 4, 8, 16])
    elif mode == "form":
        args["form"] = rnd.choice(["AABB", "ABAB", "AABBCC", "AB", "ABC"])
    elif mode == "parts":
        args["parts"] = rnd.choice([1, 2, 3])
    if seed is None:
        args["tune_type"], args["key"] = rnd.choice(TYPES), rnd.choice(KEYS)
    if rnd.random() < 0.3:
        args["temperature"] = rnd.choice([0.7, 1.2, 1.5])
    return seed, args


def compose_and_write(composer: Composer, seed: Path | None, args: dict, folder: Path) -> None:
    """Compose, then write .mid .abc (and the page) and .musicxml of each piece; every written bar is heard."""
    scores = composer.compose(seed, **args)
    for score in scores:
        assert score.form is None or score.form.plays_every_bar, (seed, args)
    render_batch(scores, folder, wav=False, png=False, html=True)
    for i, score in enumerate(scores):
        render(score, folder / f"piece-{i}.musicxml")


def test_the_continuation_that_failed_in_ci_is_written(shipped: Composer, tmp_path: Path) -> None:
    """The studio's steps (its default temperature 0.9): kesh, 4 bars, random seed 65; then variation 1 continued,
    4 bars, random seed 1065."""
    kesh = next(p for p in SEEDS if p.stem == "kesh")
    first = shipped.compose(kesh, n=4, bars=4, rng_seed=65, temperature=0.9)
    (piece, *_) = render_batch(first, tmp_path / "first", wav=False, png=False, html=False)
    compose_and_write(shipped, piece.midi, {"n": 4, "bars": 4, "rng_seed": 1065, "temperature": 0.9}, tmp_path / "onward")


def compose_and_write_many(composer: Composer, rng_seed: int, trials: int, folder: Path) -> None:
    """`trials` random requests, each composed and written (a ComposerError is a fine answer to one)."""
    rnd = random.Random(rng_seed)
    for trial in range(trials):
        seed, args = random_request(rnd)
        try:
            compose_and_write(composer, seed, args, folder / str(trial))
        except ComposerError:
            pass


def test_random_settings_compose_and_write(shipped: Composer, tmp_path: Path) -> None:
    compose_and_write_many(shipped, 11, 6, tmp_path)


@pytest.mark.fuzz_long
def test_long_random_settings_compose_and_write(shipped: Composer, tmp_path: Path) -> None:
    compose_and_write_many(shipped, 12, 150, tmp_path)
