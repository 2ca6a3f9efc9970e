"""The one checkpoint format, and the one loader that resume, sampling, evaluation and the API all use.

A checkpoint is a single `torch.save` file holding only tensors and plain values (str, int, float,
bool, None, list, dict): the model's state_dict, optimizer and scheduler state, RNG states, the
position in training, every config as a dict, and the tokenizer as its JSON dict — so it is enough
on its own to sample from. It is loaded with `weights_only=True`, which refuses pickled code, and
written atomically (temp file + rename), so a crash mid-save leaves the previous file intact.
"""

from __future__ import annotations

import dataclasses
import io
import pickle
import random
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

import composer
from composer.corpus.data import DataConfig
from composer.errors import CheckpointError, ComposerError, OutputError
from composer.files import atomic_write_bytes
from composer.model.cache import CacheConfig
from composer.model.network import Model, ModelConfig
from composer.model.probe import ProbeConfig, TypeProbe
from composer.tokenize.base import Tokenizer
from composer.train.config import TrainConfig

FORMAT = "composer-checkpoint"
FORMAT_VERSION = 1


@dataclass(frozen=True)
class Checkpoint:
    """A loaded checkpoint: parsed configs and tokenizer, raw states, and where training stood."""

    path: Path
    model_config: ModelConfig
    train_config: TrainConfig
    data_config: DataConfig
    tokenizer: Tokenizer
    model_state: dict[str, torch.Tensor]
    optimizer_state: dict[str, Any] | None = None
    scheduler_state: dict[str, Any] | None = None
    rng_state: dict[str, Any] | None = None
    step: int = 0
    epoch: int = 0
    step_in_epoch: int = 0
    best_val_loss: float | None = None
    composer_version: str = ""
    extra: dict[str, Any] = field(default_factory=dict)
    cache_config: CacheConfig = CacheConfig()  # off unless fit (`composer fit-cache`, or at the end of training)
    probe: TypeProbe | None = None  # the type judge of drafts, once fit (`composer fit-probe`)


def capture_rng() -> dict[str, Any]:
    """The torch, CUDA, numpy-global and python RNG states, as tensors and plain values."""
    np_state = np.random.get_state(legacy=False)
    np_state["state"] = {k: v.tolist() if isinstance(v, np.ndarray) else v for k, v in np_state["state"].items()}
    version, internal, gauss = random.getstate()
    state = {"torch": torch.get_rng_state(), "numpy": np_state, "python": [version, list(internal), gauss]}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng(state: dict[str, Any]) -> None:
    """Put back the RNG states `capture_rng` took (CUDA ones only where CUDA is present)."""
    torch.set_rng_state(state["torch"])
    np_state = dict(state["numpy"])
    np_state["state"] = {k: np.array(v, dtype=np.uint32) if isinstance(v, list) else v
                         for k, v in np_state["state"].items()}
    np.random.set_state(np_state)
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    if torch.cuda.is_available() and "cuda" in state:
        torch.cuda.set_rng_state_all(state["cuda"])


def save_checkpoint(path: str | Path, *, model: torch.nn.Module, model_config: ModelConfig, train_config: TrainConfig,
                    data_config: DataConfig, tokenizer: Tokenizer, optimizer: torch.optim.Optimizer | None = None,
                    scheduler: Any = None, step: int = 0, epoch: int = 0, step_in_epoch: int = 0,
                    best_val_loss: float | None = None, extra: dict[str, Any] | None = None,
                    cache_config: CacheConfig = CacheConfig(), probe: TypeProbe | None = None) -> Path:
    """Write everything needed to resume training or to sample, atomically, to `path`."""
    model = getattr(model, "module", model)  # a DistributedDataParallel wrapper saves its inner model
    payload = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "composer_version": composer.__version__,
        "model": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "optimizer": optimizer.state_dict() if optimizer is not None else None,
        "scheduler": scheduler.state_dict() if scheduler is not None else None,
        "rng": capture_rng(),
        "step": int(step),
        "epoch": int(epoch),
        "step_in_epoch": int(step_in_epoch),
        "best_val_loss": None if best_val_loss is None else float(best_val_loss),
        "configs": {"model": _config_dict(model_config), "train": _config_dict(train_config),
                    "data": _config_dict(data_config), "cache": _config_dict(cache_config),
                    "probe": _config_dict(probe.config if probe is not None else ProbeConfig())},
        "tokenizer": tokenizer.to_dict(),
        "extra": dict(extra or {}),
        "probe": probe.state() if probe is not None else None,
    }
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    return atomic_write_bytes(path, buffer.getvalue())


