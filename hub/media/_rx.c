/*
 * The hub's per-packet receive path for SRTP media, compiled (issue 15).
 *
 * Written by hand because no library does this part: pylibsrtp decrypts one
 * packet per Python call and aiortc parses, counts and depacketises in
 * Python, which at ~100 datagrams per hall per second was most of a media
 * node's CPU. Here one C call per datagram does what hub/media/fastpath.py
 * and hub/media/passthrough.py do in Python for the common packet:
 *
 *   decrypt (libsrtp, through the function pylibsrtp already loaded: its
 *   address is handed in, so nothing is linked twice), parse the fixed RTP
 *   header, find the track by SSRC, keep aiortc's receiver statistics and
 *   NACK state, put video packets in sequence order (holding those behind a
 *   missing one while its retransmission comes: PacketHold), depacketise
 *   H.264 (RFC 6184: single NAL, FU-A, STAP-A) and put frames together (the
 *   rules of hub/media/assembler.py).
 *
 * Python is called once per complete frame (`sink(frame, rtp_timestamp)`;
 * audio can be handed over in groups instead: `group_sink`, `group`),
 * on a loss (`on_loss(ssrc)`: the caller sends a PLI) and on a gap
 * (`on_nack(ssrc, missing)`). Anything else (STUN, DTLS, SRTCP, an SSRC the
 * receiver has not adopted yet, RTX) goes to the Python callables it was
 * given, so the stock path and hub/media/passthrough.py still decide those.
 *
 * `Tap.drain(fd)` reads a socket itself, up to BATCH datagrams per
 * recvmmsg call: one system call per readiness event instead of one per
 * datagram plus the one that finds the socket empty, which at 256 halls was
 * a third of the event loop's time (hub/media/fastpath.py takes the socket
 * over from the event loop's transport).
 *
 * tests/hub/media/test_rx_native.py feeds the same packets to this and to
 * the Python path and compares every frame, loss and counter;
 * tests/hub/media/test_rx_drain.py reads real sockets.
 */
#define _GNU_SOURCE /* recvmmsg */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stddef.h>
#include <sys/socket.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

typedef int (*unprotect_fn)(void *ctx, void *hdr, int *len);

#define SLOTS 1024             /* packets of one frame (a 360p keyframe is ~20) */
#define MAX_FRAME (4 << 20)    /* bytes of one frame before it is given up */
#define HISTORY 128            /* aiortc's RTP_HISTORY_SIZE: NACK window */
#define BUF_CAP 1500           /* largest datagram decrypted here (pylibsrtp's buffer too) */
#define MAX_TRACKS 8
#define HOLD_FRAMES 8          /* hub/media/assembler.py PacketHold: frames held behind a gap */
#define HOLD_PACKETS 256       /* sequence numbers a hold spans (a power of two) */

static inline int u16_gt(unsigned a, unsigned b) {
    return (a > b && a - b < 0x8000) || (a < b && b - a > 0x8000);
}

static inline int ts_newer(uint32_t a, uint32_t b) {
    return a != b && (uint32_t)(a - b) < 0x80000000u;
}

/* ------------------------------------------------------------------ Track */

typedef struct {
    uint16_t seq;
    uint32_t gen;
    uint32_t off, len;
} Slot;

typedef struct {
    uint16_t seq;
    int marker;
    uint32_t ts, len;
    uint8_t data[];
} Held;

typedef struct {
    PyObject_HEAD
    uint32_t ssrc;
    int payload_type;  /* the media's: any other goes to Python (RTX on this SSRC, unknown types) */
    int enabled;       /* the receiver's _enabled (aiortc: direction sendonly/inactive) */
    int h264;
    int nack;
    long long clock_rate;
    PyObject *sink, *on_loss, *on_nack;
    /* audio in groups: with group > 1 and a group_sink, frames are held as
       (payload, rtp_timestamp) tuples and handed over `group` at a time */
    PyObject *group_sink, *held;
    int group;
    /* statistics: aiortc.rtcrtpreceiver.StreamStatistics */
    int have_seq;
    unsigned base_seq, max_seq;
    long long cycles, received, jitter_q4, last_arrival, expected_prior, received_prior;
    int have_last;
    long long last_ts;
    /* NACK: aiortc.rtcrtpreceiver.NackGenerator */
    int nack_have_max;
    unsigned nack_max;
    int n_missing;
    uint16_t missing[HISTORY + 1];
    /* packet order: hub/media/assembler.py PacketHold */
    int hold_have_next, hold_n, hold_ends;
    unsigned hold_next;
    Held **hold; /* HOLD_PACKETS slots by sequence number, made at the first gap */
    /* frame assembly: hub/media/assembler.py */
    int have_cur, have_done, have_start, have_marker;
    uint32_t cur_ts, done_ts;
    unsigned start, marker;
    uint32_t gen;
    int n_parts;
    uint16_t part_seqs[SLOTS];
    Slot *slots;
    char *arena;
    uint32_t arena_len, arena_cap;
    long long frames, dropped, guessed;
} Track;

static PyTypeObject TrackType;

static long long now_units(long long rate) {
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    /* int(time.time() * rate), as aiortc computes an arrival */
    return (long long)(((double)t.tv_sec + t.tv_nsec / 1e9) * (double)rate);
}

static void stats_add(Track *t, unsigned seq, uint32_t ts) {
    int in_order = !t->have_seq || u16_gt(seq, t->max_seq);
    t->received += 1;
    if (!t->have_seq) {
        t->base_seq = seq;
    }
    if (in_order) {
        long long arrival = now_units(t->clock_rate);
        if (t->have_seq && seq < t->max_seq)
            t->cycles += 1 << 16;
        t->max_seq = seq;
        t->have_seq = 1;
        if (t->have_last && (long long)ts != t->last_ts && t->received > 1) {
            long long diff = (arrival - t->last_arrival) - ((long long)ts - t->last_ts);
            if (diff < 0)
                diff = -diff;
            t->jitter_q4 += diff - ((t->jitter_q4 + 8) >> 4);
        }
        t->last_arrival = arrival;
        t->last_ts = ts;
        t->have_last = 1;
    }
    t->have_seq = 1;
}

/* Returns 1 when packets went missing (the caller sends a NACK). */
static int nack_add(Track *t, unsigned seq) {
    int missed = 0;
    if (!t->nack_have_max) {
        t->nack_max = seq;
        t->nack_have_max = 1;
        return 0;
    }
    if (u16_gt(seq, t->nack_max)) {
        unsigned old = t->nack_max;
        t->nack_max = seq;
        unsigned min_seq = (seq - HISTORY) & 0xFFFF;
        for (int i = 0; i < t->n_missing;) { /* what falls out of the window */
            if (u16_gt(min_seq, t->missing[i]))
                t->missing[i] = t->missing[--t->n_missing];
            else
                i++;
        }
        unsigned s = (old + 1) & 0xFFFF;
        if (u16_gt(min_seq, s)) /* only the last HISTORY would be kept */
            s = min_seq;
        while (u16_gt(seq, s)) {
            int dup = 0;
            for (int i = 0; i < t->n_missing; i++)
                if (t->missing[i] == s) { dup = 1; break; }
            if (!dup && t->n_missing <= HISTORY)
                t->missing[t->n_missing++] = (uint16_t)s;
            missed = 1;
            s = (s + 1) & 0xFFFF;
        }
    } else {
        for (int i = 0; i < t->n_missing; i++)
            if (t->missing[i] == seq) {
                t->missing[i] = t->missing[--t->n_missing];
                break;
            }
    }
    return missed;
}

