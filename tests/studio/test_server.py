"""composer studio's server: routes, the record it shares with the CLI, refusals, uploads, files, one model."""

from __future__ import annotations

import http.client
import inspect
import os
import tempfile
import threading
from pathlib import Path

import pytest

from tests.studio.helpers import POST, live_server, wait_done

pytest.importorskip("starlette", reason="composer studio needs starlette (pip install -e .)")
from starlette.testclient import TestClient  # noqa: E402

from composer.cli import main as cli_main  # noqa: E402
from composer.cli.music import compose as cli_compose  # noqa: E402
from composer.studio import jobs  # noqa: E402
from composer.studio.form import MAX_N, BadRequest, Settings, parse_settings  # noqa: E402
from composer.studio.server import create_app  # noqa: E402

UPLOAD_LIMIT = 200_000


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    root = tmp_path_factory.mktemp("compositions")
    app = create_app(None, root, limits=jobs.ReadLimits(max_file_bytes=UPLOAD_LIMIT))
    yield app
    app.state.studio.close()


@pytest.fixture(scope="module")
def client(app) -> TestClient:
    return TestClient(app, base_url="http://127.0.0.1")


@pytest.fixture
def quiet(app, monkeypatch):
    """Compose without audio and piano rolls: the tests that do not look at them run in a second or two."""
    monkeypatch.setattr(app.state.studio, "wav", False)
    monkeypatch.setattr(app.state.studio, "png", False)
    return app.state.studio


def compose(client: TestClient, **fields) -> dict:
    r = client.post("/api/compose", data={k: str(v) for k, v in fields.items()}, headers=POST)
    assert r.status_code == 202, r.text
    return wait_done(client, r.json()["id"])


def one_line_error(r) -> str:
    message = r.json()["error"]
    assert message and "\n" not in message and "Traceback" not in message, message
    return message


def test_page_options_and_vendored_abcjs(client: TestClient) -> None:
    page = client.get("/")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    for hook in ("seed-file", "seed-abc", "tune-type", "key", "meter", "temperature", "rng-seed", "n", "compose", "error"):
        assert f'id="{hook}"' in page.text, hook
    js = client.get("/static/vendor/abcjs-basic-min.js")
    assert js.status_code == 200 and len(js.content) > 100_000
    options = client.get("/api/options").json()
    assert "kesh" in options["seeds"] and "reel" in options["tune_types"] and "6/8" in options["meters"]
    assert options["defaults"]["n"] == 4


def test_without_fluidsynth_the_page_says_how_to_install_it(client: TestClient, monkeypatch) -> None:
    monkeypatch.setattr(jobs.shutil, "which", lambda name: None)
    options = client.get("/api/options").json()
    assert options["fluidsynth"] is False and "apt-get install fluidsynth" in options["fluidsynth_hint"]


def test_form_defaults_are_the_cli_defaults() -> None:
    cli = inspect.signature(cli_compose).parameters
    for name, value in Settings().to_dict().items():
        assert cli[name].default == value, name


@pytest.mark.parametrize("fields, word", [
    ({"temperature": "0"}, "temperature"), ({"temperature": "-1"}, "temperature"),
    ({"temperature": "nan"}, "temperature"), ({"temperature": "inf"}, "temperature"),
    ({"temperature": "hot"}, "temperature"), ({"top_p": "0"}, "top-p"), ({"top_p": "1.5"}, "top-p"),
    ({"top_p": "nan"}, "top-p"), ({"top_k": "0"}, "top-k"), ({"bars": "0"}, "bars"), ({"bars": "99999"}, "bars"),
    ({"n": "0"}, "n"), ({"n": str(MAX_N + 1)}, "n"), ({"n": "1e9"}, "n"), ({"rng_seed": "-1"}, "random seed"),
    ({"drafts": "0"}, "drafts"), ({"key": "H major"}, "key"), ({"tune_type": "disco"}, "tune type"),
    ({"meter": "13/7"}, "meter"), ({"seed_kind": "elsewhere"}, "seed"), ({"seed_name": "../../etc/passwd"}, "seed"),
])
def test_absurd_values_are_refused_in_one_line(client: TestClient, fields: dict, word: str) -> None:
    r = client.post("/api/compose", data=fields, headers=POST)
    assert r.status_code == 400
    assert word in one_line_error(r)


def test_settings_parse_what_the_page_sends() -> None:
    s = parse_settings({"n": "8", "bars": "4", "temperature": "1.1", "top_p": "0.9", "top_k": "", "rng_seed": "7",
                        "continuation_only": "1", "key": " D major "})
    assert (s.n, s.bars, s.temperature, s.top_p, s.top_k, s.rng_seed, s.key) == (8, 4, 1.1, 0.9, None, 7, "D major")
    assert s.compose_args()["include_seed"] is False
    with pytest.raises(BadRequest):
        parse_settings({"top_k": "2.5"})


