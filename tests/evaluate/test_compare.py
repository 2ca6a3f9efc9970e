"""Set comparison (distances, KDE, overlap, KL) and the written report, on hand-built and O'Neill pieces."""

from __future__ import annotations

import json

import numpy as np
import pytest

from composer.errors import InputError, OutputError
from composer.evaluate import compare_sets, write_report
from composer.evaluate.compare import bandwidth, cross, gaussian_kde, kde_setup, kl_divergence, overlap_area, pairwise
from composer.evaluate.features import FEATURE_NAMES
from composer.score import Note, Score, TimeSignature

TPQ = 480


def noise_piece(seed: int) -> Score:
    """Random chromatic pitches with random lengths: music in no key, no metre, no repetition."""
    rng = np.random.default_rng(seed)
    lengths = rng.choice([TPQ // 4, TPQ // 2, TPQ, 3 * TPQ // 2, 2 * TPQ], size=int(rng.integers(40, 160)))
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    pitches = rng.integers(48, 90, size=len(lengths))
    notes = [Note(int(p), int(s), int(d)) for p, s, d in zip(pitches, starts, lengths, strict=True)]
    return Score(notes=notes, tpq=TPQ, time_signatures=[TimeSignature(0, 4, 4)])


@pytest.fixture(scope="module")
def oneills(oneills_paths) -> list[Score]:
    """The first 100 tunes of O'Neill's (two files)."""
    from composer.io import load

    return load(oneills_paths[0]) + load(oneills_paths[1])


@pytest.fixture(scope="module")
def halves(oneills):
    return compare_sets(oneills[0::2], oneills[1::2])


@pytest.fixture(scope="module")
def versus_noise(oneills):
    return compare_sets([noise_piece(i) for i in range(50)], oneills)


def test_distances() -> None:
    x = np.array([[0.0, 0.0], [3.0, 4.0], [6.0, 8.0]])
    np.testing.assert_allclose(pairwise(x), [5.0, 10.0, 5.0])
    np.testing.assert_allclose(cross(x[:1], x), [0.0, 5.0, 10.0])


def test_kde_integrates_to_one_and_matches_direct_sum() -> None:
    rng = np.random.default_rng(0)
    samples = np.concatenate([rng.normal(0, 1, 300), rng.normal(5, 0.5, 100)])
    grid, (h,) = kde_setup([samples], 2048)
    assert h == pytest.approx(samples.std(ddof=1) * len(samples) ** -0.2)
    pdf = gaussian_kde(samples, grid, h)
    assert overlap_area(pdf, pdf, grid) == pytest.approx(1.0, abs=1e-3)
    direct = np.exp(-0.5 * ((grid[:, None] - samples[None, :]) / h) ** 2).sum(axis=1) / (
        len(samples) * h * np.sqrt(2 * np.pi)
    )
    np.testing.assert_allclose(pdf, direct, atol=2e-3 * direct.max())
    # Equal samples (all distances zero) still give a density the grid resolves.
    grid0, (h0,) = kde_setup([np.zeros(10)], 512)
    assert overlap_area(*(2 * [gaussian_kde(np.zeros(10), grid0, h0)]), grid0) == pytest.approx(1.0, abs=1e-3)


def test_bandwidth_rules() -> None:
    x = np.arange(32, dtype=float)
    assert bandwidth(x, "scott") == pytest.approx(x.std(ddof=1) * 32**-0.2)
    assert bandwidth(x, "silverman") == pytest.approx(x.std(ddof=1) * 24**-0.2)
    with pytest.raises(InputError, match="bandwidth"):
        bandwidth(x, "bogus")


def test_overlap_and_kl_of_known_densities() -> None:
    grid = np.linspace(-10, 20, 3001)
    p = np.exp(-0.5 * grid**2) / np.sqrt(2 * np.pi)
    q = np.exp(-0.5 * (grid - 10) ** 2) / np.sqrt(2 * np.pi)
    assert overlap_area(p, p, grid) == pytest.approx(1.0, abs=1e-6)
    assert overlap_area(p, q, grid) < 1e-5
    assert kl_divergence(p, p) == pytest.approx(0.0, abs=1e-12)
    shifted = np.exp(-0.5 * (grid - 1) ** 2) / np.sqrt(2 * np.pi)
    assert kl_divergence(p, shifted) == pytest.approx(0.5, abs=1e-3)  # KL of unit normals 1 apart


def test_identical_sets_overlap_fully(oneills) -> None:
    result = compare_sets(oneills[:60], oneills[:60])
    assert result.mean_overlap > 0.95
    assert max(r.kl for r in result.rows) < 0.1
    assert all(r.difference == 0 for r in result.rows if r.kind == "scalar")


def test_halves_of_oneills_overlap_more_than_noise(halves, versus_noise) -> None:
    assert halves.mean_overlap > 0.85
    assert versus_noise.mean_overlap < 0.6
    assert versus_noise.mean_overlap_generated < 0.4
    assert halves.mean_overlap - versus_noise.mean_overlap > 0.3
    scale = versus_noise.row("pitch_in_scale_rate")
    assert scale.overlap < 0.1 and scale.kl > 5
    assert scale.reference_mean > 0.95 and scale.generated_mean < 0.75
    assert abs(halves.absolute()["pitch_in_scale_rate"]["difference"]) < 0.03


def test_result_table_dict_and_determinism(oneills, halves) -> None:
    again = compare_sets(oneills[0::2], oneills[1::2])
    assert again.to_dict() == halves.to_dict()
    d = json.loads(json.dumps(halves.to_dict(), allow_nan=False))
    assert [f["name"] for f in d["features"]] == list(FEATURE_NAMES)
    assert d["n_generated"] == d["n_reference"] == 50
    assert d["mean_overlap"] == pytest.approx(halves.mean_overlap)
    assert len(d["features"][FEATURE_NAMES.index("pitch_class_histogram")]["reference_vector"]) == 12
    assert set(d["absolute"]) >= {"pitch_in_scale_rate", "polyphony", "groove_consistency"}
    table = halves.to_table()
    assert all(name in table for name in FEATURE_NAMES)
    assert f"mean overlap area {halves.mean_overlap:.3f}" in table


def test_too_few_pieces_is_an_input_error(oneills) -> None:
    with pytest.raises(InputError, match="at least 2"):
        compare_sets(oneills[:1], oneills)


def test_write_report(tmp_path, versus_noise) -> None:
    (tmp_path / "report").mkdir()  # an empty folder is fine to write into
    out = write_report(versus_noise, tmp_path / "report")
    data = json.loads((out / "report.json").read_text())
    assert data["mean_overlap"] == pytest.approx(versus_noise.mean_overlap)
    assert data["features"][0]["overlap"] == pytest.approx(versus_noise.rows[0].overlap)
    for name in [*FEATURE_NAMES, "summary"]:
        png = out / ("summary.png" if name == "summary" else f"features/{name}.png")
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", name
    page = (out / "report.html").read_text()
    assert page.count("data:image/png;base64,") == len(FEATURE_NAMES) + 1
    assert f"{versus_noise.mean_overlap:.3f}" in page
    with pytest.raises(OutputError, match="force"):
        write_report(versus_noise, out)
