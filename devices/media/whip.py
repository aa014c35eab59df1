"""WHIP client (RFC 9725): POST an SDP offer, get 201 + answer + Location, DELETE at the end.

Transport only: no WebRTC here (publisher.py owns the peer connection).
Redirects (307/308) are followed with method, body and device token kept
(a multi-node hub sends each hall to the node that carries it, on another
host or port: httpx's own redirect handling would drop the token there),
never from https down to http; the resource URL is resolved against the
URL that finally answered.
"""

from __future__ import annotations

from dataclasses import dataclass

import httpx

from .errors import WhipAuthError, WhipHttpError, WhipProtocolError

SDP_TYPE = "application/sdp"
MAX_REDIRECTS = 5


@dataclass(frozen=True)
class WhipResource:
    url: str  # absolute URL of the session resource (DELETE it to end the session)
    answer_sdp: str
    etag: str | None = None


class WhipClient:
    def __init__(self, endpoint: str, token: str, *, timeout_s: float = 10.0,
                 verify: bool | str = True, transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.endpoint = endpoint
        self._token = token
        self._client = httpx.AsyncClient(
            timeout=httpx.Timeout(timeout_s), follow_redirects=False,
            verify=verify, transport=transport,
        )

    def _headers(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        headers = {"Authorization": f"Bearer {self._token}"}
        headers.update(extra or {})
        return headers

    async def publish(self, offer_sdp: str) -> WhipResource:
        url = httpx.URL(self.endpoint)
        for _ in range(MAX_REDIRECTS + 1):
            response = await self._client.post(
                url, content=offer_sdp.encode(),
                headers=self._headers({"Content-Type": SDP_TYPE, "Accept": SDP_TYPE}),
            )
            target = response.headers.get("location")
            if response.status_code not in (307, 308) or not target:
                break
            following = url.join(target)
            if url.scheme == "https" and following.scheme != "https":
                raise WhipProtocolError(f"the hub redirected from https to {following}; refused (the device "
                                        "token would travel in clear): check the hub's media_url settings")
            url = following
        else:
            raise WhipProtocolError(f"more than {MAX_REDIRECTS} redirects from {self.endpoint}; check the hub's "
                                    "cluster settings (media_url of each node)")
        status = response.status_code
        if status in (401, 403):
            raise WhipAuthError(status, response.text[:200])
        if status != 201:
            raise WhipHttpError(status, response.text[:200])
        ctype = response.headers.get("content-type", "").split(";")[0].strip().lower()
        if ctype != SDP_TYPE:
            raise WhipProtocolError(f"WHIP answer has Content-Type {ctype!r}, expected {SDP_TYPE}")
        location = response.headers.get("location")
        if not location:
            raise WhipProtocolError("WHIP answer has no Location header (RFC 9725 section 4.2)")
        return WhipResource(url=str(response.url.join(location)), answer_sdp=response.text, etag=response.headers.get("etag"))

    async def delete(self, resource: WhipResource) -> None:
        """End the session on the hub. 404 means it is already gone, which is fine."""
        response = await self._client.delete(resource.url, headers=self._headers())
        if response.status_code in (401, 403):
            raise WhipAuthError(response.status_code, response.text[:200])
        if response.status_code not in (200, 202, 204, 404):
            raise WhipHttpError(response.status_code, response.text[:200])

    async def aclose(self) -> None:
        await self._client.aclose()
