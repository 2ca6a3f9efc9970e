"""composer.corpus.data: reading corpus folders, the split, windows, augmentation, validation, rank shards."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from composer.corpus.data import IGNORE, DataConfig, TrainData, load_data, open_corpus, split_pieces
from composer.errors import InputError
from tests.corpus_helpers import melody_piece, small_tokenizer, synthetic_pieces, write_corpus

CFG = DataConfig(seq_len=16, batch_size=4, val_fraction=0.2, transpose=(0, 0))


@pytest.fixture(scope="module")
def tok():
    return small_tokenizer()


@pytest.fixture(scope="module")
def pieces(tok):
    return synthetic_pieces(tok, 20)


@pytest.fixture(scope="module")
def corpus_dir(tmp_path_factory, tok, pieces):
    return write_corpus(tmp_path_factory.mktemp("c") / "corpus", tok, pieces, shard_tokens=600)


def test_open_corpus_reads_every_piece_across_shards(corpus_dir, tok, pieces):
    corpus = open_corpus(corpus_dir)
    assert len(corpus.shards) >= 2
    assert corpus.tokenizer == tok and len(corpus) == 20
    assert corpus.n_tokens == sum(len(p) for p in pieces)
    for i, p in enumerate(pieces):
        np.testing.assert_array_equal(corpus.piece(i), p)
    assert corpus.piece(3).dtype == np.int64 and corpus.piece(3)[0] == 1 and corpus.piece(3)[-1] == 2


def test_uint32_corpus(tmp_path, tok, pieces):
    corpus = open_corpus(write_corpus(tmp_path / "c32", tok, pieces[:3], dtype="uint32"))
    np.testing.assert_array_equal(corpus.piece(2), pieces[2])


def test_bad_folders_name_the_file(tmp_path, tok, pieces):
    with pytest.raises(InputError, match="no such corpus folder"):
        open_corpus(tmp_path / "nope")
    root = write_corpus(tmp_path / "cut", tok, pieces[:3])
    shard = root / "shards" / "shard-00000.bin"
    shard.write_bytes(shard.read_bytes()[:-10])
    with pytest.raises(InputError, match="lies outside shard-00000.bin") as e:
        open_corpus(root)
    assert str(root) in str(e.value)
    (root / "corpus.json").write_text('{"format_version": 9}')
    with pytest.raises(InputError, match="corpus format version 9"):
        open_corpus(root)


def test_split_by_piece_is_deterministic_and_disjoint():
    train, val = split_pieces(100, 0.05, seed=0)
    assert len(val) == 5 and len(train) == 95
    assert sorted(np.concatenate([train, val]).tolist()) == list(range(100))
    again = split_pieces(100, 0.05, seed=0)
    assert np.array_equal(again[1], val) and not np.array_equal(split_pieces(100, 0.05, seed=1)[1], val)
    assert len(split_pieces(3, 0.01, 0)[1]) == 1 and len(split_pieces(3, 0.0, 0)[1]) == 0


def test_windows_are_stream_slices_visited_once_per_epoch(tmp_path, tok):
    rng = np.random.default_rng(0)
    pieces = [np.concatenate([[1], rng.integers(3, 170, size=int(rng.integers(20, 60))), [2]]) for _ in range(20)]
    data = load_data(write_corpus(tmp_path / "random", tok, pieces, shard_tokens=300), CFG)
    stream = np.concatenate([pieces[i] for i in data.train_pieces])
    t = CFG.seq_len
    seen = []
    for x, y in data.epoch(0, seed=7):
        assert x.dtype == torch.long and x.shape == (4, t) and torch.equal(x[:, 1:], y[:, :-1])
        for row_x, row_y in zip(x.numpy(), y.numpy(), strict=True):
            start = next(s for s in range(len(stream) - t) if np.array_equal(stream[s : s + t], row_x)
                         and stream[s + t] == row_y[-1])
            seen.append(start)
    assert len(set(seen)) == data.steps_per_epoch * 4
    assert len({s % t for s in seen}) == 1  # one phase per epoch, windows don't overlap
    x0, _ = data.batch(0, 1, seed=7)
    assert torch.equal(x0, data.batch(0, 1, seed=7)[0]) and not torch.equal(x0, data.batch(1, 1, seed=7)[0])


def test_transposition_moves_whole_windows_and_never_leaves_the_range(tmp_path, tok):
    t = tok.table
    high = [melody_piece(tok, [70, 72, 71, 72] * 8) for _ in range(6)]  # touches the top (72)
    low = [melody_piece(tok, [60, 61, 60, 62] * 8) for _ in range(6)]  # touches the bottom (60)
    root = write_corpus(tmp_path / "aug", tok, [p for pair in zip(high, low, strict=True) for p in pair])
    cfg = DataConfig(seq_len=32, batch_size=4, val_fraction=0.0, transpose=(-3, 3))
    plain, aug = TrainData(open_corpus(root), cfg, augment=False), TrainData(open_corpus(root), cfg)
    on = t.ids_of("NOTE_ON")
    shifts = set()
    for step in range(plain.steps_per_epoch):
        x0, y0 = plain.batch(2, step)
        x1, y1 = aug.batch(2, step)
        assert torch.equal(x1[:, 1:], y1[:, :-1]) and (x1 >= 0).all() and (y1 >= 0).all()
        for a, b in zip(torch.cat([x0, y0[:, -1:]], 1).numpy(), torch.cat([x1, y1[:, -1:]], 1).numpy(), strict=True):
            k = {int(q - p) for p, q in zip(a, b, strict=True) if p != q} or {0}
            assert len(k) == 1 and -3 <= (k := k.pop()) <= 3
            np.testing.assert_array_equal(b, tok.transposition_table(k)[a])
            pitches = np.isin(a, on)
            if pitches.any() and a[pitches].max() == on[72 - 60]:
                assert k <= 0
            if pitches.any() and a[pitches].min() == on[0]:
                assert k >= 0
            shifts.add(k)
    assert len(shifts) >= 3


def test_stretch_changes_only_time_shifts(corpus_dir, tok):
    cfg = DataConfig(seq_len=16, batch_size=4, val_fraction=0.2, transpose=(0, 0), stretch=0.5)
    plain, aug = load_data(corpus_dir, cfg, augment=False), load_data(corpus_dir, cfg)
    shift_ids = tok.table.ids_of("TIME_SHIFT")
    x0, x1 = plain.batch(0, 0)[0].numpy(), aug.batch(0, 0)[0].numpy()
    assert np.array_equal(x0[~np.isin(x0, shift_ids)], x1[~np.isin(x0, shift_ids)])
    assert np.isin(x1[np.isin(x0, shift_ids)], shift_ids).all()
    assert not np.array_equal(x0, x1)  # factors 0.5…1.5 move TIME_SHIFT 2 in most rows


def test_validation_scores_every_val_token_once(corpus_dir, pieces):
    data = load_data(corpus_dir, CFG)
    stream = np.concatenate([pieces[i] for i in data.val_pieces])
    batches = list(data.val_batches())
    targets = np.concatenate([y.numpy() for _, y in batches], axis=1).ravel()  # row by row, along time
    np.testing.assert_array_equal(targets[targets != IGNORE], stream[1:])
    for (_, y0), (x1, _) in zip(batches, batches[1:], strict=False):  # each window continues its row: state can carry
        continuing = y0[:, -1] != IGNORE
        assert torch.equal(x1[continuing, 0], y0[continuing, -1])
    assert all(torch.equal(a[0], b[0]) for a, b in zip(data.val_batches(), data.val_batches(), strict=True))


def test_ranks_take_disjoint_slices_of_the_global_batch(corpus_dir):
    data = load_data(corpus_dir, DataConfig(seq_len=16, batch_size=4, val_fraction=0.2, transpose=(-2, 2)))
    full = data.batch(1, 2, seed=3)
    parts = [data.batch(1, 2, seed=3, rank=r, world=2) for r in range(2)]
    assert torch.equal(torch.cat([p[0] for p in parts]), full[0])
    assert torch.equal(torch.cat([p[1] for p in parts]), full[1])


def test_too_small_corpus_is_refused_with_advice(tmp_path, tok, pieces):
    root = write_corpus(tmp_path / "tiny", tok, pieces[:2])
    with pytest.raises(InputError, match="lower --seq-len or --batch-size"):
        load_data(root, DataConfig(seq_len=256, batch_size=32))


def test_split_keeps_duplicates_on_one_side() -> None:
    keys = [i % 40 for i in range(100)]  # 40 distinct pieces, most printed two or three times
    train, val = split_pieces(100, 0.1, seed=0, keys=keys)
    assert len(val) >= 10 and not {keys[i] for i in val} & {keys[i] for i in train}
    assert np.array_equal(np.sort(np.concatenate([train, val])), np.arange(100))
    assert len(split_pieces(5, 0.2, 0, keys=[7] * 5)[1]) == 1  # all alike: one piece held out regardless


def test_oneills_split_holds_out_no_duplicate(oneills_scores, tmp_path) -> None:
    """O'Neill's collection prints 53 tunes twice (in overlapping files); none may score as held out."""
    from composer.tokenize import Tokenizer

    tok = Tokenizer.create("metric")
    pieces = [np.asarray(tok.encode(s), dtype=np.int64) for s in oneills_scores]
    corpus = open_corpus(write_corpus(tmp_path / "oneills", tok, pieces))
    train, val = corpus.split(DataConfig())
    seen = {corpus.piece(int(i)).tobytes() for i in train}
    assert len(val) >= 100 and not any(corpus.piece(int(i)).tobytes() in seen for i in val)
    plain_train, plain_val = corpus.split(DataConfig(duplicates_together=False))
    assert any(corpus.piece(int(i)).tobytes() in {corpus.piece(int(j)).tobytes() for j in plain_train}
               for i in plain_val)  # what the plain split (and checkpoints before it) held out


def test_every_window_opens_with_its_pieces_header(tmp_path) -> None:
    """metric windows from mid-piece carry BOS METER KEY TYPE TEMPO of their own tune; the header is a target
    (METER after BOS, …), the jump from TEMPO into mid-piece is not."""
    from pathlib import Path

    from composer.io import load
    from composer.tokenize import Tokenizer

    tok = Tokenizer.create("metric")
    seeds = sorted((Path(__file__).resolve().parents[2] / "midi_corpus" / "seeds").glob("*.abc"))
    pieces = [np.asarray(tok.encode(load(p)[0]), dtype=np.int64) for p in seeds]
    root = write_corpus(tmp_path / "seeds", tok, pieces)
    config = DataConfig(seq_len=48, batch_size=16, val_fraction=0.0, transpose=(0, 0))
    data = TrainData(open_corpus(root), config)
    kinds = tok.table.kind_array()
    headers = {tuple(p[:5]) for p in pieces}
    prefixed = 0
    for step in range(data.steps_per_epoch):
        x, y = (a.numpy() for a in data.batch(0, step))
        for row in range(len(x)):
            if y[row, 4] == IGNORE:
                prefixed += 1
                assert tuple(kinds[x[row, :5]]) == ("BOS", "METER", "KEY", "TYPE", "TEMPO")
                assert tuple(x[row, :5]) in headers
                assert tuple(y[row, :4]) == tuple(x[row, 1:5])  # the header predicts itself
            assert (np.delete(y[row], 4) != IGNORE).all()
    assert prefixed > 0.8 * data.steps_per_epoch * config.batch_size
    masked = TrainData(open_corpus(root), dataclasses.replace(config, header_targets=False))  # runs before it
    y = masked.batch(0, 0)[1].numpy()
    assert ((y[:, :5] == IGNORE).all(axis=1) == (y[:, 4] == IGNORE)).all()
    off = TrainData(open_corpus(root), dataclasses.replace(config, header_prefix=False))
    assert not (off.batch(0, 0)[1].numpy() == IGNORE).any()


def test_also_train_corpora_join_training_whole_but_never_a_held_out_piece(tmp_path, corpus_dir, tok, pieces):
    alone = load_data(corpus_dir, CFG)
    held_out = alone.split_sequences()[1]
    same = lambda a, b: len(a) == len(b) and (a == b).all()  # noqa: E731
    more = [p for p in synthetic_pieces(tok, 9, seed=5) if not any(same(p, q) for q in pieces)][:8]
    extra_dir = write_corpus(tmp_path / "more", tok, [*more, held_out[0]])  # one copy of a held-out tune
    data = load_data(corpus_dir, dataclasses.replace(CFG, also_train=(str(extra_dir),)))
    np.testing.assert_array_equal(data.val_pieces, alone.val_pieces)
    assert data.val.n_tokens == alone.val.n_tokens
    assert data.train.n_tokens == alone.train.n_tokens + sum(len(p) for p in more)
    train, val = data.split_sequences()
    assert len(train) == len(alone.train_pieces) + 8 and len(val) == len(held_out)
    np.testing.assert_array_equal(data.train.gather(np.arange(data.train.n_tokens)), np.concatenate(train))
    assert not any(same(t, held_out[0]) for t in train)
    other = write_corpus(tmp_path / "other", small_tokenizer_with_velocities(4), more)
    with pytest.raises(InputError, match="tokenized differently") as e:
        load_data(corpus_dir, dataclasses.replace(CFG, also_train=(str(other),)))
    assert str(other) in str(e.value)


def small_tokenizer_with_velocities(n: int):
    from composer.tokenize import Tokenizer
    from tests.corpus_helpers import SMALL_PERFORMANCE

    return Tokenizer.create("performance", **{**SMALL_PERFORMANCE, "velocity_bins": n})
