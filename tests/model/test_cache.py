"""The neural cache: known answers on hand-built states, sampling equals scoring, and it pays on real tunes."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch

from composer.errors import InputError, OutputError
from composer.evaluate.likelihood import token_nll
from composer.generate.composer import DEFAULT_CHECKPOINT, Composer
from composer.model.cache import CacheConfig, CacheMemory, cache_weights, fit_cache, kind_index, mix_sequence
from composer.train.checkpoint import load_checkpoint, update_checkpoint

V = 5


def one_hot_states(inputs: list[int], scale: float = 10.0) -> torch.Tensor:
    """(1, T, V) hidden states that are the input token, one-hot: equal inputs give matching states."""
    return scale * torch.nn.functional.one_hot(torch.tensor(inputs), V).float()[None]


def test_a_state_seen_before_copies_what_followed_it() -> None:
    inputs, targets = [0, 1, 2, 0], [1, 2, 0, 3]  # at step 3 the input 0 was seen at step 0, followed by 1
    uniform = torch.full((1, 4, V), math.log(1 / V))
    mixed = mix_sequence(uniform, one_hot_states(inputs), torch.tensor([targets]), CacheConfig(0.5, 1.0))
    p = mixed[0].exp()
    assert torch.allclose(p[0], torch.full((V,), 1 / V))  # nothing cached yet: the model alone
    assert p[3, 1].item() == pytest.approx(0.5 * 0.2 + 0.5 * 1.0, abs=1e-3)
    assert torch.allclose(p.sum(-1), torch.ones(4), atol=1e-5)


def test_with_kinds_the_cache_only_chooses_within_the_kind_the_model_expects() -> None:
    """Tokens 0–2 are one kind, 3–4 another: the model's mass per kind survives the mix exactly."""
    kinds = kind_index(["PITCH", "PITCH", "PITCH", "DURATION", "DURATION"])
    assert kinds.tolist() == [1, 1, 1, 0, 0]
    inputs, targets = [0, 3, 0], [3, 1, 4]  # at step 2 the state of step 0 returns; what followed it was 3
    log_probs = torch.log(torch.tensor([[[0.1, 0.1, 0.1, 0.35, 0.35]] * 3]))
    mixed = mix_sequence(log_probs, one_hot_states(inputs), torch.tensor([targets]), CacheConfig(0.5, 1.0), kinds)[0].exp()
    assert mixed[2, :3].sum().item() == pytest.approx(0.3) and mixed[2, 3:].sum().item() == pytest.approx(0.7)
    assert mixed[2, 3].item() == pytest.approx(0.5 * 0.35 + 0.5 * 0.7, abs=1e-3)  # the copied duration
    memory = CacheMemory(CacheConfig(0.5, 1.0), 1, V, torch.device("cpu"), kinds)
    for t in range(2):
        memory.push(one_hot_states(inputs)[:, t], torch.tensor(targets[t : t + 1]))
    assert torch.allclose(memory.mix(log_probs[:, 2], one_hot_states(inputs)[:, 2])[0].exp(), mixed[2], atol=1e-5)


def test_the_window_forgets_older_steps() -> None:
    w = cache_weights(one_hot_states([0, 1, 2, 3, 0]), 1.0, window=3)[0]
    assert w[4, 0] == 0 and w[4, 1:4].sum().item() == pytest.approx(1.0)
    assert torch.equal(w.triu(), torch.zeros(5, 5))  # never the step itself or the future


def test_weight_zero_is_the_model_alone() -> None:
    logp = torch.log_softmax(torch.randn(2, 6, V), -1)
    assert mix_sequence(logp, torch.randn(2, 6, 8), torch.zeros(2, 6, dtype=torch.long), CacheConfig()) is logp
    with pytest.raises(InputError):
        CacheConfig(weight=1.0)


def test_the_sampling_memory_gives_the_same_distribution_as_scoring_a_whole_sequence() -> None:
    torch.manual_seed(0)
    hidden, targets = torch.randn(1, 12, 8), torch.randint(0, V, (1, 12))
    logits = torch.randn(1, 12, V)
    config = CacheConfig(0.3, 0.7, window=5)
    whole = mix_sequence(torch.log_softmax(logits, -1), hidden, targets, config)[0]
    memory = CacheMemory(config, 1, 8, torch.device("cpu"))
    for t in range(12):
        step = memory.mix(logits[:, t], hidden[:, t])[0]
        assert torch.allclose(step, whole[t], atol=1e-5), t
        memory.push(hidden[:, t], targets[:, t])


@pytest.fixture(scope="module")
def default() -> Composer:
    return Composer.load(device="cpu")


