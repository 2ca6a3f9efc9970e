"""ABC files (one tune or many) to Scores through music21, one tune at a time so one bad tune costs only itself."""

from __future__ import annotations

import contextlib
import io
import itertools
import re
import signal
import threading
from fractions import Fraction
from pathlib import Path

from composer.errors import InputError, LimitError
from composer.io.limits import DEFAULT_LIMITS, ReadLimits, read_bytes
from composer.io.musicxml import stream_to_score
from composer.score import DEFAULT_QPM, Score

# Tempo (quarter notes per minute) when a tune has no Q: field: a moderate session pace per type.
DEFAULT_QPM_BY_TYPE = {
    "reel": 200.0,  # 2/2 or 4/4, about 100 half notes a minute
    "hornpipe": 160.0,
    "jig": 180.0,  # 6/8, about 120 dotted quarters a minute
    "slip jig": 180.0,  # 9/8
    "slide": 210.0,  # 12/8
    "polka": 140.0,
    "waltz": 150.0,
    "march": 120.0,
    "air": 80.0,
}

_TUNE_TYPE_ALIASES = {
    "double jig": "jig",
    "single jig": "jig",
    "slipjig": "slip jig",
    "slip-jig": "slip jig",
    "set dance": "set dance",
}
_X_LINE = re.compile(r"^X:", re.MULTILINE)


def normalize_tune_type(text: str | None) -> str | None:
    """'Double Jig' → 'jig', 'slipjig' → 'slip jig', 'Reels' → 'reel'; None for an empty R: field."""
    if text is None:
        return None
    t = " ".join(text.replace("_", " ").lower().split()).strip(" .,;")
    if not t:
        return None
    t = _TUNE_TYPE_ALIASES.get(t, t)
    if t.endswith("s") and t[:-1] in DEFAULT_QPM_BY_TYPE:
        t = t[:-1]
    return _TUNE_TYPE_ALIASES.get(t, t)


def split_tunes(text: str) -> list[str]:
    """The tunes of an ABC text, each starting at its X: line; the file header is put before each."""
    starts = [m.start() for m in _X_LINE.finditer(text)]
    if not starts:
        return [text] if text.strip() else []
    header = "\n".join(line for line in text[: starts[0]].splitlines() if re.match(r"^[A-Za-z]:", line))
    bounds = starts + [len(text)]
    prefix = header + "\n" if header else ""
    return [prefix + text[a:b] for a, b in itertools.pairwise(bounds)]


def header_fields(tune: str) -> dict[str, str]:
    """First value of each header field (X, T, R, M, L, K, Q, …) of one tune, up to its K: line."""
    fields: dict[str, str] = {}
    for line in tune.splitlines():
        m = re.match(r"^([A-Za-z]):\s*(.*?)\s*$", line)
        if not m:
            continue
        fields.setdefault(m.group(1), m.group(2))
        if m.group(1) == "K":
            break
    return fields


class BarTooLong(Exception):
    """A bar music21 would re-bar at great cost: too many meters long, or overflowing by an odd length."""


def abc_to_stream(tune: str, limits: ReadLimits = DEFAULT_LIMITS):
    """One tune's text to a music21 Score, as music21's converter does, minus beaming.

    Beaming is notation only and takes ~70 % of music21's ABC parse time; parts made here skip it.
    Raises BarTooLong, from music21's own tokens and before any re-barring, for a bar past the limits.
    """
    from music21 import abcFormat, stream

    class UnbeamedPart(stream.Part):
        def makeBeams(self, *, inPlace: bool = False, **_kwargs):
            return None if inPlace else self

    with contextlib.redirect_stderr(io.StringIO()):  # music21 writes a warning per unreadable note
        handler = abcFormat.ABCFile().readstr(without_spanners(tune))
        voices = handler.splitByVoice()
        handlers = voices if len(voices) == 1 else [voices[0] + v for v in voices[1:]]
        for voice in handlers:
            if _defines_bars(voice):  # else music21 makes no measures and re-bars nothing
                voice.definesMeasures = lambda: True  # music21 asks the handler; see _defines_bars
                check_bar_lengths(voice.tokens, limits)
        score = stream.Score()
        for voice in handlers:
            part = abcFormat.translate.abcToStreamPart(voice, inputM21=UnbeamedPart())
            _restore_chord_ties(voice, part)
            score.coreInsert(0, part)
    score.coreElementsChanged()
    return score


def _restore_chord_ties(handler, part) -> None:
    """Put each ABC chord's tie (`[ga]-`) on its music21 Chord: music21 reads the tie but its translation sets
    ties on single notes only, so a held chord was struck again. Chords and chord tokens pair up in order."""
    from music21 import abcFormat, chord, tie

    tokens = [t for t in handler.tokens if isinstance(t, abcFormat.ABCChord) and t.subTokens]
    if not any(t.tie for t in tokens):
        return
    chords = [c for c in part.recurse() if type(c) is chord.Chord]
    if len(chords) != len(tokens):
        return
    for token, made in zip(tokens, chords, strict=True):
        if token.tie:
            made.tie = tie.Tie(token.tie)


