"""The typer apps every command module registers on, and the checks that guard option values at the edge.

Imports nothing heavy (no torch): usage errors and `--help` answer at once.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Annotated

import typer

from composer.errors import InputError

HELP = "Compose music with an LSTM."
app = typer.Typer(add_completion=False, no_args_is_help=True, help=HELP)
corpus_app = typer.Typer(no_args_is_help=True, help="Build training and test corpora.")
classify_app = typer.Typer(no_args_is_help=True, help="Tune-type classifier (reel, jig, hornpipe …) over metric tokens.")
app.add_typer(corpus_app, name="corpus")
app.add_typer(classify_app, name="classify")

MAX_VARIATIONS = 256  # --n: one batch; 256 rows of 16 bars sample in about a minute on 2 cores
MAX_BARS = 256  # --bars: new bars per piece


@app.callback()
def _root(debug: Annotated[bool, typer.Option(
        "--debug", help="On an error, show the full Python traceback (accepted anywhere on the line).")] = False) -> None:
    """Compose music with an LSTM."""


@dataclass(frozen=True)
class Range:
    """Allowed values of a numeric option: low/high bounds (None: open), low excluded when `above`."""

    low: float | None = None
    high: float | None = None
    above: bool = False

    def holds(self, value: float) -> bool:
        """Whether `value` is finite and inside the bounds."""
        if isinstance(value, float) and not math.isfinite(value):
            return False
        if self.low is not None and (value <= self.low if self.above else value < self.low):
            return False
        return self.high is None or value <= self.high

    def describe(self) -> str:
        """The rule in words: 'at least 1', '> 0', 'in 1…256', '> 0 and ≤ 1'."""
        if self.low is None:
            return f"at most {self.high}"
        low = f"> {self.low}" if self.above else f"at least {self.low}"
        if self.high is None:
            return low
        return f"> {self.low} and ≤ {self.high}" if self.above else f"in {self.low}…{self.high}"


POSITIVE = Range(0, above=True)
AT_LEAST_1 = Range(1)
NON_NEGATIVE = Range(0)
SEED = Range(0, 2**63 - 1)
SHARE = Range(0, 1, above=True)


def check(**options: tuple[float | None, Range]) -> None:
    """Raise InputError naming the first option whose value breaks its range (None: not given)."""
    for name, (value, rule) in options.items():
        if value is not None and not rule.holds(value):
            raise InputError(f"--{name.replace('_', '-')} must be {rule.describe()}, not {value}")


def int_pair(text: str | None, option: str) -> tuple[int, int] | None:
    """'-5,6' → (-5, 6); None stays None."""
    if text is None:
        return None
    try:
        low, high = (int(v) for v in text.split(","))
    except ValueError:
        raise InputError(f"{option} takes two integers LOW,HIGH, e.g. -5,6; got {text!r}") from None
    if low > high:
        raise InputError(f"{option} takes LOW,HIGH with LOW ≤ HIGH; got {text!r}")
    return low, high
