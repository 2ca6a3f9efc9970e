"""composer.train.trainer: schedule, a real fit with its records, exact resume, stop rules, previews, CLI, DDP."""

from __future__ import annotations

import json
import math
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from composer.cli import main
from composer.corpus.data import DataConfig, load_data
from composer.errors import InputError, OutputError
from composer.train.checkpoint import load_checkpoint
from composer.train.config import TrainConfig
from composer.train.run import _warm_start, resume, train
from composer.train.trainer import lr_factor
from tests.corpus_helpers import small_tokenizer, synthetic_pieces, write_corpus

ROOT = Path(__file__).resolve().parents[2]
MODEL = {"layers": 1, "emb": 16, "hidden": 24, "dropout": 0.2}
DATA = DataConfig(seq_len=16, batch_size=8, val_fraction=0.2, transpose=(-2, 2),
                  duplicates_together=False)  # the step counts below are the plain split's
FAST = dict(epochs=2, lr=1e-2, warmup_steps=3, log_every=1, checkpoint_every_steps=4, device="cpu")


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    tok = small_tokenizer()
    return write_corpus(tmp_path_factory.mktemp("c") / "corpus", tok, synthetic_pieces(tok, 24), shard_tokens=900)


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny models run 100× slower with 2 OpenMP threads on a busy 2-core machine; one thread is fastest."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _events(run: Path, kind: str) -> list[dict]:
    return [e for e in map(json.loads, (run / "metrics.jsonl").read_text().splitlines()) if e["event"] == kind]


def test_schedule_warms_up_then_decays_to_the_floor():
    assert [round(lr_factor(s, 4, 104, 0.1), 4) for s in (0, 1, 3)] == [0.25, 0.5, 1.0]
    assert lr_factor(4, 4, 104, 0.1) == 1.0
    assert lr_factor(54, 4, 104, 0.1) == pytest.approx(0.55)
    assert lr_factor(104, 4, 104, 0.1) == pytest.approx(0.1) == lr_factor(500, 4, 104, 0.1)