def _defines_bars(handler) -> bool:
    """Whether a voice writes bar lines: two or more plain or repeat bar lines (every voice music21's own
    definesMeasures accepts, and more). music21 counts only plain ones, so `|: A | A :| B |]` got no measures
    and lost its repeat (a short tune played once)."""
    from music21 import abcFormat

    bars = [t for t in handler.tokens if isinstance(t, abcFormat.ABCBar) and (t.isRegular() or t.isRepeat())]
    return len(bars) >= 2


def check_bar_lengths(tokens: list, limits: ReadLimits) -> None:
    """Raise BarTooLong for a bar music21's re-barring would choke on, reading music21's own ABC tokens.

    reBar splits an over-full bar at its meter and gives the rest `bestTimeSignature()`, whose cost
    grows with the square of its numerator p, which music21 takes from the rest's length as p/q quarter
    notes (160/1: 0.43 s), and ~6 times faster when q is not a power of two (64/5: 0.38 s, 487/20: 26 s)."""
    from music21 import abcFormat

    length, meter = Fraction(0), Fraction(4)
    for token in tokens:
        if isinstance(token, abcFormat.ABCBar):
            _check_bar(length, meter, limits)
            length = Fraction(0)
        elif isinstance(token, abcFormat.ABCMetadata) and token.isMeter():
            num, den, _ = token.getTimeSignatureParameters() or (4, 4, None)
            meter = Fraction(4 * num, den) if num and den else Fraction(4)
        elif isinstance(token, abcFormat.ABCNote | abcFormat.ABCChord) and not token.inGrace:
            tuplet = token.activeTuplet.tupletMultiplier() if token.activeTuplet else 1
            length += Fraction(token.quarterLength or 0).limit_denominator(10_000) * Fraction(tuplet)
    _check_bar(length, meter, limits)


def _check_bar(length: Fraction, meter: Fraction, limits: ReadLimits) -> None:
    if length > limits.max_abc_bar_meters * meter:
        raise BarTooLong(f"a bar {float(length / meter):,.0f} times as long as its meter, over the limit of "
                         f"{limits.max_abc_bar_meters:g}")
    rest = length - meter
    binary = rest.denominator & (rest.denominator - 1) == 0
    if rest > 0 and rest.numerator * (1 if binary else 2.5) > limits.max_abc_rebar_beats:
        raise BarTooLong(f"a bar overflowing its meter by {rest.numerator}/{rest.denominator} quarter notes, a rest "
                         f"music21 re-bars under a {rest.numerator}-beat time signature, slowly (the limit is "
                         f"{limits.max_abc_rebar_beats} beats, {limits.max_abc_rebar_beats / 2.5:g} for a "
                         "tuplet-sized rest)")


_SPANNER_MARK = re.compile(r'("[^"\n]*"|%[^\n]*|^[A-Za-z]:[^\n]*$|\[[A-Za-z]:[^\]\n]*\])'
                           r'|!(?:crescendo|diminuendo)[()]!|\((?!\d)|\)', re.M)


def without_spanners(tune: str) -> str:
    """The tune minus its slurs and crescendo/diminuendo marks, which carry no notes.

    music21 appends every later note to each open spanner at a cost that grows with the spanner, so
    one unclosed slur makes a long tune's parse cubic (a 286-bar tune: 3.9 s; 572 bars: 33 s)."""
    return _SPANNER_MARK.sub(lambda m: m.group(1) or " ", tune)


_METER = re.compile(r"(?:^|\[)M:([^\]\n]*)", re.M)


def check_abc_size(tune: str, fields: dict[str, str], label: str, source: str, limits: ReadLimits) -> None:
    """Refuse, before music21 sees it, a tune whose size would make music21 slow (LimitError)."""
    if len(tune) > limits.max_abc_tune_chars:
        raise LimitError(f"{label}: {len(tune):,} characters, over the limit of {limits.max_abc_tune_chars:,}", source)
    bars = tune.count("|")
    if bars > limits.max_abc_bars:
        raise LimitError(f"{label}: {bars:,} bar lines, over the limit of {limits.max_abc_bars:,} "
                         "(music21's re-barring is quadratic in bars)", source)
    body = tune.split("\nK:", 1)[-1].split("\n", 1)[-1]
    widest = max((len(bar) for bar in body.split("|")), default=0)
    if widest > limits.max_abc_bar_chars:
        raise LimitError(f"{label}: a bar of {widest:,} characters, over the limit of {limits.max_abc_bar_chars:,}",
                         source)
    for meter in _METER.findall(tune):
        terms = [int(n) for n in re.findall(r"\d+", re.sub(r"[^\d/+\s]", "", meter))]
        if any(not 0 < n <= limits.max_abc_meter_terms for n in terms):
            raise LimitError(f"{label}: meter {meter.strip()} is out of range (each term 1 to "
                             f"{limits.max_abc_meter_terms})", source)


