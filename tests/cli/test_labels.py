"""`composer compose` labels what it wrote as it sounds (mode, meter ↔ type), and warns once, in one clean line."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.test_cli import run

SEEDS = Path(__file__).resolve().parents[2] / "midi_corpus" / "seeds"
QUICK = ["--n", "2", "--bars", "2", "--no-wav", "--no-png", "--rng-seed", "1"]


def facts(page: Path) -> list[dict[str, str]]:
    """Each piece's key/meter/type as the listening page shows them."""
    sections = page.read_text().split("<section>")[1:]
    return [dict(re.findall(r"<span><b>(\w+)</b> ([^<]*)</span>", s)) for s in sections]


def test_a_bare_key_keeps_the_seed_mode_and_a_type_against_its_meter_is_ignored(tmp_path, capsys):
    assert run(["compose", SEEDS / "cooleys.abc", "--key", "G", "--type", "jig", "--out", tmp_path, *QUICK]) == 0
    err = capsys.readouterr().err
    assert err.splitlines() == ["warning: --type jig ignored: the seed is in 4/4, and a jig is in 6/8"]
    pieces = facts(tmp_path / "cooleys" / "index.html")
    assert len(pieces) == 2 and all((p["key"], p["meter"], p["type"]) == ("G dorian", "4/4", "reel") for p in pieces)
    assert "the shaded part, up to the red line, is the seed" in (tmp_path / "cooleys" / "index.html").read_text()


def test_an_explicit_other_mode_is_named_in_one_warning(tmp_path, capsys):
    assert run(["compose", SEEDS / "cooleys.abc", "--key", "G major", "--out", tmp_path, *QUICK]) == 0
    err = capsys.readouterr().err
    assert err.splitlines() == ["warning: --key G major: the seed is in E dorian; transposed to G dorian "
                                "(a seed keeps its mode)"]
    assert ".py:" not in err and "UserWarning" not in err
    assert {p["key"] for p in facts(tmp_path / "cooleys" / "index.html")} == {"G dorian"}


def test_a_type_asked_alone_is_drawn_in_its_meters_and_the_page_shows_no_seed(tmp_path, capsys):
    assert run(["compose", "--type", "reel", "--n", "4", "--bars", "2", "--no-wav", "--no-png", "--rng-seed", "3",
                "--drafts", "1", "--out", tmp_path]) == 0
    page = tmp_path / "reel" / "index.html"
    assert {p["meter"] for p in facts(page)} <= {"4/4", "2/2"} and {p["type"] for p in facts(page)} == {"reel"}
    assert "is the seed" not in page.read_text() and "no seed is included" in page.read_text()
    assert capsys.readouterr().err == ""  # the shipped model is trained: no warning


@pytest.mark.parametrize(("args", "message"), [
    (["--type", "jig", "--meter", "4/4"], "error: a jig is in 6/8, not 4/4: change --meter or --type"),
    (["--type", "slip jig", "--meter", "6/8", "--no-seed"], "error: a slip jig is in 9/8, not 6/8"),
])
def test_a_type_and_meter_that_clash_are_refused(args, message, tmp_path, capsys):
    assert run(["compose", *args, "--out", tmp_path, *QUICK]) == 1
    err = capsys.readouterr().err
    assert err.startswith(message) and len(err.splitlines()) == 1
    assert not any(tmp_path.iterdir())