def _config_dict(config: Any) -> dict[str, Any]:
    return dataclasses.asdict(config) if dataclasses.is_dataclass(config) else dict(config)


def _config_from(cls: type, data: Any, path: Path) -> Any:
    """Rebuild a frozen config: lists back to tuples; a field the code no longer has is an error."""
    if not isinstance(data, dict):
        raise CheckpointError(f"{cls.__name__} is not a dict in the checkpoint", path)
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = set(data) - known
    if unknown:
        raise CheckpointError(f"{cls.__name__} has fields this composer does not know: {sorted(unknown)}", path)
    data = {**getattr(cls, "LEGACY", {}), **data}  # a field added later takes the value older runs had
    try:
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in data.items()})
    except (TypeError, ValueError) as e:
        raise CheckpointError(f"bad {cls.__name__} in the checkpoint: {e}", path) from None


def _probe_from(config: Any, state: Any, path: Path) -> TypeProbe | None:
    """The checkpoint's type probe, or None where it has none (older checkpoints, or never fit)."""
    probe_config = _config_from(ProbeConfig, config, path)
    if not probe_config.enabled:
        return None
    if not isinstance(state, dict) or not {"weight", "bias"} <= set(state):
        raise CheckpointError("names a type probe but lacks its weights", path)
    try:
        return TypeProbe(probe_config, state["weight"], state["bias"])
    except ComposerError as e:
        raise CheckpointError(f"bad type probe: {e.problem}", path) from None


def _read(path: Path, map_location: Any) -> dict[str, Any]:
    """torch.load under weights_only, with every way it can fail turned into a CheckpointError."""
    if not path.is_file():
        raise CheckpointError("no such checkpoint file", path)
    try:
        payload = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as e:
        if "weights_only" in str(e) or "Unsupported global" in str(e):
            raise CheckpointError("refused: the file holds pickled code objects, which composer never "
                                  "writes and will not run; it is not a composer checkpoint", path) from None
        raise CheckpointError(f"not a composer checkpoint, or corrupt: {_short(e)}", path) from None
    except (RuntimeError, EOFError, ValueError, OSError, zipfile.BadZipFile, KeyError, AttributeError) as e:
        raise CheckpointError(f"not a composer checkpoint, or truncated/corrupt: {_short(e)}", path) from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise CheckpointError("not a composer checkpoint (no composer header in it)", path)
    if payload.get("format_version") != FORMAT_VERSION:
        raise CheckpointError(f"checkpoint format version {payload.get('format_version')} is not "
                              f"{FORMAT_VERSION}; it was written by another composer version", path)
    theirs, ours = str(payload.get("composer_version", "")), composer.__version__
    if theirs.split(".")[0] != ours.split(".")[0]:
        raise CheckpointError(f"written by composer {theirs}, which is incompatible with {ours}", path)
    return payload


def _short(e: BaseException) -> str:
    return str(e).strip().splitlines()[0][:200] if str(e).strip() else type(e).__name__


