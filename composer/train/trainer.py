"""Training: a Trainer that takes a model, batches and callbacks (it knows nothing of music).

Each step: a batch of windows (fresh zero state per window) → cross-entropy on next-token logits
(bf16 autocast on CUDA) → AdamW with gradient-norm clipping, linear warm-up then cosine decay to
min_lr_ratio·lr. After each epoch: validation loss, perplexity and bits per token go to
metrics.jsonl and loss.png; last.pt is written then (and every checkpoint_every_steps), best.pt on
improvement. A run resumes from last.pt at the exact batch it stopped before, with optimizer,
schedule and RNG states restored. Ctrl-C (SIGINT) during `fit` finishes the step, writes last.pt and
stops ("interrupted"); a second Ctrl-C quits at once. Under torchrun (WORLD_SIZE > 1) each rank
takes its slice of every global batch, DistributedDataParallel averages the gradients, only rank 0
writes, and all ranks stop at the same step.
Music-aware extras (preview MIDI from seed tunes) are callbacks: see composer.train.previews.
"""

from __future__ import annotations

import json
import math
import os
import signal
import sys
import threading
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
import torch.nn.functional as F

from composer.corpus.data import TrainData
from composer.files import atomic_write_bytes, atomic_write_text
from composer.train.checkpoint import (
    Checkpoint,
    restore_rng,
    save_checkpoint,
)
from composer.train.config import TrainConfig
from composer.train.log import ProgressBar, loss_curve_png, read_metrics

Callback = Callable[["Trainer", int, dict[str, Any]], None]
SHORT_RUN_STEPS = 300  # fewer optimizer steps than this in a whole run: warn that it will learn little
WARMUP_SHARE = 10  # warm-up takes at most 1/WARMUP_SHARE of the run's steps


@dataclass(frozen=True)
class FitResult:
    """How a `fit` ended: steps done, where, why it stopped, the best validation loss, and speed."""

    step: int
    epoch: int
    stopped: str  # "done", "max_steps", "max_minutes" or "interrupted" (Ctrl-C)
    best_val_loss: float | None
    last_val: dict[str, float] | None
    tokens_per_second: float
    train_seconds: float
    run_dir: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


def pick_device(name: str, local_rank: int = 0) -> torch.device:
    """'auto' → this rank's CUDA device when there is one, else the CPU; anything else as given."""
    if name == "auto":
        return torch.device(f"cuda:{local_rank}") if torch.cuda.is_available() else torch.device("cpu")
    return torch.device(name)


def lr_factor(step: int, warmup: int, total: int, min_ratio: float) -> float:
    """Multiplier of the peak lr at `step`: linear warm-up to 1, then cosine down to min_ratio at `total`."""
    if step < warmup:
        return (step + 1) / warmup
    progress = min(1.0, (step - warmup) / max(1, total - warmup))
    return min_ratio + (1 - min_ratio) * 0.5 * (1 + math.cos(math.pi * progress))


class _Interrupt:
    """While entered (in the main thread): the first SIGINT sets `requested`, the next raises
    KeyboardInterrupt at once; the previous handler comes back on exit. Elsewhere it does nothing."""

    def __init__(self, announce: bool = True) -> None:
        self.announce, self.requested, self.installed, self.previous = announce, False, False, None

    def __enter__(self) -> _Interrupt:
        ignored = signal.getsignal(signal.SIGINT) is signal.SIG_IGN  # e.g. a background job: leave it so
        if threading.current_thread() is threading.main_thread() and not ignored:
            self.previous = signal.signal(signal.SIGINT, self._handle)
            self.installed = True
        return self

    def _handle(self, signum: int, frame: Any) -> None:
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True
        if self.announce:
            print("\ninterrupted: stopping after this step and saving last.pt (Ctrl-C again to quit now)",
                  file=sys.stderr, flush=True)

    def __exit__(self, *exc: Any) -> None:
        if self.installed:
            signal.signal(signal.SIGINT, signal.SIG_DFL if self.previous is None else self.previous)
            self.installed = False


