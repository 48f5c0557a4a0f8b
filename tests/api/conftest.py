"""Fixtures of the API tests."""

from api.api_peers import live_api

__all__ = ["live_api"]
