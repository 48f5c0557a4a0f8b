"""Files and directories only their owner may read: the data directory, secrets, the embedded server's files."""

from __future__ import annotations

import os
from pathlib import Path

PRIVATE_DIR_MODE = 0o700
PRIVATE_FILE_MODE = 0o600
PRIVATE_UMASK = 0o077
"""The umask of `corral up` and the processes it starts: everything they create is the owner's alone."""


def make_private_dir(path: Path) -> Path:
    """Create `path` (and its parents) if needed, and make it readable by its owner only (0700)."""
    path.mkdir(parents=True, exist_ok=True)
    path.chmod(PRIVATE_DIR_MODE)
    return path


def make_private_tree(path: Path) -> None:
    """Make `path` and everything below it the owner's alone: directories 0700, files 0600 (links left alone)."""
    make_private_dir(path)
    for root, directories, files in os.walk(path):
        for name in directories:
            child = Path(root) / name
            if not child.is_symlink():
                child.chmod(PRIVATE_DIR_MODE)
        for name in files:
            child = Path(root) / name
            if not child.is_symlink():
                child.chmod(PRIVATE_FILE_MODE)


def write_private(path: Path, text: str) -> None:
    """Write `text` to `path`, created or truncated with mode 0600 (never readable by others, even briefly)."""
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, PRIVATE_FILE_MODE)
    with os.fdopen(descriptor, "w", encoding="utf-8") as file:
        os.fchmod(file.fileno(), PRIVATE_FILE_MODE)
        file.write(text)
