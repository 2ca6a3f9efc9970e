"""Reels heard as reels: python bench/reels.py CKPT CLASSIFIER N TEMPERATURE [SEED] [DRAFTS].

Composes N pieces asked for as reels (DRAFTS per piece, the probe's likeliest kept; default: the
checkpoint's) and prints the share the classifier (`composer classify train`) hears as reels, with the time.
"""

import collections
import sys
import time

import torch

from composer.evaluate.classifier import load_classifier
from composer.evaluate.run import GenerateConfig, compose_set
from composer.generate.composer import Composer


def main(argv: list[str]) -> None:
    ckpt, clf_path, n, temperature = argv[0], argv[1], int(argv[2]), float(argv[3])
    torch.manual_seed(int(argv[4]) if len(argv) > 4 else 0)
    drafts = int(argv[5]) if len(argv) > 5 else None
    composer = Composer.load(ckpt, device="cpu")
    start = time.time()
    pieces = compose_set(composer, [("reel", n)], GenerateConfig(n=n, temperature=temperature, drafts=drafts))
    pred = load_classifier(clf_path).classify(pieces)
    used = drafts or (composer.probe.config.drafts if composer.probe else 1)
    print(f"{ckpt} T={temperature} drafts={used}: {pred.count('reel') / n:.3f} of {n} heard as reels "
          f"{dict(collections.Counter(pred))} ({time.time() - start:.0f} s)")


if __name__ == "__main__":
    main(sys.argv[1:])
