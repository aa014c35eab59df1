"""The SMS gateway adapter: one HTTP request per message, the message's
idempotency key in a header and (by template) in the body, so a gateway
that already accepted a message does not deliver it again on a retry."""

from __future__ import annotations

import json
from typing import Any

import httpx

from hub.supervision.config import SmsGatewaySettings


class GatewayError(Exception):
    """A failed attempt. `retryable` is False when sending the same request
    again cannot help (the gateway refused it as malformed)."""

    def __init__(self, message: str, *, retryable: bool) -> None:
        super().__init__(message)
        self.retryable = retryable


def render(template: Any, values: dict[str, str]) -> Any:
    """Substitute {name} placeholders in every string of a JSON value.
    Only the known names are replaced; other braces are left alone."""
    if isinstance(template, str):
        out = template
        for name, value in values.items():
            out = out.replace("{" + name + "}", value)
        return out
    if isinstance(template, list):
        return [render(v, values) for v in template]
    if isinstance(template, dict):
        return {k: render(v, values) for k, v in template.items()}
    return template


class SmsGateway:
    def __init__(self, settings: SmsGatewaySettings, client: httpx.AsyncClient | None = None) -> None:
        self.settings = settings
        self._client = client

    async def send(self, *, key: str, phone: str, text: str, kind: str) -> str:
        """Deliver one message; returns a short note, raises GatewayError."""
        s = self.settings
        body = render(s.body_template, {"phone": phone, "text": text, "key": key, "kind": kind})
        headers = {"Content-Type": "application/json", s.idempotency_header: key}
        if s.auth_value:
            headers[s.auth_header] = s.auth_value
        client = self._client or httpx.AsyncClient()
        try:
            resp = await client.request(s.method, s.url, content=json.dumps(body, ensure_ascii=False).encode(),
                                        headers=headers, timeout=s.timeout_seconds)
        except httpx.TimeoutException:
            raise GatewayError(f"SMS gateway did not answer within {s.timeout_seconds:g} s", retryable=True) from None
        except httpx.HTTPError as exc:
            raise GatewayError(f"SMS gateway unreachable: {exc.__class__.__name__}: {exc}", retryable=True) from None
        finally:
            if self._client is None:
                await client.aclose()
        if 200 <= resp.status_code < 300:
            return f"HTTP {resp.status_code}"
        if resp.status_code == 409:
            # The gateway already holds a message with this key: an earlier
            # attempt got through although its answer was lost.
            return "HTTP 409: already accepted under this key"
        retryable = resp.status_code >= 500 or resp.status_code in (408, 425, 429)
        raise GatewayError(f"SMS gateway answered HTTP {resp.status_code}: {resp.text[:200]}", retryable=retryable)
