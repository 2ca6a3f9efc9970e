"""Sampling speed, as ratios against baselines measured in the same run.

    python bench/sample.py [--checkpoint PATH] [--tokens 512] [--threads 2]

Prints: stateful vs re-running the prefix every step (goal ≥ 15×), batch 32 vs batch 1 tokens/s
(goal ≥ 15×), a grammar-masked sampler step vs a bare model step (goal ≤ 1.25×), the neural cache's
cost (with vs without, and per step late vs early in a piece: the window keeps it flat), the thread count
the sampler picks for the machine's load against --threads at every batch (batch 1, 4 and 32, and composing the
default 4 variations), and the peak memory of composing 32 variations (goal ≤ 1 GB on CPU).
"""

from __future__ import annotations

import argparse
import os
import resource
import time

import torch

from composer.generate.composer import DEFAULT_CHECKPOINT, Composer
from composer.model import sampling
from composer.model.cache import CacheConfig
from composer.model.network import Model, ModelConfig
from composer.model.sampling import SampleConfig, sample_tokens
from composer.tokenize import Tokenizer
from composer.tokenize.grammar import grammar_for


def bare_steps(model: Model, batch: int, tokens: int) -> float:
    """Seconds for `tokens` single-token model steps with carried state: the floor any sampler pays."""
    x = torch.ones(batch, 1, dtype=torch.long)
    state = None
    start = time.perf_counter()
    with torch.no_grad():
        for _ in range(tokens):
            logits, state = model(x, state)
            x = logits[:, -1].argmax(-1, keepdim=True)  # the cheapest possible choice: a floor
    return time.perf_counter() - start


def rerun_prefix(model: Model, tokens: int) -> float:
    """Seconds to generate `tokens` by re-running the whole sequence each step (no carried state)."""
    seq = torch.ones(1, 1, dtype=torch.long)
    start = time.perf_counter()
    with torch.no_grad():
        for _ in range(tokens):
            logits, _ = model(seq)
            seq = torch.cat([seq, logits[:, -1].argmax(-1, keepdim=True)], dim=1)
    return time.perf_counter() - start


def sampler(composer: Composer, batch: int, tokens: int, grammar: bool, cache: bool = False) -> float:
    """Seconds for the real sampling loop (grammar mask, filtering; the neural cache if asked) over `tokens`
    steps, no early stop."""
    tok = composer.tokenizer
    g = grammar_for(tok) if grammar else None
    prefix = tok.header_ids(meter="6/8", key="G major", tune_type="jig", qpm=120) if tok.name == "metric" else [1]
    start = time.perf_counter()
    sample_tokens(composer.model, prefix, batch, tokens, g, SampleConfig(max_tokens=tokens), -1,
                  torch.Generator().manual_seed(0), cache=composer.cache if cache else CacheConfig(),
                  cache_groups=composer.cache_groups)
    return time.perf_counter() - start


def thread_choice(composer: Composer, tokens: int, threads: int) -> None:
    """Sampler speed per batch with one thread and with `threads`, and what the sampler's own choice gains."""
    timed = {}
    torch.set_num_threads(threads)
    sampling.AUTO_THREADS = True
    pick = sampling.sampling_threads(torch.device("cpu"))
    print(f"threads      load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores: the sampler picks {pick}")
    sampling.AUTO_THREADS = False  # measure the counts as set, not as the sampler would choose
    try:
        for batch in (1, 4, 32):
            for count in sorted({1, threads, pick}):
                torch.set_num_threads(count)
                timed[batch, count] = sampler(composer, batch, tokens, True)
            print(f"threads      batch {batch:2d}: 1 thread {batch * tokens / timed[batch, 1]:8.0f} tokens/s | {threads} threads "
                  f"{batch * tokens / timed[batch, threads]:8.0f} tokens/s | sampler picks {pick}: "
                  f"{timed[batch, threads] / timed[batch, pick]:.2f}× against always {threads}")
        torch.set_num_threads(threads)
        start = time.perf_counter()
        composer.compose(n=4, bars=16, rng_seed=0)
        always = time.perf_counter() - start
    finally:
        sampling.AUTO_THREADS = True
    start = time.perf_counter()
    composer.compose(n=4, bars=16, rng_seed=0)
    picked = time.perf_counter() - start
    sampling.AUTO_THREADS = False
    print(f"compose 4 variations × 16 bars: {always:.2f} s with {threads} threads, {picked:.2f} s as picked: "
          f"{always / picked:.2f}×")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--checkpoint", default=None, help="default: the shipped model, else a fresh 2×512 LSTM")
    ap.add_argument("--tokens", type=int, default=512)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    sampling.AUTO_THREADS = False  # every figure at --threads, except where thread_choice compares its pick
    if args.checkpoint or DEFAULT_CHECKPOINT.exists():
        composer = Composer.load(args.checkpoint, device="cpu")
    else:
        tok = Tokenizer.create("metric")
        composer = Composer(Model(ModelConfig(tok.vocab_size)), tok)
    model, n = composer.model, args.tokens
    cfg = model.config
    print(f"model: {cfg.cell} {cfg.layers}×{cfg.hidden}, emb {cfg.emb}, vocab {cfg.vocab_size}, "
          f"{model.num_parameters() / 1e6:.2f} M parameters; {torch.get_num_threads()} threads; {n} tokens")
    bare_steps(model, 1, 16)  # warm-up

    t_state, t_rerun = bare_steps(model, 1, n), rerun_prefix(model, n)
    print(f"stateful     batch 1: {n / t_state:9.0f} tokens/s | re-run prefix: {n / t_rerun:7.0f} tokens/s "
          f"| ratio {t_rerun / t_state:6.1f}× (goal ≥ 15×)")
    t1, t32 = sampler(composer, 1, n, True), sampler(composer, 32, n, True)
    print(f"sampler      batch 1: {n / t1:9.0f} tokens/s | batch 32: {32 * n / t32:9.0f} tokens/s "
          f"| ratio {(32 * n / t32) / (n / t1):6.1f}× (goal ≥ 15×)")
    print(f"sampler step vs bare model step, batch 1: {t1 / t_state:.2f}× (goal ≤ 1.25×); "
          f"batch 32: {t32 / bare_steps(model, 32, n):.2f}×")
    if composer.cache.enabled:
        c1, c32 = sampler(composer, 1, n, True, cache=True), sampler(composer, 32, n, True, cache=True)
        short = sampler(composer, 32, n // 4, True, cache=True)
        print(f"sampler with its cache (window {composer.cache.window}) vs without: batch 1 {c1 / t1:.2f}×, "
              f"batch 32 {c32 / t32:.2f}×; per step, {n} tokens vs {n // 4}: {(c32 / n) / (short / (n // 4)):.2f}×")
    thread_choice(composer, n, args.threads)
    torch.set_num_threads(args.threads)
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    composer.compose(n=32, bars=16, rng_seed=0, tune_type="reel", key="D major")
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(f"peak RSS composing 32 variations of 16 bars: {rss / 1024:.0f} MB (before: {rss0 / 1024:.0f} MB; goal ≤ 1024 MB)")


if __name__ == "__main__":
    main()
