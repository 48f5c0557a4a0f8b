"""The reference application: the catalogue of six queues, nineteen job types and eleven workers, on the platform.

`corral` serves it by default (`CORRAL_APP=corral_reference:app`); it is an application like any other.
"""

from __future__ import annotations

from corral_reference.app import app, private_ai_app

__all__ = ["app", "private_ai_app"]
