"""Real local peers for the mail, OTP, plugin and webhook worker tests, and helpers to run those workers fast."""

from __future__ import annotations

import hashlib
import hmac
import json
import socket
import ssl
import subprocess
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session
from redis.asyncio import Redis

from corral.contracts.base import QueueConfig, Registry, Retention
from corral.engine import Engine, JobRecord
from corral.handlers import HandlerSet
from corral.keys import Keys
from corral.settings import Settings
from corral.worker_services import WorkerServices
from corral_reference.contracts import default_registry
from corral_reference.producer import ReferenceProducer
from corral_reference.settings import ReferenceSettings

from support import eventually

FINISHED = ("completed", "failed")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def fast_registry(queue: str, *, attempts: int = 3, backoff_ms: int = 50, timeout_seconds: float = 30) -> Registry:
    """The catalogue registry with one queue's retries made fast and deterministic (no jitter)."""
    registry = default_registry()
    registry.add_queue(
        QueueConfig(
            queue,
            attempts=attempts,
            backoff_ms=backoff_ms,
            backoff_jitter=0.0,
            concurrency=5,
            timeout_seconds=timeout_seconds,
            keep_completed=Retention(1_000, 3_600),
            keep_failed=Retention(1_000, 3_600),
        )
    )
    return registry


class ServicesFactory:
    """Builds WorkerServices over the test Valkey with settings overridden per test; closes them all afterwards."""

    def __init__(self, settings: Settings, redis: Redis, engine: Engine) -> None:
        self.settings = settings
        self.redis = redis
        self.engine = engine
        self._made: list[WorkerServices] = []

    def make(self, **overrides: Any) -> WorkerServices:
        settings = ReferenceSettings(**{**self.settings.model_dump(), **overrides})
        services = WorkerServices(
            settings, self.redis, ReferenceProducer(self.engine, default_registry()), Keys(settings.key_prefix)
        )
        self._made.append(services)
        return services

    async def close(self) -> None:
        for services in self._made:
            await services.close()


def handlers_of(services: WorkerServices, *registers: Callable[[HandlerSet, WorkerServices], None]) -> HandlerSet:
    """A handler set filled by some worker modules' `register` functions."""
    handlers = HandlerSet()
    for register in registers:
        register(handlers, services)
    return handlers


async def finished_job(engine: Engine, queue: str, job_id: str, timeout: float = 60.0) -> JobRecord:
    """The job once it has completed or failed for good, read again after the state change.

    A record reads the job's hash before its state, so the read that first sees the final state may carry
    the hash from just before the move; the second read is consistent.
    """

    async def check() -> bool:
        job = await engine.get_job(queue, job_id)
        return job is not None and job.state in FINISHED

    await eventually(check, timeout=timeout)
    job = await engine.get_job(queue, job_id)
    assert job is not None
    return job


# --- SMTP -------------------------------------------------------------------------------------------------------------


@dataclass
class SmtpPeer:
    """An aiosmtpd server on loopback and what it received."""

    port: int
    messages: list[EmailMessage] = field(default_factory=list)
    envelopes: list[tuple[str, list[str]]] = field(default_factory=list)
    logins: list[tuple[str, str, str]] = field(default_factory=list)


class _Recorder:
    def __init__(self, peer: SmtpPeer) -> None:
        self.peer = peer

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        content = envelope.original_content or b""
        self.peer.messages.append(message_from_bytes(content, policy=default))
        self.peer.envelopes.append((str(envelope.mail_from), [str(rcpt) for rcpt in envelope.rcpt_tos]))
        return "250 OK"


def self_signed_certificate(directory: Path) -> tuple[Path, Path]:
    """A certificate and key for 127.0.0.1 and localhost, made by the openssl command line tool."""
    certificate, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=IP:127.0.0.1,DNS:localhost",
            "-keyout",
            str(key),
            "-out",
            str(certificate),
        ],
        check=True,
        capture_output=True,
    )
    return certificate, key


@contextmanager
def smtp_server(
    username: str | None = None, password: str | None = None, certificate: tuple[Path, Path] | None = None
) -> Iterator[SmtpPeer]:
    """An SMTP server on 127.0.0.1, offering STARTTLS with a certificate; with credentials it checks AUTH.

    With TLS, AUTH is required (after STARTTLS); without, AUTH is offered in clear text but not required
    (aiosmtpd rightly warns about requiring it without TLS).
    """
    peer = SmtpPeer(port=free_port())

    def authenticate(server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any) -> AuthResult:
        assert isinstance(data, LoginPassword)
        login, secret = data.login.decode(), data.password.decode()
        peer.logins.append((mechanism, login, secret))
        return AuthResult(success=(login, secret) == (username, password), handled=False)

    options: dict[str, Any] = {}
    if certificate is not None:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(*certificate)
        options["tls_context"] = context
        options["require_starttls"] = True
    if username is not None:
        options["authenticator"] = authenticate
        options["auth_required"] = certificate is not None
        options["auth_require_tls"] = certificate is not None
    controller = Controller(_Recorder(peer), hostname="127.0.0.1", port=peer.port, **options)
    controller.start()
    try:
        yield peer
    finally:
        controller.stop()


# --- HTTP webhook receiver --------------------------------------------------------------------------------------------


@dataclass
class Delivery:
    """One request the webhook receiver got, and whether its signature verified."""

    path: str
    headers: dict[str, str]
    body: bytes
    signature_valid: bool

    def json(self) -> Any:
        return json.loads(self.body)


class WebhookReceiver:
    """An HTTP server on 127.0.0.1 that records POSTs, verifies their signature and answers scripted statuses.

    `script[path]` is a list of statuses answered in turn (the last repeats); unknown paths answer 404.
    With a secret, a request whose signature does not verify gets 401. With a `gate`, each request is recorded at
    once but answered only when the gate is set (a delivery held for as long as a test needs).
    """

    def __init__(self, secret: str | None = None) -> None:
        self.secret = secret
        self.script: dict[str, list[int]] = {}
        self.deliveries: list[Delivery] = []
        self.gate: threading.Event | None = None
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                headers = {name.lower(): value for name, value in self.headers.items()}
                valid = receiver.verify(headers, body)
                receiver.deliveries.append(Delivery(self.path, headers, body, valid))
                if receiver.gate is not None:
                    receiver.gate.wait(timeout=600)
                statuses = receiver.script.get(self.path, [404])
                status = statuses.pop(0) if len(statuses) > 1 else statuses[0]
                if receiver.secret is not None and not valid:
                    status = 401
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = int(self.server.server_address[1])
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def verify(self, headers: dict[str, str], body: bytes) -> bool:
        """Check `X-Corral-Signature: sha256=<hex>` over `<timestamp>.<body>` as a receiver would."""
        if self.secret is None:
            return "x-corral-signature" not in headers
        timestamp = headers.get("x-corral-timestamp", "")
        expected = hmac.new(self.secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
        return hmac.compare_digest(headers.get("x-corral-signature", ""), f"sha256={expected}")

    def url(self, path: str, host: str = "127.0.0.1") -> str:
        return f"http://{host}:{self.port}{path}"

    def __enter__(self) -> WebhookReceiver:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        if self.gate is not None:
            self.gate.set()
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(timeout=5)
