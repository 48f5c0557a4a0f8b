"""Alert webhooks: each alert transition POSTed as JSON, signed with HMAC-SHA256 like plugin webhooks."""

from __future__ import annotations

import json
import logging
import time
import uuid
from dataclasses import asdict

import httpx

from corral.monitoring.alerts import AlertTransition
from corral.signing import DELIVERY_HEADER, EVENT_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER, sign

logger = logging.getLogger(__name__)


class AlertWebhook:
    """Delivers `alert.fired` / `alert.resolved` to one URL; a failed delivery is logged, never retried."""

    def __init__(self, url: str, secret: str, timeout_seconds: float = 10.0) -> None:
        self.url = url
        self.secret = secret
        self._client = httpx.AsyncClient(timeout=timeout_seconds, follow_redirects=False)

    async def send(self, transition: AlertTransition) -> bool:
        """POST one transition; True when the receiver answered 2xx."""
        event = f"alert.{transition.event}"
        body = json.dumps(
            {"event": event, "at": transition.at, "alert": asdict(transition.alert)}, separators=(",", ":"), default=str
        ).encode()
        timestamp = int(time.time())
        headers = {
            "Content-Type": "application/json",
            EVENT_HEADER: event,
            DELIVERY_HEADER: str(uuid.uuid4()),
            TIMESTAMP_HEADER: str(timestamp),
        }
        if self.secret:
            headers[SIGNATURE_HEADER] = sign(self.secret, timestamp, body)
        try:
            response = await self._client.post(self.url, content=body, headers=headers)
        except httpx.HTTPError as exc:
            logger.warning("alert webhook %s failed: %s", self.url, exc)
            return False
        if not response.is_success:
            logger.warning("alert webhook %s answered %d", self.url, response.status_code)
        return response.is_success

    async def close(self) -> None:
        """Close the HTTP client."""
        await self._client.aclose()
