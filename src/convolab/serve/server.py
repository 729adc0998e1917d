"""Run the API with uvicorn: check the address and the runs, load them, serve."""

from __future__ import annotations

import errno
import socket

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


def serve(run_dirs, host: str = "127.0.0.1", port: int = 8000,
          max_body_mb: float = DEFAULT_MAX_BODY_BYTES / 2**20,
          max_batch: int = DEFAULT_MAX_BATCH, use_onnx: bool = True, say=print) -> None:
    """Serve `run_dirs` at http://host:port until interrupted."""
    import uvicorn

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
    shown = f"[{host}]" if ":" in host else host
    say(f"serving {len(models)} model{'s' if len(models) > 1 else ''} at "
        f"http://{shown}:{port}/v1/models (API: http://{shown}:{port}/docs); Ctrl-C stops",
        flush=True)
    uvicorn.run(app, host=host, port=port, log_level="warning",
                limit_concurrency=DEFAULT_MAX_CONCURRENCY)
