/*
 * agent.c - the capture agent's loop: frames in, record batches out (docs/AGENT.md).
 *
 * Two sources feed one batch builder. Live, a poll() on the pcap descriptor wakes the loop
 * when the kernel has packets, and at least every heartbeat; each wake-up drains the ring,
 * decodes every frame with the shared decoder and keeps the real (not quoted) SYN, SYN/ACK
 * and RST headers. From a file (-r), sm_filesrc_run() does the reading, decoding and
 * tcp.stream numbering, and the agent only re-batches, optionally at the capture's pace.
 *
 * A batch goes out when it holds --batch-records records, and at every heartbeat even when
 * empty. Its watermark promises that every packet captured up to that time is in it or in an
 * earlier batch. Live, that is true of "now" minus a margin once the ring has been drained:
 * the kernel hands a packet over at most one read timeout after capturing it, and the margin
 * is twice that. The watermark never decreases and is never below a record of its batch.
 *
 * Event time (capture timestamps, CLOCK_REALTIME based, variables *_ns) and processing time
 * (CLOCK_MONOTONIC, variables *_mono) are kept apart: heartbeats and pacing run on the
 * monotonic clock, watermarks on event time.
 */
#include "agent.h"
#include "synmatch/keys.h"

#include <arpa/inet.h>
#include <errno.h>
#include <ifaddrs.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "addr.h"
#include "capture.h"
#include "clock.h"
#include "errbuf.h"
#include "log.h"
#include "agent_metrics.h"
#include "netstat.h"
#include "sender.h"
#include "synmatch/nats.h"
#include "synmatch/decode.h"
#include "synmatch/filesrc.h"
#include "synmatch/pcapfile.h"

#define NS_PER_MS INT64_C(1000000)
#define LIVE_FRAG_MAX_BYTES (4u * 1024u * 1024u) /* only first fragments pass the filter */
#define LIVE_FRAG_MAX_DATAGRAMS 1024u
#define MAX_DISPATCH_PER_TURN 64 /* ring blocks per loop turn, so heartbeats stay on time */

struct sm_agent {
    struct sm_agent_opts o;
    size_t batch_records;
    int64_t heartbeat_mono; /* ns */
    unsigned linger_ms;
    bool live;

    sm_capture_t *cap;
    sm_decoder_t *dec;
    sm_sender_t *snd;

    struct sm_wire_header hdr; /* envelope template: identity, epoch and scope */
    uint64_t seq;
    int64_t wm_ns;      /* last watermark sent */
    int64_t netstat_mono; /* live: when the host's TCP counters were last sampled */
    int64_t drained_ns; /* live: every packet up to here has been delivered */

    struct sm_record *recs;
    size_t n;
    int64_t min_ts, max_ts;
    uint64_t records_emitted;
    /* partitioned (JetStream): nparts parts per batch, scattered into part_recs */
    uint32_t nparts;
    struct sm_record *part_recs;
    uint64_t *part_emitted; /* [nparts]: records each partition was given */

    struct sm_capture_stats pstats;
    uint64_t file_frames, file_decode_errors, file_dropped, file_ifdropped;
    uint64_t file_counters[SM_DC_COUNT]; /* a file's decoder counters, known at its end */

    /* /metrics (metrics.h) */
    int64_t start_wall, last_batch_wall, next_publish_mono;
    uint64_t publishes, publish_ns_total;
    int64_t publish_ns_max;

    /* -r --realtime: replay clock */
    bool have_first;
    int64_t first_ns, start_mono;
    int64_t next_tick_mono;
    int64_t file_batch_wm;

    volatile sig_atomic_t stop;
    bool drained;
    bool oom_warned;
};

/* ---- clocks ---------------------------------------------------------------------------- */

/* Milliseconds to wait until the monotonic time until, rounded up, within [0, cap]. */
static int wait_ms(int64_t until_mono, int64_t cap_ms)
{
    int64_t d = until_mono - sm_clock_mono_ns();
    if (d <= 0)
        return 0;
    int64_t ms = (d + NS_PER_MS - 1) / NS_PER_MS;
    return (int)(ms < cap_ms ? ms : cap_ms);
}

/* ---- --serve ------------------------------------------------------------------------------- */

static int parse_uint(const char *s, size_t len, unsigned max, unsigned *out)
{
    if (len == 0 || len > 10)
        return -1;
    unsigned long v = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (unsigned long)(s[i] - '0');
    }
    if (v > max)
        return -1;
    *out = (unsigned)v;
    return 0;
}

static bool host_bits_clear(const struct sm_addr *a, unsigned prefix, struct sm_addr *masked)
{
    unsigned width = a->family == SM_AF_INET ? 32 : 128;
    *masked = *a;
    for (unsigned bit = prefix; bit < width; bit++)
        masked->bytes[bit / 8] &= (uint8_t) ~(0x80u >> (bit % 8));
    return memcmp(masked->bytes, a->bytes, sizeof a->bytes) == 0;
}

