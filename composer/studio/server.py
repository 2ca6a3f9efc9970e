"""The studio's web server (Starlette): the page, a small JSON API over `Studio`, and the compositions' files.

Safe by default: it binds 127.0.0.1, answers only to local host names (no DNS rebinding), takes POSTs
only with the page's own header (no cross-site requests), and serves files only from inside the
compositions folder.
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import threading
import time
import webbrowser
from collections.abc import AsyncIterator
from pathlib import Path, PurePosixPath
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from composer.studio.form import BadRequest, one_line, parse_settings, seed_kind
from composer.studio.jobs import Studio, StudioStartError, default_seed_name

STATIC = Path(__file__).resolve().parent / "static"
CONTENT_TYPES = {".mid": "audio/midi", ".wav": "audio/wav", ".png": "image/png", ".abc": "text/vnd.abc; charset=utf-8",
                 ".musicxml": "application/vnd.recordare.musicxml+xml", ".html": "text/html; charset=utf-8"}
PAGE_HEADER = "x-composer-studio"  # the page sends it on every POST; a cross-site form cannot without asking
LOCAL_HOSTS = ("127.0.0.1", "localhost", "[::1]", "::1")


def create_app(checkpoint: str | Path | None = None, compositions: str | Path = "compositions", *,
               host: str = "127.0.0.1", studio: Studio | None = None, **studio_args: Any) -> Starlette:
    """The studio app: loads the checkpoint once (None: the shipped model) and writes runs under `compositions`."""
    studio = studio or Studio(checkpoint, compositions, **studio_args)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        await run_in_threadpool(studio.close)

    hosts = ["*"] if host in ("0.0.0.0", "::") else [*LOCAL_HOSTS, host]
    app = Starlette(
        routes=[
            Route("/", _page), Route("/api/options", _options), Route("/api/history", _history),
            Route("/api/seed", _seed, methods=["POST"]), Route("/api/compose", _compose, methods=["POST"]),
            Route("/api/jobs/{job_id}", _job), Route("/api/runs/{name}", _run),
            Route("/files/{path:path}", _file), Mount("/static", StaticFiles(directory=STATIC), name="static"),
        ],
        middleware=[Middleware(TrustedHostMiddleware, allowed_hosts=hosts, www_redirect=False),
                    Middleware(BodyLimit, limit=studio.limits.max_file_bytes + 65536)],
        exception_handlers={BadRequest: _bad_request, HTTPException: _http_error, Exception: _crash},
        lifespan=lifespan)
    app.state.studio = studio
    return app


# --- routes ----------------------------------------------------------------------------------------
async def _page(request: Request) -> Response:
    return FileResponse(STATIC / "index.html", headers={"cache-control": "no-cache"})


async def _options(request: Request) -> Response:
    return JSONResponse(_studio(request).options())


async def _history(request: Request) -> Response:
    return JSONResponse(await run_in_threadpool(_studio(request).history))


async def _seed(request: Request) -> Response:
    """Read an uploaded or pasted seed under ReadLimits and describe it (the page shows it before composing)."""
    form = await _form(request)
    path, facts = await _upload(request, form, seed_kind(form))
    shutil.rmtree(path.parent, ignore_errors=True)
    return JSONResponse(facts)


async def _compose(request: Request) -> Response:
    """Check the request, resolve its seed, and queue it: 202 with the job's id to poll."""
    studio = _studio(request)
    form = await _form(request)
    settings, kind = parse_settings(form, studio.labels()), seed_kind(form)
    cleanup = None
    if kind == "none":
        seed, label = None, "none (labels only)"
    elif kind == "bundled":
        label = _field(form, "seed_name") or default_seed_name()
        seed = studio.bundled(label)
    elif kind == "continue":
        seed = safe_file(studio.root, _field(form, "continue_from"), (".mid",))
        label = seed.relative_to(studio.root).as_posix()
    else:
        seed, facts = await _upload(request, form, kind)
        label, cleanup = f"{facts['title']} ({'pasted ABC' if kind == 'abc' else seed.name})", seed.parent
    try:
        job = studio.submit(settings, seed, label, cleanup)
    except BadRequest:
        if cleanup is not None:
            shutil.rmtree(cleanup, ignore_errors=True)
        raise
    return JSONResponse({"id": job.id, "rng_seed": job.settings.rng_seed}, status_code=202)


async def _job(request: Request) -> Response:
    status = await run_in_threadpool(_studio(request).status, request.path_params["job_id"])
    if status is None:
        raise HTTPException(404, "no such job (the server may have restarted)")
    return JSONResponse(status)


async def _run(request: Request) -> Response:
    return JSONResponse(await run_in_threadpool(_studio(request).run_view, request.path_params["name"]))


