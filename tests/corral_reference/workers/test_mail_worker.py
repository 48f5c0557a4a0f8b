"""The email-send worker on a real Valkey: SMTP delivery to a loopback server, the Maildir default, templates."""

from __future__ import annotations

import mailbox
import os
import shutil
import sys
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default
from email.utils import parsedate_to_datetime
from pathlib import Path

import pytest

from corral.errors import UnrecoverableJobError
from corral.producer import Producer
from corral_reference.mail import TemplateRegistry, TemplateRenderError
from corral_reference.workers import email_send

from owned_processes import TAG_VARIABLE, describe, tagged_processes
from reference_peers.messaging_peers import (
    ServicesFactory,
    fast_registry,
    finished_job,
    free_port,
    handlers_of,
    self_signed_certificate,
    smtp_server,
)
from support import eventually


@pytest.fixture
async def make_services(settings, redis_client, engine):
    factory = ServicesFactory(settings, redis_client, engine)
    yield factory.make
    await factory.close()


async def run_email_job(make_services, start_runtime, engine, payload, *, attempts=3, **overrides):
    registry = fast_registry("email", attempts=attempts)
    services = make_services(**overrides)
    await start_runtime(registry, handlers_of(services, email_send.register), queues=["email"])
    job_id = await Producer(engine, registry).enqueue("email.send", payload)
    return await finished_job(engine, "email", job_id)


def parts_of(message: EmailMessage) -> dict[str, str]:
    return {part.get_content_type(): part.get_content() for part in message.walk() if not part.is_multipart()}


async def test_templated_mail_is_delivered_over_smtp_with_auth(make_services, start_runtime, engine) -> None:
    # Given an SMTP server on loopback that requires a login
    with smtp_server("mailer", "s3cret/pass") as peer:
        # When an email.send job renders the built-in notification template
        job = await run_email_job(
            make_services,
            start_runtime,
            engine,
            {
                "to": ["ada@example.com", "bob@example.org"],
                "subject": "News for {{ name }}",
                "templateId": "notification",
                "vars": {
                    "name": "Ada",
                    "heading": "Your article is live",
                    "message": "Fish & <chips> are served",
                    "actionUrl": "https://example.com/a/1",
                },
                "replyTo": "editors@example.com",
            },
            mail_url=f"smtp+plain://mailer:s3cret%2Fpass@127.0.0.1:{peer.port}",
        )
        # Then the job completed and the server logged in and received one multipart/alternative message
        assert job.state == "completed", job.failed_reason
        assert [login[1:] for login in peer.logins] == [("mailer", "s3cret/pass")]
        assert len(peer.messages) == 1
        message = peer.messages[0]
        assert peer.envelopes == [("corral@localhost", ["ada@example.com", "bob@example.org"])]
        assert message.get_content_type() == "multipart/alternative"
        assert message["Subject"] == "News for Ada"
        assert message["Reply-To"] == "editors@example.com"
        assert message["To"] == "ada@example.com, bob@example.org"
        # And both parts carry the rendered variables, escaped in HTML only
        parts = parts_of(message)
        assert "Your article is live" in parts["text/plain"]
        assert "Fish & <chips> are served" in parts["text/plain"]
        assert "<h1>Your article is live</h1>" in parts["text/html"]
        assert "Fish &amp; &lt;chips&gt; are served" in parts["text/html"]
        assert '<a href="https://example.com/a/1">' in parts["text/html"]
        # And the result names the message without any body
        assert job.return_value["transport"] == "smtp"
        assert job.return_value["messageId"] == message["Message-ID"]
        assert job.return_value["accepted"] == ["ada@example.com", "bob@example.org"]


