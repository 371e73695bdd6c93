"""API keys for the OpenAI-compatible endpoint (/v1) and MCP over HTTP (/mcp): FARUN_API_KEYS
(`Settings.api_keys`, comma-separated). None configured: both are open, like /api."""
from __future__ import annotations

import hmac


class ApiKeys:
    def __init__(self, keys: list[str] | tuple[str, ...] = ()):
        self.keys = tuple(k.encode("utf-8") for k in keys if k and k.strip())

    @property
    def required(self) -> bool:
        return bool(self.keys)

    def check(self, authorization: str | None) -> bool:
        """Whether an Authorization header (`Bearer <key>`) carries one of the keys (always, when none are set)."""
        if not self.keys:
            return True
        scheme, _, given = (authorization or "").strip().partition(" ")
        if scheme.lower() != "bearer" or not given.strip():
            return False
        token = given.strip().encode("utf-8")
        # compare with every key, so that the time taken does not tell which one is close
        return sum(hmac.compare_digest(token, k) for k in self.keys) > 0
