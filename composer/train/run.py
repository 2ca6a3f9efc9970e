"""Runs, what `composer train` calls: start one in a folder, resume one, warm-start from a checkpoint.

Wires the corpus, a network, the Trainer and its callbacks (previews), and fits best.pt's cache at the end.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from composer.corpus.data import DataConfig, TrainData, load_data
from composer.errors import CheckpointError, InputError, OutputError
from composer.files import remove_stale_temps
from composer.model.cache import fit_record
from composer.model.network import Model, ModelConfig
from composer.tokenize.base import Tokenizer
from composer.train.checkpoint import Checkpoint, build_model, check_tokenizer, load_checkpoint
from composer.train.config import TrainConfig
from composer.train.fit import fit_checkpoint_cache
from composer.train.previews import PreviewWriter
from composer.train.trainer import Callback, FitResult, Trainer

RUN_FILES = ("last.pt", "best.pt", "metrics.jsonl", "loss.png")
RESUMABLE = ("epochs", "max_minutes", "max_steps", "device", "amp", "log_every", "checkpoint_every_steps",
             "eval_every_epochs", "preview_every_epochs", "preview_tokens")


def train(data_dir: str | Path, run_dir: str | Path, model_overrides: dict[str, Any] | None = None,
          data_config: DataConfig | None = None, config: TrainConfig = TrainConfig(), *, force: bool = False,
          progress: bool = True, callbacks: Sequence[Callback] | None = None,
          init: str | Path | None = None) -> FitResult:
    """Start a run in `run_dir` on the corpus at `data_dir`; refuses a folder holding a run unless `force`.

    `model_overrides` are ModelConfig fields (vocab_size comes from the corpus). `init` warm-starts from a
    checkpoint's weights (fine-tuning: its network, only dropout may change; a fresh optimizer and schedule).
    `callbacks=None` adds the preview writer (seed-tune continuations as MIDI)."""
    run_dir = Path(run_dir)
    existing = [n for n in RUN_FILES if (run_dir / n).exists()]
    if existing and not force:
        raise OutputError(f"holds a training run ({', '.join(existing)}); continue it with --resume "
                          f"{run_dir}, or pass --force to start afresh", run_dir)
    data = load_data(data_dir, data_config or DataConfig())
    if existing and int(os.environ.get("RANK", "0")) == 0:
        for name in RUN_FILES:
            (run_dir / name).unlink(missing_ok=True)
    extra: dict[str, Any] = {"data_dir": str(Path(data_dir).resolve())}
    torch.manual_seed(config.seed)
    if init is not None:
        start = load_checkpoint(init)
        model, extra["init_from"] = _warm_start(start, data, model_overrides or {}), _provenance(start)
    else:
        try:
            model = Model(ModelConfig(vocab_size=data.vocab_size, **(model_overrides or {})))
        except (TypeError, ValueError) as e:
            raise InputError(f"bad model option: {e}") from None
    trainer = Trainer(model, data, config, run_dir, progress=progress,
                      callbacks=_default_callbacks(data, config) if callbacks is None else callbacks, extra=extra)
    return _with_cache(trainer.fit(), trainer)


def _warm_start(ckpt: Checkpoint, data: TrainData, overrides: dict[str, Any]) -> torch.nn.Module:
    """The checkpoint's network with its weights, for data tokenized the same way (or with a vocabulary that
    extends the checkpoint's, e.g. FORM tokens added: the new rows start fresh); only dropout may change."""
    grow = extends(data.tokenizer, ckpt.tokenizer)
    if not grow:
        check_tokenizer(ckpt, data.tokenizer, data.corpus.root)
    fixed = sorted(set(overrides) - {"dropout"})
    if fixed:
        raise InputError(f"--init keeps the network of {ckpt.path}; drop {', '.join('--' + k for k in fixed)}")
    if "dropout" in overrides:
        ckpt = dataclasses.replace(ckpt, model_config=dataclasses.replace(ckpt.model_config, dropout=overrides["dropout"]))
    model = build_model(ckpt)
    return (grown(model, data.tokenizer.vocab_size) if grow else model).train()


