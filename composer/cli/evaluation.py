"""Commands that judge music and models: `evaluate`, `classify train`, `classify predict`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from composer.cli.app import AT_LEAST_1, POSITIVE, Range, app, check, classify_app, int_pair
from composer.errors import InputError


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
    check(n=(n, Range(1, 100_000)), temperature=(temperature, POSITIVE), drafts=(drafts, Range(1, 64)))
    from composer.evaluate import run  # lazy: start-up

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
    check(epochs=(epochs, AT_LEAST_1), hidden=(hidden, Range(1, 65536)))
    import dataclasses  # lazy: start-up

    from composer.evaluate.classifier import ClassifierConfig, train_classifier  # lazy: start-up

    given = {k: v for k, v in {"epochs": epochs, "hidden": hidden,
                                "transpose": int_pair(transpose, "--transpose")}.items() if v is not None}
    report = train_classifier(data, out, dataclasses.replace(ClassifierConfig(), **given), force=force)
    typer.echo(report.to_table())
    typer.echo(f"wrote {out}")


@classify_app.command("predict")
def classify_predict(
    files: Annotated[list[Path], typer.Argument(help="Music files or folders (.mid/.abc/.musicxml).")],
    classifier: Annotated[Path, typer.Option("--classifier", "-c", help="Classifier file from `classify train`.")],
) -> None:
    """Print the tune type the classifier hears in each piece."""
    from composer.evaluate.classifier import load_classifier  # lazy: start-up
    from composer.evaluate.run import load_music  # lazy: start-up

    clf = load_classifier(classifier)
    for path in files:
        scores = load_music(path)
        for score, label in zip(scores, clf.classify(scores), strict=True):
            typer.echo(f"{label:<10} {path} {score.title or ''}")
