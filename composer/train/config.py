"""TrainConfig: optimisation, schedule, device and bookkeeping for one run; saved in every checkpoint."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation, schedule, device and bookkeeping for one run (defaults fit the folk corpus).

    Warm-up lasts warmup_steps, or a tenth of the run when that is shorter; the cosine then runs to
    the end of the last epoch (max_steps and max_minutes stop early without changing the schedule)."""

    epochs: int = 20
    lr: float = 2e-3
    weight_decay: float = 0.01
    warmup_steps: int = 200
    min_lr_ratio: float = 0.1
    grad_clip: float = 1.0
    device: str = "auto"
    amp: bool = True
    seed: int = 0
    checkpoint_every_steps: int = 500
    eval_every_epochs: int = 1
    preview_every_epochs: int = 5  # also after the last epoch when no preview came yet; 0: none
    preview_tokens: int = 512
    max_minutes: float | None = None
    max_steps: int | None = None
    log_every: int = 50
    fit_cache: bool = True  # at the end, fit best.pt's neural cache on training pieces (composer.model.cache)

    def __post_init__(self) -> None:
        if self.epochs < 1 or self.lr <= 0 or self.log_every < 1 or self.checkpoint_every_steps < 1:
            raise ValueError("epochs, lr, log_every and checkpoint_every_steps must be positive")
        if not 0 <= self.min_lr_ratio <= 1:
            raise ValueError(f"min_lr_ratio must be in [0, 1], not {self.min_lr_ratio}")
