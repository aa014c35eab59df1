"""A receiver that hands encoded frames to a callback instead of decoding.

aiortc's RTCRtpReceiver pushes every reassembled frame through a
`queue.Queue` to one decoder thread per track (measured: ~20 % of the
per-packet CPU even in pass-through) and runs receive-side bandwidth
estimation (~18 %). The hub never decodes and sends pre-encoded media at
the rate it is given, so this subclass keeps what matters (RTCP receiver
reports and statistics, NACK, RTX unwrapping, depacketisation, PLI on
loss) and calls `sink(data, rtp_timestamp)` on the event loop for each
complete frame: no thread, no queue, no task per track. Video frames are
put together by a FrameAssembler instead of aiortc's jitter buffer (which
rescans its 512-slot ring on every packet); an Opus packet is a frame and
goes straight out.

aiortc creates receivers inside RTCPeerConnection; `adopt()` turns one into
a PassThroughReceiver after setRemoteDescription and before the connection
starts it. The parent keeps its state in name-mangled attributes, which is
why they are spelled `_RTCRtpReceiver__...` here (and only here).
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Callable
from typing import Any

from aiortc import RTCRtpReceiver
from aiortc.codecs.vpx import vp8_depayload
from aiortc.rtcdtlstransport import RTCDtlsTransport
from aiortc.rtcrtpparameters import RTCRtpReceiveParameters
from aiortc.rtcrtpreceiver import StreamStatistics
from aiortc.rtp import (
    AnyRtcpPacket,
    RtcpReceiverInfo,
    RtcpRrPacket,
    RtcpSrPacket,
    RtpPacket,
    unwrap_rtx,
)

from hub.media import fastpath
from hub.media.assembler import FrameAssembler, PacketHold
from hub.media.bitstream import h264_depayload, h264_starts_access_unit

log = logging.getLogger(__name__)
FrameSink = Callable[[bytes, int], None]
GroupSink = Callable[[list[tuple[bytes, int]]], None]
_DEPAYLOAD: dict[str, Callable[[bytes], bytes]] = {"h264": h264_depayload, "vp8": vp8_depayload}


class PassThroughReceiver(RTCRtpReceiver):
    on_end: Callable[[], None] | None
    codec_name: str
    media_ssrc: int | None
    _pt_table: dict[int, tuple[object, bool]]
    _assembler: FrameAssembler
    _hold: PacketHold
    _depayload: Any
    _native: dict[int, Any]  # SSRC -> hub.media._rx.Track: its packets never reach Python
    _sink: FrameSink | None
    _group_sink: GroupSink | None
    _group: int
    _enabled_v: bool

    @classmethod
    def adopt(cls, receiver: RTCRtpReceiver) -> PassThroughReceiver:
        enabled = receiver.__dict__.pop("_enabled", getattr(receiver, "_enabled", True))
        receiver.__class__ = cls
        assert isinstance(receiver, PassThroughReceiver)
        receiver._native = {}
        receiver._enabled = enabled
        receiver._group_sink = None
        receiver._group = 1
        receiver.sink = None
        receiver.on_end = None
        receiver.codec_name = ""
        receiver.media_ssrc = None
        receiver._pt_table = {}
        receiver._assembler = FrameAssembler()
        receiver._hold = PacketHold()
        receiver._depayload = None
        # aiortc made a 512-slot jitter buffer and a bandwidth estimator (a
        # 1000-bucket rate counter, ~100 kB) for a decoding receiver; this
        # one uses neither (memory per stream)
        receiver._RTCRtpReceiver__jitter_buffer = None  # type: ignore[attr-defined]
        receiver._RTCRtpReceiver__remote_bitrate_estimator = None  # type: ignore[attr-defined]
        return receiver

    @property
    def sink(self) -> FrameSink | None:
        """Called with (frame, rtp_timestamp) for each complete frame."""
        return self._sink

    @sink.setter
    def sink(self, sink: FrameSink | None) -> None:
        self._sink = sink
        for track in self._native.values():
            track.sink = sink

    def group_audio(self, sink: GroupSink | None, group: int) -> None:
        """Hand audio frames to `sink` as a list of (frame, rtp_timestamp),
        `group` at a time, instead of each to `sink`: with the compiled path,
        one Python call per group instead of per 20 ms frame. group=1 (someone
        listens live) hands over what is held at once and goes back to `sink`.
        The Python path always calls `sink` per frame."""
        self._group_sink, self._group = sink, group
        for track in self._native.values():
            track.group_sink = sink
            track.group = group

    def flush_audio(self) -> None:
        """Hand the audio frames held for a group over now."""
        for track in self._native.values():
            track.flush()

    @property  # type: ignore[override]
    def _enabled(self) -> bool:
        """aiortc's flag (False when the direction stops receiving), kept by
        the compiled tracks too."""
        return self._enabled_v

    @_enabled.setter
    def _enabled(self, on: bool) -> None:
        self._enabled_v = on
        for track in getattr(self, "_native", {}).values():  # set by __init__ before adopt()
            track.enabled = on

    async def stop(self) -> None:
        # the compiled path gives this receiver's SSRCs up: what still arrives is
        # routed in Python, where the router no longer knows this receiver
        session = fastpath.native_session(self.transport)
        try:
            if session is not None:
                for ssrc, track in self._native.items():
                    try:
                        track.flush()
                    except Exception:  # noqa: BLE001 - the receiver stops all the same
                        log.exception("held audio of SSRC %s could not be handed over", ssrc)
                    session.remove_track(ssrc)
        finally:
            await super().stop()

    async def receive(self, parameters: RTCRtpReceiveParameters) -> None:
        if self._RTCRtpReceiver__started:  # type: ignore[has-type]  # aiortc's private flag
            return
        codecs = self._RTCRtpReceiver__codecs  # type: ignore[attr-defined]
        for codec in parameters.codecs:
            codecs[codec.payloadType] = codec
            is_rtx = codec.name.lower() == "rtx"
            self._pt_table[codec.payloadType] = (codec, is_rtx)  # type: ignore[index]
            if not is_rtx and not self.codec_name:
                self.codec_name = codec.name.lower()
                self._depayload = _DEPAYLOAD.get(self.codec_name)
        for encoding in parameters.encodings:
            if encoding.rtx:
                self._RTCRtpReceiver__rtx_ssrc[encoding.rtx.ssrc] = encoding.ssrc  # type: ignore[attr-defined]
        fastpath.install_rtp_parser(self.transport)
        self.transport._register_rtp_receiver(self, parameters)
        fastpath.install(self.transport)
        # aiortc's stop() waits for the RTCP task to start, cancels it and waits
        # for it to end: a future in its place, ended by that cancel, takes this
        # receiver out of its connection's reports (no task per receiver)
        reports = ReceiverReports.of(self.transport)
        reports.join(self)
        in_reports = asyncio.get_running_loop().create_future()
        exited = self._RTCRtpReceiver__rtcp_exited  # type: ignore[attr-defined]

        def left(_: object) -> None:
            reports.leave(self)
            exited.set()

        in_reports.add_done_callback(left)
        self._RTCRtpReceiver__rtcp_task = in_reports  # type: ignore[attr-defined]
        self._RTCRtpReceiver__rtcp_started.set()  # type: ignore[attr-defined]
        self._RTCRtpReceiver__started = True  # type: ignore[attr-defined]

    def on_rtcp(self, packet: AnyRtcpPacket) -> None:
        """An RTCP packet for this receiver (fastpath.receive_rtcp), on the loop.
        A sender report is kept for the LSR/DLSR of the next receiver report
        (what aiortc's handler does, less the `remote-outbound-rtp` statistics
        entry it builds from two `datetime`s: the hub reads no statistics);
        a BYE goes to aiortc's handler."""
        if isinstance(packet, RtcpSrPacket):
            self.on_sender_report(packet.ssrc, packet.sender_info.ntp_timestamp)
        else:
            asyncio.ensure_future(self._handle_rtcp_packet(packet))

    def on_sender_report(self, ssrc: int, ntp: int) -> None:
        """A sender report of `ssrc` sent at `ntp` (64-bit NTP time)."""
        self._RTCRtpReceiver__lsr[ssrc] = (ntp >> 16) & 0xFFFFFFFF  # type: ignore[attr-defined]
        self._RTCRtpReceiver__lsr_time[ssrc] = time.time()  # type: ignore[attr-defined]

    def report_blocks(self) -> list[RtcpReceiverInfo]:
        """This receiver's RTCP report blocks, one per source (as aiortc's
        `_run_rtcp` builds them)."""
        lsrs = self._RTCRtpReceiver__lsr  # type: ignore[attr-defined]
        blocks = []
        for ssrc, stream in self._RTCRtpReceiver__remote_streams.items():  # type: ignore[attr-defined]
            lsr = dlsr = 0
            if ssrc in lsrs:
                lsr = lsrs[ssrc]
                delay = time.time() - self._RTCRtpReceiver__lsr_time[ssrc]  # type: ignore[attr-defined]
                if 0 < delay < 65536:
                    dlsr = int(delay * 65536)
            blocks.append(RtcpReceiverInfo(ssrc=ssrc, fraction_lost=stream.fraction_lost,
                                           packets_lost=stream.packets_lost, highest_sequence=stream.max_seq,
                                           jitter=stream.jitter, lsr=lsr, dlsr=dlsr))
        return blocks

    def _handle_disconnect(self) -> None:
        super()._handle_disconnect()
        if self.on_end is not None:
            self.on_end()

    async def _handle_rtp_packet(self, packet: RtpPacket, arrival_time_ms: int) -> None:
        self.on_rtp(packet)

    def _adopt_native(self, ssrc: int, codec: Any) -> Any:
        """Hand this SSRC's packets to the compiled receive path (fastpath.py),
        on its first packet, or return None (this track stays in Python)."""
        session = fastpath.native_session(self.transport)
        if session is None or not (self._depayload is None or self.codec_name == "h264"):
            return None
        nack = self._RTCRtpReceiver__nack_generator is not None  # type: ignore[attr-defined]
        try:
            track = session.add_track(ssrc=ssrc, payload_type=codec.payloadType,
                                      h264=self._depayload is not None,
                                      nack=nack and self._depayload is not None,
                                      clock_rate=codec.clockRate)
        except OverflowError:  # a sender cycling through SSRCs: the rest stay in Python
            return None
        track.sink = self._sink
        if self._depayload is None:
            track.group_sink = self._group_sink
            track.group = self._group
        track.enabled = self._enabled_v
        track.on_loss = self._on_native_loss
        track.on_nack = self._on_native_nack
        self._native[ssrc] = track
        self._RTCRtpReceiver__remote_streams[ssrc] = track  # type: ignore[attr-defined]  # RTCP reports read it
        return track

    def _on_native_loss(self, ssrc: int) -> None:
        asyncio.ensure_future(self._send_rtcp_pli(ssrc))

    def _on_native_nack(self, ssrc: int, missing: list[int]) -> None:
        asyncio.ensure_future(self._send_rtcp_nack(ssrc, missing))

    def on_rtp(self, packet: RtpPacket) -> None:
        """One RTP packet of this track, on the event loop, synchronously (the
        fast path calls it from the socket's callback: hub/media/fastpath.py);
        the rare RTCP it answers with (NACK, PLI) is sent by a task. With the
        compiled path only a track's first packet and RTX come here."""
        if not self._enabled:
            return
        entry = self._pt_table.get(packet.payload_type)
        if entry is None:
            return
        codec, is_rtx = entry
        native = self._native.get(packet.ssrc)
        if native is not None:  # another payload type on an adopted SSRC; an RTX-typed one
            # is only counted, as aiortc does (it names no original stream)
            native.rtp(packet.sequence_number, packet.timestamp, packet.marker, packet.payload,
                       2 if is_rtx else 1)
            return
        streams = self._RTCRtpReceiver__remote_streams  # type: ignore[attr-defined]
        stats = streams.get(packet.ssrc)
        if stats is None:
            if not is_rtx:
                native = self._adopt_native(packet.ssrc, codec)
                if native is not None:
                    self.media_ssrc = packet.ssrc
                    native.rtp(packet.sequence_number, packet.timestamp, packet.marker, packet.payload)
                    return
            stats = streams[packet.ssrc] = StreamStatistics(codec.clockRate)  # type: ignore[attr-defined]
        stats.add(packet)
        if is_rtx:
            original = self._RTCRtpReceiver__rtx_ssrc.get(packet.ssrc)  # type: ignore[attr-defined]
            apt = codec.parameters.get("apt")  # type: ignore[attr-defined]
            if original is None or len(packet.payload) < 2 or apt not in self._pt_table:
                return
            packet = unwrap_rtx(packet, payload_type=apt, ssrc=original)
            native = self._native.get(packet.ssrc)
            if native is not None:  # aiortc counts a retransmission in the RTX stream only
                native.rtp(packet.sequence_number, packet.timestamp, packet.marker, packet.payload, 0)
                return
            codec = self._pt_table[apt][0]
        self.media_ssrc = packet.ssrc
        payload = packet.payload
        depayload = self._depayload
        if depayload is None:  # audio: one packet, one frame
            if payload and self._sink is not None:
                self._sink(payload, packet.timestamp)
            return
        nack = self._RTCRtpReceiver__nack_generator  # type: ignore[attr-defined]
        if nack is not None and nack.add(packet):
            asyncio.ensure_future(self._send_rtcp_nack(packet.ssrc, sorted(nack.missing)))
        try:
            data = depayload(payload) if payload else b""
        except ValueError:
            return
        assembler = self._assembler
        for seq, ts, marker, part in self._hold.push(packet.sequence_number, packet.timestamp,
                                                      bool(packet.marker), data):
            frame, lost = assembler.add(seq, ts, marker, part)
            if frame is not None and assembler.guessed and self.codec_name == "h264" \
                    and not h264_starts_access_unit(frame):
                # the frame's first packets were lost (its start was not known after an
                # earlier loss): what is left cannot be decoded, and is never passed on
                frame, lost = None, True
                assembler.dropped += 1
            if lost:
                asyncio.ensure_future(self._send_rtcp_pli(packet.ssrc))
            if frame is not None and self._sink is not None:
                self._sink(frame, ts)

    def frames_dropped(self) -> int:
        """Frames given up as incomplete, on either receive path."""
        return self._assembler.dropped + sum(t.dropped for t in self._native.values())

    def request_keyframe(self) -> None:
        """Send a PLI to the sender of this track (RFC 4585 6.3.1)."""
        if self.media_ssrc is not None:
            asyncio.ensure_future(self._send_rtcp_pli(self.media_ssrc))

    def loss_stats(self) -> tuple[int, int]:
        """(packets expected, packets lost) summed over the track's sources."""
        expected = lost = 0
        for stats in self._RTCRtpReceiver__remote_streams.values():  # type: ignore[attr-defined]
            expected += stats.packets_expected
            lost += stats.packets_lost
        return expected, lost


