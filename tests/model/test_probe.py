"""The type probe: it never reads the header's label, names real tunes' types, and picks the best draft."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from composer.cli import main
from composer.errors import InputError, OutputError
from composer.generate.composer import DEFAULT_CHECKPOINT, Composer
from composer.model.probe import ProbeConfig, TypeProbe, best_drafts, features, fit_probe
from composer.train.checkpoint import export_checkpoint, load_checkpoint, save_checkpoint
from composer.train.fit import fit_checkpoint_probe

TYPES = ("hornpipe", "jig", "reel")


@pytest.fixture(scope="module")
def default() -> Composer:
    return Composer.load(device="cpu")


@pytest.fixture(scope="module")
def typed(default: Composer, oneills_scores) -> list[np.ndarray]:
    """O'Neill's reels, jigs and hornpipes as metric ids, in the corpus order."""
    return [np.array(default.tokenizer.encode(s)) for s in oneills_scores if s.tune_type in TYPES]


def test_best_drafts_takes_the_top_row_of_each_block() -> None:
    scores = torch.tensor([0.1, 0.9, 0.3, -1.0, -0.5, -2.0])
    assert best_drafts(scores, 3) == [1, 4]
    assert best_drafts(scores, 1) == [0, 1, 2, 3, 4, 5]


def test_the_probe_never_reads_the_type_the_header_names(default: Composer, typed) -> None:
    table = default.tokenizer.table
    tune = typed[0]
    relabelled = tune.copy()
    slot = np.flatnonzero(table.kind_array()[tune] == "TYPE")[0]
    relabelled[slot] = table.id("TYPE", "slide" if table.values[tune[slot]] != "slide" else "jig")
    a, b = features(default.model, default.tokenizer, [tune, relabelled])
    assert torch.equal(a, b)


def test_a_probe_fit_on_real_tunes_names_the_types_of_tunes_it_has_not_seen(default: Composer, typed) -> None:
    rng = np.random.default_rng(0)
    order = rng.permutation(len(typed))
    train, test = [typed[i] for i in order[:240]], [typed[i] for i in order[240:320]]
    probe, fit = fit_probe(default.model, default.tokenizer, train, ProbeConfig(), val=test)
    assert probe.config.types == TYPES and sum(fit.counts.values()) == 240
    assert fit.val_accuracy is not None and fit.n_val == 80
    assert fit.val_accuracy >= 0.85, fit  # chance ≈ 0.4; the shipped probe names held-out tunes at 0.98
    with pytest.raises(InputError, match="two tune types"):
        fit_probe(default.model, default.tokenizer, train[:20], ProbeConfig())


def _probe(default: Composer) -> TypeProbe:
    """A fixed probe that prefers pieces whose mean state points along the first hidden unit."""
    hidden = default.model.config.hidden
    weight = torch.zeros(len(TYPES), hidden)
    weight[2, 0] = 5.0
    return TypeProbe(ProbeConfig(types=TYPES, drafts=3), weight, torch.zeros(len(TYPES)))


def test_asked_for_a_type_the_composer_keeps_the_draft_the_probe_finds_likeliest(default: Composer) -> None:
    judged = Composer(default.model, default.tokenizer, "cpu", default.cache, _probe(default))
    header = judged.seed(None, key="D", tune_type="reel", meter="4/4").ids
    args = dict(bars=2, tune_type="reel", key="D", meter="4/4", rng_seed=7, seeded=False)
    every = judged.compose_ids(header, n=6, drafts=1, **args)  # the same six drafts, none chosen
    kept = judged.compose_ids(header, n=2, **args)  # the probe's default: 3 drafts each
    likely = judged.probe.log_probs(judged.model, judged.tokenizer, every)[:, TYPES.index("reel")]
    assert kept == [every[i] for i in best_drafts(likely, 3)]
    assert len(set(map(tuple, every))) == 6 and len(kept) == 2
    untyped = judged.compose_ids(header, n=2, **{**args, "tune_type": "waltz"})  # a type it does not know
    assert len(untyped) == 2
    with pytest.raises(InputError, match="drafts"):
        judged.compose_ids(header, n=2, drafts=0, **args)


def test_a_checkpoint_keeps_its_probe_through_export_and_is_not_overwritten(tmp_path: Path, default: Composer,
                                                                            oneills_paths) -> None:
    from composer.corpus import tokenize_corpus

    folder = tmp_path / "abc"
    folder.mkdir()
    for p in oneills_paths:
        if p.name in ("0721-0730.abc", "1116-1135_mh.abc"):  # 10 jigs, 20 slip jigs
            shutil.copy(p, folder / p.name)
    data = tmp_path / "metric"
    tokenize_corpus([folder], default.tokenizer, data, workers=1, progress=False)
    src = load_checkpoint(DEFAULT_CHECKPOINT)
    bare = save_checkpoint(tmp_path / "bare.pt", model=default.model, model_config=src.model_config,
                           train_config=src.train_config, data_config=src.data_config, tokenizer=src.tokenizer)
    assert load_checkpoint(bare).probe is None  # never fit: none, as in checkpoints older than the probe
    out, fit = fit_checkpoint_probe(bare, data, tmp_path / "probed.pt", config=ProbeConfig(drafts=2, min_pieces=5))
    probe = load_checkpoint(out).probe
    assert probe is not None and probe.config.drafts == 2 and set(probe.config.types) == set(fit.counts)
    assert load_checkpoint(out).extra["probe_fit"]["counts"] == fit.counts
    shipped = load_checkpoint(export_checkpoint(out, tmp_path / "shipped.pt")).probe
    assert shipped is not None and torch.equal(shipped.weight, probe.weight)
    with pytest.raises(OutputError, match="already exists"):
        fit_checkpoint_probe(bare, data, out)

    def cli(*args: str) -> int:
        try:
            main(["fit-probe", str(bare), str(data), *args])
        except SystemExit as e:
            return int(e.code or 0)
        return 0

    assert cli("--out", str(out)) != 0  # not overwritten unasked
    assert cli("--out", str(tmp_path / "new.pt")) != 0 and not (tmp_path / "new.pt").exists()  # < 30 per type