async def test_starttls_with_auth_verifies_the_certificate(make_services, start_runtime, engine, tmp_path, monkeypatch):
    # Given an SMTP server that requires STARTTLS then AUTH, with a certificate the client is told to trust
    if shutil.which("openssl") is None:
        pytest.skip("the openssl command line tool is needed to make a test certificate")
    certificate = self_signed_certificate(tmp_path)
    monkeypatch.setenv("SSL_CERT_FILE", str(certificate[0]))
    with smtp_server("mailer", "pw", certificate=certificate) as peer:
        # When a job is sent through an smtp:// URL
        job = await run_email_job(
            make_services,
            start_runtime,
            engine,
            {"to": ["ada@example.com"], "subject": "Over TLS", "text": "Hello"},
            mail_url=f"smtp://mailer:pw@127.0.0.1:{peer.port}",
        )
    # Then the server accepted the login (only possible after STARTTLS) and the message
    assert job.state == "completed", job.failed_reason
    assert [login[1:] for login in peer.logins] == [("mailer", "pw")]
    assert [message["Subject"] for message in peer.messages] == ["Over TLS"]


async def test_untrusted_certificate_is_refused(make_services, start_runtime, engine, tmp_path) -> None:
    # Given a STARTTLS server whose self-signed certificate the client does not trust
    if shutil.which("openssl") is None:
        pytest.skip("the openssl command line tool is needed to make a test certificate")
    with smtp_server("mailer", "pw", certificate=self_signed_certificate(tmp_path)) as peer:
        # When a job is sent
        job = await run_email_job(
            make_services,
            start_runtime,
            engine,
            {"to": ["ada@example.com"], "subject": "Hi", "text": "Hello"},
            mail_url=f"smtp://mailer:pw@127.0.0.1:{peer.port}",
        )
    # Then the job failed at once without sending credentials or the message
    assert job.state == "failed"
    assert job.attempts_made == 1
    assert "certificate not trusted" in (job.failed_reason or "")
    assert peer.logins == [] and peer.messages == []


async def test_wrong_smtp_credentials_fail_unrecoverably(make_services, start_runtime, engine) -> None:
    # Given an SMTP server that requires other credentials
    with smtp_server("mailer", "right") as peer:
        # When a job is sent with the wrong password
        job = await run_email_job(
            make_services,
            start_runtime,
            engine,
            {"to": ["ada@example.com"], "subject": "Hi", "text": "Hello"},
            attempts=3,
            mail_url=f"smtp+plain://mailer:wrong@127.0.0.1:{peer.port}",
        )
    # Then it failed after one attempt, the reason names the refusal, and no message was accepted
    assert job.state == "failed"
    assert job.attempts_made == 1
    assert "refused the credentials (535)" in (job.failed_reason or "")
    assert "wrong" not in (job.failed_reason or "")
    assert peer.messages == []


async def test_maildir_outbox_is_the_default_and_mail_tools_read_it(make_services, start_runtime, engine, settings):
    # Given no mail URL
    # When an email.send job has inline text and HTML bodies
    job = await run_email_job(
        make_services,
        start_runtime,
        engine,
        {
            "to": ["ada@example.com"],
            "subject": "Grüße aus Corral",
            "text": "Plain body\n",
            "html": "<p>HTML body</p>",
            "replyTo": "support@example.com",
        },
    )
    assert job.state == "completed", job.failed_reason
    # Then the outbox is a Maildir holding one RFC 5322 message the stdlib parsers read back
    outbox = Path(settings.data_dir) / "outbox"
    assert {path.name for path in outbox.iterdir()} >= {"new", "cur", "tmp"}
    box = mailbox.Maildir(outbox, create=False)
    keys = list(box.keys())
    assert len(keys) == 1
    message = message_from_bytes(box.get_bytes(keys[0]), policy=default)
    assert job.return_value["location"] == str(outbox / "new" / keys[0])
    assert message["From"] == "Corral <corral@localhost>"
    assert message["To"] == "ada@example.com"
    assert message["Subject"] == "Grüße aus Corral"
    assert message["Reply-To"] == "support@example.com"
    assert message["Message-ID"] == job.return_value["messageId"]
    assert message["Message-ID"].endswith("@localhost>")
    assert parsedate_to_datetime(message["Date"]).tzinfo is not None
    assert message["X-Corral-Job-Id"] == job.id
    assert parts_of(message) == {"text/plain": "Plain body\n", "text/html": "<p>HTML body</p>\n"}


