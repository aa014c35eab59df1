"""Ingest benchmark: N synthetic halls publishing pre-encoded 360p/15 fps
H.264 (~400 kbit/s) + Opus to a hub with recording on.

The hub runs under uvicorn in its own process (pinned to CPU 0 when the
machine has more than one); publishers run in their own processes (several
publishers each, pinned to the other CPUs), sending packets encoded once
beforehand, so the numbers are the hub's. Per N: hub CPU per stream (% of a
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
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx

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


def _datagrams_sent(pcs: list[Any]) -> int:
    """Datagrams the peers' DTLS transports sent (SRTP, SRTCP, DTLS): what the
    hub had to read, bar STUN consent checks (one every ~5 s). aiortc keeps
    the count in a private attribute (aiortc 1.16)."""
    total = 0
    for pc in pcs:
        seen: set[int] = set()
        for t in pc.getTransceivers():
            dtls = t.sender.transport
            if dtls is not None and id(dtls) not in seen:
                seen.add(id(dtls))
                total += getattr(dtls, "_RTCDtlsTransport__tx_packets", 0)
    return total


async def _publish_many(base_url: str, branches: list[int], clip_dir: Path, sent: Any,
                        datagrams: Any, ready: Any, stop: Any) -> None:
    import av
    from aiortc import RTCConfiguration, RTCPeerConnection, RTCRtpSender, RTCSessionDescription

    from hub.media.ice import offer_host_addresses
    from hub.media.relay import RelayTrack

    with av.open(str(clip_dir / "bench.h264")) as c:
        video = [bytes(p) for p in c.demux(video=0) if p.size]
    with av.open(str(clip_dir / "bench.ogg")) as c:
        audio = [bytes(p) for p in c.demux(audio=0) if p.size]
    h264 = [c for c in RTCRtpSender.getCapabilities("video").codecs if c.name == "H264"]
    pcs: list[RTCPeerConnection] = []
    tracks: list[tuple[RelayTrack, RelayTrack]] = []
    async with httpx.AsyncClient(base_url=base_url, timeout=60) as client:
        for branch in branches:
            pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
            v, a = RelayTrack("video", 1000), RelayTrack("audio", 1000)
            t = pc.addTransceiver(v, direction="sendonly")
            t.setCodecPreferences(h264)
            pc.addTransceiver(a, direction="sendrecv")
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
            tracks.append((v, a))
    ready.value += 1
    # One pacing loop feeds every track of the process (the packets are
    # pre-encoded: this is a stand-in for halls, not a measured party).
    start = time.monotonic()
    n_video = n_audio = 0
    while not stop.is_set():
        now = time.monotonic() - start
        while n_audio <= now * 50:
            data = audio[n_audio % len(audio)]
            for _, a in tracks:
                a.offer(data, n_audio * 960, True)
            n_audio += 1
        while n_video <= now * 15:
            data = video[n_video % len(video)]
            for v, _ in tracks:
                v.offer(data, n_video * 6000, True)
            n_video += 1
        # frames aiortc actually took for sending (an overloaded publisher
        # process shows as sent_fps below 15 * N, not as hub loss)
        sent.value = sum(v.sent for v, _ in tracks)
        datagrams.value = _datagrams_sent(pcs)
        await asyncio.sleep(0.01)
    for v, a in tracks:  # stop feeding; let the senders drain what they hold
        v.stop()
        a.stop()
    await asyncio.sleep(0.5)
    sent.value = sum(v.sent for v, _ in tracks)
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


def _run_one(n: int, seconds: float, clip_dir: Path, work: Path, workers: int = 1) -> dict[str, Any]:
    ncpu = os.cpu_count() or 1
    port = _free_port()
    data = work / f"hub-{n}"
    data.mkdir()
    env = {**os.environ, "MEDIA_BENCH_DATA": str(data),
           "MEDIA_BENCH_SETTINGS": json.dumps({"min_free_bytes": 0, "stop_recording_free_bytes": 0,
                                               "offline_seconds": 60, "workers": workers,
                                               "max_publishers_per_process": n + 1})}
    cmd = [sys.executable, "-m", "uvicorn", "--factory", "hub.media.benchapp:create_app",
           "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"]
    if ncpu > 1 and workers == 1:
        cmd = ["taskset", "-c", "0", *cmd]
    hub = subprocess.Popen(cmd, env=env)
    base = f"http://127.0.0.1:{port}"
    ctx = mp.get_context("spawn")
    stop = ctx.Event()
    procs: list[tuple[Any, Any]] = []
    counts: list[Any] = []  # datagrams sent, per publisher process
    try:
        with httpx.Client(base_url=base, timeout=30) as client:
            deadline = time.monotonic() + 30
            while True:
                try:
                    client.get("/bench/stats")
                    break
                except httpx.TransportError:
                    if time.monotonic() > deadline or hub.poll() is not None:
                        raise RuntimeError("the hub did not start") from None
                    time.sleep(0.2)
            for branch in range(1, n + 1):
                client.post(f"/bench/meetings/{branch}/{uuid.uuid4()}")
            ready = ctx.Value("i", 0)
            groups = [list(range(i, min(i + STREAMS_PER_PROCESS, n + 1)))
                      for i in range(1, n + 1, STREAMS_PER_PROCESS)]
            for k, group in enumerate(groups):
                sent, datagrams = ctx.Value("q", 0), ctx.Value("q", 0)
                cpu = 1 + k % (ncpu - 1) if ncpu > 1 else None
                p = ctx.Process(target=_publisher_process,
                                args=(base, group, str(clip_dir), sent, datagrams, ready, stop, cpu))
                p.start()
                procs.append((p, sent))
                counts.append(datagrams)
            deadline = time.monotonic() + 60 + n / 4
            while ready.value < len(groups) and time.monotonic() < deadline:
                time.sleep(0.2)
            time.sleep(4.0)  # warm-up: ICE/DTLS done, first keyframes, first segments
            s0 = client.get("/bench/stats", params={"reset_lag": True}).json()
            sent0 = sum(s.value for _, s in procs)
            dg0 = sum(d.value for d in counts)
            pub_pids = [p.pid for p, _ in procs]
            hub_pids = _tree(hub.pid)
            cpu0, t0 = _tree_cpu_seconds(hub_pids), time.monotonic()
            pcpu0 = sum(_proc_cpu_seconds(pid) for pid in pub_pids)
            time.sleep(seconds)
            cpu1, t1 = _tree_cpu_seconds(hub_pids), time.monotonic()
            pcpu1 = sum(_proc_cpu_seconds(pid) for pid in pub_pids)
            sent1 = sum(s.value for _, s in procs)
            dg1 = sum(d.value for d in counts)
            s1 = client.get("/bench/stats").json()
            rss = sum(_proc_rss_mb(pid) for pid in hub_pids)
            # MEDIA_BENCH_TRACEMALLOC=<frames>: the hub's largest allocation sites
            memory = client.get("/bench/memory").json() if os.environ.get("MEDIA_BENCH_TRACEMALLOC") else None
            # whole-run totals once every publisher has stopped and the hub
            # has taken the last packets: every frame sent vs recorded
            stop.set()
            for p, _ in procs:
                p.join(timeout=60)
            total_sent = sum(s.value for _, s in procs)
            time.sleep(1.0)
            s2 = client.get("/bench/stats").json()
    finally:
        stop.set()
        for p, _ in procs:
            p.join(timeout=20)
            if p.is_alive():
                p.kill()
        hub.send_signal(signal.SIGTERM)
        try:
            hub.wait(timeout=30)
        except subprocess.TimeoutExpired:
            hub.kill()
        shutil.rmtree(data, ignore_errors=True)
    dt = t1 - t0
    hub_cpu = 100 * (cpu1 - cpu0) / dt
    sent_fps = (sent1 - sent0) / dt
    rec_fps = (s1["recorded_frames"] - s0["recorded_frames"]) / dt
    recv_fps = (s1["video_frames"] - s0["video_frames"]) / dt
    stream_equivalents = recv_fps / 15 if recv_fps else 0.0
    datagrams = dg1 - dg0
    return {
        "n": n,
        "workers": workers,
        "live": s1["live"],
        "hub_cpu_percent": round(hub_cpu, 1),
        "cpu_per_stream_percent": round(hub_cpu / n, 3),
        # per stream actually arriving at 15 fps (publishers may fall short)
        "cpu_per_15fps_stream_percent": round(hub_cpu / stream_equivalents, 3) if stream_equivalents else None,
        "rss_mb": round(rss, 1),
        "rss_per_stream_mb": round(rss / n, 2),
        "datagrams_per_s": round(datagrams / dt, 1),
        # hub CPU time per datagram it read (RTP, RTCP, DTLS; STUN not counted)
        "us_per_datagram": round(1e6 * (cpu1 - cpu0) / datagrams, 1) if datagrams else None,
        # the load generator: at 100 % per core it, not the hub, is the limit
        "publishers_cpu_percent": round(100 * (pcpu1 - pcpu0) / dt, 1),
        "expected_fps": 15 * n,
        # False: the publishers (same machine) could not send 15 fps per stream
        "publishers_kept_up": sent_fps >= 0.98 * 15 * n,
        "sent_fps": round(sent_fps, 1),
        "received_fps": round(recv_fps, 1),
        "recorded_fps": round(rec_fps, 1),
        "frames_sent_total": total_sent,
        "frames_recorded_total": s2["recorded_frames"],
        "recorded_ratio": round(s2["recorded_frames"] / total_sent, 4) if total_sent else 0.0,
        "max_loop_lag_s": round(s1["max_loop_lag"], 3),
        "video_rtp_packets_lost": s1["rtp_packets_lost"],
        "video_frames_dropped_incomplete": s1["frames_dropped_incomplete"],
        **({"memory_top": memory} if memory is not None else {}),
    }


def run_ingest_bench(ns: list[int], seconds: float, workers: int = 1) -> list[dict[str, Any]]:
    """One hub run per N; each dict also says whether >= 99.5 % of the sent
    frames were recorded (`ok`). See `largest_ok` for the headline number."""
    results = []
    with tempfile.TemporaryDirectory(prefix="branchlive-bench-") as tmp:
        work = Path(tmp)
        make_bench_clip(work)
        for n in ns:
            result = _run_one(n, seconds, work, work, workers)
            result["ok"] = result["recorded_ratio"] >= OK_RATIO and result["live"] == n
            results.append(result)
    return results


def largest_ok(results: list[dict[str, Any]]) -> int | None:
    ok = [r["n"] for r in results if r["ok"]]
    return max(ok) if ok else None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("ns", nargs="+", type=int)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--workers", type=int, default=1, help="media worker processes (hub)")
    args = parser.parse_args(argv)
    results = run_ingest_bench(args.ns, args.seconds, args.workers)
    for r in results:
        print(json.dumps(r))
    print(json.dumps({"largest_n_recording_99_5_percent": largest_ok(results)}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
