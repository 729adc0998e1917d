"""Run the API with uvicorn: check the address and the runs, load them, serve."""

from __future__ import annotations

import socket

from ..errors import ConvolabError
from .limits import Limits


def check_address(host: str, port: int) -> None:
    """Refuse a port outside 1-65535, or one another program holds, before loading models."""
    if not 0 < port < 65536:
        raise ConvolabError(f"--port must be from 1 to 65535, got {port}")
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise ConvolabError(f"--host {host!r} is not an address of this machine ({exc})")
    family, _, _, _, address = infos[0]
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as exc:
            raise ConvolabError(f"cannot listen on {host}:{port} ({exc.strerror}); another "
                                f"program may hold it: pass another --port")


def serve(run_dirs, host: str = "127.0.0.1", port: int = 8000, max_body_mb: float = 10.0,
          max_batch: int = 64, use_onnx: bool = True, say=print) -> None:
    """Serve `run_dirs` at http://host:port until interrupted."""
    import uvicorn

    from .api import create_app
    from .models import load_models

    if max_body_mb <= 0 or max_batch < 1:
        raise ConvolabError(f"--max-body-mb must be positive and --max-batch at least 1, got "
                            f"{max_body_mb} and {max_batch}")
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
    uvicorn.run(app, host=host, port=port, log_level="warning")
