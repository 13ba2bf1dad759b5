"""Mail over SMTP: a real SMTP conversation with a small local server."""

from __future__ import annotations

import socketserver
import threading
from email import message_from_bytes

import pytest
from sqlalchemy import select

from extensions import db
from models import Outbox
from services import mail


class _SMTPHandler(socketserver.StreamRequestHandler):
    def handle(self):
        self.wfile.write(b"220 test ESMTP\r\n")
        data_mode, lines = False, []
        while True:
            line = self.rfile.readline()
            if not line:
                return
            if data_mode:
                if line == b".\r\n":
                    self.server.received.append(message_from_bytes(b"".join(lines)))
                    data_mode, lines = False, []
                    self.wfile.write(b"250 OK\r\n")
                else:
                    lines.append(line)
                continue
            command = line.strip().upper()
            if command.startswith(b"EHLO"):
                self.wfile.write(b"250-test\r\n250 AUTH PLAIN\r\n")
            elif command.startswith(b"AUTH"):
                self.server.auth.append(line.strip())
                self.wfile.write(b"235 OK\r\n")
            elif command == b"DATA":
                data_mode = True
                self.wfile.write(b"354 go\r\n")
            elif command == b"QUIT":
                self.wfile.write(b"221 bye\r\n")
                return
            else:
                self.wfile.write(b"250 OK\r\n")


@pytest.fixture
def smtp_server():
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _SMTPHandler)
    server.received, server.auth = [], []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def test_mail_goes_out_over_smtp_when_configured(app, smtp_server):
    port = smtp_server.server_address[1]
    app.config["SMTP_URL"] = f"smtp://amora:s3cret@127.0.0.1:{port}"
    with app.app_context():
        mail.send(
            None,
            "ana@example.com",
            "test",
            "Hello",
            "verify_email",
            link="http://x/verify/abc",
            hours=24,
        )
        db.session.commit()
        message = db.session.scalars(select(Outbox)).one()
        assert message.status == "sent"
    received = smtp_server.received[0]
    assert received["To"] == "ana@example.com" and received["Subject"] == "Hello"
    assert "http://x/verify/abc" in received.get_payload()
    assert smtp_server.auth  # logged in with the URL's credentials


def test_an_unreachable_smtp_server_keeps_the_message_queued_with_the_error(ctx):
    ctx.config["SMTP_URL"] = "smtp://127.0.0.1:1"
    ctx.config["JOBS_RAISE"] = False
    mail.send(None, "ana@example.com", "test", "Hello", "verify_email", link="x", hours=24)
    db.session.commit()
    message = db.session.scalars(select(Outbox)).one()
    assert message.status == "queued" and message.attempts == 1
    assert "ConnectionRefusedError" in message.error
