/*
 * health.c - per-service health lines and the alerts made from them (see health.h).
 *
 * Services live in a fixed array found through an open-addressing index (keyed SipHash of
 * the view, address and port: the addresses come from the network). Each has the counters
 * of the open interval, its cumulative counters (for the metrics), a log-linear histogram of
 * the forward delay (p50/p99 within 3%), a HyperLogLog of its unmonitored sources, and its
 * detectors. An interval is closed in one pass over the tracked services: the busiest get
 * their lines, the rest are summed into the "other" line, the detectors are stepped, idle
 * services are evicted and the index is rebuilt; so the work per interval is bounded by the
 * table, and per verdict by one lookup.
 */
#include "health.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "hll.h"
#include "json.h"
#include "synmatch/report.h"

#define NS_PER_SEC INT64_C(1000000000)
/* The delay histogram: 16 buckets per power of two from 2^10 ns (1 us) to 2^38 ns (275 s);
 * below and above in one bucket each. A bucket spans 1/16 of its octave: its middle is within
 * 3.1% of any value in it. */
#define HIST_SUB_BITS 4
#define HIST_SUB (1 << HIST_SUB_BITS)
#define HIST_MIN_EXP 10
#define HIST_MAX_EXP 38
#define HIST_N ((HIST_MAX_EXP - HIST_MIN_EXP) * HIST_SUB + 2)
#define NAT_SLOTS 256  /* client destination -> server destination, learned (direct-mapped) */
#define HOST_SLOTS 32  /* server hosts (views) whose SYN cookies are counted per interval */
#define JUMP_INTERVALS (SM_DETECT_RING + 2) /* empty intervals closed one by one at most */
#define CACHE_SLOTS 64 /* the services of recent verdicts and SYNs, by their tuples' ends */
#define LINE_MAX_BYTES 2048

const double sm_health_delay_bounds[SM_HEALTH_DELAY_BUCKETS] = {
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
    0.05,   0.1,     0.25,   0.5,   1.0,    2.5,   5.0,  10.0,
};

/* A service's identity; compared and hashed as bytes (padding zeroed). */
struct skey {
    uint32_t view;
    uint16_t port;
    uint8_t family;
    uint8_t pad;
    uint8_t addr[16];
};

struct acc {
    uint64_t verdicts[SM_V_COUNT];
    uint64_t attempts, retrans, synack_retrans;
    uint64_t server_syns; /* SYN packets the server saw: the attempts it saw, lone SYNs */
    uint64_t lone_syns, lone_conns, lone_unanswered;
    uint64_t not_shown;
};

struct svc {
    struct skey key;
    bool used;
    char name[SM_ENDPOINT_STRLEN];
    struct acc cur, total;
    uint64_t traffic; /* this interval: verdicts and lone SYNs (ranks the lines) */
    uint32_t idle;    /* intervals in a row without traffic */
    uint32_t hist[HIST_N];
    uint64_t nhist;
    bool hll_used;
    struct sm_hll hll;       /* this interval's unmonitored sources */
    struct sm_hll flood_hll; /* during a flood: all of its sources */
    struct sm_flood flood;
    struct sm_degrade degrade;
    struct sm_degrade_bucket dcur;
    double tokens; /* the alerts socket's token bucket */
    int64_t tok_ns;
    bool have_delay;
    double p50, p99, sources; /* of the last closed interval */
};

struct nat {
    bool used;
    struct sm_addr cdst, sdst;
    uint16_t cport, sport;
};

/* A recent lookup: the destinations it was made of, and the service they gave (valid while
 * gen is the table's: every interval end starts a new generation). */
struct cached {
    uint32_t gen;
    uint16_t cport, sport;
    bool has_server;
    struct sm_addr cdst, sdst;
    uint32_t svc;
};

struct host {
    bool used;
    uint32_t view;
    uint64_t cookies; /* this interval */
};

struct sm_health {
    struct sm_health_config cfg;
    struct sm_flood_cfg fcfg;
    struct sm_degrade_cfg dcfg;
    size_t cap;        /* services tracked at most; other is svc[cap] */
    struct svc *svc;
    uint32_t *freelist;
    size_t nfree;
    uint32_t *ix;      /* index + 1, 0 = empty */
    size_t ix_mask;
    struct nat nat[NAT_SLOTS];
    bool nat_seen;
    struct host hosts[HOST_SLOTS];
    struct cached cache[CACHE_SLOTS];
    uint32_t gen; /* of the cache: lookups made before the last interval end are stale */
    uint64_t host_overflow;
    bool have_cur;
    int64_t cur_idx;   /* the open interval: [cur_idx, cur_idx + 1) x interval */
    int64_t last_ns;   /* the latest time counted (for a partial interval) */
    int64_t wall_ns;
    bool have_clock;
    int64_t clock_ns;
    uint32_t keep_idle; /* intervals an idle service stays tracked */
    /* scratch for closing an interval */
    uint32_t *order;
    struct svc *rest;  /* the "other" line: its services and the folded ones summed */
    struct sm_hll folded_hll; /* keys folded this interval: how many services */
    uint64_t folded_cur;
    struct sm_health_totals tot;
};

/* ---- small helpers ------------------------------------------------------------------------ */

static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

