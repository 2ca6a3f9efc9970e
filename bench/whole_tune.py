"""What a whole tune costs: composing a whole AABB reel with a model that writes repeats, against composing
32 bars written out with one that does not (the shipped model before FORM tokens), in the same run.

    python bench/whole_tune.py NEW.pt OLD.pt [N] [ROUNDS]

Alternates the two, `ROUNDS` times (default 3), n = N reels (default 4) asked by type, one torch thread;
prints each median and the ratio (below 1: the whole tune is cheaper).
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from composer.generate.composer import Composer  # noqa: E402


def main() -> None:
    new, old = Composer.load(sys.argv[1], device="cpu"), Composer.load(sys.argv[2], device="cpu")
    n = int(sys.argv[3]) if len(sys.argv) > 3 else 4
    rounds = int(sys.argv[4]) if len(sys.argv) > 4 else 3
    torch.set_num_threads(1)
    times: dict[str, list[float]] = {"whole tune (form)": [], "32 bars (written out)": []}
    for r in range(rounds):
        for label, composer, bars in (("whole tune (form)", new, None), ("32 bars (written out)", old, 32)):
            start = time.perf_counter()
            composer.compose(None, n=n, tune_type="reel", bars=bars, rng_seed=r)
            times[label].append(time.perf_counter() - start)
        print(f"round {r + 1}: " + ", ".join(f"{k} {v[-1]:.1f} s" for k, v in times.items()), flush=True)
    a, b = (statistics.median(v) for v in times.values())
    print(f"median: whole tune {a:.1f} s, 32 bars {b:.1f} s for {n} reels with drafts; ratio {a / b:.2f}")


if __name__ == "__main__":
    main()
