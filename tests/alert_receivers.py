"""Loopback receivers for alert tests: a webhook, the Telegram Bot API and an SMTP server."""

from __future__ import annotations

import json
import socketserver
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class HttpReceiver:
    """Records POSTs; answers like a webhook (204) or like the Bot API's sendMessage."""

    def __init__(self, *, bot_token: str | None = None, status: int = 204):
        self.requests: list[tuple[str, dict]] = []
        self.bot_token = bot_token
        self.status = status
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server naming)
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                receiver.requests.append((self.path, json.loads(body or b"{}")))
                if receiver.bot_token is None:
                    self.send_response(receiver.status)
                    self.end_headers()
                    return
                ok = self.path == f"/bot{receiver.bot_token}/sendMessage"
                payload = (
                    {"ok": True, "result": {"message_id": len(receiver.requests)}}
                    if ok
                    else {"ok": False, "error_code": 401, "description": "Unauthorized"}
                )
                data = json.dumps(payload).encode()
                self.send_response(200 if ok else 401)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class SmtpReceiver:
    """Just enough SMTP (RFC 5321 commands) to accept and keep messages, no auth, no TLS."""

    def __init__(self) -> None:
        self.messages: list[dict] = []
        receiver = self

        class Handler(socketserver.StreamRequestHandler):
            def reply(self, line: str) -> None:
                self.wfile.write((line + "\r\n").encode())

            def handle(self) -> None:
                self.reply("220 loopback ESMTP")
                mail = {"from": None, "to": [], "data": ""}
                while line := self.rfile.readline():
                    command = line.decode().rstrip("\r\n")
                    verb = command[:4].upper()
                    if verb in ("HELO", "EHLO"):
                        self.reply("250 loopback")
                    elif verb == "MAIL":
                        mail["from"] = command.split(":", 1)[1].strip()
                        self.reply("250 OK")
                    elif verb == "RCPT":
                        mail["to"].append(command.split(":", 1)[1].strip())
                        self.reply("250 OK")
                    elif verb == "DATA":
                        self.reply("354 end with <CRLF>.<CRLF>")
                        lines = []
                        while (data := self.rfile.readline().decode()) not in (".\r\n", ""):
                            lines.append(data)
                        mail["data"] = "".join(lines)
                        receiver.messages.append(dict(mail))
                        self.reply("250 OK queued")
                    elif verb == "QUIT":
                        self.reply("221 bye")
                        return
                    else:
                        self.reply("250 OK")

        self.server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
