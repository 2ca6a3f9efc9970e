"""The `composer` command: a thin typer front over the stages; every command calls one library function.

Errors from composer print as one or two lines naming the file and the fix (exit 1); pass --debug
for the traceback. Ctrl-C exits with 130 and leaves resumable state behind.
"""

from __future__ import annotations

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
    name: Annotated[str, typer.Argument(help="oneills (O'Neill's 1850, ABC), bach (371 chorales as MIDI) or seeds.")],
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Folder to fill (seeds: midi_corpus/seeds).")] = None,
    midi: Annotated[bool, typer.Option("--midi", help="oneills: also write each tune as MIDI into OUT-midi/.")] = False,
    force: Annotated[bool, typer.Option("--force", help="seeds: rewrite MIDI files that exist.")] = False,
) -> None:
    """Fill a folder from music21's shipped corpus; outputs already there are kept, so it resumes."""
    from composer.corpus_build import build

    report = build(name, out, midi=midi, force=force)
    typer.echo(report.summary())
    for src, reason in report.failed[:20]:
        typer.echo(f"  failed {src}: {reason}")


# --- entry point ---------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> None:
    """Run the CLI, turning ComposerError into a short message and Ctrl-C into a clean exit."""
    args = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args
    if debug:
        args.remove("--debug")
    try:
        app(args=args, prog_name="composer", standalone_mode=False)
    except ComposerError as e:
        if debug:
            raise
        typer.secho(f"error: {e}", fg="red", err=True)
        sys.exit(1)
    except KeyboardInterrupt:
        typer.secho("interrupted: partial work is saved; run the same command again to resume.", err=True)
        sys.exit(130)
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
