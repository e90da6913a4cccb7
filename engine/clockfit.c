/*
 * clockfit.c - the clock offset between the two sides, from connections both saw (see
 * clockfit.h for the method).
 */
#include "clockfit.h"

#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "hugemem.h"
#include "select.h"

#define NS_PER_SEC INT64_C(1000000000)
#define TABLE_BITS 14      /* slots per pairing table */
#define MIN_PAIRS 16       /* forward pairs behind a knot */
#define MIN_BACK 4         /* backward pairs for the two-leg estimate */
#define BUCKET_MAX 256     /* a bucket closes at this many pairs, whatever its span */
#define BUCKET_SPAN NS_PER_SEC /* after the first, a bucket spans at least this long */
#define MAX_KNOTS 4096     /* past it, every other knot goes (steps are kept) */
/* Past BOOT_PAIRS pairs, while connections come faster than a bucket can hold (it fills to
 * BUCKET_MAX in under BUCKET_SPAN), one ISN in 2^SAMPLE_BITS is paired (the same ISNs on both
 * sides); slower traffic is paired whole, so that a step is seen within seconds. */
#define BOOT_PAIRS 1024
#define SAMPLE_BITS 4
#define STEP_MIN (20 * NS_PER_SEC / 1000) /* a knot this far from the last starts a segment */
#define STEP_SPREADS 8     /* ... or this many spreads, when more */

enum table { T_CLIENT_SYN, T_SERVER_SYN, T_CLIENT_ANSWER, T_SERVER_ANSWER, NTABLES };

/* A record kept for pairing: its ISN and raw time; paired slots give no second sample. */
struct pslot {
    uint32_t isn;
    uint8_t state; /* 0 empty, 1 waiting, 2 paired */
    int64_t ts;
};

struct sm_clockfit {
    struct pslot tab[NTABLES][1u << TABLE_BITS];
    uint32_t hmul, smul; /* odd multipliers: slot index, sampling */
    int64_t conf_spread;

    /* the open bucket */
    int64_t fwd[BUCKET_MAX], fwd_t[BUCKET_MAX], back[BUCKET_MAX];
    uint32_t nf, nb;
    int64_t bucket_from, bucket_to;
    /* the bucket before, whose pairs a step may have begun among */
    int64_t prev_fwd[BUCKET_MAX], prev_t[BUCKET_MAX];
    uint32_t prev_n;

    struct sm_clockfit_knot knots[MAX_KNOTS];
    int64_t knot_fwd[MAX_KNOTS]; /* each knot's forward median: where a step began */
    size_t nknots, seg_start;
    bool have_good;
    struct sm_clockfit_knot good; /* the last knot within the confident spread */
    int64_t good_fwd;
    uint64_t pairs, back_pairs;
    uint32_t steps;
    int64_t first_ns, last_ns;
    bool sampling;
    uint64_t observed; /* SYNs and SYN/ACKs shown */
};

sm_clockfit_t *sm_clockfit_new(int64_t confident_spread_ns)
{
    /* 1.2 MiB, the pairing tables touched at random from the first SYNs on: in huge pages,
     * one fault instead of some 300 (most of compare's own faults on a small pair). */
    sm_clockfit_t *cf = sm_alloc_should_fail() ? NULL : sm_huge_alloc(sizeof *cf);
    if (cf == NULL)
        return NULL;
    /* Fixed multipliers: the same files give the same pairs, hence the same correction and
     * the same output. ISNs chosen to collide only cost pairs, never a wrong verdict. */
    cf->hmul = 0x9e3779b1u;
    cf->smul = 0x85ebca6bu;
    cf->conf_spread = confident_spread_ns;
    return cf;
}

void sm_clockfit_destroy(sm_clockfit_t **self_p)
{
    if (self_p == NULL || *self_p == NULL)
        return;
    sm_huge_free(*self_p, sizeof **self_p);
    *self_p = NULL;
}

