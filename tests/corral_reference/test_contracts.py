"""The catalogue's contracts, queues and registry: valid payloads parse, invalid ones name the bad field."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

import pytest

from corral.contracts.base import EnqueueOptions, JobContract, JobType, QueueConfig, Registry
from corral.errors import ConfigurationError, PayloadValidationError, UnknownJobError
from corral_reference.contracts import (
    CATALOGUE_JOBS,
    CATALOGUE_QUEUES,
    CATALOGUE_WORKERS,
    AnalyticsReport,
    EmailSend,
    WorkflowRun,
    default_registry,
)
from corral_reference.typed_producer import CatalogueProducerMixin

# The design table: job name -> (queue, worker).
DESIGN_TABLE: dict[str, tuple[str, str]] = {
    "ai.content.generate": ("ai", "ai-content"),
    "ai.content.rewrite": ("ai", "ai-content"),
    "ai.content.summarize": ("ai", "ai-content"),
    "ai.seo.analyze": ("ai", "ai-seo"),
    "ai.seo.meta": ("ai", "ai-seo"),
    "workflow.run": ("workflows", "workflow"),
    "workflow.step": ("workflows", "workflow"),
    "analytics.events.ingest": ("analytics", "analytics-process"),
    "analytics.rollup": ("analytics", "analytics-process"),
    "analytics.report": ("analytics", "analytics-process"),
    "email.send": ("email", "email-send"),
    "email.otp": ("email", "otp-send"),
    "plugin.execute": ("plugins", "plugin-execute"),
    "plugin.webhook": ("plugins", "plugin-execute"),
    "search.index": ("system", "search-index"),
    "search.remove": ("system", "search-index"),
    "article.publish": ("system", "article-publish"),
    "article.autosave": ("system", "article-autosave"),
    "system.cleanup": ("system", "system-maintenance"),
}

VALID: dict[str, dict[str, Any]] = {
    "ai.content.generate": {
        "articleId": "art-1",
        "prompt": "Write about job queues",
        "tone": "friendly",
        "maxWords": 300,
        "locale": "en-GB",
    },
    "ai.content.rewrite": {"articleId": "art-1", "text": "Queues are nice.", "instruction": "Make it formal"},
    "ai.content.summarize": {"articleId": "art-1", "text": "One. Two. Three.", "maxSentences": 2},
    "ai.seo.analyze": {"articleId": "art-1", "title": "Queues", "body": "All about queues.", "focusKeyword": "queue"},
    "ai.seo.meta": {"articleId": "art-1", "title": "Queues", "body": "All about queues."},
    "workflow.run": {
        "workflowId": "wf-1",
        "runId": "run-1",
        "input": {"source": "https://example.org/feed", "limit": 10},
        "steps": [
            {"id": "fetch", "action": "http.get", "params": {"timeout": 5}},
            {"id": "parse", "action": "feed.parse", "dependsOn": ["fetch"]},
            {"id": "store", "action": "db.write", "dependsOn": ["fetch", "parse"]},
        ],
    },
    "workflow.step": {"workflowId": "wf-1", "runId": "run-1", "stepId": "fetch", "action": "http.get", "params": {}},
    "analytics.events.ingest": {
        "events": [
            {"type": "page.view", "ts": "2024-05-01T12:00:00Z", "articleId": "art-1", "props": {"path": "/a"}},
            {"type": "session.start", "ts": "2024-05-01T12:00:01+02:00", "sessionId": "s-1", "userId": "u-1"},
        ]
    },
    "analytics.rollup": {"granularity": "hour", "start": "2024-05-01T12:00:00Z"},
    "analytics.report": {
        "reportId": "rep-1",
        "from": "2024-05-01T00:00:00Z",
        "to": "2024-06-01T00:00:00Z",
        "metrics": ["views", "reads"],
        "format": "csv",
    },
    "email.send": {
        "to": ["ada@example.com", "grace@example.org"],
        "subject": "Hello",
        "text": "Hi there",
        "html": "<p>Hi there</p>",
        "replyTo": "support@example.com",
    },
    "email.otp": {"userId": "user-7", "to": "ada@example.com", "purpose": "login", "ttlSeconds": 300},
    "plugin.execute": {"pluginId": "seo-tools", "hook": "on_publish", "payload": {"id": 1}, "timeoutMs": 5_000},
    "plugin.webhook": {
        "pluginId": "slack",
        "url": "https://hooks.example.com/services/x",
        "event": "article.published",
        "body": {"articleId": "art-1"},
        "secretRef": "slack-signing",
    },
    "search.index": {
        "docType": "article",
        "docId": "art-1",
        "title": "Queues",
        "body": "All about queues.",
        "tags": ["python", "Job Queues"],
        "url": "https://example.com/articles/art-1",
    },
    "search.remove": {"docType": "article", "docId": "art-1"},
    "article.publish": {"articleId": "art-1", "scheduledFor": "2030-01-01T09:00:00+02:00", "channels": ["web", "rss"]},
    "article.autosave": {"articleId": "art-1", "userId": "user-7", "revision": 3, "title": "Draft", "body": "Text"},
    "system.cleanup": {"target": "completed", "olderThanHours": 24},
}

MORE_VALID: list[tuple[str, dict[str, Any]]] = [
    ("ai.content.generate", {"articleId": "01HZX3K7Q9", "prompt": "p"}),
    ("ai.content.generate", {"articleId": "tenant:42.a_b", "prompt": "p", "locale": "fr"}),
    ("workflow.run", {"workflowId": "wf", "runId": "r", "steps": [{"id": "only", "action": "noop"}]}),
    ("email.send", {"to": ["ada@example.com"], "subject": "Hi", "templateId": "welcome", "vars": {"name": "Ada"}}),
    ("email.send", {"to": ["ada@example.com"], "subject": "Hi", "templateId": "welcome"}),
    ("email.send", {"to": ["ada@example.com"], "subject": "Hi", "html": "<b>Hi</b>"}),
    ("analytics.rollup", {"granularity": "day", "start": "2024-05-01T00:00:00+00:00"}),
    ("article.publish", {"articleId": "art-1", "channels": ["web"]}),
    ("article.autosave", {"articleId": "art-1", "userId": "u", "revision": 1, "title": "", "body": ""}),
    ("plugin.webhook", {"pluginId": "p", "url": "http://127.0.0.1:8080/hook", "event": "ping"}),
    ("system.cleanup", {"target": "audit", "olderThanHours": 87_600}),
]


def changed(name: str, **changes: Any) -> dict[str, Any]:
    """The valid payload of `name` with some fields replaced (or added)."""
    payload = copy.deepcopy(VALID[name])
    payload.update(changes)
    return payload


def without(name: str, field: str) -> dict[str, Any]:
    """The valid payload of `name` with one field removed."""
    payload = copy.deepcopy(VALID[name])
    del payload[field]
    return payload


def steps(*edges: tuple[str, list[str]]) -> dict[str, Any]:
    """A workflow.run payload whose steps have the given ids and dependencies."""
    return changed("workflow.run", steps=[{"id": sid, "action": "noop", "dependsOn": deps} for sid, deps in edges])


LONG = "x" * 100_001
TOO_MANY_KEYS = {f"k{i}": i for i in range(101)}
EVENT = VALID["analytics.events.ingest"]["events"][0]

# (job name, payload, the field the error must name)
INVALID: list[tuple[str, dict[str, Any], str]] = [
    # ai.content.generate
    ("ai.content.generate", without("ai.content.generate", "prompt"), "prompt"),
    ("ai.content.generate", changed("ai.content.generate", model="gpt"), "model"),
    ("ai.content.generate", changed("ai.content.generate", maxWords=0), "maxWords"),
    ("ai.content.generate", changed("ai.content.generate", maxWords=10_001), "maxWords"),
    ("ai.content.generate", changed("ai.content.generate", maxWords="many"), "maxWords"),
    ("ai.content.generate", changed("ai.content.generate", maxWords="300"), "maxWords"),
    ("ai.content.generate", changed("ai.content.generate", tone="angry"), "tone"),
    ("ai.content.generate", changed("ai.content.generate", locale="english"), "locale"),
    ("ai.content.generate", changed("ai.content.generate", articleId=""), "articleId"),
    ("ai.content.generate", changed("ai.content.generate", articleId="has space"), "articleId"),
    ("ai.content.generate", changed("ai.content.generate", articleId="a" * 129), "articleId"),
    ("ai.content.generate", changed("ai.content.generate", articleId=42), "articleId"),
    ("ai.content.generate", changed("ai.content.generate", prompt="p" * 20_001), "prompt"),
    # ai.content.rewrite
    ("ai.content.rewrite", without("ai.content.rewrite", "instruction"), "instruction"),
    ("ai.content.rewrite", changed("ai.content.rewrite", text=""), "text"),
    ("ai.content.rewrite", changed("ai.content.rewrite", text=LONG), "text"),
    ("ai.content.rewrite", changed("ai.content.rewrite", instruction=["shorter"]), "instruction"),
    # ai.content.summarize
    ("ai.content.summarize", without("ai.content.summarize", "text"), "text"),
    ("ai.content.summarize", changed("ai.content.summarize", maxSentences=51), "maxSentences"),
    ("ai.content.summarize", changed("ai.content.summarize", maxSentences=True), "maxSentences"),
    # ai.seo.analyze
    ("ai.seo.analyze", without("ai.seo.analyze", "body"), "body"),
    ("ai.seo.analyze", changed("ai.seo.analyze", title="two\nlines"), "title"),
    ("ai.seo.analyze", changed("ai.seo.analyze", focusKeyword=""), "focusKeyword"),
    # ai.seo.meta
    ("ai.seo.meta", changed("ai.seo.meta", title="t" * 301), "title"),
    ("ai.seo.meta", changed("ai.seo.meta", body=123), "body"),
    ("ai.seo.meta", changed("ai.seo.meta", slug="queues"), "slug"),
    # workflow.run
    ("workflow.run", without("workflow.run", "runId"), "runId"),
    ("workflow.run", changed("workflow.run", steps=[]), "steps"),
    ("workflow.run", changed("workflow.run", steps=[{"id": f"s{i}", "action": "noop"} for i in range(101)]), "steps"),
    ("workflow.run", steps(("a", []), ("a", [])), "steps"),
    ("workflow.run", steps(("a", ["ghost"])), "steps"),
    ("workflow.run", steps(("a", ["b"]), ("b", ["a"])), "steps"),
    ("workflow.run", steps(("a", ["a", "a"])), "steps.0.dependsOn"),
    ("workflow.run", changed("workflow.run", input=TOO_MANY_KEYS), "input"),
    ("workflow.run", changed("workflow.run", steps=[{"id": "a", "action": "noop", "retries": 3}]), "steps.0.retries"),
    ("workflow.run", changed("workflow.run", steps=[{"id": "a", "action": "Do It"}]), "steps.0.action"),
    # workflow.step
    ("workflow.step", without("workflow.step", "stepId"), "stepId"),
    ("workflow.step", changed("workflow.step", action="Bad Action"), "action"),
    ("workflow.step", changed("workflow.step", params=["not", "a", "dict"]), "params"),
    ("workflow.step", changed("workflow.step", params={"ratio": float("nan")}), "params"),
    # analytics.events.ingest
    ("analytics.events.ingest", {}, "events"),
    ("analytics.events.ingest", {"events": []}, "events"),
    ("analytics.events.ingest", {"events": [EVENT] * 1_001}, "events"),
    ("analytics.events.ingest", {"events": [{**EVENT, "ts": "2024-05-01T12:00:00"}]}, "events.0.ts"),
    ("analytics.events.ingest", {"events": [{**EVENT, "country": "NL"}]}, "events.0.country"),
    ("analytics.events.ingest", {"events": [{**EVENT, "props": TOO_MANY_KEYS}]}, "events.0.props"),
    ("analytics.events.ingest", {"events": [{"ts": "2024-05-01T12:00:00Z"}]}, "events.0.type"),
    # analytics.rollup
    ("analytics.rollup", without("analytics.rollup", "start"), "start"),
    ("analytics.rollup", changed("analytics.rollup", granularity="week"), "granularity"),
    ("analytics.rollup", changed("analytics.rollup", start="2024-05-01T12:00:00"), "start"),
    ("analytics.rollup", changed("analytics.rollup", start="yesterday"), "start"),
    # analytics.report
    ("analytics.report", without("analytics.report", "from"), "from"),
    ("analytics.report", changed("analytics.report", to="2024-05-01T00:00:00Z"), "to"),
    ("analytics.report", changed("analytics.report", to="2024-04-01T00:00:00Z"), "to"),
    ("analytics.report", changed("analytics.report", metrics=[]), "metrics"),
    ("analytics.report", changed("analytics.report", metrics=["views", "views"]), "metrics"),
    ("analytics.report", changed("analytics.report", format="xml"), "format"),
    # email.send
    ("email.send", without("email.send", "subject"), "subject"),
    ("email.send", {"to": ["ada@example.com"], "subject": "Hi"}, "payload"),
    ("email.send", changed("email.send", templateId="welcome"), "payload"),
    ("email.send", changed("email.send", vars={"name": "Ada"}), "payload"),
    ("email.send", changed("email.send", to=[]), "to"),
    ("email.send", changed("email.send", to=[f"user{i}@example.com" for i in range(51)]), "to"),
    ("email.send", changed("email.send", to=["not-an-address"]), "to.0"),
    ("email.send", changed("email.send", to="ada@example.com"), "to"),
    ("email.send", changed("email.send", subject="Hi\r\nBcc: victim@example.com"), "subject"),
    ("email.send", changed("email.send", replyTo="nobody"), "replyTo"),
    ("email.send", changed("email.send", cc=["x@example.com"]), "cc"),
    # email.otp
    ("email.otp", without("email.otp", "purpose"), "purpose"),
    ("email.otp", changed("email.otp", ttlSeconds=29), "ttlSeconds"),
    ("email.otp", changed("email.otp", ttlSeconds=3_601), "ttlSeconds"),
    ("email.otp", changed("email.otp", to="ada@"), "to"),
    ("email.otp", changed("email.otp", purpose="Log In"), "purpose"),
    ("email.otp", changed("email.otp", code="123456"), "code"),
    # plugin.execute
    ("plugin.execute", without("plugin.execute", "hook"), "hook"),
    ("plugin.execute", changed("plugin.execute", timeoutMs=99), "timeoutMs"),
    ("plugin.execute", changed("plugin.execute", timeoutMs=300_001), "timeoutMs"),
    ("plugin.execute", changed("plugin.execute", timeoutMs=1.5), "timeoutMs"),
    ("plugin.execute", changed("plugin.execute", payload=TOO_MANY_KEYS), "payload"),
    ("plugin.execute", changed("plugin.execute", pluginId="../../etc"), "pluginId"),
    # plugin.webhook
    ("plugin.webhook", without("plugin.webhook", "event"), "event"),
    ("plugin.webhook", changed("plugin.webhook", url="ftp://example.com/x"), "url"),
    ("plugin.webhook", changed("plugin.webhook", url="javascript:alert(1)"), "url"),
    ("plugin.webhook", changed("plugin.webhook", url="https://"), "url"),
    ("plugin.webhook", changed("plugin.webhook", url="https://example.com/a b"), "url"),
    ("plugin.webhook", changed("plugin.webhook", url="https://example.com/" + "a" * 2_048), "url"),
    ("plugin.webhook", changed("plugin.webhook", secretRef=""), "secretRef"),
    ("plugin.webhook", changed("plugin.webhook", body="text"), "body"),
    # search.index
    ("search.index", without("search.index", "body"), "body"),
    ("search.index", changed("search.index", title=""), "title"),
    ("search.index", changed("search.index", tags=[f"t{i}" for i in range(51)]), "tags"),
    ("search.index", changed("search.index", tags=["python", "python"]), "tags"),
    ("search.index", changed("search.index", tags=["x" * 65]), "tags.0"),
    ("search.index", changed("search.index", url="file:///etc/passwd"), "url"),
    ("search.index", changed("search.index", body=LONG), "body"),
    # search.remove
    ("search.remove", without("search.remove", "docId"), "docId"),
    ("search.remove", changed("search.remove", docType="Article!"), "docType"),
    ("search.remove", changed("search.remove", title="Queues"), "title"),
    # article.publish
    ("article.publish", without("article.publish", "channels"), "channels"),
    ("article.publish", changed("article.publish", channels=[]), "channels"),
    ("article.publish", changed("article.publish", channels=["web", "web"]), "channels"),
    ("article.publish", changed("article.publish", channels=[f"c{i}" for i in range(21)]), "channels"),
    ("article.publish", changed("article.publish", scheduledFor="2030-01-01T09:00:00"), "scheduledFor"),
    # article.autosave
    ("article.autosave", without("article.autosave", "userId"), "userId"),
    ("article.autosave", changed("article.autosave", revision=0), "revision"),
    ("article.autosave", changed("article.autosave", revision="3"), "revision"),
    ("article.autosave", changed("article.autosave", body=LONG), "body"),
    # system.cleanup
    ("system.cleanup", without("system.cleanup", "target"), "target"),
    ("system.cleanup", changed("system.cleanup", target="everything"), "target"),
    ("system.cleanup", changed("system.cleanup", olderThanHours=0), "olderThanHours"),
    ("system.cleanup", changed("system.cleanup", olderThanHours=87_601), "olderThanHours"),
]


@pytest.fixture
def registry() -> Registry:
    return default_registry()


def rejection(registry: Registry, name: str, payload: Any) -> PayloadValidationError:
    """The PayloadValidationError the registry raises for the payload."""
    with pytest.raises(PayloadValidationError) as caught:
        registry.validate(name, payload)
    return caught.value


# --- payloads ---------------------------------------------------------------------------------------------------------


def test_every_job_type_has_a_valid_example() -> None:
    assert set(VALID) == set(DESIGN_TABLE)
    assert {name for name, _, _ in INVALID} == set(DESIGN_TABLE)


@pytest.mark.parametrize(("name", "payload"), [*VALID.items(), *MORE_VALID])
def test_valid_payload_parses(registry: Registry, name: str, payload: dict[str, Any]) -> None:
    # Given a payload that satisfies the job's contract
    job_type = registry.job(name)
    # When the registry validates it
    parsed = registry.validate(name, payload)
    # Then it is an instance of the contract and survives a JSON round trip unchanged
    assert isinstance(parsed, job_type.contract)
    wire = parsed.model_dump(mode="json", by_alias=True, exclude_none=True)
    assert job_type.contract.model_validate(wire) == parsed


@pytest.mark.parametrize(("name", "payload", "field"), INVALID)
def test_invalid_payload_names_the_field(registry: Registry, name: str, payload: dict[str, Any], field: str) -> None:
    # Given a payload that breaks one rule of its contract
    # When the registry validates it
    error = rejection(registry, name, payload)
    # Then a PayloadValidationError for that job names the offending field
    assert error.job_name == name
    assert field in [e.field for e in error.errors], error.errors


@pytest.mark.parametrize("name", sorted(DESIGN_TABLE))
def test_every_required_field_is_enforced(registry: Registry, name: str) -> None:
    # Given the contract's required fields (by their wire name)
    contract = registry.job(name).contract
    required = [info.alias or field for field, info in contract.model_fields.items() if info.is_required()]
    assert required
    for field in required:
        # When one of them is missing
        error = rejection(registry, name, without(name, field))
        # Then the error names it as missing
        assert [(e.field, e.reason) for e in error.errors] == [(field, "Field required")]


@pytest.mark.parametrize("name", sorted(DESIGN_TABLE))
def test_unknown_fields_are_refused(registry: Registry, name: str) -> None:
    # Given a valid payload with one unexpected field
    payload = changed(name, unexpected=1)
    # When it is validated
    error = rejection(registry, name, payload)
    # Then the unexpected field is named
    assert [e.field for e in error.errors] == ["unexpected"]


@pytest.mark.parametrize("name", sorted(DESIGN_TABLE))
def test_non_object_payload_is_refused(registry: Registry, name: str) -> None:
    error = rejection(registry, name, ["not", "an", "object"])
    assert [e.field for e in error.errors] == ["payload"]


def test_several_bad_fields_are_all_reported(registry: Registry) -> None:
    # Given a payload with three bad fields
    payload = changed("ai.content.generate", articleId="", tone="angry", maxWords=-1)
    # When it is validated
    error = rejection(registry, "ai.content.generate", payload)
    # Then every bad field is reported, and the message names them
    assert {e.field for e in error.errors} == {"articleId", "tone", "maxWords"}
    assert "ai.content.generate" in str(error) and "maxWords" in str(error)


def test_a_contract_instance_is_accepted_as_is(registry: Registry) -> None:
    # Given an already-built contract instance
    report = AnalyticsReport.model_validate(VALID["analytics.report"])
    # When it is validated again
    # Then the same instance comes back
    assert registry.validate("analytics.report", report) is report


def test_contracts_are_frozen() -> None:
    report = AnalyticsReport.model_validate(VALID["analytics.report"])
    with pytest.raises(ValueError, match="frozen"):
        report.reportId = "other"


def test_report_period_uses_the_wire_name_from() -> None:
    # Given a report built by Python name and one parsed from the wire
    by_name = AnalyticsReport.model_validate(
        {"reportId": "rep-1", "from_": "2024-05-01T00:00:00Z", "to": "2024-06-01T00:00:00Z", "metrics": ["views"]}
    )
    # When it is serialised for the queue
    wire = by_name.model_dump(mode="json", by_alias=True)
    # Then the period starts at `from`, and the wire form parses back to the same value
    assert wire["from"] == "2024-05-01T00:00:00Z"
    assert "from_" not in wire
    assert AnalyticsReport.model_validate(wire) == by_name


def test_report_end_before_start_says_why(registry: Registry) -> None:
    error = rejection(registry, "analytics.report", changed("analytics.report", to="2024-04-01T00:00:00Z"))
    assert error.errors[0].field == "to"
    assert "'to' must be after 'from'" in error.errors[0].reason


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"text": None, "html": None}, "one of text, html or templateId is required"),
        ({"templateId": "welcome"}, "either templateId or text/html"),
        ({"vars": {"name": "Ada"}}, "vars are only allowed with templateId"),
    ],
)
def test_email_body_rules_explain_themselves(registry: Registry, changes: dict[str, Any], reason: str) -> None:
    # Given an email whose body sources break a rule
    payload = {key: value for key, value in changed("email.send", **changes).items() if value is not None}
    # When it is validated
    error = rejection(registry, "email.send", payload)
    # Then the reason says which rule
    assert len(error.errors) == 1
    assert reason in error.errors[0].reason


def test_email_with_text_and_html_keeps_both_parts() -> None:
    email = EmailSend.model_validate(VALID["email.send"])
    assert email.text == "Hi there"
    assert email.html == "<p>Hi there</p>"


# --- workflows --------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("edges", "reason"),
    [
        ((("a", ["a"]),), "dependency cycle: a -> a"),
        ((("a", ["b"]), ("b", ["a"])), "dependency cycle: a -> b -> a"),
        ((("root", []), ("a", ["root", "c"]), ("b", ["a"]), ("c", ["b"])), "dependency cycle: a -> c -> b -> a"),
        ((("a", []), ("b", ["a", "ghost"])), "step 'b' depends on unknown step 'ghost'"),
        ((("a", []), ("b", []), ("a", []), ("b", [])), "step ids must be unique; repeated: a, b"),
    ],
)
def test_workflow_rejects_bad_dependency_graphs(
    registry: Registry, edges: tuple[tuple[str, list[str]], ...], reason: str
) -> None:
    # Given a workflow whose steps have a cycle, an unknown dependency or repeated ids
    payload = steps(*edges)
    # When it is validated
    error = rejection(registry, "workflow.run", payload)
    # Then the steps field is rejected with a message naming the cycle or the id
    assert [e.field for e in error.errors] == ["steps"]
    assert reason in error.errors[0].reason


def test_workflow_accepts_a_wide_diamond_dag() -> None:
    # Given 100 steps: one root, 98 in parallel on it, one sink on all of them
    middle = [(f"m{i}", ["root"]) for i in range(98)]
    payload = steps(("root", []), *middle, ("sink", [sid for sid, _ in middle]))
    # When it is parsed
    run = WorkflowRun.model_validate(payload)
    # Then every step is kept in order
    assert [step.id for step in run.steps][:2] == ["root", "m0"]
    assert len(run.steps[-1].dependsOn) == 98


def test_workflow_accepts_a_long_chain() -> None:
    # Given 100 steps each depending on the previous one
    payload = steps(("s0", []), *[(f"s{i}", [f"s{i - 1}"]) for i in range(1, 100)])
    # When it is parsed
    run = WorkflowRun.model_validate(payload)
    # Then it is accepted
    assert len(run.steps) == 100


# --- queues and registry ----------------------------------------------------------------------------------------------


def test_registry_holds_six_work_queues_and_the_dlq(registry: Registry) -> None:
    assert set(registry.queues) == {"ai", "workflows", "analytics", "email", "plugins", "system", "dlq"}
    assert sorted(registry.work_queues) == sorted(["ai", "workflows", "analytics", "email", "plugins", "system"])
    assert registry.jobs_of("dlq") == []


def test_registry_holds_nineteen_jobs_and_eleven_workers(registry: Registry) -> None:
    assert len(registry.jobs) == 19
    workers = {job.worker for job in registry.jobs.values()}
    assert len(workers) == 11
    assert workers == set(CATALOGUE_WORKERS)
    assert len(CATALOGUE_JOBS) == 19
    assert len({job.contract for job in CATALOGUE_JOBS}) == 19


@pytest.mark.parametrize(("name", "queue", "worker"), [(name, *where) for name, where in DESIGN_TABLE.items()])
def test_job_runs_on_the_designed_queue_and_worker(registry: Registry, name: str, queue: str, worker: str) -> None:
    job = registry.job(name)
    assert (job.queue, job.worker) == (queue, worker)
    assert issubclass(job.contract, JobContract)
    assert job.description


def test_every_work_queue_has_jobs(registry: Registry) -> None:
    for queue in registry.work_queues:
        assert registry.jobs_of(queue), queue


def test_queue_policies_suit_their_work(registry: Registry) -> None:
    ai, email, plugins = registry.queue("ai"), registry.queue("email"), registry.queue("plugins")
    assert ai.rate_limit is not None and email.rate_limit is not None
    assert email.attempts >= 3
    # A plugin may ask for up to 300 s; the queue must not time the attempt out first.
    assert plugins.timeout_seconds > 300
    assert registry.queue("dlq").keep_failed.age_seconds >= 7 * 86_400
    assert {queue.name for queue in CATALOGUE_QUEUES} == set(registry.queues)


def test_each_call_returns_a_fresh_registry() -> None:
    # Given one registry changed by an application
    first = default_registry()
    first.add_queue(QueueConfig(name="billing"))
    # When another default registry is made
    second = default_registry()
    # Then it does not see the change
    assert "billing" in first.queues
    assert "billing" not in second.queues


class InvoiceCreate(JobContract):
    """An application's own job contract."""

    invoiceId: str
    cents: int


