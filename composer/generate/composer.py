"""`Composer`: load a checkpoint, prime it with a seed, and sample variations under the token grammar.

The seed runs through the network once; every new token is one step with the state carried. `n`
variations are one batch. Header tokens (meter, key, tune type) are forced where the user asks.
Asked for a tune type that the checkpoint's probe knows (`composer.model.probe`), it samples `drafts`
pieces per piece returned and keeps the one the probe finds most like that type.
"""

from __future__ import annotations

import dataclasses
import math
import warnings
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from composer.errors import CheckpointError, InputError
from composer.generate.seeds import (
    drop_before,
    exact_tempos,
    melody_seed,
    meter_text,
    octave_shift,
    seed_end_tick,
)
from composer.model.cache import CacheConfig, kind_index
from composer.model.network import Model
from composer.model.probe import TypeProbe, best_drafts
from composer.model.sampling import SampleConfig, sample_tokens
from composer.score import (
    Score,
    TempoChange,
    analysed_tonic,
    key_name_to_signature,
)
from composer.tokenize.base import BOS, EOS, Tokenizer
from composer.tokenize.form import FormPlan
from composer.tokenize.grammar import grammar_for
from composer.train.checkpoint import build_model, load_checkpoint

DEFAULT_CHECKPOINT = Path(__file__).resolve().parents[2] / "checkpoints" / "default.pt"
TOKENS_PER_BAR_CAP = 96  # generous: a bar of sixteenths with chords stays under this
DEFAULT_BARS = 16  # new bars when no length is asked of a model that writes no repeat signs
PART_BARS = 8
KEY_BONUS = 100.0  # outweighs any difference in the probe's log-probabilities
WHOLE_TUNE_TOKENS = 1536  # a tune the model ends itself: O'Neill's longest folded tunes stay under this
# The meters a dance type is played in; a type not named here goes with any meter.
TYPE_METERS = {"reel": ("4/4", "2/2"), "jig": ("6/8",), "slip jig": ("9/8",), "hornpipe": ("4/4", "2/2"),
               "polka": ("2/4",), "slide": ("12/8",), "waltz": ("3/4",), "mazurka": ("3/4",),
               "barndance": ("4/4", "2/2"), "strathspey": ("4/4", "2/2")}
UNTRAINED_PERPLEXITY = 8.0  # a checkpoint whose best validation perplexity is above this says so when loaded


@dataclass(frozen=True)
class Seed:
    """A seed as the model sees it: ids without EOS, and the score they decode to."""

    ids: list[int]
    score: Score | None
    title: str = "seed"
    tempos: tuple[TempoChange, ...] = ()  # the seed's own tempo map at the decoded resolution, kept exactly


