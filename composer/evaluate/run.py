"""What `composer evaluate` does: the likelihood table of a checkpoint, or generated vs reference music.

Generated music is a folder of .mid/.abc files or a checkpoint (which then composes the pieces, in the
reference's mix of tune types). Reference music is a folder of files or a tokenized corpus, of which the
held-out split is decoded. With a classifier, the checkpoint also composes pieces asked for as reels
and the report gives the share the classifier hears as reels.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from composer.corpus.data import DataConfig, open_corpus
from composer.errors import InputError, OutputError
from composer.evaluate.classifier import load_classifier, piece_key
from composer.evaluate.compare import compare_sets
from composer.evaluate.form import form_side_by_side, form_table, side_by_side_rows
from composer.evaluate.likelihood import LikelihoodConfig, LikelihoodReport, likelihood_table
from composer.evaluate.report import write_report
from composer.files import atomic_write_text, unique_path
from composer.generate.composer import Composer
from composer.io import load
from composer.score import Score
from composer.train.checkpoint import load_checkpoint

if TYPE_CHECKING:
    from composer.corpus.data import DataConfig

MUSIC_SUFFIXES = (".mid", ".midi", ".abc", ".musicxml", ".xml", ".mxl")
MAX_BATCH = 50


@dataclass(frozen=True)
class GenerateConfig:
    """How a checkpoint composes the generated set: count, length, temperature, batch size, asked type, and
    drafts per piece asked by type (None: the checkpoint's probe default; 1: no choosing)."""

    n: int = 100
    bars: int | None = None  # None: whole tunes from a model that writes repeats, else 16 bars
    temperature: float = 1.0
    batch: int = MAX_BATCH
    conditioned_type: str = "reel"
    drafts: int | None = None


def default_out(kind: str) -> Path:
    """runs/eval-<kind>-<date-time>, made unique."""
    return unique_path("runs", f"eval-{kind}-{time.strftime('%Y%m%d-%H%M%S')}", "")


def _check_out(out: Path, force: bool) -> None:
    if out.exists() and (not out.is_dir() or any(out.iterdir())) and not force:
        raise OutputError("already exists and is not empty; pass --force to write over it", out)


def evaluate_likelihood(checkpoint: str | Path, data: str | Path, out: str | Path | None = None,
                        config: LikelihoodConfig | None = None, force: bool = False) -> tuple[LikelihoodReport, Path]:
    """Likelihood table of `checkpoint` on the held-out split of `data`, written to OUT/report.json."""
    config = config or LikelihoodConfig()
    out = Path(out) if out is not None else default_out("likelihood")
    _check_out(out, force)
    report = likelihood_table(checkpoint, data, config.orders, config)
    atomic_write_text(out / "report.json", json.dumps(report.to_dict(), indent=2) + "\n")
    atomic_write_text(out / "table.txt", report.to_table() + "\n")
    return report, out


def is_corpus(path: Path) -> bool:
    """A tokenized corpus folder (has corpus.json)."""
    return path.is_dir() and (path / "corpus.json").is_file()


def load_music(path: str | Path) -> list[Score]:
    """Every piece of a music file, or of the music files in a folder (recursively), in name order."""
    path = Path(path)
    if path.is_file():
        return load(path)
    if not path.is_dir():
        raise InputError("no such file or folder", path)
    files = sorted(p for p in path.rglob("*") if p.suffix.lower() in MUSIC_SUFFIXES and p.is_file())
    if not files:
        raise InputError(f"no music files ({', '.join(MUSIC_SUFFIXES)}) in the folder", path)
    return [s for f in files for s in load(f)]


def corpus_val_scores(data: str | Path, split: DataConfig | None = None) -> list[Score]:
    """The held-out pieces of a tokenized corpus (split as `split` says, DataConfig's by default), decoded."""
    corpus = open_corpus(data)
    _, val = corpus.split(split or DataConfig())
    if len(val) == 0:
        raise InputError("the corpus has no held-out pieces", data)
    out = []
    for i in val:
        e = corpus.index[int(i)]
        score = corpus.tokenizer.decode(corpus.piece(int(i)).tolist())
        out.append(score.replace(title=e.get("title") or score.title, tune_type=e.get("tune_type"),
                                 metadata={**score.metadata, "piece_key": piece_key(e)}))
    return out


def type_plan(reference: list[Score], n: int, vocabulary: tuple[str, ...]) -> list[tuple[str | None, int]]:
    """How many pieces to ask for of each type: the reference's mix (None: let the model choose), or half
    reels and half jigs when the reference names no types."""
    counts = Counter(s.tune_type if s.tune_type in vocabulary else None for s in reference)
    if not counts or set(counts) == {None}:
        counts = Counter({"reel": 1, "jig": 1})
    total = sum(counts.values())
    shares = sorted(counts.items(), key=lambda kv: (-kv[1], str(kv[0])))
    plan = [(t, int(n * c // total)) for t, c in shares]
    for i in range(n - sum(k for _, k in plan)):  # hand out the rounding remainder, largest first
        plan[i % len(plan)] = (plan[i % len(plan)][0], plan[i % len(plan)][1] + 1)
    return [(t, k) for t, k in plan if k > 0]


def compose_set(composer: Any, plan: list[tuple[str | None, int]], config: GenerateConfig) -> list[Score]:
    """Compose the planned pieces in batches of at most config.batch; each Score keeps its asked type."""
    out: list[Score] = []
    for tune_type, k in plan:
        for s in range(0, k, config.batch):
            batch = composer.compose(n=min(config.batch, k - s), bars=config.bars, temperature=config.temperature,
                                     tune_type=tune_type, drafts=config.drafts)
            out += [score.replace(metadata={**score.metadata, "asked_type": tune_type}) for score in batch]
    return out


def evaluate_generated(generated: str | Path, reference: str | Path, out: str | Path | None = None,
                       classifier: str | Path | None = None, config: GenerateConfig = GenerateConfig(),
                       force: bool = False) -> dict[str, Any]:
    """Compare generated with reference music (MGEval), write the report folder, and return its summary."""
    generated, reference = Path(generated), Path(reference)
    out = Path(out) if out is not None else default_out("generated")
    _check_out(out, force)
    composer, ckpt = None, None
    if generated.is_file() and generated.suffix == ".pt":
        ckpt = load_checkpoint(generated)
        composer = Composer.load(generated, device="cpu")
    split = ckpt.data_config if ckpt is not None else None
    ref = corpus_val_scores(reference, split) if is_corpus(reference) else load_music(reference)
    start = time.monotonic()
    if composer is not None:
        vocab = tuple(getattr(composer.tokenizer.config, "tune_types", ()))
        gen = compose_set(composer, type_plan(ref, config.n, vocab), config)
    else:
        gen = load_music(generated)
    compose_seconds = time.monotonic() - start
    result = compare_sets(gen, ref)
    write_report(result, out, force=True)
    summary: dict[str, Any] = {
        "generated": str(generated), "reference": str(reference), "n_generated": len(gen), "n_reference": len(ref),
        "compose_seconds": round(compose_seconds, 1), "temperature": config.temperature if composer else None,
        "drafts": _drafts(composer, config),
        "mean_overlap": result.mean_overlap,
        "mean_overlap_generated": result.mean_overlap_generated,
        "pitch_in_scale_delta": result.row("pitch_in_scale_rate").difference,
        "asked_types": dict(Counter(str(s.metadata.get("asked_type")) for s in gen)) if composer else None,
        "form": form_side_by_side(gen, ref),
    }
    if classifier is not None:
        summary["classifier"] = _classifier_check(classifier, composer, gen, ref, config)
    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    atomic_write_text(out / "report.json", json.dumps({**report, "summary": _clean(summary)}, indent=2) + "\n")
    return {"result": result, "summary": summary, "out": out}


def _classifier_check(path: str | Path, composer: Any, gen: list[Score], ref: list[Score],
                      config: GenerateConfig) -> dict[str, Any]:
    """Classifier on the reference pieces it was not trained on (its accuracy), on the generated set (agreement with the asked type) and on
    `config.n` pieces asked for as `conditioned_type` (the share heard as that type)."""
    clf = load_classifier(path)
    out: dict[str, Any] = {"path": str(path), "classes": list(clf.classes)}
    labelled = [s for s in ref if s.tune_type in clf.classes and s.metadata.get("piece_key") not in clf.trained_on]
    if labelled:
        pred = clf.classify(labelled)
        out["reference_accuracy"] = sum(p == s.tune_type for p, s in zip(pred, labelled, strict=True)) / len(labelled)
        out["reference_labelled"] = len(labelled)
    asked = [s for s in gen if s.metadata.get("asked_type") in clf.classes]
    if asked:
        pred = clf.classify(asked)
        out["generated_agreement"] = sum(p == s.metadata["asked_type"] for p, s in zip(pred, asked, strict=True)) / len(asked)
        out["generated_asked"] = len(asked)
    if composer is not None and config.conditioned_type in clf.classes:
        pieces = compose_set(composer, [(config.conditioned_type, config.n)], config)
        pred = clf.classify(pieces)
        out["conditioned_type"] = config.conditioned_type
        out["conditioned_n"] = len(pieces)
        out["conditioned_share"] = pred.count(config.conditioned_type) / len(pieces)
        out["conditioned_predictions"] = dict(Counter(pred))
    return out


def _clean(value: Any) -> Any:
    """NaN → None, recursively, so the JSON stays standard."""
    if isinstance(value, float):
        return None if value != value else value
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    return value


def _drafts(composer: Any, config: GenerateConfig) -> int | None:
    """Drafts per typed piece the composer used: 1 without a probe, None for music read from files."""
    if composer is None:
        return None
    if composer.probe is None:
        return 1
    return config.drafts or composer.probe.config.drafts


def summary_lines(summary: dict[str, Any]) -> list[str]:
    """The headline figures of `evaluate_generated`, one per line."""
    lines = [f"{summary['n_generated']} generated vs {summary['n_reference']} reference pieces; mean overlap area "
             f"{summary['mean_overlap']:.3f} (reference intra vs inter), {summary['mean_overlap_generated']:.3f} "
             f"(generated intra vs inter); pitch-in-scale rate, generated − reference: {summary['pitch_in_scale_delta']:+.3f}"]
    if summary.get("drafts"):
        lines.append(f"temperature {summary['temperature']}; {summary['drafts']} draft(s) per piece asked for by type, "
                     f"the probe's likeliest kept")
    c = summary.get("classifier")
    if c:
        if "reference_accuracy" in c:
            lines.append(f"classifier accuracy on the {c['reference_labelled']} labelled reference pieces it never saw: "
                         f"{c['reference_accuracy']:.3f}")
        if "generated_agreement" in c:
            lines.append(f"generated pieces heard as the type they were asked for: {c['generated_agreement']:.3f} "
                         f"of {c['generated_asked']}")
        if "conditioned_share" in c:
            lines.append(f"pieces asked for as {c['conditioned_type']}: {c['conditioned_share']:.3f} of "
                         f"{c['conditioned_n']} heard as {c['conditioned_type']} ({c['conditioned_predictions']})")
    if summary.get("form"):
        lines += ["form (docs/evaluation.md#form):"] + form_table(side_by_side_rows(summary["form"]))
    return lines