static int cmp_u16(const void *a, const void *b) {
    return (int)*(const uint16_t *)a - (int)*(const uint16_t *)b;
}

static int call2(PyObject *fn, PyObject *a, PyObject *b) {
    if (fn == NULL || fn == Py_None)
        return 0;
    PyObject *args[2] = {a, b};
    PyObject *r = PyObject_Vectorcall(fn, args, b ? 2 : 1, NULL);
    if (r == NULL)
        return -1;
    Py_DECREF(r);
    return 0;
}

static int send_nack(Track *t) {
    if (t->on_nack == NULL || t->on_nack == Py_None)
        return 0;
    uint16_t sorted[HISTORY + 1];
    int n = t->n_missing;
    memcpy(sorted, t->missing, n * sizeof(uint16_t));
    qsort(sorted, n, sizeof(uint16_t), cmp_u16);
    PyObject *list = PyList_New(n);
    if (list == NULL)
        return -1;
    for (int i = 0; i < n; i++) {
        PyObject *v = PyLong_FromLong(sorted[i]);
        if (v == NULL) { Py_DECREF(list); return -1; }
        PyList_SET_ITEM(list, i, v);
    }
    PyObject *ssrc = PyLong_FromUnsignedLong(t->ssrc);
    int rc = ssrc ? call2(t->on_nack, ssrc, list) : -1;
    Py_XDECREF(ssrc);
    Py_DECREF(list);
    return rc;
}

/* H.264 payload (RFC 6184) to Annex-B, appended to the track's arena.
 * Returns 0, or -1 for a payload the Python path rejects too (ValueError). */
static int arena_put(Track *t, const uint8_t *p, uint32_t n) {
    if (t->arena_len + n > MAX_FRAME)
        return -2;
    if (t->arena_len + n > t->arena_cap) {
        uint32_t cap = t->arena_cap ? t->arena_cap : 8192;
        while (cap < t->arena_len + n)
            cap *= 2;
        char *a = PyMem_Realloc(t->arena, cap);
        if (a == NULL)
            return -3;
        t->arena = a;
        t->arena_cap = cap;
    }
    memcpy(t->arena + t->arena_len, p, n);
    t->arena_len += n;
    return 0;
}

static const uint8_t START[4] = {0, 0, 0, 1};

/* Whether the Python path takes this payload (it raises ValueError otherwise). */
static int payload_ok(const uint8_t *p, uint32_t n) {
    if (n == 0)
        return 1;
    if (n < 2)
        return 0;
    unsigned type = p[0] & 0x1F;
    if (type == 28 || (type > 0 && type < 24))
        return 1;
    if (type != 24)
        return 0;
    uint32_t pos = 1;
    while (pos < n) {
        if (n < pos + 2)
            return 0;
        pos += 2 + (((uint32_t)p[pos] << 8) | p[pos + 1]);
        if (n < pos)
            return 0;
    }
    return 1;
}

/* Appends a payload payload_ok accepted. */
static int depayload(Track *t, const uint8_t *p, uint32_t n) {
    if (n == 0)
        return 0;
    unsigned type = p[0] & 0x1F;
    int rc;
    if (type == 28) { /* FU-A */
        if (p[1] & 0x80) {
            uint8_t head[5] = {0, 0, 0, 1, (uint8_t)((p[0] & 0xE0) | (p[1] & 0x1F))};
            if ((rc = arena_put(t, head, 5)))
                return rc;
        }
        return arena_put(t, p + 2, n - 2);
    }
    if (type > 0 && type < 24) {
        if ((rc = arena_put(t, START, 4)))
            return rc;
        return arena_put(t, p, n);
    }
    if (type == 24) { /* STAP-A */
        uint32_t pos = 1;
        while (pos < n) {
            uint32_t size = ((uint32_t)p[pos] << 8) | p[pos + 1];
            pos += 2;
            if ((rc = arena_put(t, START, 4)) || (rc = arena_put(t, p + pos, size)))
                return rc;
            pos += size;
        }
        return 0;
    }
    return -1;
}

static int starts_access_unit(const uint8_t *a, uint32_t n) {
    uint32_t pos;
    if (n >= 4 && a[0] == 0 && a[1] == 0 && a[2] == 0 && a[3] == 1)
        pos = 4;
    else if (n >= 3 && a[0] == 0 && a[1] == 0 && a[2] == 1)
        pos = 3;
    else
        return 0;
    if (n < pos + 2)
        return 0;
    unsigned kind = a[pos] & 0x1F;
    if (kind == 1 || kind == 5)
        return (a[pos + 1] & 0x80) != 0;
    return kind == 6 || kind == 7 || kind == 8 || kind == 9;
}

static void frame_reset(Track *t) {
    t->gen++;
    t->n_parts = 0;
    t->arena_len = 0;
    t->have_marker = 0;
}

/* One video packet, after statistics and NACK. Returns -1 on a Python error. */
static int video_packet(Track *t, unsigned seq, uint32_t ts, int marker, const uint8_t *payload,
                        uint32_t plen) {
    int lost = 0;
    if (!payload_ok(payload, plen))
        return 0; /* not a packet of any frame: dropped, as in Python */
    if (!t->have_cur || ts != t->cur_ts) {
        if (t->have_done && !ts_newer(ts, t->done_ts))
            return 0; /* straggler of a frame already given out */
        if (t->have_cur) {
            if (!ts_newer(ts, t->cur_ts))
                return 0; /* late packet of a dropped frame */
            lost = 1;
            t->dropped++;
            frame_reset(t);
            t->have_start = 0;
        }
        t->cur_ts = ts;
        t->have_cur = 1;
    }
    uint32_t off = t->arena_len;
    int rc = depayload(t, payload, plen);
    if (rc == -3) {
        PyErr_NoMemory();
        return -1;
    }
    if (rc == -2) { /* a frame larger than any this hub takes: given up */
        lost = 1;
        t->dropped++;
        frame_reset(t);
        t->have_cur = 0;
        t->have_start = 0;
        goto out;
    }
    Slot *s = &t->slots[seq % SLOTS];
    if (!(s->gen == t->gen && s->seq == seq)) {
        if (s->gen == t->gen) {
            /* another packet of this frame holds the slot: the frame spans more
               than SLOTS packets, which no frame of this hub does */
            lost = 1;
            t->dropped++;
            frame_reset(t);
            t->have_cur = 0;
            t->have_start = 0;
            goto out;
        }
        t->part_seqs[t->n_parts++] = (uint16_t)seq;
    }
    s->seq = (uint16_t)seq;
    s->gen = t->gen;
    s->off = off;
    s->len = t->arena_len - off;
    if (marker) {
        t->marker = seq;
        t->have_marker = 1;
    }
    if (!t->have_marker)
        goto out;
    unsigned end = t->marker, start = t->start;
    int guessed = 0;
    if (!t->have_start || ((end - start) & 0xFFFF) >= 0x8000) {
        unsigned best = t->part_seqs[0], dist = (end - best) & 0xFFFF;
        for (int i = 1; i < t->n_parts; i++) {
            unsigned d = (end - t->part_seqs[i]) & 0xFFFF;
            if (d > dist) { dist = d; best = t->part_seqs[i]; }
        }
        start = best;
        guessed = 1;
    }
    unsigned span = ((end - start) & 0xFFFF) + 1;
    if ((unsigned)t->n_parts < span || span > SLOTS)
        goto out;
    uint32_t total = 0;
    for (unsigned i = 0; i < span; i++) {
        Slot *p = &t->slots[(start + i) & 0xFFFF & (SLOTS - 1)];
        unsigned want = (start + i) & 0xFFFF;
        if (!(p->gen == t->gen && p->seq == want))
            goto out; /* a stray packet outside the frame's range */
        total += p->len;
    }
    PyObject *frame = PyBytes_FromStringAndSize(NULL, total);
    if (frame == NULL)
        return -1;
    char *dst = PyBytes_AS_STRING(frame);
    for (unsigned i = 0; i < span; i++) {
        Slot *p = &t->slots[(start + i) & 0xFFFF & (SLOTS - 1)];
        memcpy(dst, t->arena + p->off, p->len);
        dst += p->len;
    }
    frame_reset(t);
    t->start = (end + 1) & 0xFFFF;
    t->have_start = 1;
    t->done_ts = ts;
    t->have_done = 1;
    t->have_cur = 0;
    t->frames++;
    t->guessed = guessed;
    if (guessed && t->h264 && !starts_access_unit((const uint8_t *)PyBytes_AS_STRING(frame), total)) {
        /* the frame's first packets were lost: what is left cannot be decoded */
        Py_DECREF(frame);
        frame = NULL;
        lost = 1;
        t->dropped++;
    }
    if (lost) {
        PyObject *ssrc = PyLong_FromUnsignedLong(t->ssrc);
        int r = ssrc ? call2(t->on_loss, ssrc, NULL) : -1;
        Py_XDECREF(ssrc);
        if (r < 0) { Py_XDECREF(frame); return -1; }
        lost = 0;
    }
    if (frame != NULL) {
        PyObject *pts = PyLong_FromUnsignedLong(ts);
        int r = pts ? call2(t->sink, frame, pts) : -1;
        Py_XDECREF(pts);
        Py_DECREF(frame);
        return r;
    }
    return 0;
out:
    if (lost) {
        PyObject *ssrc = PyLong_FromUnsignedLong(t->ssrc);
        int r = ssrc ? call2(t->on_loss, ssrc, NULL) : -1;
        Py_XDECREF(ssrc);
        return r;
    }
    return 0;
}

