"""composer.train.checkpoint: the round trip, and refusal of missing, corrupt, unsafe and mismatched files."""

from __future__ import annotations

import pickle
import random
from pathlib import Path

import numpy as np
import pytest
import torch

from composer.corpus.data import DataConfig
from composer.errors import CheckpointError
from composer.model.network import Model, ModelConfig
from composer.tokenize import Tokenizer
from composer.train.checkpoint import build_model, check_tokenizer, load_checkpoint, save_checkpoint
from composer.train.config import TrainConfig
from tests.corpus_helpers import small_tokenizer


def _save(path: Path, **changes) -> tuple[Model, Path]:
    tok = small_tokenizer()
    torch.manual_seed(0)
    mc = ModelConfig(vocab_size=tok.vocab_size, layers=1, emb=8, hidden=16, dropout=0.0)
    model = Model(mc)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    model(torch.ones(2, 5, dtype=torch.long))[0].sum().backward()
    opt.step()
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 0.5)
    args = dict(model=model, model_config=mc, train_config=TrainConfig(epochs=3, max_minutes=2.5),
                data_config=DataConfig(seq_len=32, transpose=(-2, 3)), tokenizer=tok, optimizer=opt,
                scheduler=sched, step=17, epoch=2, step_in_epoch=5, best_val_loss=1.25, extra={"data_dir": "/x"})
    return model, save_checkpoint(path, **{**args, **changes})


def test_round_trip_restores_everything(tmp_path):
    model, path = _save(tmp_path / "run" / "last.pt")
    ck = load_checkpoint(path)
    assert ck.model_config == model.config and ck.tokenizer == small_tokenizer()
    assert ck.train_config == TrainConfig(epochs=3, max_minutes=2.5)
    assert ck.data_config == DataConfig(seq_len=32, transpose=(-2, 3)) and ck.data_config.transpose == (-2, 3)
    assert (ck.step, ck.epoch, ck.step_in_epoch, ck.best_val_loss) == (17, 2, 5, 1.25)
    assert ck.extra == {"data_dir": "/x"} and ck.composer_version
    assert set(ck.optimizer_state) == {"state", "param_groups"} and ck.scheduler_state["last_epoch"] == 0
    rebuilt = build_model(ck)
    assert not rebuilt.training
    ids = torch.tensor([[1, 5, 9, 2]])
    assert torch.equal(rebuilt(ids)[0], model.eval()(ids)[0])
    assert [p.name for p in path.parent.iterdir()] == ["last.pt"]  # no temp file left behind


def test_rng_states_come_back(tmp_path):
    from composer.train.checkpoint import restore_rng

    torch.manual_seed(3)
    np.random.seed(4)
    random.seed(5)
    _, path = _save(tmp_path / "a.pt")
    expected = (torch.rand(3), np.random.rand(3), random.random())
    torch.manual_seed(99)
    np.random.seed(99)
    random.seed(99)
    restore_rng(load_checkpoint(path).rng_state)
    assert torch.equal(torch.rand(3), expected[0]) and np.array_equal(np.random.rand(3), expected[1])
    assert random.random() == expected[2]


class _Payload:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


@pytest.mark.parametrize("writer", ["torch", "pickle"])
def test_pickled_code_is_refused_and_never_runs(tmp_path, writer):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pt"
    payload = {"format": "composer-checkpoint", "model": _Payload(marker)}
    if writer == "torch":
        torch.save(payload, path)
    else:
        path.write_bytes(pickle.dumps(payload, protocol=2))
    assert not marker.exists()
    with pytest.raises(CheckpointError, match="pickled code") as e:
        load_checkpoint(path)
    assert str(path) in str(e.value)
    assert not marker.exists()


def test_missing_corrupt_truncated_and_foreign_files(tmp_path):
    with pytest.raises(CheckpointError, match="no such checkpoint file"):
        load_checkpoint(tmp_path / "none.pt")
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"MThd\x00\x00\x00\x06 this is a MIDI file, not a checkpoint")
    with pytest.raises(CheckpointError, match="not a composer checkpoint") as e:
        load_checkpoint(junk)
    assert str(junk) in str(e.value)
    _, good = _save(tmp_path / "good.pt")
    cut = tmp_path / "cut.pt"
    cut.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    with pytest.raises(CheckpointError, match="truncated/corrupt"):
        load_checkpoint(cut)
    foreign = tmp_path / "foreign.pt"
    torch.save({"state_dict": {"w": torch.zeros(2)}}, foreign)
    with pytest.raises(CheckpointError, match="no composer header"):
        load_checkpoint(foreign)


def test_other_versions_are_refused(tmp_path, monkeypatch):
    import composer

    _, path = _save(tmp_path / "v.pt")
    monkeypatch.setattr(composer, "__version__", "7.0.0")
    with pytest.raises(CheckpointError, match="incompatible with 7.0.0"):
        load_checkpoint(path)
    monkeypatch.undo()
    payload = torch.load(path, weights_only=True)
    payload["format_version"] = 99
    torch.save(payload, path)
    with pytest.raises(CheckpointError, match="format version 99"):
        load_checkpoint(path)


def test_tokenizer_mismatch_is_named(tmp_path):
    _, path = _save(tmp_path / "t.pt")
    ck = load_checkpoint(path)
    check_tokenizer(ck, small_tokenizer())
    with pytest.raises(CheckpointError, match=r"trained on performance tokens \(170 ids\), but the data of d/ uses "
                                              r"performance \(520 ids\); tokenize it with the checkpoint's tokenizer"):
        check_tokenizer(ck, Tokenizer.create("performance"), "d/")
    with pytest.raises(CheckpointError, match="another tokenizer config"):
        check_tokenizer(ck, Tokenizer.create("performance", pitch_low=59, pitch_high=71, max_shift_steps=4,
                                             velocity_bins=8))


def test_weights_that_do_not_fit_the_config(tmp_path):
    model, path = _save(tmp_path / "w.pt")
    payload = torch.load(path, weights_only=True)
    payload["configs"]["model"]["hidden"] = 32
    torch.save(payload, path)
    with pytest.raises(CheckpointError, match="weights do not fit"):
        build_model(load_checkpoint(path))


def test_a_checkpoint_from_before_the_cache_loads_with_the_cache_off(tmp_path):
    from composer.model.cache import CacheConfig

    _, path = _save(tmp_path / "new.pt", cache_config=CacheConfig(0.2, 1.0, 64))
    assert load_checkpoint(path).cache_config == CacheConfig(0.2, 1.0, 64)
    payload = torch.load(path, weights_only=True)
    del payload["configs"]["cache"]
    torch.save(payload, tmp_path / "old.pt")
    assert not load_checkpoint(tmp_path / "old.pt").cache_config.enabled