/* The median of v[0..n-1], n > 0 (of a copy): the lower middle for an even n. */
static int64_t median(const int64_t *v, uint32_t n)
{
    int64_t tmp[BUCKET_MAX];
    memcpy(tmp, v, n * sizeof *v);
    return sm_select_kth(tmp, n, (n - 1) / 2);
}

static int64_t iabs64(int64_t x)
{
    return x < 0 ? -x : x;
}

static void append_knot(sm_clockfit_t *cf, const struct sm_clockfit_knot *k, int64_t fwd)
{
    if (cf->nknots == MAX_KNOTS) {
        /* Thin: keep every other knot, and every step with the knot after it dropped. */
        size_t n = 0;
        for (size_t i = 0; i + 1 < cf->nknots; i += 2) {
            size_t pick = cf->knots[i + 1].step ? i + 1 : i;
            cf->knots[n] = cf->knots[pick];
            cf->knot_fwd[n] = cf->knot_fwd[pick];
            n++;
        }
        cf->nknots = n;
        cf->seg_start = 0;
        for (size_t i = 0; i < n; i++)
            if (cf->knots[i].step)
                cf->seg_start = i;
    }
    cf->knots[cf->nknots] = *k;
    cf->knot_fwd[cf->nknots] = fwd;
    if (k->step)
        cf->seg_start = cf->nknots;
    cf->nknots++;
}

static void close_bucket(sm_clockfit_t *cf)
{
    int64_t mf = median(cf->fwd, cf->nf);
    int64_t dev[BUCKET_MAX];
    for (uint32_t i = 0; i < cf->nf; i++)
        dev[i] = iabs64(cf->fwd[i] - mf);
    struct sm_clockfit_knot k = {
        .at_ns = median(cf->fwd_t, cf->nf),
        .from_ns = cf->bucket_from,
        .spread_ns = median(dev, cf->nf),
        .pairs = cf->nf,
        .back_pairs = cf->nb,
    };
    /* fwd = delay + offset, back = delay' - offset: with both, the delays cancel */
    k.offset_ns = cf->nb >= MIN_BACK ? mf / 2 - median(cf->back, cf->nb) / 2 : mf;
    /* Steps are told against the last confident knot: a bucket that straddles a step has
     * the spread of both sides and says nothing. */
    if (cf->have_good) {
        const struct sm_clockfit_knot *p = &cf->good;
        int64_t limit = STEP_SPREADS * (k.spread_ns > p->spread_ns ? k.spread_ns : p->spread_ns);
        if (limit < STEP_MIN)
            limit = STEP_MIN;
        /* A step is told by the forward leg alone, with the last knot's delay: the SYN/ACKs
         * of a bucket pair later than its SYNs, so their median lags a step. */
        int64_t fwd_only = mf - (cf->good_fwd - p->offset_ns);
        if (iabs64(fwd_only - p->offset_ns) > limit) {
            k.offset_ns = fwd_only;
            /* The step began at the first pair nearer the new offset than the old one. */
            int64_t pf = cf->good_fwd, from = INT64_MAX;
            for (uint32_t i = 0; i < cf->nf; i++)
                if (iabs64(cf->fwd[i] - mf) < iabs64(cf->fwd[i] - pf) && cf->fwd_t[i] < from)
                    from = cf->fwd_t[i];
            for (uint32_t i = 0; i < cf->prev_n; i++)
                if (iabs64(cf->prev_fwd[i] - mf) < iabs64(cf->prev_fwd[i] - pf) &&
                    cf->prev_t[i] < from)
                    from = cf->prev_t[i];
            k.from_ns = from == INT64_MAX ? cf->bucket_from : from;
            k.step = true;
            cf->steps++;
        }
    }
    append_knot(cf, &k, mf);
    if (k.spread_ns <= cf->conf_spread) {
        cf->have_good = true;
        cf->good = k;
        cf->good_fwd = mf;
    }
    if (cf->nf >= BUCKET_MAX && cf->bucket_to - cf->bucket_from < BUCKET_SPAN)
        cf->sampling = cf->pairs >= BOOT_PAIRS;
    else if (cf->bucket_to - cf->bucket_from > 4 * BUCKET_SPAN)
        cf->sampling = false;
    memcpy(cf->prev_fwd, cf->fwd, cf->nf * sizeof cf->fwd[0]);
    memcpy(cf->prev_t, cf->fwd_t, cf->nf * sizeof cf->fwd_t[0]);
    cf->prev_n = cf->nf;
    cf->nf = cf->nb = 0;
}