/* One video packet in sequence order (hub/media/assembler.py PacketHold):
 * held behind a missing one until a retransmission fills the gap or
 * HOLD_FRAMES frames have ended behind it; then on to video_packet. */
static int video_in_order(Track *t, unsigned seq, uint32_t ts, int marker, const uint8_t *payload,
                          uint32_t plen) {
    if (!payload_ok(payload, plen))
        return 0; /* not a packet of any frame: dropped, as in Python */
    if (!t->hold_have_next) {
        t->hold_next = seq;
        t->hold_have_next = 1;
    }
    unsigned nxt = t->hold_next, distance = (seq - nxt) & 0xFFFF;
    if (distance >= 0x8000) /* older than the one awaited: the assembler ignores it */
        return video_packet(t, seq, ts, marker, payload, plen);
    if (t->hold_n == 0 && (distance == 0 || distance >= HOLD_PACKETS)) {
        /* the common case: nothing held, the packet awaited (or far ahead) */
        t->hold_next = (seq + 1) & 0xFFFF;
        return video_packet(t, seq, ts, marker, payload, plen);
    }
    const unsigned mask = HOLD_PACKETS - 1;
    if (t->hold == NULL && (t->hold = PyMem_Calloc(HOLD_PACKETS, sizeof(Held *))) == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    Held *out[HOLD_PACKETS + 1];
    int n = 0;
    Held *h = t->hold[seq & mask];
    if (distance < HOLD_PACKETS && h != NULL && h->seq == seq)
        return 0; /* a duplicate of a held packet */
    Held *mine = PyMem_Malloc(sizeof(Held) + plen);
    if (mine == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    mine->seq = (uint16_t)seq;
    mine->ts = ts;
    mine->marker = marker ? 1 : 0;
    mine->len = plen;
    memcpy(mine->data, payload, plen);
    if (distance >= HOLD_PACKETS) { /* too far ahead to hold: what is held goes, in order */
        for (unsigned i = 0; i < HOLD_PACKETS && t->hold_n; i++) {
            unsigned s = (nxt + i) & 0xFFFF;
            if ((h = t->hold[s & mask]) != NULL && h->seq == s) {
                out[n++] = h;
                t->hold[s & mask] = NULL;
                t->hold_n--;
            }
        }
        t->hold_ends = 0;
        nxt = seq;
    }
    t->hold[seq & mask] = mine;
    t->hold_n++;
    t->hold_ends += mine->marker;
    for (;;) {
        while ((h = t->hold[nxt & mask]) != NULL && h->seq == nxt) {
            out[n++] = h;
            t->hold[nxt & mask] = NULL;
            t->hold_n--;
            t->hold_ends -= h->marker;
            nxt = (nxt + 1) & 0xFFFF;
        }
        if (t->hold_n == 0 || t->hold_ends < HOLD_FRAMES)
            break;
        for (unsigned i = 1; i < HOLD_PACKETS; i++) { /* the gap is given up: on to the nearest held */
            unsigned s = (nxt + i) & 0xFFFF;
            if ((h = t->hold[s & mask]) != NULL && h->seq == s) {
                nxt = s;
                break;
            }
        }
    }
    t->hold_next = nxt;
    int r = 0;
    for (int i = 0; i < n; i++) {
        if (r == 0)
            r = video_packet(t, out[i]->seq, out[i]->ts, out[i]->marker, out[i]->data, out[i]->len);
        PyMem_Free(out[i]);
    }
    return r;
}

static void hold_free(Track *t) {
    if (t->hold == NULL)
        return;
    for (int i = 0; i < HOLD_PACKETS; i++)
        PyMem_Free(t->hold[i]);
    PyMem_Free(t->hold);
    t->hold = NULL;
    t->hold_n = t->hold_ends = 0;
}

/* Hand the held audio frames to group_sink (none held: nothing). */
static int track_flush(Track *t) {
    PyObject *held = t->held;
    if (held == NULL)
        return 0;
    t->held = NULL;
    PyObject *sink = Py_XNewRef(t->group_sink); /* the sink may replace itself */
    int r = PyList_GET_SIZE(held) ? call2(sink, held, NULL) : 0;
    Py_XDECREF(sink);
    Py_DECREF(held);
    return r;
}

/* Hold one audio frame; the group goes out when it is full. */
static int track_hold(Track *t, PyObject *data, PyObject *pts) {
    if (t->held == NULL && (t->held = PyList_New(0)) == NULL)
        return -1;
    PyObject *frame = PyTuple_Pack(2, data, pts);
    if (frame == NULL)
        return -1;
    int r = PyList_Append(t->held, frame);
    Py_DECREF(frame);
    if (r < 0)
        return -1;
    return PyList_GET_SIZE(t->held) >= t->group ? track_flush(t) : 0;
}

/* One RTP packet of this track (its header already parsed). */
/* mode: 1 a packet of this track; 0 an RTX retransmission, unwrapped (aiortc
 * counts it in the RTX stream only); 2 counted, nothing else (what aiortc does
 * with an RTX-typed packet on the media SSRC) */
static int track_packet(Track *t, unsigned seq, uint32_t ts, int marker, const uint8_t *payload,
                        uint32_t plen, int mode) {
    if (!t->enabled)
        return 0;
    if (mode)
        stats_add(t, seq, ts);
    if (mode == 2)
        return 0;
    if (!t->h264) { /* audio: one packet, one frame */
        if (plen == 0)
            return 0;
        PyObject *data = PyBytes_FromStringAndSize((const char *)payload, plen);
        PyObject *pts = data ? PyLong_FromUnsignedLong(ts) : NULL;
        int r = !pts ? -1
            : t->group > 1 && t->group_sink != NULL && t->group_sink != Py_None ? track_hold(t, data, pts)
            : call2(t->sink, data, pts);
        Py_XDECREF(pts);
        Py_XDECREF(data);
        return r;
    }
    if (t->nack && nack_add(t, seq) && send_nack(t) < 0)
        return -1;
    return video_in_order(t, seq, ts, marker, payload, plen);
}

static PyObject *Track_rtp(Track *t, PyObject *const *args, Py_ssize_t nargs) {
    /* rtp(sequence_number, timestamp, marker, payload, mode=1): a packet the
       Python path parsed; mode as track_packet's */
    if (nargs != 4 && nargs != 5) {
        PyErr_SetString(PyExc_TypeError, "rtp(sequence_number, timestamp, marker, payload, mode=1)");
        return NULL;
    }
    unsigned long seq = PyLong_AsUnsignedLong(args[0]);
    unsigned long ts = PyLong_AsUnsignedLong(args[1]);
    int marker = PyObject_IsTrue(args[2]);
    long mode = nargs == 5 ? PyLong_AsLong(args[4]) : 1;
    if (mode < 0 || mode > 2) {
        if (!PyErr_Occurred())
            PyErr_SetString(PyExc_ValueError, "mode is 0, 1 or 2");
        return NULL;
    }
    if (PyErr_Occurred())
        return NULL;
    Py_buffer view;
    if (PyObject_GetBuffer(args[3], &view, PyBUF_SIMPLE) < 0)
        return NULL;
    int r = track_packet(t, seq & 0xFFFF, (uint32_t)ts, marker, view.buf, (uint32_t)view.len, (int)mode);
    PyBuffer_Release(&view);
    if (r < 0)
        return NULL;
    Py_RETURN_NONE;
}

static int Track_traverse(Track *t, visitproc visit, void *arg) {
    Py_VISIT(t->held);
    Py_VISIT(t->group_sink);
    Py_VISIT(t->sink);
    Py_VISIT(t->on_loss);
    Py_VISIT(t->on_nack);
    return 0;
}

static int Track_clear(Track *t) {
    Py_CLEAR(t->held);
    Py_CLEAR(t->group_sink);
    Py_CLEAR(t->sink);
    Py_CLEAR(t->on_loss);
    Py_CLEAR(t->on_nack);
    return 0;
}

static void Track_dealloc(Track *t) {
    PyObject_GC_UnTrack(t);
    Track_clear(t);
    hold_free(t);
    PyMem_Free(t->slots);
    PyMem_Free(t->arena);
    Py_TYPE(t)->tp_free((PyObject *)t);
}

static PyObject *get_max_seq(Track *t, void *c) {
    if (!t->have_seq) Py_RETURN_NONE;
    return PyLong_FromUnsignedLong(t->max_seq);
}
static PyObject *get_base_seq(Track *t, void *c) {
    if (!t->have_seq) Py_RETURN_NONE;
    return PyLong_FromUnsignedLong(t->base_seq);
}
static long long expected(Track *t) {
    return t->have_seq ? t->cycles + (long long)t->max_seq - (long long)t->base_seq + 1 : 0;
}
static PyObject *get_expected(Track *t, void *c) { return PyLong_FromLongLong(expected(t)); }
static PyObject *get_lost(Track *t, void *c) {
    long long n = expected(t) - t->received;
    if (n < -0x800000) n = -0x800000;
    if (n > 0x7FFFFF) n = 0x7FFFFF;
    return PyLong_FromLongLong(n);
}
static PyObject *get_fraction_lost(Track *t, void *c) {
    /* as aiortc's property: reading it starts the next interval */
    long long exp = expected(t);
    long long ei = exp - t->expected_prior, ri = t->received - t->received_prior;
    t->expected_prior = exp;
    t->received_prior = t->received;
    long long li = ei - ri;
    if (ei == 0 || li <= 0) return PyLong_FromLong(0);
    return PyLong_FromLongLong((li << 8) / ei);
}
static PyObject *get_jitter(Track *t, void *c) { return PyLong_FromLongLong(t->jitter_q4 >> 4); }
static PyObject *get_received(Track *t, void *c) { return PyLong_FromLongLong(t->received); }
static PyObject *get_cycles(Track *t, void *c) { return PyLong_FromLongLong(t->cycles); }
static PyObject *get_frames(Track *t, void *c) { return PyLong_FromLongLong(t->frames); }
static PyObject *get_dropped(Track *t, void *c) { return PyLong_FromLongLong(t->dropped); }
static PyObject *get_guessed(Track *t, void *c) { return PyBool_FromLong(t->guessed); }
static PyObject *get_ssrc(Track *t, void *c) { return PyLong_FromUnsignedLong(t->ssrc); }
static PyObject *get_payload_type(Track *t, void *c) { return PyLong_FromLong(t->payload_type); }
static PyObject *get_enabled(Track *t, void *c) { return PyBool_FromLong(t->enabled); }
static int set_enabled(Track *t, PyObject *v, void *c) {
    int on = v ? PyObject_IsTrue(v) : -1;
    if (on < 0) {
        if (!PyErr_Occurred())
            PyErr_SetString(PyExc_TypeError, "enabled cannot be deleted");
        return -1;
    }
    t->enabled = on;
    return 0;
}
static PyObject *get_missing(Track *t, void *c) {
    PyObject *s = PySet_New(NULL);
    for (int i = 0; s && i < t->n_missing; i++) {
        PyObject *v = PyLong_FromLong(t->missing[i]);
        if (v == NULL || PySet_Add(s, v) < 0) { Py_XDECREF(v); Py_DECREF(s); return NULL; }
        Py_DECREF(v);
    }
    return s;
}

#define CALLBACK(name)                                                          \
    static PyObject *get_##name(Track *t, void *c) {                          \
        return Py_NewRef(t->name ? t->name : Py_None);                        \
    }                                                                         \
    static int set_##name(Track *t, PyObject *v, void *c) {                   \
        Py_XSETREF(t->name, Py_XNewRef(v));                                   \
        return 0;                                                             \
    }
