"""EdgeMedia, the object the agent core holds: sources, thumbnails, publishing, health."""

from __future__ import annotations

from pydantic import SecretStr

from devices.camera import FrameAnalysis
from devices.media import EdgeMedia, EnergySink, MediaSettings, PublisherSettings, VideoSettings
from tests.devices.media.whip_receiver import WhipReceiver, wait_for


async def test_edge_media_end_to_end(receiver: WhipReceiver) -> None:
    results: list[FrameAnalysis] = []
    states: list[str] = []
    sink = EnergySink()
    media = EdgeMedia(
        MediaSettings(video=VideoSettings(source="pattern", width=640, height=360),
                      audio_source="tone", thumbnail_interval_s=0.2),
        on_analysis=results.append, on_publisher_state=lambda st: states.append(str(st.state)),
        talkback_sink=sink)
    await media.start()
    try:
        await wait_for(lambda: len(results) > 0, what="a thumbnail")
        assert results[0].thumbnail_jpeg[:2] == b"\xff\xd8"
        assert results[0].headcount == 0  # the pattern has nobody in it
        await media.start_publishing(PublisherSettings(whip_url=receiver.url,
                                                       token=SecretStr("device-token")))
        await wait_for(lambda: receiver.video_frames > 10, what="frames at the receiver")
        await wait_for(lambda: sink.loud_frames > 5, what="talkback")
        health = media.health()
        assert health["camera"]["state"] == "live"
        assert health["microphone"]["state"] == "live"
        assert health["publisher"]["state"] == "publishing"
        assert health["publisher"]["codec"] == "h264"
        media.request_keyframe()
        await media.stop_publishing()
        assert receiver.deletes == 1
        assert states[:2] == ["connecting", "publishing"] and states[-1] == "stopped"
    finally:
        await media.stop()