static unsigned hist_index(int64_t ns)
{
    if (ns < (INT64_C(1) << HIST_MIN_EXP))
        return 0;
    int e = 63 - __builtin_clzll((uint64_t)ns);
    if (e >= HIST_MAX_EXP)
        return HIST_N - 1;
    unsigned sub = (unsigned)((uint64_t)ns >> (e - HIST_SUB_BITS)) & (HIST_SUB - 1);
    return 1 + (unsigned)(e - HIST_MIN_EXP) * HIST_SUB + sub;
}

/* The middle of bucket i, seconds. */
static double hist_value(unsigned i)
{
    if (i == 0)
        return (double)(INT64_C(1) << HIST_MIN_EXP) / 2e9;
    if (i >= HIST_N - 1)
        return (double)(INT64_C(1) << HIST_MAX_EXP) / 1e9;
    unsigned e = (i - 1) / HIST_SUB + HIST_MIN_EXP, sub = (i - 1) % HIST_SUB;
    double width = (double)(UINT64_C(1) << (e - HIST_SUB_BITS));
    return ((double)(HIST_SUB + sub) * width + width / 2) / 1e9;
}

/* The q-quantile (0 < q <= 1) of n values in hist. */
static double hist_quantile(const uint32_t *hist, uint64_t n, double q)
{
    uint64_t rank = (uint64_t)ceil(q * (double)n), seen = 0;
    if (rank == 0)
        rank = 1;
    for (unsigned i = 0; i < HIST_N; i++) {
        seen += hist[i];
        if (seen >= rank)
            return hist_value(i);
    }
    return hist_value(HIST_N - 1);
}