static void add_pair(sm_clockfit_t *cf, bool forward, int64_t client_ts, int64_t delta)
{
    if (!forward) {
        cf->back_pairs++;
        if (cf->nb < BUCKET_MAX)
            cf->back[cf->nb++] = delta;
        return;
    }
    cf->pairs++;
    if (cf->nf == 0 || client_ts < cf->bucket_from)
        cf->bucket_from = client_ts;
    if (cf->nf == 0 || client_ts > cf->bucket_to)
        cf->bucket_to = client_ts;
    if (cf->pairs == 1 || client_ts < cf->first_ns)
        cf->first_ns = client_ts;
    if (cf->pairs == 1 || client_ts > cf->last_ns)
        cf->last_ns = client_ts;
    cf->fwd[cf->nf] = delta;
    cf->fwd_t[cf->nf] = client_ts;
    cf->nf++;
}

bool sm_clockfit_observe(sm_clockfit_t *cf, enum sm_role role, const struct sm_record *r)
{
    uint32_t isn;
    bool answer;
    if (sm_flags_is_syn(r->flags)) {
        isn = r->seq;
        answer = false;
    } else if (sm_flags_is_synack(r->flags)) {
        isn = r->ack - 1;
        answer = true;
    } else {
        return false;
    }
    /* Nearly nothing pairs (a device rewrites the ISNs, or the captures share no time): the
     * tables are not worth visiting for every SYN; one ISN in 16 still finds what pairs. */
    if (++cf->observed == 65536 && cf->pairs * 64 < cf->observed)
        cf->sampling = true;
    if (cf->sampling && (uint32_t)(isn * cf->smul) >> (32 - SAMPLE_BITS) != 0)
        return false;
    bool client = role == SM_ROLE_CLIENT;
    enum table mine = answer ? (client ? T_CLIENT_ANSWER : T_SERVER_ANSWER)
                             : (client ? T_CLIENT_SYN : T_SERVER_SYN);
    enum table other = answer ? (client ? T_SERVER_ANSWER : T_CLIENT_ANSWER)
                              : (client ? T_SERVER_SYN : T_CLIENT_SYN);
    /* A SYN/ACK pairs only with one of the same seq as well: a SYN proxy's answer (another
     * ISN, sent before the server saw the SYN) would otherwise stand for the return leg. */
    if (answer)
        isn ^= r->seq * UINT32_C(0x9E3779B1);
    uint32_t k = (uint32_t)(isn * cf->hmul) >> (32 - TABLE_BITS);
    struct pslot *m = &cf->tab[mine][k], *o = &cf->tab[other][k];
    if (m->state != 0 && m->isn == isn)
        return false; /* a retransmission: the first one counts */
    m->isn = isn;
    m->ts = r->ts_ns;
    m->state = 1;
    if (o->state != 1 || o->isn != isn)
        return false;
    m->state = o->state = 2;
    int64_t cts = client ? m->ts : o->ts, sts = client ? o->ts : m->ts;
    /* forward: server minus client; backward: client (received) minus server (sent) */
    add_pair(cf, !answer, cts, answer ? cts - sts : sts - cts);
    if (cf->nf >= BUCKET_MAX ||
        (cf->nf >= MIN_PAIRS && (cf->nknots == 0 || cf->bucket_to - cf->bucket_from >= BUCKET_SPAN))) {
        close_bucket(cf);
        return true;
    }
    return false;
}

