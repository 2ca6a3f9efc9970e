"""Form statistics of real and composed tunes, one row per set with the time each took.

    python bench/form.py [--corpus DATA [--every-piece]] [--tunes 100] [--composed 20] [--rng-seed 1]
                         [--checkpoint CKPT] [--types reel,jig,hornpipe] [--key D] [--bars N]

(a) O'Neill tunes read with composer's ABC reader (the one `composer.load` runs per tune: only the chosen
    tunes are parsed). With --corpus DATA (`composer corpus build oneills` then `composer tokenize … --tokenizer
    metric`): the tunes the shipped model held out (its checkpoint's split of DATA). Without: the first --tunes
    of music21's O'Neill tunes by SHA-1 of "file stem:X:title" (some of them were in the model's training set);
(b) the same tunes written to MIDI by composer (`save_midi`) and read back (`load`);
(c) --composed tunes of each of --types from --checkpoint (default: the shipped model) asked for by labels
    alone (--key to ask a key too), a whole tune each (or --bars), --rng-seed (--composed 0: none);
(d) those compositions written to MIDI and read back.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import tempfile
import time
from pathlib import Path

import torch

from composer.corpus.data import open_corpus
from composer.errors import ComposerError
from composer.evaluate.form import FormConfig, form_by_type, form_table, piece_type
from composer.generate.composer import DEFAULT_CHECKPOINT, Composer
from composer.io import load, save_midi
from composer.io.abc import header_fields, parse_abc_tune, split_tunes
from composer.score import Score
from composer.train.checkpoint import load_checkpoint


def oneills_by_hash(n: int) -> list[Score]:
    """The first `n` O'Neill tunes by SHA-1 of file stem, X and title, parsed (unreadable ones skipped)."""
    from music21 import corpus

    paths = sorted(Path(p) for p in corpus.getPaths(fileExtensions=("abc",)) if "oneills" in str(p))
    tunes = []
    for path in paths:
        for text in split_tunes(path.read_text(encoding="utf-8", errors="replace")):
            f = header_fields(text)
            name = f"{path.stem}:{f.get('X', '')}:{f.get('T', '')}"
            tunes.append((hashlib.sha1(name.encode()).hexdigest(), text, str(path)))
    out: list[Score] = []
    for _, text, source in sorted(tunes):
        if len(out) == n:
            break
        try:
            out.append(parse_abc_tune(text, source))
        except Exception as e:  # a tune composer cannot read is skipped, as `composer.load` skips it
            print(f"skipped: {e}", file=sys.stderr)
    return out


def held_out(data: Path, every_piece: bool = False) -> list[Score]:
    """The pieces of a tokenized corpus that the shipped model held out (or all of them), each read again from its file."""
    corpus = open_corpus(data)
    _, val = corpus.split(load_checkpoint(DEFAULT_CHECKPOINT).data_config)
    if every_piece:
        val = range(len(corpus.index))
    out: list[Score] = []
    texts: dict[str, list[str]] = {}
    for i in val:
        e = corpus.index[int(i)]
        if Path(e["file"]).suffix.lower() != ".abc":
            score = load(e["file"])[e["piece"]]
        else:
            tunes = texts.setdefault(e["file"], split_tunes(Path(e["file"]).read_text(encoding="utf-8", errors="replace")))
            score = parse_abc_tune(tunes[e["piece"]], e["file"])  # every O'Neill tune reads, so piece k is tune k
            if score.title != (e.get("title") or score.title):
                score = load(e["file"])[e["piece"]]  # some tune before it did not read: count readable ones
        out.append(score.replace(tune_type=e.get("tune_type") or score.tune_type))
    return out


def via_midi(scores: list[Score], folder: Path) -> list[Score]:
    """Each score written to MIDI by composer and read back."""
    out = []
    for i, score in enumerate(scores):
        path = save_midi(score, folder / f"{i:04d}.mid")
        out += [s.replace(tune_type=score.tune_type, metadata={**s.metadata, **_asked(score)}) for s in load(path)]
    return out


def _asked(score: Score) -> dict:
    return {"asked_type": score.metadata["asked_type"]} if "asked_type" in score.metadata else {}


def timed(label: str, scores: list[Score], rows: dict, seconds: dict, config: FormConfig) -> None:
    """Add the set's form summary (and its types' with 5+ pieces) to `rows`, its time to `seconds`."""
    start = time.monotonic()
    rows[label], by_type = form_by_type(scores, piece_type, config)
    seconds[label] = time.monotonic() - start
    for t, summary in by_type.items():
        if 5 <= summary["n"] < rows[label]["n"]:  # a type with a few pieces, and not the whole set
            rows[f"{label}, {t}"] = summary


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, help="tokenized O'Neill corpus: use the shipped model's held-out tunes")
    parser.add_argument("--every-piece", action="store_true",
                        help="every piece of --corpus, not the held-out split (a collection the model never saw)")
    parser.add_argument("--tunes", type=int, default=100, help="O'Neill tunes by hash order when no --corpus")
    parser.add_argument("--composed", type=int, default=20)
    parser.add_argument("--rng-seed", type=int, default=1)
    parser.add_argument("--checkpoint", type=Path, help="model to compose with (default: the shipped one)")
    parser.add_argument("--types", default="reel", help="comma-separated tune types to compose, --composed of each")
    parser.add_argument("--key", default=None, help="asked key (default: the model draws one per tune)")
    parser.add_argument("--bars", type=int, default=None, help="bars to compose (default: a whole tune, or 16)")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)  # faster than two for small batches on this machine (field notes)
    config = FormConfig()
    rows: dict = {}
    seconds: dict = {}
    start = time.monotonic()
    real = held_out(args.corpus, args.every_piece) if args.corpus else oneills_by_hash(args.tunes)
    read_s = time.monotonic() - start
    name = (f"{args.corpus.name}, every piece" if args.every_piece else "O'Neill held out") if args.corpus else "O'Neill by hash"
    timed(name, real, rows, seconds, config)
    with tempfile.TemporaryDirectory() as tmp:
        start = time.monotonic()
        real_midi = via_midi(real, Path(tmp) / "real")
        midi_s = time.monotonic() - start
        timed(f"{name} via MIDI", real_midi, rows, seconds, config)
        start = time.monotonic()
        composer = Composer.load(args.checkpoint, device="cpu")
        composed = []
        for tune_type in args.types.split(",") if args.composed > 0 else []:
            pieces = composer.compose(None, n=args.composed, tune_type=tune_type, key=args.key, bars=args.bars,
                                      rng_seed=args.rng_seed)
            pieces = [s.replace(metadata={**s.metadata, "asked_type": tune_type}) for s in pieces]
            timed(f"model {tune_type}", pieces, rows, seconds, config)
            timed(f"model {tune_type} via MIDI", via_midi(pieces, Path(tmp) / f"model-{tune_type}"), rows, seconds, config)
            composed += pieces
        compose_s = time.monotonic() - start
    print("\n".join(form_table(rows)))
    print(f"times: read {len(real)} tunes {read_s:.1f} s; MIDI round trip {midi_s:.1f} s; "
          f"compose {len(composed)} tunes {compose_s:.1f} s; form statistics "
          + ", ".join(f"{k} {v:.1f} s" for k, v in seconds.items()))


if __name__ == "__main__":
    try:
        main(sys.argv[1:])
    except ComposerError as e:
        sys.exit(f"bench/form.py: {e}")
