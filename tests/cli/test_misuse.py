"""Every subcommand × unknown option / missing argument / wrong type / each out-of-range value / unwritable
output: exit 2 (usage) or 1 (value), never a traceback, at most 3 lines — run in fresh interpreters."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SEEDS = ROOT / "midi_corpus" / "seeds"
CKPT = ROOT / "checkpoints" / "default.pt"

# One interpreter runs many cases (start-up is most of a case's cost): each through `main` with its own
# argv, stdout/stderr captured, and an escaping exception printed the way the interpreter would print it.
RUNNER = r"""
import contextlib, io, json, sys, traceback
from composer.cli import main
results = []
for argv in json.loads(sys.argv[1]):
    out, err, code = io.StringIO(), io.StringIO(), 0
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            main(argv)
        except SystemExit as e:
            code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
        except BaseException:
            traceback.print_exc()
            code = 1
    results.append({"argv": argv, "code": code, "out": out.getvalue(), "err": err.getvalue()})
print(json.dumps(results))
"""

USAGE = [  # exit 2: typer's usage line and one error line
    *[[*cmd, "--bogus"] for cmd in (["tokenize", "x", "--out", "y"], ["corpus", "build", "seeds"], ["baseline", "x"],
                                    ["compose"], ["render", "x.mid"], ["evaluate"], ["classify", "train", "x", "--out", "y"],
                                    ["classify", "predict", "x", "-c", "y"], ["train"], ["fit-cache", "a", "b", "--out", "c"],
                                    ["fit-probe", "a", "b", "--out", "c"], ["export", "a", "b"], ["info", "a"])],
    ["tokenize", "x"], ["tokenize", "--out", "y"], ["corpus", "build"], ["baseline"], ["render"], ["info"],
    ["export", "a"], ["classify", "train", "x"], ["classify", "predict", "x"], ["fit-cache", "a", "b"],
    ["fit-probe", "a"], ["compose", "a.abc", "b.abc"],
    ["compose", "--n", "abc"], ["compose", "--bars", "1.5"], ["compose", "--temperature", "warm"],
    ["compose", "--top-k", "x"], ["compose", "--rng-seed", "x"], ["render", "x.mid", "--qpm", "fast"],
    ["tokenize", "x", "--out", "y", "-j", "two"], ["train", "--epochs", "x"], ["train", "--lr", "x"],
    ["evaluate", "--n", "x"], ["baseline", "x", "--split-seed", "x"], ["fit-cache", "a", "b", "--out", "c", "--pieces", "x"],
    ["fit-probe", "a", "b", "--out", "c", "--drafts", "x"], ["classify", "train", "x", "--out", "y", "--epochs", "x"],
]

VALUES = [  # exit 1: one line naming the option and its range
    *[["compose", option, value] for option, values in {
        "--n": ("0", "-3", "100000"), "--bars": ("0", "-1", "100000"), "--temperature": ("0", "-1", "nan", "inf"),
        "--top-k": ("0", "-1"), "--top-p": ("0", "2", "-0.5", "nan"), "--drafts": ("0", "1000"), "--rng-seed": ("-1",),
    }.items() for value in values],
    *[["render", "x.mid", option, value] for option, value in (("--program", "128"), ("--program", "-1"),
                                                                ("--qpm", "0"), ("--qpm", "nan"), ("--qpm", "5000"))],
    *[["train", "DATA", "--out", "RUN", option, value] for option, value in (
        ("--epochs", "0"), ("--layers", "0"), ("--hidden", "0"), ("--emb", "-1"), ("--dropout", "1"), ("--dropout", "-0.1"),
        ("--seq-len", "1"), ("--batch-size", "0"), ("--lr", "0"), ("--lr", "nan"), ("--warmup-steps", "-1"),
        ("--max-minutes", "0"), ("--max-steps", "0"), ("--log-every", "0"), ("--checkpoint-every", "0"),
        ("--preview-every", "-1"), ("--seed", "-1"), ("--transpose", "3"), ("--transpose", "6,-5"))],
    ["tokenize", "x", "--out", "y", "-j", "0"], ["baseline", "x", "--val-fraction", "0"],
    ["baseline", "x", "--val-fraction", "1"], ["baseline", "x", "--orders", "0-3"], ["baseline", "x", "--orders", "a"],
    ["evaluate", "--n", "0"], ["evaluate", "--temperature", "0"], ["evaluate", "--drafts", "0"],
    ["classify", "train", "x", "--out", "y", "--epochs", "0"], ["classify", "train", "x", "--out", "y", "--hidden", "0"],
    ["fit-cache", "a", "b", "--out", "c", "--pieces", "0"], ["fit-cache", "a", "b", "--out", "c", "--window", "0"],
    ["fit-probe", "a", "b", "--out", "c", "--drafts", "0"], ["train"], ["train", "--resume", "r", "--init", "c"],
    ["evaluate"], ["corpus", "build", "nonesuch"], ["tokenize", "x", "--out", "y", "-t", "nonesuch"],
]


def run_cases(cases: list[list[str]], cwd: Path) -> list[dict]:
    """Run every case in one fresh interpreter (the test's own Python, COLUMNS fixed for typer)."""
    env = {**os.environ, "COLUMNS": "100", "PYTHONWARNINGS": "default"}
    done = subprocess.run([sys.executable, "-c", RUNNER, json.dumps(cases)], capture_output=True, text=True,
                          cwd=cwd, env=env, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout)


def assert_short(result: dict, code: int) -> None:
    text = result["out"] + result["err"]
    assert "Traceback" not in text, f"{result['argv']}:\n{text}"
    assert result["code"] == code, f"{result['argv']} exited {result['code']}, not {code}:\n{text}"
    assert len(text.strip().splitlines()) <= 3, f"{result['argv']} printed more than 3 lines:\n{text}"


def test_usage_mistakes_exit_2_with_one_error_line(tmp_path: Path) -> None:
    for result in run_cases(USAGE, tmp_path):
        assert_short(result, 2)
        assert result["err"].startswith("Usage: composer "), result
        assert "error: " in result["err"], result


def test_bad_values_exit_1_naming_the_option_and_range(tmp_path: Path) -> None:
    for result in run_cases(VALUES, tmp_path):
        assert_short(result, 1)
        assert result["err"].startswith("error: ") and result["out"] == "", result
        option = next((a for a in result["argv"][1:] if a.startswith("--") and a not in ("--out", "--init")), None)
        if option is not None and option != "-t":
            assert option in result["err"], result


def test_unwritable_outputs_are_one_line(tmp_path: Path) -> None:
    a_file = tmp_path / "a-file"
    a_file.write_text("not a folder")
    tune = tmp_path / "kesh.abc"
    shutil.copy(SEEDS / "kesh.abc", tune)
    (tmp_path / "kesh.png").mkdir()  # render's output name is taken by a folder
    cases = [["compose", "--out", str(a_file)], ["compose", "--out", str(a_file / "sub")],
             ["compose", "--out", "/proc/composer-cannot-write-here"],
             ["tokenize", str(tune), "--out", str(a_file)],
             ["render", str(tune), "--png"], ["render", str(tune), "--png", "--force"],
             ["export", str(CKPT), str(a_file / "x.pt")], ["export", str(CKPT), str(a_file)],
             ["evaluate", str(CKPT), str(tmp_path), "--out", str(a_file)]]
    for result in run_cases(cases, tmp_path):
        assert_short(result, 1)
        assert result["err"].startswith("error: "), result
    assert a_file.read_text() == "not a folder"


def test_real_entry_point_and_help(tmp_path: Path) -> None:
    """`python -m composer` itself: a usage mistake, a bad value, --help with config defaults and --debug."""
    def composer(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "composer", *args], capture_output=True, text=True, cwd=tmp_path,
                              env={**os.environ, "COLUMNS": "200"}, timeout=120)

    bogus = composer("compose", "--bogus")
    assert bogus.returncode == 2 and "No such option: --bogus" in bogus.stderr and "Traceback" not in bogus.stderr
    bad = composer("compose", "--temperature", "0")
    assert bad.returncode == 1 and bad.stderr == "error: --temperature must be > 0, not 0.0\n"
    debug = composer("--debug", "compose", "--temperature", "0")
    assert debug.returncode == 1 and "Traceback" in debug.stderr
    top = composer("--help")
    assert top.returncode == 0 and "--debug" in top.stdout
    train = composer("train", "--help")
    assert train.returncode == 0
    lines = " ".join(train.stdout.split())
    for option, default in (("--epochs", "20"), ("--warmup-steps", "200"), ("--hidden", "512"), ("--transpose", "-5,6")):
        assert option in lines and f"[default: ({default})]" in lines, (option, train.stdout)


@pytest.mark.parametrize("command", [["compose", "--help"], ["render", "--help"], ["tokenize", "--help"],
                                     ["evaluate", "--help"], ["baseline", "--help"]])
def test_every_help_shows_defaults(command: list[str], tmp_path: Path) -> None:
    result = run_cases([command], tmp_path)[0]
    assert result["code"] == 0 and "[default:" in result["out"], result


@pytest.fixture(scope="module")
def shipped():
    from composer.generate.composer import Composer

    return Composer.load(CKPT, device="cpu")


@pytest.mark.parametrize("bad", [{"temperature": 0.0}, {"temperature": -1.0}, {"temperature": float("nan")},
                                 {"top_k": 0}, {"top_p": 2.0}, {"top_p": float("nan")}, {"bars": 0}, {"n": 0}])
def test_the_library_refuses_what_the_cli_refuses(bad: dict, shipped) -> None:
    """API users get the same rules as the command line: an InputError, never a silent greedy or empty piece."""
    from composer.errors import InputError

    with pytest.raises(InputError, match=next(iter(bad))):
        shipped.compose(**{"n": 1, "bars": 1, "rng_seed": 0, **bad})
