"""composer.files: atomic writes under disk-full and permission errors, refusal without force, stale temps.

Tests run as root in CI, where chmod stops nothing, so the failing system calls are monkeypatched.
"""

from __future__ import annotations

import errno
import os
import stat
import tempfile
from pathlib import Path

import pytest
import torch

from composer.cli import main
from composer.corpus.data import DataConfig
from composer.errors import OutputError
from composer.files import atomic_write_bytes, atomic_write_text, remove_stale_temps
from composer.model.network import Model, ModelConfig
from composer.train.checkpoint import load_checkpoint, save_checkpoint
from composer.train.config import TrainConfig
from tests.corpus_helpers import small_tokenizer


def _oserror(code: int) -> OSError:
    return OSError(code, os.strerror(code))


class _FullDisk:
    """A file object whose write gets half the data out, then fails as a full disk does."""

    def __init__(self, f) -> None:
        self.f = f

    def write(self, data: bytes) -> int:
        self.f.write(data[: len(data) // 2])
        self.f.flush()
        raise _oserror(errno.ENOSPC)

    def __getattr__(self, name: str):
        return getattr(self.f, name)

    def __enter__(self) -> _FullDisk:
        return self

    def __exit__(self, *exc) -> None:
        self.f.close()


def _fail(monkeypatch: pytest.MonkeyPatch, where: str, code: int) -> None:
    """Make the system call `where` of an atomic write fail with errno `code`."""
    if where == "write":
        real_fdopen = os.fdopen
        monkeypatch.setattr(os, "fdopen", lambda *a, **k: _FullDisk(real_fdopen(*a, **k)))
        return

    def fail(*args, **kwargs):
        raise _oserror(code)

    monkeypatch.setattr(tempfile if where == "mkstemp" else os, where, fail)


FAILURES = [("write", errno.ENOSPC, "No space left on device"),
            ("fsync", errno.ENOSPC, "No space left on device"),
            ("fsync", errno.EDQUOT, os.strerror(errno.EDQUOT)),  # "Disk quota exceeded" on Linux
            ("mkstemp", errno.EACCES, "Permission denied"),
            ("fchmod", errno.EPERM, "Operation not permitted"),
            ("replace", errno.EPERM, "Operation not permitted"),
            ("replace", errno.EROFS, "Read-only file system")]


@pytest.mark.parametrize(("where", "code", "message"), FAILURES, ids=[f"{w}-{errno.errorcode[c]}" for w, c, _ in FAILURES])
def test_a_failed_write_is_an_output_error_and_keeps_the_old_file(tmp_path, monkeypatch, where, code, message):
    target = tmp_path / "last.pt"
    target.write_bytes(b"the old checkpoint")
    _fail(monkeypatch, where, code)
    with pytest.raises(OutputError) as info:
        atomic_write_bytes(target, b"the new checkpoint, " * 1000)
    monkeypatch.undo()
    assert info.value.path == str(target) and str(info.value).startswith(f"{target}: ")
    assert message in info.value.problem and "cannot write" in info.value.problem
    assert target.read_bytes() == b"the old checkpoint"
    assert sorted(tmp_path.iterdir()) == [target]  # no temp file left behind


def test_a_failed_first_write_leaves_nothing(tmp_path, monkeypatch):
    _fail(monkeypatch, "fsync", errno.ENOSPC)
    with pytest.raises(OutputError, match="No space left on device"):
        atomic_write_text(tmp_path / "sub" / "metrics.jsonl", "{}\n")
    assert list((tmp_path / "sub").iterdir()) == []


def test_ctrl_c_mid_write_removes_the_temp_file_and_propagates(tmp_path, monkeypatch):
    target = tmp_path / "best.pt"
    target.write_bytes(b"old")

    def interrupted(fd):
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "fsync", interrupted)
    with pytest.raises(KeyboardInterrupt):
        atomic_write_bytes(target, b"new")
    assert target.read_bytes() == b"old" and sorted(tmp_path.iterdir()) == [target]


def test_force_false_refuses_an_existing_file_and_writes_a_new_one(tmp_path):
    target = tmp_path / "out.mid"
    target.write_bytes(b"mine")
    with pytest.raises(OutputError, match="already exists; pass --force") as info:
        atomic_write_bytes(target, b"theirs", force=False)
    assert info.value.path == str(target) and target.read_bytes() == b"mine"
    assert atomic_write_bytes(tmp_path / "new.mid", b"fresh", force=False).read_bytes() == b"fresh"
    assert atomic_write_bytes(target, b"theirs").read_bytes() == b"theirs"  # force is the default
    assert sorted(p.name for p in tmp_path.iterdir()) == ["new.mid", "out.mid"]


def test_written_files_get_the_usual_mode_not_mkstemps_0600(tmp_path):
    before = os.umask(0o022)
    try:
        path = atomic_write_bytes(tmp_path / "a.png", b"x")
    finally:
        os.umask(before)
    assert stat.S_IMODE(path.stat().st_mode) == 0o644


def test_remove_stale_temps_takes_only_the_writers_temp_files_of_the_named_files(tmp_path):
    stale = [".last.pt.a1b2c3d4.tmp", ".best.pt.zz_9y8x7.tmp"]
    kept = ["last.pt", ".last.pt.tmp", ".last.pt.a1b2.tmp", ".notes.txt.a1b2c3d4.tmp", "x.last.pt.a1b2c3d4.tmp",
            ".last.pt.a1b2c3d4.tmp.bak"]
    for name in stale + kept:
        (tmp_path / name).write_bytes(b"")
    (tmp_path / ".loss.png.abcdefgh.tmp").mkdir()  # not a file: left alone
    removed = remove_stale_temps(tmp_path, ["last.pt", "best.pt", "loss.png"])
    assert sorted(p.name for p in removed) == sorted(stale)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(kept + [".loss.png.abcdefgh.tmp"])
    assert remove_stale_temps(tmp_path, []) == [] and remove_stale_temps(tmp_path / "nope", ["last.pt"]) == []


# --- a real caller: checkpoints, and what the CLI prints ---------------------------------------------
def _save(path: Path, step: int) -> Path:
    tok = small_tokenizer()
    torch.manual_seed(step)
    config = ModelConfig(vocab_size=tok.vocab_size, layers=1, emb=8, hidden=16)
    return save_checkpoint(path, model=Model(config), model_config=config, train_config=TrainConfig(),
                           data_config=DataConfig(), tokenizer=tok, step=step)


def test_a_full_disk_while_saving_a_checkpoint_leaves_the_old_one_loadable(tmp_path, monkeypatch):
    path = _save(tmp_path / "last.pt", step=1)
    _fail(monkeypatch, "write", errno.ENOSPC)
    with pytest.raises(OutputError, match="No space left on device") as info:
        _save(path, step=2)
    monkeypatch.undo()
    assert info.value.path == str(path)
    assert load_checkpoint(path).step == 1 and sorted(tmp_path.iterdir()) == [path]


def test_the_cli_turns_a_full_disk_into_one_error_line_and_exit_1(tmp_path, monkeypatch, capsys):
    src = _save(tmp_path / "run" / "best.pt", step=3)
    dst = tmp_path / "model.pt"
    _fail(monkeypatch, "fsync", errno.ENOSPC)
    with pytest.raises(SystemExit) as info:
        main(["export", str(src), str(dst)])
    monkeypatch.undo()
    assert info.value.code == 1
    captured = capsys.readouterr()
    assert captured.err.splitlines() == [f"error: {dst}: cannot write: No space left on device"]
    assert captured.out == "" and not dst.exists() and sorted(tmp_path.iterdir()) == [tmp_path / "run"]
