"""Commands around checkpoints: `train`, `fit-cache`, `fit-probe`, `export`, `info`.

Options left at None take their defaults from ModelConfig, DataConfig and TrainConfig; `--help` shows them.
"""

from __future__ import annotations

import math
import os
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from composer.cli.app import AT_LEAST_1, NON_NEGATIVE, POSITIVE, SEED, Range, app, check, int_pair
from composer.errors import InputError


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
    dropout: Annotated[float | None, typer.Option(help="Dropout between layers and before the head (0 ≤ p < 1).")] = None,
    seq_len: Annotated[int | None, typer.Option(help="Tokens per training window.")] = None,
    batch_size: Annotated[int | None, typer.Option(help="Windows per step (split over torchrun processes).")] = None,
    lr: Annotated[float | None, typer.Option(help="Peak learning rate (AdamW).")] = None,
    warmup_steps: Annotated[int | None, typer.Option(help="Steps of linear warm-up to the peak learning rate "
                                                     "(at most a tenth of the run's steps).")] = None,
    transpose: Annotated[str | None, typer.Option(help="Augmentation: semitone range LOW,HIGH (0,0: none).")] = None,
    max_minutes: Annotated[float | None, typer.Option(help="Stop cleanly (saving last.pt) after this long.")] = None,
    max_steps: Annotated[int | None, typer.Option(help="Stop cleanly after this many steps in all.")] = None,
    device: Annotated[str | None, typer.Option(help="auto (CUDA when present), cpu, cuda, cuda:1 …")] = None,
    log_every: Annotated[int | None, typer.Option(help="Steps between train-loss lines in metrics.jsonl.")] = None,
    checkpoint_every: Annotated[int | None, typer.Option(help="Steps between last.pt writes (also at each epoch end).")] = None,
    preview_every: Annotated[int | None, typer.Option(help="Epochs between preview MIDI files of the seed tunes (0: none).")] = None,
    seed: Annotated[int | None, typer.Option(help="Seed of the initial weights and the data order.")] = None,
    force: Annotated[bool, typer.Option("--force", help="Start afresh in an --out folder that holds a run.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
) -> None:
    """Train a model on a corpus folder; defaults come from ModelConfig, DataConfig and TrainConfig."""
    check(epochs=(epochs, AT_LEAST_1), layers=(layers, Range(1, 64)), hidden=(hidden, Range(1, 65536)),
          emb=(emb, Range(1, 65536)), dropout=(dropout, Range(0, 0.99)), seq_len=(seq_len, Range(2, 1 << 20)),
          batch_size=(batch_size, AT_LEAST_1), lr=(lr, Range(0, 10, above=True)), warmup_steps=(warmup_steps, NON_NEGATIVE),
          max_minutes=(max_minutes, POSITIVE), max_steps=(max_steps, AT_LEAST_1), log_every=(log_every, AT_LEAST_1),
          checkpoint_every=(checkpoint_every, AT_LEAST_1), preview_every=(preview_every, NON_NEGATIVE),
          seed=(seed, SEED))
    import dataclasses  # lazy: start-up

    from composer.corpus.data import DataConfig  # lazy: start-up
    from composer.train import run as training  # lazy: start-up (looked up at call time, so tests can patch it)

    model_opts = _given(cell=cell, layers=layers, hidden=hidden, emb=emb, dropout=dropout)
    data_opts = _given(seq_len=seq_len, batch_size=batch_size, transpose=int_pair(transpose, "--transpose"),
                       also_train=tuple(str(p) for p in also) if also else None)
    train_opts = _given(epochs=epochs, lr=lr, warmup_steps=warmup_steps, max_minutes=max_minutes, max_steps=max_steps,
                        device=device, seed=seed, log_every=log_every, checkpoint_every_steps=checkpoint_every,
                        preview_every_epochs=preview_every)
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
        if resume is None and result.best_val_loss is not None and result.stopped != "interrupted":
            _against_bigram(data, data_config, result.best_val_loss, result.step)
    if result.stopped == "interrupted":
        if int(os.environ.get("RANK", "0")) == 0:
            import shlex  # lazy: start-up

            typer.echo(f"interrupted at step {result.step}: continue with composer train --resume "
                       f"{shlex.quote(result.run_dir)}", err=True)
        sys.exit(130)


def _against_bigram(data: Path, data_config: Any, best_val_loss: float, steps: int) -> None:
    """Say whether the run beat a bigram on its own split: below it, the network has not learnt the music yet."""
    import warnings  # lazy: start-up

    from composer.corpus.data import load_data  # lazy: start-up
    from composer.evaluate.baseline import perplexity_by_order  # lazy: start-up

    loaded = load_data(data, data_config)
    train_pieces, val_pieces = loaded.split_sequences()
    bigram, ppl = perplexity_by_order(train_pieces, val_pieces, loaded.vocab_size, [2])[2], math.exp(best_val_loss)
    if ppl < bigram:
        typer.echo(f"validation perplexity {ppl:.2f} beats a bigram's {bigram:.2f} on the same split")
    else:
        warnings.warn(f"validation perplexity {ppl:.2f} after {steps} steps is no better than a bigram's {bigram:.2f} on "
                      "the same split: the network has not learnt the music yet; train longer (more --epochs, a smaller "
                      "--batch-size) as docs/training.md shows", stacklevel=2)


def _given(**options: Any) -> dict[str, Any]:
    """The options actually given (not None)."""
    return {k: v for k, v in options.items() if v is not None}


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
    check(pieces=(pieces, AT_LEAST_1), window=(window, Range(1, 1 << 16)))
    from composer.train.fit import fit_checkpoint_cache  # lazy: start-up

    path, fit = fit_checkpoint_cache(checkpoint, data, out, n_pieces=pieces, window=window, force=force)
    typer.echo(_cache_line(fit))
    typer.echo(f"wrote {path}")


def _cache_line(fit: Any) -> str:
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
    check(drafts=(drafts, Range(1, 64)))
    from composer.model.probe import ProbeConfig  # lazy: start-up
    from composer.train.fit import fit_checkpoint_probe  # lazy: start-up

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
    from composer.train.checkpoint import export_checkpoint  # lazy: start-up

    path = export_checkpoint(checkpoint, out, force=force)
    typer.echo(f"wrote {path} ({path.stat().st_size / 1e6:.1f} MB)")


@app.command()
def info(checkpoint: Annotated[Path, typer.Argument(help="A .pt file written by `composer train`.")]) -> None:
    """Print a checkpoint's configs, vocabulary, parameter count, progress and best validation loss."""
    import dataclasses  # lazy: start-up

    from composer.train.checkpoint import load_checkpoint  # lazy: start-up

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
