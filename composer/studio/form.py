"""The compose form: text fields from the page → checked `Settings`, refused in one line like the CLI refuses.

Nothing here touches the model or files; the defaults are `composer compose`'s (a test keeps them equal).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any, TypeVar

from composer.errors import InputError
from composer.tokenize.form import FormPlan

MAX_N = 32  # variations per request: one batch on the shared model; more is a queue of requests
MAX_BARS = 256  # new bars per variation (O'Neill's longest tune has 146 bars)
MAX_DRAFTS = 16
MAX_RNG_SEED = 2**63 - 1
SEED_KINDS = ("bundled", "upload", "abc", "none", "continue")

T = TypeVar("T")


class BadRequest(ValueError):
    """A value the page sent that composer refuses; its message is the one line the page shows."""


@dataclass(frozen=True)
class Settings:
    """What one compose request asks for; field names and defaults are those of `composer compose`."""

    n: int = 4
    bars: int | None = None  # None: a whole tune in its form (a model that writes repeats), else 16 bars
    form: str | None = None  # AABB, ABAB, AABBCC …
    temperature: float = 0.9
    top_k: int | None = None
    top_p: float | None = None
    tune_type: str | None = None
    key: str | None = None
    meter: str | None = None
    rng_seed: int | None = None
    continuation_only: bool = False
    drafts: int | None = None

    def compose_args(self) -> dict[str, Any]:
        """Keyword arguments for `Composer.compose` (and so for `compose_to_folder`)."""
        args = asdict(self)
        args["include_seed"] = not args.pop("continuation_only")
        return args

    def to_dict(self) -> dict[str, Any]:
        """The settings as JSON-ready values, for the page and the history log."""
        return asdict(self)


@dataclass(frozen=True)
class Labels:
    """The tune types, keys and meters the model's vocabulary holds (empty: any text is passed on)."""

    tune_types: Sequence[str] = ()
    keys: Sequence[str] = ()
    meters: Sequence[str] = ()


def parse_settings(fields: Mapping[str, Any], labels: Labels | None = None) -> Settings:
    """Settings from form fields (strings; blank means the default); BadRequest names the first bad one."""
    d, labels = Settings(), labels or Labels()
    n = _number(fields, "n", int, d.n)
    bars = _number(fields, "bars", int, d.bars)
    form = _text(fields, "form") or None
    temperature = _number(fields, "temperature", float, d.temperature)
    top_k = _number(fields, "top_k", int, None)
    top_p = _number(fields, "top_p", float, None)
    rng_seed = _number(fields, "rng_seed", int, None)
    drafts = _number(fields, "drafts", int, None)
    _check(1 <= n <= MAX_N, f"n (variations) must be between 1 and {MAX_N}, not {n}")
    _check(bars is None or 1 <= bars <= MAX_BARS, f"bars must be between 1 and {MAX_BARS}, not {bars}")
    if form is not None:
        try:
            FormPlan.parse(form)
        except InputError as e:
            raise BadRequest(e.problem) from None
    _check(math.isfinite(temperature) and temperature > 0, f"temperature must be above 0 and finite, not {temperature}")
    _check(top_k is None or top_k >= 1, f"top-k must be at least 1, not {top_k}")
    _check(top_p is None or (math.isfinite(top_p) and 0 < top_p <= 1), f"top-p must lie in (0, 1], not {top_p}")
    _check(rng_seed is None or 0 <= rng_seed <= MAX_RNG_SEED, f"random seed must lie in 0…{MAX_RNG_SEED}, not {rng_seed}")
    _check(drafts is None or 1 <= drafts <= MAX_DRAFTS, f"drafts must be between 1 and {MAX_DRAFTS}, not {drafts}")
    return Settings(
        n=n, bars=bars, form=form, temperature=temperature, top_k=top_k, top_p=top_p,
        tune_type=_label(fields, "tune_type", "tune type", labels.tune_types),
        key=_label(fields, "key", "key", labels.keys), meter=_label(fields, "meter", "meter", labels.meters),
        rng_seed=rng_seed, continuation_only=_flag(fields, "continuation_only"), drafts=drafts)


def one_line(text: str, limit: int = 300) -> str:
    """`text` as the one line the page shows: whitespace (newlines from a parser's message too) collapsed, capped."""
    line = " ".join(str(text).split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


def seed_kind(fields: Mapping[str, Any]) -> str:
    """Which seed the request names: bundled, upload, abc, none or continue."""
    kind = _text(fields, "seed_kind") or "bundled"
    _check(kind in SEED_KINDS, f"seed must be one of {', '.join(SEED_KINDS)}, not {kind!r}")
    return kind


def _text(fields: Mapping[str, Any], name: str) -> str:
    value = fields.get(name)
    return value.strip() if isinstance(value, str) else ""


def _number(fields: Mapping[str, Any], name: str, kind: Callable[[str], T], default: T) -> T:
    """The field as int or float; blank gives `default`, anything unreadable a BadRequest."""
    text = _text(fields, name)
    if not text:
        return default
    try:
        return kind(text)
    except ValueError:
        noun = "a whole number" if kind is int else "a number"
        raise BadRequest(f"{name.replace('_', ' ')} must be {noun}, not {text[:40]!r}") from None


def _label(fields: Mapping[str, Any], name: str, noun: str, allowed: Sequence[str]) -> str | None:
    text = _text(fields, name)
    if not text:
        return None
    _check(len(text) <= 40, f"{noun} is too long")
    _check(not allowed or text in allowed, f"{noun} {text!r} is not one this model knows; choose one of the list")
    return text


def _flag(fields: Mapping[str, Any], name: str) -> bool:
    return _text(fields, name).lower() in ("1", "on", "true", "yes")


def _check(ok: bool, message: str) -> None:
    if not ok:
        raise BadRequest(message)
