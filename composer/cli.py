"""The `composer` command: a thin typer front over the stages; every command calls one library function.

Errors from composer print as one or two lines naming the file and the fix (exit 1); pass --debug
for the traceback. Ctrl-C exits with 130 and leaves resumable state behind.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path
from typing import Annotated

import typer

from composer.errors import ComposerError

app = typer.Typer(add_completion=False, no_args_is_help=True, help="Compose music with an LSTM.")


# --- commands: each one parses options and calls one function of the library -------------------
@app.command()
def tokenize(
    inputs: Annotated[list[Path], typer.Argument(help="MIDI/ABC/MusicXML files or folders (searched recursively).")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Corpus folder to write; re-running resumes it.")],
    tokenizer: Annotated[str, typer.Option("--tokenizer", "-t", help="Scheme: performance, metric or abc.")] = "metric",
    workers: Annotated[int | None, typer.Option("--workers", "-j", help="Processes (default: every core).")] = None,
    shard: Annotated[str | None, typer.Option("--shard", help="i/n: this machine's share of the files (k % n == i).")] = None,
    force: Annotated[bool, typer.Option("--force", help="Start the folder afresh instead of resuming it.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
) -> None:
    """Tokenize files into a corpus folder (token shards + index) for training; bad files are listed."""
    from composer.corpus import parse_shard, tokenize_corpus
    from composer.tokenize import Tokenizer

    report = tokenize_corpus(inputs, Tokenizer.create(tokenizer), out, workers=workers,
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


corpus_app = typer.Typer(no_args_is_help=True, help="Build training and test corpora.")
app.add_typer(corpus_app, name="corpus")


@corpus_app.command("build")
def corpus_build(
    name: Annotated[str, typer.Argument(help="oneills (O'Neill's 1850, ABC), ryans (Ryan's Mammoth Collection, ABC), bach (371 chorales as MIDI) or seeds.")],
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Folder to fill (seeds: midi_corpus/seeds).")] = None,
    midi: Annotated[bool, typer.Option("--midi", help="oneills, ryans: also write each tune as MIDI into OUT-midi/.")] = False,
    force: Annotated[bool, typer.Option("--force", help="seeds: rewrite MIDI files that exist.")] = False,
) -> None:
    """Fill a folder from music21's shipped corpus; outputs already there are kept, so it resumes."""
    from composer.corpus.build import build

    report = build(name, out, midi=midi, force=force)
    typer.echo(report.summary())
    for src, reason in report.failed[:20]:
        typer.echo(f"  failed {src}: {reason}")


