"""Commands that make corpora and their bar to beat: `tokenize`, `corpus build`, `baseline`."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated

import typer

from composer.cli.app import AT_LEAST_1, SEED, Range, app, check, corpus_app
from composer.errors import InputError


@app.command()
def tokenize(
    inputs: Annotated[list[Path], typer.Argument(help="MIDI/ABC/MusicXML files or folders (searched recursively).")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Corpus folder to write; re-running resumes it.")],
    tokenizer: Annotated[str, typer.Option("--tokenizer", "-t", help="Scheme: performance, metric or abc.")] = "metric",
    workers: Annotated[int | None, typer.Option("--workers", "-j", help="Processes.", show_default="every core")] = None,
    shard: Annotated[str | None, typer.Option("--shard", help="i/n: this machine's share of the files (k % n == i).")] = None,
    force: Annotated[bool, typer.Option("--force", help="Start the folder afresh instead of resuming it.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
    form: Annotated[bool, typer.Option("--form/--no-form", help="metric: write a repeat the source writes once, "
                                       "between |: :| marks (what the shipped model reads).")] = True,
) -> None:
    """Tokenize files into a corpus folder (token shards + index) for training; bad files are listed."""
    check(workers=(workers, Range(1, 1024)))
    from composer.corpus import parse_shard, tokenize_corpus  # lazy: start-up
    from composer.tokenize import Tokenizer  # lazy: start-up

    options = {"form": form} if tokenizer == "metric" else {}
    report = tokenize_corpus(inputs, Tokenizer.create(tokenizer, **options), out, workers=workers,
                             shard=parse_shard(shard) if shard else None, progress=not quiet, force=force)
    typer.echo(report.summary())
    for label, items in (("failed", report.files_failed), ("skipped piece in", report.pieces_failed)):
        for path, reason in items[:20]:
            typer.echo(f"  {label} {path}: {reason}")
        if len(items) > 20:
            typer.echo(f"  … and {len(items) - 20} more {label.split()[0]}; all are in {out / 'report.json'}")
    if report.files_seen and report.pieces == 0:
        typer.secho("error: no file could be tokenized", fg="red", err=True)
        raise SystemExit(1)


@corpus_app.command("build")
def corpus_build(
    name: Annotated[str, typer.Argument(help="oneills (O'Neill's 1850, ABC), ryans (Ryan's Mammoth Collection, ABC), bach (371 chorales as MIDI) or seeds.")],
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Folder to fill (seeds: midi_corpus/seeds).")] = None,
    midi: Annotated[bool, typer.Option("--midi", help="oneills, ryans: also write each tune as MIDI into OUT-midi/.")] = False,
    force: Annotated[bool, typer.Option("--force", help="seeds: rewrite MIDI files that exist.")] = False,
) -> None:
    """Fill a folder from music21's shipped corpus; outputs already there are kept, so it resumes."""
    from composer.corpus.build import build  # lazy: start-up

    report = build(name, out, midi=midi, force=force)
    typer.echo(report.summary())
    for src, reason in report.failed[:20]:
        typer.echo(f"  failed {src}: {reason}")


@app.command()
def baseline(
    data: Annotated[Path, typer.Argument(help="Corpus folder from `composer tokenize`.")],
    orders: Annotated[str, typer.Option(help="n-gram orders: a range 1-10 or a list 1,3,5.")] = "1-10",
    val_fraction: Annotated[float | None, typer.Option(help="Share of pieces held out (as in train).")] = None,
    split_seed: Annotated[int | None, typer.Option(help="Seed of the piece split (as in train).")] = None,
) -> None:
    """Kneser-Ney n-gram perplexity on the validation pieces, per order — the bar the LSTM must clear."""
    check(val_fraction=(val_fraction, Range(0, 0.9, above=True)), split_seed=(split_seed, SEED))
    try:
        lo, _, hi = orders.partition("-")
        wanted = list(range(int(lo), int(hi) + 1)) if hi else [int(o) for o in orders.split(",")]
    except ValueError:
        wanted = []
    if not wanted or not all(AT_LEAST_1.holds(o) for o in wanted):
        raise InputError(f"--orders takes a range like 1-10 or a list like 1,3,5 (orders ≥ 1), not {orders!r}")
    from composer.corpus.data import DataConfig, open_corpus  # lazy: start-up
    from composer.evaluate.baseline import perplexity_by_order  # lazy: start-up

    defaults = DataConfig()
    corpus = open_corpus(data)
    train_ids, val_ids = corpus.split(DataConfig(
        val_fraction=defaults.val_fraction if val_fraction is None else val_fraction,
        split_seed=defaults.split_seed if split_seed is None else split_seed))
    if len(val_ids) == 0:
        raise InputError("no validation pieces: the corpus needs at least two pieces and --val-fraction > 0", data)
    result = perplexity_by_order(corpus.pieces(train_ids), corpus.pieces(val_ids), corpus.tokenizer.vocab_size, wanted)
    typer.echo(f"{len(train_ids)} train / {len(val_ids)} val pieces, {corpus.tokenizer.name} tokens "
               f"({corpus.tokenizer.vocab_size}); Kneser-Ney n-gram perplexity on val:")
    for n, ppl in result.items():
        typer.echo(f"  n={n:<2} perplexity {ppl:8.3f}  ({math.log2(ppl):.3f} bits/token)")
