"""A fresh venv holding only what pyproject.toml declares (and what that needs) runs a mistyped command cleanly.

An equivalent of README's install without a download: a new venv whose site-packages links, from the
test's own environment, exactly the closure of composer's runtime requirements, and composer itself as
an editable path. A module composer imports but does not declare (as `click`, which typer ≥ 0.2x no
longer installs) is missing there, as it would be for a new user. Runs in CI (about 10 s).
"""

from __future__ import annotations

import importlib.metadata as md
import subprocess
import sys
from pathlib import Path

import pytest

tomllib = pytest.importorskip("tomllib")
requirements = pytest.importorskip("packaging.requirements")

ROOT = Path(__file__).resolve().parents[2]


def runtime_closure(declared: list[str]) -> dict[str, md.Distribution]:
    """Every distribution the declared requirements need at run time (no extras), transitively."""
    found: dict[str, md.Distribution] = {}
    todo = [requirements.Requirement(r) for r in declared]
    while todo:
        req = todo.pop()
        if req.marker is not None and not req.marker.evaluate({"extra": ""}):
            continue
        dist = md.distribution(req.name)
        key = dist.metadata["Name"].lower().replace("_", "-")
        if key in found:
            continue
        found[key] = dist
        todo += [requirements.Requirement(r) for r in dist.requires or []]
    return found


def top_level_entries(dist: md.Distribution) -> set[str]:
    """The names a distribution puts straight into site-packages (packages, modules, .dist-info, .libs)."""
    names = set()
    for f in dist.files or []:
        first = f.parts[0]
        if first not in ("..", "__pycache__") and not first.endswith(".pth"):
            names.add(first)
    return names


@pytest.fixture(scope="module")
def fresh_python(tmp_path_factory: pytest.TempPathFactory) -> Path:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    venv = tmp_path_factory.mktemp("fresh") / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    site = next(venv.glob("lib/python*/site-packages"))
    for dist in runtime_closure(project["dependencies"]).values():
        for name in top_level_entries(dist):
            source = Path(dist.locate_file(name))
            if source.exists() and not (site / name).exists():
                (site / name).symlink_to(source)
    (site / "composer-editable.pth").write_text(f"{ROOT}\n")
    return venv / "bin" / "python"


def test_the_fresh_venv_holds_only_what_is_declared(fresh_python: Path) -> None:
    """The isolation is real: a dev-only package (pytest) is not importable there, torch and typer are."""
    probe = "import importlib.util as u; print(u.find_spec('pytest') is None, u.find_spec('torch') is not None, " \
            "u.find_spec('typer') is not None)"
    done = subprocess.run([str(fresh_python), "-c", probe], capture_output=True, text=True, timeout=60)
    assert done.stdout.split() == ["True", "True", "True"], done.stderr


@pytest.mark.parametrize(("args", "code"), [(["compose", "--bogus"], 2), (["compose", "--bars", "-1"], 1),
                                            (["info"], 2)])
def test_a_mistyped_command_in_a_fresh_venv_is_short(fresh_python: Path, args: list[str], code: int,
                                                    tmp_path: Path) -> None:
    module, _, function = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]["composer"].partition(":")
    entry = f"import sys; sys.argv[0] = 'composer'; from {module} import {function}; {function}()"
    done = subprocess.run([str(fresh_python), "-c", entry, *args], capture_output=True, text=True, cwd=tmp_path,
                          timeout=120)
    text = done.stdout + done.stderr
    assert "Traceback" not in text and done.returncode == code, text
    assert 1 <= len(text.strip().splitlines()) <= 3, text
