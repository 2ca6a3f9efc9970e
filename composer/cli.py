"""The `composer` command: a thin typer front over the stages; every command calls one library function.

Errors from composer print as one or two lines naming the file and the fix (exit 1); pass --debug
for the traceback. Ctrl-C exits with 130 and leaves resumable state behind.
"""

from __future__ import annotations

import sys

import typer

from composer.errors import ComposerError

app = typer.Typer(add_completion=False, no_args_is_help=True, help="Compose music with an LSTM.")


# --- commands: each one parses options and calls one function of the library -------------------


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
