"""WHIP publishers and WHEP viewers: building their aiortc peer connections.

Both sides pass media through untouched: the publisher's receivers become
PassThroughReceivers feeding BranchMedia, and each viewer gets RelayTracks
that aiortc packetises without encoding. Audio is Opus end to end.
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Callable

from aiortc import RTCPeerConnection, RTCRtpReceiver, RTCSessionDescription
from aiortc.exceptions import OperationError

from hub.media.branch import BranchMedia, PublisherSession, ViewerSession
from hub.media.config import MediaSettings
from hub.media.errors import BadSdp, UnsupportedMedia
from hub.media.ice import close_peer, offer_host_addresses, rtc_configuration
from hub.media.passthrough import PassThroughReceiver
from hub.media.relay import RelayTrack, TalkbackTrack, quiet_until_spoken
from hub.media.sdp import answer_codec


def _prefer(kind: str, names: tuple[str, ...]) -> list:
    caps = RTCRtpReceiver.getCapabilities(kind)
    assert caps is not None
    chosen = []
    for name in names:
        chosen += [c for c in caps.codecs if c.name.lower() == name]
    return chosen


async def _apply_offer(pc: RTCPeerConnection, sdp: str) -> None:
    try:
        await pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="offer"))
    except OperationError as exc:
        raise UnsupportedMedia(f"no codec in common ({exc}); publish H.264 or VP8 video and "
                               "Opus audio") from None
    except (ValueError, KeyError, IndexError, AssertionError) as exc:
        raise BadSdp(f"the SDP offer could not be parsed ({exc or type(exc).__name__}); "
                     "send a complete offer created by a WebRTC stack") from None


async def _answer(pc: RTCPeerConnection, settings: MediaSettings) -> str:
    offer_host_addresses(pc, settings.ice_host_addresses, settings.udp_receive_buffer_bytes)
    answer = await pc.createAnswer()
    await pc.setLocalDescription(answer)
    return pc.localDescription.sdp


async def open_publisher(
    settings: MediaSettings, branch: BranchMedia, device_id: int, sdp: str
) -> tuple[PublisherSession, str]:
    """Answer a WHIP offer. The session is returned un-attached: the caller
    makes it the branch's publisher once the old one is gone."""
    pc = RTCPeerConnection(rtc_configuration(settings.stun_urls))
    try:
        # Transceivers made before the offer is applied carry our codec
        # preferences into negotiation (aiortc reuses them by kind).
        video_t = pc.addTransceiver("video", direction="recvonly")
        video_t.setCodecPreferences(_prefer("video", ("h264", "vp8", "rtx")))
        # Always offer talkback; the answer is recvonly when the publisher
        # only sends (e.g. an encoder without a speaker).
        offered = TalkbackTrack()
        talkback: TalkbackTrack | None = offered
        audio_t = pc.addTransceiver(offered, direction="sendrecv")
        audio_t.setCodecPreferences(_prefer("audio", ("opus",)))
        quiet_until_spoken(audio_t.sender, offered)
        await _apply_offer(pc, sdp)
        video_rx = PassThroughReceiver.adopt(video_t.receiver) if video_t.mid is not None else None
        audio_rx = PassThroughReceiver.adopt(audio_t.receiver) if audio_t.mid is not None else None
        if audio_rx is None:
            talkback = None
        if video_rx is None:
            raise BadSdp("the offer has no video section; WHIP publishers must send video")
        answer = await _answer(pc, settings)
        codec = answer_codec(answer, "video")
        if codec not in ("h264", "vp8"):
            raise UnsupportedMedia("no recordable video codec could be negotiated; publish H.264 or VP8")
    except BaseException:
        await close_peer(pc)
        raise
    pub = PublisherSession(
        session_id=uuid.uuid4().hex,
        branch_id=branch.branch_id,
        device_id=device_id,
        pc=pc,
        video_codec=codec,
        video=video_rx,
        audio=audio_rx,
        talkback=talkback,
    )
    # partials, not lambdas: called for every frame, from C (hub/media/_rx.c)
    video_rx.sink = functools.partial(branch.on_video, pub)
    if audio_rx is not None:
        audio_rx.sink = functools.partial(branch.on_audio, pub)
    return pub, answer


async def open_viewer(
    settings: MediaSettings,
    branch: BranchMedia,
    user: str,
    sdp: str,
    video_codec: str,
    on_overflow: Callable[[], None],
    on_talk: Callable[[ViewerSession, bytes, int], None],
    talk: bool = False,
) -> tuple[ViewerSession, str]:
    """Answer a WHEP offer. Only with `talk` (an operator role) is the audio
    sendrecv and the operator's microphone relayed to the hall; otherwise
    the answer makes the viewer's audio receive-only."""
    pc = RTCPeerConnection(rtc_configuration(settings.stun_urls))
    viewer = ViewerSession(session_id=uuid.uuid4().hex, branch_id=branch.branch_id, user=user, pc=pc,
                           can_talk=talk)
    try:
        viewer.video = RelayTrack("video", settings.viewer_queue_frames, on_overflow)
        video_t = pc.addTransceiver(viewer.video, direction="sendonly")
        video_t.setCodecPreferences(_prefer("video", (video_codec, "rtx")))
        viewer.audio = RelayTrack("audio", settings.viewer_queue_frames * 4)
        audio_t = pc.addTransceiver(viewer.audio, direction="sendrecv" if talk else "sendonly")
        audio_t.setCodecPreferences(_prefer("audio", ("opus",)))
        await _apply_offer(pc, sdp)
        if audio_t.mid is None:
            viewer.audio = None
        elif talk:
            mic = PassThroughReceiver.adopt(audio_t.receiver)
            mic.sink = lambda data, ts: on_talk(viewer, data, ts)
            viewer.mic = mic
        if video_t.mid is None:
            viewer.video = None
        if viewer.video is None:
            raise BadSdp("the offer has no video section; WHEP viewers must receive video")
        answer = await _answer(pc, settings)
    except BaseException:
        await close_peer(pc)
        raise
    return viewer, answer
