"""Held-out likelihood: per-type NLLs add up, padding changes nothing, a memorised corpus gives ≈1 perplexity."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from composer.cli import app
from composer.corpus.data import DataConfig
from composer.errors import CheckpointError
from composer.evaluate.likelihood import LSTM, likelihood_table, token_groups, token_nll
from composer.model.network import Model, ModelConfig
from composer.score import KeySignature, Note, Score, TempoChange, TimeSignature
from composer.tokenize import Tokenizer
from composer.train.checkpoint import save_checkpoint
from composer.train.config import TrainConfig
from tests.corpus_helpers import small_tokenizer, synthetic_pieces, write_corpus

TPQ = 480


def tune(pitches: list[int], meter: tuple[int, int] = (4, 4), step: int = TPQ // 2, tune_type: str = "reel") -> Score:
    """A melody of equal notes `step` ticks apart, in D major at 120 qpm."""
    notes = [Note(p, i * step, step) for i, p in enumerate(pitches)]
    return Score(notes=tuple(notes), tpq=TPQ, tempos=(TempoChange(0, 120.0),),
                 time_signatures=(TimeSignature(0, *meter),), key_signatures=(KeySignature(0, 2, "major"),),
                 tune_type=tune_type)


def metric_pieces(n: int, seed: int = 0) -> tuple[Tokenizer, list[np.ndarray]]:
    tok = Tokenizer.create("metric")
    rng = np.random.default_rng(seed)
    scale = [62, 64, 66, 67, 69, 71, 73, 74]
    pieces = [np.array(tok.encode(tune([scale[i] for i in rng.integers(0, 8, size=int(rng.integers(8, 40)))])))
              for _ in range(n)]
    return tok, pieces


def save_tiny(path: Path, tok: Tokenizer, model: Model | None = None, seed: int = 0) -> Path:
    torch.manual_seed(seed)
    config = ModelConfig(vocab_size=tok.vocab_size, layers=1, emb=16, hidden=32, dropout=0.0)
    model = model or Model(config)
    return save_checkpoint(path, model=model, model_config=model.config if hasattr(model, "config") else config,
                           train_config=TrainConfig(), data_config=DataConfig(val_fraction=0.25), tokenizer=tok)


def test_token_nll_matches_piece_by_piece_and_ignores_padding() -> None:
    tok = small_tokenizer()
    pieces = synthetic_pieces(tok, 7)
    torch.manual_seed(0)
    model = Model(ModelConfig(vocab_size=tok.vocab_size, layers=1, emb=8, hidden=16, dropout=0.0)).eval()
    batched = token_nll(model, pieces, batch_size=3)
    for piece, got in zip(pieces, batched, strict=True):
        ids = torch.as_tensor(piece)[None]
        logits, _ = model(ids[:, :-1])
        want = F.cross_entropy(logits[0], ids[0, 1:], reduction="none").double().detach().numpy()
        assert got.shape == (len(piece) - 1,)
        assert np.allclose(got, want, atol=1e-5)


def test_group_nlls_add_up_to_the_overall_nll(tmp_path: Path) -> None:
    tok, pieces = metric_pieces(12)
    data = write_corpus(tmp_path / "corpus", tok, pieces)
    ckpt = save_tiny(tmp_path / "tiny.pt", tok)
    report = likelihood_table(ckpt, data, orders=range(1, 4))
    groups = [g for g in report.tokens if g != "overall"]
    assert set(groups) == {"pitch", "duration", "position", "bar", "header", "eos"}
    assert sum(report.tokens[g] for g in groups) == report.tokens["overall"]
    assert report.n_val_pieces == 3 and report.tokens["eos"] == 3 and report.tokens["header"] == 12  # 4 header ids each
    for model in (LSTM, "1", "2", "3"):
        total = sum(report.tokens[g] * report.nll[model][g] for g in groups)
        assert total == pytest.approx(report.tokens["overall"] * report.nll[model]["overall"], rel=1e-9)
    assert 0.5 < report.perplexity(LSTM) / tok.vocab_size < 1.5  # an untrained model is near uniform
    d = report.to_dict()
    assert d["models"]["2"]["pitch"]["bits"] == pytest.approx(report.nll["2"]["pitch"] / math.log(2))
    assert "n=3" in report.to_table() and "LSTM / best n-gram" in report.to_table()


def test_groups_of_the_metric_vocabulary() -> None:
    tok = Tokenizer.create("metric")
    groups = token_groups(tok)
    assert set(groups[tok.table.ids_of("BAR")]) == {"bar"}
    assert set(groups[tok.table.ids_of("PITCH")]) == {"pitch"}
    assert set(groups[tok.table.ids_of("TEMPO")]) == {"header"} and groups[2] == "eos"


def test_memorised_repeating_corpus_gives_perplexity_near_one(tmp_path: Path) -> None:
    tok = Tokenizer.create("metric")
    piece = np.array(tok.encode(tune([62, 66, 69, 74] * 8)))
    pieces = [piece] * 8
    data = write_corpus(tmp_path / "corpus", tok, pieces)
    torch.manual_seed(0)
    model = Model(ModelConfig(vocab_size=tok.vocab_size, layers=1, emb=16, hidden=48, dropout=0.0))
    opt = torch.optim.Adam(model.parameters(), lr=2e-2)
    ids = torch.as_tensor(piece)[None]
    for _ in range(150):
        logits, _ = model(ids[:, :-1])
        loss = F.cross_entropy(logits[0], ids[0, 1:])
        opt.zero_grad()
        loss.backward()
        opt.step()
    report = likelihood_table(save_tiny(tmp_path / "m.pt", tok, model.eval()), data, orders=(1, 2, 10))
    assert report.perplexity(LSTM) < 1.1
    assert report.perplexity("10") < 1.3 and report.perplexity("1") > 2.0
    assert report.best_ngram() == "10"


def test_refuses_a_corpus_of_another_tokenizer(tmp_path: Path) -> None:
    small = small_tokenizer()
    data = write_corpus(tmp_path / "corpus", small, synthetic_pieces(small, 4))
    ckpt = save_tiny(tmp_path / "m.pt", Tokenizer.create("metric"))
    with pytest.raises(CheckpointError, match="tokenize it with the checkpoint's tokenizer"):
        likelihood_table(ckpt, data)


def test_cli_evaluate_writes_report_json(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    tok, pieces = metric_pieces(8)
    data = write_corpus(tmp_path / "corpus", tok, pieces)
    ckpt = save_tiny(tmp_path / "m.pt", tok)
    out = tmp_path / "eval"
    result = CliRunner().invoke(app, ["evaluate", str(ckpt), str(data), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "LSTM / best n-gram" in result.output
    report = json.loads((out / "report.json").read_text())
    assert report["n_val_pieces"] == 2 and report["models"]["lstm"]["overall"]["perplexity"] > 1
    assert set(report["models"]) == {"lstm", *map(str, range(1, 11))}
    again = CliRunner().invoke(app, ["evaluate", str(ckpt), str(data), "--out", str(out)])
    assert again.exit_code != 0  # never writes over a report


def test_ngrams_learn_from_the_also_train_corpora_too(tmp_path: Path) -> None:
    """A model trained with --also is compared with n-grams fit on the same training music."""
    import dataclasses

    tok, pieces = metric_pieces(16)
    data = write_corpus(tmp_path / "corpus", tok, pieces[:12])
    extra = write_corpus(tmp_path / "more", tok, pieces[12:])
    plain = likelihood_table(save_tiny(tmp_path / "plain.pt", tok), data, orders=range(1, 4))
    torch.manual_seed(0)
    config = ModelConfig(vocab_size=tok.vocab_size, layers=1, emb=16, hidden=32, dropout=0.0)
    ckpt = save_checkpoint(tmp_path / "more.pt", model=Model(config), model_config=config, train_config=TrainConfig(),
                           data_config=dataclasses.replace(DataConfig(val_fraction=0.25), also_train=(str(extra),)),
                           tokenizer=tok)
    report = likelihood_table(ckpt, data, orders=range(1, 4))
    assert plain.n_train_pieces == 9 and report.n_train_pieces == 13 and report.n_val_pieces == plain.n_val_pieces == 3
    assert report.nll["lstm"] == pytest.approx(plain.nll["lstm"])  # the same held-out tokens
    assert report.nll["3"]["overall"] != pytest.approx(plain.nll["3"]["overall"])
    assert report.to_dict()["also_train"] == [str(extra)]