int sm_agent_parse_serve(const char *text, struct sm_scope_entry *out, char *errbuf,
                         size_t errlen)
{
    char addr[SM_ADDR_STRLEN + 8];
    const char *prefix = NULL, *port = NULL;
    size_t prefix_len = 0, port_len = 0;
    size_t tlen = strlen(text);
    memset(out, 0, sizeof *out);

    if (text[0] == '[') {
        const char *close = strchr(text, ']');
        if (close == NULL) {
            snprintf(errbuf, errlen, "--serve %s: missing ']'", text);
            return -1;
        }
        size_t alen = (size_t)(close - text - 1);
        if (alen >= sizeof addr) {
            snprintf(errbuf, errlen, "--serve %s: not an address", text);
            return -1;
        }
        memcpy(addr, text + 1, alen);
        addr[alen] = '\0';
        char *slash = strchr(addr, '/'); /* [ADDR/PREFIX]:PORT */
        if (slash != NULL) {
            *slash = '\0';
            prefix = text + 1 + (slash - addr) + 1;
            prefix_len = strlen(slash + 1);
        }
        const char *rest = close + 1;
        if (*rest == '/' && prefix == NULL) { /* [ADDR]/PREFIX[:PORT] */
            prefix = rest + 1;
            const char *colon = strchr(prefix, ':');
            prefix_len = colon ? (size_t)(colon - prefix) : strlen(prefix);
            rest = prefix + prefix_len;
        }
        if (*rest == ':') {
            port = rest + 1;
            port_len = strlen(port);
        } else if (*rest != '\0') {
            snprintf(errbuf, errlen, "--serve %s: expected ':PORT' after ']'", text);
            return -1;
        }
    } else {
        const char *first_colon = strchr(text, ':');
        bool v6 = first_colon != NULL && strchr(first_colon + 1, ':') != NULL;
        const char *slash = strchr(text, '/');
        const char *colon = v6 ? NULL : first_colon;
        size_t alen = slash ? (size_t)(slash - text) : colon ? (size_t)(colon - text) : tlen;
        if (alen >= sizeof addr) {
            snprintf(errbuf, errlen, "--serve %s: not an address", text);
            return -1;
        }
        memcpy(addr, text, alen);
        addr[alen] = '\0';
        if (slash != NULL) {
            prefix = slash + 1;
            if (v6 && strchr(prefix, ':') != NULL) {
                snprintf(errbuf, errlen,
                         "--serve %s: an IPv6 address with a port is written [ADDR]:PORT or "
                         "[ADDR/PREFIX]:PORT",
                         text);
                return -1;
            }
            const char *pc = v6 ? NULL : strchr(prefix, ':');
            prefix_len = pc ? (size_t)(pc - prefix) : strlen(prefix);
            if (pc != NULL) {
                port = pc + 1;
                port_len = strlen(port);
            }
        } else if (colon != NULL) {
            port = colon + 1;
            port_len = strlen(port);
        }
    }

    if (sm_addr_parse(addr, &out->addr) == -1) {
        snprintf(errbuf, errlen, "--serve %s: '%s' is not an IPv4 or IPv6 address", text, addr);
        return -1;
    }
    if (text[0] == '[' && out->addr.family != SM_AF_INET6) {
        snprintf(errbuf, errlen, "--serve %s: brackets are for IPv6 addresses", text);
        return -1;
    }
    unsigned width = out->addr.family == SM_AF_INET ? 32 : 128;
    unsigned plen = width, portv = 0;
    if (prefix != NULL && parse_uint(prefix, prefix_len, width, &plen) == -1) {
        snprintf(errbuf, errlen, "--serve %s: the prefix length must be 0-%u", text, width);
        return -1;
    }
    if (port != NULL && (parse_uint(port, port_len, 65535, &portv) == -1 || portv == 0)) {
        snprintf(errbuf, errlen, "--serve %s: the port must be 1-65535 (leave it out for any port)",
                 text);
        return -1;
    }
    struct sm_addr masked;
    if (!host_bits_clear(&out->addr, plen, &masked)) {
        char m[SM_ADDR_STRLEN];
        snprintf(errbuf, errlen, "--serve %s: host bits set past /%u (did you mean %s/%u?)", text,
                 plen, sm_addr_format(&masked, m, sizeof m), plen);
        return -1;
    }
    out->prefix_len = (uint8_t)plen;
    out->port = (uint16_t)portv;
    return 0;
}

/* ---- scope --------------------------------------------------------------------------------- */

static bool scope_has(const struct sm_wire_header *h, const struct sm_scope_entry *e)
{
    for (size_t i = 0; i < h->nscope; i++)
        if (sm_addr_eq(&h->scope[i].addr, &e->addr) && h->scope[i].prefix_len == e->prefix_len &&
            h->scope[i].port == e->port)
            return true;
    return false;
}

static int scope_add(struct sm_wire_header *h, const struct sm_scope_entry *e, char *errbuf,
                     size_t errlen)
{
    if (scope_has(h, e))
        return 0;
    if (h->nscope == SM_WIRE_MAX_SCOPE) {
        snprintf(errbuf, errlen, "scope: more than %u entries (interface addresses and --serve)",
                 SM_WIRE_MAX_SCOPE);
        return -1;
    }
    h->scope[h->nscope++] = *e;
    return 0;
}

