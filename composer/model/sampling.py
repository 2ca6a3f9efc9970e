"""The sampling loop itself: prime once, then one O(1) step per token with the hidden state carried.

Music-free on purpose: it takes a model, prefix ids, a token-filter (`Grammar`) and stop rules;
`composer.generate.composer.Composer` wraps it with seeds, conditioning and decoding.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Protocol

import torch
from torch import Tensor

from composer.errors import InputError
from composer.model.cache import CacheConfig, CacheMemory
from composer.model.network import repeat_state


class Grammar(Protocol):
    """Which tokens may come next, tracked for a whole batch at once."""

    def start(self, prefix: list[int], batch: int, device: torch.device) -> Tensor:
        """The state after reading `prefix`, repeated for `batch` rows."""

    def mask(self, state: Tensor) -> Tensor:
        """(B, V) bool: True where a token is allowed next."""

    def advance(self, state: Tensor, tokens: Tensor) -> Tensor:
        """The states after appending `tokens` (B,)."""


@dataclass(frozen=True)
class SampleConfig:
    """How tokens are drawn: temperature, top-k, nucleus (top-p), and the hard length cap."""

    temperature: float = 1.0
    top_k: int | None = None
    top_p: float | None = None
    max_tokens: int = 2048

    def __post_init__(self) -> None:
        if not (math.isfinite(self.temperature) and self.temperature > 0):
            raise InputError(f"temperature must be a number > 0, not {self.temperature}")
        if self.top_k is not None and self.top_k < 1:
            raise InputError(f"top_k must be at least 1, not {self.top_k}")
        if self.top_p is not None and not 0 < self.top_p <= 1:  # also refuses nan
            raise InputError(f"top_p must be > 0 and ≤ 1, not {self.top_p}")


# Threads for sampling on a CPU follow the load, not the batch (bench/sample.py on the 2-core machine): quiet
# (load ≈ 1, our own process included), two threads beat one at batch 1, 4 and 32 (1.6×, 1.2×, 1.4×); busy (load
# 6–7), one thread beats two at every batch (batch 1 3.8–5.8×, batch 4 3.9–10×, batch 32 3.8–5×).
AUTO_THREADS = True  # False: keep torch's thread count (bench/sample.py measures both)


def sampling_threads(device: torch.device) -> int:
    """Threads for sampling: torch's count, less the cores other processes keep busy (1-minute load average)."""
    current = torch.get_num_threads()
    if not AUTO_THREADS or device.type != "cpu" or current == 1 or not hasattr(os, "getloadavg"):
        return current
    others = max(0.0, os.getloadavg()[0] - 1.0)  # this process is (about) one of the runnable ones
    return max(1, min(current, math.floor((os.cpu_count() or 1) - others + 0.5)))


@contextmanager
def sampling_thread_count(device: torch.device) -> Iterator[int]:
    """While entered, torch runs on `sampling_threads(device)` threads; yields that count."""
    before = torch.get_num_threads()
    wanted = sampling_threads(device)
    if wanted != before:
        torch.set_num_threads(wanted)
    try:
        yield wanted
    finally:
        if wanted != before:
            torch.set_num_threads(before)


def filter_logits(logits: Tensor, temperature: float, top_k: int | None, top_p: float | None) -> Tensor:
    """Logits scaled by 1/temperature with everything outside top-k / the top-p nucleus set to −inf."""
    logits = logits / max(temperature, 1e-5)
    if top_k is not None and top_k < logits.size(-1):
        kth = torch.topk(logits, top_k, dim=-1).values[..., -1:]  # (B, 1)
        logits = logits.masked_fill(logits < kth, float("-inf"))
    if top_p is not None and top_p < 1.0:
        sorted_logits, order = torch.sort(logits, dim=-1, descending=True)
        cum = torch.softmax(sorted_logits, dim=-1).cumsum(dim=-1)
        # Drop a token when the tokens before it already cover top_p; the top token always stays.
        drop_sorted = (cum - torch.softmax(sorted_logits, dim=-1)) >= top_p
        drop = torch.zeros_like(drop_sorted).scatter(-1, order, drop_sorted)
        logits = logits.masked_fill(drop, float("-inf"))
    return logits


