"""The studio's one door into composer: the shared model, seed checks, the compose queue, the record on disk.

Every name the studio takes from the rest of composer is imported in this module and nowhere else
(heavy ones inside functions, so the seed-checking child process never loads torch).
"""

from __future__ import annotations

import concurrent.futures as cf
import dataclasses
import json
import multiprocessing
import random
import re
import shutil
import tempfile
import threading
import time
import uuid
import warnings
from pathlib import Path
from typing import Any

from composer.errors import ComposerError
from composer.io import SUFFIXES as READABLE_SUFFIXES
from composer.io import ReadLimits, load
from composer.render.abc import abc_tune
from composer.studio.form import BadRequest, Labels, Settings, one_line
from composer.studio.job import Job, Watched

LOG_NAME = ".studio-log.jsonl"  # one line per studio run, beside the run folders (hidden: never served)
SEED_CHECK_TIMEOUT_S = 30.0  # a last guard; ReadLimits' own time limit fires first in the child
MAX_KEPT_JOBS = 200
FLUIDSYNTH_HINT = "fluidsynth is not installed, so the audio is plain sine waves: apt-get install fluidsynth"


class StudioStartError(ComposerError):
    """The studio cannot start (port taken, folder unwritable); the CLI prints it as one line."""


def generation() -> Any:
    """composer's generation module (Composer, compose_to_folder, DEFAULT_SEED), imported on first use: the
    seed-checking child process imports this module and must not load torch."""
    from composer.render import folder  # lazy: the seed checker's child process must not load torch

    return folder


def bundled_seeds() -> dict[str, Path]:
    """The ABC seeds shipped in midi_corpus/seeds, by file stem."""
    return {p.stem: p for p in sorted(generation().DEFAULT_SEED.parent.glob("*.abc"))}


def default_seed_name() -> str:
    """The bundled seed `composer compose` starts from when given none (The Kesh)."""
    return generation().DEFAULT_SEED.stem


def score_abc(midi: Path) -> str:
    """ABC text of a written variation for notation in the page: its .abc file (repeats kept), or made from the .mid."""
    abc = midi.with_suffix(".abc")
    if abc.is_file():
        return abc.read_text(encoding="utf-8")
    score = load(midi)[0]
    return abc_tune(score, score.title or midi.stem)


def describe_seed(path: str, limits: ReadLimits) -> dict[str, Any]:
    """Read a seed file under `limits` (run in the checker process): its first piece's facts, or the error."""
    try:
        score = load(path, limits)[0]
    except ComposerError as e:
        return {"error": e.problem}
    except Exception as e:  # noqa: BLE001 - a reader bug must become one line, never a dead server
        return {"error": f"cannot read this file ({type(e).__name__})", "crash": repr(e)[:300]}
    ts, ks = score.time_signature, score.key_signature
    return {"title": score.title or Path(path).stem, "notes": len(score.notes),
            "seconds": round(score.duration_seconds, 1), "key": ks.name if ks else None,
            "meter": f"{ts.numerator}/{ts.denominator}" if ts else None, "type": score.tune_type}


class SeedChecker:
    """Reads uploaded seeds in one child process: ReadLimits' time guard (SIGALRM) works only in a main
    thread, and a reader that hangs or dies takes the child with it, never the server."""

    def __init__(self, limits: ReadLimits) -> None:
        self.limits = limits
        self._lock = threading.Lock()
        self._pool = self._start()

    def _start(self) -> cf.ProcessPoolExecutor:
        """A fresh child (spawned: forking a process that holds torch's threads can hang), warmed on a seed."""
        pool = cf.ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn"))
        warm = next(iter(bundled_seeds().values()), None)
        if warm is not None:
            pool.submit(describe_seed, str(warm), self.limits)
        return pool

    def check(self, path: Path) -> dict[str, Any]:
        """The seed's facts; BadRequest with one line when it cannot be read within the limits."""
        with self._lock:
            try:
                facts = self._pool.submit(describe_seed, str(path), self.limits).result(timeout=SEED_CHECK_TIMEOUT_S)
            except (cf.TimeoutError, cf.process.BrokenProcessPool) as e:
                for process in list((getattr(self._pool, "_processes", None) or {}).values()):
                    process.kill()
                self._pool.shutdown(wait=False, cancel_futures=True)
                self._pool = self._start()
                facts = {"error": f"reading it took over {SEED_CHECK_TIMEOUT_S:g} s" if isinstance(e, cf.TimeoutError)
                         else "the reader process stopped on it (a script that builds the studio needs an "
                              "`if __name__ == '__main__':` guard, as multiprocessing does)"}
        if "error" in facts:
            raise BadRequest(f"{path.name}: {facts['error']}")
        return facts

    def close(self) -> None:
        """Stop the child process."""
        self._pool.shutdown(wait=False, cancel_futures=True)