CALLBACK(sink)
CALLBACK(on_loss)
CALLBACK(on_nack)

static PyObject *get_group_sink(Track *t, void *c) { return Py_NewRef(t->group_sink ? t->group_sink : Py_None); }
static int set_group_sink(Track *t, PyObject *v, void *c) {
    if (track_flush(t) < 0) /* what is held goes to the sink it was held for */
        return -1;
    Py_XSETREF(t->group_sink, Py_XNewRef(v));
    return 0;
}
static PyObject *get_group(Track *t, void *c) { return PyLong_FromLong(t->group); }
static PyObject *get_held(Track *t, void *c) { return PyLong_FromSsize_t(t->held ? PyList_GET_SIZE(t->held) : 0); }
static int set_group(Track *t, PyObject *v, void *c) {
    long n = v ? PyLong_AsLong(v) : 1;
    if (n == -1 && PyErr_Occurred())
        return -1;
    if (n < 1 || n > 1000) {
        PyErr_SetString(PyExc_ValueError, "group is 1 to 1000 frames");
        return -1;
    }
    t->group = (int)n;
    if (t->held != NULL && PyList_GET_SIZE(t->held) >= n)
        return track_flush(t);
    return 0;
}

static PyObject *Track_flush(Track *t, PyObject *unused) {
    if (track_flush(t) < 0)
        return NULL;
    Py_RETURN_NONE;
}

