"""composer: read MIDI and ABC tunes, tokenize them, train an LSTM, and compose new music from a seed.

The public API is re-exported here; heavy parts (torch, music21) are imported on first use.
`composer.render` is the rendering module (`from composer.render import render`): a function of the
same name here would be replaced by the submodule the first time anything imports it.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_EXPORTS = {
    "Score": "composer.score",
    "Note": "composer.score",
    "TempoChange": "composer.score",
    "TimeSignature": "composer.score",
    "KeySignature": "composer.score",
    "ComposerError": "composer.errors",
    "InputError": "composer.errors",
    "LimitError": "composer.errors",
    "TokenizeError": "composer.errors",
    "CheckpointError": "composer.errors",
    "OutputError": "composer.errors",
    "load": "composer.io",
    "save_midi": "composer.io",
    "Tokenizer": "composer.tokenize",
    "tokenize_corpus": "composer.corpus",
    "CorpusReport": "composer.corpus",
    "Composer": "composer.generate.composer",
}

__all__ = sorted(_EXPORTS) + ["__version__"]


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'composer' has no attribute {name!r}")


def __dir__() -> list[str]:
    return __all__
