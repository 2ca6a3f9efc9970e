"""Redraw the pictures of docs/results.md from a checkpoint: `python docs/figures.py [CHECKPOINT] [--eval DIR] [--run DIR]`.

Piano rolls of a reel in D and a jig in G from the labels alone, and of Cooley's reel continued; with
`--eval` (a `composer evaluate --generated` folder) its summary figure, with `--run` (a training run) its loss curve.
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

from composer.files import atomic_write_bytes
from composer.generate.composer import Composer
from composer.render.pianoroll import piano_roll_png

IMG = Path(__file__).resolve().parent / "img"
SEEDS = Path(__file__).resolve().parent.parent / "midi_corpus" / "seeds"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("checkpoint", nargs="?", default=None)
    parser.add_argument("--eval", type=Path, default=None, help="an evaluate --generated report folder")
    parser.add_argument("--run", type=Path, default=None, help="a training run folder (its loss.png)")
    args = parser.parse_args()
    composer = Composer.load(args.checkpoint, device="cpu")
    pictures = {
        "reel-in-d.png": composer.compose(n=1, tune_type="reel", key="D", rng_seed=3)[0],  # a whole tune, AABB
        "jig-in-g.png": composer.compose(n=1, tune_type="jig", key="G", rng_seed=3)[0],
        "cooleys-continued.png": composer.compose(SEEDS / "cooleys.abc", n=1, temperature=0.9, rng_seed=3)[0],
    }
    for name, score in pictures.items():
        atomic_write_bytes(IMG / name, piano_roll_png(score, score.metadata.get("seed_end_tick", 0)))
        print(f"wrote {IMG / name}")
    if args.eval is not None:
        shutil.copyfile(args.eval / "summary.png", IMG / "mgeval-overlap.png")
        print(f"wrote {IMG / 'mgeval-overlap.png'}")
    if args.run is not None:
        shutil.copyfile(args.run / "loss.png", IMG / "loss-curve.png")
        print(f"wrote {IMG / 'loss-curve.png'}")


if __name__ == "__main__":
    main()