static PyGetSetDef Track_getset[] = {
    {"ssrc", (getter)get_ssrc, NULL, NULL, NULL},
    {"payload_type", (getter)get_payload_type, NULL, NULL, NULL},
    {"enabled", (getter)get_enabled, (setter)set_enabled, "packets are taken (the receiver's _enabled)", NULL},
    {"base_seq", (getter)get_base_seq, NULL, NULL, NULL},
    {"max_seq", (getter)get_max_seq, NULL, NULL, NULL},
    {"cycles", (getter)get_cycles, NULL, NULL, NULL},
    {"packets_received", (getter)get_received, NULL, NULL, NULL},
    {"packets_expected", (getter)get_expected, NULL, NULL, NULL},
    {"packets_lost", (getter)get_lost, NULL, NULL, NULL},
    {"fraction_lost", (getter)get_fraction_lost, NULL, NULL, NULL},
    {"jitter", (getter)get_jitter, NULL, NULL, NULL},
    {"frames", (getter)get_frames, NULL, NULL, NULL},
    {"dropped", (getter)get_dropped, NULL, NULL, NULL},
    {"guessed", (getter)get_guessed, NULL, NULL, NULL},
    {"missing", (getter)get_missing, NULL, NULL, NULL},
    {"sink", (getter)get_sink, (setter)set_sink, "sink(frame, rtp_timestamp)", NULL},
    {"on_loss", (getter)get_on_loss, (setter)set_on_loss, "on_loss(ssrc): ask for a keyframe", NULL},
    {"on_nack", (getter)get_on_nack, (setter)set_on_nack, "on_nack(ssrc, missing)", NULL},
    {"group_sink", (getter)get_group_sink, (setter)set_group_sink,
     "group_sink([(frame, rtp_timestamp), ...]): audio frames, `group` at a time", NULL},
    {"group", (getter)get_group, (setter)set_group,
     "audio frames per call of group_sink (1: each frame to sink); lowering it hands over what is held",
     NULL},
    {"held", (getter)get_held, NULL, "audio frames held for the next group", NULL},
    {NULL},
};

static PyMethodDef Track_methods[] = {
    {"rtp", (PyCFunction)(void (*)(void))Track_rtp, METH_FASTCALL,
     "rtp(sequence_number, timestamp, marker, payload): one packet parsed elsewhere"},
    {"flush", (PyCFunction)Track_flush, METH_NOARGS, "hand the held audio frames to group_sink now"},
    {NULL},
};

static PyTypeObject TrackType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "hub.media._rx.Track",
    .tp_basicsize = sizeof(Track),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_doc = "One received RTP stream: statistics, NACK state and frame assembly.",
    .tp_traverse = (traverseproc)Track_traverse,
    .tp_clear = (inquiry)Track_clear,
    .tp_dealloc = (destructor)Track_dealloc,
    .tp_getset = Track_getset,
    .tp_methods = Track_methods,
};

/* ---------------------------------------------------------------- Session */

typedef struct {
    PyObject_HEAD
    unprotect_fn unprotect;
    void *ctx;
    PyObject *owner;  /* the pylibsrtp session that owns ctx: kept alive */
    PyObject *slow;   /* slow(plain_rtp): a packet for no adopted track */
    int n_tracks;
    Track *tracks[MAX_TRACKS];
    long long datagrams, too_large, decrypt_failed, malformed, handed_over;
    uint8_t buf[BUF_CAP];
} Session;

static PyTypeObject SessionType;

static PyObject *Session_new(PyTypeObject *type, PyObject *args, PyObject *kw) {
    static char *names[] = {"unprotect", "ctx", "owner", "slow", NULL};
    unsigned long long fn, ctx;
    PyObject *owner, *slow;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "KKOO", names, &fn, &ctx, &owner, &slow))
        return NULL;
    if (!fn || !ctx) {
        PyErr_SetString(PyExc_ValueError, "unprotect and ctx must be addresses");
        return NULL;
    }
    Session *s = (Session *)type->tp_alloc(type, 0);
    if (s == NULL)
        return NULL;
    s->unprotect = (unprotect_fn)(uintptr_t)fn;
    s->ctx = (void *)(uintptr_t)ctx;
    s->owner = Py_NewRef(owner);
    s->slow = Py_NewRef(slow);
    return (PyObject *)s;
}

static PyObject *Session_add_track(Session *s, PyObject *args, PyObject *kw) {
    static char *names[] = {"ssrc", "payload_type", "h264", "nack", "clock_rate", NULL};
    unsigned long ssrc;
    int pt, h264, nack;
    long long rate;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "kippL", names, &ssrc, &pt, &h264, &nack, &rate))
        return NULL;
    for (int i = 0; i < s->n_tracks; i++)
        if (s->tracks[i]->ssrc == (uint32_t)ssrc)
            return Py_NewRef((PyObject *)s->tracks[i]);
    if (s->n_tracks == MAX_TRACKS) {
        PyErr_SetString(PyExc_OverflowError, "too many tracks on one connection");
        return NULL;
    }
    Track *t = PyObject_GC_New(Track, &TrackType);
    if (t == NULL)
        return NULL;
    char *body = (char *)t + sizeof(PyObject);
    memset(body, 0, sizeof(Track) - sizeof(PyObject));
    t->ssrc = (uint32_t)ssrc;
    t->payload_type = pt;
    t->enabled = 1;
    t->group = 1;
    t->h264 = h264;
    t->nack = nack;
    t->clock_rate = rate > 0 ? rate : 90000;
    t->gen = 1;
    if (h264) {
        t->slots = PyMem_Calloc(SLOTS, sizeof(Slot));
        if (t->slots == NULL) {
            Py_DECREF(t);
            return PyErr_NoMemory();
        }
    }
    PyObject_GC_Track(t);
    s->tracks[s->n_tracks++] = (Track *)Py_NewRef((PyObject *)t);
    return (PyObject *)t;
}

