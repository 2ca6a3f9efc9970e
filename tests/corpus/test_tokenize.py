"""tokenize_corpus on a small real corpus: O'Neill files, seed MIDI, a broken and an empty file."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from composer.corpus import CorpusReport, find_files, merge_corpora, parse_shard, select_shard, tokenize_corpus
from composer.errors import InputError, OutputError
from composer.io import load
from composer.tokenize.performance import PerformanceConfig, PerformanceTokenizer

SEEDS = Path(__file__).resolve().parents[2] / "midi_corpus" / "seeds"
SMALL_ONEILLS = ("0731-0731.abc", "0626-0635.abc", "0721-0730.abc")
MIXED_ABC = """X:1
T:Good One
R:reel
M:4/4
L:1/8
K:D
|:FAdA FAdA|G2B2 B2AG:|
X:2
T:No Notes At All
M:4/4
L:1/8
K:D
|]
"""


@pytest.fixture(scope="module")
def tok() -> PerformanceTokenizer:
    return PerformanceTokenizer()


@pytest.fixture(scope="module")
def corpus_files(tmp_path_factory, oneills_paths) -> Path:
    """A folder of 3 O'Neill files (21 tunes), 2 seed MIDI files, a mixed ABC, a corrupt MIDI, an empty ABC."""
    folder = tmp_path_factory.mktemp("in")
    for p in oneills_paths:
        if p.name in SMALL_ONEILLS:
            shutil.copy(p, folder / p.name)
    sub = folder / "seeds"
    sub.mkdir()
    for name in ("kesh.mid", "drowsy_maggie.mid"):
        shutil.copy(SEEDS / name, sub / name)
    (folder / "mixed.abc").write_text(MIXED_ABC)
    (folder / "corrupt.mid").write_bytes(b"MThd\x00\x00\x00\x06\x00\x01\x00\x02\x01\xe0MTrk\xff\xff")
    (folder / "empty.abc").write_bytes(b"")
    (folder / "notes.txt").write_text("not music, not picked up")
    return folder


@pytest.fixture(scope="module")
def clean(tmp_path_factory, corpus_files, tok) -> tuple[Path, CorpusReport]:
    out = tmp_path_factory.mktemp("clean") / "corpus"
    return out, tokenize_corpus([corpus_files], tok, out, workers=2, progress=False)


def read_index(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "index.jsonl").read_text().splitlines()]


def piece_tokens(out: Path, entry: dict) -> np.ndarray:
    dtype = np.dtype("<u2") if json.loads((out / "corpus.json").read_text())["dtype"] == "uint16" else np.dtype("<u4")
    data = np.memmap(out / "shards" / entry["shard"], dtype=dtype, mode="r")
    return np.array(data[entry["offset"] : entry["offset"] + entry["length"]])


def contents(out: Path) -> dict[tuple[str, int], tuple]:
    """Each piece's tokens and metadata keyed by (file, piece): what must not depend on run order."""
    return {(e["file"], e["piece"]): (tuple(piece_tokens(out, e)), e["sha1"], e["title"], e["key"], e["meter"])
            for e in read_index(out)}


def test_finds_music_files_sorted_and_skips_others(corpus_files):
    names = [p.relative_to(corpus_files).as_posix() for p in find_files([corpus_files])]
    assert names == ["0626-0635.abc", "0721-0730.abc", "0731-0731.abc", "corrupt.mid", "empty.abc",
                     "mixed.abc", "seeds/drowsy_maggie.mid", "seeds/kesh.mid"]