def load_checkpoint(path: str | Path, map_location: Any = "cpu") -> Checkpoint:
    """Read and check a checkpoint; raises CheckpointError naming the file for every problem."""
    path = Path(path)
    payload = _read(path, map_location)
    try:
        configs, tok_data = payload["configs"], payload["tokenizer"]
        tokenizer = Tokenizer.from_dict(tok_data, path)
        return Checkpoint(
            path=path,
            model_config=_config_from(ModelConfig, configs["model"], path),
            train_config=_config_from(TrainConfig, configs["train"], path),
            data_config=_config_from(DataConfig, configs["data"], path),
            tokenizer=tokenizer,
            model_state=payload["model"],
            optimizer_state=payload.get("optimizer"),
            scheduler_state=payload.get("scheduler"),
            rng_state=payload.get("rng"),
            step=int(payload.get("step", 0)),
            epoch=int(payload.get("epoch", 0)),
            step_in_epoch=int(payload.get("step_in_epoch", 0)),
            best_val_loss=payload.get("best_val_loss"),
            composer_version=str(payload.get("composer_version", "")),
            extra=dict(payload.get("extra") or {}),
            cache_config=_config_from(CacheConfig, configs.get("cache", {}), path),
            probe=_probe_from(configs.get("probe", {}), payload.get("probe"), path),
        )
    except CheckpointError:
        raise
    except ComposerError as e:
        raise CheckpointError(f"bad tokenizer in the checkpoint: {e.problem}", path) from None
    except (KeyError, TypeError) as e:
        raise CheckpointError(f"checkpoint lacks a part ({_short(e)}); corrupt or hand-made", path) from None


def build_model(checkpoint: Checkpoint, device: str | torch.device = "cpu") -> Model:
    """The checkpoint's network with its weights, on `device`, in eval mode (ready to sample)."""
    model = Model(checkpoint.model_config)
    try:
        model.load_state_dict(checkpoint.model_state)
    except RuntimeError as e:
        raise CheckpointError(f"weights do not fit the model config: {_short(e)}", checkpoint.path) from None
    return model.to(device).eval()


def check_tokenizer(checkpoint: Checkpoint, tokenizer: Tokenizer, data_source: str | Path | None = None) -> None:
    """Refuse data tokenized differently from what the checkpoint's model was trained on."""
    if checkpoint.tokenizer == tokenizer:
        return
    a, b = checkpoint.tokenizer, tokenizer
    same_shape = a.name == b.name and a.vocab_size == b.vocab_size
    where = f" of {data_source}" if data_source else ""
    raise CheckpointError(
        f"trained on {a.name} tokens ({a.vocab_size} ids), but the data{where} uses {b.name} ({b.vocab_size} ids)"
        f"{' with another tokenizer config' if same_shape else ''}; tokenize it with the checkpoint's tokenizer",
        checkpoint.path)


def export_checkpoint(src: str | Path, dst: str | Path, *, extra: dict[str, Any] | None = None,
                      force: bool = False) -> Path:
    """A sampling-only copy of a checkpoint: weights, configs, tokenizer and figures, without the
    optimizer, scheduler and RNG states (a third of the size; what `checkpoints/default.pt` ships as)."""
    ckpt = load_checkpoint(src)
    model = build_model(ckpt)
    if not force and Path(dst).exists():
        raise OutputError("already exists; pass --force to replace it", dst)
    return save_checkpoint(dst, model=model, model_config=ckpt.model_config, train_config=ckpt.train_config,
                           data_config=ckpt.data_config, tokenizer=ckpt.tokenizer, step=ckpt.step,
                           epoch=ckpt.epoch, best_val_loss=ckpt.best_val_loss, cache_config=ckpt.cache_config,
                           probe=ckpt.probe, extra={**ckpt.extra, **(extra or {}), "exported_from": str(src)})


def update_checkpoint(src: str | Path, dst: str | Path, *, configs: dict[str, Any] | None = None,
                      parts: dict[str, Any] | None = None, extra: dict[str, Any] | None = None,
                      force: bool = False) -> Path:
    """`src` written to `dst` with some configs (e.g. "cache") and top-level parts (e.g. "probe") replaced
    and `extra` merged in; everything else (weights, optimizer, RNG…) kept as it was."""
    src, dst = Path(src), Path(dst)
    if not force and dst.exists():
        raise OutputError("already exists; pass --force to replace it", dst)
    payload = _read(src, "cpu")
    payload["configs"] = {**payload["configs"], **{k: _config_dict(v) for k, v in (configs or {}).items()}}
    payload.update(parts or {})
    payload["extra"] = {**(payload.get("extra") or {}), **(extra or {})}
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    return atomic_write_bytes(dst, buffer.getvalue())
