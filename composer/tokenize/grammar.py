"""Which token may come next: per-scheme state machines the sampler masks its logits with.

Each grammar tracks a whole batch as tensors and answers `mask(state) -> (B, V)` and
`advance(state, tokens)` with a few vectorised comparisons, so it adds little to a sampling step.
Under these grammars every sampled sequence decodes to valid music and re-encodes to itself (FORM marks to the
same music: a mark that repeats nothing, such as `||` inside a part, is not written again).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from composer.errors import InputError
from composer.score import PITCH_CLASS_NAMES, main_beats
from composer.tokenize.base import BOS, EOS, PAD, Tokenizer
from composer.tokenize.form import END_MARKS, FORM_VALUES, START_MARKS, FormPlan
from composer.tokenize.metric_config import KEYS

# metric phases: what the machine expects next
(_H_METER, _H_KEY, _H_TYPE, _H_TEMPO, _FIRST_BAR, _BAR_START, _AFTER_POS, _AFTER_PITCH, _AFTER_VEL, _AFTER_DUR, _DONE,
 _AFTER_END) = range(12)


class MetricGrammar:
    """Header METER KEY TYPE TEMPO (each may be forced), then bars: positions rise inside the bar,
    pitches rise inside a position, every PITCH gets its DURATION, EOS only after a complete note.
    With FORM tokens: `|:` `|1` `|2` right after BAR, `:|` `||` after a complete note, then BAR or EOS; sampled
    freely (no plan), the marks are those fold_bars writes, so every written bar is heard: `:|` closes an open
    `|:`, `|2` follows a first ending's `:|` (or its own bar), `|1` never follows one."""

    def __init__(self, tokenizer: Tokenizer, forced: list[int | None] | None = None, min_bars: int = 0,
                 plan: FormPlan | None = None) -> None:
        table, vocab = tokenizer.table, tokenizer.vocab_size
        self.min_bars = min_bars  # EOS only once the piece has this many bars (so "16 bars" means 16)
        self.plan = plan
        if plan is not None and "FORM" not in table.offsets:
            raise InputError("this model writes no repeat signs (its tokenizer has no FORM tokens): --form needs one that does")
        kinds = np.array(table.kinds)
        self.kind = {k: torch.from_numpy(kinds == k) for k in set(table.kinds)}
        self.value = torch.full((vocab,), -1, dtype=torch.long)
        for k in ("POSITION", "PITCH", "DURATION"):
            ids = table.ids_of(k)
            self.value[ids] = torch.tensor([int(table.values[i]) for i in ids])
        self.bar_len = torch.zeros(vocab, dtype=torch.long)
        self.main_step = torch.ones(vocab, dtype=torch.long)  # positions between main beats, per METER id
        ppb = tokenizer.config.positions_per_beat
        for i in table.ids_of("METER"):
            self.bar_len[i] = tokenizer.bar_length(table.values[i])
            num, den = (4, 4) if "/" not in table.values[i] else map(int, table.values[i].split("/"))
            beats = main_beats(num, den)
            self.main_step[i] = max(1, round((beats[1] - beats[0]) * ppb) if len(beats) > 1 else int(self.bar_len[i]))
        self.tonic_of = torch.full((vocab,), -1, dtype=torch.long)  # the tonic pitch class of each KEY id
        for i in table.ids_of("KEY"):
            if table.values[i] in KEYS:
                self.tonic_of[i] = PITCH_CLASS_NAMES.index(table.values[i].split()[0])
        has_vel = "VELOCITY" in table.offsets
        allowed = {
            _H_METER: ["METER"], _H_KEY: ["KEY"], _H_TYPE: ["TYPE"], _H_TEMPO: ["TEMPO"], _FIRST_BAR: ["BAR"],
            _BAR_START: ["BAR", "POSITION"], _AFTER_POS: ["PITCH"],
            _AFTER_PITCH: ["VELOCITY"] if has_vel else ["DURATION"], _AFTER_VEL: ["DURATION"],
            _AFTER_DUR: ["PITCH", "POSITION", "BAR", "EOS"], _DONE: ["EOS"], _AFTER_END: ["BAR", "EOS"],
        }
        self.phase_mask = torch.zeros(len(allowed), vocab, dtype=torch.bool)  # (phases, V)
        for phase, ks in allowed.items():
            for k in ks:
                self.phase_mask[phase] |= self.kind.get(k, torch.zeros(vocab, dtype=torch.bool))
        self.end_mark = torch.zeros(vocab, dtype=torch.bool)
        self.ending_of = torch.zeros(vocab, dtype=torch.long)  # 1 for `|1`, 2 for `|2`
        self.close_of = torch.zeros(vocab, dtype=torch.long)  # 1 for `:|`, 2 for `||`
        self.form_ids: dict[str, int] = {}  # FORM value → id (empty: a vocabulary without FORM tokens)
        if "FORM" in table.offsets:
            for i in table.ids_of("FORM"):
                self.phase_mask[_BAR_START if table.values[i] in START_MARKS else _AFTER_DUR, i] = True
                self.end_mark[i] = table.values[i] in END_MARKS
            self.form_ids = {v: table.id("FORM", v) for v in FORM_VALUES}
            self.ending_of[[self.form_ids["|1"], self.form_ids["|2"]]] = torch.tensor([1, 2])
            self.close_of[[self.form_ids[":|"], self.form_ids["||"]]] = torch.tensor([1, 2])
        self.closes = self.end_mark | self.kind["EOS"] | self.kind["BAR"]  # what may end the last bar
        for slot, token in enumerate((forced or [None] * 5)[1:5]):
            if token is not None:
                self.phase_mask[slot] = False
                self.phase_mask[slot, token] = True
        self.kinds = table.kinds
        self.plan_end = torch.zeros(1, dtype=torch.long)  # per count of full bars: 0, or the id of the mark that ends it
        if plan is not None:
            self.plan_end = torch.zeros(plan.bars + 2, dtype=torch.long)
            for at, mark in plan.ends:
                self.plan_end[at] = table.id("FORM", mark)
            self.repeat_start = torch.zeros(plan.bars + 2, dtype=torch.bool)
            begins = [1] + [at + 1 for at, _ in plan.ends[:-1]]
            self.repeat_start[[b for b, (_, mark) in zip(begins, plan.ends, strict=True) if mark == ":|"]] = True

    def to(self, device: torch.device) -> MetricGrammar:
        for name in ("value", "bar_len", "phase_mask", "end_mark", "plan_end", "repeat_start", "main_step", "tonic_of",
                     "ending_of", "close_of", "closes"):
            if not hasattr(self, name):
                continue
            setattr(self, name, getattr(self, name).to(device))
        self.kind = {k: v.to(device) for k, v in self.kind.items()}
        return self

    def start(self, prefix: list[int], batch: int, device: torch.device) -> Tensor:
        """State after `prefix` (which starts with BOS), for `batch` rows: (B, 15) phase, bar_len, pos, pitch,
        notes so far (a bar may end only once the piece has a note, so no sample is empty), bars so far, and
        whether bar 0 is a pickup (-1 while unknown), whether this bar has opened a repeat, the key's tonic
        (-1: none), positions between main beats, whether the last note was the tonic on a main beat; this bar's
        ending (0, 1, 2) and close (0, 1 `:|`, 2 `||`), the previous bar's as 3·ending + close, and whether a `|:` is open."""
        self.to(device)
        state = torch.tensor([[_H_METER, 48, -1, -1, 0, 0, -1, 0, -1, 24, 0, 0, 0, 0, 0]], dtype=torch.long, device=device)
        for token in prefix[1:] if prefix and prefix[0] == BOS else prefix:
            state = self.advance(state, torch.tensor([token], device=device))
        return state.expand(batch, -1).clone()

    def mask(self, state: Tensor) -> Tensor:
        phase, bar_len, pos, pitch, notes, bars, pickup, opened, tonic, step, home, ending, _, prev, open_ = state.unbind(-1)
        allowed = self.phase_mask[phase]  # (B, V)
        value = self.value.unsqueeze(0)  # (1, V)
        pos_ok = (value > pos[:, None]) & (value < bar_len[:, None])
        pitch_ok = value > torch.where(phase == _AFTER_DUR, pitch, torch.full_like(pitch, -1))[:, None]
        bar_ok = (phase != _BAR_START) | (notes > 0)
        allowed = allowed & (~self.kind["POSITION"] | pos_ok) & (~self.kind["PITCH"] | pitch_ok)
        eos_ok = bars >= self.min_bars
        allowed = allowed & (~self.kind["BAR"] | bar_ok[:, None]) & (~self.kind["EOS"] | eos_ok[:, None])
        if self.plan is None and self.form_ids:
            allowed = self._free_marks(allowed, opened, ending, prev, open_)
        elif self.plan is not None:
            allowed = self._planned(allowed, phase, bars, pickup, opened)
        if self.plan is None and self.min_bars == 0:
            return allowed  # no length asked in bars: no last bar to close
        return self._cadence(allowed, self._last_bar(bars, pickup, tonic), bar_len, pos, tonic, step, home)

    def _last_bar(self, bars: Tensor, pickup: Tensor, tonic: Tensor) -> Tensor:
        """(B,) whether this is the tune's last bar — the plan's last full bar, or the last of the bars asked
        for — in a key with a tonic."""
        if self.plan is not None:
            return ((bars - pickup.clamp(min=0)) >= self.plan.bars) & (tonic >= 0)
        return (bars >= self.min_bars) & (tonic >= 0)

    def _free_marks(self, allowed: Tensor, opened: Tensor, ending: Tensor, prev: Tensor, open_: Tensor) -> Tensor:
        """Marks as fold_bars writes them, so no written bar goes unheard: `|:` first in its bar, one ending per
        bar and not on the bar that opens the repeat, `|1` inside an open `|:` and not right after a first or
        second ending, `|2` only there, and `:|` only to close an open `|:`."""
        first_closed, second_running = 3 * 1 + 1, 3 * 2 + 0  # the previous bar: `|1 … :|`; `|2 …` not closed
        after_ending = (prev == first_closed) | (prev == second_running)
        f, free = self.form_ids, (ending == 0) & (opened == 0)
        allowed[:, f["|:"]] &= free
        allowed[:, f["|1"]] &= free & (open_ == 1) & ~after_ending
        allowed[:, f["|2"]] &= free & after_ending
        allowed[:, f[":|"]] &= open_ == 1
        return allowed

    def _planned(self, allowed: Tensor, phase: Tensor, bars: Tensor, pickup: Tensor, opened: Tensor) -> Tensor:
        """Only the asked form's marks, each where the plan puts it; BAR and EOS wait for them."""
        full = (bars - pickup.clamp(min=0)).clamp(0, len(self.plan_end) - 1)  # (B,) full bars so far, this one included
        end_id = self.plan_end[full]  # (B,) the mark this bar must end with, or 0
        in_bar = (phase == _BAR_START) | (phase == _AFTER_DUR) | (phase == _AFTER_POS)
        must_end = (end_id > 0) & in_bar
        form = self.kind["FORM"]  # (V,)
        ids = torch.arange(form.numel(), device=form.device)
        allowed = allowed & ~form | (allowed & (ids[None, :] == end_id[:, None]) & (phase == _AFTER_DUR)[:, None])
        opens = (phase == _BAR_START) & self.repeat_start[full] & (bars > 1) & (opened == 0)  # (B,) a repeated part begins
        allowed[:, self.form_ids["|:"]] |= opens
        allowed &= ~opens[:, None] | (ids[None, :] == self.form_ids["|:"])
        allowed &= ~(self.kind["BAR"] | self.kind["EOS"]) | ~must_end[:, None]
        done = full >= self.plan.bars
        allowed[:, EOS] &= (phase == _AFTER_END) & done
        allowed &= ~self.kind["BAR"] | ~((phase == _AFTER_END) & done)[:, None]
        return allowed

    def _cadence(self, allowed: Tensor, last: Tensor, bar_len: Tensor, pos: Tensor, tonic: Tensor, step: Tensor,
                 home: Tensor) -> Tensor:
        """In the tune's `last` bar: notes up to its last main beat, there the tonic held to the bar line, and
        the end (a closing mark, EOS, or the bar line past the length asked) only once the last note is the
        tonic on a main beat (a cadence home)."""
        last_main = (bar_len - 1) // step * step  # (B,)
        value = self.value.unsqueeze(0)  # (1, V)
        pos_ok = value <= last_main[:, None]
        at_last = (pos == last_main)[:, None]
        pitch_ok = ~at_last | (value % 12 == tonic[:, None])
        held = ~at_last | (value == (bar_len - last_main)[:, None])  # the last note lasts to the bar line
        end_ok = home.bool()[:, None] | ~self.closes[None, :]
        rule = (~self.kind["POSITION"] | pos_ok) & (~self.kind["PITCH"] | pitch_ok) & (~self.kind["DURATION"] | held) & end_ok
        return allowed & (~last[:, None] | rule)

    def advance(self, state: Tensor, tokens: Tensor) -> Tensor:
        phase, bar_len, pos, pitch, notes, bars, pickup, opened, tonic, step, home, ending, close, prev, open_ = state.unbind(-1)
        kind = {k: v[tokens] for k, v in self.kind.items()}
        value = self.value[tokens]
        header = phase <= _H_TEMPO
        new_phase = torch.where(header, phase + 1, phase)
        bar_len = torch.where(kind["METER"], self.bar_len[tokens], bar_len)
        new_phase = torch.where(kind["BAR"], _BAR_START, new_phase)
        pos = torch.where(kind["BAR"], -1, pos)
        new_phase = torch.where(kind["POSITION"], _AFTER_POS, new_phase)
        pos = torch.where(kind["POSITION"], value, pos)
        pitch = torch.where(kind["POSITION"] | kind["BAR"], -1, pitch)
        new_phase = torch.where(kind["PITCH"], _AFTER_PITCH, new_phase)
        pitch = torch.where(kind["PITCH"], value, pitch)
        new_phase = torch.where(kind["VELOCITY"] if "VELOCITY" in kind else torch.zeros_like(header), _AFTER_VEL, new_phase)
        new_phase = torch.where(kind["DURATION"], _AFTER_DUR, new_phase)
        new_phase = torch.where(self.end_mark[tokens], _AFTER_END, new_phase)
        new_phase = torch.where(kind["EOS"] | kind["PAD"], _DONE, new_phase)
        notes = notes + kind["DURATION"].long()
        bars = bars + kind["BAR"].long()
        unknown = pickup < 0
        pickup = torch.where(unknown & kind["POSITION"] & (bars == 1), (value > 0).long(), pickup)
        pickup = torch.where(unknown & kind["BAR"] & (bars == 2), 0, pickup)
        opened = torch.where(kind["BAR"], 0, opened)
        if "FORM" in kind:
            opened = torch.where(kind["FORM"] & ~self.end_mark[tokens], 1, opened)
        tonic = torch.where(kind["KEY"] & (phase == _H_KEY), self.tonic_of[tokens], tonic)
        step = torch.where(kind["METER"], self.main_step[tokens], step)
        home = torch.where(kind["DURATION"], ((pitch % 12 == tonic) & (pos % step == 0)).long(), home)
        home = torch.where(kind["POSITION"] | kind["BAR"], 0, home)
        prev = torch.where(kind["BAR"], 3 * ending + close, prev)
        ends_with, closes = self.ending_of[tokens], self.close_of[tokens]
        ending = torch.where(kind["BAR"], 0, torch.where(ends_with > 0, ends_with, ending))
        close = torch.where(kind["BAR"], 0, torch.where(closes > 0, closes, close))
        if self.form_ids:
            open_ = torch.where(tokens == self.form_ids["|:"], 1, torch.where(closes > 0, 0, open_))
        return torch.stack([new_phase, bar_len, pos, pitch, notes, bars, pickup, opened, tonic, step, home,
                            ending, close, prev, open_], dim=-1)

    def complete(self, ids: list[int]) -> list[int]:
        """Cut a row that stopped mid-note (length cap) back to its last complete note, then EOS."""
        body = [i for i in ids if i not in (EOS, PAD)]
        while body and self.kinds[body[-1]] != "DURATION" and not self.end_mark[body[-1]] and len(body) > 5:
            body.pop()
        return body + [EOS]