def test_index_entries_are_the_shard_contents(clean, tok):
    out, report = clean
    entries = read_index(out)
    meta = json.loads((out / "corpus.json").read_text())
    assert meta == {"format_version": 1, "dtype": "uint16", "tokenizer": "performance", "vocab_size": tok.vocab_size}
    assert json.loads((out / "tokenizer.json").read_text()) == tok.to_dict()
    for path in {e["file"] for e in entries}:
        scores = load(path)
        mine = [e for e in entries if e["file"] == path]
        assert [e["piece"] for e in mine] == list(range(len(scores)))
        for e in mine:
            assert piece_tokens(out, e).tolist() == tok.encode(scores[e["piece"]])
    assert sum(e["length"] for e in entries) == report.tokens == (out / "shards" / "shard-00000.bin").stat().st_size // 2
    offsets = [e["offset"] for e in entries]
    assert offsets == list(np.cumsum([0] + [e["length"] for e in entries[:-1]]))


def test_good_files_all_present_and_bad_ones_listed(clean, corpus_files):
    out, report = clean
    files = {Path(e["file"]).name for e in read_index(out)}
    assert files == set(SMALL_ONEILLS) | {"kesh.mid", "drowsy_maggie.mid", "mixed.abc"}
    assert report.pieces == 1 + 10 + 10 + 2 + 1
    failed = {Path(f).name: reason for f, reason in report.files_failed}
    assert set(failed) == {"corrupt.mid", "empty.abc"}
    assert failed["empty.abc"] == "empty file"
    assert "MIDI" in failed["corrupt.mid"] or "midi" in failed["corrupt.mid"].lower()
    assert [(Path(f).name, "No Notes At All" in r) for f, r in report.pieces_failed] == [("mixed.abc", True)]
    kesh = next(e for e in read_index(out) if e["file"].endswith("kesh.mid"))
    assert (kesh["key"], kesh["meter"]) == ("G major", "6/8")
    on_disk = json.loads((out / "report.json").read_text())
    assert on_disk == json.loads(json.dumps(report.to_dict()))
    assert (report.files_seen, report.files_done, report.files_skipped_cached) == (8, 6, 0)


def test_warm_rerun_skips_everything_and_changes_nothing(clean, corpus_files, tok):
    out, first = clean
    before = {p.name: p.read_bytes() for p in [out / "index.jsonl", out / "shards" / "shard-00000.bin"]}
    report = tokenize_corpus([corpus_files], tok, out, workers=2, progress=False)
    assert (report.files_done, report.files_skipped_cached) == (0, 8)
    assert (report.pieces, report.tokens, report.files_failed) == (first.pieces, first.tokens, first.files_failed)
    assert {p.name: p.read_bytes() for p in [out / "index.jsonl", out / "shards" / "shard-00000.bin"]} == before
    assert "0 tokenized, 8 already done, 2 failed" in report.summary()


def test_interrupted_run_resumes_to_the_clean_result(tmp_path, clean, corpus_files, tok):
    files = find_files([corpus_files])
    out = tmp_path / "c"
    tokenize_corpus(files[:3], tok, out, workers=1, progress=False)
    report = tokenize_corpus([corpus_files], tok, out, workers=2, progress=False)
    assert (report.files_skipped_cached, report.files_done) == (3, 3)
    assert contents(out) == contents(clean[0])


def test_crash_after_shard_write_is_recovered(tmp_path, clean, corpus_files, tok):
    out = tmp_path / "c"
    shutil.copytree(clean[0], out)
    lines = (out / "files.jsonl").read_text().splitlines(keepends=True)
    lost = json.loads(lines[-1])
    assert lost["pieces"] > 0
    (out / "files.jsonl").write_text("".join(lines[:-1]) + '{"file": "torn')  # its commit line never finished
    with open(out / "shards" / "shard-00000.bin", "ab") as f:
        f.write(b"\x07\x00" * 1000)  # bytes of a file whose index lines were never written
    with open(out / "index.jsonl", "a") as f:
        f.write('{"file": "half a line')
    report = tokenize_corpus([corpus_files], tok, out, workers=1, progress=False)
    assert report.files_done == 1 and report.files_skipped_cached == 7
    assert contents(out) == contents(clean[0])
    assert (out / "shards" / "shard-00000.bin").stat().st_size == 2 * report.tokens