class Studio:
    """One Composer loaded once, one worker thread composing queued jobs in turn, and the compositions folder."""

    def __init__(self, checkpoint: str | Path | None, compositions: str | Path, limits: ReadLimits | None = None,
                 max_queue: int = 64, wav: bool = True, png: bool = True) -> None:
        self.composer = generation().Composer.load(checkpoint)
        self.root = Path(compositions).resolve()
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise StudioStartError(f"cannot write runs here ({e.strerror}); pass --out another folder", self.root) from None
        self.limits = limits or ReadLimits()
        self.max_queue, self.wav, self.png = max_queue, wav, png
        self.checker = SeedChecker(self.limits)
        self.jobs: dict[str, Job] = {}
        self._worker = cf.ThreadPoolExecutor(max_workers=1, thread_name_prefix="composer-studio")
        self._lock = threading.Lock()

    # --- what the page offers ------------------------------------------------------------------
    def labels(self) -> Labels:
        """Tune types, keys and meters of the model's vocabulary (its 'unknown'/'other'/'none' left out)."""
        table = self.composer.tokenizer.table
        values = {k: [str(table.values[i]) for i in table.ids_of(k)] if k in table.offsets else []
                  for k in ("TYPE", "KEY", "METER")}
        return Labels(tune_types=[v for v in values["TYPE"] if v != "unknown"],
                      keys=[v for v in values["KEY"] if v != "none"], meters=[v for v in values["METER"] if v != "other"])

    def options(self) -> dict[str, Any]:
        """Seeds, labels, limits and whether fluidsynth is there: all the page needs to draw its form."""
        labels = self.labels()
        return {"seeds": list(bundled_seeds()), "default_seed": default_seed_name(), "tune_types": list(labels.tune_types),
                "keys": list(labels.keys), "meters": list(labels.meters), "defaults": Settings().to_dict(),
                "fluidsynth": shutil.which("fluidsynth") is not None, "fluidsynth_hint": FLUIDSYNTH_HINT,
                "max_upload_bytes": self.limits.max_file_bytes, "suffixes": list(READABLE_SUFFIXES)}

    # --- seeds ---------------------------------------------------------------------------------
    def bundled(self, name: str) -> Path:
        """The bundled seed of that name; BadRequest for any other name."""
        seeds = bundled_seeds()
        if name not in seeds:
            raise BadRequest(f"no bundled seed named {name[:40]!r}; choose one of {', '.join(seeds)}")
        return seeds[name]

    def upload(self, data: bytes, filename: str) -> tuple[Path, dict[str, Any]]:
        """Save an uploaded (or pasted) seed in a private temp folder and read it under ReadLimits."""
        suffix = Path(filename).suffix.lower()
        if suffix not in READABLE_SUFFIXES:
            raise BadRequest(f"{filename[:60]}: unknown file type {suffix or '(none)'!r}; "
                             f"upload one of {', '.join(READABLE_SUFFIXES)}")
        if not data:
            raise BadRequest(f"{filename[:60]}: empty file")
        if len(data) > self.limits.max_file_bytes:
            raise BadRequest(f"{filename[:60]}: {len(data):,} bytes, over the limit of {self.limits.max_file_bytes:,}")
        stem = re.sub(r"[^A-Za-z0-9_-]+", "-", Path(filename).stem).strip("-")[:40] or "upload"
        folder = Path(tempfile.mkdtemp(prefix="composer-studio-"))
        path = folder / f"{stem}{suffix}"
        path.write_bytes(data)
        try:
            return path, self.checker.check(path)
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise

    # --- the queue -----------------------------------------------------------------------------
    def submit(self, settings: Settings, seed: Path | None, seed_label: str, cleanup: Path | None = None) -> Job:
        """Queue a compose job (its random seed drawn now when none is given); BadRequest when the queue is full."""
        with self._lock:
            waiting = sum(j.stage in ("queued", "composing", "rendering") for j in self.jobs.values())
            if waiting >= self.max_queue:
                raise BadRequest(f"{waiting} compositions are waiting already; try again in a minute")
            if settings.rng_seed is None:
                settings = dataclasses.replace(settings, rng_seed=random.randint(0, 2**31 - 1))
            job = Job(uuid.uuid4().hex[:12], settings, seed, seed_label, cleanup)
            self.jobs[job.id] = job
            for old in sorted(self.jobs.values(), key=lambda j: j.created)[:-MAX_KEPT_JOBS]:
                if old.stage in ("done", "failed"):
                    del self.jobs[old.id]
        self._worker.submit(self._run, job)
        return job

    def _run(self, job: Job) -> None:
        """Compose one job on the shared model (only this worker thread ever touches it)."""
        job.started, job.stage = time.time(), "composing"
        job.known_folders = {p.name for p in self.root.iterdir()}
        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                result = generation().compose_to_folder(Watched(self.composer, job), self.root, seed=job.seed,
                                                        wav=self.wav, png=self.png, html=True,
                                                        **job.settings.compose_args())
            job.notes = list(dict.fromkeys(str(w.message) for w in caught))[:5]
            job.folder = result.folder
            self._log(job)
            job.stage = "done"
        except ComposerError as e:
            job.error, job.stage = one_line(str(e).replace(str(job.cleanup or "\0"), "").lstrip("/")), "failed"
        except Exception as e:  # noqa: BLE001 - the page gets one line; the server keeps serving
            job.error, job.stage = one_line(f"composing failed ({type(e).__name__}: {e})"), "failed"
        finally:
            job.finished = time.time()
            if job.cleanup is not None:
                shutil.rmtree(job.cleanup, ignore_errors=True)

    def _log(self, job: Job) -> None:
        entry = {"folder": job.folder.name, "seed": job.seed_label, "settings": job.settings.to_dict(),
                 "started": job.started, "seconds": round(time.time() - (job.started or 0), 2)}
        with open(self.root / LOG_NAME, "a", encoding="utf-8") as f:
            f.write(json.dumps(entry) + "\n")

    def status(self, job_id: str) -> dict[str, Any] | None:
        """A job's stage, place in the queue, elapsed time, rendering progress, and its cards when done."""
        with self._lock:
            job, jobs = self.jobs.get(job_id), list(self.jobs.values())
        if job is None:
            return None
        ahead = sum(j.stage == "queued" and j.created < job.created for j in jobs)
        out = {"id": job.id, "stage": job.stage, "ahead": ahead if job.stage == "queued" else 0,
               "seconds": round((job.finished or time.time()) - (job.started or time.time()), 1),
               "seed": job.seed_label, "settings": job.settings.to_dict(), "error": job.error, "notes": job.notes}
        if job.stage == "rendering":
            out["rendered"] = self._rendered(job)
        if job.stage == "done" and job.folder is not None:
            out["run"] = self.run_view(job.folder.name)
        return out

    def _rendered(self, job: Job) -> int:
        """Variations written so far by the running job (its folder is the one that was not there before)."""
        new = [p for p in self.root.iterdir() if p.name not in job.known_folders and p.is_dir()]
        last = ".png" if self.png else ".wav" if self.wav else ".mid"
        return sum(len(list(p.glob(f"variation-*{last}"))) for p in new)

    # --- the record ----------------------------------------------------------------------------
    def run_view(self, name: str) -> dict[str, Any]:
        """One run folder as the page shows it: a card per variation with its files, notation and settings."""
        folder = self.root / name
        if "/" in name or name.startswith(".") or not folder.is_dir():
            raise BadRequest(f"no run named {name[:60]!r}")
        logged = self._logged().get(name, {})
        cards = []
        for midi in sorted(folder.glob("variation-*.mid")):
            files = {s[1:]: f"/files/{name}/{midi.stem}{s}" for s in (".mid", ".wav", ".png", ".abc", ".musicxml")
                     if midi.with_suffix(s).is_file()}
            try:
                abc = score_abc(midi)
            except ComposerError as e:
                abc = f"% notation unavailable: {e.problem}"
            cards.append({"name": midi.stem, "files": files, "abc": abc, "midi_path": f"{name}/{midi.name}"})
        return {"folder": name, "page": f"/files/{name}/index.html" if (folder / "index.html").is_file() else None,
                "seed": logged.get("seed"), "settings": logged.get("settings"), "variations": cards}

    def history(self, limit: int = 50) -> list[dict[str, Any]]:
        """Past runs in the compositions folder, newest first, studio's and the CLI's alike."""
        logged = self._logged()
        runs = sorted((p for p in self.root.iterdir() if p.is_dir() and not p.name.startswith(".")
                       and any(p.glob("variation-*.mid"))), key=lambda p: p.stat().st_mtime, reverse=True)
        return [{"folder": p.name, "when": p.stat().st_mtime, "variations": len(list(p.glob("variation-*.mid"))),
                 "seed": logged.get(p.name, {}).get("seed"),
                 "rng_seed": logged.get(p.name, {}).get("settings", {}).get("rng_seed")} for p in runs[:limit]]

    def _logged(self) -> dict[str, dict[str, Any]]:
        path, out = self.root / LOG_NAME, {}
        if path.is_file():
            for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
                try:
                    entry = json.loads(line)
                    out[str(entry["folder"])] = entry
                except (ValueError, KeyError, TypeError):
                    continue
        return out

    def close(self) -> None:
        """Finish the running job, drop queued ones, stop the seed checker."""
        self._worker.shutdown(wait=True, cancel_futures=True)
        self.checker.close()
        for job in list(self.jobs.values()):
            if job.cleanup is not None:
                shutil.rmtree(job.cleanup, ignore_errors=True)
