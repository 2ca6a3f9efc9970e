"""composer.model.sampling picks its threads from the machine's load: all of torch's when quiet, one when busy."""

from __future__ import annotations

import pytest
import torch

from composer.model import sampling


@pytest.mark.parametrize(("load", "cores", "expected"), [(0.2, 2, 2), (1.0, 2, 2), (1.4, 2, 2), (1.6, 2, 1), (2.0, 2, 1),
                                                          (6.5, 2, 1), (3.0, 8, 4), (6.0, 8, 3), (9.0, 8, 1)])
def test_threads_follow_the_load(load, cores, expected, monkeypatch):
    monkeypatch.setattr(sampling.os, "getloadavg", lambda: (load, load, load))
    monkeypatch.setattr(sampling.os, "cpu_count", lambda: cores)
    before = torch.get_num_threads()
    torch.set_num_threads(4 if cores > 2 else 2)
    try:
        assert sampling.sampling_threads(torch.device("cpu")) == min(expected, torch.get_num_threads())
        with sampling.sampling_thread_count(torch.device("cpu")) as used:
            assert torch.get_num_threads() == used == min(expected, 4 if cores > 2 else 2)
        assert torch.get_num_threads() == (4 if cores > 2 else 2)  # restored
    finally:
        torch.set_num_threads(before)