class ReceiverReports:
    """The RTCP receiver reports of one connection: one compound report every
    0.5-1.5 s (RFC 3550 6.2's randomised interval) carrying a block for every
    source its PassThroughReceivers hear.

    aiortc runs one task per receiver, each sending its own report: a hall's
    audio and video made two tasks, two timers and two SRTCP datagrams a
    second; at 256 halls their building and sending was ~5 % of the loop
    (py-spy). One report per connection is what RFC 3550 describes (a
    participant's report, with a block per source). Hand-written: aiortc has
    no per-connection reporting to configure."""

    MAX_BLOCKS = 31  # the report count is 5 bits

    def __init__(self, dtls: RTCDtlsTransport) -> None:
        self._dtls = dtls
        self.receivers: list[PassThroughReceiver] = []
        self._task: asyncio.Task[None] | None = None

    @classmethod
    def of(cls, dtls: RTCDtlsTransport) -> ReceiverReports:
        reports = getattr(dtls, "_hub_reports", None)
        if reports is None:
            reports = cls(dtls)
            dtls._hub_reports = reports  # type: ignore[attr-defined]
        return reports

    def join(self, receiver: PassThroughReceiver) -> None:
        if receiver not in self.receivers:
            self.receivers.append(receiver)
        if self._task is None:
            self._task = asyncio.ensure_future(self._run())

    def leave(self, receiver: PassThroughReceiver) -> None:
        if receiver in self.receivers:
            self.receivers.remove(receiver)
        if not self.receivers and self._task is not None:
            self._task.cancel()
            self._task = None

    def packet(self) -> RtcpRrPacket | None:
        """The report to send now, or None (no sender heard yet, no SSRC)."""
        blocks: list[RtcpReceiverInfo] = []
        ssrc = None
        for receiver in self.receivers:
            if ssrc is None:
                ssrc = receiver._RTCRtpReceiver__rtcp_ssrc  # type: ignore[attr-defined]
            blocks += receiver.report_blocks()
        if ssrc is None or not blocks:
            return None
        return RtcpRrPacket(ssrc=ssrc, reports=blocks[:self.MAX_BLOCKS])

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(0.5 + random.random())
            try:
                packet = self.packet()
                if packet is None:
                    continue
                await self._dtls._send_rtp(bytes(packet))
            except ConnectionError:
                pass  # not connected (yet, or any more): the next report tries again
            except Exception:  # noqa: BLE001 - the next report tries again
                log.exception("RTCP receiver report not sent")