/* The capture interface's own addresses (every interface for "any"), as /32 and /128. */
static int scope_add_interface(struct sm_wire_header *h, const char *iface, char *errbuf,
                               size_t errlen)
{
    struct ifaddrs *ifa0;
    if (getifaddrs(&ifa0) == -1) {
        snprintf(errbuf, errlen, "interface %s: cannot read its addresses: %s", iface,
                 strerror(errno));
        return -1;
    }
    bool any = strcmp(iface, "any") == 0;
    int rc = 0;
    for (struct ifaddrs *ifa = ifa0; ifa != NULL && rc == 0; ifa = ifa->ifa_next) {
        if (ifa->ifa_addr == NULL || (!any && strcmp(ifa->ifa_name, iface) != 0))
            continue;
        struct sm_scope_entry e;
        memset(&e, 0, sizeof e);
        if (ifa->ifa_addr->sa_family == AF_INET) {
            const struct sockaddr_in *sin = (const struct sockaddr_in *)(void *)ifa->ifa_addr;
            e.addr.family = SM_AF_INET;
            memcpy(e.addr.bytes, &sin->sin_addr, 4);
            e.prefix_len = 32;
        } else if (ifa->ifa_addr->sa_family == AF_INET6) {
            const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)(void *)ifa->ifa_addr;
            e.addr.family = SM_AF_INET6;
            memcpy(e.addr.bytes, &sin6->sin6_addr, 16);
            e.prefix_len = 128;
        } else {
            continue;
        }
        rc = scope_add(h, &e, errbuf, errlen);
    }
    freeifaddrs(ifa0);
    return rc;
}

/* ---- metrics ------------------------------------------------------------------------------- */

/* The counters into the metrics' snapshot: at every heartbeat (no more than ten a second),
 * and at once when a scrape waits for fresh ones. */
static void publish_metrics(sm_agent_t *a)
{
    sm_agent_mx_t *m = a->o.metrics;
    if (m == NULL)
        return;
    int64_t now = sm_clock_mono_ns();
    if (now < a->next_publish_mono && !sm_agent_mx_wanted(m))
        return;
    struct sm_agent_metrics *x = sm_agent_mx_begin(m);
    memset(x, 0, sizeof *x);
    x->wall_ns = sm_clock_real_ns();
    x->start_wall_ns = a->start_wall;
    snprintf(x->sensor, sizeof x->sensor, "%s", a->o.sensor_id);
    x->role = a->o.role;
    x->live = a->live;
    if (a->live) {
        sm_capture_stats(a->cap, &a->pstats);
        x->pcap_received = a->pstats.received;
        x->pcap_dropped = a->pstats.dropped;
        x->pcap_ifdropped = a->pstats.ifdropped;
        memcpy(x->decode, sm_decoder_counters(a->dec), sizeof x->decode);
    } else {
        x->pcap_received = a->file_frames;
        x->pcap_dropped = a->file_dropped;
        x->pcap_ifdropped = a->file_ifdropped;
        memcpy(x->decode, a->file_counters, sizeof x->decode);
    }
    struct sm_sender_stats ss;
    sm_sender_stats(a->snd, &ss);
    x->records_emitted = a->records_emitted;
    x->records_sent = ss.records_sent;
    x->records_unsent = ss.records_unsent;
    x->batches = a->seq;
    x->batches_sent = ss.batches_sent;
    x->batches_unsent = ss.batches_unsent;
    x->queued = ss.queued;
    x->last_batch_wall_ns = a->last_batch_wall;
    x->watermark_ns = a->seq ? a->wm_ns : INT64_MIN;
    x->host = a->hdr.host;
    x->publishes = a->publishes + 1;
    x->publish_ns_total = a->publish_ns_total;
    x->publish_ns_max = a->publish_ns_max;
    sm_agent_mx_publish(m);
    int64_t took = sm_clock_mono_ns() - now;
    a->publishes++;
    a->publish_ns_total += (uint64_t)took;
    if (took > a->publish_ns_max)
        a->publish_ns_max = took;
    a->next_publish_mono = now + (a->heartbeat_mono > 100 * NS_PER_MS ? a->heartbeat_mono
                                                                      : 100 * NS_PER_MS);
}

/* ---- batches ------------------------------------------------------------------------------- */

static uint64_t decode_errors(const sm_decoder_t *dec)
{
    const uint64_t *c = sm_decoder_counters(dec);
    uint64_t sum = 0;
    for (int i = 0; i < SM_DC_COUNT; i++)
        if (sm_decode_counter_is_error((enum sm_decode_counter)i))
            sum += c[i];
    return sum;
}

static void fill_counters(sm_agent_t *a, struct sm_wire_counters *c)
{
    struct sm_sender_stats ss;
    sm_sender_stats(a->snd, &ss);
    if (a->live) {
        sm_capture_stats(a->cap, &a->pstats);
        c->pcap_received = a->pstats.received;
        c->pcap_dropped = a->pstats.dropped;
        c->pcap_ifdropped = a->pstats.ifdropped;
        c->decode_errors = decode_errors(a->dec);
    } else {
        c->pcap_received = a->file_frames;
        c->pcap_dropped = a->file_dropped;
        c->pcap_ifdropped = a->file_ifdropped;
        c->decode_errors = a->file_decode_errors;
    }
    c->records_emitted = a->records_emitted;
    c->records_unsent = ss.records_unsent;
    c->batches_unsent = ss.batches_unsent;
}

/*
 * A file replayed as fast as possible goes at the collector's pace: nothing in a file is
 * urgent, so instead of dropping batches while ZeroMQ's buffer is full, wait for it (until a
 * signal stops the agent, or a send error that waiting cannot cure).
 */