async def test_html_only_mail_gets_a_text_alternative(make_services, start_runtime, engine, settings) -> None:
    # Given an HTML-only message
    job = await run_email_job(
        make_services,
        start_runtime,
        engine,
        {"to": ["ada@example.com"], "subject": "Hi", "html": "<h1>Title</h1><p>First&nbsp;line</p><style>p{}</style>"},
    )
    assert job.state == "completed", job.failed_reason
    # Then the stored message has a text part extracted from the HTML
    box = mailbox.Maildir(Path(settings.data_dir) / "outbox", create=False)
    (raw,) = [box.get_bytes(key) for key in box.keys()]
    parts = parts_of(message_from_bytes(raw, policy=default))
    assert parts["text/plain"] == "Title\n\nFirst\xa0line\n"
    assert "p{}" not in parts["text/plain"]


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        ({"templateId": "no-such-template", "vars": {}}, "unknown mail template 'no-such-template'"),
        ({"templateId": "welcome", "vars": {}}, "'name' is undefined"),
    ],
)
async def test_template_problems_go_to_the_dlq_at_once(make_services, start_runtime, engine, payload, reason) -> None:
    # Given a job whose template is unknown or lacks a variable
    # When it runs
    job = await run_email_job(
        make_services, start_runtime, engine, {"to": ["ada@example.com"], "subject": "Hi", **payload}
    )
    # Then it failed once, unrecoverably, with the template problem as the reason
    assert job.state == "failed"
    assert job.attempts_made == 1
    assert reason in (job.failed_reason or "")


async def test_unreachable_smtp_server_is_retried(make_services, start_runtime, engine) -> None:
    # Given an SMTP URL where nothing listens
    # When a job runs with two attempts
    job = await run_email_job(
        make_services,
        start_runtime,
        engine,
        {"to": ["ada@example.com"], "subject": "Hi", "text": "Hello"},
        attempts=2,
        mail_url=f"smtp+plain://127.0.0.1:{free_port()}",
        mail_timeout_seconds=2,
    )
    # Then both attempts ran and the reason says the server was unreachable
    assert job.state == "failed"
    assert job.attempts_made == 2
    assert "unreachable" in (job.failed_reason or "")


async def test_smtp_url_requires_starttls(make_services, start_runtime, engine) -> None:
    # Given a server that offers no STARTTLS and an smtp:// URL (which requires it)
    with smtp_server() as peer:
        # When a job runs
        job = await run_email_job(
            make_services,
            start_runtime,
            engine,
            {"to": ["ada@example.com"], "subject": "Hi", "text": "Hello"},
            mail_url=f"smtp://127.0.0.1:{peer.port}",
        )
    # Then nothing was sent in clear text and the job failed at once
    assert job.state == "failed"
    assert job.attempts_made == 1
    assert "does not offer STARTTLS" in (job.failed_reason or "")
    assert peer.messages == []


def test_templates_from_the_data_directory_override_builtins_and_run_sandboxed(tmp_path: Path) -> None:
    # Given an operator's template directory with its own "welcome" and a template probing Python internals
    (tmp_path / "welcome.txt").write_text("Hi {{ name }}, from the operator\n")
    (tmp_path / "probe.txt").write_text("{{ name.__class__.__mro__ }}")
    registry = TemplateRegistry(tmp_path)
    # When they are rendered
    welcome = registry.render("welcome", "Welcome {{ name }}", {"name": "Ada\nEvil: header"})
    # Then the file wins over the built-in (text only, no HTML part) and the subject stays one line
    assert welcome.text == "Hi Ada\nEvil: header, from the operator\n"
    assert welcome.html is None
    assert welcome.subject == "Welcome Ada Evil: header"
    # And the sandbox refuses access to internals, as an unrecoverable job error
    with pytest.raises(TemplateRenderError) as caught:
        registry.render("probe", "x", {"name": "Ada"})
    assert isinstance(caught.value, UnrecoverableJobError)
    assert "unsafe" in str(caught.value) or "__class__" in str(caught.value)


# A subject that loops for hours: 10^10 empty iterations (the sandbox caps each range at 100,000).
ENDLESS_SUBJECT = "{% for a in range(100000) %}{% for b in range(100000) %}{% endfor %}{% endfor %}"