def _distributed() -> tuple[int, int, int]:
    """(rank, world, local_rank); joins the torchrun process group when WORLD_SIZE > 1."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return 0, 1, 0
    local = int(os.environ.get("LOCAL_RANK", "0"))
    if not dist.is_initialized():
        dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
    return dist.get_rank(), world, local


class Trainer:
    """Fits `model` to `data` (a TrainData-like object) under `config`, writing into `run_dir` (rank 0)."""

    def __init__(self, model: torch.nn.Module, data: TrainData, config: TrainConfig, run_dir: str | Path, *,
                 callbacks: Sequence[Callback] = (), progress: bool = True, extra: dict[str, Any] | None = None):
        self.config, self.data, self.run_dir = config, data, Path(run_dir)
        self.callbacks, self.show_progress, self.extra = list(callbacks), progress, dict(extra or {})
        self.rank, self.world, local = _distributed()
        self.device = pick_device(config.device, local)
        if self.device.type == "cuda":
            torch.cuda.set_device(self.device)
            torch.backends.cudnn.benchmark = True
        self.model = model.to(self.device)
        self.amp = config.amp and self.device.type == "cuda"
        self.net: torch.nn.Module = self.model
        self.optimizer = torch.optim.AdamW(self.model.parameters(), lr=config.lr, weight_decay=config.weight_decay,
                                           fused=self.device.type == "cuda" or None)
        self.total_steps = config.epochs * data.steps_per_epoch
        self.warmup = min(config.warmup_steps, self.total_steps // WARMUP_SHARE)  # a short run reaches its peak lr
        warmup = self.warmup
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(
            self.optimizer, lambda s: lr_factor(s, warmup, self.total_steps, config.min_lr_ratio))
        self.step = self.epoch = self.step_in_epoch = 0
        self.best_val_loss: float | None = None
        self.history: list[dict[str, Any]] = []
        self._interrupt = _Interrupt(announce=False)

    # --- state ---------------------------------------------------------------------------------
    def load_state(self, checkpoint: Checkpoint) -> None:
        """Continue from `checkpoint`: weights, optimizer, schedule, RNGs and the position in the data."""
        self.model.load_state_dict(checkpoint.model_state)
        if checkpoint.optimizer_state is not None:
            self.optimizer.load_state_dict(checkpoint.optimizer_state)
        if checkpoint.scheduler_state is not None:
            self.scheduler.load_state_dict(checkpoint.scheduler_state)
        if checkpoint.rng_state is not None:
            restore_rng(checkpoint.rng_state)
        self.step, self.epoch, self.step_in_epoch = checkpoint.step, checkpoint.epoch, checkpoint.step_in_epoch
        self.best_val_loss = checkpoint.best_val_loss
        # Events logged after the checkpoint are dropped (they will be logged again), among them the val
        # line of an epoch end whose last.pt was never written: same step, next epoch.
        at = (self.step, self.epoch)
        self.history = [e for e in read_metrics(self.run_dir / "metrics.jsonl")
                        if (e.get("step", 0), e.get("epoch", 0)) <= at]
        if self.rank == 0:
            atomic_write_text(self.run_dir / "metrics.jsonl", "".join(json.dumps(e) + "\n" for e in self.history))

    def save(self, name: str) -> Path | None:
        """Write run_dir/name (rank 0 only) with everything needed to resume or sample."""
        if self.rank != 0:
            return None
        model_config = getattr(self.model, "config", None)
        return save_checkpoint(
            self.run_dir / name, model=self.model, model_config=model_config, train_config=self.config,
            data_config=self.data.config, tokenizer=self.data.tokenizer, optimizer=self.optimizer,
            scheduler=self.scheduler, step=self.step, epoch=self.epoch, step_in_epoch=self.step_in_epoch,
            best_val_loss=self.best_val_loss, extra=self.extra)

    # --- the loop --------------------------------------------------------------------------------
    def _autocast(self) -> Any:
        return torch.autocast(device_type=self.device.type, dtype=torch.bfloat16, enabled=self.amp)

    def _forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits (B, T, V) under bf16 autocast; a cell without bf16 kernels (older cuDNN) turns AMP off."""
        try:
            with self._autocast():
                return self.net(x)[0]
        except RuntimeError as e:
            if not self.amp or "16" not in str(e):
                raise
            self.amp = False
            self.log({"event": "amp_off", "reason": str(e).splitlines()[0][:200]})
            return self.net(x)[0]

    def train_step(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """One optimiser step on (x, y) (B, T); returns the detached mean loss."""
        self.net.train()
        x = x.to(self.device, non_blocking=True)
        y = y.to(self.device, non_blocking=True)
        logits = self._forward(x)  # (B, T, V)
        loss = F.cross_entropy(logits.float().flatten(0, 1), y.flatten())
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if self.config.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.config.grad_clip)
        self.optimizer.step()
        self.scheduler.step()
        return loss.detach()

    @torch.no_grad()
    def evaluate(self) -> dict[str, float] | None:
        """Validation loss (nats/token), perplexity and bits per token; None without validation data."""
        self.model.eval()
        total = torch.zeros((), dtype=torch.float64, device=self.device)
        count, state = 0, None
        for x, y in self.data.val_batches():  # consecutive windows of the same rows: carry the state
            x, y = x.to(self.device), y.to(self.device)
            with self._autocast():
                logits, state = self.model(x, state)
            total += F.cross_entropy(logits.float().flatten(0, 1), y.flatten(), reduction="sum").double()
            count += int((y != -100).sum())
        if count == 0:
            return None
        loss = float(total) / count
        return {"val_loss": loss, "perplexity": math.exp(min(loss, 700.0)), "bits_per_token": loss / math.log(2)}

    def fit(self) -> FitResult:
        """Train until `epochs` are done, or max_steps / max_minutes / Ctrl-C stops it; always leaves last.pt.

        Ctrl-C (main thread only) is caught while fitting: the step in progress finishes, then the run
        stops as "interrupted" with last.pt written; a second Ctrl-C raises KeyboardInterrupt at once."""
        with _Interrupt(announce=self.rank == 0) as self._interrupt:
            return self._fit()

    def _fit(self) -> FitResult:
        cfg = self.config
        if self.world > 1 and self.net is self.model:
            ids = [self.device.index] if self.device.type == "cuda" else None
            self.net = torch.nn.parallel.DistributedDataParallel(self.model, device_ids=ids)
        if self.rank == 0:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            self._warn_if_short()
        started, train_seconds, tokens_done, stopped = time.monotonic(), 0.0, 0, "done"
        with ProgressBar(self.show_progress and self.rank == 0, self.total_steps, self.step) as bar:
            while self.epoch < cfg.epochs and stopped == "done":
                tick = time.monotonic()
                window_loss, window_steps = None, 0
                for x, y in self.data.epoch(self.epoch, cfg.seed, self.step_in_epoch, self.rank, self.world):
                    loss = self.train_step(x, y)
                    window_loss = loss if window_loss is None else window_loss + loss
                    self.step, self.step_in_epoch, window_steps = self.step + 1, self.step_in_epoch + 1, window_steps + 1
                    tokens_done += x.numel() * self.world
                    # One figure everywhere (bar, metrics.jsonl, the last line): tokens / training seconds so far.
                    rate = tokens_done / max(train_seconds + time.monotonic() - tick, 1e-9)
                    if self.step % cfg.log_every == 0:
                        self._log_train(window_loss / window_steps, rate, bar)
                        window_loss, window_steps = None, 0
                    elif bar is not None and (self.device.type == "cpu" or window_steps == 1 or self.step % 10 == 0):
                        bar.show(self.step, float(window_loss / window_steps), rate)  # a sync: rarely on a GPU
                    if self.step % cfg.checkpoint_every_steps == 0:
                        self.save("last.pt")
                    stopped = self._should_stop(started)
                    if stopped != "done":
                        break
                train_seconds += time.monotonic() - tick
                if stopped == "done":
                    self._end_epoch()
                    if self.epoch < cfg.epochs and self._interrupted():  # Ctrl-C during validation or previews
                        stopped = "interrupted"
        if stopped != "done":
            self.log({"event": "stop", "reason": stopped})
        self.save("last.pt")
        self._plot()
        last_val = next((e for e in reversed(self.history) if e.get("event") == "val"), None)
        return FitResult(self.step, self.epoch, stopped, self.best_val_loss, last_val,
                         tokens_done / max(train_seconds, 1e-9), train_seconds, str(self.run_dir), self.extra)

    def _should_stop(self, started: float) -> str:
        """The reason to stop after this step ("done": go on); a limit reached wins over Ctrl-C."""
        cfg = self.config
        reason = 0
        if cfg.max_steps is not None and self.step >= cfg.max_steps:
            reason = 1
        elif cfg.max_minutes is not None and time.monotonic() - started >= cfg.max_minutes * 60:
            reason = 2
        interrupted = self._interrupt.requested
        if self.world > 1 and (cfg.max_minutes is not None or self._interrupt.installed):
            flags = torch.tensor([reason, int(interrupted)], device=self.device)
            dist.all_reduce(flags, op=dist.ReduceOp.MAX)  # every rank stops at the same step
            reason, interrupted = int(flags[0].item()), bool(flags[1].item())
        if reason == 0 and interrupted:
            return "interrupted"
        return ("done", "max_steps", "max_minutes")[reason]

    def _interrupted(self) -> bool:
        """Whether Ctrl-C reached this rank or (under torchrun) any rank; a collective call there."""
        interrupted = self._interrupt.requested
        if self.world > 1 and self._interrupt.installed:
            flag = torch.tensor([int(interrupted)], device=self.device)
            dist.all_reduce(flag, op=dist.ReduceOp.MAX)
            interrupted = bool(flag.item())
        return interrupted

    def _end_epoch(self) -> None:
        self.epoch, self.step_in_epoch = self.epoch + 1, 0
        metrics: dict[str, Any] = {}
        if self.rank == 0 and self.epoch % self.config.eval_every_epochs == 0:
            val = self.evaluate()
            if val is not None:
                metrics = val
                self.log({"event": "val", **val})
                if self.best_val_loss is None or val["val_loss"] < self.best_val_loss:
                    self.best_val_loss = val["val_loss"]
                    self.save("best.pt")
        self.save("last.pt")
        self._plot()
        for callback in self.callbacks:
            callback(self, self.epoch, metrics)

    # --- records -----------------------------------------------------------------------------------
    def _log_train(self, mean_loss: torch.Tensor, rate: float, bar: Any) -> None:
        if self.world > 1:
            dist.all_reduce(mean_loss)
            mean_loss = mean_loss / self.world
        loss = float(mean_loss)
        self.log({"event": "train", "loss": loss, "lr": self.scheduler.get_last_lr()[0], "tokens_per_second": rate})
        if bar is not None:
            bar.show(self.step, loss, rate)

    def _warn_if_short(self) -> None:
        """Warn (once, at the start) when the whole run has too few optimizer steps to learn much."""
        if self.step > 0 or self.total_steps >= SHORT_RUN_STEPS:
            return
        per_epoch, batch = self.data.steps_per_epoch, self.data.config.batch_size
        self.log({"event": "short_run", "total_steps": self.total_steps, "warmup_steps": self.warmup})
        warnings.warn(f"this run makes only {self.total_steps} optimizer steps ({self.config.epochs} epoch(s) × "
                      f"{per_epoch} of {batch} windows), too few to learn much (aim for {SHORT_RUN_STEPS}+): raise "
                      f"--epochs, or lower --batch-size for more, smaller steps", stacklevel=2)

    def log(self, event: dict[str, Any]) -> None:
        """Append one event (with step and epoch) to metrics.jsonl; rank 0 only."""
        if self.rank != 0:
            return
        event = {**event, "step": self.step, "epoch": self.epoch}
        self.history.append(event)
        with open(self.run_dir / "metrics.jsonl", "a", encoding="utf-8") as f:
            f.write(json.dumps(event) + "\n")

    def _plot(self) -> None:
        if self.rank == 0 and self.history:
            atomic_write_bytes(self.run_dir / "loss.png", loss_curve_png(self.history))