static void wait_for_room(sm_agent_t *a)
{
    struct sm_sender_stats ss;
    for (;;) {
        if (sm_sender_pump(a->snd) == -1 || a->stop)
            return;
        sm_sender_stats(a->snd, &ss);
        if (ss.queued == 0)
            return;
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
    }
}

/* Encodes the envelope with meta->nrecs records from recs and hands it to the sender. */
static void encode_push(sm_agent_t *a, const struct sm_record *recs,
                        const struct sm_sender_batch *meta)
{
    size_t len;
    uint8_t *buf = sm_wire_encode(&a->hdr, recs, meta->nrecs, !a->live, &len);
    if (buf != NULL) {
        sm_sender_push(a->snd, &buf, len, meta);
        return;
    }
    if (!a->oom_warned) {
        a->oom_warned = true;
        sm_log_warnx("batch %llu: out of memory encoding it; counted as unsent",
                     (unsigned long long)a->hdr.seq);
    }
    sm_sender_discard(a->snd, meta);
}

/*
 * Partitioned: the batch goes out as nparts parts, part p holding the records whose partition
 * key hashes to p, in their order, each with the whole envelope (empty parts too: every
 * partition sees every seq) and the counters of its own partition (docs/WIRE.md).
 */
static void send_parts(sm_agent_t *a, const struct sm_sender_batch *whole)
{
    struct sm_wire_header *h = &a->hdr;
    size_t start[SM_WIRE_MAX_PARTITIONS + 1] = {0};
    for (size_t i = 0; i < a->n; i++)
        start[sm_partition_of(sm_partition_key(&a->recs[i]), a->nparts) + 1]++;
    for (uint32_t p = 0; p < a->nparts; p++)
        start[p + 1] += start[p];
    size_t fill[SM_WIRE_MAX_PARTITIONS];
    memcpy(fill, start, a->nparts * sizeof fill[0]);
    for (size_t i = 0; i < a->n; i++)
        a->part_recs[fill[sm_partition_of(sm_partition_key(&a->recs[i]), a->nparts)]++] =
            a->recs[i];
    struct sm_wire_counters whole_counters = h->counters;
    h->partition_count = a->nparts;
    for (uint32_t p = 0; p < a->nparts; p++) {
        if (p > 0) {
            if (!a->live && !a->o.realtime)
                wait_for_room(a);
            sm_sender_make_room(a->snd);
        }
        struct sm_sender_batch meta = *whole;
        meta.partition = p;
        meta.nrecs = start[p + 1] - start[p];
        for (size_t i = start[p]; i < start[p + 1]; i++) {
            int64_t t = a->part_recs[i].ts_ns;
            if (i == start[p] || t < meta.min_ts)
                meta.min_ts = t;
            if (i == start[p] || t > meta.max_ts)
                meta.max_ts = t;
        }
        a->part_emitted[p] += meta.nrecs;
        h->partition = p;
        h->counters = whole_counters;
        h->counters.records_emitted = a->part_emitted[p];
        sm_sender_part_unsent(a->snd, p, &h->counters.records_unsent,
                              &h->counters.batches_unsent);
        encode_push(a, a->part_recs + start[p], &meta);
    }
    h->partition = h->partition_count = 0;
}

/*
 * Builds the next batch from the pending records with watermark wm (raised to keep it
 * monotonic and at least every record's time) and hands it to the sender.
 */
static void send_batch(sm_agent_t *a, int64_t wm, bool eos)
{
    if (!a->live && !a->o.realtime)
        wait_for_room(a);
    sm_sender_make_room(a->snd);
    if (wm < a->wm_ns)
        wm = a->wm_ns;
    if (a->n > 0 && wm < a->max_ts)
        wm = a->max_ts;
    a->wm_ns = wm;

    struct sm_wire_header *h = &a->hdr;
    h->seq = a->seq++;
    h->watermark_ns = wm;
    h->end_of_stream = eos;
    h->capture_start_ns = a->live ? (int64_t)h->boot_epoch : a->have_first ? a->first_ns : 0;
    /* Live, the namespace's TCP counters about every heartbeat; each batch carries the last
     * sample (a replayed file's host is not the captured one: none). */
    int64_t now = a->live ? sm_clock_mono_ns() : 0;
    if (a->live && (a->netstat_mono == 0 || now - a->netstat_mono >= a->heartbeat_mono)) {
        a->netstat_mono = now;
        sm_netstat_read(NULL, sm_clock_real_ns(), &h->host);
    }
    a->records_emitted += a->n;
    fill_counters(a, &h->counters);
    struct sm_sender_batch meta = {.nrecs = a->n, .min_ts = a->min_ts, .max_ts = a->max_ts,
                                   .seq = h->seq};
    meta.declares = sm_sender_take_unsent(a->snd, &meta.unsent_from, &meta.unsent_to);
    h->unsent_from_ns = meta.declares ? meta.unsent_from : 0;
    h->unsent_to_ns = meta.declares ? meta.unsent_to : 0;
    if (a->nparts > 1)
        send_parts(a, &meta);
    else
        encode_push(a, a->recs, &meta);
    a->n = 0;
    a->last_batch_wall = sm_clock_real_ns();
    publish_metrics(a);
}