def test_application_adds_its_own_queue_and_job() -> None:
    # Given the catalogue registry and an application's queue and job type
    registry = default_registry()
    registry.extend(
        queues=[QueueConfig(name="billing", attempts=5, concurrency=2)],
        jobs=[JobType("billing.invoice.create", "billing", "billing", InvoiceCreate, "Creates an invoice.")],
    )
    # When a payload for the new job is validated
    parsed = registry.validate("billing.invoice.create", {"invoiceId": "inv-1", "cents": 1_200})
    # Then it parses with the application's contract, next to the catalogue
    assert parsed == InvoiceCreate(invoiceId="inv-1", cents=1_200)
    assert "billing" in registry.work_queues
    assert len(registry.jobs) == 20
    with pytest.raises(PayloadValidationError):
        registry.validate("billing.invoice.create", {"invoiceId": "inv-1"})


@pytest.mark.parametrize("queue", ["dlq", "no-such-queue"])
def test_job_on_dlq_or_unknown_queue_is_refused(registry: Registry, queue: str) -> None:
    # Given a job type bound to the DLQ or to a queue never registered
    job = JobType("billing.invoice.create", queue, "billing", InvoiceCreate)
    # When it is added
    # Then the registration is refused
    with pytest.raises(ConfigurationError, match=queue):
        registry.add_job(job)
    assert "billing.invoice.create" not in registry.jobs