def test_fit_learns_and_writes_its_records(corpus, tmp_path):
    run = tmp_path / "run"
    result = train(corpus, run, MODEL, DATA, TrainConfig(**FAST), progress=False, callbacks=[])
    assert result.stopped == "done" and result.epoch == 2 and result.step > 10
    train_losses = [e["loss"] for e in _events(run, "train")]
    assert len(train_losses) == result.step and train_losses[0] > math.log(170) - 0.3
    assert sum(train_losses[-3:]) / 3 < train_losses[0] - 1.5  # the melodies are easy to learn
    vals = _events(run, "val")
    assert [v["epoch"] for v in vals] == [1, 2]
    for v in vals:
        assert v["perplexity"] == pytest.approx(math.exp(v["val_loss"]))
        assert v["bits_per_token"] == pytest.approx(v["val_loss"] / math.log(2))
    assert result.best_val_loss == min(v["val_loss"] for v in vals)
    assert (run / "loss.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    last, best = load_checkpoint(run / "last.pt"), load_checkpoint(run / "best.pt")
    assert (last.step, last.epoch, last.step_in_epoch) == (result.step, 2, 0)
    assert best.best_val_loss == result.best_val_loss and last.extra["data_dir"] == str(corpus.resolve())
    assert last.data_config == DATA and last.model_config.hidden == 24
    [cache] = _events(run, "cache")  # best.pt's neural cache, fit on training pieces once the run is done
    assert best.cache_config.weight == cache["weight"] and best.extra["cache_fit"]["pieces"] == cache["pieces"] > 0
    assert cache["nll_with"] <= cache["nll_without"] and not last.cache_config.enabled
    with pytest.raises(OutputError, match="--resume"):
        train(corpus, run, MODEL, DATA, TrainConfig(**FAST), progress=False, callbacks=[])


def test_a_short_run_warms_up_briefly_and_warns(corpus, tmp_path):
    """Under 300 steps in all: a warning naming the step count and what to change; warm-up ≤ a tenth of the run."""
    from composer.corpus.data import load_data
    from composer.model.network import Model, ModelConfig
    from composer.train.trainer import Trainer

    data = load_data(corpus, DATA)
    model = Model(ModelConfig(vocab_size=data.vocab_size, **MODEL))
    trainer = Trainer(model, data, TrainConfig(**{**FAST, "warmup_steps": 200}), tmp_path / "r", progress=False)
    assert trainer.total_steps == 2 * data.steps_per_epoch < 300 and trainer.warmup == trainer.total_steps // 10
    assert trainer.scheduler.get_last_lr()[0] == pytest.approx(FAST["lr"] / trainer.warmup)
    with pytest.warns(UserWarning, match=rf"only {trainer.total_steps} optimizer steps .* raise --epochs"):
        result = trainer.fit()
    [short] = _events(tmp_path / "r", "short_run")
    assert short["total_steps"] == result.step and short["warmup_steps"] == trainer.warmup
    rates = [e["tokens_per_second"] for e in _events(tmp_path / "r", "train")]
    assert rates[-1] >= result.tokens_per_second > 0  # one measure: the run's mean rate, validation excluded
    assert rates[-1] == pytest.approx(result.tokens_per_second, rel=0.5)


def test_progress_bar_shows_a_dash_until_the_first_loss():
    from composer.train.log import ProgressBar

    with ProgressBar(True, 10, 0) as bar:
        fields = bar.bar.tasks[0].fields
        assert (fields["loss"], fields["rate"]) == ("–", "–")
        bar.show(1, 5.25, 1234.5)
        assert (fields["loss"], fields["rate"], bar.bar.tasks[0].completed) == ("5.250", "1,234", 1)
    assert "nan" not in json.dumps(fields)


def test_previews_come_after_the_last_epoch_of_a_short_run(tmp_path):
    from composer.model.network import Model, ModelConfig
    from composer.tokenize import Tokenizer
    from composer.train.previews import PreviewWriter

    tok = Tokenizer.create("performance")
    model = Model(ModelConfig(vocab_size=tok.vocab_size, layers=1, emb=8, hidden=16))
    logged = []
    trainer = SimpleNamespace(rank=0, run_dir=tmp_path, device=torch.device("cpu"), model=model, log=logged.append,
                              config=TrainConfig(epochs=2))
    writer = PreviewWriter(tok, ROOT / "midi_corpus" / "seeds", every=5, max_tokens=8, prefix_tokens=8)
    writer(trainer, 1, {})
    assert not logged
    writer(trainer, 2, {})  # the last epoch of a 2-epoch run, before the fifth
    assert [e["dir"] for e in logged] == [str(tmp_path / "previews" / "epoch-002")]
    PreviewWriter(tok, ROOT / "midi_corpus" / "seeds", every=0)(trainer, 2, {})  # 0: never
    assert len(logged) == 1


def test_resumed_run_equals_uninterrupted_run(corpus, tmp_path):
    cfg = TrainConfig(**{**FAST, "max_steps": 17})
    whole = train(corpus, tmp_path / "whole", MODEL, DATA, cfg, progress=False, callbacks=[])
    cut = train(corpus, tmp_path / "cut", MODEL, DATA, TrainConfig(**{**FAST, "max_steps": 6}), progress=False,
                callbacks=[])
    assert cut.stopped == "max_steps" and load_checkpoint(tmp_path / "cut" / "last.pt").step == 6
    again = resume(tmp_path / "cut", overrides={"max_steps": 17}, progress=False, callbacks=[])
    assert again.step == whole.step == 17 and again.epoch == whole.epoch
    a = [e["loss"] for e in _events(tmp_path / "whole", "train")]
    b = [e["loss"] for e in _events(tmp_path / "cut", "train")]
    assert len(a) == len(b) == 17 and max(abs(x - y) for x, y in zip(a, b, strict=True)) < 1e-6
    assert [v["val_loss"] for v in _events(tmp_path / "whole", "val")] == pytest.approx(
        [v["val_loss"] for v in _events(tmp_path / "cut", "val")], abs=1e-6)
    wa, wb = (load_checkpoint(tmp_path / r / "last.pt").model_state for r in ("whole", "cut"))
    assert all(torch.allclose(wa[k], wb[k], atol=1e-6) for k in wa)


def test_max_minutes_stops_cleanly_and_leaves_a_checkpoint(corpus, tmp_path):
    result = train(corpus, tmp_path / "r", MODEL, DATA, TrainConfig(**{**FAST, "max_minutes": 0.0}),
                   progress=False, callbacks=[])
    assert (result.stopped, result.step) == ("max_minutes", 1)
    assert load_checkpoint(tmp_path / "r" / "last.pt").step == 1
    assert _events(tmp_path / "r", "stop") == [{"event": "stop", "reason": "max_minutes", "step": 1, "epoch": 0}]


def test_previews_continue_the_seed_tunes_as_midi(tmp_path):
    from composer.io import load
    from composer.model.network import Model, ModelConfig
    from composer.tokenize import Tokenizer
    from composer.train.previews import PreviewWriter

    tok = Tokenizer.create("performance")
    torch.manual_seed(0)
    model = Model(ModelConfig(vocab_size=tok.vocab_size, layers=1, emb=8, hidden=16))
    logged = []
    trainer = SimpleNamespace(rank=0, run_dir=tmp_path, device=torch.device("cpu"), model=model, log=logged.append)
    writer = PreviewWriter(tok, ROOT / "midi_corpus" / "seeds", every=2, max_tokens=40, prefix_tokens=30)
    writer(trainer, 1, {})
    assert not (tmp_path / "previews").exists()
    writer(trainer, 2, {})
    files = sorted((tmp_path / "previews" / "epoch-002").glob("*.mid"))
    seeds = sorted(p.stem for p in (ROOT / "midi_corpus" / "seeds").glob("*.abc"))
    assert [f.stem for f in files] == logged[0]["written"] and len(files) + len(logged[0]["failed"]) == len(seeds)
    assert len(files) >= len(seeds) - 1 and load(files[0])[0].notes  # the seed's opening survives
    PreviewWriter(tok, tmp_path / "no-seeds", every=1)(trainer, 1, {})  # no seeds: nothing, no error


def _cli(args: list) -> int:
    try:
        main([str(a) for a in args])
    except SystemExit as e:
        return int(e.code or 0)
    return 0


def test_cli_train_info_baseline(corpus, tmp_path, capsys):
    run = tmp_path / "run"
    common = ["--seq-len", 16, "--batch-size", 8, "--hidden", 16, "--emb", 8, "--layers", 1, "--device", "cpu", "-q"]
    assert _cli(["train", corpus, "--out", run, "--max-steps", 3, *common]) == 0
    assert "max_steps: step 3, epoch 0" in capsys.readouterr().out
    assert _cli(["train", corpus, "--out", run, "--max-steps", 3, *common]) == 1
    assert "--resume" in capsys.readouterr().err
    assert _cli(["train", "--resume", run, "--hidden", 32]) == 1
    assert "drop --hidden" in capsys.readouterr().err
    assert _cli(["train", "--resume", run, "--max-steps", 5, "-q"]) == 0
    assert "step 5" in capsys.readouterr().out
    assert _cli(["info", run / "last.pt"]) == 0
    out = capsys.readouterr().out
    assert "performance, 170 tokens" in out and "step 5, epoch 0 (+5 steps)" in out and "hidden=16" in out
    assert "parameters  " + f"{170 * 8 + 4 * 16 * (8 + 16 + 2) + 16 * 170 + 170:,}" in out
    assert _cli(["baseline", corpus, "--orders", "1-3"]) == 0
    out = capsys.readouterr().out
    assert "n=1" in out and "n=3" in out and "n=4" not in out
    assert _cli(["train", corpus, "--out", tmp_path / "x", "--cell", "transformer", *common]) == 1
    assert "unknown cell" in capsys.readouterr().err


def test_torchrun_two_processes_match_one(corpus, tmp_path):
    """Two gloo ranks, each taking half of every global batch, train the same weights as one process."""
    args = [corpus, "--seq-len", 16, "--batch-size", 8, "--hidden", 16, "--emb", 8, "--layers", 1,
            "--dropout", 0, "--max-steps", 4, "--log-every", 1, "--device", "cpu", "-q"]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--master_port=29517", "-m",
           "composer", "train", *map(str, args), "--out", str(tmp_path / "ddp")]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert _cli(["train", *args, "--out", tmp_path / "one"]) == 0
    a = [e["loss"] for e in _events(tmp_path / "ddp", "train")]
    b = [e["loss"] for e in _events(tmp_path / "one", "train")]
    assert len(a) == len(b) == 4 and max(abs(x - y) for x, y in zip(a, b, strict=True)) < 1e-4
    wa, wb = (load_checkpoint(tmp_path / r / "last.pt").model_state for r in ("ddp", "one"))
    assert all(torch.allclose(wa[k], wb[k], atol=1e-4) for k in wa)