static void add_record(sm_agent_t *a, const struct sm_record *r)
{
    if (a->n == 0 || r->ts_ns < a->min_ts)
        a->min_ts = r->ts_ns;
    if (a->n == 0 || r->ts_ns > a->max_ts)
        a->max_ts = r->ts_ns;
    a->recs[a->n++] = *r;
}

/* ---- live ---------------------------------------------------------------------------------- */

static void on_tcp(void *arg, const struct sm_tcp_view *v)
{
    sm_agent_t *a = arg;
    if (v->quoted || !sm_flags_is_interesting(v->rec.flags))
        return;
    struct sm_record r = v->rec;
    r.stream = SM_STREAM_NONE;
    r.frame = 0;
    add_record(a, &r);
    if (a->n == a->batch_records)
        send_batch(a, a->drained_ns, false);
}

static void on_frame(void *arg, const struct sm_frame *frame)
{
    sm_agent_t *a = arg;
    sm_decode_frame(a->dec, frame, on_tcp, a);
}

/*
 * Delivers everything the ring holds. Returns 1 if it drained (the last dispatch found
 * nothing), 0 if it stopped after MAX_DISPATCH_PER_TURN blocks, -1 on a capture error.
 */
static int drain_ring(sm_agent_t *a)
{
    int64_t before_ns = sm_clock_real_ns();
    for (int i = 0; i < MAX_DISPATCH_PER_TURN; i++) {
        int k = sm_capture_dispatch(a->cap, on_frame, a);
        if (k == -1)
            return -1;
        if (k == 0) {
            int64_t margin = 2 * (int64_t)sm_capture_timeout_ms(a->cap) * NS_PER_MS;
            if (before_ns - margin > a->drained_ns)
                a->drained_ns = before_ns - margin;
            return 1;
        }
    }
    return 0;
}

static enum sm_agent_err run_live(sm_agent_t *a)
{
    enum sm_agent_err err = SM_AGENT_OK;
    int64_t hb_ms = a->heartbeat_mono / NS_PER_MS;
    int64_t next_tick = sm_clock_mono_ns() + a->heartbeat_mono;
    struct pollfd pfd = {.fd = sm_capture_fd(a->cap), .events = POLLIN};
    while (!a->stop) {
        if (poll(&pfd, 1, wait_ms(next_tick, hb_ms)) == -1 && errno != EINTR) {
            sm_log_warn("interface %s: poll", a->o.iface);
            err = SM_AGENT_ERR_RUNTIME;
            break;
        }
        if (drain_ring(a) == -1) {
            sm_log_warnx("interface %s: capture failed: %s", a->o.iface,
                         sm_capture_error(a->cap));
            err = SM_AGENT_ERR_RUNTIME;
            break;
        }
        sm_sender_pump(a->snd);
        int64_t now = sm_clock_mono_ns();
        if (now >= next_tick) {
            send_batch(a, a->drained_ns, false);
            next_tick += a->heartbeat_mono;
            if (next_tick <= now)
                next_tick = now + a->heartbeat_mono;
        } else if (a->o.metrics && sm_agent_mx_wanted(a->o.metrics)) {
            publish_metrics(a);
        }
    }
    if (err == SM_AGENT_OK) {
        /* A packet captured just before the stop may still sit in a ring block that retires
         * only after the read timeout: keep reading for twice that, then drain once more. */
        int64_t until = sm_clock_mono_ns() + 2 * (int64_t)sm_capture_timeout_ms(a->cap) * NS_PER_MS;
        int rc = 0;
        while (rc != -1 && sm_clock_mono_ns() < until) {
            poll(&pfd, 1, wait_ms(until, hb_ms));
            rc = drain_ring(a);
        }
        if (rc != -1)
            rc = drain_ring(a);
        if (rc == -1) {
            sm_log_warnx("interface %s: capture failed: %s", a->o.iface,
                         sm_capture_error(a->cap));
            err = SM_AGENT_ERR_RUNTIME;
        }
    }
    /* After a capture failure the watermark stays where the last good drain put it. */
    send_batch(a, a->drained_ns, true);
    return err;
}

/* ---- from a file --------------------------------------------------------------------------- */

/* The capture time the replay has reached (realtime mode). */
static int64_t replay_position(const sm_agent_t *a)
{
    return a->first_ns + (sm_clock_mono_ns() - a->start_mono);
}

/* Heartbeat during a realtime replay: what is pending, with the replay position as watermark
 * (but not past the current file batch's own watermark). */
static void replay_tick(sm_agent_t *a)
{
    int64_t now = sm_clock_mono_ns();
    if (now < a->next_tick_mono)
        return;
    int64_t pos = replay_position(a);
    send_batch(a, pos < a->file_batch_wm ? pos : a->file_batch_wm, false);
    a->next_tick_mono += a->heartbeat_mono;
    if (a->next_tick_mono <= now)
        a->next_tick_mono = now + a->heartbeat_mono;
}

/* Realtime mode: sleeps until the replay reaches capture time t, keeping heartbeats. */
static void pace_until(sm_agent_t *a, int64_t t)
{
    while (!a->stop) {
        sm_sender_pump(a->snd);
        replay_tick(a);
        int64_t due_mono = a->start_mono + (t - a->first_ns);
        if (sm_clock_mono_ns() >= due_mono)
            return;
        int64_t until = due_mono < a->next_tick_mono ? due_mono : a->next_tick_mono;
        poll(NULL, 0, wait_ms(until, a->heartbeat_mono / NS_PER_MS));
    }
}

