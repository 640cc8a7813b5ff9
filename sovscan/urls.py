"""URLs as they may be shown: what can carry a secret is cut before any report, log or error."""

from __future__ import annotations

import re

_SECRET_PARTS = re.compile(r"[?#;]")
_USER_INFO = re.compile(r"//[^/]*@")


def without_secrets(url: str) -> str:
    """`url` without user information, query, fragment or path parameters, which can carry tokens
    (an SSO link, a pre-signed URL, a session id); works on URLs too malformed to parse."""
    return _USER_INFO.sub("//", _SECRET_PARTS.split(url, maxsplit=1)[0])
