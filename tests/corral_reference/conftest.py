"""Fixtures of the reference application's tests: settings with the reference app's fields (mail, AI, search...)."""

from __future__ import annotations

import pytest

from corral.settings import Settings
from corral_reference.settings import ReferenceSettings


@pytest.fixture
def settings(settings: Settings) -> ReferenceSettings:
    """The platform's test settings, as the reference application's settings."""
    return ReferenceSettings.of(settings)