# --- interruptions: Ctrl-C, SIGKILL, a crash between the val line and last.pt ----------------------
CLI_MODEL = ["--seq-len", 16, "--batch-size", 4, "--hidden", 16, "--emb", 8, "--layers", 1, "--device", "cpu", "-q"]


def _spawn(args: list, log: Path) -> subprocess.Popen:
    """`composer train ARGS` in a fresh process (one torch thread): stdout into `log`, stderr into log.err."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    with open(log, "w") as out, open(log.with_suffix(".err"), "w") as err:
        return subprocess.Popen([sys.executable, "-m", "composer", "train", *map(str, args)], env=env, cwd=ROOT,
                                stdout=out, stderr=err, text=True,
                                preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))  # not a shell's SIG_IGN


def _output(log: Path) -> str:
    return (log.read_text() + log.with_suffix(".err").read_text())[-2000:]


def _last_logged(run: Path) -> int:
    from composer.train.log import read_metrics

    steps = [e["step"] for e in read_metrics(run / "metrics.jsonl") if e.get("event") == "train"]
    return steps[-1] if steps else 0


def _wait_for(proc: subprocess.Popen, condition, log: Path, timeout: float = 60.0) -> None:
    """Poll until `condition()`; fail if the process ends first or it takes longer than `timeout`."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert proc.poll() is None, f"exited {proc.returncode} first:\n{_output(log)}"
        assert time.monotonic() < deadline, f"timed out:\n{_output(log)}"
        time.sleep(0.0005)