/* One SRTP datagram: returns 0, or -1 with a Python exception set. */
static int session_srtp(Session *s, const uint8_t *data, Py_ssize_t n) {
    s->datagrams++;
    if (n > BUF_CAP) {
        s->too_large++; /* larger than a network's MTU: dropped, as pylibsrtp does */
        return 0;
    }
    memcpy(s->buf, data, n);
    int len = (int)n;
    if (s->unprotect(s->ctx, s->buf, &len) != 0) {
        s->decrypt_failed++; /* replayed or not authentic: dropped, as aiortc does */
        return 0;
    }
    const uint8_t *p = s->buf;
    if (len < 12 || (p[0] >> 6) != 2) {
        s->malformed++;
        return 0;
    }
    uint32_t pos = 12 + 4 * (p[0] & 0x0F);
    if (p[0] & 0x10) {
        if ((uint32_t)len < pos + 4) {
            s->malformed++;
            return 0;
        }
        pos += 4 + 4 * (((uint32_t)p[pos + 2] << 8) | p[pos + 3]);
    }
    uint32_t end = len;
    if (p[0] & 0x20) {
        uint8_t pad = p[len - 1];
        if (!pad || pad > end) {
            s->malformed++;
            return 0;
        }
        end -= pad;
    }
    if (pos > end) {
        s->malformed++;
        return 0;
    }
    uint32_t ssrc = ((uint32_t)p[8] << 24) | ((uint32_t)p[9] << 16) | ((uint32_t)p[10] << 8) | p[11];
    for (int i = 0; i < s->n_tracks; i++) {
        Track *t = s->tracks[i];
        if (t->ssrc == ssrc && t->payload_type == (p[1] & 0x7F)) {
            /* held across the callbacks: one may remove this track from the session */
            Py_INCREF(t);
            int r = track_packet(t, ((unsigned)p[2] << 8) | p[3],
                                 ((uint32_t)p[4] << 24) | ((uint32_t)p[5] << 16) | ((uint32_t)p[6] << 8) | p[7],
                                 p[1] >> 7, p + pos, end - pos, 1);
            Py_DECREF(t);
            return r;
        }
    }
    s->handed_over++;
    PyObject *plain = PyBytes_FromStringAndSize((const char *)p, len);
    if (plain == NULL)
        return -1;
    PyObject *r = PyObject_CallOneArg(s->slow, plain);
    Py_DECREF(plain);
    if (r == NULL)
        return -1;
    Py_DECREF(r);
    return 0;
}

static PyObject *Session_remove_track(Session *s, PyObject *arg) {
    unsigned long ssrc = PyLong_AsUnsignedLong(arg);
    if (PyErr_Occurred())
        return NULL;
    for (int i = 0; i < s->n_tracks; i++)
        if (s->tracks[i]->ssrc == (uint32_t)ssrc) {
            Track *t = s->tracks[i];
            s->tracks[i] = s->tracks[--s->n_tracks];
            s->tracks[s->n_tracks] = NULL;
            Py_DECREF(t);
            Py_RETURN_TRUE;
        }
    Py_RETURN_FALSE;
}

static PyObject *Session_counters(Session *s, PyObject *unused) {
    return Py_BuildValue("{sLsLsLsLsL}", "datagrams", s->datagrams, "too_large", s->too_large,
                         "decrypt_failed", s->decrypt_failed,
                         "malformed", s->malformed, "handed_over", s->handed_over);
}

static PyObject *Session_tracks(Session *s, PyObject *unused) {
    PyObject *list = PyList_New(s->n_tracks);
    for (int i = 0; list && i < s->n_tracks; i++)
        PyList_SET_ITEM(list, i, Py_NewRef((PyObject *)s->tracks[i]));
    return list;
}

static int Session_traverse(Session *s, visitproc visit, void *arg) {
    Py_VISIT(s->owner);
    Py_VISIT(s->slow);
    for (int i = 0; i < s->n_tracks; i++)
        Py_VISIT(s->tracks[i]);
    return 0;
}

static int Session_clear(Session *s) {
    Py_CLEAR(s->slow);
    for (int i = 0; i < s->n_tracks; i++)
        Py_CLEAR(s->tracks[i]);
    s->n_tracks = 0;
    /* owner last: ctx must stay valid while anything can still call in */
    Py_CLEAR(s->owner);
    s->unprotect = NULL;
    return 0;
}

static void Session_dealloc(Session *s) {
    PyObject_GC_UnTrack(s);
    Session_clear(s);
    Py_TYPE(s)->tp_free((PyObject *)s);
}

static PyMethodDef Session_methods[] = {
    {"add_track", (PyCFunction)(void (*)(void))Session_add_track, METH_VARARGS | METH_KEYWORDS,
     "add_track(ssrc, payload_type, h264, nack, clock_rate) -> Track: take this SSRC's packets here"},
    {"remove_track", (PyCFunction)Session_remove_track, METH_O,
     "remove_track(ssrc) -> bool: its packets go to Python again (the receiver stopped)"},
    {"counters", (PyCFunction)Session_counters, METH_NOARGS, "datagrams seen, and what was dropped"},
    {"tracks", (PyCFunction)Session_tracks, METH_NOARGS, "the adopted tracks"},
    {NULL},
};

static PyTypeObject SessionType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "hub.media._rx.Session",
    .tp_basicsize = sizeof(Session),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_doc = "Session(unprotect, ctx, owner, slow): one connection's SRTP receive state.",
    .tp_new = Session_new,
    .tp_traverse = (traverseproc)Session_traverse,
    .tp_clear = (inquiry)Session_clear,
    .tp_dealloc = (destructor)Session_dealloc,
    .tp_methods = Session_methods,
};

/* -------------------------------------------------------------------- Tap */

/* What a socket's datagram_received becomes: SRTP to the session, SRTCP to
 * `rtcp(data)` when one is given, the rest (STUN, DTLS) to the socket's own
 * stock method. */
/* RTP or RTCP: first byte 128-191 (RFC 7983); RTCP when the second byte is
 * an RTCP packet type (as aiortc's is_rtcp) */
static inline int is_rtp_or_rtcp(const uint8_t *d, Py_ssize_t n) {
    return n > 12 && d[0] > 127 && d[0] < 192;
}
static inline int rtcp_type(const uint8_t *d) { return d[1] > 191 && d[1] < 209; }
static inline int is_srtp(const uint8_t *d, Py_ssize_t n) { return is_rtp_or_rtcp(d, n) && !rtcp_type(d); }
static inline int is_srtcp(const uint8_t *d, Py_ssize_t n) { return is_rtp_or_rtcp(d, n) && rtcp_type(d); }

typedef struct {
    PyObject_HEAD
    vectorcallfunc vectorcall;
    Session *session;
    PyObject *stock;
    PyObject *rtcp;  /* or NULL: SRTCP goes to stock */
    long long read, batches, too_large; /* drain's counters */
} Tap;

static PyTypeObject TapType;

static PyObject *Tap_call(Tap *tap, PyObject *const *args, size_t nargsf, PyObject *kw) {
    Py_ssize_t nargs = PyVectorcall_NARGS(nargsf);
    if (tap->stock == NULL)
        Py_RETURN_NONE; /* cleared by the garbage collector */
    if (nargs == 2 && kw == NULL && PyBytes_CheckExact(args[0]) && tap->session != NULL
            && tap->session->unprotect) {
        const uint8_t *d = (const uint8_t *)PyBytes_AS_STRING(args[0]);
        Py_ssize_t n = PyBytes_GET_SIZE(args[0]);
        if (is_srtp(d, n)) {
            if (session_srtp(tap->session, d, n) < 0)
                return NULL;
            Py_RETURN_NONE;
        }
        if (tap->rtcp != NULL && is_srtcp(d, n))
            return PyObject_CallOneArg(tap->rtcp, args[0]);
    }
    return PyObject_Vectorcall(tap->stock, args, nargsf, kw);
}