def parse_abc_tune(tune: str, source: str = "<abc>", limits: ReadLimits = DEFAULT_LIMITS) -> Score:
    """One ABC tune (X: … body) to a Score; raises InputError/LimitError naming the tune's problem."""
    fields = header_fields(tune)
    label = f"tune X:{fields.get('X', '?')}" + (f" ({fields['T']})" if fields.get("T") else "")
    check_abc_size(tune, fields, label, source, limits)
    if "L" not in fields and "M" not in fields:
        tune = re.sub(r"^(X:.*)$", r"\1\nL:1/8", tune, count=1, flags=re.MULTILINE)  # ABC 2.1 default
        tune = tune if tune.startswith("X:") else "L:1/8\n" + tune
    import music21.abcFormat  # noqa: F401  (its first import takes ~1 s: keep it outside the deadline)

    try:
        with _deadline(limits.max_abc_tune_seconds):
            parsed = abc_to_stream(tune, limits)
    except BarTooLong as e:
        raise LimitError(f"{label}: {e}", source) from None
    except _TuneTimeout:
        raise LimitError(f"{label}: music21 took over {limits.max_abc_tune_seconds:g} s on it", source) from None
    except Exception as e:  # music21's ABC parser raises many types on malformed tunes
        raise InputError(f"{label}: music21 cannot parse it: {type(e).__name__}: {e}"[:300], source) from None
    tune_type = normalize_tune_type(fields.get("R"))
    try:
        score = stream_to_score(
            parsed,
            source,
            title=fields.get("T", ""),
            tune_type=tune_type,
            default_qpm=DEFAULT_QPM_BY_TYPE.get(tune_type or "", DEFAULT_QPM),
            limits=limits,
        )
    except InputError as e:
        raise type(e)(f"{label}: {e.problem}", source) from None
    except Exception as e:
        raise InputError(f"{label}: cannot convert: {type(e).__name__}: {e}"[:300], source) from None
    if not score.notes:
        raise InputError(f"{label}: no notes", source)
    score.metadata.update(
        x=fields.get("X"),
        key=score.key_signature.name if score.key_signature else None,
        meter=f"{score.time_signature.numerator}/{score.time_signature.denominator}" if score.time_signature else None,
        tempo_from="Q:" if "Q" in fields else "default",
        abc_key=fields.get("K"),
        abc_meter=fields.get("M"),
    )
    return score


class _TuneTimeout(BaseException):
    """Raised by the alarm inside music21; a BaseException so music21's `except Exception` cannot swallow it."""


@contextlib.contextmanager
def _deadline(seconds: float):
    """Interrupt the block after `seconds` (SIGALRM; only in the main thread of a Unix process)."""
    if not hasattr(signal, "setitimer") or threading.current_thread() is not threading.main_thread():
        yield
        return

    def _alarm(_signum, _frame):
        raise _TuneTimeout

    previous = signal.signal(signal.SIGALRM, _alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def parse_abc_errors(
    text: str, source: str = "<abc>", limits: ReadLimits = DEFAULT_LIMITS
) -> tuple[list[Score], list[InputError]]:
    """Every tune of an ABC text that parses, and the error of each tune that does not."""
    scores: list[Score] = []
    errors: list[InputError] = []
    for tune in split_tunes(text):
        try:
            scores.append(parse_abc_tune(tune, source, limits))
        except InputError as e:
            errors.append(e)
    for i, score in enumerate(scores):
        score.metadata["piece"] = i
    return scores, errors


def parse_abc_report(
    text: str, source: str = "<abc>", limits: ReadLimits = DEFAULT_LIMITS
) -> tuple[list[Score], list[str]]:
    """Every tune of an ABC text that parses, and one problem line for each that does not."""
    scores, errors = parse_abc_errors(text, source, limits)
    return scores, [str(e) for e in errors]


def parse_abc_text(text: str, source: str = "<abc>", limits: ReadLimits = DEFAULT_LIMITS) -> list[Score]:
    """The tunes of an ABC text; raises InputError (LimitError) only when none of its tunes can be read."""
    scores, errors = parse_abc_errors(text, source, limits)
    if not scores:
        raise none_readable(errors, source)
    return scores


def none_readable(errors: list[InputError], source: str | Path) -> InputError:
    """The error for a file none of whose pieces could be read: a LimitError when every piece broke a limit."""
    detail = "; ".join(e.problem for e in errors[:3]) or "no tunes in it"
    kind = LimitError if errors and all(isinstance(e, LimitError) for e in errors) else InputError
    return kind(f"no readable piece: {detail}", source)


def load_abc_errors(path: str | Path, limits: ReadLimits = DEFAULT_LIMITS) -> tuple[list[Score], list[InputError]]:
    """Read an ABC file once: its good tunes, and the error of each tune that was skipped."""
    path = Path(path)
    data = read_bytes(path, limits)
    if b"\x00" in data[:4096]:
        raise InputError("binary data, not ABC text", path)
    text = data.decode("utf-8", errors="replace") if _is_utf8(data) else data.decode("latin-1")
    return parse_abc_errors(text, str(path), limits)


def _is_utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True