def test_the_second_time_through_a_real_tune_is_far_cheaper_with_the_cache(default: Composer, oneills_scores) -> None:
    """A real reel played twice (within the cache's window): the repeat costs the cached model far fewer nats."""
    reel = next(s for s in oneills_scores if s.tune_type == "reel" and 60 < len(s.notes) < 120)
    ids = default.tokenizer.encode(reel)
    body = ids[default.tokenizer.header_length + 1 : -1]
    twice = np.array(ids[:-1] + body + ids[-1:])
    model_only = token_nll(default.model, [twice])[0]
    cached = token_nll(default.model, [twice], cache=CacheConfig(0.25, 1.0))[0]
    repeat = slice(len(ids) - 1, len(ids) - 1 + len(body))
    assert len(body) < 512 and cached[repeat].mean() < 0.7 * model_only[repeat].mean()
    first = slice(0, len(ids) - 2)
    assert cached[first].mean() < model_only[first].mean() + 0.1  # it costs little where nothing repeats


def test_fit_on_real_tunes_picks_a_cache_that_lowers_their_nll(default: Composer, oneills_scores) -> None:
    tunes = [np.array(default.tokenizer.encode(s)) for s in oneills_scores[200:230]]
    fit = fit_cache(default.model, tunes)
    assert fit.config.enabled and fit.n_pieces == 30
    assert fit.nll_with < fit.nll_without - 0.01


def test_the_shipped_model_composes_with_its_cache(default: Composer) -> None:
    assert default.cache.enabled  # fit by `composer fit-cache`; checkpoints/README.md says how
    a = default.compose(n=2, tune_type="reel", rng_seed=3, temperature=0.9)
    b = default.compose(n=2, tune_type="reel", rng_seed=3, temperature=0.9)
    assert [s.metadata["ids"] for s in a] == [s.metadata["ids"] for s in b]
    assert all(len(s.notes) > 40 for s in a)


def test_a_strong_cache_makes_a_continuation_repeat_its_seed(default: Composer) -> None:
    seed = Path(__file__).resolve().parents[2] / "midi_corpus" / "seeds" / "kesh.abc"
    prefix = default.seed(seed).ids

    def copied(cache: CacheConfig) -> float:
        composer = Composer(default.model, default.tokenizer, cache=cache)
        row = composer.compose_ids(prefix, bars=8, rng_seed=0)[0][len(prefix):]
        grams = {tuple(prefix[i : i + 8]) for i in range(len(prefix) - 7)}
        return np.mean([tuple(row[i : i + 8]) in grams for i in range(len(row) - 7)])

    assert copied(CacheConfig(0.9, 2.0)) > copied(CacheConfig()) + 0.2


def test_a_checkpoint_keeps_its_cache_and_is_not_overwritten_unasked(tmp_path: Path) -> None:
    out = update_checkpoint(DEFAULT_CHECKPOINT, tmp_path / "c.pt", configs={"cache": CacheConfig(0.3, 0.2, 64)},
                            extra={"note": 1})
    ckpt = load_checkpoint(out)
    assert ckpt.cache_config == CacheConfig(0.3, 0.2, 64) and ckpt.extra["note"] == 1
    assert ckpt.model_state.keys() == load_checkpoint(DEFAULT_CHECKPOINT).model_state.keys()
    with pytest.raises(OutputError):
        update_checkpoint(DEFAULT_CHECKPOINT, out, configs={"cache": CacheConfig()})


def test_cli_fit_cache_writes_a_new_checkpoint_and_never_overwrites_unasked(tmp_path: Path, capsys) -> None:
    """A corpus whose tunes repeat themselves: the fit turns the cache on, and the CLI says what it chose."""
    from composer.cli import main
    from composer.corpus.data import DataConfig
    from composer.model.network import Model, ModelConfig
    from composer.train.checkpoint import save_checkpoint
    from composer.train.config import TrainConfig
    from tests.corpus_helpers import small_tokenizer, synthetic_pieces, write_corpus

    tok = small_tokenizer()
    pieces = [np.concatenate([p[:-1], p[1:]]) for p in synthetic_pieces(tok, 12)]  # each melody played twice
    data = write_corpus(tmp_path / "c", tok, pieces)
    torch.manual_seed(0)
    config = ModelConfig(vocab_size=tok.vocab_size, layers=1, emb=8, hidden=16, dropout=0.0)
    src = save_checkpoint(tmp_path / "m.pt", model=Model(config), model_config=config, train_config=TrainConfig(),
                          data_config=DataConfig(val_fraction=0.25), tokenizer=tok)

    def run(*args) -> int:
        try:
            main(["fit-cache", str(src), str(data), "--out", str(tmp_path / "cached.pt"), *args])
        except SystemExit as e:
            return int(e.code or 0)
        return 0

    assert run() == 0
    out = capsys.readouterr().out
    assert "cache fit on 9 training pieces" in out
    ckpt = load_checkpoint(tmp_path / "cached.pt")
    assert ckpt.cache_config.enabled and ckpt.extra["cache_fit"]["nll_with"] < ckpt.extra["cache_fit"]["nll_without"]
    assert run() == 1 and "--force" in capsys.readouterr().err
    assert run("--force") == 0
