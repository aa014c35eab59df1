"""WhipClient against scripted HTTP answers (httpx.MockTransport): headers, codes, Location."""

from __future__ import annotations

import httpx
import pytest

from devices.media import WhipAuthError, WhipClient, WhipHttpError, WhipProtocolError

OFFER = "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\n"
ANSWER = "v=0\r\no=- 2 2 IN IP4 0.0.0.0\r\n"


def client(handler, url: str = "http://hub.test/whip/b1") -> WhipClient:  # type: ignore[no-untyped-def]
    return WhipClient(url, "tok", transport=httpx.MockTransport(handler))


async def test_post_sends_offer_with_bearer_and_reads_answer() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(201, text=ANSWER, headers={"Content-Type": "application/sdp",
                                                          "Location": "/whip/b1/res/42", "ETag": '"x"'})

    c = client(handler)
    resource = await c.publish(OFFER)
    await c.aclose()
    assert seen[0].method == "POST"
    assert seen[0].headers["authorization"] == "Bearer tok"
    assert seen[0].headers["content-type"] == "application/sdp"
    assert seen[0].content == OFFER.encode()
    assert resource.answer_sdp == ANSWER
    assert resource.url == "http://hub.test/whip/b1/res/42"
    assert resource.etag == '"x"'


@pytest.mark.parametrize("status", [307, 308])
async def test_redirect_keeps_method_body_token_and_resolves_location(status: int) -> None:
    seen: list[tuple[str, str, bytes, str]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append((request.method, str(request.url), request.content, request.headers.get("authorization", "")))
        if request.url.host == "hub.test":
            return httpx.Response(status, headers={"Location": "http://media2.test/whip/b1"})
        return httpx.Response(201, text=ANSWER, headers={"Content-Type": "application/sdp",
                                                          "Location": "res/7"})

    c = client(handler)
    resource = await c.publish(OFFER)
    await c.aclose()
    # another host (a multi-node hub's media node): the device token goes along
    assert seen[1] == ("POST", "http://media2.test/whip/b1", OFFER.encode(), "Bearer tok")
    assert resource.url == "http://media2.test/whip/res/7"


async def test_redirect_loops_and_downgrades_are_refused() -> None:
    c = client(lambda r: httpx.Response(307, headers={"Location": "/whip/b1?again"}))
    with pytest.raises(WhipProtocolError, match="more than 5 redirects"):
        await c.publish(OFFER)
    await c.aclose()
    c = client(lambda r: httpx.Response(307, headers={"Location": "http://media2.test/whip/b1"}),
               url="https://hub.test/whip/b1")
    with pytest.raises(WhipProtocolError, match="redirected from https to http://media2.test/whip/b1; refused"):
        await c.publish(OFFER)
    await c.aclose()


@pytest.mark.parametrize("status", [401, 403])
async def test_refused_token(status: int) -> None:
    c = client(lambda r: httpx.Response(status, text="no"))
    with pytest.raises(WhipAuthError) as info:
        await c.publish(OFFER)
    await c.aclose()
    assert info.value.status == status
    assert "re-register this device" in str(info.value)


async def test_other_status_and_protocol_errors() -> None:
    c = client(lambda r: httpx.Response(503, text="busy"))
    with pytest.raises(WhipHttpError, match="HTTP 503"):
        await c.publish(OFFER)
    c = client(lambda r: httpx.Response(201, text=ANSWER, headers={"Content-Type": "application/sdp"}))
    with pytest.raises(WhipProtocolError, match="no Location header"):
        await c.publish(OFFER)
    c = client(lambda r: httpx.Response(201, text="{}", headers={"Content-Type": "application/json",
                                                                 "Location": "/r"}))
    with pytest.raises(WhipProtocolError, match="Content-Type 'application/json'"):
        await c.publish(OFFER)


async def test_delete_tolerates_404() -> None:
    calls: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request.method)
        if request.method == "POST":
            return httpx.Response(201, text=ANSWER, headers={"Content-Type": "application/sdp",
                                                              "Location": "/r/1"})
        return httpx.Response(404)

    c = client(handler)
    await c.delete(await c.publish(OFFER))
    await c.aclose()
    assert calls == ["POST", "DELETE"]
