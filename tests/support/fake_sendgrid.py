"""A local stand-in for SendGrid: /v3/mail/send counts what it receives, and the Email
Activity API (GET /v3/messages) finds accepted messages by their custom args."""

from __future__ import annotations

import json
import re
import threading
from collections import Counter
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

# one clause of an activity query: unique_args['name']="value"
CLAUSE = re.compile(r"""unique_args\['([^']+)'\]="([^"]*)\"""")


class FakeSendGrid:
    """Accepts every mail send (202) and counts messages by Nudge's idempotency key.

    ``activity``: False answers the Email Activity API with 404, as for an account
    without the add-on. ``on_send(custom_args) -> bool`` runs when a send arrives, before
    it is counted or answered; returning False drops it uncounted (it never arrived).
    """

    def __init__(
        self,
        activity: bool = True,
        on_send: Callable[[dict[str, str]], bool] | None = None,
    ) -> None:
        self.received: Counter[str] = Counter()
        self.accepted: list[dict[str, str]] = []  # custom args of every accepted message
        self.lookups = 0
        self.lock = threading.Lock()
        self.activity = activity
        self.on_send = on_send
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                for personalization in body["personalizations"]:
                    args = personalization["custom_args"]
                    if fake.on_send is not None and not fake.on_send(args):
                        self.close_connection = True
                        return  # dropped: no answer, nothing accepted
                    with fake.lock:
                        fake.received[args["nudge_key"]] += 1
                        fake.accepted.append(args)
                self.send_response(202)
                self.send_header("X-Message-Id", f"fake-{len(fake.accepted)}")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def do_GET(self) -> None:  # noqa: N802
                url = urlsplit(self.path)
                if url.path != "/v3/messages" or not fake.activity:
                    self._json(404, {"errors": [{"message": "not found"}]})
                    return
                query = parse_qs(url.query).get("query", [""])[0]
                wanted = dict(CLAUSE.findall(query))
                if not wanted:
                    self._json(400, {"errors": [{"message": "invalid query"}]})
                    return
                with fake.lock:
                    fake.lookups += 1
                    found = [
                        a for a in fake.accepted if all(a.get(k) == v for k, v in wanted.items())
                    ]
                messages = [
                    {"msg_id": f"fake-{i}", "status": "delivered", "to_email": "x"}
                    for i, _ in enumerate(found)
                ]
                self._json(200, {"messages": messages})

            def _json(self, status: int, payload: object) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> FakeSendGrid:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
