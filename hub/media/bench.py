"""Ingest benchmark: N synthetic halls publishing pre-encoded 360p/15 fps
H.264 (~400 kbit/s) + Opus to a hub with recording on.

The hub runs under uvicorn in its own process (pinned to CPU 0 when the
machine has more than one); publishers run in their own processes (several
publishers each, pinned to the other CPUs). They are lean: aiortc sets each
one up (ICE, DTLS, SDP), then RTP packetised once for every stream goes out
with one SRTP protect and one sendto per packet (`LeanStream`), so they
keep up at 256 streams on one core and the numbers are the hub's. Per N: hub CPU per stream (% of a
core), hub CPU per datagram received (us; datagrams counted on the
publishers' side: every SRTP/SRTCP/DTLS datagram their transports sent),
RSS in all and per stream, recorded frame rate vs sent, event-loop lag, and
whether the publishers kept up (sent 15 fps per stream).

    python -m hub.media.bench 64 128 256 --seconds 10
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx

_RTP_HEADER = struct.Struct("!BBHLL")

STREAMS_PER_PROCESS = 64
OK_RATIO = 0.995


def make_bench_clip(directory: Path) -> tuple[list[bytes], list[bytes]]:
    """640x360, 15 fps, 2 s GOP, ~400 kbit/s H.264 (single slice) and Opus."""
    import av

    video, audio = directory / "bench.h264", directory / "bench.ogg"
    common = ["ffmpeg", "-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi", "-i"]
    subprocess.run([*common, "testsrc2=size=640x360:rate=15", "-t", "10", "-c:v", "libx264",
                    "-profile:v", "baseline", "-pix_fmt", "yuv420p", "-g", "30", "-b:v", "400k",
                    "-maxrate", "450k", "-bufsize", "800k",
                    "-x264-params", "threads=1:sliced-threads=0:scenecut=0",
                    "-bsf:v", "h264_mp4toannexb", "-f", "h264", str(video)], check=True)
    subprocess.run([*common, "sine=frequency=440:sample_rate=48000", "-t", "10", "-ac", "2",
                    "-c:a", "libopus", "-b:a", "32k", "-frame_duration", "20", str(audio)], check=True)
    with av.open(str(video)) as c:
        v = [bytes(p) for p in c.demux(video=0) if p.size]
    with av.open(str(audio)) as c:
        a = [bytes(p) for p in c.demux(audio=0) if p.size]
    return v, a


# -- publisher processes ---------------------------------------------------------
def _publisher_process(base_url: str, branches: list[int], clip_dir: str, sent: Any,
                       datagrams: Any, ready: Any, stop: Any, cpu: int | None) -> None:
    if cpu is not None:
        os.sched_setaffinity(0, {cpu})
    asyncio.run(_publish_many(base_url, branches, Path(clip_dir), sent, datagrams, ready, stop))


class LeanStream:
    """One hall's media after aiortc has set it up (ICE, DTLS, SDP): RTP
    built from packets packetised once for every stream, protected with the
    stream's own SRTP session and written straight to the ICE socket aiortc
    nominated. Per packet: one header, one `protect` (libsrtp), one sendto.
    aiortc's own senders are never fed; they only keep RTCP and consent up.
    Reads aiortc 1.16 / aioice 0.13 internals (`_tx_srtp`, `_connection`,
    `_nominated`): a load generator, not product code."""

    __slots__ = ("protect", "transport", "addr", "video_ssrc", "audio_ssrc", "video_pt", "audio_pt",
                 "video_seq", "audio_seq", "datagrams", "frames")

    def __init__(self, pc: Any, answer: str) -> None:
        from aiortc.sdp import SessionDescription

        media = SessionDescription.parse(answer).media
        transceivers = pc.getTransceivers()
        video_pt, audio_pt = media[0].rtp.codecs[0].payloadType, media[1].rtp.codecs[0].payloadType
        assert video_pt is not None and audio_pt is not None, "the answer names no payload type"
        self.video_pt, self.audio_pt = video_pt, audio_pt
        self.video_ssrc = transceivers[0].sender._ssrc
        self.audio_ssrc = transceivers[1].sender._ssrc
        dtls = transceivers[0].sender.transport
        pair = dtls.transport._connection._nominated[1]
        self.protect = dtls._tx_srtp.protect
        self.transport, self.addr = pair.protocol.transport, pair.remote_addr
        self.video_seq = self.audio_seq = 0
        self.datagrams = self.frames = 0  # sent

    def send_video(self, payloads: list[bytes], timestamp: int) -> None:
        if self.transport.is_closing():
            return
        last = len(payloads) - 1
        for i, payload in enumerate(payloads):
            header = _RTP_HEADER.pack(0x80, self.video_pt | (0x80 if i == last else 0),
                                      self.video_seq & 0xFFFF, timestamp & 0xFFFFFFFF, self.video_ssrc)
            self.transport.sendto(self.protect(header + payload), self.addr)
            self.video_seq += 1
        self.datagrams += len(payloads)
        self.frames += 1

    def send_audio(self, payload: bytes, timestamp: int) -> None:
        if self.transport.is_closing():
            return
        header = _RTP_HEADER.pack(0x80, self.audio_pt, self.audio_seq & 0xFFFF,
                                  timestamp & 0xFFFFFFFF, self.audio_ssrc)
        self.transport.sendto(self.protect(header + payload), self.addr)
        self.audio_seq += 1
        self.datagrams += 1


async def lean_ready(pc: Any, timeout: float = 30.0) -> bool:
    dtls = pc.getTransceivers()[0].sender.transport
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if (dtls.state == "connected" and getattr(dtls, "_tx_srtp", None) is not None
                and 1 in dtls.transport._connection._nominated):
            return True
        if dtls.state in ("failed", "closed"):
            return False
        await asyncio.sleep(0.05)
    return False


async def _publish_many(base_url: str, branches: list[int], clip_dir: Path, sent: Any,
                        datagrams: Any, ready: Any, stop: Any) -> None:
    import av
    from aiortc import RTCConfiguration, RTCPeerConnection, RTCRtpSender, RTCSessionDescription
    from aiortc.codecs.h264 import H264Encoder

    from hub.media.ice import offer_host_addresses
    from hub.media.relay import RelayTrack

    with av.open(str(clip_dir / "bench.h264")) as c:
        video = [bytes(p) for p in c.demux(video=0) if p.size]
    with av.open(str(clip_dir / "bench.ogg")) as c:
        audio = [bytes(p) for p in c.demux(audio=0) if p.size]
    # packetised once; every stream sends the same payloads under its own header
    video_payloads = [H264Encoder._packetize(H264Encoder._split_bitstream(frame)) for frame in video]
    h264 = [c for c in RTCRtpSender.getCapabilities("video").codecs if c.name == "H264"]
    pcs: list[RTCPeerConnection] = []
    answers: list[str] = []
    async with httpx.AsyncClient(base_url=base_url, timeout=60) as client:
        for branch in branches:
            pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
            t = pc.addTransceiver(RelayTrack("video", 1), direction="sendonly")
            t.setCodecPreferences(h264)
            pc.addTransceiver(RelayTrack("audio", 1), direction="sendrecv")
            offer_host_addresses(pc, ["127.0.0.1"])
            await pc.setLocalDescription(await pc.createOffer())
            r = await client.post(f"/whip/{branch}", content=pc.localDescription.sdp.encode(),
                                  headers={"Authorization": f"Bearer dev-{branch}",
                                           "Content-Type": "application/sdp"})
            if r.status_code != 201:
                await pc.close()
                continue
            await pc.setRemoteDescription(RTCSessionDescription(sdp=r.text, type="answer"))
            pcs.append(pc)
            answers.append(r.text)
    up = await asyncio.gather(*(lean_ready(pc) for pc in pcs))
    streams = [LeanStream(pc, answer) for pc, answer, ok in zip(pcs, answers, up, strict=True) if ok]
    if len(streams) < len(branches):
        print(f"bench: {len(branches) - len(streams)} of {len(branches)} publishers did not connect",
              file=sys.stderr, flush=True)
    ready.value += 1
    # One pacing loop feeds every stream of the process, 15 video frames and
    # 50 Opus packets a second each; `sent` counts video frames sent.
    start = time.monotonic()
    n_video = n_audio = 0
    while not stop.is_set():
        now = time.monotonic() - start
        while n_audio <= now * 50:
            payload, ts = audio[n_audio % len(audio)], n_audio * 960
            for stream in streams:
                stream.send_audio(payload, ts)
            n_audio += 1
        while n_video <= now * 15:
            payloads, ts = video_payloads[n_video % len(video_payloads)], n_video * 6000
            for stream in streams:
                stream.send_video(payloads, ts)
            n_video += 1
        sent.value = sum(s.frames for s in streams)
        datagrams.value = sum(s.datagrams for s in streams)
        await asyncio.sleep(0.01)
    sent.value = sum(s.frames for s in streams)
    await asyncio.sleep(0.5)
    for pc in pcs:
        await pc.close()


# -- hub process -------------------------------------------------------------------
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _proc_cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _tree(pid: int) -> list[int]:
    """`pid` and its children (media worker processes)."""
    pids = [pid]
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            pids.append(int(stat.parent.name))
    return pids


def _tree_cpu_seconds(pids: list[int]) -> float:
    total = 0.0
    for pid in pids:
        try:
            total += _proc_cpu_seconds(pid)
        except OSError:
            pass
    return total


def _proc_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


class _Node:
    """One hub (media node) process of the benchmark."""

    def __init__(self, index: int, n: int, work: Path, workers: int, cpu: int | None) -> None:
        self.port = _free_port()
        self.data = work / f"hub-{n}-{index}"
        self.data.mkdir()
        env = {**os.environ, "MEDIA_BENCH_DATA": str(self.data),
               "MEDIA_BENCH_SETTINGS": json.dumps({"min_free_bytes": 0, "stop_recording_free_bytes": 0,
                                                   "offline_seconds": 60, "workers": workers,
                                                   "max_publishers_per_process": n + 1})}
        cmd = [sys.executable, "-m", "uvicorn", "--factory", "hub.media.benchapp:create_app",
               "--host", "127.0.0.1", "--port", str(self.port), "--log-level", "warning"]
        if cpu is not None:
            cmd = ["taskset", "-c", str(cpu), *cmd]
        self.proc = subprocess.Popen(cmd, env=env)
        self.base = f"http://127.0.0.1:{self.port}"
        self.client = httpx.Client(base_url=self.base, timeout=30)
        self.pids: list[int] = []

    def wait_up(self) -> None:
        deadline = time.monotonic() + 30
        while True:
            try:
                self.client.get("/bench/stats")
                return
            except httpx.TransportError:
                if time.monotonic() > deadline or self.proc.poll() is not None:
                    raise RuntimeError("the hub did not start") from None
                time.sleep(0.2)

    def stats(self, **params: Any) -> dict[str, Any]:
        return dict(self.client.get("/bench/stats", params=params).json())

    def stop(self) -> None:
        self.client.close()
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        shutil.rmtree(self.data, ignore_errors=True)


def _sum_stats(parts: list[dict[str, Any]]) -> dict[str, Any]:
    keys = ("live", "video_frames", "recorded_frames", "rtp_packets_lost", "frames_dropped_incomplete")
    total: dict[str, Any] = {k: sum(int(p.get(k, 0)) for p in parts) for k in keys}
    total["max_loop_lag"] = max(float(p["max_loop_lag"]) for p in parts)
    return total


def _run_one(n: int, seconds: float, clip_dir: Path, work: Path, workers: int = 1,
             node_count: int = 1) -> dict[str, Any]:
    """N publishers over `node_count` hub processes (branch b on node b % node_count).
    One node is pinned to CPU 0 and the publishers to the others; with two
    nodes on two cores, the second node shares CPU 1 with the publishers."""
    ncpu = os.cpu_count() or 1
    pin = ncpu > 1 and workers == 1
    nodes: list[_Node] = []
    ctx = mp.get_context("spawn")
    stop = ctx.Event()
    procs: list[tuple[Any, Any]] = []
    counts: list[Any] = []  # datagrams sent, per publisher process
    try:
        for k in range(node_count):
            nodes.append(_Node(k, n, work, workers, (k % ncpu) if pin else None))
        for node in nodes:
            node.wait_up()
        for branch in range(1, n + 1):
            nodes[branch % node_count].client.post(f"/bench/meetings/{branch}/{uuid.uuid4()}")
        # the hubs before any hall: what each stream adds is measured from here
        rss_idle = sum(_proc_rss_mb(pid) for node in nodes for pid in _tree(node.proc.pid))
        ready = ctx.Value("i", 0)
        groups: list[tuple[str, list[int]]] = []
        for k, node in enumerate(nodes):
            mine = [b for b in range(1, n + 1) if b % node_count == k]
            groups += [(node.base, mine[i:i + STREAMS_PER_PROCESS]) for i in range(0, len(mine), STREAMS_PER_PROCESS)]
        for k, (base, group) in enumerate(groups):
            sent, datagrams = ctx.Value("q", 0), ctx.Value("q", 0)
            cpu = 1 + k % (ncpu - 1) if ncpu > 1 else None
            p = ctx.Process(target=_publisher_process,
                            args=(base, group, str(clip_dir), sent, datagrams, ready, stop, cpu))
            p.start()
            procs.append((p, sent))
            counts.append(datagrams)
        setup_started = time.monotonic()
        deadline = setup_started + 60 + n / 4
        while ready.value < len(groups) and time.monotonic() < deadline:
            time.sleep(0.2)
        setup_seconds = time.monotonic() - setup_started
        all_ready = ready.value == len(groups)
        time.sleep(4.0)  # warm-up: first keyframes, first segments
        s0 = _sum_stats([node.stats(reset_lag=True) for node in nodes])
        sent0 = sum(s.value for _, s in procs)
        dg0 = sum(d.value for d in counts)
        pub_pids = [p.pid for p, _ in procs]
        for node in nodes:
            node.pids = _tree(node.proc.pid)
        cpu0 = [_tree_cpu_seconds(node.pids) for node in nodes]
        t0 = time.monotonic()
        pcpu0 = sum(_proc_cpu_seconds(pid) for pid in pub_pids)
        time.sleep(seconds)
        cpu1 = [_tree_cpu_seconds(node.pids) for node in nodes]
        t1 = time.monotonic()
        pcpu1 = sum(_proc_cpu_seconds(pid) for pid in pub_pids)
        sent1 = sum(s.value for _, s in procs)
        dg1 = sum(d.value for d in counts)
        s1 = _sum_stats([node.stats() for node in nodes])
        rss = sum(_proc_rss_mb(pid) for node in nodes for pid in node.pids)
        # MEDIA_BENCH_TRACEMALLOC=<frames>: the first hub's largest allocation sites
        memory = (nodes[0].client.get("/bench/memory").json()
                  if os.environ.get("MEDIA_BENCH_TRACEMALLOC") else None)
        # whole-run totals once every publisher has stopped and the hubs have
        # taken the last packets: every frame sent vs recorded
        stop.set()
        for p, _ in procs:
            p.join(timeout=60)
        total_sent = sum(s.value for _, s in procs)
        time.sleep(1.0)
        s2 = _sum_stats([node.stats() for node in nodes])
    finally:
        stop.set()
        for p, _ in procs:
            p.join(timeout=20)
            if p.is_alive():
                p.kill()
        for node in nodes:
            node.stop()
    dt = t1 - t0
    node_cpu = [100 * (b - a) / dt for a, b in zip(cpu0, cpu1, strict=True)]
    hub_cpu = sum(node_cpu)
    sent_fps = (sent1 - sent0) / dt
    rec_fps = (s1["recorded_frames"] - s0["recorded_frames"]) / dt
    recv_fps = (s1["video_frames"] - s0["video_frames"]) / dt
    stream_equivalents = recv_fps / 15 if recv_fps else 0.0
    datagrams = dg1 - dg0
    return {
        "n": n,
        "nodes": node_count,
        "workers": workers,
        "live": s1["live"],
        "hub_cpu_percent": round(hub_cpu, 1),
        "node_cpu_percent": [round(c, 1) for c in node_cpu],
        "cpu_per_stream_percent": round(hub_cpu / n, 3),
        # per stream actually arriving at 15 fps (publishers may fall short)
        "cpu_per_15fps_stream_percent": round(hub_cpu / stream_equivalents, 3) if stream_equivalents else None,
        "rss_mb": round(rss, 1),
        "rss_per_stream_mb": round(rss / n, 2),
        "rss_idle_mb": round(rss_idle, 1),
        "rss_per_added_stream_mb": round((rss - rss_idle) / n, 2),
        "datagrams_per_s": round(datagrams / dt, 1),
        # hub CPU time per datagram it read (RTP; RTCP, DTLS and STUN not counted)
        "us_per_datagram": round(1e6 * sum(b - a for a, b in zip(cpu0, cpu1, strict=True)) / datagrams, 1)
        if datagrams else None,
        # the load generator: at 100 % per core it, not the hub, is the limit
        "publishers_cpu_percent": round(100 * (pcpu1 - pcpu0) / dt, 1),
        "expected_fps": 15 * n,
        # False: the publishers (same machine) could not send 15 fps per stream
        "publishers_kept_up": all_ready and sent_fps >= 0.98 * 15 * n,
        "sent_fps": round(sent_fps, 1),
        "received_fps": round(recv_fps, 1),
        "recorded_fps": round(rec_fps, 1),
        "frames_sent_total": total_sent,
        "frames_recorded_total": s2["recorded_frames"],
        "recorded_ratio": round(s2["recorded_frames"] / total_sent, 4) if total_sent else 0.0,
        "every_frame_recorded": total_sent > 0 and s2["recorded_frames"] >= total_sent,
        "max_loop_lag_s": round(s1["max_loop_lag"], 3),
        "publishers_set_up_s": round(setup_seconds, 1),
        "publishers_all_set_up": all_ready,
        "video_rtp_packets_lost": s1["rtp_packets_lost"],
        "video_frames_dropped_incomplete": s1["frames_dropped_incomplete"],
        **({"memory_top": memory} if memory is not None else {}),
    }


def run_ingest_bench(ns: list[int], seconds: float, workers: int = 1,
                     two_nodes: list[int] | None = None) -> list[dict[str, Any]]:
    """One hub run per N, then one run over two hub nodes per N in
    `two_nodes`; each dict also says whether >= 99.5 % of the sent frames
    were recorded (`ok`). See `largest_ok` for the headline number."""
    results = []
    runs = [(n, 1) for n in ns] + [(n, 2) for n in two_nodes or []]
    with tempfile.TemporaryDirectory(prefix="branchlive-bench-") as tmp:
        work = Path(tmp)
        make_bench_clip(work)
        for n, node_count in runs:
            result = _run_one(n, seconds, work, work, workers, node_count)
            result["ok"] = result["recorded_ratio"] >= OK_RATIO and result["live"] == n
            results.append(result)
    return results


def largest_ok(results: list[dict[str, Any]]) -> int | None:
    ok = [r["n"] for r in results if r["ok"] and r.get("nodes", 1) == 1]
    return max(ok) if ok else None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("ns", nargs="+", type=int)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--workers", type=int, default=1, help="media worker processes (hub)")
    parser.add_argument("--two-nodes", type=int, nargs="*", default=[], help="Ns to run over two hub nodes")
    args = parser.parse_args(argv)
    results = run_ingest_bench(args.ns, args.seconds, args.workers, args.two_nodes)
    for r in results:
        print(json.dumps(r))
    print(json.dumps({"largest_n_recording_99_5_percent": largest_ok(results)}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
