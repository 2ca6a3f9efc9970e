"""composer studio against `composer compose`, as ratios measured in the same run.

    python bench/studio.py [--n 4] [--bars 16] [--requests 20] [--repeats 2]

Prints:
  1. seconds from starting `composer studio` to four variations playable (server up, page loaded,
     compose sent, WAVs fetched) vs `composer compose` with the same settings, both as fresh
     processes (goal: ≤ 1.10×); and the same without start-up: a studio job vs `compose_to_folder`
     on an already loaded model;
  2. page load: the page, its script, style, abcjs, options and history fetched (goal < 1 s), and
     the browser's own load event where playwright and chromium are installed;
  3. `--requests` compose requests sent at once to a fresh server: all answered, the model loaded
     once, and the server's peak RSS vs a single request's (goal: within 300 MB);
  4. the fuzz suite's mutated files (tests/fuzz_inputs.py, as many cases as tests/test_fuzz.py)
     sent as uploads: crashes (goal 0), and path-traversal attempts answered with a file (goal 0).
"""

from __future__ import annotations

import argparse
import http.client
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx2 as httpx

ROOT = Path(__file__).resolve().parent.parent
COMPOSER = str(Path(sys.executable).with_name("composer"))
POST = {"x-composer-studio": "1"}


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """`composer studio` as a fresh process on a free port, writing into its own folder."""

    def __init__(self, out: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.started = time.perf_counter()
        self.process = subprocess.Popen([COMPOSER, "studio", "--no-browser", "--port", str(self.port), "--out", str(out)],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        self.client = httpx.Client(base_url=self.url, timeout=600)
        while True:
            try:
                if self.client.get("/api/options").status_code == 200:
                    break
            except httpx.TransportError:
                if self.process.poll() is not None:
                    raise SystemExit(f"composer studio died: {self.process.stderr.read().decode()[-500:]}") from None
                time.sleep(0.05)

    def compose(self, fields: dict) -> dict:
        """Send one compose request and wait for it; its last status."""
        r = self.client.post("/api/compose", data={k: str(v) for k, v in fields.items()}, headers=POST)
        r.raise_for_status()
        job = r.json()["id"]
        while (status := self.client.get(f"/api/jobs/{job}").json())["stage"] not in ("done", "failed"):
            time.sleep(0.05)
        if status["stage"] != "done":
            raise SystemExit(f"compose failed: {status['error']}")
        return status

    def peak_rss_mb(self) -> float:
        """The server process's peak resident memory (VmHWM), in MB."""
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
        return float("nan")

    def stop(self) -> None:
        self.client.close()
        self.process.terminate()
        self.process.wait(timeout=30)


def page_seconds(client: httpx.Client) -> float:
    """Seconds to fetch everything the page loads before it is usable."""
    start = time.perf_counter()
    for url in ("/", "/static/app.js", "/static/style.css", "/static/vendor/abcjs-basic-min.js", "/api/options",
                "/api/history"):
        client.get(url).raise_for_status()
    return time.perf_counter() - start


def browser_load_seconds(url: str) -> float | None:
    """The browser's navigation-to-load-event time for the page, where playwright and chromium exist."""
    chromium = shutil.which("chromium")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        return None
    if chromium is None:
        return None
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        page = browser.new_page()
        page.goto(url, wait_until="load")
        page.wait_for_function("document.querySelectorAll('#seed-name option').length > 0")
        ms = page.evaluate("performance.now()")
        browser.close()
    return ms / 1000


def studio_to_playing(fields: dict, out: Path) -> tuple[float, float, Server]:
    """Seconds from starting the studio to its variations' WAVs fetched, and the page's load time."""
    server = Server(out)
    page = page_seconds(server.client)
    status = server.compose(fields)
    for card in status["run"]["variations"]:
        server.client.get(card["files"]["wav"]).raise_for_status()
    return time.perf_counter() - server.started, page, server


def cli_seconds(args: argparse.Namespace, out: Path) -> float:
    start = time.perf_counter()
    subprocess.run([COMPOSER, "compose", str(ROOT / "midi_corpus/seeds/kesh.abc"), "--n", str(args.n), "--bars",
                    str(args.bars), "--rng-seed", "1", "--out", str(out)], check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def in_process(args: argparse.Namespace, out: Path) -> tuple[float, float]:
    """A studio job vs compose_to_folder on the same loaded model: seconds each (no start-up in either)."""
    from starlette.testclient import TestClient

    from composer.render.folder import compose_to_folder
    from composer.studio.server import create_app

    app = create_app(None, out / "studio")
    client = TestClient(app, base_url="http://127.0.0.1")
    fields = {"seed_kind": "bundled", "seed_name": "kesh", "n": args.n, "bars": args.bars, "rng_seed": 1}
    direct, studio = [], []
    compose_to_folder(app.state.studio.composer, out / "warm-up", n=1, bars=1, wav=True, png=True)
    for _ in range(args.repeats):
        start = time.perf_counter()
        compose_to_folder(app.state.studio.composer, out / "direct", seed=ROOT / "midi_corpus/seeds/kesh.abc",
                          n=args.n, bars=args.bars, temperature=0.9, rng_seed=1)
        direct.append(time.perf_counter() - start)
        start = time.perf_counter()
        r = client.post("/api/compose", data={k: str(v) for k, v in fields.items()}, headers=POST)
        while client.get(f"/api/jobs/{r.json()['id']}").json()["stage"] not in ("done", "failed"):
            time.sleep(0.05)
        studio.append(time.perf_counter() - start)
    app.state.studio.close()
    return statistics.median(studio), statistics.median(direct)


def concurrent(args: argparse.Namespace, out: Path) -> None:
    fields = {"seed_kind": "bundled", "seed_name": "kesh", "n": args.n, "bars": args.load_bars}
    one = Server(out / "one")
    one.compose(fields)
    single = one.peak_rss_mb()
    one.stop()
    many = Server(out / "many")
    answered, errors = [], []

    def send() -> None:
        try:
            answered.append(many.compose(fields)["stage"])
        except (SystemExit, httpx.HTTPError) as e:
            errors.append(str(e))

    start = time.perf_counter()
    threads = [threading.Thread(target=send) for _ in range(args.requests)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    seconds, peak = time.perf_counter() - start, many.peak_rss_mb()
    runs = many.client.get("/api/history").json()
    many.stop()
    print(f"3. {args.requests} requests at once (n {args.n}, bars {args.load_bars}): {len(answered)} answered, "
          f"{len(errors)} refused/failed, {len(runs)} runs written, {seconds:.1f} s; peak RSS {peak:.0f} MB vs "
          f"{single:.0f} MB for one request (+{peak - single:.0f} MB, {peak / single:.2f}x; goal within 300 MB)")
    print("   one model: the server loads its checkpoint once, in create_app (tests/studio/test_server.py counts the loads)")


def fuzz(out: Path) -> None:
    """Every fuzz case as an upload to an in-process server, then the traversal attacks of the tests."""
    sys.path.insert(0, str(ROOT))
    from fuzz_inputs import make_case, midi_seeds, oneills_tunes
    from starlette.testclient import TestClient

    from composer.studio.server import create_app
    from tests.studio.helpers import live_server
    from tests.studio.test_server import ATTACKS

    app = create_app(None, out / "fuzz")
    client = TestClient(app, base_url="http://127.0.0.1", raise_server_exceptions=False)
    (out / "fuzz-seeds").mkdir()
    midi, tunes = midi_seeds(out / "fuzz-seeds", tunes=8), oneills_tunes(30)
    counts, crashes, slowest = {"200": 0, "400": 0}, [], 0.0
    for family, n in (("midi_mut", 250), ("midi_hostile", 100), ("abc_mut", 150), ("abc_random", 50)):
        for i in range(n):
            data, suffix = make_case(family, i, midi, tunes)
            start = time.perf_counter()
            r = client.post("/api/seed", data={"seed_kind": "upload"}, files={"seed_file": (f"case{suffix}", data)},
                            headers=POST)
            slowest = max(slowest, time.perf_counter() - start)
            one_line = r.status_code == 400 and "\n" not in r.json().get("error", "\n")
            if r.status_code not in (200, 400) or "crash" in r.json() or (r.status_code == 400 and not one_line):
                crashes.append(f"{family} {i}: {r.status_code} {r.text[:120]}")
            counts[str(r.status_code)] = counts.get(str(r.status_code), 0) + 1
    served = 0
    with live_server(app) as url:  # raw HTTP: a client library would tidy `..` away before sending
        conn = http.client.HTTPConnection(url.removeprefix("http://"))
        for attack in ATTACKS:
            conn.request("GET", attack)
            response = conn.getresponse()
            response.read()
            served += response.status == 200
    app.state.studio.close()
    print(f"4. upload fuzz: {sum(counts.values())} cases, {counts['200']} read, {counts['400']} refused in one line, "
          f"{len(crashes)} crashes (goal 0), slowest {slowest:.2f} s; {served} of {len(ATTACKS)} traversal attempts "
          f"served a file (goal 0)")
    for line in crashes[:10]:
        print("   " + line)


def start_up(args: argparse.Namespace, fields: dict, out: Path) -> None:
    """Figures 1 and 2: CLI and studio runs alternate (which goes first flips) so drift in load cancels."""
    cli, studio, pages, browser = [], [], [], None
    for i in range(args.repeats):
        for which in ("cli", "studio") if i % 2 == 0 else ("studio", "cli"):
            if which == "cli":
                cli.append(cli_seconds(args, out / f"cli{i}"))
                continue
            seconds, page, server = studio_to_playing(fields, out / f"studio{i}")
            studio.append(seconds)
            pages.append(page)
            if i == 0:
                browser = browser_load_seconds(server.url)
            server.stop()
    s, c = statistics.median(studio), statistics.median(cli)
    print(f"1. start to {args.n} variations playable (n {args.n}, bars {args.bars}, median of {args.repeats}): "
          f"composer studio {s:.1f} s vs composer compose {c:.1f} s: {s / c:.2f}x (goal <= 1.10x); "
          f"each run: studio {', '.join(f'{x:.1f}' for x in studio)}, cli {', '.join(f'{x:.1f}' for x in cli)}")
    job, direct = in_process(args, out)
    print(f"   on a loaded model: studio job {job:.1f} s vs compose_to_folder {direct:.1f} s: {job / direct:.2f}x")
    line = f"2. page load: {statistics.median(pages) * 1000:.0f} ms to fetch the page and everything it loads"
    print(line + (f"; chromium's load event + form filled {browser * 1000:.0f} ms" if browser else
                  "; (no playwright/chromium: browser timing skipped)") + " (goal < 1 s)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=4)
    parser.add_argument("--bars", type=int, default=16)
    parser.add_argument("--load-bars", type=int, default=4, help="bars per request in the concurrency test")
    parser.add_argument("--requests", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--parts", default="1,2,3,4", help="which figures to measure (1 and 2 share their runs)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        fields = {"seed_kind": "bundled", "seed_name": "kesh", "n": args.n, "bars": args.bars, "rng_seed": 1}
        parts = set(args.parts.split(","))
        if parts & {"1", "2"}:
            start_up(args, fields, out)
        if "3" in parts:
            concurrent(args, out)
        if "4" in parts:
            fuzz(out)


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main()