def rendering_threads() -> list[str]:
    """Threads of this process running template code (Jinja2 compiles templates to `<template>` frames)."""
    found = []
    for thread_id, frame in sys._current_frames().items():
        walk = frame
        while walk is not None:
            if walk.f_code.co_filename == "<template>" or "/jinja2/" in walk.f_code.co_filename:
                found.append(str(thread_id))
                break
            walk = walk.f_back
    return found


def render_processes() -> list[int]:
    return [
        pid for pid in tagged_processes(os.environ[TAG_VARIABLE]) if "corral_reference.mail_sandbox" in describe(pid)
    ]


async def test_a_job_timeout_stops_the_rendering_of_its_template(make_services, start_runtime, engine) -> None:
    # Given the email worker with a 3 s job timeout, and a render limit that is not what stops this mail
    registry = fast_registry("email", attempts=1, timeout_seconds=3)
    services = make_services(mail_render_timeout_seconds=300)
    await start_runtime(registry, handlers_of(services, email_send.register), queues=["email"])
    # When a templated mail whose subject never finishes rendering is sent
    payload = {"to": ["ada@example.com"], "subject": ENDLESS_SUBJECT, "templateId": "welcome", "vars": {"name": "A"}}
    job_id = await Producer(engine, registry).enqueue("email.send", payload)
    job = await finished_job(engine, "email", job_id, timeout=60)
    # Then the job failed on its timeout
    assert job.state == "failed" and "timed out after 3s" in (job.failed_reason or "")

    # And nothing goes on rendering it: no render process is left, no thread of the worker runs template code
    async def nothing_renders() -> bool:
        return not render_processes() and not rendering_threads()

    await eventually(nothing_renders, timeout=60)


@pytest.mark.timeout(180)
async def test_templates_past_the_render_limit_fail_and_other_mail_still_goes_out(
    make_services, start_runtime, engine, settings
) -> None:
    # Given the email worker (5 jobs at once) with a 10 s render limit
    registry = fast_registry("email", attempts=3, timeout_seconds=120)
    services = make_services(mail_render_timeout_seconds=10)
    await start_runtime(registry, handlers_of(services, email_send.register), queues=["email"])
    producer = Producer(engine, registry)
    # When six mails whose subject never finishes rendering are sent, then an ordinary templated one
    endless = {"to": ["ada@example.com"], "subject": ENDLESS_SUBJECT, "templateId": "welcome", "vars": {"name": "A"}}
    stuck = [await producer.enqueue("email.send", endless) for _ in range(6)]
    ordinary = {"to": ["bob@example.com"], "subject": "Hi {{ name }}", "templateId": "welcome", "vars": {"name": "B"}}
    good = await producer.enqueue("email.send", ordinary)
    # Then each endless one is stopped at the limit and goes to the DLQ at once (unrecoverable, one attempt)
    for job_id in stuck:
        job = await finished_job(engine, "email", job_id, timeout=150)
        assert job.state == "failed" and job.attempts_made == 1
        assert job.failed_reason == "mail template 'welcome': rendering took longer than 10 s and was stopped"
    # And the ordinary mail is delivered
    delivered = await finished_job(engine, "email", good, timeout=150)
    assert delivered.state == "completed", delivered.failed_reason
    (message,) = mailbox.Maildir(Path(settings.data_dir) / "outbox", create=False)
    assert message["Subject"] == "Hi B"
    assert not render_processes()


async def test_a_template_that_allocates_without_bound_is_stopped_by_the_memory_limit(
    make_services, start_runtime, engine
) -> None:
    # Given the email worker
    registry = fast_registry("email", attempts=3)
    services = make_services()
    await start_runtime(registry, handlers_of(services, email_send.register), queues=["email"])
    # When a subject builds a gigabyte string
    huge = "{{ 'x' * 1000000000 }}"
    payload = {"to": ["ada@example.com"], "subject": huge, "templateId": "welcome", "vars": {"name": "A"}}
    job_id = await Producer(engine, registry).enqueue("email.send", payload)
    job = await finished_job(engine, "email", job_id, timeout=60)
    # Then the rendering is stopped by its memory limit and the job goes to the DLQ at once
    assert job.state == "failed" and job.attempts_made == 1
    assert job.failed_reason == "mail template 'welcome': rendering needed more than 256 MB and was stopped"