def test_shards_roll_over_without_splitting_pieces(tmp_path, corpus_files, tok):
    out = tmp_path / "c"
    tokenize_corpus([corpus_files / "0626-0635.abc"], tok, out, workers=1, progress=False, shard_tokens=600)
    entries = read_index(out)
    assert len({e["shard"] for e in entries}) > 3
    for e in entries:
        assert e["offset"] + e["length"] <= max(600, e["length"])
    scores = load(corpus_files / "0626-0635.abc")
    assert [piece_tokens(out, e).tolist() for e in entries] == [tok.encode(s) for s in scores]


def test_shard_selection_partitions_the_files(corpus_files, tmp_path, tok):
    files = find_files([corpus_files])
    a, b = select_shard(files, (0, 2)), select_shard(files, (1, 2))
    assert a == files[0::2] and b == files[1::2] and not set(a) & set(b)
    assert parse_shard("1/2") == (1, 2)
    for bad in ("2/2", "x", "1/0"):
        with pytest.raises(InputError):
            parse_shard(bad)
    report = tokenize_corpus([corpus_files], tok, tmp_path / "s1", workers=1, progress=False, shard=(1, 2))
    assert report.files_seen == 4
    assert {Path(e["file"]) for e in read_index(tmp_path / "s1")} <= set(b)


def test_another_tokenizer_is_refused_unless_forced(clean, tmp_path, corpus_files):
    out = tmp_path / "c"
    shutil.copytree(clean[0], out)
    other = PerformanceTokenizer(PerformanceConfig(velocity_bins=16))
    with pytest.raises(OutputError, match="another tokenizer"):
        tokenize_corpus([corpus_files / "0731-0731.abc"], other, out, workers=1, progress=False)
    report = tokenize_corpus([corpus_files / "0731-0731.abc"], other, out, workers=1, progress=False, force=True)
    assert (report.files_done, report.pieces) == (1, 1)
    assert len(read_index(out)) == 1


def test_duplicate_files_are_tokenized_once(tmp_path, corpus_files, tok):
    (tmp_path / "in").mkdir()
    shutil.copy(corpus_files / "0731-0731.abc", tmp_path / "in" / "a.abc")
    shutil.copy(corpus_files / "0731-0731.abc", tmp_path / "in" / "b.abc")
    report = tokenize_corpus([tmp_path / "in"], tok, tmp_path / "c", workers=1, progress=False)
    assert (report.files_done, report.files_duplicate, report.pieces) == (1, 1, 1)
    again = tokenize_corpus([tmp_path / "in"], tok, tmp_path / "c", workers=1, progress=False)
    assert (again.files_skipped_cached, again.files_duplicate, again.pieces) == (1, 1, 1)


def test_missing_input_is_an_input_error(tmp_path, tok):
    with pytest.raises(InputError, match="no such file"):
        tokenize_corpus([tmp_path / "nope"], tok, tmp_path / "c", progress=False)


def test_shards_from_two_machines_merge_into_the_clean_corpus(tmp_path, clean, corpus_files, tok):
    parts = [tmp_path / "p0", tmp_path / "p1"]
    for i, part in enumerate(parts):
        tokenize_corpus([corpus_files], tok, part, workers=1, progress=False, shard=(i, 2))
    merged = merge_corpora(parts, tmp_path / "all")
    assert contents(merged) == contents(clean[0])
    report = tokenize_corpus([corpus_files], tok, merged, workers=1, progress=False)
    assert (report.files_done, report.files_skipped_cached, report.pieces) == (0, 8, clean[1].pieces)


@pytest.mark.slow
def test_whole_oneills_tokenizes_and_warm_run_is_100x_faster(tmp_path, oneills_paths):
    from composer.tokenize import Tokenizer

    tok = Tokenizer.create("metric")
    cold = tokenize_corpus(oneills_paths, tok, tmp_path / "c", workers=2, progress=False)
    warm = tokenize_corpus(oneills_paths, tok, tmp_path / "c", workers=2, progress=False)
    assert cold.files_failed == () and cold.pieces >= 0.99 * 2009
    assert (warm.files_skipped_cached, warm.pieces, warm.tokens) == (39, cold.pieces, cold.tokens)
    assert warm.seconds * 100 <= cold.seconds


