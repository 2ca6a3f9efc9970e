"""The `composer` command: a thin typer front over the stages; every command calls one library function.

No traceback without --debug: a usage mistake prints typer's usage line and one error line (exit 2); a
bad value, a composer error or an unwritable file prints one `error: …` line (exit 1); warnings print
once each as `warning: …`. Ctrl-C exits with 130 and leaves resumable state behind.
Commands live one group per module (music, corpus, training, evaluation); this module holds `main`.
"""

from __future__ import annotations

import dataclasses
import sys
import warnings
from typing import Any

import typer
import typer.main

from composer.cli import corpus, evaluation, music, training  # noqa: F401  (each registers its commands)
from composer.cli.app import app
from composer.errors import ComposerError

__all__ = ["app", "main"]

# Options whose default lives in a config, under another name there.
_CONFIG_NAMES = {"checkpoint_every": "checkpoint_every_steps", "preview_every": "preview_every_epochs"}


def main(argv: list[str] | None = None) -> None:
    """Run the CLI, turning every error into a short message (the traceback only with --debug)."""
    args = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args
    args = [a for a in args if a != "--debug"]
    with warnings.catch_warnings():
        warnings.showwarning = _warning_printer()
        try:
            code = _command(args)(args=args, prog_name="composer", standalone_mode=False)
        except KeyboardInterrupt:
            code = 130
        except SystemExit:
            raise
        except Exception as e:
            if debug:
                raise
            sys.exit(_report(e))
    if code == 130:  # Ctrl-C: typer turns KeyboardInterrupt into a returned 130 (standalone_mode=False)
        again = ("continue the run with composer train --resume RUN_DIR" if args[:1] == ["train"]
                 else "run the same command again to resume")
        typer.secho(f"interrupted: partial work is saved; {again}.", err=True)
        sys.exit(130)
    if code:
        sys.exit(code)


def _report(e: Exception) -> int:
    """Print `e` as one or two lines on stderr and return the exit code."""
    usage_errors, aborts = _typer_errors()
    if isinstance(e, aborts):
        return 130
    if isinstance(e, usage_errors):
        ctx = getattr(e, "ctx", None)
        if type(e).__name__ == "NoArgsIsHelpError":  # a bare group: its help
            typer.echo(e.format_message(), err=True)
        else:
            hint = f" (see {ctx.command_path} --help)" if ctx is not None else ""
            if ctx is not None:
                typer.echo(ctx.get_usage(), err=True)
            typer.secho(f"error: {e.format_message()}{hint}", fg="red", err=True)
        return int(getattr(e, "exit_code", 2))
    if isinstance(e, ComposerError):
        message = str(e)
    elif isinstance(e, OSError):
        message = f"{e.filename}: {e.strerror}" if e.filename and e.strerror else str(e)
    else:
        message = f"unexpected {type(e).__name__}: {e} (a bug; rerun with --debug for the traceback)"
    typer.secho(f"error: {message}", fg="red", err=True)
    return 1


def _typer_errors() -> tuple[tuple[type, ...], tuple[type, ...]]:
    """typer's usage-error and abort classes: its own (typer ≥ 0.2x carries click inside) or click's."""
    if hasattr(typer, "TyperException"):
        return (typer.TyperException,), (typer.Abort,)
    import click  # lazy: start-up (older typer depends on click)

    return (click.exceptions.ClickException,), (click.exceptions.Abort,)


def _warning_printer() -> Any:
    """A warnings.showwarning that prints each message once, as `warning: …`, without source paths."""
    seen: set[str] = set()

    def show(message: Warning | str, category: type, filename: str, lineno: int, file: Any = None,
             line: str | None = None) -> None:
        text = str(message).strip()
        if text not in seen:
            seen.add(text)
            typer.secho(f"warning: {text}", fg="yellow", err=True)

    return show


def _command(args: list[str]) -> Any:
    """The click command behind `app`; asked for --help, options defaulting to None show their config's default."""
    command = typer.main.get_command(app)
    if "--help" not in args:
        return command
    target, path = command, []
    for word in (a for a in args if not a.startswith("-")):
        sub = getattr(target, "commands", {}).get(word)
        if sub is None:
            break
        target, path = sub, path + [word]
    defaults = _config_defaults(" ".join(path))
    for param in getattr(target, "params", []):
        value = defaults.get(_CONFIG_NAMES.get(param.name, param.name))
        if param.default is None and value is not None:
            param.show_default = ",".join(map(str, value)) if isinstance(value, tuple) else str(value)
    return command


def _config_defaults(command: str) -> dict[str, Any]:
    """Field defaults of the configs that a command's None-default options fall back on."""
    configs: list[type] = []
    if command in ("train", "baseline"):
        from composer.corpus.data import DataConfig  # lazy: start-up

        configs.append(DataConfig)
    if command == "train":
        from composer.model.network import ModelConfig  # lazy: start-up
        from composer.train.config import TrainConfig  # lazy: start-up

        configs += [ModelConfig, TrainConfig]
    if command == "classify train":
        from composer.evaluate.classifier import ClassifierConfig  # lazy: start-up

        configs.append(ClassifierConfig)
    return {f.name: f.default for config in configs for f in dataclasses.fields(config)
            if f.default is not dataclasses.MISSING}