async def _file(request: Request) -> Response:
    path = safe_file(_studio(request).root, request.path_params["path"], tuple(CONTENT_TYPES))
    return FileResponse(path, media_type=CONTENT_TYPES[path.suffix],
                        headers={"x-content-type-options": "nosniff", "cache-control": "no-cache"})


# --- helpers -----------------------------------------------------------------------------------------
class BodyLimit:
    """Refuses a request body past `limit` bytes as it streams in, with or without a Content-Length."""

    def __init__(self, app: Any, limit: int) -> None:
        self.app, self.limit = app, limit

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        seen = 0

        async def counted() -> Any:
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > self.limit:
                raise BadRequest(f"the upload is over the limit of {self.limit - 65536:,} bytes")
            return message

        await self.app(scope, counted if scope["type"] == "http" else receive, send)


def safe_file(root: Path, relative: str, suffixes: tuple[str, ...]) -> Path:
    """The file `relative` names inside `root`; 404 for anything else (.., absolute, hidden, links out, other types)."""
    parts = PurePosixPath(relative).parts if relative else ()
    if (not parts or relative.startswith("/") or "\\" in relative or "\0" in relative or ":" in relative
            or any(p in (".", "..") or p.startswith(".") for p in parts)):
        raise HTTPException(404, "no such file in the compositions folder")
    path = (root / relative).resolve()
    if not path.is_relative_to(root) or not path.is_file() or path.suffix not in suffixes:
        raise HTTPException(404, "no such file in the compositions folder")
    return path


async def _form(request: Request) -> Any:
    """The request's form, refusing a cross-site POST and an oversized body in one line."""
    if request.headers.get(PAGE_HEADER) != "1":
        raise HTTPException(403, "requests must come from the studio page")
    limit = _studio(request).limits.max_file_bytes
    if int(request.headers.get("content-length") or 0) > limit + 65536:
        raise BadRequest(f"the upload is over the limit of {limit:,} bytes")
    try:
        return await request.form(max_files=1, max_fields=40, max_part_size=limit)
    except HTTPException as e:
        raise BadRequest(f"the form could not be read: {e.detail}") from None


async def _upload(request: Request, form: Any, kind: str) -> tuple[Path, dict[str, Any]]:
    """Save and read an uploaded file (kind 'upload') or pasted ABC text (kind 'abc') as a seed."""
    studio = _studio(request)
    if kind == "abc":
        text = _field(form, "seed_abc")
        if not text:
            raise BadRequest("paste an ABC tune into the box first (X:, T:, M:, K: lines and the notes)")
        return await run_in_threadpool(studio.upload, text.encode("utf-8"), "pasted.abc")
    if kind != "upload":
        raise BadRequest("choose a file to upload or paste ABC text")
    file = form.get("seed_file")
    if not isinstance(file, UploadFile) or not file.filename:
        raise BadRequest("choose a .mid, .abc or .musicxml file to upload first")
    data = await file.read(studio.limits.max_file_bytes + 1)
    return await run_in_threadpool(studio.upload, data, file.filename)


def _field(form: Any, name: str) -> str:
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""


def _studio(request: Request) -> Studio:
    return request.app.state.studio


async def _bad_request(request: Request, exc: Exception) -> Response:
    return JSONResponse({"error": one_line(str(exc))}, status_code=400)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    return JSONResponse({"error": exc.detail}, status_code=exc.status_code)


async def _crash(request: Request, exc: Exception) -> Response:
    return JSONResponse({"error": f"the studio hit a bug ({type(exc).__name__}); it keeps serving"}, status_code=500)


# --- running it ----------------------------------------------------------------------------------------
def serve(checkpoint: str | Path | None = None, host: str = "127.0.0.1", port: int = 8765, *,
          open_browser: bool = True, compositions: str | Path = "compositions") -> None:
    """Run the studio until Ctrl-C, opening the page in the browser once the server answers."""
    import uvicorn

    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        try:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind((host, port))
        except OSError as e:
            raise StudioStartError(f"cannot listen on {host}:{port} ({e.strerror}); pass --port another number") from None
    app = create_app(checkpoint, compositions, host=host)
    server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level="warning"))
    url = f"http://{'127.0.0.1' if host in ('0.0.0.0', '::') else host}:{port}/"
    print(f"composer studio: {url}  (runs are written under {Path(compositions).resolve()}; Ctrl-C stops)")
    if host not in LOCAL_HOSTS:
        print(f"warning: listening on {host}: other machines can compose here and read your compositions")
    if open_browser:
        threading.Thread(target=_open_when_up, args=(server, url), daemon=True).start()
    server.run()


def _open_when_up(server: Any, url: str) -> None:
    for _ in range(300):
        if server.started:
            webbrowser.open(url)
            return
        time.sleep(0.05)