@app.command()
def compose(
    seed: Annotated[Path | None, typer.Argument(help="Seed tune (.abc/.mid/.musicxml); default: a bundled jig.")] = None,
    n: Annotated[int, typer.Option("--n", "-n", help="Variations, sampled together as one batch.")] = 4,
    bars: Annotated[int | None, typer.Option("--bars", help="New bars to write after the seed (default: a whole tune "
                                             "in its form, or 16 with a model that writes no repeat signs).")] = None,
    form: Annotated[str | None, typer.Option("--form", help="AABB, ABAB, AABBCC … in 8-bar parts.")] = None,
    parts: Annotated[int | None, typer.Option("--parts", help="Parts, each played twice (2: AABB).")] = None,
    temperature: Annotated[float, typer.Option("--temperature", help="Below 1: safer; above 1: wilder.")] = 0.9,
    top_k: Annotated[int | None, typer.Option("--top-k", help="Sample among the k likeliest tokens.")] = None,
    top_p: Annotated[float | None, typer.Option("--top-p", help="Sample within the top-p probability mass.")] = None,
    tune_type: Annotated[str | None, typer.Option("--type", help="reel, jig, hornpipe, slip jig, polka, …")] = None,
    key: Annotated[str | None, typer.Option("--key", help="D, Dmaj, E minor, Ador, G mixolydian …")] = None,
    meter: Annotated[str | None, typer.Option("--meter", help="6/8, 4/4, 9/8 … (only without a seed).")] = None,
    no_seed: Annotated[bool, typer.Option("--no-seed", help="Compose from the style labels alone.")] = False,
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder for the results (a new subfolder per run).")] = Path("compositions"),
    wav: Annotated[bool, typer.Option("--wav/--no-wav", help="Render audio (fluidsynth).")] = True,
    png: Annotated[bool, typer.Option("--png/--no-png", help="Draw piano rolls.")] = True,
    html: Annotated[bool, typer.Option("--html/--no-html", help="Write a listening page.")] = True,
    checkpoint: Annotated[Path | None, typer.Option("--checkpoint", "-c", help="Model (default: the shipped one).")] = None,
    rng_seed: Annotated[int | None, typer.Option("--rng-seed", help="Same seed, same music.")] = None,
    continuation_only: Annotated[bool, typer.Option("--continuation-only", help="Leave the seed out of the output.")] = False,
    drafts: Annotated[int | None, typer.Option("--drafts", help="With --type: drafts per variation, the likeliest of "
                                               "that type kept (default: the checkpoint's, 4; 1: off).")] = None,
    track: Annotated[int | None, typer.Option("--track", help="Track N of a MIDI seed to continue (default: the "
                                              "melody: monophonic, highest).")] = None,
) -> None:
    """Compose new music from a seed tune (or from a tune type/key/meter alone) and write it to listen to."""
    from composer.generate.composer import Composer
    from composer.render.folder import DEFAULT_SEED, compose_to_folder

    chosen = None if no_seed else (seed or (DEFAULT_SEED if tune_type is None and meter is None and key is None else None))
    result = compose_to_folder(
        Composer.load(checkpoint), out, seed=chosen, wav=wav, png=png, html=html, n=n, bars=bars,
        temperature=temperature, top_k=top_k, top_p=top_p, tune_type=tune_type, key=key, meter=meter,
        rng_seed=rng_seed, include_seed=not continuation_only, drafts=drafts, form=form, parts=parts, track=track)
    typer.echo(f"wrote {len(result.pieces)} variation(s) into {result.folder}/")
    for piece in result.pieces:
        files = [p for p in (piece.midi, piece.abc, piece.wav, piece.png) if p]
        typer.echo("  " + "  ".join(str(f) for f in files))
    if result.page:
        typer.echo(f"listen: open {result.page}")


@app.command("render")
def render_command(
    file: Annotated[Path, typer.Argument(help="A .mid/.abc/.musicxml file (every tune of an ABC file).")],
    mid: Annotated[bool, typer.Option("--mid", help="Write MIDI (for ABC or MusicXML input).")] = False,
    wav: Annotated[bool, typer.Option("--wav", help="Write audio (fluidsynth; sine waves without it).")] = False,
    png: Annotated[bool, typer.Option("--png", help="Draw a piano roll.")] = False,
    musicxml: Annotated[bool, typer.Option("--musicxml", help="Write MusicXML (opens in MuseScore).")] = False,
    program: Annotated[int | None, typer.Option(help="General MIDI program for every instrument (0-127).")] = None,
    qpm: Annotated[float | None, typer.Option(help="Tempo in quarter notes per minute (replaces the file's).")] = None,
    force: Annotated[bool, typer.Option("--force", help="Overwrite files already there.")] = False,
) -> None:
    """Render an existing file beside it as .wav and .png (by default), .mid or .musicxml."""
    from composer.render import render_file

    chosen = [s for s, on in ((".mid", mid), (".wav", wav), (".png", png), (".musicxml", musicxml)) if on]
    for path in render_file(file, chosen or [".wav", ".png"], program=program, qpm=qpm, force=force):
        typer.echo(f"wrote {path}")


