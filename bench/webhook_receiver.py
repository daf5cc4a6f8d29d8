"""A webhook receiver for the benchmarks, in a process of its own: HTTP/1.1 keep-alive, every
delivery verified with the `standardwebhooks` library, counted by webhook-id.

    python -m bench.webhook_receiver PORT SECRET      # GET /count answers "verified distinct"
"""

import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from standardwebhooks.webhooks import Webhook


def serve(port: int, secret: str) -> None:
    hook = Webhook(secret)
    lock = threading.Lock()
    seen: set[str] = set()
    counts = {"verified": 0, "bad": 0}

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: object) -> None:
            pass

        def _answer(self, status: int, body: bytes = b"") -> None:
            self.send_response(status)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            with lock:
                text = f"{counts['verified']} {len(seen)} {counts['bad']}"
            self._answer(200, text.encode())

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            try:
                hook.verify(body, dict(self.headers.items()), json_parse=False)
            except Exception:
                with lock:
                    counts["bad"] += 1
                self._answer(400)
                return
            with lock:
                counts["verified"] += 1
                seen.add(self.headers["webhook-id"])
            self._answer(204)

    class Server(ThreadingHTTPServer):
        def handle_error(self, request: object, client_address: object) -> None:
            pass  # a client closing its keep-alive connection is not news

    Server(("127.0.0.1", port), Handler).serve_forever()


if __name__ == "__main__":
    serve(int(sys.argv[1]), sys.argv[2])