def test_a_hundred_midi_files_with_five_percent_corrupt(tmp_path, oneills_paths, tok):
    """95 real tunes as MIDI and 5 files broken five ways: every good file's piece is indexed, every bad
    file is reported with its problem, and nothing else is lost."""
    import random

    from composer.io import save_midi

    folder = tmp_path / "midi"
    (folder / "seeds").mkdir(parents=True)
    for seed in SEEDS.glob("*.mid"):
        shutil.copy(seed, folder / "seeds" / seed.name)
    tunes = [s for p in oneills_paths if p.name in ("0001-0050.abc", "0301-0350.abc") for s in load(p)]
    seeds = sorted(SEEDS.glob("*.mid"))
    assert len(tunes) == 100 and len(seeds) == 8
    for i, tune in enumerate(tunes[: 100 - len(seeds) - 5]):
        save_midi(tune, folder / f"oneills-{i:03d}.mid")
    spare = []
    for i, tune in enumerate(tunes[-5:]):
        save_midi(tune, tmp_path / f"spare-{i}.mid")
        spare.append((tmp_path / f"spare-{i}.mid").read_bytes())
    rng = random.Random(5)
    bad = {  # name: (bytes, what the reason must say)
        "truncated.mid": (spare[0][: len(spare[0]) // 2], "truncated MIDI file: track"),
        "random-bytes.mid": (rng.randbytes(777), "not a MIDI file"),
        "zero-length.mid": (b"", "empty file"),
        "header-then-garbage.mid": (spare[1][:14] + rng.randbytes(300), "malformed MIDI"),
        "not-midi.mid": ((SEEDS / "kesh.abc").read_bytes(), "not a MIDI file"),
    }
    for name, (data, _) in bad.items():
        (folder / name).write_bytes(data)
    good_names = {p.name for p in folder.rglob("*.mid")} - set(bad)
    assert len(good_names) == 95 and len(find_files([folder])) == 100

    report = tokenize_corpus([folder], tok, tmp_path / "corpus", workers=2, progress=False)
    entries = read_index(tmp_path / "corpus")
    indexed = [Path(e["file"]).name for e in entries]
    assert sorted(indexed) == sorted(good_names)  # one piece per good file, none lost, none twice
    failed = {Path(f).name: reason for f, reason in report.files_failed}
    assert set(failed) == set(bad)
    for name, (_, problem) in bad.items():
        assert problem in failed[name], (name, failed[name])
    assert (report.files_seen, report.files_done, report.pieces, report.pieces_failed) == (100, 95, 95, ())
    assert report.tokens == sum(e["length"] for e in entries) and all(e["length"] > 20 for e in entries)


def _default_sigint() -> None:
    """In the child before exec: a shell's background job ignores SIGINT, and Python would inherit that."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_DFL)


def test_ctrl_c_exits_cleanly_and_the_rerun_resumes(tmp_path, oneills_paths):
    """Ctrl-C reaches the whole process group (main and pool workers): one line, exit 130, no traceback;
    the files committed before it are kept, and running the command again finishes the rest."""
    import os
    import signal
    import subprocess
    import sys
    import time

    root = Path(__file__).resolve().parents[2]
    src = tmp_path / "in"
    src.mkdir()
    for p in oneills_paths[10:22]:  # dance tunes: about a second of parsing per file
        shutil.copy(p, src / p.name)
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "composer", "tokenize", str(src), "--out", str(out), "--workers", "2", "-q"]
    proc = subprocess.Popen(cmd, cwd=root, env={**os.environ, "PYTHONPATH": str(root)}, start_new_session=True,
                            preexec_fn=_default_sigint, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    committed = out / "files.jsonl"
    deadline = time.monotonic() + 120
    while not (committed.exists() and len(committed.read_text().splitlines()) >= 2):
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGINT)  # what a terminal's Ctrl-C does
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "Traceback" not in err and "KeyboardInterrupt" not in err, err
    assert err.strip().splitlines() == ["interrupted: partial work is saved; run the same command again to resume."]
    done_before = len(committed.read_text().splitlines())
    assert 2 <= done_before < 12
    from composer.tokenize import Tokenizer

    report = tokenize_corpus([src], Tokenizer.create("metric", form=True), out, workers=1, progress=False)  # the CLI's
    assert (report.files_skipped_cached, report.files_done, report.files_failed) == (done_before, 12 - done_before, ())
    tunes = sum(len(load(p)) for p in sorted(src.iterdir()))
    entries = read_index(out)
    assert len(entries) == len({(e["file"], e["piece"]) for e in entries}) == tunes


def test_disk_full_mid_run_is_one_clear_error_and_the_rerun_resumes(tmp_path, clean, corpus_files, tok,
                                                                     monkeypatch, capsys):
    """ENOSPC while a shard is written: `error: OUT: cannot write the corpus: No space left on device …`,
    exit 1, no traceback; the files committed before are kept and the next run ends as a clean one."""
    import errno

    from composer.cli import main
    from composer.corpus.store import ShardWriter

    real_open_shard, writes = ShardWriter._open_shard, []

    class FullDisk:
        def __init__(self, f):
            self.f = f

        def write(self, data: bytes) -> int:
            writes.append(len(data))
            if len(writes) > 12:  # mid-way through the second file
                self.f.write(data[: len(data) // 2])  # half of it fits
                raise OSError(errno.ENOSPC, "No space left on device")
            return self.f.write(data)

        def __getattr__(self, name):
            return getattr(self.f, name)

    monkeypatch.setattr(ShardWriter, "_open_shard", lambda self: FullDisk(real_open_shard(self)))
    out = tmp_path / "c"
    with pytest.raises(SystemExit) as exit_:
        main(["tokenize", str(corpus_files), "--out", str(out), "--tokenizer", "performance", "--workers", "1", "-q"])
    err = capsys.readouterr().err
    assert exit_.value.code == 1 and err.count("\n") == 1 and "Traceback" not in err
    assert f"error: {out}: cannot write the corpus: No space left on device" in err and "run the same command" in err
    monkeypatch.setattr(ShardWriter, "_open_shard", real_open_shard)
    report = tokenize_corpus([corpus_files], tok, out, workers=1, progress=False)
    assert report.files_skipped_cached >= 1 and contents(out) == contents(clean[0])


def test_a_piece_over_the_token_limit_is_skipped_with_its_count(tmp_path, monkeypatch):
    """Tokens per piece are a resource limit too: the seed tunes under a 400-token cap."""
    import dataclasses

    from composer.corpus import tokenize as corpus_tokenize
    from composer.tokenize import Tokenizer

    seeds = sorted(SEEDS.glob("*.abc"))
    tok = Tokenizer.create("metric")
    lengths = {p.name: len(tok.encode(load(p)[0])) for p in seeds}
    monkeypatch.setattr(corpus_tokenize, "DEFAULT_LIMITS", dataclasses.replace(corpus_tokenize.DEFAULT_LIMITS, max_piece_tokens=400))
    report = tokenize_corpus(seeds, tok, tmp_path / "out", workers=1, progress=False)
    long = sorted(n for n, k in lengths.items() if k > 400)
    assert long and len(long) < len(seeds) and report.pieces == len(seeds) - len(long)
    failed = {Path(f).name: why for f, why in report.files_failed}
    assert sorted(failed) == long
    assert all(f"{lengths[n]:,} tokens, over the limit of 400 per piece" in failed[n] for n in long)
