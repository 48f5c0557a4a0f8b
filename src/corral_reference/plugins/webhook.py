"""Webhook delivery: a signed JSON POST that refuses private addresses, retries 5xx, and fails fast on 4xx."""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from typing import Any

import httpx

from corral import __version__
from corral.errors import JobFailure, UnrecoverableJobError
from corral.settings import Settings
from corral.signing import DELIVERY_HEADER, EVENT_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER, sign
from corral_reference.outbound import (
    IPAddress,
    PinnedRequest,
    Resolver,
    default_port,
    refused_addresses,
    system_resolver,
    unpooled_client,
)
from corral_reference.settings import ReferenceSettings

logger = logging.getLogger(__name__)

RETRYABLE_STATUSES = frozenset({408, 425, 429})
"""4xx answers that mean "later" rather than "never"; every other 4xx is unrecoverable."""


@dataclass(frozen=True)
class WebhookDelivery:
    """A delivered webhook: the receiver's status and how long it took."""

    status: int
    delivery_id: str
    signed: bool
    duration_ms: int


class WebhookSender:
    """Posts webhook events with one HTTP client; resolves and checks the host, then connects to that address."""

    def __init__(
        self,
        *,
        timeout_seconds: float,
        allow_private: bool,
        secrets: dict[str, str],
        resolver: Resolver = system_resolver,
    ) -> None:
        self.allow_private = allow_private
        self._secrets = secrets
        self._resolver = resolver
        self._client = unpooled_client(timeout_seconds)
        self.timeout_seconds = timeout_seconds

    @classmethod
    def from_settings(cls, settings: Settings) -> WebhookSender:
        """A sender with the timeout, private-address policy and signing secrets of `settings`."""
        settings = ReferenceSettings.of(settings)
        return cls(
            timeout_seconds=settings.webhook_timeout_seconds,
            allow_private=settings.webhook_allow_private,
            secrets={ref: secret.get_secret_value() for ref, secret in settings.webhook_secrets.items()},
        )

    async def close(self) -> None:
        """Close the HTTP client."""
        await self._client.aclose()

    async def deliver(
        self,
        *,
        url: str,
        plugin_id: str,
        event: str,
        body: dict[str, Any],
        delivery_id: str,
        secret_ref: str | None = None,
    ) -> WebhookDelivery:
        """POST `{event, pluginId, deliveryId, data}` to `url`, signed when `secret_ref` names a secret."""
        secret = None
        if secret_ref is not None:
            secret = self._secrets.get(secret_ref)
            if secret is None:
                raise UnrecoverableJobError(f"unknown webhook secretRef {secret_ref!r}")
        target = httpx.URL(url)
        pinned = PinnedRequest.to(target, await self._checked_address(target))
        document = {"event": event, "pluginId": plugin_id, "deliveryId": delivery_id, "data": body}
        content = json.dumps(document, separators=(",", ":"), allow_nan=False).encode()
        timestamp = int(time.time())
        headers = {
            "Host": pinned.host_header,
            "Content-Type": "application/json",
            "User-Agent": f"corral-webhook/{__version__}",
            EVENT_HEADER: event,
            DELIVERY_HEADER: delivery_id,
            TIMESTAMP_HEADER: str(timestamp),
        }
        if secret is not None:
            headers[SIGNATURE_HEADER] = sign(secret, timestamp, content)
        label = f"webhook {target.host}"
        started = time.monotonic()
        try:
            response = await self._client.post(
                pinned.url, content=content, headers=headers, extensions=pinned.extensions
            )
        except httpx.TimeoutException:
            raise JobFailure(f"{label} timed out after {self.timeout_seconds:g} s") from None
        except httpx.TransportError as exc:
            raise JobFailure(f"{label} unreachable: {type(exc).__name__}: {exc}") from None
        duration_ms = int((time.monotonic() - started) * 1000)
        status = response.status_code
        if 200 <= status < 300:
            logger.info("%s answered %d in %d ms (delivery %s)", label, status, duration_ms, delivery_id)
            return WebhookDelivery(status, delivery_id, secret is not None, duration_ms)
        reason = f"{label} answered {status} {response.reason_phrase}".rstrip()
        if status >= 500 or status in RETRYABLE_STATUSES:
            raise JobFailure(reason)
        if 300 <= status < 400:
            reason += " (redirects are not followed)"
        raise UnrecoverableJobError(reason)

    async def _checked_address(self, target: httpx.URL) -> IPAddress:
        """The address to connect to: the host's first resolved address, once every resolved one is allowed."""
        host = target.host
        try:
            addresses = await self._resolver(host, default_port(target))
        except OSError as exc:
            raise JobFailure(f"webhook {host} cannot be resolved: {exc}") from None
        if not addresses:
            raise JobFailure(f"webhook {host} resolves to no address")
        refused = [] if self.allow_private else refused_addresses(addresses)
        if refused:
            raise UnrecoverableJobError(
                f"webhook {host} refused: it resolves to {refused[0]}, a private, loopback or link-local address "
                "(set CORRAL_WEBHOOK_ALLOW_PRIVATE=true to allow such targets)"
            )
        return addresses[0]
