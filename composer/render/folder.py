"""Compose into a new folder and render every variation there: what `composer compose` writes."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from composer.files import unique_path
from composer.generate.composer import Composer
from composer.render.write import render_batch

DEFAULT_SEED = Path(__file__).resolve().parents[2] / "midi_corpus" / "seeds" / "kesh.abc"


@dataclass(frozen=True)
class ComposeResult:
    """What `compose_to_folder` wrote: the folder, one record per variation, and the listening page."""

    folder: Path
    pieces: list
    page: Path | None


def compose_to_folder(composer: Composer, out_dir: str | Path, *, seed: Any = None, wav: bool = True,
                      png: bool = True, html: bool = True, **compose_args: Any) -> ComposeResult:
    """Compose and render into a new folder under `out_dir` (never reusing one): .mid, and .wav/.png/
    index.html on request. `compose_args` go to `Composer.compose`."""
    scores = composer.compose(seed, **compose_args)
    stem = Path(seed).stem if isinstance(seed, (str, Path)) else (compose_args.get("tune_type") or "composition")
    folder = unique_path(out_dir, stem.replace(" ", "-"), "")
    folder.mkdir(parents=True)
    pieces = render_batch(scores, folder, stem="variation", wav=wav, png=png, html=html,
                          seed_end_ticks=[s.metadata.get("seed_end_tick", 0) for s in scores])
    page = folder / "index.html" if html else None
    return ComposeResult(folder, pieces, page)