def test_ctrl_c_stops_after_the_step_with_last_pt_and_a_resume_hint(corpus, tmp_path, capsys):
    run, log = tmp_path / "run", tmp_path / "train.log"
    proc = _spawn([corpus, "--out", run, *CLI_MODEL, "--epochs", 200, "--log-every", 1], log)
    _wait_for(proc, lambda: _last_logged(run) >= 3, log)
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=60) == 130, _output(log)
    ck = load_checkpoint(run / "last.pt")
    assert ck.step >= _last_logged(run) >= 3
    hint = f"interrupted at step {ck.step}: continue with composer train --resume {run}"
    assert hint in log.with_suffix(".err").read_text().splitlines()
    assert _events(run, "stop")[-1] == {"event": "stop", "reason": "interrupted", "step": ck.step, "epoch": ck.epoch}
    handler = signal.getsignal(signal.SIGINT)
    assert _cli(["train", "--resume", run, "--max-steps", ck.step + 3, "-q"]) == 0
    assert f"max_steps: step {ck.step + 3}" in capsys.readouterr().out
    assert signal.getsignal(signal.SIGINT) is handler  # fit put the caller's handler back
    assert [e["step"] for e in _events(run, "train")] == list(range(1, ck.step + 4))


@pytest.fixture
def terminal_sigint():
    """SIGINT as in a terminal: a job started in the background (`pytest &`) inherits it ignored, and fit leaves it so."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


def test_ctrl_c_at_an_epoch_end_stops_there_and_a_second_one_raises(corpus, tmp_path, terminal_sigint):
    handler = signal.getsignal(signal.SIGINT)
    ctrl_c = lambda times: lambda trainer, epoch, metrics: [signal.raise_signal(signal.SIGINT) for _ in range(times)]  # noqa: E731
    cfg = TrainConfig(**{**FAST, "epochs": 3})
    result = train(corpus, tmp_path / "a", MODEL, DATA, cfg, progress=False, callbacks=[ctrl_c(1)])
    assert (result.stopped, result.epoch, result.step) == ("interrupted", 1, 12)  # 12 steps per epoch
    last = load_checkpoint(tmp_path / "a" / "last.pt")
    assert (last.step, last.epoch, last.step_in_epoch) == (12, 1, 0)
    assert signal.getsignal(signal.SIGINT) is handler
    with pytest.raises(KeyboardInterrupt):
        train(corpus, tmp_path / "b", MODEL, DATA, cfg, progress=False, callbacks=[ctrl_c(2)])
    assert signal.getsignal(signal.SIGINT) is handler
    assert load_checkpoint(tmp_path / "b" / "last.pt").epoch == 1  # written before the callbacks ran


def test_crash_between_val_line_and_last_pt_is_redone_once(corpus, tmp_path, monkeypatch):
    """Killed while writing best.pt at an epoch end: last.pt is from before the val line, which resume drops."""
    import composer.train.trainer as training

    cfg = TrainConfig(**FAST)  # 12 steps per epoch, last.pt every 4: one at the last step of epoch 0
    whole = train(corpus, tmp_path / "whole", MODEL, DATA, cfg, progress=False, callbacks=[])
    real_save = training.save_checkpoint

    def save(path, **kw):
        if Path(path).name == "best.pt":
            raise RuntimeError("killed")
        return real_save(path, **kw)

    monkeypatch.setattr(training, "save_checkpoint", save)
    with pytest.raises(RuntimeError, match="killed"):
        train(corpus, tmp_path / "cut", MODEL, DATA, cfg, progress=False, callbacks=[])
    monkeypatch.setattr(training, "save_checkpoint", real_save)
    assert [(e["step"], e["epoch"]) for e in _events(tmp_path / "cut", "val")] == [(12, 1)]
    cut = load_checkpoint(tmp_path / "cut" / "last.pt")
    assert (cut.step, cut.epoch) == (12, 0)
    again = resume(tmp_path / "cut", progress=False, callbacks=[])
    assert (again.step, again.epoch, again.best_val_loss) == (whole.step, whole.epoch, whole.best_val_loss)
    assert _events(tmp_path / "cut", "val") == _events(tmp_path / "whole", "val")  # one val line per epoch


def test_resume_removes_only_the_atomic_writers_stale_temp_files(corpus, tmp_path):
    run = tmp_path / "run"
    train(corpus, run, MODEL, DATA, TrainConfig(**{**FAST, "max_steps": 2}), progress=False, callbacks=[])
    stale = [run / n for n in (".last.pt.a1b2c3d4.tmp", ".best.pt.zz_9y8x7.tmp", ".metrics.jsonl.q0w9e8r7.tmp")]
    kept = [run / n for n in (".notes.txt.a1b2c3d4.tmp", ".last.pt.tmp", "last.pt.a1b2c3d4.tmp", ".last.pt.a1b2.tmp")]
    for p in stale + kept:
        p.write_bytes(b"half a checkpoint")
    assert resume(run, overrides={"max_steps": 3}, progress=False, callbacks=[]).step == 3
    assert not any(p.exists() for p in stale) and all(p.exists() for p in kept)


def test_sigkill_at_random_points_never_corrupts_and_resumes_to_the_same_weights(corpus, tmp_path):
    """Kill `composer train` with SIGKILL 5+ times (mid-step, and mid-write of last.pt): every kill leaves
    loadable checkpoints, loses at most one checkpoint interval, and the resumed run ends where an
    uninterrupted one does."""
    every = 3
    args = [*CLI_MODEL, "--epochs", 4, "--log-every", 1, "--checkpoint-every", every]
    assert _cli(["train", corpus, "--out", tmp_path / "whole", *args]) == 0
    run, log, rng = tmp_path / "run", tmp_path / "train.log", random.Random(7)
    plan, stale, kills, step, logged = ["step", "step", "write", "step", "step", "write"], [], 0, 0, 0
    while plan:
        mode = plan.pop(0)
        proc = _spawn([corpus, "--out", run, *args] if kills == 0 else ["--resume", run], log)
        # Until the resumed process rewrites metrics.jsonl, it shows the killed one's steps (up to `logged`).
        if mode == "step":  # somewhere in a training step, a few steps past those logged before
            target = max(logged + rng.randint(1, 20), every + 1)  # the first kill: after the first last.pt
            _wait_for(proc, lambda t=target: _last_logged(run) >= t, log)
            time.sleep(rng.uniform(0, 0.004))
        else:  # the moment the atomic writer's temp file for last.pt appears
            _wait_for(proc, lambda n=logged: _last_logged(run) > n, log)  # training: stale files are gone
            _wait_for(proc, lambda: any(p.name.startswith(".last.pt.") for p in run.iterdir()), log)
        proc.kill()
        proc.wait(timeout=30)
        kills += 1
        ck = load_checkpoint(run / "last.pt")  # never corrupt or half-written
        if (run / "best.pt").exists():
            load_checkpoint(run / "best.pt")
        logged = _last_logged(run)
        assert step <= ck.step and logged - ck.step <= every, (ck.step, logged)
        step = ck.step
        if mode == "write":
            left = [p for p in sorted(run.glob(".last.pt.*.tmp")) if p not in stale]
            if left:
                stale += left
            elif kills < 12:
                plan.append("write")  # the rename won the race: try at another checkpoint
    assert kills >= 6 and stale, "no kill landed inside a checkpoint write"
    proc = _spawn(["--resume", run], log)
    assert proc.wait(timeout=60) == 0, _output(log)
    assert not any(p.exists() for p in stale) and not list(run.glob(".*.tmp"))
    a, b = load_checkpoint(tmp_path / "whole" / "last.pt"), load_checkpoint(run / "last.pt")
    assert (a.step, a.epoch) == (b.step, b.epoch) == (_last_logged(run), 4)
    assert all(torch.allclose(a.model_state[k], b.model_state[k], atol=1e-5) for k in a.model_state)
    for kind, key in (("train", "loss"), ("val", "val_loss")):
        x, y = _events(tmp_path / "whole", kind), _events(run, kind)
        assert [e["step"] for e in x] == [e["step"] for e in y]  # each step logged once, none lost
        assert [e[key] for e in x] == pytest.approx([e[key] for e in y], abs=1e-5)


def test_init_fine_tunes_from_a_checkpoints_weights_and_records_where_they_came_from(corpus, tmp_path):
    base = train(corpus, tmp_path / "base", MODEL, DATA, TrainConfig(**FAST), progress=False, callbacks=[])
    start = Path(base.run_dir) / "best.pt"
    was = load_checkpoint(start)
    warm = _warm_start(was, load_data(corpus, DATA), {"dropout": 0.0})
    assert warm.training and warm.config.dropout == 0.0 and warm.config.hidden == 24
    assert all(torch.equal(v, was.model_state[k]) for k, v in warm.state_dict().items())
    fine = train(corpus, tmp_path / "fine", None, DATA, TrainConfig(**{**FAST, "epochs": 1, "lr": 1e-3}),
                 progress=False, callbacks=[], init=start)
    first = _events(Path(fine.run_dir), "train")[0]["loss"]
    assert first < math.log(170) - 1.0  # starts where the base run left off, not from scratch
    tuned = load_checkpoint(Path(fine.run_dir) / "last.pt")
    assert tuned.extra["init_from"]["checkpoint"] == str(start) and tuned.extra["init_from"]["step"] == was.step
    assert tuned.step == fine.step < 2 * was.step  # a new schedule: steps count from 0
    with pytest.raises(InputError, match="--init keeps the network"):
        train(corpus, tmp_path / "bad", {"hidden": 32}, DATA, TrainConfig(**FAST), progress=False, callbacks=[],
              init=start)