static int on_file_batch(void *arg, const struct sm_batch *b)
{
    sm_agent_t *a = arg;
    if (b->have_first && !a->have_first) {
        a->have_first = true;
        a->first_ns = b->first_ns;
        a->start_mono = sm_clock_mono_ns();
        a->next_tick_mono = a->start_mono + a->heartbeat_mono;
    }
    a->file_batch_wm = b->wm;
    for (size_t i = 0; i < b->n && !a->stop; i++) {
        if (a->o.realtime && a->have_first)
            pace_until(a, b->recs[i].ts_ns);
        if (a->stop)
            break;
        /* A full batch that is not the file batch's last part goes out with its own times. */
        if (a->n == a->batch_records)
            send_batch(a, a->max_ts, false);
        add_record(a, &b->recs[i]);
    }
    if (a->stop)
        return -1;
    if (b->eof)
        return 0; /* the last part goes out with end_of_stream, after the summary is known */
    if (a->o.realtime && a->have_first)
        pace_until(a, b->wm);
    send_batch(a, b->wm, false);
    sm_sender_pump(a->snd);
    return a->stop ? -1 : 0;
}

/* pcapng Interface Statistics: the last block of each interface holds its totals. */
static void file_drops(const struct sm_filesrc_summary *sum, uint64_t *osdrop, uint64_t *ifdrop)
{
    *osdrop = *ifdrop = 0;
    for (size_t i = 0; i < sum->nifstats; i++) {
        bool last = true;
        for (size_t j = i + 1; j < sum->nifstats; j++)
            if (sum->ifstats[j].interface == sum->ifstats[i].interface)
                last = false;
        if (!last)
            continue;
        if (sum->ifstats[i].has_osdrop)
            *osdrop += sum->ifstats[i].osdrop;
        if (sum->ifstats[i].has_ifdrop)
            *ifdrop += sum->ifstats[i].ifdrop;
    }
}

static enum sm_agent_err run_file(sm_agent_t *a)
{
    struct sm_filesrc_opts fo = {.batch_records = a->batch_records};
    struct sm_filesrc_summary sum;
    int rc = sm_filesrc_run(a->o.file, &fo, on_file_batch, a, &sum);
    a->file_frames = sum.frames;
    for (int i = 0; i < SM_DC_COUNT; i++) {
        a->file_counters[i] = sum.counters[i];
        if (sm_decode_counter_is_error((enum sm_decode_counter)i))
            a->file_decode_errors += sum.counters[i];
    }
    file_drops(&sum, &a->file_dropped, &a->file_ifdropped);

    enum sm_agent_err err = SM_AGENT_OK;
    if (rc == -1 && !a->stop) {
        sm_log_warnx("%s", sum.errmsg);
        err = !sum.opened ? SM_AGENT_ERR_FILE
              : sum.err == SM_PCAP_ERR_NONE ? SM_AGENT_ERR_RUNTIME
                                             : SM_AGENT_ERR_TRUNCATED;
    }
    int64_t wm;
    if (!a->stop) {
        wm = sum.have_ts ? sum.last_ns : a->wm_ns;
        if (a->o.realtime && a->have_first)
            pace_until(a, wm);
    } else if (a->o.realtime && a->have_first) {
        /* stopped early: only what was replayed is covered */
        int64_t pos = replay_position(a);
        wm = pos < a->file_batch_wm ? pos : a->file_batch_wm;
    } else {
        wm = a->wm_ns;
    }
    send_batch(a, wm, true);
    sm_filesrc_summary_free(&sum);
    return err;
}

/* ---- life cycle ---------------------------------------------------------------------------- */

/* Runs the envelope through the collector's own validation, so that no batch is rejected. */
static int check_envelope(sm_agent_t *a, enum sm_agent_err *why, char *errbuf, size_t errlen)
{
    size_t len;
    struct sm_wire_header h;
    struct sm_record *recs;
    size_t n;
    a->hdr.watermark_ns = 0;
    uint8_t *buf = sm_wire_encode(&a->hdr, NULL, 0, false, &len);
    if (buf == NULL) {
        *why = SM_AGENT_ERR_NOMEM;
        sm_errbuf(errbuf, errlen, "out of memory");
        return -1;
    }
    enum sm_wire_reject r = sm_wire_decode(buf, len, &h, &recs, &n);
    free(buf);
    free(recs);
    if (r == SM_WIRE_OK)
        return 0;
    *why = SM_AGENT_ERR_USAGE;
    if (r == SM_WIRE_BAD_SENSOR_ID)
        sm_errbuf(errbuf, errlen,
              "sensor id '%s': must be 1-%d characters of A-Z a-z 0-9 - _ . : @", a->o.sensor_id,
              SM_SENSOR_ID_MAX);
    else
        sm_errbuf(errbuf, errlen, "batch envelope rejected by the wire validation: %s",
              sm_wire_reject_name(r));
    return -1;
}

