"""Commands that make and render music: `compose`, `render` and `studio`."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from composer.cli.app import AT_LEAST_1, MAX_BARS, MAX_VARIATIONS, POSITIVE, SEED, SHARE, Range, app, check
from composer.errors import OutputError


@app.command()
def compose(
    seed: Annotated[Path | None, typer.Argument(help="Seed tune (.abc/.mid/.musicxml); default: a bundled jig.")] = None,
    n: Annotated[int, typer.Option("--n", "-n", help=f"Variations, sampled together as one batch (1…{MAX_VARIATIONS}).")] = 4,
    bars: Annotated[int | None, typer.Option("--bars", help=f"New bars to write after the seed (1…{MAX_BARS}).",
                                             show_default="a whole tune in its form; 16 with a model that writes no repeats")] = None,
    form: Annotated[str | None, typer.Option("--form", help="AABB, ABAB, AABBCC … in 8-bar parts.", show_default="off")] = None,
    parts: Annotated[int | None, typer.Option("--parts", help="Parts, each played twice (2: AABB; 1…6).", show_default="off")] = None,
    temperature: Annotated[float, typer.Option("--temperature", help="Above 0; below 1: safer; above 1: wilder.")] = 0.9,
    top_k: Annotated[int | None, typer.Option("--top-k", help="Sample among the k likeliest tokens (k ≥ 1).",
                                                        show_default="off")] = None,
    top_p: Annotated[float | None, typer.Option("--top-p", help="Sample within the top-p probability mass (0 < p ≤ 1).",
                                                            show_default="off")] = None,
    tune_type: Annotated[str | None, typer.Option("--type", help="reel, jig, hornpipe, slip jig, polka, …")] = None,
    key: Annotated[str | None, typer.Option("--key", help="D, Dmaj, E minor, Ador, G mixolydian … (a bare tonic keeps a seed's mode)")] = None,
    meter: Annotated[str | None, typer.Option("--meter", help="6/8, 4/4, 9/8 … (only without a seed).")] = None,
    no_seed: Annotated[bool, typer.Option("--no-seed", help="Compose from the style labels alone.")] = False,
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder for the results (a new subfolder per run).")] = Path("compositions"),
    wav: Annotated[bool, typer.Option("--wav/--no-wav", help="Render audio (fluidsynth).")] = True,
    png: Annotated[bool, typer.Option("--png/--no-png", help="Draw piano rolls.")] = True,
    html: Annotated[bool, typer.Option("--html/--no-html", help="Write a listening page.")] = True,
    checkpoint: Annotated[Path | None, typer.Option("--checkpoint", "-c", help="Model.",
                                                      show_default="checkpoints/default.pt, the shipped one")] = None,
    rng_seed: Annotated[int | None, typer.Option("--rng-seed", help="Same seed, same music (0 … 2⁶³−1).")] = None,
    continuation_only: Annotated[bool, typer.Option("--continuation-only", help="Leave the seed out of the output.")] = False,
    drafts: Annotated[int | None, typer.Option("--drafts", help="With --type: drafts per variation, the likeliest of "
                                               "that type kept (default: the checkpoint's, 4; 1: off).")] = None,
    track: Annotated[int | None, typer.Option("--track", help="Track N of a MIDI seed to continue (default: the "
                                              "melody: monophonic, highest).", show_default="the melody")] = None,
) -> None:
    """Compose new music from a seed tune (or from a tune type/key/meter alone) and write it to listen to."""
    check(n=(n, Range(1, MAX_VARIATIONS)), bars=(bars, Range(1, MAX_BARS)), parts=(parts, Range(1, 6)), temperature=(temperature, POSITIVE),
          top_k=(top_k, AT_LEAST_1), top_p=(top_p, SHARE), drafts=(drafts, Range(1, 64)), rng_seed=(rng_seed, SEED))
    writable_folder(out, "--out")
    from composer.generate.composer import Composer  # lazy: start-up
    from composer.render import folder  # lazy: start-up (and looked up at call time, so tests can patch it)

    chosen = None if no_seed else (seed or (folder.DEFAULT_SEED if tune_type is None and meter is None and key is None else None))
    result = folder.compose_to_folder(
        Composer.load(checkpoint), out, seed=chosen, wav=wav, png=png, html=html, n=n, bars=bars,
        temperature=temperature, top_k=top_k, top_p=top_p, tune_type=tune_type, key=key, meter=meter,
        rng_seed=rng_seed, include_seed=not continuation_only, drafts=drafts, form=form, parts=parts, track=track)
    typer.echo(f"wrote {len(result.pieces)} variation(s) into {result.folder}/")
    for piece in result.pieces:
        files = [p for p in (piece.midi, piece.abc, piece.wav, piece.png) if p]
        typer.echo("  " + "  ".join(str(f) for f in files))
    if result.page:
        typer.echo(f"listen: open {result.page}")


def writable_folder(path: Path, option: str) -> None:
    """Make sure `path` is (or can become) a folder this process may write into, before any work is done."""
    try:
        if path.exists() and not path.is_dir():
            raise OutputError(f"{option} names a file; give a folder", path)
        path.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise OutputError(f"{option} cannot be created: {e.strerror or e}", path) from None
    if not os.access(path, os.W_OK | os.X_OK):
        raise OutputError(f"{option} is not writable", path)


@app.command("render")
def render_command(
    file: Annotated[Path, typer.Argument(help="A .mid/.abc/.musicxml file (every tune of an ABC file).")],
    mid: Annotated[bool, typer.Option("--mid", help="Write MIDI (for ABC or MusicXML input).")] = False,
    wav: Annotated[bool, typer.Option("--wav", help="Write audio (fluidsynth; sine waves without it).")] = False,
    png: Annotated[bool, typer.Option("--png", help="Draw a piano roll.")] = False,
    musicxml: Annotated[bool, typer.Option("--musicxml", help="Write MusicXML (opens in MuseScore).")] = False,
    program: Annotated[int | None, typer.Option(help="General MIDI program for every instrument (0-127).",
                                                          show_default="the file's; piano for ABC")] = None,
    qpm: Annotated[float | None, typer.Option(help="Tempo in quarter notes per minute, 10-1000.",
                                                        show_default="the file's")] = None,
    force: Annotated[bool, typer.Option("--force", help="Overwrite files already there.")] = False,
) -> None:
    """Render an existing file beside it as .wav and .png (by default), .mid or .musicxml."""
    check(program=(program, Range(0, 127)), qpm=(qpm, Range(10, 1000)))
    from composer.render import render_file  # lazy: start-up

    chosen = [s for s, on in ((".mid", mid), (".wav", wav), (".png", png), (".musicxml", musicxml)) if on]
    for path in render_file(file, chosen or [".wav", ".png"], program=program, qpm=qpm, force=force):
        typer.echo(f"wrote {path}")


@app.command()
def studio(
    checkpoint: Annotated[Path | None, typer.Option("--checkpoint", "-c", help="Model.",
                                                      show_default="checkpoints/default.pt, the shipped one")] = None,
    port: Annotated[int, typer.Option("--port", help="Port to listen on (1…65535).")] = 8765,
    host: Annotated[str, typer.Option("--host", help="Address to listen on (127.0.0.1: this machine only).")] = "127.0.0.1",
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder for the runs, shared with `composer compose`.")] = Path("compositions"),
    no_browser: Annotated[bool, typer.Option("--no-browser", help="Do not open the page in a browser.")] = False,
) -> None:
    """Compose in a local web page: pick a seed, listen to the variations, continue from the one you like."""
    check(port=(port, Range(1, 65535)))
    from composer.studio.server import serve  # lazy: start-up

    serve(checkpoint, host, port, open_browser=not no_browser, compositions=out)