@app.command("evaluate")
def evaluate_command(
    checkpoint: Annotated[Path | None, typer.Argument(help="A .pt checkpoint (likelihood mode).")] = None,
    data: Annotated[Path | None, typer.Argument(help="Its corpus folder; the held-out split is scored.")] = None,
    generated: Annotated[Path | None, typer.Option("--generated", help="Music folder, or a checkpoint that composes it.")] = None,
    reference: Annotated[Path | None, typer.Option("--reference", help="Music folder, or a corpus (its held-out split).")] = None,
    n: Annotated[int, typer.Option("--n", "-n", help="Pieces a checkpoint composes (and again as reels with --classifier).")] = 100,
    classifier: Annotated[Path | None, typer.Option("--classifier", help="A tune-type classifier from `composer classify train`.")] = None,
    temperature: Annotated[float, typer.Option("--temperature", help="Sampling temperature of the composed sets "
                                               "(`compose` uses 0.9).")] = 1.0,
    drafts: Annotated[int | None, typer.Option("--drafts", help="Drafts per piece asked for by type (default: the "
                                               "checkpoint's probe; 1: off).")] = None,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Report folder (default: a new runs/eval-… folder).")] = None,
    force: Annotated[bool, typer.Option("--force", help="Write into a non-empty --out folder.")] = False,
) -> None:
    """Score a checkpoint's held-out likelihood against n-grams, or compare generated music with reference music."""
    from composer.errors import InputError
    from composer.evaluate import run

    if generated is not None or reference is not None:
        if generated is None or reference is None or checkpoint is not None:
            raise InputError("compare mode takes --generated and --reference (and no CHECKPOINT DATA arguments)")
        config = run.GenerateConfig(n=n, temperature=temperature, drafts=drafts)
        done = run.evaluate_generated(generated, reference, out, classifier, config, force=force)
        typer.echo(done["result"].to_table())
        for line in run.summary_lines(done["summary"]):
            typer.echo(line)
        typer.echo(f"report in {done['out']}")
        return
    if checkpoint is None or data is None:
        raise InputError("give CHECKPOINT DATA, or --generated and --reference")
    report, folder = run.evaluate_likelihood(checkpoint, data, out, force=force)
    typer.echo(report.to_table())
    typer.echo(f"report in {folder}")


classify_app = typer.Typer(no_args_is_help=True, help="Tune-type classifier (reel, jig, hornpipe …) over metric tokens.")
app.add_typer(classify_app, name="classify")


@classify_app.command("train")
def classify_train(
    data: Annotated[list[Path], typer.Argument(help="Metric-token corpus folders whose index names tune types.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Classifier file to write (.pt).")],
    epochs: Annotated[int | None, typer.Option(help="Passes over the training pieces.")] = None,
    hidden: Annotated[int | None, typer.Option(help="LSTM units.")] = None,
    transpose: Annotated[str | None, typer.Option(help="Augmentation: semitone range LOW,HIGH (0,0: none).")] = None,
    force: Annotated[bool, typer.Option("--force", help="Replace OUT if it exists.")] = False,
) -> None:
    """Train the tune-type classifier on the pieces of common types; prints held-out accuracy."""
    import dataclasses

    from composer.evaluate.classifier import ClassifierConfig, train_classifier

    given = {k: v for k, v in {"epochs": epochs, "hidden": hidden,
                                "transpose": _int_pair(transpose, "--transpose")}.items() if v is not None}
    report = train_classifier(data, out, dataclasses.replace(ClassifierConfig(), **given), force=force)
    typer.echo(report.to_table())
    typer.echo(f"wrote {out}")


@classify_app.command("predict")
def classify_predict(
    files: Annotated[list[Path], typer.Argument(help="Music files or folders (.mid/.abc/.musicxml).")],
    classifier: Annotated[Path, typer.Option("--classifier", "-c", help="Classifier file from `classify train`.")],
) -> None:
    """Print the tune type the classifier hears in each piece."""
    from composer.evaluate.classifier import load_classifier
    from composer.evaluate.run import load_music

    clf = load_classifier(classifier)
    for path in files:
        scores = load_music(path)
        for score, label in zip(scores, clf.classify(scores), strict=True):
            typer.echo(f"{label:<10} {path} {score.title or ''}")