static int check_opts(const struct sm_agent_opts *o, char *errbuf, size_t errlen)
{
    if ((o->iface == NULL) == (o->file == NULL)) {
        sm_errbuf(errbuf, errlen, "give exactly one of an interface (-i) or a file (-r)");
        return -1;
    }
    if (o->sensor_id == NULL || o->collector == NULL) {
        sm_errbuf(errbuf, errlen, "--sensor-id and --collector are required");
        return -1;
    }
    if (o->batch_records > SM_WIRE_MAX_RECORDS) {
        sm_errbuf(errbuf, errlen, "--batch-records: at most %u", SM_WIRE_MAX_RECORDS);
        return -1;
    }
    if (o->nserve > 0 && o->role != SM_ROLE_SERVER) {
        sm_errbuf(errbuf, errlen, "--serve: only a server agent (--role server) announces a scope");
        return -1;
    }
    if (o->file != NULL && o->expression != NULL && o->expression[0] != '\0') {
        sm_errbuf(errbuf, errlen, "EXPRESSION: applies to live capture (-i) only");
        return -1;
    }
    if (o->iface != NULL && o->realtime) {
        sm_errbuf(errbuf, errlen, "--realtime: applies to -r only");
        return -1;
    }
    return 0;
}

sm_agent_t *sm_agent_new(const struct sm_agent_opts *o, enum sm_agent_err *why, char *errbuf,
                         size_t errlen)
{
    *why = SM_AGENT_ERR_USAGE;
    if (check_opts(o, errbuf, errlen) == -1)
        return NULL;
    sm_agent_t *a = calloc(1, sizeof *a);
    if (a == NULL) {
        *why = SM_AGENT_ERR_NOMEM;
        sm_errbuf(errbuf, errlen, "out of memory");
        return NULL;
    }
    a->o = *o;
    a->live = o->iface != NULL;
    a->start_wall = sm_clock_real_ns();
    a->batch_records = o->batch_records                 ? o->batch_records
                       : sm_nats_is_url(o->collector) ? SM_AGENT_NATS_BATCH_RECORDS
                                                      : SM_AGENT_DEFAULT_BATCH_RECORDS;
    a->heartbeat_mono = (int64_t)(o->heartbeat_ms ? o->heartbeat_ms
                                                   : SM_AGENT_DEFAULT_HEARTBEAT_MS) *
                        NS_PER_MS;
    a->linger_ms = o->linger_ms                 ? o->linger_ms
                   : a->live || o->realtime ? SM_SENDER_DEFAULT_LINGER_MS
                                            : SM_SENDER_REPLAY_LINGER_MS;
    a->recs = malloc(a->batch_records * sizeof *a->recs);
    if (a->recs == NULL) {
        *why = SM_AGENT_ERR_NOMEM;
        sm_errbuf(errbuf, errlen, "out of memory");
        goto fail;
    }

    struct sm_wire_header *h = &a->hdr;
    snprintf(h->sensor_id, sizeof h->sensor_id, "%s", o->sensor_id);
    if (strlen(o->sensor_id) > SM_SENSOR_ID_MAX)
        h->sensor_id[0] = '\0'; /* rejected below with the full name in the message */
    h->role = o->role;
    h->boot_epoch = (uint64_t)sm_clock_real_ns();
    if (o->role == SM_ROLE_SERVER) {
        if (a->live && scope_add_interface(h, o->iface, errbuf, errlen) == -1)
            goto fail;
        for (size_t i = 0; i < o->nserve; i++)
            if (scope_add(h, &o->serve[i], errbuf, errlen) == -1)
                goto fail;
        if (h->nscope == 0)
            sm_log_warnx("server agent %s announces no scope: %s; no client SYN will be judged "
                         "against it (use --serve)",
                         o->sensor_id,
                         a->live ? "its interface has no address" : "-r and no --serve");
    }
    if (check_envelope(a, why, errbuf, errlen) == -1)
        goto fail;

    if (!a->live && strcmp(o->file, "-") != 0) {
        /* Open it once here so that a missing or foreign file is a start-up error. */
        enum sm_pcap_err kind;
        char perr[512];
        sm_pcapfile_t *pf = sm_pcapfile_open(o->file, &kind, perr, sizeof perr);
        if (pf == NULL) {
            *why = kind == SM_PCAP_ERR_EMPTY         ? SM_AGENT_ERR_EMPTY
                   : kind == SM_PCAP_ERR_NOT_CAPTURE ? SM_AGENT_ERR_NOT_CAPTURE
                                                     : SM_AGENT_ERR_FILE;
            sm_errbuf(errbuf, errlen, "%s", perr);
            goto fail;
        }
        sm_pcapfile_close(&pf);
    }

    if (a->live) {
        struct sm_capture_opts co = {
            .iface = o->iface,
            .snaplen = o->snaplen,
            .buffer_mib = o->buffer_mib,
            .no_promisc = o->no_promisc,
            .expression = o->expression,
        };
        enum sm_capture_err cerr;
        a->cap = sm_capture_open(&co, &cerr, errbuf, errlen);
        if (a->cap == NULL) {
            *why = cerr == SM_CAPTURE_ERR_FILTER  ? SM_AGENT_ERR_USAGE
                   : cerr == SM_CAPTURE_ERR_NOMEM ? SM_AGENT_ERR_NOMEM
                                                  : SM_AGENT_ERR_CAPTURE;
            goto fail;
        }
        struct sm_decoder_config dc = {LIVE_FRAG_MAX_BYTES, LIVE_FRAG_MAX_DATAGRAMS};
        a->dec = sm_decoder_new(&dc);
        if (a->dec == NULL) {
            *why = SM_AGENT_ERR_NOMEM;
            sm_errbuf(errbuf, errlen, "out of memory");
            goto fail;
        }
    }

    struct sm_sender_opts so = {
        .queue_max = o->queue                        ? o->queue
                     : sm_nats_is_url(o->collector) ? SM_AGENT_NATS_QUEUE
                                                    : 0,
        .link = {.endpoint = o->collector, .sensor_id = o->sensor_id, .role = o->role,
                 .epoch = a->hdr.boot_epoch, .partitions = o->partitions,
                 .nats = {.creds_file = o->nats_creds, .ca_file = o->nats_ca,
                          .cert_file = o->nats_cert, .key_file = o->nats_key}},
    };
    /* Key files are read here, at start-up, with whatever privilege the agent started with. */
    struct sm_keypair kp;
    char server_key[SM_KEY_Z85_LEN + 1];
    if (sm_nats_is_url(o->collector) && o->key_file) {
        *why = SM_AGENT_ERR_USAGE;
        sm_errbuf(errbuf, errlen, "--key and --server-key are ZeroMQ's CURVE; over NATS the "
                  "agent authenticates with --nats-cert/--nats-key or --nats-creds");
        goto fail;
    }
    if (!sm_nats_is_url(o->collector) &&
        (o->partitions || o->nats_creds || o->nats_ca || o->nats_cert || o->nats_key)) {
        *why = SM_AGENT_ERR_USAGE;
        sm_errbuf(errbuf, errlen, "--partitions and --nats-* are for a nats:// --collector");
        goto fail;
    }
    if ((o->nats_cert == NULL) != (o->nats_key == NULL)) {
        *why = SM_AGENT_ERR_USAGE;
        sm_errbuf(errbuf, errlen, "--nats-cert and --nats-key go together");
        goto fail;
    }
    if ((o->key_file == NULL) != (o->server_key == NULL)) {
        *why = SM_AGENT_ERR_USAGE;
        sm_errbuf(errbuf, errlen, "--key and --server-key go together");
        goto fail;
    }
    if (o->key_file) {
        if (sm_keys_load_secret(o->key_file, &kp, errbuf, errlen) == -1 ||
            sm_keys_load_public(o->server_key, server_key, errbuf, errlen) == -1) {
            *why = SM_AGENT_ERR_CONFIG;
            goto fail;
        }
        so.link.server_key = server_key;
        so.link.public_key = kp.public_z85;
        so.link.secret_key = kp.secret_z85;
    }
    a->snd = sm_sender_new(&so, errbuf, errlen);
    if (a->snd == NULL) {
        *why = SM_AGENT_ERR_TRANSPORT;
        goto fail;
    }
    a->nparts = sm_sender_partitions(a->snd);
    if (a->nparts > 1) {
        a->part_recs = malloc(a->batch_records * sizeof *a->part_recs);
        a->part_emitted = calloc(a->nparts, sizeof *a->part_emitted);
        if (a->part_recs == NULL || a->part_emitted == NULL) {
            *why = SM_AGENT_ERR_NOMEM;
            sm_errbuf(errbuf, errlen, "out of memory");
            goto fail;
        }
    }
    *why = SM_AGENT_OK;
    return a;
fail:
    sm_agent_destroy(&a);
    return NULL;
}