class PerformanceGrammar:
    """NOTE_OFF only for a sounding pitch, no NOTE_ON for one already sounding, at most
    `max_polyphony` notes at once; `complete` closes every note still sounding at the end."""

    def __init__(self, tokenizer: Tokenizer) -> None:
        table, vocab = tokenizer.table, tokenizer.vocab_size
        self.on_ids = torch.from_numpy(table.ids_of("NOTE_ON"))
        self.off_ids = torch.from_numpy(table.ids_of("NOTE_OFF"))
        self.program_ids = torch.from_numpy(table.ids_of("PROGRAM")) if "PROGRAM" in table.offsets else None
        self.vocab = vocab
        self.max_polyphony = getattr(tokenizer.config, "max_polyphony", 64)
        self.pitch_of = torch.full((vocab,), -1, dtype=torch.long)
        self.pitch_of[self.on_ids] = torch.arange(len(self.on_ids))
        self.pitch_of[self.off_ids] = torch.arange(len(self.off_ids))
        self.is_on = torch.zeros(vocab, dtype=torch.bool)
        self.is_on[self.on_ids] = True
        self.is_off = torch.zeros(vocab, dtype=torch.bool)
        self.is_off[self.off_ids] = True

    def start(self, prefix: list[int], batch: int, device: torch.device) -> Tensor:
        """(B, 128) bool: which pitches sound after the prefix."""
        for name in ("on_ids", "off_ids", "pitch_of", "is_on", "is_off"):
            setattr(self, name, getattr(self, name).to(device))
        state = torch.zeros(1, len(self.on_ids), dtype=torch.bool, device=device)
        for token in prefix:
            state = self.advance(state, torch.tensor([token], device=device))
        return state.expand(batch, -1).clone()

    def mask(self, state: Tensor) -> Tensor:
        allowed = torch.ones(state.size(0), self.vocab, dtype=torch.bool, device=state.device)
        allowed[:, [PAD, BOS]] = False
        full = state.sum(dim=1, keepdim=True) >= self.max_polyphony  # (B, 1)
        allowed[:, self.on_ids] = ~state & ~full
        allowed[:, self.off_ids] = state
        allowed[:, EOS] = ~state.any(dim=1)  # end only with every note closed
        if self.program_ids is not None:
            allowed[:, self.program_ids] = False  # instrument changes come from the seed only
        return allowed

    def advance(self, state: Tensor, tokens: Tensor) -> Tensor:
        pitch = self.pitch_of[tokens].clamp(min=0)  # (B,)
        rows = torch.arange(state.size(0), device=state.device)
        state = state.clone()
        state[rows, pitch] = torch.where(self.is_on[tokens], True, torch.where(self.is_off[tokens], False, state[rows, pitch]))
        return state

    def complete(self, ids: list[int]) -> list[int]:
        """Close every still-sounding note with NOTE_OFFs, then EOS."""
        body = [i for i in ids if i not in (EOS, PAD)]
        sounding: set[int] = set()
        off0, on0 = int(self.off_ids[0]), int(self.on_ids[0])
        for i in body:
            if on0 <= i < on0 + len(self.on_ids):
                sounding.add(i - on0)
            elif off0 <= i < off0 + len(self.off_ids):
                sounding.discard(i - off0)
        return body + [off0 + p for p in sorted(sounding)] + [EOS]


def grammar_for(tokenizer: Tokenizer, forced_header: list[int | None] | None = None, min_bars: int = 0,
                plan: FormPlan | None = None):
    """The grammar of the tokenizer's scheme, or None where decoding repairs instead (abc)."""
    if tokenizer.name == "metric":
        return MetricGrammar(tokenizer, forced_header, min_bars, plan)
    if tokenizer.name == "performance":
        return PerformanceGrammar(tokenizer)
    return None
