"""Session secret on disk (0600, never logged) and the CSRF token that guards every mutation."""

from __future__ import annotations

import os
import secrets
import stat
from pathlib import Path

from dashboard.errors import SecretFileError

CSRF_FORM_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"
_SECRET_BYTES = 32


def load_or_create_secret(path: Path) -> str:
    """Read the session signing secret, creating it (mode 0600) on first start.

    A file that others can read is refused rather than silently trusted.
    """
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        pass
    else:
        with os.fdopen(fd, "w") as out:
            out.write(secrets.token_hex(_SECRET_BYTES))
    info = path.stat()
    if not stat.S_ISREG(info.st_mode):
        raise SecretFileError(str(path), "not a regular file")
    if info.st_mode & 0o077:
        raise SecretFileError(str(path), "readable by group or others; chmod 600 it")
    value = path.read_text().strip()
    if len(value) < _SECRET_BYTES:
        raise SecretFileError(str(path), "too short; delete it to create a new one")
    return value


def new_csrf_token() -> str:
    return secrets.token_urlsafe(32)


def csrf_matches(expected: object, given: str | None) -> bool:
    """Constant-time comparison; a missing token on either side never matches."""
    if not isinstance(expected, str) or not expected or not given:
        return False
    return secrets.compare_digest(expected.encode(), given.encode())
