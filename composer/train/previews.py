"""Preview samples during training: continue the opening of each bundled seed tune, write MIDI.

A Trainer callback (music-aware, so it lives apart from the trainer). Every `every` epochs it
primes the model with the first `prefix_tokens` ids of each seed tune (midi_corpus/seeds/*.abc,
encoded with the run's tokenizer), samples at temperature 1 with the state carried, decodes and
writes run_dir/previews/epoch-XXX/<seed>.mid. No seeds, or a seed the tokenizer cannot encode, is
skipped; a sample that does not decode is recorded as failed, never fatal.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from composer.errors import ComposerError
from composer.io import load, save_midi
from composer.model.sampling import SampleConfig, sample_tokens
from composer.tokenize.base import EOS, Tokenizer

SEEDS_DIR = Path(__file__).resolve().parents[2] / "midi_corpus" / "seeds"


def seed_prefixes(tokenizer: Tokenizer, seeds_dir: Path, prefix_tokens: int) -> dict[str, list[int]]:
    """Seed name → its first `prefix_tokens` ids (BOS included, EOS never); unreadable seeds are left out."""
    prefixes = {}
    for path in sorted(seeds_dir.glob("*.abc")) if seeds_dir.is_dir() else []:
        try:
            ids = tokenizer.encode(load(path)[0])
        except ComposerError:
            continue
        prefixes[path.stem] = ids[: min(prefix_tokens, len(ids) - 1)]
    return prefixes


class PreviewWriter:
    """Trainer callback writing seed continuations as MIDI every `every` epochs, and after the last epoch of a
    run shorter than that (rank 0 only; `every` 0: never)."""

    def __init__(self, tokenizer: Tokenizer, seeds_dir: Path = SEEDS_DIR, every: int = 5, max_tokens: int = 512,
                 prefix_tokens: int = 64, seed: int = 0) -> None:
        self.tokenizer, self.seeds_dir, self.every = tokenizer, Path(seeds_dir), every
        self.max_tokens, self.prefix_tokens, self.seed = max_tokens, prefix_tokens, seed
        self._prefixes: dict[str, list[int]] | None = None

    def __call__(self, trainer: Any, epoch: int, metrics: dict[str, Any]) -> None:
        last = getattr(getattr(trainer, "config", None), "epochs", None)
        due = self.every >= 1 and (epoch % self.every == 0 or (epoch == last and epoch < self.every))
        if trainer.rank != 0 or not due:
            return
        if self._prefixes is None:
            self._prefixes = seed_prefixes(self.tokenizer, self.seeds_dir, self.prefix_tokens)
        if not self._prefixes:
            return
        out = trainer.run_dir / "previews" / f"epoch-{epoch:03d}"
        generator = torch.Generator(device=trainer.device).manual_seed(self.seed + epoch)
        written, failed = [], []
        trainer.model.eval()
        for name, prefix in self._prefixes.items():
            ids = sample_tokens(trainer.model, prefix, 1, self.max_tokens, None, SampleConfig(max_tokens=self.max_tokens),
                                EOS, generator=generator)[0]
            try:
                save_midi(self.tokenizer.decode(prefix + ids), out / f"{name}.mid")
                written.append(name)
            except ComposerError as e:
                failed.append(f"{name}: {e.problem}")
        trainer.log({"event": "preview", "dir": str(out), "written": written, "failed": failed})
