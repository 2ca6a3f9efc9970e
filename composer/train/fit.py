"""Fit what rides on a trained network — its neural cache and its type probe — and save a checkpoint with it.

These workflows load a checkpoint, fit on its corpus's training split and write a checkpoint: they live
here, above `model/`, so the parts they fit never import the checkpoint that stores them.
"""

from __future__ import annotations

from pathlib import Path

import torch

from composer.corpus.data import open_corpus, open_extra_corpora, split_corpora, training_pieces
from composer.errors import OutputError
from composer.model.cache import CacheFit, fit_on_corpus
from composer.model.cache import fit_record as cache_fit_record
from composer.model.probe import ProbeConfig, ProbeFit, fit_probe
from composer.model.probe import fit_record as probe_fit_record
from composer.train.checkpoint import build_model, check_tokenizer, load_checkpoint, update_checkpoint


def fit_checkpoint_cache(checkpoint: str | Path, data_dir: str | Path, out: str | Path, *, n_pieces: int = 200,
                         window: int = 512, seed: int = 0, device: str | torch.device = "cpu",
                         force: bool = False) -> tuple[Path, CacheFit]:
    """Fit a checkpoint's cache on training pieces of the corpus it was trained on; write the result to `out`."""
    if not force and Path(out).exists():  # before the fit, not after it
        raise OutputError("already exists; pass --force to replace it", out)
    ckpt = load_checkpoint(checkpoint, map_location=device)
    corpus = open_corpus(data_dir)
    check_tokenizer(ckpt, corpus.tokenizer, data_dir)
    train_ids, _ = corpus.split(ckpt.data_config)
    fit = fit_on_corpus(build_model(ckpt, device), corpus, train_ids, window, n_pieces, seed, device)
    path = update_checkpoint(checkpoint, out, configs={"cache": fit.config}, extra={"cache_fit": cache_fit_record(fit)},
                             force=force)
    return path, fit


def fit_checkpoint_probe(checkpoint: str | Path, data_dir: str | Path, out: str | Path, *,
                         config: ProbeConfig = ProbeConfig(), also: bool = False,
                         device: str | torch.device = "cpu", force: bool = False) -> tuple[Path, ProbeFit]:
    """Fit a checkpoint's probe on the training split of `data_dir` (the held-out split is only scored),
    and write the checkpoint with it to `out`. `also` adds the run's also_train corpora: off by default,
    as collections name types differently (with Ryan's, the shipped probe named held-out O'Neill tunes
    right 0.936 of the time, against 0.979 on O'Neill's alone)."""
    if not force and Path(out).exists():  # before the fit, not after it
        raise OutputError("already exists; pass --force to replace it", out)
    ckpt = load_checkpoint(checkpoint, map_location=device)
    corpus = open_corpus(data_dir)
    check_tokenizer(ckpt, corpus.tokenizer, data_dir)
    others = open_extra_corpora(corpus, ckpt.data_config) if also else []
    train_ids, val_ids, extra = split_corpora(corpus, ckpt.data_config, others)
    model = build_model(ckpt, device)
    probe, fit = fit_probe(model, corpus.tokenizer, training_pieces(corpus, train_ids, extra), config,
                           val=corpus.pieces(val_ids))
    path = update_checkpoint(checkpoint, out, configs={"probe": probe.config}, parts={"probe": probe.state()},
                             extra={"probe_fit": probe_fit_record(fit)}, force=force)
    return path, fit