class Composer:
    """A trained model and its tokenizer, ready to compose; `.model` and `.tokenizer` are public."""

    def __init__(self, model: Model, tokenizer: Tokenizer, device: str | torch.device = "cpu",
                 cache: CacheConfig = CacheConfig(), probe: TypeProbe | None = None) -> None:
        self.model = model.to(device).eval()
        self.tokenizer = tokenizer
        self.device = torch.device(device)
        self.cache = cache
        self.probe = probe
        self.cache_groups = kind_index(tokenizer.table.kind_array())  # the cache chooses within a token kind

    @classmethod
    def load(cls, checkpoint: str | Path | None = None, device: str = "auto") -> Composer:
        """Load a checkpoint (None: the shipped default model) onto `device` ("auto": CUDA when present)."""
        path = Path(checkpoint) if checkpoint is not None else DEFAULT_CHECKPOINT
        if checkpoint is None and not path.exists():
            raise CheckpointError("the shipped default model is missing; pass --checkpoint RUN/best.pt", path)
        if device == "auto":
            device = "cuda" if torch.cuda.is_available() else "cpu"
        ckpt = load_checkpoint(path, map_location=device)
        _warn_if_untrained(ckpt.best_val_loss, ckpt.step, path)
        return cls(build_model(ckpt, device), ckpt.tokenizer, device, ckpt.cache_config, ckpt.probe)

    # --- seeds -------------------------------------------------------------------------------
    def seed(self, seed: str | Path | Score | list[int] | np.ndarray | None, *, key: str | None = None,
             tune_type: str | None = None, meter: str | None = None, track: int | None = None) -> Seed:
        """Encode a seed (path, Score or ids) into a prefix, fitting it into the vocabulary with warnings.

        A seed of several tracks or parts gives its melody (`melody_seed`; `track` picks another)."""
        if seed is None:
            if track is not None:
                raise InputError("--track chooses a track of a seed file; there is no seed")
            return Seed([BOS], None)
        if isinstance(seed, (str, Path)):
            seed = melody_seed(Path(seed), track)
        elif track is not None:
            raise InputError("--track chooses a track of a seed file; this seed is not a file")
        title, tempos = "seed", ()
        if isinstance(seed, Score):
            title = seed.title or Path(seed.source).stem or title
            score = self._fit_seed(seed, key=key, tune_type=tune_type, meter=meter)
            ids = self.tokenizer.encode(score)
            tempos = exact_tempos(self.tokenizer, score)
        else:
            ids = [int(i) for i in seed]
            if any(not 0 <= i < self.tokenizer.vocab_size for i in ids):
                raise InputError(f"seed ids must lie in 0…{self.tokenizer.vocab_size - 1}")
            if not ids or ids[0] != BOS:
                ids = [BOS] + ids
        if EOS in ids:
            ids = ids[: ids.index(EOS)]
        decoded = self.tokenizer.decode(ids + [EOS])
        return Seed(ids, decoded.replace(tempos=tempos) if tempos else decoded, title, tempos)

    def _fit_seed(self, score: Score, *, key: str | None, tune_type: str | None, meter: str | None) -> Score:
        """The seed moved into what the vocabulary holds: octave-shifted into the pitch range, drums
        dropped, transposed to a requested key, with the requested tune type."""
        cfg = self.tokenizer.config
        low, high = getattr(cfg, "pitch_low", 0), getattr(cfg, "pitch_high", 127)
        if any(n.is_drum for n in score.notes) and not getattr(cfg, "use_programs", True):
            warnings.warn(f"seed {score.source or score.title!r}: drum notes dropped (this model has no drums)", stacklevel=3)
            score = score.replace(notes=[n for n in score.notes if not n.is_drum])
        if key is not None and score.key_signature is not None:
            wanted, mode = key_name_to_signature(key), score.key_signature.mode
            if wanted.mode != mode:  # transposing keeps the seed's mode: say so, and label what is heard
                if key.strip()[1:].lstrip("#b").strip():
                    warnings.warn(f"--key {key}: the seed is in {score.key_signature.name}; transposed to "
                                  f"{wanted._replace(mode=mode).name} (a seed keeps its mode)", stacklevel=3)
                wanted = wanted._replace(mode=mode)
            shift = (wanted.tonic - score.key_signature.tonic + 6) % 12 - 6
            score = score.transpose(shift).replace(key_signatures=[wanted])
        pitches = [n.pitch for n in score.notes if not n.is_drum]
        if pitches and (min(pitches) < low or max(pitches) > high):
            octaves = octave_shift(min(pitches), max(pitches), low, high)
            warnings.warn(f"seed {score.source or score.title!r}: pitches {min(pitches)}–{max(pitches)} lie outside "
                          f"{low}–{high}; moved {octaves:+d} octave(s), notes still outside dropped", stacklevel=3)
            score = score.transpose(12 * octaves)
        seed_meter = meter_text(score)
        if tune_type is not None and seed_meter is not None and seed_meter not in TYPE_METERS.get(tune_type, (seed_meter,)):
            warnings.warn(f"--type {tune_type} ignored: the seed is in {seed_meter}, and a {tune_type} is in "
                          f"{' or '.join(TYPE_METERS[tune_type])}", stacklevel=3)
        elif tune_type is not None:
            score = score.replace(tune_type=tune_type)
        elif score.tune_type and hasattr(self.tokenizer, "type_value") and \
                self.tokenizer.type_value(score.tune_type) != score.tune_type:
            warnings.warn(f"seed tune type {score.tune_type!r} is not in the vocabulary; using 'unknown'", stacklevel=3)
        if meter is not None and seed_meter is not None and seed_meter != meter:
            warnings.warn(f"--meter {meter} ignored: the seed is in {seed_meter}", stacklevel=3)
        return score

    # --- composing ---------------------------------------------------------------------------
    def compose(self, seed: Any = None, n: int = 1, bars: int | None = None, max_tokens: int | None = None,
                seconds: float | None = None, temperature: float = 1.0, top_k: int | None = None,
                top_p: float | None = None, tune_type: str | None = None, key: str | None = None,
                meter: str | None = None, rng_seed: int | None = None, include_seed: bool = True,
                drafts: int | None = None, form: str | None = None, parts: int | None = None,
                track: int | None = None) -> list[Score]:
        """`n` new pieces continuing `seed` (or from the header alone), as Scores.

        Length: `bars` new bars (metric), or `seconds` of music (performance), capped by `max_tokens`; with
        `bars=None` a model that writes repeat signs ends the tune itself. `form` ('AABB', 'ABAB', 'AABBCC')
        or `parts` (n parts, each played twice) asks for a form in 8-bar parts.
        `drafts` per piece for an asked `tune_type` (None: the probe's default; 1: no choosing).
        Each Score's metadata holds `seed_end_tick`, where the seed stops and new music begins; the
        seed's tempo map is kept exactly. `track`: which track of a multi-track seed file to continue."""
        if seed is None and tune_type is not None and meter is not None and \
                meter not in TYPE_METERS.get(tune_type, (meter,)):
            raise InputError(f"a {tune_type} is in {' or '.join(TYPE_METERS[tune_type])}, not {meter}: "
                             "change --meter or --type (or leave --meter out)")
        prefix = self.seed(seed, key=key, tune_type=tune_type, meter=meter, track=track)
        if seed is not None and prefix.score is not None and prefix.score.tune_type != tune_type:
            tune_type = None  # the seed's meter overruled it (a warning said so): do not judge drafts by it
        rows = self.compose_ids(prefix.ids, n=n, bars=bars, max_tokens=max_tokens, seconds=seconds,
                                temperature=temperature, top_k=top_k, top_p=top_p, tune_type=tune_type,
                                key=key, meter=meter, rng_seed=rng_seed, seeded=seed is not None, drafts=drafts,
                                form=form, parts=parts)
        seed_end = seed_end_tick(self.tokenizer, prefix.ids)
        scores = []
        for i, ids in enumerate(rows, start=1):
            score = self.tokenizer.decode(ids)
            if prefix.tempos:
                score = score.replace(tempos=prefix.tempos)
            if not include_seed:
                score = drop_before(score, seed_end)
            title = f"{prefix.title} – variation {i}" if seed is not None else f"composition {i}"
            scores.append(score.replace(title=title, metadata={**score.metadata, "ids": ids,
                                                               "seed_end_tick": seed_end if include_seed else 0}))
        return scores

    def compose_ids(self, prefix: list[int], n: int = 1, bars: int | None = None, max_tokens: int | None = None,
                    seconds: float | None = None, temperature: float = 1.0, top_k: int | None = None,
                    top_p: float | None = None, tune_type: str | None = None, key: str | None = None,
                    meter: str | None = None, rng_seed: int | None = None, seeded: bool = True,
                    drafts: int | None = None, form: str | None = None, parts: int | None = None) -> list[list[int]]:
        """Token rows: `prefix` followed by its sampled continuation, each ending in EOS.

        With no length asked, a model that writes repeat signs composes a whole tune: the seed's parts and
        one more (AABB from labels alone), each part played twice, the last bar a cadence home (the grammar's); of
        the drafts for a type, one whose notes establish the asked key is kept first."""
        if n < 1:
            raise InputError(f"n must be at least 1, not {n}")
        if bars is not None and bars < 1:
            raise InputError(f"bars must be at least 1, not {bars}")
        if drafts is not None and drafts < 1:
            raise InputError(f"drafts must be at least 1, not {drafts}")
        plan = self._plan(prefix, bars, seconds, form, parts)
        if plan is not None:
            bars = None
        elif bars is None and seconds is None:
            bars = DEFAULT_BARS
        judged = self.probe is not None and self.probe.knows(tune_type)
        drafts = (drafts or self.probe.config.drafts) if judged else 1
        generator = torch.Generator(device=self.device)
        generator.manual_seed(rng_seed if rng_seed is not None else int(torch.randint(0, 2**31, ()).item()))
        groups: list[tuple[list[int], list[int | None] | None, int]] = [(prefix, None, n)]
        if self.tokenizer.name == "metric" and len(prefix) <= 1:
            asked = self.tokenizer.header_ids(meter=meter, key=key, tune_type=tune_type)
            drawn = Counter(tuple(h) for h in self._infer_headers(asked, n, generator))  # each row its own header
            groups = [(_with_header(prefix, list(h)), list(h), k) for h, k in drawn.items()]
        config = SampleConfig(temperature=temperature, top_k=top_k, top_p=top_p)
        rows: list[list[int]] = []
        for start, forced, k in groups:
            batch = self._sample_rows(start, forced, k * drafts, bars, max_tokens, seconds, config, generator, plan)
            if drafts > 1:
                likely = self.probe.log_probs(self.model, self.tokenizer, batch)[:, self.probe.config.types.index(tune_type)]
                if plan is not None:  # of the drafts like the type, one whose notes establish the asked key
                    likely = likely + KEY_BONUS * self._in_key(batch)
                batch = [batch[i] for i in best_drafts(likely, drafts)]
            rows += batch
        return rows

    def _in_key(self, rows: list[list[int]]) -> torch.Tensor:
        """1 for each row whose notes music21's key analysis hears in the key its header names, else 0."""
        fits = []
        for row in rows:
            score = self.tokenizer.decode(row)
            key = score.key_signature
            fits.append(key is not None and analysed_tonic(score) == key.tonic)
        return torch.tensor(fits, dtype=torch.float32, device=self.device)

    def _plan(self, prefix: list[int], bars: int | None, seconds: float | None, form: str | None,
              parts: int | None) -> FormPlan | None:
        """The form asked for, or, with no length asked of a model that writes repeats, the seed's parts and one more
        (a seed written in its parts gets a new part after it; an A part its repeat and a B part; a longer
        written-out seed is closed at its last 8-bar line and gets a new part)."""
        if form or parts:
            if "FORM" not in self.tokenizer.table.offsets:
                raise InputError("this model writes no repeat signs (its tokenizer has no FORM tokens): "
                                 "--form and --parts need one that does; ask for --bars instead")
            return FormPlan.parse(form) if form else FormPlan.parts(parts)
        if bars is not None or seconds is not None or "FORM" not in self.tokenizer.table.offsets:
            return None
        kinds, values = self.tokenizer.table.kinds, self.tokenizer.table.values
        bars_written = [i for i, t in enumerate(prefix) if kinds[t] == "BAR"]
        if not bars_written:
            return FormPlan.parts(2)
        first_pos = next((values[t] for t in prefix[bars_written[0]:] if kinds[t] == "POSITION"), 0)
        full = len(bars_written) - (first_pos > 0)  # a pickup bar is not a full bar
        if any(kinds[t] == "FORM" and values[t] in (":|", "||") for t in prefix):
            return FormPlan(((full + PART_BARS, ":|"),))  # the seed is written in its parts: one more, played twice
        if full <= PART_BARS:  # an A part: its repeat, then a B part played twice
            return FormPlan.parts(2)
        end = -(-full // PART_BARS) * PART_BARS  # a longer seed written out: close its last part, then one more
        return FormPlan(((end, "||"), (end + PART_BARS, ":|")))

    def _sample_rows(self, prefix: list[int], forced: list[int | None] | None, n: int, bars: int | None,
                     max_tokens: int | None, seconds: float | None, config: SampleConfig,
                     generator: torch.Generator, plan: FormPlan | None = None) -> list[list[int]]:
        """`n` continuations of one prefix under the tokenizer's grammar, each ending in EOS."""
        min_bars = 0
        if self.tokenizer.name == "metric" and bars is not None:
            min_bars = sum(self.tokenizer.table.kinds[i] == "BAR" for i in prefix) + bars
        grammar = grammar_for(self.tokenizer, forced, min_bars, plan)
        steps = max_tokens or (plan.bars * TOKENS_PER_BAR_CAP // 2 + 64 if plan else self._step_cap(bars, seconds))
        config = dataclasses.replace(config, max_tokens=steps)
        tails = sample_tokens(self.model, prefix, n, steps, grammar, config, EOS, generator,
                              self._stop_rule(bars, seconds, n), self.cache,
                              self.cache_groups)
        rows = [prefix + tail for tail in tails]
        return [grammar.complete(r) if grammar is not None else _with_eos(r) for r in rows]

    @torch.no_grad()
    def _infer_headers(self, forced: list[int | None], n: int, generator: torch.Generator) -> list[list[int | None]]:
        """`n` draws of the free header slots that come before an asked-for one, from the model's posterior.

        The header is METER KEY TYPE TEMPO, so asking for "a reel" alone would let the model pick a
        meter before it knows the type. Instead every (meter, key) pair is scored in one batch and one
        is drawn with probability ∝ (P(meter) · P(key | meter) · P(type | meter, key))⁴."""
        last = max((i for i, t in enumerate(forced) if t is not None and i > 0), default=0)
        free = [i for i in range(1, last) if forced[i] is None]
        if not free:
            return [forced] * n
        kinds = ("METER", "KEY", "TYPE", "TEMPO")
        choices = [self.tokenizer.table.ids_of(kinds[i - 1]).tolist() if i in free else [forced[i]]
                   for i in range(1, last + 1)]
        asked = self.tokenizer.table.values[forced[3]] if len(forced) > 3 and forced[3] is not None else None
        if 1 in free and asked in TYPE_METERS:  # a reel is drawn in 4/4 or 2/2, whatever the model thinks
            fitting = [i for i in choices[0] if self.tokenizer.table.values[i] in TYPE_METERS[asked]]
            choices[0] = fitting or choices[0]
        grid = torch.cartesian_prod(*[torch.tensor(c) for c in choices]).reshape(-1, last)  # (C, last)
        ids = torch.cat([torch.full((len(grid), 1), BOS), grid], dim=1).to(self.device)  # (C, last + 1)
        logp = torch.log_softmax(self.model(ids[:, :-1])[0].float(), dim=-1)  # (C, last, V)
        score = logp.gather(2, ids[:, 1:].unsqueeze(-1)).squeeze(-1).sum(dim=1)  # (C,)
        # Sharpened (temperature 1/4): the model's tune-type guess from meter and key is soft, and a
        # musician asking for a jig expects 6/8, not a long tail of unlikely meters.
        picks = torch.multinomial(torch.softmax(4 * score, 0).cpu(), n, replacement=True, generator=_cpu(generator))
        return [[forced[0], *grid[int(p)].tolist(), *forced[last + 1:]] for p in picks]

    def _step_cap(self, bars: int | None, seconds: float | None) -> int:
        if self.tokenizer.name == "metric" and bars is not None:
            return bars * TOKENS_PER_BAR_CAP + 8
        if seconds is not None:
            return int(seconds * 100 * 3) + 16  # ~3 events per 10 ms step at most, in practice far fewer
        return WHOLE_TUNE_TOKENS

    def _stop_rule(self, bars: int | None, seconds: float | None, n: int):
        """A closure that ends a row at the bar after the last one asked for, or past `seconds`."""
        table = self.tokenizer.table
        if self.tokenizer.name == "metric" and bars is not None:
            bar_id = table.id("BAR", table.values[table.ids_of("BAR")[0]])
            count = torch.zeros(n, dtype=torch.long, device=self.device)

            def after_bars(tokens: torch.Tensor, done: torch.Tensor) -> torch.Tensor:
                count.add_((tokens == bar_id).long())
                return count > bars

            return after_bars
        if seconds is not None and "TIME_SHIFT" in table.offsets:
            step = torch.zeros(self.tokenizer.vocab_size, device=self.device)
            ids = table.ids_of("TIME_SHIFT")
            step[ids] = torch.tensor([float(table.values[i]) for i in ids], device=self.device)
            unit = getattr(self.tokenizer.config, "time_step_ms", 10) / 1000.0
            elapsed = torch.zeros(n, device=self.device)

            def after_seconds(tokens: torch.Tensor, done: torch.Tensor) -> torch.Tensor:
                elapsed.add_(step[tokens] * unit)
                return elapsed > seconds

            return after_seconds
        return None


def _warn_if_untrained(best_val_loss: float | None, step: int, path: Path) -> None:
    """One warning when a checkpoint has not learnt much: its best validation perplexity, or that it has none."""
    if best_val_loss is None:
        warnings.warn(f"{path}: untrained or never validated (step {step}, no validation loss); expect noise, "
                      "not tunes (docs/training.md)", stacklevel=3)
    elif math.exp(min(best_val_loss, 700.0)) > UNTRAINED_PERPLEXITY:
        warnings.warn(f"{path}: barely trained (step {step}, best validation perplexity "
                      f"{math.exp(min(best_val_loss, 700.0)):.1f}); expect noise, not tunes (docs/training.md)",
                      stacklevel=3)


def _cpu(generator: torch.Generator) -> torch.Generator:
    """The generator itself on CPU, or a CPU one seeded from it (multinomial on CPU tensors)."""
    if generator.device.type == "cpu":
        return generator
    return torch.Generator().manual_seed(int(torch.randint(0, 2**31, (), generator=generator, device=generator.device)))


def _with_header(prefix: list[int], header: list[int | None]) -> list[int]:
    """`prefix` extended by the header's given tokens up to its first free (None) slot."""
    prefix = list(prefix)
    while len(prefix) < len(header) and header[len(prefix)] is not None:
        prefix.append(int(header[len(prefix)]))
    return prefix


def _with_eos(row: list[int]) -> list[int]:
    return row if row and row[-1] == EOS else row + [EOS]
