"""Session secret on disk (0600, never logged), the CSRF token that guards every mutation,
and the device cookie that tells an owner's known browser from an attacker's."""

from __future__ import annotations

import os
import secrets
import stat
from pathlib import Path

from itsdangerous import BadData, URLSafeTimedSerializer

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


def secret_matches(expected: object, given: str | None) -> bool:
    """Constant-time comparison (CSRF, /metrics token); a missing token on either side never matches."""
    if not isinstance(expected, str) or not expected or not given:
        return False
    return secrets.compare_digest(expected.encode(), given.encode())


DEVICE_COOKIE = "custobot_device"
DEVICE_MAX_AGE_S = 365 * 86_400


class DeviceCookies:
    """OWASP's device cookies: a browser that logged in as NAME before gets a signed cookie.

    With it, that browser's login attempts are counted against its own key
    (``device:<nonce>``) instead of the owner name and the client address, so an
    attacker who locks the name (or shares the owner's address) does not lock the
    owner's known browser out; without one, an attempt counts against the name and
    the address, which bounds every attacker together.
    """

    def __init__(self, secret: str) -> None:
        self._serializer = URLSafeTimedSerializer(secret, salt="custobot-device-cookie")

    def issue(self, name: str) -> str:
        return self._serializer.dumps({"n": name, "d": secrets.token_urlsafe(16)})

    def key(self, cookie: str | None, name: str) -> str | None:
        """The throttle key of a valid, unexpired cookie issued for ``name``; else None."""
        if not cookie or len(cookie) > 512:
            return None
        try:
            data = self._serializer.loads(cookie, max_age=DEVICE_MAX_AGE_S)
        except BadData:
            return None
        if not isinstance(data, dict) or data.get("n") != name:
            return None
        nonce = data.get("d")
        return f"device:{nonce}" if isinstance(nonce, str) and 0 < len(nonce) <= 32 else None