bool sm_clockfit_knot(const sm_clockfit_t *cf, struct sm_clockfit_knot *out)
{
    if (cf->nknots == 0)
        return false;
    *out = cf->knots[cf->nknots - 1];
    return true;
}

static void line_through(const sm_clockfit_t *cf, const struct sm_clockfit_knot *kv, size_t n,
                         struct sm_clock_estimate *out);

void sm_clockfit_estimate(const sm_clockfit_t *cf, struct sm_clock_estimate *out)
{
    memset(out, 0, sizeof *out);
    out->pairs = cf->pairs;
    out->back_pairs = cf->back_pairs;
    out->steps = cf->steps;
    out->first_ns = cf->first_ns;
    out->last_ns = cf->last_ns;
    if (cf->nknots == 0)
        return;
    if (!cf->have_good)
        return;
    const struct sm_clockfit_knot *last = &cf->good;
    out->confident = true;
    out->spread_ns = last->spread_ns;
    out->two_legs = last->back_pairs >= MIN_BACK;
    /* The latest segment: a least-squares line through its confident knots, read at its
     * middle. */
    struct sm_clockfit_knot *kv = sm_malloc((cf->nknots - cf->seg_start + 1) * sizeof *kv);
    size_t n = 0;
    if (kv == NULL) { /* out of memory: the last confident knot alone */
        out->offset_ns = last->offset_ns;
        out->at_ns = last->at_ns;
        out->segment_from_ns = cf->knots[cf->seg_start].from_ns;
        return;
    }
    for (size_t i = cf->seg_start; i < cf->nknots; i++)
        if (cf->knots[i].spread_ns <= cf->conf_spread)
            kv[n++] = cf->knots[i];
    if (n == 0)
        kv[n++] = *last;
    line_through(cf, kv, n, out);
    free(kv);
}

/* The estimate's figure from n confident knots of one segment. */
static void line_through(const sm_clockfit_t *cf, const struct sm_clockfit_knot *kv, size_t n,
                         struct sm_clock_estimate *out)
{
    out->segment_from_ns = kv[0].from_ns;
    if (n == 1) {
        out->offset_ns = kv[0].offset_ns;
        out->at_ns = kv[0].at_ns;
        return;
    }
    double x0 = (double)kv[0].at_ns, y0 = (double)kv[0].offset_ns;
    double sx = 0, sy = 0, sxx = 0, sxy = 0;
    for (size_t i = 0; i < n; i++) {
        double x = ((double)kv[i].at_ns - x0) / 1e9, y = (double)kv[i].offset_ns - y0;
        sx += x;
        sy += y;
        sxx += x * x;
        sxy += x * y;
    }
    double mx = sx / (double)n, my = sy / (double)n, var = sxx / (double)n - mx * mx;
    double slope = var > 1e-12 ? (sxy / (double)n - mx * my) / var : 0; /* ns per second */
    /* the middle of the pairs the segment spans, the open bucket's included */
    out->at_ns = kv[0].from_ns + (cf->last_ns - kv[0].from_ns) / 2;
    double mid = ((double)out->at_ns - x0) / 1e9;
    /* A drift is told only when it moved the offset by more than the knots scatter; else
     * the figure is the knots' median, which a noisy slope cannot pull. */
    double moved = slope * (double)(cf->last_ns - kv[0].from_ns) / 1e9;
    double noise = 2.0 * (double)out->spread_ns;
    if (noise < 100e3)
        noise = 100e3;
    if (n >= 3 && (moved > noise || moved < -noise)) {
        out->offset_ns = (int64_t)(y0 + my + slope * (mid - mx));
        out->drift_ppm = slope / 1e3;
    } else {
        int64_t offs[BUCKET_MAX];
        uint32_t m = n < BUCKET_MAX ? (uint32_t)n : BUCKET_MAX;
        for (uint32_t i = 0; i < m; i++)
            offs[i] = kv[n - m + i].offset_ns;
        out->offset_ns = median(offs, m);
    }
}
