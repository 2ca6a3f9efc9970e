"""Tokenizers: score ↔ event ids. `Tokenizer.create(name)` builds one of the registered schemes."""

from composer.tokenize.base import BOS, EOS, PAD, Tokenizer, Vocab, registered

__all__ = ["BOS", "EOS", "PAD", "Tokenizer", "Vocab", "registered"]
