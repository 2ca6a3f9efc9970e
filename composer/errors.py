"""The few error types composer raises; every message names the file (when there is one) and the problem."""

from __future__ import annotations

from pathlib import Path


class ComposerError(Exception):
    """Base of every error composer raises on purpose; catch this one to handle them all."""

    def __init__(self, message: str, path: str | Path | None = None) -> None:
        self.path = str(path) if path is not None else None
        self.problem = message
        super().__init__(f"{self.path}: {message}" if self.path else message)


class InputError(ComposerError):
    """A file or value given to composer cannot be read: malformed, truncated, unsupported."""


class LimitError(InputError):
    """An input is readable but breaks a resource limit (size, events, duration, tracks, tokens)."""


class TokenizeError(ComposerError):
    """A score cannot be encoded, or ids cannot be decoded, by a tokenizer."""


class CheckpointError(ComposerError):
    """A checkpoint is missing, corrupt, unsafe, or does not match the data or the code."""


class OutputError(ComposerError):
    """An output cannot be written (exists without --force, disk full, permission denied)."""
