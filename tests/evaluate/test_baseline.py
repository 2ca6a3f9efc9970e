"""The Kneser–Ney baseline: hand-computed probabilities, normalisation at every order, unseen tokens, real tunes."""

from __future__ import annotations

import math

import numpy as np
import pytest

from composer.errors import InputError
from composer.evaluate.baseline import NGramConfig, NGramModel, perplexity_by_order

TINY = [np.array([0, 1, 2, 1]), np.array([0, 1, 1])]  # V = 3; scored: 1 2 1 | 1 1


def test_unigram_by_hand() -> None:
    """c(1)=4, c(2)=1 of N=5; D=½ frees ½·2/5 = 0.2 spread uniformly: p = (c−½)/5 + 0.2/3."""
    model = NGramModel.fit(TINY, order=1, vocab_size=3, discount=0.5)
    assert np.allclose(model.distribution([]), [1 / 15, 23 / 30, 1 / 6], atol=1e-12)
    assert np.allclose(model.log_prob(np.array([2, 0, 1])), np.log([1 / 15, 23 / 30]), atol=1e-12)


def test_bigram_by_hand() -> None:
    """Top level raw bigram counts, lower level continuation counts N1+(•w) = (0, 3, 1) of 4.

    p1 = (1/12, 17/24, 5/24);  p2(1|0) = (2−½)/2 + ¼·p1(1) = 89/96;  p2(2|1) = ½/2 + ½·p1(2) = 17/48;
    p2(1|2) = ½ + ½·p1(1) = 41/48;  after an unseen context only p1 is left."""
    model = NGramModel.fit(TINY, order=2, vocab_size=3, discount=0.5)
    assert np.allclose(model.distribution([]), [1 / 12, 17 / 24, 5 / 24], atol=1e-12)  # PAD context: never seen
    assert np.allclose(model.log_prob(np.array([0, 1, 2, 1])), np.log([89 / 96, 17 / 48, 41 / 48]), atol=1e-12)
    assert np.allclose(model.distribution([1]), [2 / 48, 29 / 48, 17 / 48], atol=1e-12)
    assert np.allclose(model.distribution([0, 2]), [2 / 48, 41 / 48, 5 / 48], atol=1e-12)  # context 2: A=1
    assert model.log_prob(np.array([2, 0]))[0] == pytest.approx(math.log(1 / 24))  # (2, 0) unseen: ½·p1(0)


@pytest.mark.parametrize("discount", [None, 0.75])
def test_distributions_sum_to_one_at_every_order(discount: float | None) -> None:
    rng = np.random.default_rng(0)
    train = [rng.integers(0, 12, size=int(n)) for n in rng.integers(2, 60, size=40)]
    model = NGramModel.fit(train, order=10, vocab_size=13, discount=discount)  # token 12 never seen
    contexts = [[], [3], list(train[0][:7]), list(train[5][:20]), [12, 12, 1, 2, 3, 4, 5, 6, 7, 8, 9]]
    for order in range(1, 11):
        for context in contexts:
            p = model.distribution(context, order)
            assert abs(p.sum() - 1.0) < 1e-9 and p.min() > 0, (order, context)


def test_repeating_sequence_higher_order_wins_by_far() -> None:
    cycle = [1, 2, 3, 4, 5, 6, 7, 8]
    train = [np.array([0] + cycle * 30) for _ in range(5)]
    val = [np.array([0] + cycle * 10)]
    ppl = perplexity_by_order(train, val, vocab_size=10, orders=range(1, 6))
    assert 7.0 < ppl[1] < 9.0  # eight tokens equally often
    assert ppl[2] < 1.1 and ppl[5] < 1.1  # each token fixes the next
    assert ppl == pytest.approx({n: NGramModel.fit(train, n, 10).perplexity(val) for n in range(1, 6)})


def test_unseen_tokens_and_contexts_keep_perplexity_finite() -> None:
    train = [np.array([0, 1, 2, 1, 2, 3])]
    model = NGramModel.fit(train, order=4, vocab_size=50)
    lp = model.log_prob(np.array([0, 1, 49, 48, 2, 1]))
    assert lp.shape == (5,) and np.isfinite(lp).all()
    assert lp[1] < math.log(1 / 50) < lp[0]  # unseen 49 gets less than uniform; the seen 0→1 much more
    assert math.isfinite(model.perplexity([np.array([7, 8, 9])]))


def test_log_probs_split_per_sequence_and_bad_input_is_refused() -> None:
    model = NGramModel.fit(TINY, order=3, vocab_size=3)
    parts = model.log_probs([np.array([0, 1, 2]), np.array([1]), np.array([2, 2, 1, 0])])
    assert [p.size for p in parts] == [2, 0, 3]
    assert np.allclose(parts[2], model.log_prob(np.array([2, 2, 1, 0])))
    with pytest.raises(InputError, match="sequence 0"):
        model.log_prob(np.array([0, 3]))
    with pytest.raises(InputError, match="fitted order"):
        model.log_prob(np.array([0, 1]), order=4)
    with pytest.raises(InputError, match="order must be in 1…10"):
        NGramConfig(order=11)


def test_oneills_tunes_are_predictable_from_a_few_tokens_back(oneills_paths) -> None:
    """Fifty O'Neill tunes, performance tokens: a 4-gram halves the unigram's perplexity (34 → 4.7)."""
    from composer.errors import ComposerError
    from composer.io import load
    from composer.tokenize import Tokenizer

    tokenizer = Tokenizer.create("performance")
    seqs = []
    for score in load(oneills_paths[0]):
        try:
            seqs.append(np.array(tokenizer.encode(score)))
        except ComposerError:
            continue
    assert len(seqs) >= 45
    ppl = perplexity_by_order(seqs[::2], seqs[1::2], tokenizer.vocab_size, orders=range(1, 11))
    assert all(math.isfinite(v) for v in ppl.values())
    assert ppl[1] > 20 and ppl[4] < 0.25 * ppl[1]
    assert min(ppl, key=ppl.get) >= 3
