"""Tokenizer base: a vocabulary built from typed value ranges, encode/decode, JSON save/load, a registry.

A scheme subclasses `Tokenizer`, sets `name` and `Config` (a frozen dataclass), and implements
`token_ranges`, `encode`, `decode` and `normalize`. Every vocabulary starts with PAD=0, BOS=1,
EOS=2; `encode` returns BOS … EOS, `decode` ignores the three.
"""

from __future__ import annotations

import dataclasses
import json
from abc import ABC, abstractmethod
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from composer.errors import InputError, TokenizeError
from composer.files import atomic_write_text
from composer.score import Score

FORMAT_VERSION = 1
SPECIALS = ("PAD", "BOS", "EOS")
PAD, BOS, EOS = 0, 1, 2

_REGISTRY: dict[str, type[Tokenizer]] = {}


class Vocab:
    """Token strings `KIND:value` laid out kind by kind from typed value ranges, with offsets.

    A kind whose only value is None (e.g. BAR) gets the bare token `KIND`."""

    def __init__(self, ranges: Sequence[tuple[str, Sequence[Any]]]) -> None:
        self.tokens: list[str] = list(SPECIALS)
        self.kinds: list[str] = list(SPECIALS)
        self.values: list[Any] = [None, None, None]
        self.offsets: dict[str, int] = {s: i for i, s in enumerate(SPECIALS)}
        self.sizes: dict[str, int] = {s: 1 for s in SPECIALS}
        for kind, values in ranges:
            self.offsets[kind] = len(self.tokens)
            self.sizes[kind] = len(values)
            for v in values:
                self.tokens.append(kind if v is None else f"{kind}:{v}")
                self.kinds.append(kind)
                self.values.append(v)
        self.index = {t: i for i, t in enumerate(self.tokens)}
        if len(self.index) != len(self.tokens):
            raise ValueError("duplicate token strings in vocabulary")
        self.value_index = {(k, v): i for i, (k, v) in enumerate(zip(self.kinds, self.values, strict=True))}

    def __len__(self) -> int:
        return len(self.tokens)

    def id(self, kind: str, value: Any) -> int:
        """Id of the token of `kind` with `value`; KeyError when it is not in the vocabulary."""
        return self.value_index[(kind, value)]

    def ids_of(self, kind: str) -> np.ndarray:
        """All ids of one kind, in value order."""
        start = self.offsets[kind]
        return np.arange(start, start + self.sizes[kind])

    def kind_array(self) -> np.ndarray:
        """Kind name of every id, as an array indexable by ids."""
        return np.array(self.kinds)


