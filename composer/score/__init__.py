"""The one score type every source becomes (core), how a tune is written and unfolds (form), and where its
bars and main beats fall (meter). Takes nothing upstream; everything downstream reads it."""

from composer.score.core import (
    DEFAULT_QPM,
    DEFAULT_TPQ,
    MODE_OFFSETS,
    MODES,
    PITCH_CLASS_NAMES,
    KeySignature,
    Note,
    Score,
    TempoChange,
    TimeSignature,
    key_name_to_signature,
    pitch_name,
)
from composer.score.form import BarMarks, Form, RepeatError, fold, play_order, unfold
from composer.score.key import analysed_tonic
from composer.score.meter import (
    bar_grid,
    bar_starts,
    ends_home,
    ends_on_tonic,
    last_on_main_beat,
    main_beats,
    pickup_ticks,
)
from composer.score.voices import highest_voice, is_monophonic, melody_track

__all__ = ["DEFAULT_QPM", "analysed_tonic", "DEFAULT_TPQ", "MODES", "MODE_OFFSETS", "PITCH_CLASS_NAMES", "BarMarks", "Form",
           "KeySignature", "Note", "RepeatError", "Score", "TempoChange", "TimeSignature", "bar_grid", "bar_starts", "ends_home",
           "ends_on_tonic", "fold", "highest_voice", "is_monophonic", "key_name_to_signature", "last_on_main_beat", "main_beats", "melody_track", "pickup_ticks", "pitch_name",
           "play_order", "unfold"]
