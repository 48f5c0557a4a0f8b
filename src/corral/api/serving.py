"""How uvicorn serves the API: Corral reads forwarded headers itself, so uvicorn's own proxy handling is off."""

from __future__ import annotations

from typing import Any

import uvicorn

MAX_WEBSOCKET_MESSAGE_BYTES = 65_536
"""Client messages are JSON objects of at most 4 KiB; anything far larger is refused by the server itself."""


def server_config(app: Any, host: str, port: int, **options: Any) -> uvicorn.Config:
    """The uvicorn configuration of an API process.

    `proxy_headers=False`: uvicorn would otherwise believe `X-Forwarded-For`/`-Proto` from 127.0.0.1 whatever
    CORRAL_TRUSTED_PROXIES says; Corral applies its own trusted-proxy rule (`corral.api.security.client_ip`).
    """
    settings: dict[str, Any] = {
        "log_config": None,
        "access_log": False,
        "proxy_headers": False,
        "server_header": False,
        "ws_max_size": MAX_WEBSOCKET_MESSAGE_BYTES,
        **options,
    }
    return uvicorn.Config(app, host=host, port=port, **settings)