class Tokenizer(ABC):
    """Score ↔ event ids for one scheme; see `Tokenizer.create` for the registered names."""

    name: ClassVar[str]
    Config: ClassVar[type]
    header_length: ClassVar[int] = 1  # tokens every piece opens with (BOS, then any header fields)

    def __init__(self, config: Any = None) -> None:
        self.config = config if config is not None else self.Config()
        self._vocab = Vocab(self.token_ranges())

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "name" in cls.__dict__:
            _REGISTRY[cls.name] = cls

    # --- what a scheme implements -------------------------------------------------------------
    @abstractmethod
    def token_ranges(self) -> list[tuple[str, Sequence[Any]]]:
        """The vocabulary as (kind, values) ranges, in id order after the specials."""

    @abstractmethod
    def encode(self, score: Score) -> list[int]:
        """Ids for `score`, BOS first and EOS last. Raises TokenizeError naming the score's source."""

    @abstractmethod
    def decode(self, ids: Sequence[int]) -> Score:
        """The score the ids describe; PAD/BOS/EOS are skipped, ids after EOS ignored."""

    @abstractmethod
    def normalize(self, score: Score) -> Score:
        """What `decode(encode(score))` gives: the score after this scheme's quantisation and limits."""

    # --- shared ------------------------------------------------------------------------------
    @property
    def vocab(self) -> list[str]:
        """Token strings, indexed by id."""
        return self._vocab.tokens

    @property
    def vocab_size(self) -> int:
        return len(self._vocab)

    @property
    def table(self) -> Vocab:
        """The vocabulary with its kinds, values and offsets, for code that reasons about tokens."""
        return self._vocab

    def tokens(self, ids: Sequence[int]) -> list[str]:
        """Token strings for ids, for reading a sequence by eye."""
        return [self._vocab.tokens[i] for i in ids]

    def transposition_table(self, semitones: int) -> np.ndarray | None:
        """Id → id of the same token moved by `semitones` (−1 where it leaves the range), or None
        when the scheme cannot transpose by id mapping alone."""
        return None

    def to_dict(self) -> dict[str, Any]:
        return {
            "format_version": FORMAT_VERSION,
            "name": self.name,
            "config": _jsonable(dataclasses.asdict(self.config)),
            "vocab": self.vocab,
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=1)

    def save(self, path: str | Path, *, force: bool = True) -> Path:
        """Write the tokenizer (name, config, vocabulary, format version) as JSON, atomically."""
        return atomic_write_text(path, self.to_json(), force=force)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Tokenizer) and self.to_dict() == other.to_dict()

    def __hash__(self) -> int:
        return hash(self.to_json())

    def __repr__(self) -> str:
        return f"Tokenizer.create({self.name!r}, …) with {self.vocab_size} tokens"

    @staticmethod
    def create(name: str, **config: Any) -> Tokenizer:
        """A tokenizer of a registered scheme ('performance', 'metric', 'abc') with config overrides."""
        if name not in _REGISTRY:
            raise InputError(f"unknown tokenizer {name!r}; choose one of {sorted(_REGISTRY)}")
        cls = _REGISTRY[name]
        fields = {f.name: f for f in dataclasses.fields(cls.Config)}
        unknown = set(config) - set(fields)
        if unknown:
            raise InputError(f"tokenizer {name!r} has no option(s) {sorted(unknown)}; options: {sorted(fields)}")
        return cls(cls.Config(**{k: _from_json(fields[k].type, v) for k, v in config.items()}))

    @staticmethod
    def from_dict(data: dict[str, Any], source: str | Path | None = None) -> Tokenizer:
        """Rebuild a tokenizer from `to_dict` output, refusing unknown versions and mismatched vocabularies."""
        if not isinstance(data, dict) or "name" not in data or "config" not in data:
            raise InputError("not a composer tokenizer JSON (needs name, config, vocab)", source)
        if data.get("format_version") != FORMAT_VERSION:
            raise InputError(
                f"tokenizer format version {data.get('format_version')} is not {FORMAT_VERSION}; "
                "re-tokenize with this composer version", source)
        try:
            tok = Tokenizer.create(data["name"], **data["config"])
        except (TypeError, ValueError) as e:
            raise InputError(f"bad tokenizer config: {e}", source) from None
        if "vocab" in data and data["vocab"] != tok.vocab:
            raise InputError("vocabulary in the file does not match the one this composer builds "
                             "from its config; re-tokenize with this version", source)
        return tok

    @staticmethod
    def load(path: str | Path) -> Tokenizer:
        """Read a tokenizer saved with `save`."""
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise InputError("no such tokenizer file", path) from None
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
            raise InputError(f"cannot read tokenizer JSON: {e}", path) from None
        return Tokenizer.from_dict(data, path)

    def checked_ids(self, ids: Sequence[int]) -> np.ndarray:
        """The ids as a flat int64 array up to the first EOS; TokenizeError for anything else or an id out of range."""
        arr = np.asarray(ids)
        if arr.size == 0:
            return arr.astype(np.int64).reshape(0)
        if arr.ndim != 1 or arr.dtype.kind not in "iu":
            raise TokenizeError(f"{self.name} tokenizer: ids must be a flat sequence of integers")
        if arr.min() < 0 or arr.max() >= self.vocab_size:
            bad = int(arr[(arr < 0) | (arr >= self.vocab_size)][0])
            raise TokenizeError(f"{self.name} tokenizer: id {bad} is outside the vocabulary 0..{self.vocab_size - 1}")
        stop = np.flatnonzero(arr == EOS)
        return (arr[: stop[0]] if stop.size else arr).astype(np.int64)

    def _error(self, score: Score, problem: str) -> TokenizeError:
        return TokenizeError(f"{self.name} tokenizer: {problem}", score.source or None)


def registered() -> list[str]:
    """Names of the registered tokenizer schemes (`composer.tokenize` imports every scheme)."""
    return sorted(_REGISTRY)


def _jsonable(value: Any) -> Any:
    if isinstance(value, tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    return value


def _from_json(field_type: Any, value: Any) -> Any:
    """JSON gives lists where configs hold tuples; turn them back so frozen configs stay hashable."""
    return tuple(_from_json(None, v) for v in value) if isinstance(value, list) else value
