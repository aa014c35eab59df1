"""Checks on SDP offers before aiortc sees them (pure functions).

aiortc's parser accepts a lot and fails late; the hub wants a 400 that says
what is wrong, a 415 for media it cannot record, and a size limit.
"""

from __future__ import annotations

from hub.media.errors import BadSdp, UnsupportedMedia

RECORDABLE_VIDEO = ("h264", "vp8")


def decode_offer(body: bytes, max_bytes: int) -> str:
    if len(body) > max_bytes:
        raise BadSdp(
            f"the SDP offer is {len(body)} bytes, more than the {max_bytes} accepted; "
            "send one video and at most one audio section without trickled candidates"
        )
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise BadSdp("the SDP offer is not UTF-8 text; send the offer as application/sdp") from None
    if not text.startswith("v=0"):
        raise BadSdp("the body is not an SDP offer (it must start with 'v=0')")
    if "\nm=" not in text:
        raise BadSdp("the SDP offer has no media section; offer a video (and audio) track")
    return text


def offered_codecs(sdp: str) -> dict[str, list[str]]:
    """Codec names (lower case) offered per media kind, in offer order."""
    out: dict[str, list[str]] = {}
    kind = ""
    for raw in sdp.splitlines():
        line = raw.strip()
        if line.startswith("m="):
            kind = line[2:].split(" ", 1)[0]
            out.setdefault(kind, [])
        elif line.startswith("a=rtpmap:") and kind:
            try:
                name = line.split(" ", 1)[1].split("/", 1)[0].lower()
            except IndexError:
                raise BadSdp(f"malformed rtpmap line {line!r}; fix the offer") from None
            if name not in out[kind]:
                out[kind].append(name)
    return out


def check_publish_offer(sdp: str) -> None:
    codecs = offered_codecs(sdp)
    video = codecs.get("video")
    if not video:
        raise BadSdp("the offer has no video section; WHIP publishers must send video")
    if not any(c in RECORDABLE_VIDEO for c in video):
        raise UnsupportedMedia(
            f"video codecs offered ({', '.join(video) or 'none'}) cannot be recorded; "
            "publish H.264 (preferred) or VP8"
        )
    audio = codecs.get("audio")
    if audio is not None and "opus" not in audio:
        raise UnsupportedMedia(
            f"audio codecs offered ({', '.join(audio) or 'none'}) cannot be recorded; publish Opus"
        )


def check_transport(sdp: str) -> None:
    """DTLS-SRTP and ICE need a fingerprint and ICE credentials; without
    them aiortc would answer 201 and the connection could never come up."""
    lines = [line.strip() for line in sdp.splitlines()]
    if not any(line.startswith("a=fingerprint:") for line in lines):
        raise BadSdp("the offer has no a=fingerprint line (DTLS); send the complete offer your "
                     "WebRTC stack created, not a hand-made one")
    if not any(line.startswith("a=ice-ufrag:") for line in lines) or \
            not any(line.startswith("a=ice-pwd:") for line in lines):
        raise BadSdp("the offer has no a=ice-ufrag / a=ice-pwd lines (ICE credentials); send the "
                     "complete offer your WebRTC stack created")


def check_view_offer(sdp: str, video_codec: str) -> None:
    codecs = offered_codecs(sdp)
    video = codecs.get("video")
    if video is None:
        raise BadSdp("the offer has no video section; WHEP viewers must receive video")
    if video_codec not in video:
        raise UnsupportedMedia(
            f"this branch publishes {video_codec.upper()} and the viewer does not offer it; "
            "use a browser that can receive it"
        )


def answer_codec(sdp: str, kind: str) -> str | None:
    """The first codec of an answer's section of `kind` (the negotiated one)."""
    names = offered_codecs(sdp).get(kind) or []
    names = [n for n in names if n not in ("rtx", "red", "ulpfec")]
    return names[0] if names else None
