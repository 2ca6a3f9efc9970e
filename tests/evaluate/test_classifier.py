"""Tune-type classifier: learns 6/8 from 4/4 bodies, round-trips through its file, and drives `evaluate --generated`."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from composer.errors import CheckpointError, InputError, OutputError
from composer.evaluate.classifier import ClassifierConfig, body, load_classifier, train_classifier
from composer.evaluate.run import evaluate_generated, summary_lines, type_plan
from composer.tokenize import Tokenizer
from tests.corpus_helpers import write_corpus
from tests.evaluate.test_likelihood import save_tiny, tune

FAST = ClassifierConfig(emb=16, hidden=32, min_pieces=10, epochs=6, batch_size=16, lr=1e-2, val_fraction=0.25)
SCALE = [62, 64, 66, 67, 69, 71, 73, 74]


def typed_corpus(root: Path, n_each: int = 24, extra: dict[str | None, int] | None = None) -> Path:
    """Jigs (6/8 bars of eighths) and reels (4/4 bars of eighths) of random D-major pitches, 2–4 bars each."""
    tok = Tokenizer.create("metric")
    rng = np.random.default_rng(0)
    pieces, types = [], []
    kinds = [("jig", (6, 8), 6), ("reel", (4, 4), 8)] * n_each + [(t, (4, 4), 8) for t, k in (extra or {}).items()
                                                                    for _ in range(k)]
    for name, meter, per_bar in kinds:
        n = per_bar * int(rng.integers(2, 5))
        pieces.append(np.array(tok.encode(tune([SCALE[i] for i in rng.integers(0, 8, size=n)], meter, 240, name))))
        types.append(name)
    write_corpus(root, tok, pieces)
    index = [json.loads(line) for line in (root / "index.jsonl").read_text().splitlines()]
    lines = [json.dumps({**e, "tune_type": t}) for e, t in zip(index, types, strict=True)]
    (root / "index.jsonl").write_text("\n".join(lines) + "\n")
    return root


def test_body_drops_header_and_eos() -> None:
    assert body([1, 10, 11, 12, 13, 20, 21, 2], 10).tolist() == [20, 21]
    assert body([1, 10, 11, 12, 13, 20, 21, 22, 2], 2).tolist() == [20, 21]
    assert body([1, 10, 11, 12, 13, 2], 10).tolist() == [2]


def test_learns_jigs_from_reels_and_round_trips(tmp_path: Path) -> None:
    data = typed_corpus(tmp_path / "corpus", extra={"air": 3, None: 5})  # too few airs, no type: both left out
    report = train_classifier(data, tmp_path / "clf.pt", FAST)
    assert report.classes == ("jig", "reel")
    assert report.n_train + report.n_val == 48 and report.n_val == 12
    assert report.accuracy >= 0.95 and report.train_accuracy >= 0.95
    assert sum(map(sum, report.confusion)) == 12
    assert "held-out accuracy" in report.to_table()
    clf = load_classifier(tmp_path / "clf.pt")
    assert len(clf.trained_on) == report.n_train == 36  # kept out of later accuracy checks
    jigs = [tune([62, 66, 69] * 4, (6, 8), 240), tune([74, 73, 71, 69, 67, 66] * 3, (6, 8), 240)]
    reels = [tune([62, 66, 69, 74] * 4, (4, 4), 240), tune([74, 73, 71, 69, 67, 66, 64, 62] * 2, (4, 4), 240)]
    assert clf.classify(jigs + reels) == ["jig", "jig", "reel", "reel"]
    with pytest.raises(OutputError):
        train_classifier(data, tmp_path / "clf.pt", FAST)


def test_refusals(tmp_path: Path) -> None:
    data = typed_corpus(tmp_path / "corpus", n_each=4)
    with pytest.raises(InputError, match="two or more tune types"):
        train_classifier(data, tmp_path / "clf.pt", FAST)
    bad = tmp_path / "bad.pt"
    torch.save({"format": "something else"}, bad)
    with pytest.raises(CheckpointError, match="not a tune-type classifier"):
        load_classifier(bad)
    with pytest.raises(CheckpointError, match="no such"):
        load_classifier(tmp_path / "missing.pt")


def test_type_plan_follows_the_reference_mix() -> None:
    ref = [tune([62], tune_type=t) for t in ["reel"] * 6 + ["jig"] * 3 + [None]]
    assert type_plan(ref, 10, ("reel", "jig")) == [("reel", 6), ("jig", 3), (None, 1)]
    assert type_plan([tune([62], tune_type=None)], 5, ("reel", "jig")) == [("jig", 3), ("reel", 2)]


def test_evaluate_generated_from_a_checkpoint(tmp_path: Path) -> None:
    data = typed_corpus(tmp_path / "corpus", n_each=12)
    train_classifier(data, tmp_path / "clf.pt", FAST)
    ckpt = save_tiny(tmp_path / "m.pt", Tokenizer.create("metric"))
    from composer.evaluate.run import GenerateConfig

    done = evaluate_generated(ckpt, data, tmp_path / "eval", tmp_path / "clf.pt", GenerateConfig(n=4, bars=2))
    report = json.loads((tmp_path / "eval" / "report.json").read_text())
    s = report["summary"]
    assert s["n_generated"] == 4 and s["n_reference"] == 6  # val_fraction 0.25 of 24 pieces
    assert sum(s["asked_types"].values()) == 4 and set(s["asked_types"]) <= {"jig", "reel"}  # the val split's mix
    assert 0.0 <= s["mean_overlap"] <= 1.0 and isinstance(s["pitch_in_scale_delta"], float)
    c = s["classifier"]
    assert c["conditioned_n"] == 4 and 0.0 <= c["conditioned_share"] <= 1.0
    assert c["reference_labelled"] == 6 and c["reference_accuracy"] >= 0.8
    assert (tmp_path / "eval" / "report.html").is_file() and report["features"]
    assert any("heard as reel" in line for line in summary_lines(done["summary"]))


def test_trains_on_several_corpora_keeping_copies_on_one_side(tmp_path: Path) -> None:
    import dataclasses

    a, b = typed_corpus(tmp_path / "a"), typed_corpus(tmp_path / "b")  # the same 48 tunes twice
    config = dataclasses.replace(FAST, transpose=(-2, 2))
    report = train_classifier([a, b], tmp_path / "clf.pt", config)
    assert report.n_train + report.n_val == 96 and report.n_val == 24
    assert report.accuracy >= 0.95
    clf = load_classifier(tmp_path / "clf.pt")
    assert clf.config.transpose == (-2, 2) and len(clf.trained_on) == 36  # a tune and its copy: one key


def test_transposed_bodies_move_every_pitch_by_one_shift() -> None:
    from composer.evaluate.classifier import _moved, _transposer

    tok = Tokenizer.create("metric")
    ids = body(tok.encode(tune([62, 66, 69, 74] * 4, (4, 4), 240)), 768)
    tables = _transposer(tok, dataclasses_replace(FAST, transpose=(-3, 3)))
    assert len(tables) == 7 and (tables[0] == np.arange(tok.vocab_size)).all()
    pitch = tok.table.kind_array() == "PITCH"
    shifts = set()
    for seed in range(20):
        (moved,) = _moved([ids], tables, np.random.default_rng(seed))
        assert (moved[~pitch[ids]] == ids[~pitch[ids]]).all()  # rhythm untouched
        k = {int(m) - int(i) for m, i in zip(moved[pitch[ids]], ids[pitch[ids]], strict=True)}
        assert len(k) == 1  # one shift for the whole tune (pitch ids are consecutive)
        shifts |= k
    assert len(shifts) >= 4 and shifts <= set(range(-3, 4))


def dataclasses_replace(config: ClassifierConfig, **changes: object) -> ClassifierConfig:
    import dataclasses

    return dataclasses.replace(config, **changes)
