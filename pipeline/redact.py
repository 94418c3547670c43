"""Secrets never leave the process: credentials inside URIs are masked wherever a URI is printed, logged or written."""

from __future__ import annotations

import re

# scheme://user:password@host -> scheme://user:***@host (also a bare token: scheme://token@host -> scheme://***@host)
_USERINFO = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.\-]*://)(?P<user>[^\s:/@]*)(?P<password>:[^\s/]*)?@", re.ASCII)
# query parameters that carry credentials: ?token=..., &password=..., &access_key=...
_QUERY = re.compile(r"(?i)([?&](?:token|access_token|password|passwd|secret|api_key|apikey|key|sig)=)[^&\s#'\"]+")


def redact(text: object) -> str:
    """``text`` with the password (or token) of every URI in it replaced by ``***``."""

    def userinfo(match: re.Match) -> str:
        if match["password"] is not None:
            return f"{match['scheme']}{match['user']}:***@"
        return f"{match['scheme']}***@"

    return _QUERY.sub(r"\1***", _USERINFO.sub(userinfo, str(text)))
