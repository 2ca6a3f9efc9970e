"""A compose job's record (its stage as the page polls it) and the Composer proxy that marks its stages."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from composer.studio.form import Settings


@dataclass
class Job:
    """One compose request: queued, then composing, rendering, and done or failed."""

    id: str
    settings: Settings
    seed: Path | None
    seed_label: str
    cleanup: Path | None = None  # a private temp folder holding an uploaded seed
    stage: str = "queued"
    created: float = field(default_factory=time.time)
    started: float | None = None
    finished: float | None = None
    error: str | None = None
    notes: list[str] = field(default_factory=list)
    folder: Path | None = None
    known_folders: set[str] = field(default_factory=set)


class Watched:
    """The Composer as compose_to_folder sees it, marking the job's stage as sampling ends and rendering starts."""

    def __init__(self, composer: Any, job: Job) -> None:
        self.composer, self.job = composer, job

    def compose(self, seed: Any, **args: Any) -> list:
        """`Composer.compose`, with the job's stage set before and after."""
        self.job.stage = "composing"
        scores = self.composer.compose(seed, **args)
        self.job.stage = "rendering"
        return scores
