"""Fixtures of the console's browser tests."""

from console.console_peers import background, browser, console, served

__all__ = ["background", "browser", "console", "served"]
