"""Shared fixtures: music21's corpus paths, the bundled seeds, and switches for the long tests."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SEEDS = ROOT / "midi_corpus" / "seeds"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--slow", action="store_true", help="run tests over whole corpora")
    parser.addoption("--fuzz-long", action="store_true", help="run the long fuzz mode (≥ 10,000 cases)")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if "slow" in item.keywords and not config.getoption("--slow"):
            item.add_marker(pytest.mark.skip(reason="whole-corpus test; run with --slow"))
        if "fuzz_long" in item.keywords and not config.getoption("--fuzz-long"):
            item.add_marker(pytest.mark.skip(reason="long fuzz; run with --fuzz-long"))


@pytest.fixture(autouse=True, scope="session")
def _one_torch_thread():
    """Tests use one torch thread: tiny models run faster so, and results do not depend on the core count."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def oneills_paths() -> list[Path]:
    """The 39 ABC files of O'Neill's Music of Ireland in music21's shipped corpus."""
    from music21 import corpus

    paths = sorted(Path(p) for p in corpus.getPaths(fileExtensions=("abc",)) if "oneills1850" in str(p))
    assert len(paths) == 39, f"music21's corpus should ship 39 O'Neill files, found {len(paths)}"
    return paths


def _load_file(path: Path) -> list:
    from composer.io import load

    return load(path)


@pytest.fixture(scope="session")
def oneills_scores(oneills_paths: list[Path]) -> list:
    """Every tune of O'Neill's Music of Ireland as a composer.Score, parsed once per test session."""
    import os
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(max_workers=min(4, os.cpu_count() or 1)) as pool:
        per_file = list(pool.map(_load_file, oneills_paths))
    return [score for scores in per_file for score in scores]