def extends(new: Tokenizer, old: Tokenizer) -> bool:
    """Whether `new`'s vocabulary is `old`'s with more tokens after it (same scheme, same ids for old tokens)."""
    n = old.vocab_size
    return (new.name == old.name and new.vocab_size > n and list(new.table.kinds[:n]) == list(old.table.kinds)
            and list(new.table.values[:n]) == list(old.table.values))


def grown(model: Model, vocab_size: int) -> Model:
    """The same network with room for `vocab_size` tokens: old rows kept, new embeddings small, new logits low."""
    config = dataclasses.replace(model.config, vocab_size=vocab_size)
    bigger = Model(config)
    state = model.state_dict()
    n = model.config.vocab_size
    with torch.no_grad():
        _copy_rows(bigger, state, n)
    return bigger


def _copy_rows(bigger: Model, state: dict[str, torch.Tensor], n: int) -> None:
    for name, value in bigger.state_dict().items():
        old = state[name]
        if old.shape != value.shape:  # embed.weight, head.weight (V, ·) and head.bias (V,)
            value[:n] = old
            if name == "head.bias":
                value[n:] = old.mean() - 2 * old.std()
            elif name == "embed.weight":
                value[n:] = old.mean(0) + 0.1 * old.std() * torch.randn_like(value[n:])
        else:
            value.copy_(old)


def _provenance(ckpt: Checkpoint) -> dict[str, Any]:
    """Where a warm start came from: the checkpoint, its data and its step, kept in the new run's checkpoints."""
    return {"checkpoint": str(ckpt.path), "step": ckpt.step, "epoch": ckpt.epoch, "data_dir": ckpt.extra.get("data_dir"),
            "also_train": list(ckpt.data_config.also_train), "init_from": ckpt.extra.get("init_from")}


def resume(run_dir: str | Path, data_dir: str | Path | None = None, overrides: dict[str, Any] | None = None, *,
           progress: bool = True, callbacks: Sequence[Callback] | None = None) -> FitResult:
    """Continue the run in `run_dir` from last.pt with the same data order; `overrides` may change
    only the TrainConfig fields in RESUMABLE (e.g. more epochs, a new time limit)."""
    run_dir = Path(run_dir)
    if int(os.environ.get("RANK", "0")) == 0:
        remove_stale_temps(run_dir, RUN_FILES)  # half-written checkpoints of a killed run
    checkpoint = load_checkpoint(run_dir / "last.pt")
    bad = set(overrides or {}) - set(RESUMABLE)
    if bad:
        raise InputError(f"cannot change {sorted(bad)} when resuming (the data order and model would change)")
    config = dataclasses.replace(checkpoint.train_config, **(overrides or {}))
    data_dir = Path(data_dir or checkpoint.extra.get("data_dir", ""))
    if not str(data_dir):
        raise CheckpointError("does not say which corpus it was trained on; pass DATA", checkpoint.path)
    data = load_data(data_dir, checkpoint.data_config)
    check_tokenizer(checkpoint, data.tokenizer, data_dir)
    trainer = Trainer(Model(checkpoint.model_config), data, config, run_dir, progress=progress,
                      callbacks=_default_callbacks(data, config) if callbacks is None else callbacks,
                      extra={**checkpoint.extra, "data_dir": str(data_dir.resolve())})
    trainer.load_state(checkpoint)
    return _with_cache(trainer.fit(), trainer)


def _with_cache(result: FitResult, trainer: Trainer) -> FitResult:
    """Fit best.pt's cache on training pieces once the run stops (not on Ctrl-C); the fit goes in result.extra."""
    best = trainer.run_dir / "best.pt"
    if not trainer.config.fit_cache or trainer.rank != 0 or result.stopped == "interrupted" or not best.exists():
        return result
    _, fit = fit_checkpoint_cache(best, trainer.data.corpus.root, best, seed=trainer.config.seed,
                                  device=trainer.device, force=True)
    trainer.log({"event": "cache", **dataclasses.asdict(fit.config), **fit_record(fit)})
    return dataclasses.replace(result, extra={**result.extra, "cache": fit})


def _default_callbacks(data: TrainData, config: TrainConfig) -> list[Callback]:
    return [PreviewWriter(data.tokenizer, every=config.preview_every_epochs, max_tokens=config.preview_tokens,
                          seed=config.seed)]
