"""Tokenize: Score ↔ event ids. Takes a Score, gives ids in a scheme's vocabulary (and back).

Importing the package registers every scheme — performance, metric, abc — so `Tokenizer.create(name)` finds it.
"""

from composer.tokenize import abc, metric, performance  # noqa: F401  (each scheme registers itself)
from composer.tokenize.base import BOS, EOS, PAD, Tokenizer, Vocab, registered

__all__ = ["BOS", "EOS", "PAD", "Tokenizer", "Vocab", "registered"]