@torch.no_grad()
def sample_tokens(
    model: torch.nn.Module,
    prefix: list[int],
    n: int,
    steps: int,
    grammar: Grammar | None,
    config: SampleConfig,
    stop_token: int,
    generator: torch.Generator | None = None,
    should_stop=None,
    cache: CacheConfig = CacheConfig(),
    cache_groups: Tensor | None = None,
) -> list[list[int]]:
    """Continue `prefix` in `n` rows for up to `steps` tokens; each row ends at its `stop_token`.

    The prefix runs through the network once (one forward pass primes the state); every later step
    feeds a single token per row with the carried state. `should_stop(tokens, done)` may end rows
    early (e.g. at the bar after the last one asked for): rows it marks get `stop_token` instead of the
    drawn token. It returns a (B,) bool tensor. With an enabled `cache`, each row also copies from its
    own past (`composer.model.cache`; within the token kinds `cache_groups`). The model must offer `hidden_states` and `head` (as `Model` does).
    """
    device = next(model.parameters()).device
    with sampling_thread_count(device):
        return _sample(model, prefix, n, steps, grammar, config, stop_token, generator, should_stop, cache,
                       cache_groups, device)


def _sample(model: torch.nn.Module, prefix: list[int], n: int, steps: int, grammar: Grammar | None,
            config: SampleConfig, stop_token: int, generator: torch.Generator | None, should_stop,
            cache: CacheConfig, cache_groups: Tensor | None, device: torch.device) -> list[list[int]]:
    ids = torch.tensor([prefix], dtype=torch.long, device=device)  # (1, T)
    hidden, state = model.hidden_states(ids)  # (1, T, H)
    state = repeat_state(state, n)  # every row continues the same primed state
    memory = None
    if cache.enabled:
        memory = CacheMemory(cache, n, hidden.size(-1), device, cache_groups)
        memory.prime(hidden[0, :-1], ids[0, 1:])
    hidden = hidden[:, -1].expand(n, -1)  # (n, H)
    gstate = grammar.start(prefix, n, device) if grammar is not None else None
    done = torch.zeros(n, dtype=torch.bool, device=device)
    out = torch.full((n, steps), stop_token, dtype=torch.long, device=device)
    for t in range(steps):
        logits = model.head(hidden).float()  # (n, V)
        if memory is not None:
            logits = memory.mix(logits, hidden)  # log-probabilities, which filter_logits takes as logits
        step_logits = filter_logits(logits, config.temperature, config.top_k, config.top_p)
        if grammar is not None:
            allowed = grammar.mask(gstate)
            step_logits = step_logits.masked_fill(~allowed, float("-inf"))
            # Where filtering removed every allowed token, fall back to the allowed set itself.
            empty = torch.isinf(step_logits).all(dim=-1, keepdim=True)
            step_logits = torch.where(empty & allowed, torch.zeros_like(step_logits), step_logits)
        token = _gumbel_max(step_logits, generator)  # (n,)
        if should_stop is not None:
            done = done | should_stop(token, done)
        token = torch.where(done, torch.full_like(token, stop_token), token)
        out[:, t] = token
        done = done | (token == stop_token)
        if bool(done.all()):
            out = out[:, : t + 1]
            break
        if grammar is not None:
            gstate = grammar.advance(gstate, token)
        if memory is not None:
            memory.push(hidden, token)
        hidden, state = model.hidden_states(token.unsqueeze(1), state)
        hidden = hidden[:, -1]
    return [_cut_at(row, stop_token) for row in out.tolist()]


def _gumbel_max(logits: Tensor, generator: torch.Generator | None) -> Tensor:
    """One draw per row from softmax(logits): argmax(logits + Gumbel noise), cheaper than multinomial."""
    u = torch.rand(logits.shape, generator=generator, device=logits.device).clamp_(min=1e-20)
    return (logits - torch.log(-torch.log(u))).argmax(dim=-1)


def _cut_at(row: list[int], stop_token: int) -> list[int]:
    return row[: row.index(stop_token) + 1] if stop_token in row else row
