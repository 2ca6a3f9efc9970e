"""The metric scheme's vocabulary choices: its value lists (meters, tune types, keys) and MetricConfig."""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

from composer.errors import InputError
from composer.score import MODES, PITCH_CLASS_NAMES, KeySignature

DECODE_TPQ = 480
HEADER_KINDS = ("BOS", "METER", "KEY", "TYPE", "TEMPO")  # fixed order of the header, then BAR
OTHER_METER = "other"  # a first meter with no listed equal-length meter (or none): 4-beat bars
NO_KEY = "none"
UNKNOWN_TYPE = "unknown"
METERS = ("2/4", "3/4", "4/4", "5/4", "6/4", "7/4", "2/2", "3/2", "4/2",
          "3/8", "5/8", "6/8", "7/8", "9/8", "12/8", "1/4", "1/8", "1/16", "3/16")  # the last four: short bars
TUNE_TYPES = ("reel", "jig", "slip jig", "hornpipe", "polka", "slide", "waltz", "air", "march",
              "mazurka", "barndance", "strathspey", "set dance", "long dance", "fling", "song")
KEYS = tuple(f"{PITCH_CLASS_NAMES[t]} {m}" for m in MODES for t in range(12))
DRUMS = 128
MAX_BARS = 100_000  # encode refuses longer pieces rather than write millions of BAR tokens
KINDS = ("BAR", "METER", "KEY", "TYPE", "TEMPO", "POSITION", "PROGRAM", "PITCH", "VELOCITY", "DURATION")
BAR, METER, KEY, TYPE, TEMPO, POS, PROG, PITCH, VEL, DUR = range(len(KINDS))  # kind codes


@dataclass(frozen=True)
class MetricConfig:
    """Grid, ranges and vocabulary choices of the metric scheme (defaults: docs/tokens/metric.md)."""

    positions_per_beat: int = 12  # POSITION steps per quarter note; must divide 480
    pitch_low: int = 21  # notes outside pitch_low..pitch_high are dropped
    pitch_high: int = 108
    fine_duration_beats: int = 4  # DURATION takes every step up to this many beats...
    max_duration_beats: int = 16  # ...then whole beats up to this; longer notes are clamped
    velocity_bins: int = 0  # 0: no VELOCITY tokens (decode gives 80)
    use_programs: bool = False  # PROGRAM tokens; when off, drum notes are dropped
    tempo_bins: int = 16  # TEMPO values log-spaced over tempo_min..tempo_max qpm
    tempo_min: int = 40
    tempo_max: int = 240
    meters: tuple[str, ...] = METERS
    tune_types: tuple[str, ...] = TUNE_TYPES
    meter_changes: bool = True  # METER after a BAR where the meter changes
    key_changes: bool = True  # KEY after a BAR where the key changes
    form: bool = False  # FORM tokens (|: :| || |1 |2): repeats the source writes are written once (tokenize/form.py)

    def __post_init__(self) -> None:
        if self.positions_per_beat < 1 or DECODE_TPQ % self.positions_per_beat:
            raise InputError(f"positions_per_beat must divide {DECODE_TPQ}, not {self.positions_per_beat}")
        if not 0 <= self.pitch_low <= self.pitch_high <= 127:
            raise InputError(f"need 0 <= pitch_low <= pitch_high <= 127, got {self.pitch_low}..{self.pitch_high}")
        if not 1 <= self.fine_duration_beats <= self.max_duration_beats:
            raise InputError("need 1 <= fine_duration_beats <= max_duration_beats")
        if not 0 <= self.velocity_bins <= 127:
            raise InputError(f"velocity_bins must be 0-127, not {self.velocity_bins}")
        if self.tempo_bins < 2 or not 0 < self.tempo_min < self.tempo_max:
            raise InputError("need tempo_bins >= 2 and 0 < tempo_min < tempo_max")
        if len(set(tempo_centres(self))) != self.tempo_bins:
            raise InputError(f"{self.tempo_bins} tempo bins over {self.tempo_min}-{self.tempo_max} qpm round to equal values")
        for m in self.meters:
            parse_meter(m)
        if len(set(self.meters)) != len(self.meters) or len(set(self.tune_types)) != len(self.tune_types):
            raise InputError("meters and tune_types must not repeat a value")
        if OTHER_METER in self.meters or UNKNOWN_TYPE in self.tune_types:
            raise InputError(f"{OTHER_METER!r}/{UNKNOWN_TYPE!r} are added by the tokenizer; do not list them")


def tempo_centres(c: MetricConfig) -> list[int]:
    """TEMPO values: `tempo_bins` whole qpm, log-spaced from tempo_min to tempo_max."""
    span = c.tempo_max / c.tempo_min
    return [round(c.tempo_min * span ** (i / (c.tempo_bins - 1))) for i in range(c.tempo_bins)]


def parse_meter(text: str) -> tuple[int, int]:
    try:
        num, den = (int(x) for x in text.split("/"))
    except ValueError:
        raise InputError(f"meter {text!r} is not of the form 6/8") from None
    if num < 1 or den < 1 or den & (den - 1):
        raise InputError(f"meter {text!r} needs a positive numerator and a power-of-two denominator")
    return num, den


def bar_positions(meter: str, ppb: int) -> int:
    """Bar length of a meter in positions; 0 where it is not whole (that meter is left out)."""
    if meter == OTHER_METER:
        return 4 * ppb
    num, den = parse_meter(meter)
    length = Fraction(4 * num * ppb, den)
    return int(length) if length.denominator == 1 else 0


def key_value(ks: KeySignature) -> str:
    return f"{PITCH_CLASS_NAMES[ks.tonic % 12]} {ks.mode if ks.mode in MODES else 'major'}"
