"""Atomic, no-surprise file writes: temp file in the same folder, fsync, rename; never overwrite unasked."""

from __future__ import annotations

import errno
import os
import re
import tempfile
from collections.abc import Iterable
from pathlib import Path

from composer.errors import OutputError

TEMP_SUFFIX = ".tmp"  # atomic_write_bytes writes `.{name}.XXXXXXXX.tmp` beside `name`, then renames it


def atomic_write_bytes(path: str | Path, data: bytes, *, force: bool = True) -> Path:
    """Write `data` to `path` so readers see the old file or the new one, never half of one.

    With `force=False` an existing file is refused. Disk-full and permission errors become
    `OutputError` and leave any previous file intact.
    """
    path = Path(path)
    if not force and path.exists():
        raise OutputError("already exists; pass --force (force=True) to overwrite it", path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=TEMP_SUFFIX)
    except OSError as e:
        raise OutputError(f"cannot write here: {os.strerror(e.errno or errno.EIO)}", path) from None
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fchmod(f.fileno(), 0o666 & ~_umask())  # mkstemp makes 0600; give the usual mode
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as e:
        Path(tmp).unlink(missing_ok=True)
        raise OutputError(f"cannot write: {os.strerror(e.errno or errno.EIO)}", path) from None
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def atomic_write_text(path: str | Path, text: str, *, force: bool = True) -> Path:
    """`atomic_write_bytes` for UTF-8 text."""
    return atomic_write_bytes(path, text.encode("utf-8"), force=force)


def remove_stale_temps(folder: str | Path, names: Iterable[str]) -> list[Path]:
    """Delete the temp files a killed `atomic_write_bytes` left in `folder` for the files `names`
    (`.{name}.XXXXXXXX.tmp`, nothing else); returns what it removed. Call it only when no writer is
    running there, e.g. before resuming a run."""
    folder, names = Path(folder), list(names)
    if not names:
        return []
    alternatives = "|".join(map(re.escape, names))
    pattern = re.compile(rf"\.(?:{alternatives})\.[a-z0-9_]{{8}}{re.escape(TEMP_SUFFIX)}")
    removed = []
    for entry in sorted(folder.iterdir()) if folder.is_dir() else []:
        if pattern.fullmatch(entry.name) and entry.is_file() and not entry.is_symlink():
            entry.unlink(missing_ok=True)
            removed.append(entry)
    return removed


def unique_path(folder: str | Path, stem: str, suffix: str) -> Path:
    """`folder/stem{suffix}`, or `stem-2{suffix}`, `stem-3{suffix}`… whichever does not exist yet."""
    folder = Path(folder)
    candidate = folder / f"{stem}{suffix}"
    n = 2
    while candidate.exists():
        candidate = folder / f"{stem}-{n}{suffix}"
        n += 1
    return candidate


def _umask() -> int:
    """The process umask (reading it means setting it; set it straight back)."""
    mask = os.umask(0)
    os.umask(mask)
    return mask
