"""Run the API with uvicorn: check the address and the runs, load them, serve (until
Ctrl-C with `serve`, or for a `with` block with `serving`)."""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import socket
import threading
import time

from ..errors import ConvolabError
from .limits import DEFAULT_MAX_BATCH, DEFAULT_MAX_BODY_BYTES, DEFAULT_MAX_CONCURRENCY, Limits


def check_address(host: str, port: int) -> None:
    """Refuse a port outside 1-65535, or one another program holds, before loading models."""
    if not 0 < port < 65536:
        raise ConvolabError(f"--port must be from 1 to 65535, got {port}")
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise ConvolabError(f"--host {host!r} is not a known address ({exc}); use an address "
                            f"of this machine, e.g. 127.0.0.1 or 0.0.0.0")
    family, _, _, _, address = infos[0]
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as exc:
            advice = ("another program holds it: pass another --port"
                      if exc.errno == errno.EADDRINUSE
                      else "use an address of this machine, e.g. 127.0.0.1 or 0.0.0.0")
            raise ConvolabError(f"cannot listen on {host}:{port} ({exc.strerror}); {advice}")


#: uvicorn's settings for every server convolab starts.
UVICORN_OPTIONS = {"log_level": "warning", "limit_concurrency": DEFAULT_MAX_CONCURRENCY}


def _checked_app(run_dirs, host: str, port: int, max_body_mb: float, max_batch: int,
                 use_onnx: bool, say):
    """(the ASGI app, its models {name: model}): the limits and the address checked before
    the runs are loaded; one line said per model."""
    from .api import create_app
    from .models import load_models

    if not 0 < max_body_mb < 1e6:
        raise ConvolabError(f"--max-body-mb must be a positive number of megabytes, got "
                            f"{max_body_mb}")
    if max_batch < 1:
        raise ConvolabError(f"--max-batch must be at least 1, got {max_batch}")
    check_address(host, port)
    models = load_models(run_dirs, use_onnx=use_onnx)
    for model in models.values():
        say(f"{model.name}: {model.run.path} ({model.engine}"
            f"{'; ' + model.load_note if model.load_note else ''})")
    app = create_app(models, Limits(max_body_bytes=int(max_body_mb * 1024 * 1024),
                                    max_batch=max_batch))
    return app, models


def serve(run_dirs, host: str = "127.0.0.1", port: int = 8000,
          max_body_mb: float = DEFAULT_MAX_BODY_BYTES / 2**20,
          max_batch: int = DEFAULT_MAX_BATCH, use_onnx: bool = True, say=print) -> None:
    """Serve `run_dirs` at http://host:port until interrupted."""
    import uvicorn

    app, models = _checked_app(run_dirs, host, port, max_body_mb, max_batch, use_onnx, say)
    url = base_url(host, port)
    say(f"serving {len(models)} model{'s' if len(models) > 1 else ''} at "
        f"{url}/v1/models (API: {url}/docs); Ctrl-C stops", flush=True)
    uvicorn.run(app, host=host, port=port, **UVICORN_OPTIONS)


@dataclasses.dataclass(frozen=True)
class Serving:
    """A server `serving` started: its base URL and the names of its models."""
    url: str
    names: list[str]


def base_url(host: str, port: int) -> str:
    """http://host:port, an IPv6 address in brackets."""
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}"


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port on `host` that nothing listens on now."""
    with socket.socket() as probe:
        probe.bind((host, 0))
        return probe.getsockname()[1]


@contextlib.contextmanager
def serving(run_dirs, host: str = "127.0.0.1", port: int | None = None,
            max_body_mb: float = DEFAULT_MAX_BODY_BYTES / 2**20,
            max_batch: int = DEFAULT_MAX_BATCH, use_onnx: bool = True, say=print,
            start_timeout: float = 60.0):
    """Serve `run_dirs` as `serve` does, in a thread of this process, for a `with` block
    (on a free port unless `port` is given); stops the server when the block ends.

        >>> with serving(["runs/default"]) as server:       # doctest: +SKIP
        ...     requests.get(server.url + "/v1/models")
    """
    import uvicorn

    port = port or free_port(host)
    app, models = _checked_app(run_dirs, host, port, max_body_mb, max_batch, use_onnx, say)
    server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, **UVICORN_OPTIONS))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    started = time.monotonic()
    try:
        while not server.started:  # uvicorn sets it once it listens
            if not thread.is_alive() or time.monotonic() - started > start_timeout:
                raise ConvolabError(f"the server on {host}:{port} did not start")
            time.sleep(0.05)
        yield Serving(base_url(host, port), list(models))
    finally:
        server.should_exit = True  # what Ctrl-C does to `convolab serve`
        thread.join(timeout=30)
