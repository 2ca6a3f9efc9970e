"""Evaluation: per-piece features, MGEval-style set comparison, and a written report."""

from __future__ import annotations

from composer.evaluate.compare import CompareConfig, ComparisonResult, FeatureComparison, compare_sets
from composer.evaluate.features import FEATURES, FeatureConfig, FeatureSpec, piece_features
from composer.evaluate.report import write_report

__all__ = [
    "FEATURES",
    "CompareConfig",
    "ComparisonResult",
    "FeatureComparison",
    "FeatureConfig",
    "FeatureSpec",
    "compare_sets",
    "piece_features",
    "write_report",
]