enum sm_agent_err sm_agent_run(sm_agent_t *a)
{
    enum sm_agent_err err = a->live ? run_live(a) : run_file(a);
    a->drained = sm_sender_finish(a->snd, a->linger_ms) == 0;
    a->next_publish_mono = 0; /* the final counters, for a last scrape */
    publish_metrics(a);
    return err;
}

void sm_agent_stop(sm_agent_t *a)
{
    a->stop = 1;
}

void sm_agent_summary(const sm_agent_t *a, struct sm_agent_summary *out)
{
    struct sm_sender_stats ss;
    sm_sender_stats(a->snd, &ss);
    memset(out, 0, sizeof *out);
    if (a->live) {
        out->pcap_received = a->pstats.received;
        out->pcap_dropped = a->pstats.dropped;
        out->pcap_ifdropped = a->pstats.ifdropped;
        out->decode_errors = decode_errors(a->dec);
    } else {
        out->pcap_received = a->file_frames;
        out->pcap_dropped = a->file_dropped;
        out->pcap_ifdropped = a->file_ifdropped;
        out->decode_errors = a->file_decode_errors;
    }
    out->records_emitted = a->records_emitted;
    out->records_sent = ss.records_sent;
    out->records_unsent = ss.records_unsent;
    out->batches = a->seq;
    out->batches_unsent = ss.batches_unsent;
    out->drained = a->drained;
}

void sm_agent_destroy(sm_agent_t **self_p)
{
    if (self_p == NULL || *self_p == NULL)
        return;
    sm_agent_t *a = *self_p;
    sm_sender_destroy(&a->snd);
    sm_capture_destroy(&a->cap);
    sm_decoder_destroy(&a->dec);
    free(a->recs);
    free(a->part_recs);
    free(a->part_emitted);
    free(a);
    *self_p = NULL;
}