def test_compose_writes_the_cli_layout_and_serves_every_file(client: TestClient, app) -> None:
    status = compose(client, seed_kind="bundled", seed_name="kesh", n=4, bars=4, rng_seed=11)
    assert status["stage"] == "done", status["error"]
    run = status["run"]
    folder = app.state.studio.root / run["folder"]
    names = sorted(p.name for p in folder.iterdir())
    assert names == ["index.html"] + [f"variation-0{i}{s}" for i in range(1, 5) for s in (".abc", ".mid", ".png", ".wav")]
    types = {"mid": "audio/midi", "wav": "audio/wav", "png": "image/png", "abc": "text/vnd.abc", "musicxml": "application/"}
    for card in run["variations"]:
        assert card["abc"].startswith("X:1") and "K:" in card["abc"]
        for kind, url in card["files"].items():
            r = client.get(url)
            assert r.status_code == 200 and r.headers["content-type"].startswith(types[kind]) and r.content, url
    history = client.get("/api/history").json()
    assert history[0]["folder"] == run["folder"] and history[0]["rng_seed"] == 11


def test_same_random_seed_same_music_as_the_cli(client: TestClient, quiet, tmp_path: Path) -> None:
    status = compose(client, seed_kind="bundled", seed_name="cooleys", n=2, bars=2, rng_seed=7)
    cli_main(["compose", str(jobs.bundled_seeds()["cooleys"]), "--n", "2", "--bars", "2", "--rng-seed", "7",
              "--no-wav", "--no-png", "--out", str(tmp_path)])
    ours, theirs = quiet.root / status["run"]["folder"], tmp_path / "cooleys"
    assert sorted(p.name for p in ours.iterdir()) == sorted(p.name for p in theirs.iterdir())
    for midi in theirs.glob("*.mid"):
        assert (ours / midi.name).read_bytes() == midi.read_bytes(), midi.name


def test_runs_never_overwrite_and_continue_from_a_variation(client: TestClient, quiet) -> None:
    first = compose(client, seed_kind="bundled", seed_name="drowsy_maggie", n=1, bars=1, rng_seed=3)
    again = compose(client, seed_kind="bundled", seed_name="drowsy_maggie", n=1, bars=1, rng_seed=4)
    assert (first["run"]["folder"], again["run"]["folder"]) == ("drowsy_maggie", "drowsy_maggie-2")
    path = first["run"]["variations"][0]["midi_path"]
    onward = compose(client, seed_kind="continue", continue_from=path, n=2, bars=1, rng_seed=5)
    assert onward["stage"] == "done" and onward["seed"] == path and len(onward["run"]["variations"]) == 2


def test_pasted_abc_and_labels_only(client: TestClient, quiet) -> None:
    abc = "X:1\nT:Little\nM:6/8\nL:1/8\nK:G\nGAB c2d|e2d cBA|GAB c2d|BAG G3|]\n"
    pasted = compose(client, seed_kind="abc", seed_abc=abc, n=1, bars=1)
    assert pasted["stage"] == "done" and pasted["seed"].startswith("Little")
    labels = compose(client, seed_kind="none", tune_type="reel", key="D major", n=1, bars=2, drafts=1)
    assert labels["stage"] == "done" and labels["run"]["folder"].startswith("reel")


@pytest.mark.parametrize("name, data, word", [
    ("junk.mid", b"not a midi file at all", "MThd"),
    ("empty.abc", b"", "empty"),
    ("notes.txt", b"X:1\nK:C\nCDE|", "unknown file type"),
    ("big.mid", b"MThd" + b"\0" * UPLOAD_LIMIT, "limit"),
    ("broken.abc", b"X:1\nT:x\nM:999999/1\nK:C\n" + b"C" * 5000 + b"|\n", "broken.abc: "),
    ("../../evil.mid", b"garbage\xff\xfe", "evil.mid: "),
])
def test_bad_uploads_get_one_line_and_the_server_keeps_serving(client: TestClient, name, data, word) -> None:
    temps = set(Path(tempfile.gettempdir()).glob("composer-studio-*"))
    for url in ("/api/seed", "/api/compose"):
        r = client.post(url, data={"seed_kind": "upload"}, files={"seed_file": (name, data)}, headers=POST)
        assert r.status_code == 400 and word in one_line_error(r), r.text
    assert client.get("/api/options").status_code == 200
    assert set(Path(tempfile.gettempdir()).glob("composer-studio-*")) <= temps, "a refused upload left its temp folder"


def test_a_streamed_upload_is_cut_off_at_the_limit(client: TestClient) -> None:
    def chunks():
        yield b"--b\r\nContent-Disposition: form-data; name=\"seed_file\"; filename=\"huge.mid\"\r\n\r\n"
        for _ in range(40):
            yield b"\0" * 65536

    r = client.post("/api/seed", content=chunks(), headers={**POST, "content-type": "multipart/form-data; boundary=b"})
    assert r.status_code == 400 and "limit" in one_line_error(r)