/* (host, port) as asyncio gives it: a 4-tuple for IPv6. */
static PyObject *address(const struct sockaddr_storage *ss) {
    char host[INET6_ADDRSTRLEN];
    if (ss->ss_family == AF_INET) {
        const struct sockaddr_in *a = (const struct sockaddr_in *)ss;
        if (!inet_ntop(AF_INET, &a->sin_addr, host, sizeof host))
            return PyErr_SetFromErrno(PyExc_OSError);
        return Py_BuildValue("(si)", host, ntohs(a->sin_port));
    }
    if (ss->ss_family == AF_INET6) {
        const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)ss;
        if (!inet_ntop(AF_INET6, &a->sin6_addr, host, sizeof host))
            return PyErr_SetFromErrno(PyExc_OSError);
        return Py_BuildValue("(siIk)", host, ntohs(a->sin6_port), ntohl(a->sin6_flowinfo),
                             (unsigned long)a->sin6_scope_id);
    }
    Py_RETURN_NONE;
}

/* One datagram read by drain: as Tap_call, from a buffer (no bytes object
 * for SRTP). Returns 0, or -1 with a Python exception set. */
static int tap_datagram(Tap *tap, const uint8_t *d, Py_ssize_t n, const struct sockaddr_storage *from) {
    if (tap->session != NULL && tap->session->unprotect && is_srtp(d, n))
        return session_srtp(tap->session, d, n);
    PyObject *stock = tap->stock;
    if (stock == NULL)
        return 0;
    if (tap->rtcp != NULL && tap->session != NULL && is_srtcp(d, n)) {
        PyObject *data = PyBytes_FromStringAndSize((const char *)d, n);
        if (data == NULL)
            return -1;
        PyObject *rtcp = Py_NewRef(tap->rtcp); /* the callback may clear the tap */
        PyObject *r = PyObject_CallOneArg(rtcp, data);
        Py_DECREF(rtcp);
        Py_DECREF(data);
        if (r == NULL)
            return -1;
        Py_DECREF(r);
        return 0;
    }
    PyObject *args[2];
    args[0] = PyBytes_FromStringAndSize((const char *)d, n);
    if (args[0] == NULL)
        return -1;
    args[1] = address(from);
    if (args[1] == NULL) {
        Py_DECREF(args[0]);
        return -1;
    }
    Py_INCREF(stock); /* the callback may close the socket and clear the tap */
    PyObject *r = PyObject_Vectorcall(stock, args, 2, NULL);
    Py_DECREF(stock);
    Py_DECREF(args[0]);
    Py_DECREF(args[1]);
    if (r == NULL)
        return -1;
    Py_DECREF(r);
    return 0;
}

#define BATCH 32
#define RECV_CAP 4096       /* larger datagrams are counted and dropped */
#define DRAIN_MAX 256       /* datagrams per call: the other sockets get their turn */

/* One buffer for every tap: the event loop runs one callback at a time, and
 * a callback that somehow drained again would find it busy. */
static uint8_t recv_bufs[BATCH][RECV_CAP];
static int recv_busy;

static PyObject *Tap_drain(Tap *tap, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "drain(fd, on_error)");
        return NULL;
    }
    long fd = PyLong_AsLong(args[0]);
    if (fd == -1 && PyErr_Occurred())
        return NULL;
    if (fd < 0 || fd > INT32_MAX) {
        PyErr_SetString(PyExc_ValueError, "not a file descriptor");
        return NULL;
    }
    PyObject *on_error = args[1];
    if (recv_busy)
        return PyLong_FromLong(0);
    recv_busy = 1;
    Py_INCREF(tap);
    struct mmsghdr msgs[BATCH];
    struct iovec iov[BATCH];
    struct sockaddr_storage from[BATCH];
    long total = 0;
    PyObject *result = NULL;
    while (total < DRAIN_MAX) {
        for (int i = 0; i < BATCH; i++) {
            iov[i].iov_base = recv_bufs[i];
            iov[i].iov_len = RECV_CAP;
            memset(&msgs[i].msg_hdr, 0, sizeof msgs[i].msg_hdr);
            msgs[i].msg_hdr.msg_iov = &iov[i];
            msgs[i].msg_hdr.msg_iovlen = 1;
            msgs[i].msg_hdr.msg_name = &from[i];
            msgs[i].msg_hdr.msg_namelen = sizeof from[i];
        }
        int got = recvmmsg((int)fd, msgs, BATCH, MSG_DONTWAIT, NULL);
        if (got < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                break;
            PyErr_SetFromErrno(PyExc_OSError); /* e.g. ECONNREFUSED from an ICMP message */
            goto done;
        }
        for (int i = 0; i < got; i++) {
            if (msgs[i].msg_hdr.msg_flags & MSG_TRUNC) {
                tap->too_large++;
                continue;
            }
            tap->read++;
            if (tap_datagram(tap, recv_bufs[i], msgs[i].msg_len, &from[i]) < 0) {
                /* as an event loop does with a protocol's exception: report it, read on */
                PyObject *type, *exc, *tb;
                PyErr_Fetch(&type, &exc, &tb);
                PyErr_NormalizeException(&type, &exc, &tb);
                if (tb != NULL && exc != NULL)
                    PyException_SetTraceback(exc, tb);
                PyObject *r = exc ? PyObject_CallOneArg(on_error, exc) : Py_NewRef(Py_None);
                Py_XDECREF(type);
                Py_XDECREF(exc);
                Py_XDECREF(tb);
                if (r == NULL)
                    PyErr_WriteUnraisable(on_error);
                Py_XDECREF(r);
            }
        }
        total += got;
        tap->batches++;
        if (got < BATCH)
            break; /* the socket is empty: no call to find that out */
    }
    result = PyLong_FromLong(total);
done:
    recv_busy = 0;
    Py_DECREF(tap);
    return result;
}

static PyObject *Tap_counters(Tap *tap, PyObject *unused) {
    return Py_BuildValue("{sLsLsL}", "read", tap->read, "batches", tap->batches, "too_large", tap->too_large);
}

static PyMethodDef Tap_methods[] = {
    {"drain", (PyCFunction)(void (*)(void))Tap_drain, METH_FASTCALL,
     "drain(fd, on_error) -> int: read the socket until it is empty (or 256 datagrams), "
     "BATCH at a time; a callback's exception goes to on_error(exc)"},
    {"counters", (PyCFunction)Tap_counters, METH_NOARGS, "datagrams read, recvmmsg calls, too large"},
    {NULL},
};

static PyObject *Tap_new(PyTypeObject *type, PyObject *args, PyObject *kw) {
    PyObject *session, *stock, *rtcp = Py_None;
    if (!PyArg_ParseTuple(args, "O!O|O", &SessionType, &session, &stock, &rtcp))
        return NULL;
    Tap *tap = (Tap *)type->tp_alloc(type, 0);
    if (tap == NULL)
        return NULL;
    tap->vectorcall = (vectorcallfunc)Tap_call;
    tap->session = (Session *)Py_NewRef(session);
    tap->stock = Py_NewRef(stock);
    tap->rtcp = rtcp == Py_None ? NULL : Py_NewRef(rtcp);
    return (PyObject *)tap;
}

static int Tap_traverse(Tap *tap, visitproc visit, void *arg) {
    Py_VISIT(tap->session);
    Py_VISIT(tap->stock);
    Py_VISIT(tap->rtcp);
    return 0;
}

static int Tap_clear(Tap *tap) {
    Py_CLEAR(tap->session);
    Py_CLEAR(tap->stock);
    Py_CLEAR(tap->rtcp);
    return 0;
}

static void Tap_dealloc(Tap *tap) {
    PyObject_GC_UnTrack(tap);
    Tap_clear(tap);
    Py_TYPE(tap)->tp_free((PyObject *)tap);
}

