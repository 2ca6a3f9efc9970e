"""The `composer tokenize` and `composer corpus build` commands, run through the real entry point."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from composer.cli import main

SEEDS = Path(__file__).resolve().parent.parent / "midi_corpus" / "seeds"


@pytest.fixture()
def inputs(tmp_path: Path) -> Path:
    folder = tmp_path / "in"
    folder.mkdir()
    for name in ("kesh.mid", "soldiers_joy.mid"):
        shutil.copy(SEEDS / name, folder / name)
    (folder / "empty.abc").write_bytes(b"")
    return folder


def run(args: list[str]) -> int:
    try:
        main([str(a) for a in args])
    except SystemExit as e:
        return int(e.code or 0)
    return 0


def test_tokenize_prints_summary_and_lists_bad_files(inputs, tmp_path, capsys):
    out = tmp_path / "corpus"
    assert run(["tokenize", inputs, "--out", out, "-t", "performance", "-j", "1", "-q"]) == 0
    text = capsys.readouterr().out
    assert "3 files: 2 tokenized, 0 already done, 1 failed; 2 pieces" in text
    assert f"failed {(inputs / 'empty.abc').as_posix()}: empty file" in text
    assert len((out / "index.jsonl").read_text().splitlines()) == 2
    assert json.loads((out / "corpus.json").read_text())["tokenizer"] == "performance"
    assert run(["tokenize", inputs, "--out", out, "-t", "performance", "-q"]) == 0
    assert "0 tokenized, 3 already done" in capsys.readouterr().out


def test_tokenize_exits_1_when_nothing_could_be_tokenized(inputs, tmp_path, capsys):
    assert run(["tokenize", inputs / "empty.abc", "--out", tmp_path / "c", "-t", "performance", "-q"]) == 1
    captured = capsys.readouterr()
    assert "no file could be tokenized" in captured.err and "empty file" in captured.out


def test_tokenize_takes_its_shard_of_the_files(inputs, tmp_path, capsys):
    assert run(["tokenize", inputs, "--out", tmp_path / "c", "-t", "performance", "--shard", "1/3", "-q"]) == 0
    assert "1 files: 1 tokenized" in capsys.readouterr().out
    index = [json.loads(line) for line in (tmp_path / "c" / "index.jsonl").read_text().splitlines()]
    assert [Path(e["file"]).name for e in index] == ["kesh.mid"]


def test_tokenize_refuses_another_tokenizer_and_bad_options(inputs, tmp_path, capsys):
    out = tmp_path / "c"
    assert run(["tokenize", inputs / "kesh.mid", "--out", out, "-t", "performance", "-q"]) == 0
    assert run(["tokenize", inputs / "kesh.mid", "--out", out, "-t", "metric", "-q"]) == 1
    assert "another tokenizer" in capsys.readouterr().err
    assert run(["tokenize", inputs / "kesh.mid", "--out", out, "-t", "metric", "-q", "--force"]) == 0
    assert run(["tokenize", inputs, "--out", out, "--shard", "3/2"]) == 1
    assert "bad shard" in capsys.readouterr().err
    assert run(["tokenize", inputs, "--out", tmp_path / "d", "-t", "nonesuch"]) == 1
    assert "unknown tokenizer" in capsys.readouterr().err


def test_corpus_build_seeds_writes_midi(tmp_path, capsys):
    shutil.copy(SEEDS / "kesh.abc", tmp_path)
    assert run(["corpus", "build", "seeds", "--out", tmp_path]) == 0
    assert "1 written, 0 already there, 0 failed" in capsys.readouterr().out
    assert (tmp_path / "kesh.mid").read_bytes() == (SEEDS / "kesh.mid").read_bytes()
    assert run(["corpus", "build", "bach"]) == 1
    assert "--out" in capsys.readouterr().err


@pytest.mark.parametrize(("command", "target", "hint"), [
    (["compose", "--no-wav"], "composer.render.folder.compose_to_folder", "run the same command again to resume"),
    (["tokenize", SEEDS, "--out", "OUT", "-q"], "composer.corpus.tokenize_corpus", "run the same command again"),
    (["train", "DATA", "--out", "RUN"], "composer.train.run.train", "composer train --resume RUN_DIR"),
])
def test_ctrl_c_is_one_line_and_exit_130(command, target, hint, monkeypatch, capsys):
    """typer hands a KeyboardInterrupt back as a returned 130: it must not become a silent exit 0."""

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(target, interrupted)
    assert run(command) == 130
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("interrupted: partial work is saved; ") and hint in err
