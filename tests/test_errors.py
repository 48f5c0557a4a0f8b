"""The error tree drawn in errors.py's docstring is the real one: every class, each under its parent."""

from __future__ import annotations

import inspect
import re

from corral import errors


def _drawn_tree() -> dict[str, str | None]:
    """Class name -> parent name, read from the docstring's tree (indentation is four characters per level)."""
    parents: dict[str, str | None] = {}
    path: list[str] = []
    for line in (errors.__doc__ or "").splitlines():
        found = re.match(r"^([│ ├└─]*)(\w+Error|\w+Failure)$", line.rstrip())
        if not found:
            continue
        depth = len(found.group(1)) // 4
        name = found.group(2)
        path = path[:depth]
        parents[name] = path[-1] if path else None
        path.append(name)
    return parents


def test_the_docstring_draws_every_error_under_its_parent() -> None:
    # Given every exception class errors.py defines
    defined = {
        name: cls
        for name, cls in vars(errors).items()
        if inspect.isclass(cls) and issubclass(cls, errors.CorralError) and cls.__module__ == errors.__name__
    }
    # When the docstring's tree is read
    drawn = _drawn_tree()
    # Then it names exactly those classes, each under its real base class, with one "Raised when" line each
    assert set(drawn) == set(defined)
    for name, cls in defined.items():
        expected = None if cls is errors.CorralError else cls.__bases__[0].__name__
        assert drawn[name] == expected, name
        assert (cls.__doc__ or "").startswith("Raised "), name
