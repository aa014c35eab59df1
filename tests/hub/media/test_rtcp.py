"""RTCP between a hall and the hub, with real aiortc peers on loopback: the
hall's sender reports reach the hub's receivers by the hub's own SRTCP path
(hub/media/fastpath.py `receive_rtcp`), the hub answers with one receiver
report per connection covering audio and video, and the hub's talkback
sender stays quiet until an operator speaks."""

from __future__ import annotations

from typing import Any

from aiortc.rtp import RtcpRrPacket, RtcpSrPacket

from tests.hub.media.conftest import Hub
from tests.hub.media.peers import Clip, Publisher, Viewer, publish, view, wait_for


def record_rtcp(party: Any, into: list[Any]) -> None:
    """Keep every RTCP packet aiortc routes to `party` (a sender or receiver of
    the hall's connection), then let aiortc handle it."""
    stock = party._handle_rtcp_packet

    async def handle(packet: Any) -> None:
        into.append(packet)
        await stock(packet)

    party._handle_rtcp_packet = handle


async def test_reports_between_hall_and_hub(hub: Hub, h264_clip: Clip) -> None:
    pub = await publish(hub.client, 1, "dev-1", h264_clip)
    assert isinstance(pub, Publisher)
    viewer = None
    try:
        to_video: list[Any] = []
        to_talkback: list[Any] = []
        senders = {s.track.kind: s for s in pub.pc.getSenders() if s.track is not None}
        record_rtcp(senders["video"], to_video)
        (talkback_rx,) = [t.receiver for t in pub.pc.getTransceivers() if t.kind == "audio"]
        record_rtcp(talkback_rx, to_talkback)
        await wait_for(lambda: hub.plane.stream_state(1) == "live", what="live")
        hall = hub.plane.engine.branch(1).publisher
        assert hall is not None and hall.video is not None and hall.audio is not None

        # the hall's sender reports reached the hub's receivers (their LSR is kept)
        video_ssrc, audio_ssrc = senders["video"]._ssrc, senders["audio"]._ssrc
        await wait_for(lambda: video_ssrc in hall.video._RTCRtpReceiver__lsr
                       and audio_ssrc in hall.audio._RTCRtpReceiver__lsr, what="sender reports at the hub")

        # the hub reports both of the hall's sources in one receiver report, with
        # the delay since the hall's last sender report (RFC 3550 6.4.1)
        def reports() -> list[RtcpRrPacket]:
            return [p for p in to_video if isinstance(p, RtcpRrPacket)]

        def both(rr: RtcpRrPacket) -> bool:
            return {r.ssrc for r in rr.reports} == {video_ssrc, audio_ssrc} and all(r.lsr for r in rr.reports)

        await wait_for(lambda: any(both(rr) for rr in reports()), what="one report of both sources")
        count = len(reports())
        await wait_for(lambda: len(reports()) >= count + 3, what="three more receiver reports")
        assert all(both(rr) for rr in reports()[count:])
        # ... while the hub's talkback sender, which has sent nothing, reported nothing
        # (aiortc's sender reports at the same pace from its start: 0.5-1.5 s)
        assert not [p for p in to_talkback if isinstance(p, RtcpSrPacket)]

        # an operator speaks: from then on the talkback sender reports
        viewer = await view(hub.client, 1, "bob", talk=True)
        assert isinstance(viewer, Viewer)
        await wait_for(lambda: pub.talkback_frames >= 5, what="operator audio at hall")
        await wait_for(lambda: any(isinstance(p, RtcpSrPacket) and p.sender_info.packet_count
                                   for p in to_talkback), what="talkback sender report")
    finally:
        if viewer is not None:
            await viewer.close()
        await pub.close()