def test_catalogue_job_cannot_be_registered_twice(registry: Registry) -> None:
    with pytest.raises(ConfigurationError, match="already registered"):
        registry.add_job(CATALOGUE_JOBS[0])


def test_unknown_job_name_is_refused(registry: Registry) -> None:
    with pytest.raises(UnknownJobError):
        registry.validate("ai.content.translate", {})


# --- typed producer ---------------------------------------------------------------------------------------------------


class RecordingProducer(CatalogueProducerMixin):
    """A producer whose enqueue only records what it was given."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, JobContract | Mapping[str, Any], EnqueueOptions | None]] = []

    async def enqueue(
        self, name: str, payload: JobContract | Mapping[str, Any], options: EnqueueOptions | None = None
    ) -> str:
        self.calls.append((name, payload, options))
        return f"id-{len(self.calls)}"


def test_producer_has_one_method_per_job_type() -> None:
    methods = {name for name in vars(CatalogueProducerMixin) if not name.startswith("_")}
    assert methods == {name.replace(".", "_") for name in DESIGN_TABLE}


@pytest.mark.parametrize("name", sorted(DESIGN_TABLE))
async def test_typed_method_enqueues_its_job_name(name: str) -> None:
    # Given a producer and options
    producer = RecordingProducer()
    options = EnqueueOptions(priority=1)
    # When the typed method for the job is called
    job_id = await getattr(producer, name.replace(".", "_"))(VALID[name], options)
    # Then the generic enqueue receives the job name, the payload and the options
    assert job_id == "id-1"
    assert producer.calls == [(name, VALID[name], options)]
