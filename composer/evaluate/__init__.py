"""Evaluation: per-piece features, MGEval-style set comparison, form statistics, and a written report."""

from __future__ import annotations

from composer.evaluate.compare import CompareConfig, ComparisonResult, FeatureComparison, compare_sets
from composer.evaluate.features import FEATURES, FeatureConfig, FeatureSpec, piece_features
from composer.evaluate.form import FormConfig, form_features, form_side_by_side, form_summary
from composer.evaluate.report import write_report

__all__ = [
    "FEATURES",
    "CompareConfig",
    "ComparisonResult",
    "FeatureComparison",
    "FeatureConfig",
    "FeatureSpec",
    "FormConfig",
    "compare_sets",
    "form_features",
    "form_side_by_side",
    "form_summary",
    "piece_features",
    "write_report",
]
