"""Shared fixtures: one real Valkey per test session (Corral's own launcher), flushed before each test.

With `CORRAL_TEST_SERVER=cluster`, the session's server is a 3-master Valkey Cluster instead (run so with
`-m cluster`: the tests marked `cluster` also hold on a cluster).

Every test also gets its own key prefix (so a consumer left by another test can never take its jobs), owns the
processes it starts (killed, and the test failed, if any outlives it) and has its leaked connections reported
as its own failure (garbage is collected at its teardown).
"""

from __future__ import annotations

import gc
import itertools
import os
import tempfile
import warnings
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest
import redis
from redis.asyncio import Redis

from corral.connection import redis_client as make_redis_client
from corral.contracts.base import Registry
from corral.dlq.store import DeadLetterStore
from corral.engine import Engine
from corral.handlers import Handler
from corral.hooks import HookBus
from corral.keys import Keys
from corral.producer import Producer
from corral.runtime import Runtime
from corral.server import EmbeddedValkey
from corral.settings import Settings
from corral_reference.producer import ReferenceProducer

from owned_processes import TAG_VARIABLE, ProcessGroup, leftovers

_test_numbers = itertools.count(1)


ON_CLUSTER = os.environ.get("CORRAL_TEST_SERVER") == "cluster"
_cluster_ports: list[int] = []


@pytest.fixture(scope="session")
def valkey_url() -> Iterator[str]:
    """A real Valkey server for the whole session, started by Corral's embedded launcher (or a cluster)."""
    with tempfile.TemporaryDirectory(prefix="corral-test-valkey-") as directory:
        if ON_CLUSTER:
            from cluster_support import ClusterDeployment

            group = ProcessGroup()
            try:
                cluster = ClusterDeployment(group, Path(directory), password=None)
                _cluster_ports[:] = cluster.master_ports
                yield cluster.url
            finally:
                group.close()
            return
        server = EmbeddedValkey(Path(directory), persist=False)
        url = server.start()
        try:
            yield url
        finally:
            server.stop()


@pytest.fixture(autouse=True)
def _flush(valkey_url: str) -> None:
    if ON_CLUSTER:
        for port in _cluster_ports:
            node = redis.Redis(host="127.0.0.1", port=port)
            node.flushall()
            node.close()
        return
    client = redis.Redis.from_url(valkey_url)
    client.flushall()
    client.close()


@pytest.fixture(autouse=True)
def _own_test(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[None]:
    """A key prefix and a process tag of this test's own; its leftover processes and connections fail it."""
    number = next(_test_numbers)
    tag = f"{os.getpid()}-{number}"
    monkeypatch.setenv("CORRAL_KEY_PREFIX", f"t{number}")
    monkeypatch.setenv(TAG_VARIABLE, tag)
    yield
    # Processes working inside the run's temporary directories are the tests' too (the session's Valkey is not).
    left = leftovers(tag, grace_seconds=15, working_under=tmp_path_factory.getbasetemp())
    # Connections this test left open warn when collected: collect now, so the warning fails this test.
    with warnings.catch_warnings():
        warnings.simplefilter("error", ResourceWarning)
        gc.collect()
    if left:
        pytest.fail(f"{request.node.nodeid} left processes running (now killed): " + "; ".join(left), pytrace=False)


@pytest.fixture
def processes() -> Iterator[ProcessGroup]:
    """Factory: start subprocesses this test owns; each is killed, with its process group, when the test ends."""
    group = ProcessGroup()
    try:
        yield group
    finally:
        group.close()


@pytest.fixture
def settings(tmp_path: Path, valkey_url: str) -> Settings:
    """Development settings pointing at the session's Valkey, with a private data directory."""
    return Settings(
        redis_url=valkey_url,
        key_prefix=os.environ["CORRAL_KEY_PREFIX"],
        data_dir=tmp_path / "data",
        shutdown_grace_seconds=5,
        dlq_sweep_interval_seconds=0.5,
        lock_duration_ms=2_000,
        stalled_interval_ms=1_000,
    )


@pytest.fixture
def keys(settings: Settings, valkey_url: str) -> Keys:
    return Keys.for_server(settings.key_prefix, valkey_url)


@pytest.fixture
async def redis_client(valkey_url: str) -> AsyncIterator[Redis]:
    client = make_redis_client(valkey_url)
    yield client
    await client.aclose()


@pytest.fixture
async def engine(valkey_url: str, keys: Keys) -> AsyncIterator[Engine]:
    engine = Engine(valkey_url, keys)
    yield engine
    await engine.close()


RuntimeFactory = Callable[..., Any]


@pytest.fixture
async def start_runtime(settings: Settings, valkey_url: str) -> AsyncIterator[RuntimeFactory]:
    """Factory: start a worker runtime for a registry and handlers; every runtime is closed after the test."""
    started: list[Runtime] = []

    async def start(
        registry: Registry,
        handlers: Mapping[str, Handler],
        *,
        queues: Sequence[str] | None = None,
        hooks: HookBus | None = None,
    ) -> Runtime:
        runtime = Runtime(settings, valkey_url, registry, handlers, queues=queues, dlq=DeadLetterStore, hooks=hooks)
        await runtime.start()
        started.append(runtime)
        return runtime

    yield start
    for runtime in started:
        if not runtime._stopped.is_set():
            await runtime.close(grace_seconds=2)


@pytest.fixture
def make_producer(engine: Engine) -> Callable[..., Producer]:
    def make(registry: Registry, hooks: HookBus | None = None) -> Producer:
        return ReferenceProducer(engine, registry, hooks)

    return make


@pytest.fixture
async def worker_services(settings: Settings, valkey_url: str, engine: Engine) -> AsyncIterator[Any]:
    """Services for catalogue worker modules: settings, Redis, a catalogue producer, keys."""
    from corral.worker_services import WorkerServices
    from corral_reference.contracts import default_registry

    client = make_redis_client(valkey_url)
    services = WorkerServices(
        settings, client, ReferenceProducer(engine, default_registry()), Keys(settings.key_prefix)
    )
    yield services
    await services.close()
    await client.aclose()


@pytest.fixture
def serve_app() -> Iterator[Callable[[Any], str]]:
    """Factory: serve an ASGI app with uvicorn on a free loopback port in a thread; returns its base URL."""
    import threading
    import time

    import uvicorn

    from corral.api.serving import server_config
    from corral.server import free_port

    servers: list[tuple[uvicorn.Server, threading.Thread]] = []

    def serve(asgi_app: Any) -> str:
        port = free_port()
        # The production configuration (uvicorn's proxy headers off), so tests see what `corral up` serves.
        server = uvicorn.Server(server_config(asgi_app, "127.0.0.1", port, lifespan="on"))
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        deadline = time.monotonic() + 60
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("test server did not start")
            time.sleep(0.01)
        servers.append((server, thread))
        return f"http://127.0.0.1:{port}"

    yield serve
    for server, thread in servers:
        server.should_exit = True
        thread.join(timeout=10)