@app.command("train")
def train_command(
    data: Annotated[Path | None, typer.Argument(help="Corpus folder from `composer tokenize` (optional with --resume).")] = None,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Run folder: last.pt, best.pt, metrics, previews.")] = None,
    also: Annotated[list[Path] | None, typer.Option("--also", help="Another corpus folder to train on, whole (repeatable); "
                                                   "DATA alone gives the held-out split.")] = None,
    resume: Annotated[Path | None, typer.Option("--resume", help="Continue the run in this folder from its last.pt.")] = None,
    init: Annotated[Path | None, typer.Option("--init", help="Fine-tune: start from this checkpoint's weights "
                                              "(its network; a new optimizer and schedule).")] = None,
    epochs: Annotated[int | None, typer.Option(help="Passes over the training split.")] = None,
    cell: Annotated[str | None, typer.Option(help="lstm, gru, rnn, scratch_lstm or peephole_lstm.")] = None,
    layers: Annotated[int | None, typer.Option(help="Recurrent layers.")] = None,
    hidden: Annotated[int | None, typer.Option(help="Units per recurrent layer.")] = None,
    emb: Annotated[int | None, typer.Option(help="Token embedding size.")] = None,
    dropout: Annotated[float | None, typer.Option(help="Dropout between layers and before the head.")] = None,
    seq_len: Annotated[int | None, typer.Option(help="Tokens per training window.")] = None,
    batch_size: Annotated[int | None, typer.Option(help="Windows per step (split over torchrun processes).")] = None,
    lr: Annotated[float | None, typer.Option(help="Peak learning rate (AdamW).")] = None,
    warmup_steps: Annotated[int | None, typer.Option(help="Steps of linear warm-up to the peak learning rate.")] = None,
    transpose: Annotated[str | None, typer.Option(help="Augmentation: semitone range LOW,HIGH (0,0: none).")] = None,
    max_minutes: Annotated[float | None, typer.Option(help="Stop cleanly (saving last.pt) after this long.")] = None,
    max_steps: Annotated[int | None, typer.Option(help="Stop cleanly after this many steps in all.")] = None,
    device: Annotated[str | None, typer.Option(help="auto (CUDA when present), cpu, cuda, cuda:1 …")] = None,
    log_every: Annotated[int | None, typer.Option(help="Steps between train-loss lines in metrics.jsonl.")] = None,
    checkpoint_every: Annotated[int | None, typer.Option(help="Steps between last.pt writes (also at each epoch end).")] = None,
    seed: Annotated[int | None, typer.Option(help="Seed of the initial weights and the data order.")] = None,
    force: Annotated[bool, typer.Option("--force", help="Start afresh in an --out folder that holds a run.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
) -> None:
    """Train a model on a corpus folder; defaults come from ModelConfig, DataConfig and TrainConfig."""
    import dataclasses
    import os

    from composer.corpus.data import DataConfig
    from composer.errors import InputError
    from composer.train import run as training

    given = lambda **kw: {k: v for k, v in kw.items() if v is not None}  # noqa: E731
    model_opts = given(cell=cell, layers=layers, hidden=hidden, emb=emb, dropout=dropout)
    data_opts = given(seq_len=seq_len, batch_size=batch_size, transpose=_int_pair(transpose, "--transpose"),
                      also_train=tuple(str(p) for p in also) if also else None)
    train_opts = given(epochs=epochs, lr=lr, warmup_steps=warmup_steps, max_minutes=max_minutes, max_steps=max_steps, device=device, seed=seed,
                       log_every=log_every, checkpoint_every_steps=checkpoint_every)
    if resume is not None and init is not None:
        raise InputError("--resume continues a run; --init starts a new one from a checkpoint: give one of them")
    if resume is not None:
        fixed = sorted({**model_opts, **data_opts, **{k: v for k, v in train_opts.items()
                                                       if k not in training.RESUMABLE}})
        if fixed:
            raise InputError(f"--resume continues a run as it was set up; drop {', '.join('--' + k.replace('_', '-') for k in fixed)}")
        result = training.resume(resume, data, train_opts, progress=not quiet)
    else:
        if data is None or out is None:
            raise InputError("give a corpus folder and --out RUN_DIR (or --resume RUN_DIR)")
        try:
            data_config = dataclasses.replace(DataConfig(), **data_opts)
            train_config = dataclasses.replace(training.TrainConfig(), **train_opts)
        except ValueError as e:
            raise InputError(str(e)) from None
        result = training.train(data, out, model_opts, data_config, train_config, force=force, progress=not quiet,
                                init=init)
    if int(os.environ.get("RANK", "0")) == 0:
        best = "" if result.best_val_loss is None else (
            f"; best val loss {result.best_val_loss:.4f} (perplexity {math.exp(result.best_val_loss):.2f})")
        typer.echo(f"{result.stopped}: step {result.step}, epoch {result.epoch}, "
                   f"{result.tokens_per_second:,.0f} tokens/s{best}; run in {result.run_dir}")
        if "cache" in result.extra:
            typer.echo(_cache_line(result.extra["cache"]))
    if result.stopped == "interrupted":
        if int(os.environ.get("RANK", "0")) == 0:
            import shlex

            typer.echo(f"interrupted at step {result.step}: continue with composer train --resume "
                       f"{shlex.quote(result.run_dir)}", err=True)
        sys.exit(130)


@app.command("fit-cache")
def fit_cache_command(
    checkpoint: Annotated[Path, typer.Argument(help="A .pt checkpoint.")],
    data: Annotated[Path, typer.Argument(help="The corpus folder it was trained on; its training pieces fit the cache.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Where to write the checkpoint with its cache.")],
    pieces: Annotated[int, typer.Option(help="Training pieces to fit on.")] = 200,
    window: Annotated[int, typer.Option(help="Past steps the cache keeps.")] = 512,
    force: Annotated[bool, typer.Option("--force", help="Replace OUT if it exists.")] = False,
) -> None:
    """Fit a checkpoint's neural cache (copying from earlier in the piece) — `composer train` does this for best.pt."""
    from composer.train.fit import fit_checkpoint_cache

    path, fit = fit_checkpoint_cache(checkpoint, data, out, n_pieces=pieces, window=window, force=force)
    typer.echo(_cache_line(fit))
    typer.echo(f"wrote {path}")


def _cache_line(fit) -> str:
    c = fit.config
    return (f"cache fit on {fit.n_pieces} training pieces: weight {c.weight}, sharpness {c.sharpness}, window "
            f"{c.window}; their NLL {fit.nll_without:.4f} → {fit.nll_with:.4f} nats/token")


@app.command("fit-probe")
def fit_probe_command(
    checkpoint: Annotated[Path, typer.Argument(help="A .pt checkpoint.")],
    data: Annotated[Path, typer.Argument(help="The corpus folder it was trained on; its training split names the types.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Where to write the checkpoint with its probe.")],
    drafts: Annotated[int, typer.Option(help="Drafts per piece asked for by type, by default.")] = 4,
    also: Annotated[bool, typer.Option("--also", help="Learn the types from the run's --also corpora too.")] = False,
    force: Annotated[bool, typer.Option("--force", help="Replace OUT if it exists.")] = False,
) -> None:
    """Fit the tune-type probe that picks, of several drafts, the one most like the asked type."""
    from composer.model.probe import ProbeConfig
    from composer.train.fit import fit_checkpoint_probe

    path, fit = fit_checkpoint_probe(checkpoint, data, out, config=ProbeConfig(drafts=drafts), also=also,
                                     force=force)
    held = f"{fit.val_accuracy:.3f} on {fit.n_val} held-out pieces" if fit.val_accuracy is not None else "no held-out pieces"
    typer.echo(f"probe fit on {sum(fit.counts.values())} training pieces "
               f"({', '.join(f'{t} {k}' for t, k in fit.counts.items())}): accuracy {fit.train_accuracy:.3f}, {held}")
    typer.echo(f"wrote {path}")


@app.command()
def export(
    checkpoint: Annotated[Path, typer.Argument(help="A .pt file written by `composer train` (e.g. RUN/best.pt).")],
    out: Annotated[Path, typer.Argument(help="Where to write the sampling-only copy.")],
    force: Annotated[bool, typer.Option("--force", help="Replace OUT if it exists.")] = False,
) -> None:
    """Write a sampling-only copy of a checkpoint (no optimizer state): what ships as checkpoints/default.pt."""
    from composer.train.checkpoint import export_checkpoint

    path = export_checkpoint(checkpoint, out, force=force)
    typer.echo(f"wrote {path} ({path.stat().st_size / 1e6:.1f} MB)")


@app.command()
def info(checkpoint: Annotated[Path, typer.Argument(help="A .pt file written by `composer train`.")]) -> None:
    """Print a checkpoint's configs, vocabulary, parameter count, progress and best validation loss."""
    import dataclasses

    from composer.train.checkpoint import load_checkpoint

    ck = load_checkpoint(checkpoint)
    params = sum(t.numel() for t in ck.model_state.values())
    typer.echo(f"checkpoint  {checkpoint} (composer {ck.composer_version})")
    typer.echo(f"tokenizer   {ck.tokenizer.name}, {ck.tokenizer.vocab_size} tokens")
    typer.echo(f"parameters  {params:,}")
    typer.echo(f"progress    step {ck.step}, epoch {ck.epoch} (+{ck.step_in_epoch} steps)")
    if ck.best_val_loss is not None:
        typer.echo(f"best val    loss {ck.best_val_loss:.4f} nats/token, perplexity {math.exp(ck.best_val_loss):.3f}, "
                   f"{ck.best_val_loss / math.log(2):.3f} bits/token")
    for label, config in (("model", ck.model_config), ("data", ck.data_config), ("train", ck.train_config),
                          ("cache", ck.cache_config), ("probe", ck.probe.config if ck.probe else None)):
        if config is None:
            continue
        typer.echo(f"{label:<11} " + ", ".join(f"{k}={v}" for k, v in dataclasses.asdict(config).items()))
    if ck.extra.get("data_dir"):
        typer.echo(f"trained on  {ck.extra['data_dir']}")


@app.command()
def baseline(
    data: Annotated[Path, typer.Argument(help="Corpus folder from `composer tokenize`.")],
    orders: Annotated[str, typer.Option(help="n-gram orders: a range 1-10 or a list 1,3,5.")] = "1-10",
    val_fraction: Annotated[float | None, typer.Option(help="Share of pieces held out (as in train).")] = None,
    split_seed: Annotated[int | None, typer.Option(help="Seed of the piece split (as in train).")] = None,
) -> None:
    """Kneser-Ney n-gram perplexity on the validation pieces, per order — the bar the LSTM must clear."""
    from composer.corpus.data import DataConfig, open_corpus
    from composer.errors import InputError
    from composer.evaluate.baseline import perplexity_by_order

    try:
        lo, _, hi = orders.partition("-")
        wanted = list(range(int(lo), int(hi) + 1)) if hi else [int(o) for o in orders.split(",")]
    except ValueError:
        raise InputError(f"--orders takes a range like 1-10 or a list like 1,3,5, not {orders!r}") from None
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


@app.command()
def studio(
    checkpoint: Annotated[Path | None, typer.Option("--checkpoint", "-c", help="Model (default: the shipped one).")] = None,
    port: Annotated[int, typer.Option("--port", help="Port to listen on.")] = 8765,
    host: Annotated[str, typer.Option("--host", help="Address to listen on (127.0.0.1: this machine only).")] = "127.0.0.1",
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder for the runs, shared with `composer compose`.")] = Path("compositions"),
    no_browser: Annotated[bool, typer.Option("--no-browser", help="Do not open the page in a browser.")] = False,
) -> None:
    """Compose in a local web page: pick a seed, listen to the variations, continue from the one you like."""
    from composer.studio.server import serve

    serve(checkpoint, host, port, open_browser=not no_browser, compositions=out)


def _int_pair(text: str | None, option: str) -> tuple[int, int] | None:
    """'−5,6' → (−5, 6); None stays None."""
    if text is None:
        return None
    try:
        low, high = (int(v) for v in text.split(","))
    except ValueError:
        from composer.errors import InputError

        raise InputError(f"{option} takes two integers LOW,HIGH, e.g. -5,6; got {text!r}") from None
    return low, high


# --- entry point ---------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> None:
    """Run the CLI, turning ComposerError into a short message and Ctrl-C into a clean exit."""
    args = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args
    if debug:
        args.remove("--debug")
    try:
        code = app(args=args, prog_name="composer", standalone_mode=False)
    except ComposerError as e:
        if debug:
            raise
        typer.secho(f"error: {e}", fg="red", err=True)
        sys.exit(1)
    except KeyboardInterrupt:
        code = 130
    except SystemExit:
        raise
    except Exception as e:  # click's usage errors and the like
        import click

        if isinstance(e, click.exceptions.ClickException):
            e.show()
            sys.exit(e.exit_code)
        if isinstance(e, click.exceptions.Abort):
            sys.exit(130)
        raise
    if code == 130:  # Ctrl-C: typer turns KeyboardInterrupt into a returned 130 (standalone_mode=False)
        again = ("continue the run with composer train --resume RUN_DIR" if args[:1] == ["train"]
                 else "run the same command again to resume")
        typer.secho(f"interrupted: partial work is saved; {again}.", err=True)
        sys.exit(130)
    if code:
        sys.exit(code)