static PyObject *Tap_plain_call(Tap *tap, PyObject *args, PyObject *kw) {
    if (tap->session == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "tap is closed");
        return NULL;
    }
    return PyVectorcall_Call((PyObject *)tap, args, kw);
}

static PyObject *get_session(Tap *tap, void *c) { return Py_NewRef(tap->session ? (PyObject *)tap->session : Py_None); }

static PyGetSetDef Tap_getset[] = {
    {"session", (getter)get_session, NULL, NULL, NULL},
    {NULL},
};

static PyTypeObject TapType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "hub.media._rx.Tap",
    .tp_basicsize = sizeof(Tap),
    .tp_vectorcall_offset = offsetof(Tap, vectorcall),
    .tp_call = (ternaryfunc)Tap_plain_call,
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_HAVE_VECTORCALL,
    .tp_doc = "Tap(session, stock, rtcp=None): a socket's datagram_received(data, addr).",
    .tp_new = Tap_new,
    .tp_traverse = (traverseproc)Tap_traverse,
    .tp_clear = (inquiry)Tap_clear,
    .tp_dealloc = (destructor)Tap_dealloc,
    .tp_getset = Tap_getset,
    .tp_methods = Tap_methods,
};

/* ------------------------------------------------------------------ Crypt */

/* One libsrtp call (srtp_protect, srtp_protect_rtcp, srtp_unprotect or
 * srtp_unprotect_rtcp) on pylibsrtp's session, as pylibsrtp's method of the
 * same name does, but without giving up the GIL: pylibsrtp's cffi call
 * releases it for a call of a microsecond or two, and each time the event
 * loop then waited for a recording thread to hand it back. */
#define CRYPT_BUF 1500 /* pylibsrtp's buffer: the same packets fit */

typedef struct {
    PyObject_HEAD
    vectorcallfunc vectorcall;
    unprotect_fn fn; /* same signature for all four in libsrtp 2 */
    void *ctx;
    PyObject *owner;  /* the pylibsrtp session that owns ctx */
    PyObject *error;  /* pylibsrtp.Error */
    PyObject *names;  /* pylibsrtp.ERRORS: status -> message */
    int trailer;      /* room the call may add (protect) */
} Crypt;

/* One buffer for every Crypt: the GIL is held from the copy in to the copy out. */
static uint8_t crypt_buf[CRYPT_BUF];

static PyObject *Crypt_call(Crypt *c, PyObject *const *args, size_t nargsf, PyObject *kw) {
    if (PyVectorcall_NARGS(nargsf) != 1 || kw != NULL) {
        PyErr_SetString(PyExc_TypeError, "expected one argument: the packet");
        return NULL;
    }
    if (!PyBytes_Check(args[0])) {
        PyErr_SetString(PyExc_TypeError, "packet must be bytes");
        return NULL;
    }
    if (c->fn == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "the SRTP session is closed");
        return NULL;
    }
    Py_ssize_t n = PyBytes_GET_SIZE(args[0]);
    if (n > CRYPT_BUF - c->trailer) {
        PyErr_SetString(PyExc_ValueError, "packet is too long");
        return NULL;
    }
    memcpy(crypt_buf, PyBytes_AS_STRING(args[0]), n);
    int len = (int)n;
    int rc = c->fn(c->ctx, crypt_buf, &len);
    if (rc != 0) {
        PyObject *status = PyLong_FromLong(rc);
        if (status == NULL)
            return NULL;
        PyObject *name = PyObject_GetItem(c->names, status);
        Py_DECREF(status);
        if (name == NULL) {
            PyErr_Clear();
            name = PyUnicode_FromFormat("libsrtp status %d", rc);
            if (name == NULL)
                return NULL;
        }
        PyErr_SetObject(c->error, name);
        Py_DECREF(name);
        return NULL;
    }
    if (len < 0 || len > CRYPT_BUF) {
        PyErr_SetString(PyExc_RuntimeError, "libsrtp returned a bad length");
        return NULL;
    }
    return PyBytes_FromStringAndSize((const char *)crypt_buf, len);
}

static PyObject *Crypt_new(PyTypeObject *type, PyObject *args, PyObject *kw) {
    static char *names[] = {"fn", "ctx", "owner", "trailer", "error", "names", NULL};
    unsigned long long fn, ctx;
    int trailer;
    PyObject *owner, *error, *errors;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "KKOiOO", names, &fn, &ctx, &owner, &trailer, &error, &errors))
        return NULL;
    if (!fn || !ctx || trailer < 0 || trailer >= CRYPT_BUF) {
        PyErr_SetString(PyExc_ValueError, "fn and ctx must be addresses, 0 <= trailer < 1500");
        return NULL;
    }
    Crypt *c = (Crypt *)type->tp_alloc(type, 0);
    if (c == NULL)
        return NULL;
    c->vectorcall = (vectorcallfunc)Crypt_call;
    c->fn = (unprotect_fn)(uintptr_t)fn;
    c->ctx = (void *)(uintptr_t)ctx;
    c->owner = Py_NewRef(owner);
    c->error = Py_NewRef(error);
    c->names = Py_NewRef(errors);
    c->trailer = trailer;
    return (PyObject *)c;
}

static int Crypt_traverse(Crypt *c, visitproc visit, void *arg) {
    Py_VISIT(c->owner);
    Py_VISIT(c->error);
    Py_VISIT(c->names);
    return 0;
}

static int Crypt_clear(Crypt *c) {
    c->fn = NULL;
    Py_CLEAR(c->error);
    Py_CLEAR(c->names);
    Py_CLEAR(c->owner);
    return 0;
}

static void Crypt_dealloc(Crypt *c) {
    PyObject_GC_UnTrack(c);
    Crypt_clear(c);
    Py_TYPE(c)->tp_free((PyObject *)c);
}

static PyObject *Crypt_plain_call(Crypt *c, PyObject *args, PyObject *kw) {
    return PyVectorcall_Call((PyObject *)c, args, kw);
}

static PyTypeObject CryptType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "hub.media._rx.Crypt",
    .tp_basicsize = sizeof(Crypt),
    .tp_vectorcall_offset = offsetof(Crypt, vectorcall),
    .tp_call = (ternaryfunc)Crypt_plain_call,
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_HAVE_VECTORCALL,
    .tp_doc = "Crypt(fn, ctx, owner, trailer, error, names): packet -> packet, one libsrtp call.",
    .tp_new = Crypt_new,
    .tp_traverse = (traverseproc)Crypt_traverse,
    .tp_clear = (inquiry)Crypt_clear,
    .tp_dealloc = (destructor)Crypt_dealloc,
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "hub.media._rx",
    "The compiled per-packet receive path (see _rx.c).", -1, NULL,
};

PyMODINIT_FUNC PyInit__rx(void) {
    if (PyType_Ready(&TrackType) < 0 || PyType_Ready(&SessionType) < 0 || PyType_Ready(&TapType) < 0
            || PyType_Ready(&CryptType) < 0)
        return NULL;
    PyObject *m = PyModule_Create(&module);
    if (m == NULL)
        return NULL;
    if (PyModule_AddObjectRef(m, "Track", (PyObject *)&TrackType) < 0 ||
        PyModule_AddObjectRef(m, "Session", (PyObject *)&SessionType) < 0 ||
        PyModule_AddObjectRef(m, "Tap", (PyObject *)&TapType) < 0 ||
        PyModule_AddObjectRef(m, "Crypt", (PyObject *)&CryptType) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
