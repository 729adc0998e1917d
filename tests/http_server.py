"""A tiny HTTP server on 127.0.0.1 that tests use in place of a download host."""

import http.server
import threading


class Server:
    """Serves `files` {path: bytes} on 127.0.0.1; `declared` overrides Content-Length."""

    def __init__(self):
        self.files: dict[str, bytes] = {}
        self.declared: dict[str, int] = {}
        self.requests: list[str] = []
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                server.requests.append(self.path)
                body = server.files.get(self.path)
                if body is None:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Length", str(server.declared.get(self.path,
                                                                           len(body))))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02},
                         daemon=True).start()

    def url(self, path: str) -> str:
        return self.base + path
