"""The Python examples in README.md and docs/api.md run as written, from a fresh folder, twice in a row."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def python_blocks(path: Path) -> list[str]:
    return re.findall(r"```python\n(.*?)```", path.read_text(), flags=re.S)


@pytest.mark.parametrize("doc", ["README.md", "docs/api.md"])
def test_python_examples_run(doc: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocks = python_blocks(ROOT / doc)
    assert blocks, f"{doc} has no python example"
    for name in ("midi_corpus", "checkpoints"):
        (tmp_path / name).symlink_to(ROOT / name)
    monkeypatch.chdir(tmp_path)
    for _ in range(2):  # the second time finds the first one's outputs
        for block in blocks:
            exec(compile(block, doc, "exec"), {"__name__": "__doc_example__"})
    if doc == "docs/api.md":
        made = {p.relative_to(tmp_path).as_posix() for p in (tmp_path / "out").rglob("*") if p.is_file()}
        assert {"out/variation.mid", "out/variation.png", "out/jig.mid", "out/eval/report.json"} <= made
        assert os.path.getsize(tmp_path / "out" / "variation.png") > 10_000


def test_readme_render_line_runs_twice(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """README's `composer render …` line, after a `composer compose`, runs again without refusing."""
    from tests.test_cli import run

    [line] = re.findall(r"^(composer render [^#\n]*)", (ROOT / "README.md").read_text(), flags=re.M)
    monkeypatch.chdir(tmp_path)

    assert run(["compose", "--n", "1", "--bars", "2", "--no-wav", "--no-png", "--no-html", "--rng-seed", "1"]) == 0
    for _ in range(2):
        assert run(line.split()[1:]) == 0
    assert (tmp_path / "compositions" / "kesh" / "variation-01.musicxml").stat().st_size > 1000