def test_a_reader_that_hangs_is_cut_off_and_the_checker_recovers(client: TestClient, monkeypatch) -> None:
    abc = {"seed_kind": "abc", "seed_abc": "X:1\nT:t\nM:6/8\nK:G\nGAB c2d|"}
    monkeypatch.setattr(jobs, "SEED_CHECK_TIMEOUT_S", 0.001)
    r = client.post("/api/seed", data=abc, headers=POST)
    assert r.status_code == 400 and "took over" in one_line_error(r)
    monkeypatch.undo()
    assert client.post("/api/seed", data=abc, headers=POST).json()["notes"] == 5


def test_upload_fuzz_never_crashes(client: TestClient, tmp_path: Path) -> None:
    from tests.fuzz_inputs import make_case, midi_seeds, oneills_tunes

    midi, tunes = midi_seeds(tmp_path, tunes=3), oneills_tunes(30)
    outcomes: dict[str, int] = {}
    cases = [(f, i) for f in ("midi_mut", "midi_hostile", "abc_mut", "abc_random") for i in range(12)]
    for family, i in cases + [("abc_mut", 100), ("abc_mut", 102)]:  # music21 put newlines in these two's errors
        data, suffix = make_case(family, i, midi, tunes)
        r = client.post("/api/seed", data={"seed_kind": "upload"}, files={"seed_file": (f"case{suffix}", data)},
                        headers=POST)
        assert r.status_code in (200, 400), (family, i, r.status_code, r.text)
        assert "crash" not in r.json(), (family, i, r.json())
        if r.status_code == 400:
            one_line_error(r)
        outcomes[str(r.status_code)] = outcomes.get(str(r.status_code), 0) + 1
    assert outcomes.get("400", 0) > 0, outcomes


ATTACKS = ["/files/../pyproject.toml", "/files/../../../../etc/passwd", "/files/%2e%2e/%2e%2e/etc/passwd",
           "/files/%2E%2E%2Fsecret.txt", "/files/..%2f..%2fetc%2fpasswd", "/files//etc/passwd", "/files/%2fetc%2fpasswd",
           "/files/%252e%252e/secret.txt", "/files/run/..%5c..%5csecret.txt", "/files/run\\..\\..\\secret.txt",
           "/files/.studio-log.jsonl", "/files/run/link.mid", "/files/run/%00.mid", "/files/C:/secret.txt",
           "/files/run/../../secret.txt", "/static/../jobs.py", "/static/%2e%2e/jobs.py", "/api/runs/..%2f..",
           "/api/runs/%2e%2e"]


def test_files_come_only_from_the_compositions_folder(app) -> None:
    root = app.state.studio.root
    outside = root.parent / "secret.txt"
    outside.write_text("secret")
    (root / "run").mkdir(exist_ok=True)
    (root / "run" / "link.mid").unlink(missing_ok=True)
    os.symlink(outside, root / "run" / "link.mid")
    (root / "run" / "ok.mid").write_bytes(b"MThd")
    with live_server(app) as url:
        conn = http.client.HTTPConnection(url.removeprefix("http://"))
        for attack in ATTACKS:
            conn.request("GET", attack)
            r = conn.getresponse()
            body = r.read()
            assert r.status in (400, 404) and b"secret" not in body and b"root:" not in body, (attack, r.status, body)
        conn.request("GET", "/files/run/ok.mid")
        assert conn.getresponse().status == 200


def test_cross_site_posts_and_foreign_hosts_are_refused(client: TestClient) -> None:
    assert client.post("/api/compose", data={"n": "1"}).status_code == 403
    assert client.get("/", headers={"host": "attacker.example"}).status_code == 400


def test_twenty_requests_at_once_share_one_model(tmp_path: Path, monkeypatch) -> None:
    from composer.generate.composer import Composer

    loads = []
    real = Composer.load.__func__
    monkeypatch.setattr(Composer, "load", classmethod(lambda cls, *a, **k: loads.append(1) or real(cls, *a, **k)))
    app = create_app(None, tmp_path, wav=False, png=False)
    client = TestClient(app, base_url="http://127.0.0.1")
    ids, errors = [], []

    def send(i: int) -> None:
        r = client.post("/api/compose", data={"seed_kind": "bundled", "seed_name": "kesh", "n": "1", "bars": "1",
                                              "rng_seed": str(i)}, headers=POST)
        (ids if r.status_code == 202 else errors).append(r.json().get("id", r.text))

    threads = [threading.Thread(target=send, args=(i,)) for i in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and len(ids) == 20
    assert all(wait_done(client, i)["stage"] == "done" for i in ids)
    assert len(loads) == 1 and len(list(tmp_path.glob("kesh*"))) == 20
    app.state.studio.close()


def test_studio_command_refuses_a_taken_port_in_one_line(capsys) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        with pytest.raises(SystemExit) as done:
            cli_main(["studio", "--no-browser", "--port", str(taken.getsockname()[1])])
    assert done.value.code == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: cannot listen on 127.0.0.1:") and "--port" in err and "\n" not in err
