"""Bits per held-out tune, as a listener hears it, for a model with FORM tokens and one without.

Both corpora must hold the same files tokenized two ways (folded and written out), so piece i is the
same tune in both; the held-out tunes are the folded model's split. Each model is scored with its
cache, as it composes. Prints bits per whole tune and per token, and the n-grams' on the same tokens.

    python bench/form_bits.py NEW.pt data/oneills-form OLD.pt data/oneills-metric

NEW.pt on data/oneills-metric scores the form model on the written-out tokens (it reads plain ids too).
"""

from __future__ import annotations

import math
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from composer.corpus.data import open_corpus  # noqa: E402
from composer.evaluate.baseline import NGramModel  # noqa: E402
from composer.evaluate.likelihood import token_nlls  # noqa: E402
from composer.model.cache import kind_index  # noqa: E402
from composer.train.checkpoint import build_model, load_checkpoint  # noqa: E402


def score(path: str, data: str, val_ids, train_ids) -> dict[str, float]:
    """Total bits per tune and bits per token of a checkpoint, and of the best n-gram, on one corpus."""
    ckpt, corpus = load_checkpoint(path), open_corpus(data)
    val = corpus.pieces(val_ids)
    nll = token_nlls(build_model(ckpt), val, (ckpt.cache_config,), 16, "cpu",
                     kind_index(ckpt.tokenizer.table.kind_array()))[0]  # the model's kinds (a form model reads plain ids too)
    tokens = sum(len(x) for x in nll)
    total = sum(float(x.sum()) for x in nll) / math.log(2)
    ngram = NGramModel.fit(corpus.pieces(train_ids), 10, corpus.tokenizer.vocab_size)
    best = min((sum(float(-lp.sum()) for lp in ngram.log_probs(val, n)) / math.log(2), n) for n in range(1, 11))
    return {"bits_per_tune": total / len(val), "bits_per_token": total / tokens, "tokens_per_tune": tokens / len(val),
            "ngram_bits_per_tune": best[0] / len(val), "ngram_n": best[1], "ngram_bits_per_token": best[0] / tokens}


def main() -> None:
    new, new_data, old, old_data = sys.argv[1:5]
    started = time.time()
    train_ids, val_ids = open_corpus(new_data).split(load_checkpoint(new).data_config)
    print(f"{len(val_ids)} held-out tunes (the split of {new})")
    print(f"{'model':<32}{'tokens/tune':>12}{'bits/tune':>11}{'bits/token':>11}{'n-gram bits/tune':>18}{'ratio':>7}")
    for path, data in ((new, new_data), (old, old_data)):
        r = score(path, data, val_ids, train_ids)
        ratio = 2 ** (r["bits_per_token"] - r["ngram_bits_per_token"])
        print(f"{Path(path).name + ' on ' + Path(data).name:<32}{r['tokens_per_tune']:>12.0f}{r['bits_per_tune']:>11.0f}"
              f"{r['bits_per_token']:>11.3f}{r['ngram_bits_per_tune']:>13.0f} (n={r['ngram_n']}){ratio:>7.3f}")
    print(f"({time.time() - started:.0f} s; ratio: LSTM / best n-gram perplexity per token on the same tokens)")


if __name__ == "__main__":
    main()
