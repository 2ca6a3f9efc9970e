"""Trainer overhead: tokens/s of composer's Trainer against a bare fwd+bwd+AdamW loop, same model and batch size.

    python bench/train.py                 # CUDA: 3×512 LSTM, emb 256, batch 64×256, bf16 autocast
    python bench/train.py --small         # CPU-sized: 1×128 LSTM, emb 64, batch 16×64
    python bench/train.py --small --layers 2 --hidden 256 --batch-size 32 --seq-len 128

The trainer's figure includes everything it does per step (gathering windows from the memory-mapped
corpus, transposition, moving the batch, clipping, the schedule, logging every 50 steps); the bare
loop reuses one batch already on the device. Both run `--steps` timed steps after `--warmup` untimed
ones; the better of `--repeats` alternating rounds is kept. Goal: ratio ≥ 0.9.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from composer.corpus.data import DataConfig, load_data  # noqa: E402
from composer.model.network import Model, ModelConfig  # noqa: E402
from composer.tokenize import Tokenizer  # noqa: E402
from composer.train.config import TrainConfig
from composer.train.trainer import Trainer, pick_device  # noqa: E402


def write_random_corpus(root: Path, tokenizer: Tokenizer, n_tokens: int, seed: int = 0) -> Path:
    """A corpus folder of random pieces (BOS … EOS, 200-2,000 ids) holding about `n_tokens` ids."""
    rng = np.random.default_rng(seed)
    (root / "shards").mkdir(parents=True)
    tokenizer.save(root / "tokenizer.json")
    meta = {"format_version": 1, "dtype": "uint16", "tokenizer": tokenizer.name, "vocab_size": tokenizer.vocab_size}
    (root / "corpus.json").write_text(json.dumps(meta))
    pieces, lines, offset = [], [], 0
    while offset < n_tokens:
        ids = np.concatenate([[1], rng.integers(3, tokenizer.vocab_size, int(rng.integers(200, 2000))), [2]])
        lines.append(json.dumps({"file": f"r{len(lines)}", "sha1": "0" * 40, "piece": 0, "shard": "shard-00000.bin",
                                 "offset": offset, "length": len(ids), "title": "", "tune_type": None, "key": None,
                                 "meter": None}))
        pieces.append(ids)
        offset += len(ids)
    np.concatenate(pieces).astype("<u2").tofile(root / "shards" / "shard-00000.bin")
    (root / "index.jsonl").write_text("\n".join(lines) + "\n")
    return root


def bare_loop(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, steps: int, warmup: int, lr: float,
              amp: bool) -> float:
    """Tokens/s of zero_grad → forward → cross-entropy → backward → AdamW on one fixed batch."""
    device = x.device
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01, fused=device.type == "cuda" or None)
    model.train()

    def step() -> None:
        with torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=amp):
            logits, _ = model(x)  # (B, T, V)
        loss = F.cross_entropy(logits.float().flatten(0, 1), y.flatten())
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    for _ in range(warmup):
        step()
    _sync(device)
    start = time.perf_counter()
    for _ in range(steps):
        step()
    _sync(device)
    return steps * x.numel() / (time.perf_counter() - start)


def trainer_loop(model: torch.nn.Module, data, config: TrainConfig, run_dir: Path, steps: int, warmup: int) -> float:
    """Tokens/s of Trainer.fit over `steps` steps, after a first fit of `warmup` steps."""
    trainer = Trainer(model, data, dataclasses.replace(config, max_steps=warmup), run_dir, progress=False)
    trainer.fit()
    trainer.config = dataclasses.replace(config, max_steps=warmup + steps)
    _sync(trainer.device)
    return trainer.fit().tokens_per_second


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--small", action="store_true", help="CPU-sized model and batch")
    p.add_argument("--device", default="auto")
    p.add_argument("--steps", type=int, default=None, help="timed steps (default 50 on CUDA, 20 on CPU)")
    p.add_argument("--warmup", type=int, default=5)
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    p.add_argument("--no-amp", action="store_true", help="fp32 on CUDA too")
    for name in ("layers", "emb", "hidden", "batch-size", "seq-len"):
        p.add_argument(f"--{name}", type=int, default=None, help="override the size preset")
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = pick_device(args.device)
    amp = device.type == "cuda" and not args.no_amp
    steps = args.steps or (50 if device.type == "cuda" else 20)
    if args.small:
        shape, data_cfg = dict(layers=1, emb=64, hidden=128), DataConfig(seq_len=64, batch_size=16)
    else:
        shape, data_cfg = dict(layers=3, emb=256, hidden=512), DataConfig(seq_len=256, batch_size=64)
    shape.update({k: getattr(args, k) for k in ("layers", "emb", "hidden") if getattr(args, k)})
    data_cfg = dataclasses.replace(data_cfg, **{k: getattr(args, k) for k in ("batch_size", "seq_len")
                                                if getattr(args, k)})
    tokenizer = Tokenizer.create("performance")
    model_cfg = ModelConfig(vocab_size=tokenizer.vocab_size, dropout=0.0, **shape)
    train_cfg = TrainConfig(epochs=1, device=str(device), amp=amp, checkpoint_every_steps=10**9,
                            warmup_steps=10, preview_every_epochs=0)
    with tempfile.TemporaryDirectory() as tmp:
        need = (args.warmup + steps + 2) * data_cfg.batch_size * data_cfg.seq_len * 1.1 / (1 - data_cfg.val_fraction)
        data = load_data(write_random_corpus(Path(tmp) / "corpus", tokenizer, int(need)), data_cfg)
        x, y = (t.to(device) for t in data.batch(0, 0))
        bare, ours = [], []
        for r in range(args.repeats):
            torch.manual_seed(0)
            bare.append(bare_loop(Model(model_cfg).to(device), x, y, steps, args.warmup, train_cfg.lr, amp))
            torch.manual_seed(0)
            ours.append(trainer_loop(Model(model_cfg), data, train_cfg, Path(tmp) / f"run{r}", steps, args.warmup))
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU, {torch.get_num_threads()} threads"
    print(f"device   {device} ({name}); amp bf16: {amp}; torch {torch.__version__}")
    print(f"model    {shape['layers']}×{shape['hidden']} LSTM, emb {shape['emb']}, vocab {tokenizer.vocab_size}, "
          f"{Model(model_cfg).num_parameters():,} parameters; batch {data_cfg.batch_size}×{data_cfg.seq_len}")
    print(f"bare     {max(bare):>12,.0f} tokens/s   (rounds: {', '.join(f'{b:,.0f}' for b in bare)})")
    print(f"trainer  {max(ours):>12,.0f} tokens/s   (rounds: {', '.join(f'{o:,.0f}' for o in ours)})")
    print(f"ratio    {max(ours) / max(bare):.3f}   (goal ≥ 0.9)")


if __name__ == "__main__":
    main()
