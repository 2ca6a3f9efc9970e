"""MGEval's set comparison: intra- and inter-set distances per feature, their KDEs, overlap area and KL.

For each feature, the Euclidean distances between pieces of one set (intra) are compared with the
distances between the two sets (inter). If the generated pieces are like the reference ones, an
inter-set distance looks like a reference intra-set distance: the two densities overlap (area → 1)
and KL(intra ‖ inter) → 0. Overlap/KL are given for both sets' intra distances, as MGEval prints them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from composer.errors import InputError
from composer.evaluate.features import FEATURES, FeatureConfig, FeatureSpec, piece_features
from composer.score import Score


@dataclass(frozen=True)
class CompareConfig:
    """KDE grid size, bandwidth rule, KL epsilon, and the most pieces per set used for distances."""

    grid_points: int = 1024
    bandwidth: str = "scott"
    epsilon: float = 1e-10
    max_pieces: int = 2000
    features: FeatureConfig = FeatureConfig()


@dataclass(frozen=True)
class FeatureComparison:
    """One feature's row: per-set value summary, mean distances, overlap areas and KL divergences.

    `overlap`/`kl` compare the reference intra-set density with the inter-set density (MGEval's plot);
    `overlap_generated`/`kl_generated` do the same for the generated set's intra-set density.
    Means/stds are of the value for scalar features and NaN for histograms/matrices (see `*_vector`).
    """

    name: str
    kind: str
    group: str
    n_generated: int
    n_reference: int
    generated_mean: float
    generated_std: float
    reference_mean: float
    reference_std: float
    intra_generated: float
    intra_reference: float
    inter: float
    overlap: float
    kl: float
    overlap_generated: float
    kl_generated: float
    curves: dict[str, np.ndarray] = field(default_factory=dict, compare=False, repr=False)

    @property
    def difference(self) -> float:
        """Generated mean minus reference mean (scalar features)."""
        return self.generated_mean - self.reference_mean


@dataclass(frozen=True)
class ComparisonResult:
    """Every feature's comparison of a generated set with a reference set."""

    rows: tuple[FeatureComparison, ...]
    n_generated: int
    n_reference: int

    @property
    def mean_overlap(self) -> float:
        """Mean over features of the overlap area (reference intra vs inter); 1 means indistinguishable."""
        return _nanmean([r.overlap for r in self.rows])

    @property
    def mean_overlap_generated(self) -> float:
        """Mean over features of the overlap area (generated intra vs inter)."""
        return _nanmean([r.overlap_generated for r in self.rows])

    def row(self, name: str) -> FeatureComparison:
        """The row of feature `name`."""
        for r in self.rows:
            if r.name == name:
                return r
        raise KeyError(name)

    def absolute(self) -> dict[str, dict[str, float]]:
        """muspy-style scalars: generated mean, reference mean and their difference."""
        return {
            r.name: {"generated": r.generated_mean, "reference": r.reference_mean, "difference": r.difference}
            for r in self.rows
            if r.group == "muspy"
        }

    def to_dict(self, curves: bool = False) -> dict[str, Any]:
        """JSON-ready numbers (NaN becomes None); `curves=True` adds the KDE grids and densities."""
        rows = []
        for r in self.rows:
            d = {k: _clean(getattr(r, k)) for k in r.__dataclass_fields__ if k != "curves"}
            for key in ("generated_vector", "reference_vector"):
                if key in r.curves:
                    d[key] = _clean(r.curves[key])
            if curves:
                d["curves"] = {k: _clean(v) for k, v in r.curves.items() if not k.endswith("_vector")}
            rows.append(d)
        return {
            "n_generated": self.n_generated,
            "n_reference": self.n_reference,
            "mean_overlap": _clean(self.mean_overlap),
            "mean_overlap_generated": _clean(self.mean_overlap_generated),
            "features": rows,
            "absolute": {k: {kk: _clean(vv) for kk, vv in v.items()} for k, v in self.absolute().items()},
        }

    def to_table(self) -> str:
        """A plain-text table: one line per feature, then the mean overlap."""
        head = f"{'feature':<24}{'gen mean':>10}{'ref mean':>10}{'intra gen':>10}{'intra ref':>10}{'inter':>10}{'overlap':>9}{'KL':>8}"
        lines = [head, "-" * len(head)]
        for r in self.rows:
            lines.append(
                f"{r.name:<24}{_fmt(r.generated_mean):>10}{_fmt(r.reference_mean):>10}{_fmt(r.intra_generated):>10}"
                f"{_fmt(r.intra_reference):>10}{_fmt(r.inter):>10}{_fmt(r.overlap, 3):>9}{_fmt(r.kl, 3):>8}"
            )
        lines.append("-" * len(head))
        lines.append(
            f"mean overlap area {self.mean_overlap:.3f} (reference intra vs inter), "
            f"{self.mean_overlap_generated:.3f} (generated intra vs inter); "
            f"{self.n_generated} generated, {self.n_reference} reference pieces"
        )
        return "\n".join(lines)


def compare_sets(
    generated: Sequence[Score], reference: Sequence[Score], config: CompareConfig = CompareConfig()
) -> ComparisonResult:
    """Compare two sets of scores feature by feature, MGEval style; deterministic."""
    if len(generated) < 2 or len(reference) < 2:
        raise InputError(
            f"need at least 2 pieces per set to compare, got {len(generated)} generated and {len(reference)} reference"
        )
    gen = [piece_features(s, config.features) for s in _cap(generated, config.max_pieces)]
    ref = [piece_features(s, config.features) for s in _cap(reference, config.max_pieces)]
    rows = tuple(compare_feature(spec, _stack(gen, spec.name), _stack(ref, spec.name), config) for spec in FEATURES)
    return ComparisonResult(rows=rows, n_generated=len(gen), n_reference=len(ref))


def compare_feature(
    spec: FeatureSpec, gen: np.ndarray, ref: np.ndarray, config: CompareConfig = CompareConfig()
) -> FeatureComparison:
    """One feature's comparison from per-piece values `gen` (n, d) and `ref` (m, d); non-finite pieces dropped."""
    gen = gen[np.isfinite(gen).all(axis=1)]
    ref = ref[np.isfinite(ref).all(axis=1)]
    intra_g, intra_r, inter = pairwise(gen), pairwise(ref), cross(gen, ref)
    curves: dict[str, np.ndarray] = {}
    overlap = kl = overlap_g = kl_g = float("nan")
    if len(inter) and (len(intra_r) or len(intra_g)):
        grid, (h_g, h_r, h_x) = kde_setup([intra_g, intra_r, inter], config.grid_points, config.bandwidth)
        curves = {"grid": grid, "inter": gaussian_kde(inter, grid, h_x)}
        if len(intra_r):
            curves["intra_reference"] = gaussian_kde(intra_r, grid, h_r)
            overlap = overlap_area(curves["intra_reference"], curves["inter"], grid)
            kl = kl_divergence(curves["intra_reference"], curves["inter"], config.epsilon)
        if len(intra_g):
            curves["intra_generated"] = gaussian_kde(intra_g, grid, h_g)
            overlap_g = overlap_area(curves["intra_generated"], curves["inter"], grid)
            kl_g = kl_divergence(curves["intra_generated"], curves["inter"], config.epsilon)
    scalar = spec.kind == "scalar"
    if scalar:
        curves["generated_values"], curves["reference_values"] = gen[:, 0], ref[:, 0]
    else:
        curves["generated_vector"] = gen.mean(axis=0) if len(gen) else np.full(gen.shape[1], np.nan)
        curves["reference_vector"] = ref.mean(axis=0) if len(ref) else np.full(ref.shape[1], np.nan)
    return FeatureComparison(
        name=spec.name,
        kind=spec.kind,
        group=spec.group,
        n_generated=len(gen),
        n_reference=len(ref),
        generated_mean=_nanmean(gen[:, 0]) if scalar else float("nan"),
        generated_std=float(gen[:, 0].std()) if scalar and len(gen) else float("nan"),
        reference_mean=_nanmean(ref[:, 0]) if scalar else float("nan"),
        reference_std=float(ref[:, 0].std()) if scalar and len(ref) else float("nan"),
        intra_generated=_nanmean(intra_g),
        intra_reference=_nanmean(intra_r),
        inter=_nanmean(inter),
        overlap=overlap,
        kl=kl,
        overlap_generated=overlap_g,
        kl_generated=kl_g,
        curves=curves,
    )


def pairwise(x: np.ndarray) -> np.ndarray:
    """Euclidean distances between all pairs i < j of rows of x (n, d) → (n(n−1)/2,)."""
    d = cross(x, x, flat=False)
    return d[np.triu_indices(len(x), k=1)]


def cross(a: np.ndarray, b: np.ndarray, flat: bool = True) -> np.ndarray:
    """Euclidean distances between every row of a (n, d) and every row of b (m, d) → (n·m,) or (n, m)."""
    sq = (a * a).sum(axis=1)[:, None] + (b * b).sum(axis=1)[None, :] - 2.0 * (a @ b.T)  # (n, m)
    d = np.sqrt(np.clip(sq, 0.0, None))
    return d.reshape(-1) if flat else d


def bandwidth(samples: np.ndarray, rule: str = "scott") -> float:
    """Gaussian KDE bandwidth as scipy (and so MGEval) sets it: σ·n^(−1/5) (Scott) or σ·(3n/4)^(−1/5) (Silverman)."""
    n = len(samples)
    sigma = float(samples.std(ddof=1)) if n > 1 else 0.0
    if rule == "scott":
        return sigma * n ** (-0.2)
    if rule == "silverman":
        return sigma * (0.75 * n) ** (-0.2)
    raise InputError(f"unknown bandwidth rule {rule!r}: expected 'scott' or 'silverman'")


def kde_setup(samples: Sequence[np.ndarray], points: int = 1024, rule: str = "scott") -> tuple[np.ndarray, list[float]]:
    """A common grid for several sample sets (their span plus 4 of the widest bandwidth each side) and each set's bandwidth.

    A bandwidth is at least 1 % of the common span (1e-3 when every value is equal), so a set of equal
    distances still gets a density the grid resolves.
    """
    values = np.concatenate([s for s in samples if len(s)])
    lo, hi = float(values.min()), float(values.max())
    floor = 0.01 * (hi - lo) if hi > lo else 1e-3 * max(1.0, abs(hi))
    hs = [max(bandwidth(s, rule), floor) if len(s) else floor for s in samples]
    return np.linspace(lo - 4 * max(hs), hi + 4 * max(hs), points), hs


def gaussian_kde(samples: np.ndarray, grid: np.ndarray, h: float) -> np.ndarray:
    """Density of `samples` on the evenly spaced `grid` with bandwidth h: linear binning, then a Gaussian kernel."""
    lo, step = float(grid[0]), float(grid[1] - grid[0])
    h = max(h, step)
    pos = np.clip((samples - lo) / step, 0, len(grid) - 1.000001)
    left = np.floor(pos).astype(np.int64)
    frac = pos - left
    counts = (
        np.bincount(left, 1 - frac, minlength=len(grid))
        + np.bincount(left + 1, frac, minlength=len(grid) + 1)[: len(grid)]
    )
    half = min(len(grid) - 1, int(np.ceil(5 * h / step)))
    kernel = np.exp(-0.5 * (np.arange(-half, half + 1) * step / h) ** 2) / (h * np.sqrt(2 * np.pi))
    return np.convolve(counts, kernel)[half : half + len(grid)] / len(samples)


def overlap_area(p: np.ndarray, q: np.ndarray, grid: np.ndarray) -> float:
    """∫ min(p, q) over the grid (trapezoid rule)."""
    m = np.minimum(p, q)
    return float(((m[1:] + m[:-1]) * np.diff(grid)).sum() / 2)


def kl_divergence(p: np.ndarray, q: np.ndarray, epsilon: float = 1e-10) -> float:
    """KL(p ‖ q) in nats of two densities on one grid, each normalised to sum 1 after adding epsilon."""
    p = p + epsilon
    q = q + epsilon
    p, q = p / p.sum(), q / q.sum()
    return float((p * np.log(p / q)).sum())


def _stack(features: list[dict], name: str) -> np.ndarray:
    return np.stack([np.asarray(f[name], dtype=np.float64).reshape(-1) for f in features])


def _cap(scores: Sequence[Score], limit: int) -> list[Score]:
    """At most `limit` scores, evenly spaced through the sequence (deterministic)."""
    if len(scores) <= limit:
        return list(scores)
    return [scores[i] for i in np.linspace(0, len(scores) - 1, limit).round().astype(int)]


def _nanmean(values: Any) -> float:
    arr = np.asarray(values, dtype=np.float64)
    arr = arr[np.isfinite(arr)]
    return float(arr.mean()) if len(arr) else float("nan")


def _fmt(value: float, digits: int = 2) -> str:
    return "—" if not np.isfinite(value) else f"{value:.{digits}f}"


def _clean(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return [_clean(v) for v in value.tolist()]
    if isinstance(value, list):
        return [_clean(v) for v in value]
    if isinstance(value, (float, np.floating)):
        return float(value) if np.isfinite(value) else None
    if isinstance(value, np.integer):
        return int(value)
    return value