/* The bucket of a delay of ns (the bounds in ns: no floating point per verdict). */
static unsigned bucket_of(int64_t ns)
{
    static const int64_t bounds[SM_HEALTH_DELAY_BUCKETS] = {
        100000,   250000,    500000,    1000000,    2500000,    5000000,    10000000,   25000000,
        50000000, 100000000, 250000000, 500000000, 1000000000, 2500000000, 5000000000, 10000000000,
    };
    unsigned lo = 0, hi = SM_HEALTH_DELAY_BUCKETS; /* the first bound >= ns, or the last */
    while (lo < hi) {
        unsigned mid = (lo + hi) / 2;
        if (ns > bounds[mid])
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* sm_addr_eq, inlined: the per-verdict path compares two addresses on every lookup. */
static inline bool same_addr(const struct sm_addr *a, const struct sm_addr *b)
{
    return a->family == b->family && memcmp(a->bytes, b->bytes, sizeof a->bytes) == 0;
}

static void acc_add(struct acc *to, const struct acc *a)
{
    for (int k = 0; k < SM_V_COUNT; k++)
        to->verdicts[k] += a->verdicts[k];
    to->attempts += a->attempts;
    to->retrans += a->retrans;
    to->synack_retrans += a->synack_retrans;
    to->server_syns += a->server_syns;
    to->lone_syns += a->lone_syns;
    to->lone_conns += a->lone_conns;
    to->lone_unanswered += a->lone_unanswered;
    to->not_shown += a->not_shown;
}

/* ---- the service table --------------------------------------------------------------------- */

static struct skey key_of(uint32_t view, const struct sm_addr *a, uint16_t port)
{
    struct skey k;
    memset(&k, 0, sizeof k);
    k.view = view;
    k.port = port;
    k.family = a->family;
    memcpy(k.addr, a->bytes, sizeof k.addr);
    return k;
}

static size_t slot_of(const sm_health_t *h, const struct skey *k)
{
    return (size_t)sm_siphash(&h->cfg.key, k, sizeof *k) & h->ix_mask;
}

static void index_put(sm_health_t *h, uint32_t i)
{
    size_t s = slot_of(h, &h->svc[i].key);
    while (h->ix[s] != 0)
        s = (s + 1) & h->ix_mask;
    h->ix[s] = i + 1;
}

static void index_rebuild(sm_health_t *h)
{
    memset(h->ix, 0, (h->ix_mask + 1) * sizeof *h->ix);
    for (size_t i = 0; i < h->cap; i++)
        if (h->svc[i].used)
            index_put(h, (uint32_t)i);
}

static void svc_reset(sm_health_t *h, struct svc *s)
{
    memset(&s->cur, 0, sizeof s->cur);
    memset(&s->total, 0, sizeof s->total);
    memset(&s->dcur, 0, sizeof s->dcur);
    memset(s->hist, 0, sizeof s->hist);
    s->nhist = 0;
    s->traffic = 0;
    s->idle = 0;
    sm_hll_clear(&s->hll);
    s->hll_used = false;
    sm_flood_init(&s->flood);
    sm_degrade_init(&s->degrade);
    s->tokens = h->cfg.pub_limit > 1 ? h->cfg.pub_limit : 1;
    s->tok_ns = INT64_MIN;
    s->have_delay = false;
    s->p50 = s->p99 = s->sources = 0;
}

static struct svc *other(sm_health_t *h)
{
    return &h->svc[h->cap];
}

/* The service of key, made when new; the "other" service when the table is full. */
static struct svc *service(sm_health_t *h, const struct skey *k)
{
    size_t s = slot_of(h, k);
    for (uint32_t v; (v = h->ix[s]) != 0; s = (s + 1) & h->ix_mask)
        if (memcmp(&h->svc[v - 1].key, k, sizeof *k) == 0)
            return &h->svc[v - 1];
    if (h->nfree == 0) {
        h->tot.folded++;
        h->folded_cur++;
        sm_hll_add(&h->folded_hll, sm_siphash(&h->cfg.key, k, sizeof *k) ^ 0x5bd1e995u);
        return other(h);
    }
    uint32_t i = h->freelist[--h->nfree];
    struct svc *sv = &h->svc[i];
    svc_reset(h, sv);
    sv->key = *k;
    sv->used = true;
    struct sm_addr a = {.family = k->family};
    memcpy(a.bytes, k->addr, sizeof a.bytes);
    sm_endpoint_format(&a, k->port, sv->name, sizeof sv->name);
    h->ix[s] = i + 1;
    h->tot.tracked++;
    return sv;
}

static uint32_t view_of(sm_health_t *h, const struct sm_tuple *t)
{
    if (h->cfg.view_of == NULL)
        return SM_VIEW_ALL;
    int32_t v = h->cfg.view_of(h->cfg.arg, t);
    return v < 0 ? SM_VIEW_ALL : (uint32_t)v;
}

/* ---- NAT: where unmatched SYNs to a client destination would have gone ---------------------- */

static size_t nat_slot(const sm_health_t *h, const struct sm_addr *a, uint16_t port)
{
    struct skey k = key_of(0, a, port);
    return (size_t)sm_siphash(&h->cfg.key, &k, sizeof k) % NAT_SLOTS;
}

static void nat_learn(sm_health_t *h, const struct sm_verdict *v)
{
    struct nat *n = &h->nat[nat_slot(h, &v->client.dst, v->client.dport)];
    n->used = true;
    n->cdst = v->client.dst;
    n->cport = v->client.dport;
    n->sdst = v->server.dst;
    n->sport = v->server.dport;
    h->nat_seen = true;
}

/* ---- lines ---------------------------------------------------------------------------------- */

static void begin(const sm_health_t *h, struct sm_json *w, char *buf, const char *event,
                  const struct svc *s, bool is_other)
{
    sm_json_begin(w, buf, LINE_MAX_BYTES);
    sm_json_u64(w, "schema", SM_VERDICT_SCHEMA);
    sm_json_str(w, "event", event);
    sm_json_time(w, "time", h->wall_ns);
    const char *sensor = NULL;
    if (!is_other && s->key.view != SM_VIEW_ALL && h->cfg.sensor_name)
        sensor = h->cfg.sensor_name(h->cfg.arg, s->key.view);
    if (sensor)
        sm_json_str(w, "sensor", sensor);
    if (is_other) {
        sm_json_str(w, "service", "other");
        return;
    }
    sm_json_str(w, "service", s->name);
    struct sm_addr a = {.family = s->key.family};
    memcpy(a.bytes, s->key.addr, sizeof a.bytes);
    char addr[SM_ADDR_STRLEN];
    sm_json_str(w, "dst", sm_addr_format(&a, addr, sizeof addr));
    sm_json_u64(w, "dport", s->key.port);
}

static void finish(sm_health_t *h, struct sm_json *w)
{
    size_t len = sm_json_end(w);
    if (len > 0)
        h->cfg.line(h->cfg.arg, w->buf, len);
}

static const struct host *host_of(const sm_health_t *h, uint32_t view)
{
    for (int i = 0; i < HOST_SLOTS; i++)
        if (h->hosts[i].used && h->hosts[i].view == view)
            return &h->hosts[i];
    return NULL;
}

static double share(uint64_t part, uint64_t whole)
{
    return whole ? (double)part / (double)whole : 0.0;
}

/* The health line of service s (is_other: the rest summed, services of them). */
static void health_line(sm_health_t *h, const struct svc *s, bool is_other, int64_t from,
                        bool partial, uint64_t services)
{
    char buf[LINE_MAX_BYTES];
    struct sm_json w;
    const struct acc *a = &s->cur;
    double secs = (double)h->cfg.interval_ns / 1e9;
    begin(h, &w, buf, "health", s, is_other);
    sm_json_time(&w, "from", from);
    sm_json_time(&w, "to", from + h->cfg.interval_ns);
    sm_json_double(&w, "interval", secs, 3);
    if (partial)
        sm_json_bool(&w, "partial", true);
    if (is_other) {
        sm_json_u64(&w, "services", services);
        if (h->folded_cur)
            sm_json_u64(&w, "services_folded", (uint64_t)llround(sm_hll_estimate(&h->folded_hll)));
    }
    sm_json_open(&w, "verdicts");
    uint64_t finals = 0;
    for (int k = 0; k < SM_V_COUNT; k++) {
        if (k == SM_V_SUSPECT || a->verdicts[k] == 0)
            continue;
        sm_json_u64(&w, sm_verdict_name((enum sm_verdict_kind)k), a->verdicts[k]);
        finals += a->verdicts[k];
    }
    sm_json_close(&w);
    sm_json_u64(&w, "decided", finals);
    sm_json_u64(&w, "suspects", a->verdicts[SM_V_SUSPECT]);
    sm_json_u64(&w, "attempts", a->attempts);
    sm_json_u64(&w, "retransmissions", a->retrans);
    sm_json_double(&w, "retransmitted", share(a->retrans, a->attempts), 4);
    if (s->nhist) {
        sm_json_double(&w, "delay_p50", hist_quantile(s->hist, s->nhist, 0.50), 9);
        sm_json_double(&w, "delay_p99", hist_quantile(s->hist, s->nhist, 0.99), 9);
    }
    sm_json_u64(&w, "synack_retransmissions", a->synack_retrans);
    if (h->have_clock)
        sm_json_duration(&w, "clock_offset", h->clock_ns);
    sm_json_u64(&w, "unmonitored_syns", a->lone_syns);
    sm_json_double(&w, "unmonitored_rate", (double)a->lone_syns / secs, 1);
    if (a->lone_conns) {
        sm_json_u64(&w, "unmonitored_sources", (uint64_t)llround(sm_hll_estimate(&s->hll)));
        sm_json_double(&w, "sources_error", SM_HLL_STD_ERROR, 5);
        sm_json_double(&w, "unmonitored_unanswered", share(a->lone_unanswered, a->lone_conns), 4);
    }
    const struct host *ho = is_other ? NULL : host_of(h, s->key.view);
    if (ho)
        sm_json_u64(&w, "syncookies", ho->cookies);
    sm_json_u64(&w, "not_shown", a->not_shown);
    if (!is_other) {
        if (s->degrade.active)
            sm_json_bool(&w, "degraded", true);
        if (s->flood.active)
            sm_json_bool(&w, "syn_flood", true);
    }
    finish(h, &w);
    h->tot.lines++;
}

static void degrade_event(sm_health_t *h, const struct svc *s, bool start, int64_t end,
                          const struct sm_degrade_view *v, int64_t since)
{
    char buf[LINE_MAX_BYTES];
    struct sm_json w;
    begin(h, &w, buf, start ? "degraded" : "recovered", s, false);
    sm_json_time(&w, "at", end);
    if (!start)
        sm_json_duration(&w, "duration", end - since);
    sm_json_double(&w, "share", v->share, 4);
    sm_json_double(&w, "threshold", h->dcfg.share, 4);
    sm_json_double(&w, "window", (double)h->dcfg.window * (double)h->cfg.interval_ns / 1e9, 3);
    sm_json_u64(&w, "groups", v->sum.groups);
    sm_json_u64(&w, "in_trouble", v->sum.trouble);
    sm_json_u64(&w, "suspects", v->sum.suspects);
    sm_json_u64(&w, "lost_attempts", v->sum.lost);
    sm_json_u64(&w, "failures", v->sum.failures);
    sm_json_u64(&w, "confirmed", v->sum.confirmed);
    finish(h, &w);
    h->tot.events[start ? 0 : 1]++;
}

/* The SYN packets the server host of view saw this interval, over its tracked services. */
static uint64_t view_syns(const sm_health_t *h, uint32_t view)
{
    uint64_t n = 0;
    for (size_t i = 0; i < h->cap; i++)
        if (h->svc[i].used && h->svc[i].key.view == view)
            n += h->svc[i].cur.server_syns;
    return n;
}

static void flood_event(sm_health_t *h, const struct svc *s, bool start, int64_t end,
                        const struct sm_flood_view *v)
{
    char buf[LINE_MAX_BYTES];
    struct sm_json w;
    begin(h, &w, buf, start ? "syn_flood" : "syn_flood_end", s, false);
    sm_json_time(&w, "at", end);
    sm_json_double(&w, "rate", v->rate, 1);
    if (start) {
        sm_json_double(&w, "baseline", v->baseline, 1);
        sm_json_double(&w, "threshold", v->threshold, 1);
        sm_json_double(&w, "floor", h->fcfg.floor, 1);
        sm_json_double(&w, "factor", h->fcfg.factor, 1);
        sm_json_u64(&w, "syns", s->cur.lone_syns);
        sm_json_u64(&w, "sources", (uint64_t)llround(sm_hll_estimate(&s->hll)));
    } else {
        sm_json_time(&w, "since", s->flood.since_ns);
        /* until the end of its last interval: the one that ended it is not part of it */
        sm_json_duration(&w, "duration", end - h->cfg.interval_ns - s->flood.since_ns);
        sm_json_double(&w, "peak_rate", s->flood.peak_rate, 1);
        sm_json_u64(&w, "syns", s->flood.syns);
        sm_json_u64(&w, "sources", (uint64_t)llround(sm_hll_estimate(&s->flood_hll)));
    }
    sm_json_double(&w, "sources_error", SM_HLL_STD_ERROR, 5);
    sm_json_double(&w, "unanswered", share(s->cur.lone_unanswered, s->cur.lone_conns), 4);
    const struct host *ho = host_of(h, s->key.view);
    if (ho) {
        uint64_t all = view_syns(h, s->key.view);
        sm_json_u64(&w, "syncookies", ho->cookies);
        sm_json_double(&w, "answered_with_cookies",
                       all ? (ho->cookies >= all ? 1.0 : (double)ho->cookies / (double)all) : 0.0,
                       4);
    }
    finish(h, &w);
    h->tot.events[start ? 2 : 3]++;
}

/* ---- closing an interval -------------------------------------------------------------------- */

static const sm_health_t *sort_h;

/* Busiest first; ties by name, then view: the same lines in the same order every run. */
static int by_traffic(const void *pa, const void *pb)
{
    const struct svc *a = &sort_h->svc[*(const uint32_t *)pa];
    const struct svc *b = &sort_h->svc[*(const uint32_t *)pb];
    if (a->traffic != b->traffic)
        return a->traffic > b->traffic ? -1 : 1;
    int c = strcmp(a->name, b->name);
    if (c)
        return c;
    return a->key.view < b->key.view ? -1 : a->key.view > b->key.view;
}

static void evict(sm_health_t *h, struct svc *s)
{
    s->used = false;
    h->freelist[h->nfree++] = (uint32_t)(s - h->svc);
    h->tot.evicted++;
    h->tot.tracked--;
}

static bool alarmed(const struct svc *s)
{
    return s->flood.active || s->degrade.active;
}

/* The quietest services go (never one in alarm) until at most half the table is used. */
static int by_quiet(const void *pa, const void *pb)
{
    const struct svc *a = &sort_h->svc[*(const uint32_t *)pa];
    const struct svc *b = &sort_h->svc[*(const uint32_t *)pb];
    if (a->traffic != b->traffic)
        return a->traffic < b->traffic ? -1 : 1;
    return a->idle > b->idle ? -1 : a->idle < b->idle;
}

static void close_interval(sm_health_t *h, int64_t idx, bool partial)
{
    int64_t from = idx * h->cfg.interval_ns, end = from + h->cfg.interval_ns;
    /* 1. lines: the busiest services, then the rest in one */
    size_t n = 0;
    for (size_t i = 0; i < h->cap; i++)
        if (h->svc[i].used && h->svc[i].traffic > 0)
            h->order[n++] = (uint32_t)i;
    sort_h = h;
    qsort(h->order, n, sizeof h->order[0], by_traffic);
    size_t shown = n < h->cfg.services ? n : h->cfg.services;
    for (size_t k = 0; k < shown; k++)
        health_line(h, &h->svc[h->order[k]], false, from, partial, 0);
    struct svc *o = other(h);
    if (n > shown || o->traffic > 0) {
        /* the line sums the folded ones (other's own) and the tracked ones not shown, which
         * keep their own counters */
        struct svc *r = h->rest;
        r->cur = o->cur;
        memcpy(r->hist, o->hist, sizeof r->hist);
        r->nhist = o->nhist;
        r->hll = o->hll;
        for (size_t k = shown; k < n; k++) {
            const struct svc *s = &h->svc[h->order[k]];
            acc_add(&r->cur, &s->cur);
            for (unsigned b = 0; b < HIST_N; b++)
                r->hist[b] += s->hist[b];
            r->nhist += s->nhist;
            if (s->hll_used)
                sm_hll_merge(&r->hll, &s->hll);
        }
        uint64_t folded = h->folded_cur ? (uint64_t)llround(sm_hll_estimate(&h->folded_hll)) : 0;
        health_line(h, r, true, from, partial, (n - shown) + folded);
    }
    /* 2. the detectors, every tracked service (an empty interval ends a flood too) */
    if (!partial) {
        for (size_t i = 0; i < h->cap; i++) {
            struct svc *s = &h->svc[i];
            if (!s->used)
                continue;
            struct sm_degrade_view dv;
            int64_t since = s->degrade.since_ns;
            enum sm_detect_change dc = sm_degrade_step(&s->degrade, &h->dcfg, end, &s->dcur, &dv);
            if (dc != SM_DETECT_SAME)
                degrade_event(h, s, dc == SM_DETECT_START, end, &dv, since);
            struct sm_flood_view fv;
            bool was = s->flood.active;
            if (was && s->hll_used)
                sm_hll_merge(&s->flood_hll, &s->hll);
            enum sm_detect_change fc = sm_flood_step(&s->flood, &h->fcfg, end, s->cur.lone_syns, &fv);
            if (fc == SM_DETECT_START) {
                s->flood_hll = s->hll;
                flood_event(h, s, true, end, &fv);
            } else if (fc == SM_DETECT_END) {
                flood_event(h, s, false, end, &fv);
            }
        }
    }
    /* 3. totals and the last interval's figures; a new interval begins */
    for (size_t i = 0; i <= h->cap; i++) {
        struct svc *s = &h->svc[i];
        if (!s->used && s != o)
            continue;
        acc_add(&s->total, &s->cur);
        s->have_delay = s->nhist > 0;
        if (s->nhist) {
            s->p50 = hist_quantile(s->hist, s->nhist, 0.50);
            s->p99 = hist_quantile(s->hist, s->nhist, 0.99);
            memset(s->hist, 0, sizeof s->hist);
            s->nhist = 0;
        }
        s->sources = s->hll_used ? sm_hll_estimate(&s->hll) : 0.0;
        if (s->hll_used) {
            sm_hll_clear(&s->hll);
            s->hll_used = false;
        }
        s->idle = s->traffic ? 0 : s->idle + 1;
        memset(&s->cur, 0, sizeof s->cur);
        memset(&s->dcur, 0, sizeof s->dcur);
    }
    /* 4. eviction: long idle, then the quietest while more than half the table is used */
    bool evicted = false;
    size_t m = 0;
    for (size_t i = 0; i < h->cap; i++) {
        struct svc *s = &h->svc[i];
        if (!s->used || alarmed(s))
            continue;
        if (s->idle > h->keep_idle) {
            evict(h, s);
            evicted = true;
        } else {
            h->order[m++] = (uint32_t)i;
        }
    }
    if (h->tot.tracked > h->cap / 2) {
        qsort(h->order, m, sizeof h->order[0], by_quiet);
        for (size_t k = 0; k < m && h->tot.tracked > h->cap / 2; k++) {
            evict(h, &h->svc[h->order[k]]);
            evicted = true;
        }
    }
    for (size_t i = 0; i <= h->cap; i++)
        h->svc[i].traffic = 0;
    if (evicted)
        index_rebuild(h);
    for (int i = 0; i < HOST_SLOTS; i++)
        h->hosts[i].used = false; /* a host heard again gets its slot back */
    sm_hll_clear(&h->folded_hll);
    h->folded_cur = 0;
    h->tot.intervals++;
    h->gen++; /* services may have moved, views changed: look them up again */
}

/* Closes the open interval and every one after it that ends before interval idx begins. */
static void roll_to(sm_health_t *h, int64_t idx)
{
    if (!h->have_cur) {
        h->have_cur = true;
        h->cur_idx = idx;
        return;
    }
    if (idx <= h->cur_idx)
        return;
    close_interval(h, h->cur_idx, false);
    int64_t next = h->cur_idx + 1;
    if (idx - next > JUMP_INTERVALS)
        next = idx - 1; /* the detectors count the skipped ones as empty */
    for (; next < idx; next++)
        close_interval(h, next, false);
    h->cur_idx = idx;
}

/* Something decided at t is counted: the intervals before t's are closed first. Without a
 * time (a decision before any watermark) it counts in the open interval, or in the first. */
static void count_at(sm_health_t *h, int64_t t)
{
    if (t == INT64_MIN || t == INT64_MAX)
        return;
    /* most times fall in the open interval: no division for them */
    if (!h->have_cur || t >= (h->cur_idx + 1) * h->cfg.interval_ns)
        roll_to(h, floor_div(t, h->cfg.interval_ns));
    if (t > h->last_ns)
        h->last_ns = t;
}

/* ---- counting ------------------------------------------------------------------------------- */

static bool pub_allowed(sm_health_t *h, struct svc *s, int64_t t)
{
    double rate = h->cfg.pub_limit;
    if (rate <= 0)
        return true;
    double burst = rate > 1 ? rate : 1;
    if (s->tok_ns != INT64_MIN && t > s->tok_ns)
        s->tokens += (double)(t - s->tok_ns) * rate / 1e9;
    if (s->tokens > burst)
        s->tokens = burst;
    if (t != INT64_MIN && t > s->tok_ns)
        s->tok_ns = t;
    if (s->tokens >= 1.0) {
        s->tokens -= 1.0;
        return true;
    }
    s->cur.not_shown++;
    h->tot.not_shown++;
    return false;
}

/* The cache's slot for the destinations (a cheap mix: a wrong guess costs a lookup, no more). */
static size_t cache_slot(const struct sm_addr *a, uint16_t port, uint16_t sport)
{
    uint32_t x;
    memcpy(&x, a->bytes + (a->family == SM_AF_INET6 ? 12 : 0), sizeof x);
    x ^= (uint32_t)port * 0x9e3779b1u ^ (uint32_t)sport * 0x85ebca6bu;
    x ^= x >> 15;
    return (x * 0x2c1b3c6du) >> 26;
}

static bool cache_hit(const sm_health_t *h, const struct cached *c, const struct sm_tuple *cl,
                      const struct sm_tuple *sv)
{
    return c->gen == h->gen && c->has_server == (sv != NULL) && c->cport == cl->dport &&
           same_addr(&c->cdst, &cl->dst) &&
           (sv == NULL || (c->sport == sv->dport && same_addr(&c->sdst, &sv->dst)));
}

/* The service of a verdict: as the server saw it, or where the server would have seen it. */
static struct svc *verdict_service(sm_health_t *h, const struct sm_verdict *v)
{
    const struct sm_tuple *sv = v->has_server ? &v->server : NULL;
    struct cached *c = &h->cache[cache_slot(&v->client.dst, v->client.dport,
                                            sv ? sv->dport : 0)];
    if (cache_hit(h, c, &v->client, sv))
        return &h->svc[c->svc];
    const struct sm_addr *dst = &v->client.dst;
    uint16_t port = v->client.dport;
    if (sv) {
        dst = &sv->dst;
        port = sv->dport;
        if (port != v->client.dport || !sm_addr_eq(dst, &v->client.dst))
            nat_learn(h, v);
    } else if (h->nat_seen) {
        const struct nat *n = &h->nat[nat_slot(h, &v->client.dst, v->client.dport)];
        if (n->used && n->cport == v->client.dport && sm_addr_eq(&n->cdst, &v->client.dst)) {
            dst = &n->sdst;
            port = n->sport;
        }
    }
    struct skey k = key_of(view_of(h, &v->client), dst, port);
    struct svc *s = service(h, &k);
    /* (a service learned through NAT later is looked up again at the next interval) */
    c->gen = h->gen;
    c->has_server = sv != NULL;
    c->cdst = v->client.dst;
    c->cport = v->client.dport;
    if (sv) {
        c->sdst = sv->dst;
        c->sport = sv->dport;
    }
    c->svc = (uint32_t)(s - h->svc);
    return s;
}

bool sm_health_verdict(sm_health_t *h, const struct sm_verdict *v)
{
    count_at(h, v->decided_ns);
    struct svc *s = verdict_service(h, v);
    struct acc *a = &s->cur;
    s->traffic++;
    a->verdicts[v->kind]++;
    if (v->kind == SM_V_SUSPECT) {
        s->dcur.groups++;
        s->dcur.trouble++;
        s->dcur.suspects++;
        return pub_allowed(h, s, v->decided_ns);
    }
    a->attempts += v->attempts;
    a->retrans += v->attempts ? v->attempts - 1 : 0;
    if (v->has_server) {
        a->server_syns += v->server_attempts;
        if (v->server_answer == SM_ANSWER_SYNACK && v->reply_attempts > 1)
            a->synack_retrans += v->reply_attempts - 1;
        if (v->kind != SM_V_AMBIGUOUS) {
            int64_t d = v->delay_ns > 0 ? v->delay_ns : 0;
            s->hist[hist_index(d)]++;
            s->nhist++;
            h->tot.delay_buckets[bucket_of(d)]++;
            h->tot.delay_sum += (double)d / 1e9;
            int64_t rd;
            if (sm_verdict_reply_delay(v, &rd)) {
                if (rd < 0)
                    rd = 0;
                h->tot.reply_buckets[bucket_of(rd)]++;
                h->tot.reply_sum += (double)rd / 1e9;
            }
        }
    }
    /* evidence for the degraded detector: what the network or the service did */
    switch (v->kind) {
    case SM_V_MATCHED:
    case SM_V_MISSING:
    case SM_V_REFUSED:
    case SM_V_REPLY_LOST:
    case SM_V_UNANSWERED:
    case SM_V_ANSWERED_BY_MIDDLEBOX: {
        bool failed = sm_verdict_is_failure(v->kind) || v->kind == SM_V_REFUSED;
        if (v->suspected) { /* in trouble since its suspect: now confirmed, or not */
            if (failed) {
                s->dcur.failures++;
                s->dcur.confirmed++;
            }
        } else {
            s->dcur.groups++;
            if (failed) {
                s->dcur.trouble++;
                s->dcur.failures++;
            } else if (v->lost_before > 0) {
                s->dcur.trouble++;
                s->dcur.lost++;
            }
        }
        break;
    }
    default:
        break; /* the evidence was incomplete: nothing said of the network */
    }
    return pub_allowed(h, s, v->decided_ns);
}

void sm_health_lone(sm_health_t *h, const struct sm_lone_syn *ls)
{
    count_at(h, ls->decided_ns);
    /* cached as a verdict without a server side to the server's own destination */
    struct cached *c = &h->cache[cache_slot(&ls->tuple.dst, ls->tuple.dport, 1)];
    struct svc *s;
    if (c->gen == h->gen && !c->has_server && c->cport == ls->tuple.dport && c->sport == 1 &&
        same_addr(&c->cdst, &ls->tuple.dst)) {
        s = &h->svc[c->svc];
    } else {
        struct skey k = key_of(view_of(h, &ls->tuple), &ls->tuple.dst, ls->tuple.dport);
        s = service(h, &k);
        c->gen = h->gen;
        c->has_server = false;
        c->cdst = ls->tuple.dst;
        c->cport = ls->tuple.dport;
        c->sport = 1; /* tells it from a verdict's entry (whose sport is 0 without a server) */
        c->svc = (uint32_t)(s - h->svc);
    }
    s->traffic++;
    s->cur.lone_syns += ls->attempts;
    s->cur.server_syns += ls->attempts;
    s->cur.lone_conns++;
    s->cur.lone_unanswered += ls->answer == SM_ANSWER_NONE;
    uint8_t src[17];
    src[0] = ls->tuple.src.family;
    memcpy(src + 1, ls->tuple.src.bytes, 16);
    sm_hll_add(&s->hll, sm_siphash(&h->cfg.key, src, sizeof src));
    s->hll_used = true;
}

void sm_health_host(sm_health_t *h, uint32_t view, uint64_t syncookies)
{
    struct host *free_slot = NULL;
    for (int i = 0; i < HOST_SLOTS; i++) {
        struct host *ho = &h->hosts[i];
        if (ho->used && ho->view == view) {
            ho->cookies += syncookies;
            return;
        }
        if (!ho->used && free_slot == NULL)
            free_slot = ho;
    }
    if (free_slot == NULL) {
        h->host_overflow++;
        return;
    }
    free_slot->used = true;
    free_slot->view = view;
    free_slot->cookies = syncookies;
}

void sm_health_advance(sm_health_t *h, int64_t horizon_ns)
{
    if (horizon_ns == INT64_MIN || horizon_ns == INT64_MAX)
        return;
    roll_to(h, floor_div(horizon_ns, h->cfg.interval_ns));
}

void sm_health_finish(sm_health_t *h)
{
    if (!h->have_cur)
        return;
    close_interval(h, h->cur_idx, true);
    h->cur_idx++;
}

void sm_health_set_wall(sm_health_t *h, int64_t wall_ns)
{
    h->wall_ns = wall_ns;
}

void sm_health_set_clock(sm_health_t *h, int64_t offset_ns)
{
    h->have_clock = true;
    h->clock_ns = offset_ns;
}

/* ---- life cycle and the metrics' view ------------------------------------------------------- */

sm_health_t *sm_health_new(const struct sm_health_config *cfg)
{
    if (cfg->interval_ns <= 0 || cfg->services == 0 || cfg->services > SM_HEALTH_MAX_SERVICES ||
        !(cfg->degraded_share > 0 && cfg->degraded_share <= 1) || cfg->line == NULL ||
        cfg->degraded_window_ns < cfg->interval_ns ||
        cfg->degraded_window_ns / cfg->interval_ns > SM_DETECT_RING ||
        SM_HEALTH_BASELINE_NS / cfg->interval_ns > SM_DETECT_RING || cfg->pub_limit < 0 ||
        cfg->flood_floor <= 0)
        return NULL;
    sm_health_t *h = sm_calloc(1, sizeof *h);
    if (h == NULL)
        return NULL;
    h->cfg = *cfg;
    h->cap = 2 * (size_t)cfg->services + 8;
    h->svc = sm_calloc(h->cap + 1, sizeof *h->svc);
    h->freelist = sm_calloc(h->cap, sizeof *h->freelist);
    h->order = sm_calloc(h->cap, sizeof *h->order);
    h->rest = sm_calloc(1, sizeof *h->rest);
    size_t ix = 1;
    while (ix < 2 * h->cap)
        ix *= 2;
    h->ix = sm_calloc(ix, sizeof *h->ix);
    h->ix_mask = ix - 1;
    if (h->svc == NULL || h->freelist == NULL || h->order == NULL || h->ix == NULL ||
        h->rest == NULL) {
        sm_health_destroy(&h);
        return NULL;
    }
    for (size_t i = h->cap; i > 0; i--)
        h->freelist[h->nfree++] = (uint32_t)(i - 1);
    svc_reset(h, other(h));
    strcpy(other(h)->name, "other");
    h->fcfg = (struct sm_flood_cfg){
        .floor = cfg->flood_floor,
        .factor = SM_HEALTH_FLOOD_FACTOR,
        .interval_ns = cfg->interval_ns,
        .baseline_slots = (unsigned)((SM_HEALTH_BASELINE_NS + cfg->interval_ns - 1) /
                                     cfg->interval_ns),
    };
    if (h->fcfg.baseline_slots > SM_DETECT_RING)
        h->fcfg.baseline_slots = SM_DETECT_RING;
    h->dcfg = (struct sm_degrade_cfg){
        .share = cfg->degraded_share,
        .min_groups = cfg->degraded_min,
        .interval_ns = cfg->interval_ns,
        .window = (unsigned)((cfg->degraded_window_ns + cfg->interval_ns - 1) / cfg->interval_ns),
    };
    if (h->dcfg.window > SM_DETECT_RING)
        h->dcfg.window = SM_DETECT_RING;
    h->keep_idle = (h->fcfg.baseline_slots > h->dcfg.window ? h->fcfg.baseline_slots
                                                             : h->dcfg.window) + 1;
    h->last_ns = INT64_MIN;
    h->gen = 1; /* the zeroed cache entries are of generation 0: stale */
    h->tot.interval_ns = cfg->interval_ns;
    return h;
}

void sm_health_destroy(sm_health_t **h_p)
{
    sm_health_t *h = *h_p;
    if (h == NULL)
        return;
    free(h->svc);
    free(h->freelist);
    free(h->order);
    free(h->rest);
    free(h->ix);
    free(h);
    *h_p = NULL;
}

static void counts_of(const struct svc *s, struct sm_health_counts *c)
{
    struct acc a = s->total;
    acc_add(&a, &s->cur);
    memcpy(c->verdicts, a.verdicts, sizeof c->verdicts);
    c->attempts = a.attempts;
    c->retransmissions = a.retrans;
    c->synack_retransmissions = a.synack_retrans;
    c->lone_syns = a.lone_syns;
    c->lone_unanswered = a.lone_unanswered;
    c->not_shown = a.not_shown;
}

static void service_view(const sm_health_t *h, const struct svc *s, struct sm_health_service *o)
{
    memset(o, 0, sizeof *o);
    o->view = s->key.view;
    o->other = s == &h->svc[h->cap];
    memcpy(o->name, s->name, sizeof o->name);
    counts_of(s, &o->c);
    o->have_delay = s->have_delay;
    o->delay_p50 = s->p50;
    o->delay_p99 = s->p99;
    o->sources = s->sources;
    o->degraded = s->degrade.active;
    o->syn_flood = s->flood.active;
}

size_t sm_health_services(const sm_health_t *h, struct sm_health_service *out, size_t max)
{
    size_t n = 0;
    for (size_t i = 0; i < h->cap && n < max; i++)
        if (h->svc[i].used)
            service_view(h, &h->svc[i], &out[n++]);
    const struct svc *o = &h->svc[h->cap];
    struct acc a = o->total;
    acc_add(&a, &o->cur);
    bool any = o->traffic > 0;
    for (int k = 0; k < SM_V_COUNT && !any; k++)
        any = a.verdicts[k] > 0;
    if (n < max && (any || a.lone_syns > 0))
        service_view(h, o, &out[n++]);
    return n;
}

void sm_health_totals(const sm_health_t *h, struct sm_health_totals *out)
{
    *out = h->tot;
}

size_t sm_health_capacity(const sm_health_t *h)
{
    return h->cap + 1;
}
