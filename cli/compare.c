/*
 * compare.c - the offline front of the join engine (see compare.h).
 *
 * Threads: one reader per file produces batches into a small bounded queue; the caller's
 * thread consumes both queues. The consumer always takes the batch with the smaller
 * watermark (ties: client first), so the engine sees one deterministic interleaving whatever
 * the thread timing, and decisions never run ahead of either file.
 *
 * Clocks: before the first record is joined, the consumer lets the engine's clock estimator
 * look at the first LOOK batches of each side, so that two captures whose clocks are seconds
 * or days apart are merged in one clock from the start; the server's watermarks are compared
 * in the client's clock (sm_join_client_time).
 */
#include "compare.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "addr.h"
#include "hugemem.h"
#include "synmatch/scope.h"

/* A reader may queue twice what the clock estimator looks at first: while the slower reader
 * fills its LOOK batches, the faster one goes on reading instead of waiting (with the two
 * equal, one core sat idle for about a tenth of a 100 MB pair's run). */
#define QDEPTH 16
#define LOOK 8
_Static_assert(LOOK <= QDEPTH, "the look-ahead waits for LOOK batches a queue must hold");
#define BATCH_RECORDS 4096u
#define SLOT_RECS (BATCH_RECORDS + SM_FILESRC_SLACK)
/* Batch buffers: QDEPTH slots per side and the one each reader is filling. */
#define NBUFS (2 * (QDEPTH + 1))

struct slot {
    struct sm_record *recs;
    size_t n;
    int64_t wm;
    bool have_first;
    int64_t first_ns;
    bool eof;
};

struct side {
    const char *path;
    struct sm_filesrc_opts fopts;
    struct sm_filesrc_summary *summary;
    pthread_t thread;
    bool started;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct slot slots[QDEPTH];
    size_t head, count;
    bool abort;    /* the consumer stopped: the producer must not wait */
    bool sent_eof; /* producer thread only */
};

struct run {
    const struct sm_compare_opts *opts;
    struct sm_compare_result *res;
    sm_scope_t *inferred;
    sm_scope_t *given;
    bool oom;
    /* The last address in_scope() answered for and its answer, good while the scope holds
     * memo_count addresses: the SYNs go to few servers, and a SipHash for each question (and
     * for each server SYN's address added) was 2% of compare's instructions. */
    bool memo_set;
    struct sm_addr memo_addr;
    int32_t memo;
    size_t memo_count;
};

static int produce(void *arg, const struct sm_batch *b)
{
    struct side *sd = arg;
    pthread_mutex_lock(&sd->mu);
    while (sd->count == QDEPTH && !sd->abort)
        pthread_cond_wait(&sd->cv, &sd->mu);
    if (sd->abort) {
        pthread_mutex_unlock(&sd->mu);
        return -1;
    }
    struct slot *s = &sd->slots[(sd->head + sd->count) % QDEPTH];
    pthread_mutex_unlock(&sd->mu);
    /* The slot is ours until count is raised: fill it outside the lock. The reader's full
     * buffer is kept and the slot's free one given to it in exchange (its records were
     * copied here: 400 KB a batch, 2% of compare's instructions). */
    if (b->trade != NULL) {
        struct sm_record *spare = s->recs;
        s->recs = *b->trade;
        *b->trade = spare;
    } else if (b->n > 0) {
        memcpy(s->recs, b->recs, b->n * sizeof *b->recs);
    }
    if (b->eof)
        sd->sent_eof = true;
    s->n = b->n;
    s->wm = b->wm;
    s->have_first = b->have_first;
    s->first_ns = b->first_ns;
    s->eof = b->eof;
    pthread_mutex_lock(&sd->mu);
    sd->count++;
    pthread_cond_broadcast(&sd->cv);
    pthread_mutex_unlock(&sd->mu);
    return 0;
}

static void *reader_main(void *arg)
{
    struct side *sd = arg;
    sm_filesrc_run(sd->path, &sd->fopts, produce, sd, sd->summary);
    if (!sd->sent_eof) { /* never opened, or stopped by the consumer: end the stream */
        struct sm_batch b = {.wm = INT64_MIN, .eof = true};
        produce(sd, &b);
    }
    return NULL;
}

/* Waits until sd's queue holds LOOK batches or its last one, then shows the engine's clock
 * estimator those (they stay queued). */
static void look_ahead(struct side *sd, sm_join_t *j, enum sm_role role)
{
    pthread_mutex_lock(&sd->mu);
    while (sd->count < LOOK && !(sd->count > 0 && sd->slots[(sd->head + sd->count - 1) % QDEPTH].eof))
        pthread_cond_wait(&sd->cv, &sd->mu);
    size_t n = sd->count < LOOK ? sd->count : LOOK;
    pthread_mutex_unlock(&sd->mu);
    /* the producer writes only slots not yet counted: these n are stable */
    for (size_t k = 0; k < n; k++) {
        const struct slot *s = &sd->slots[(sd->head + k) % QDEPTH];
        sm_join_observe(j, role, s->recs, s->n);
    }
}

/* Waits for the next batch of sd (every reader ends its stream with an eof batch). */
static struct slot *take(struct side *sd)
{
    pthread_mutex_lock(&sd->mu);
    while (sd->count == 0)
        pthread_cond_wait(&sd->cv, &sd->mu);
    struct slot *s = &sd->slots[sd->head];
    pthread_mutex_unlock(&sd->mu);
    return s;
}

static void release(struct side *sd)
{
    pthread_mutex_lock(&sd->mu);
    sd->head = (sd->head + 1) % QDEPTH;
    sd->count--;
    pthread_cond_broadcast(&sd->cv);
    pthread_mutex_unlock(&sd->mu);
}

/* Offline the server capture is one view. */
static int32_t in_scope(void *arg, const struct sm_tuple *client)
{
    struct run *rn = arg;
    const sm_scope_t *sc = rn->given ? rn->given : rn->inferred;
    size_t count = sm_scope_count(sc);
    if (rn->memo_set && rn->memo_count == count && sm_addr_eq(&rn->memo_addr, &client->dst))
        return rn->memo;
    rn->memo = sm_scope_contains(sc, &client->dst) ? (int32_t)SM_VIEW_ALL : SM_SCOPE_OUT;
    rn->memo_addr = client->dst;
    rn->memo_count = count;
    rn->memo_set = true;
    return rn->memo;
}

/*
 * A table's rows double as they come; from SM_HUGE_FROM on they live in huge pages
 * (hugemem.h), grown without a copy. Written once each, then sorted: in 4 KiB pages their
 * first touch was 2,400 page faults on a 100 MB pair, nearly half of compare's.
 */
static void rows_free(struct sm_row *p, size_t cap)
{
    sm_block_free(p, cap * sizeof *p);
}

static struct sm_row *rows_grow(struct sm_row *p, size_t *cap)
{
    size_t ncap = *cap ? *cap * 2 : 256;
    struct sm_row *np = sm_block_grow(p, *cap * sizeof *np, ncap * sizeof *np);
    if (np != NULL)
        *cap = ncap;
    return np;
}

/* Appends row to table t. */
static void add_row(struct run *rn, enum sm_table t, const struct sm_row *row)
{
    struct sm_compare_result *res = rn->res;
    if (res->nrows[t] == res->rows_cap[t]) {
        struct sm_row *m = rows_grow(res->rows[t], &res->rows_cap[t]);
        if (m == NULL) {
            rn->oom = true;
            return;
        }
        res->rows[t] = m;
    }
    res->rows[t][res->nrows[t]++] = *row;
}

static void on_verdict(void *arg, const struct sm_verdict *v)
{
    struct run *rn = arg;
    if (v->kind != SM_V_SUSPECT) {
        struct sm_row row;
        sm_row_from_verdict(&row, v);
        /* the map lists every client SYN the server saw, whatever became of it */
        if (v->has_server && v->kind != SM_V_AMBIGUOUS)
            add_row(rn, SM_TABLE_MAP, &row);
        enum sm_table t = sm_table_of(v->kind);
        if (t != SM_TABLE_COUNT)
            add_row(rn, t, &row);
    }
    if (rn->opts->on_verdict)
        rn->opts->on_verdict(rn->opts->verdict_arg, v);
}

static int cmp_i64(int64_t a, int64_t b)
{
    return a < b ? -1 : a > b;
}

static int cmp_map(const void *pa, const void *pb)
{
    const struct sm_row *a = pa, *b = pb;
    int c = cmp_i64(a->client_stream, b->client_stream);
    if (c == 0)
        c = cmp_i64(a->server_stream, b->server_stream);
    if (c == 0)
        c = cmp_i64(a->first_ns, b->first_ns);
    return c;
}

static int cmp_time(const void *pa, const void *pb)
{
    const struct sm_row *a = pa, *b = pb;
    int c = cmp_i64(a->first_ns, b->first_ns);
    if (c == 0)
        c = cmp_i64(a->client_stream, b->client_stream);
    if (c == 0)
        c = a->seq < b->seq ? -1 : a->seq > b->seq;
    return c;
}

/*
 * Sorts a table as a stable sort would. Its rows come nearly in order (a group is decided
 * about the timeout after its first SYN): the ones out of order are taken aside, sorted, and
 * merged back from the end, in place. glibc's qsort made a copy of the whole table (88 MB
 * for the map of a 1 GB pair, every page of it new) and was a third of compare's page
 * faults. More than an eighth out of order, it is left to qsort.
 */
static void sort_rows(struct sm_row *r, size_t n, int (*cmp)(const void *, const void *))
{
    size_t cap = n / 8 + 1, k = 0, w = 0, i = 0;
    struct sm_row *side = n > 1 ? malloc(cap * sizeof *side) : NULL;
    if (side == NULL) {
        qsort(r, n, sizeof *r, cmp);
        return;
    }
    for (; i < n; i++) {
        if (w == 0 || cmp(&r[i], &r[w - 1]) >= 0) {
            if (w != i)
                r[w] = r[i];
            w++;
        } else if (k < cap) {
            side[k++] = r[i]; /* below what is kept: never equal to it, so stable */
        } else {
            break;
        }
    }
    if (i < n) { /* too many out of order: all back, and qsort */
        memmove(r + w + k, r + i, (n - i) * sizeof *r);
        memcpy(r + w, side, k * sizeof *r);
        free(side);
        qsort(r, n, sizeof *r, cmp);
        return;
    }
    qsort(side, k, sizeof *side, cmp);
    /* from the end: on a tie the row kept came first in the table, so it goes first */
    size_t o = n;
    while (k > 0) {
        if (w > 0 && cmp(&r[w - 1], &side[k - 1]) > 0)
            r[--o] = r[--w];
        else
            r[--o] = side[--k];
    }
    free(side);
}

static int cmp_ifstats(const void *pa, const void *pb)
{
    const struct sm_ifstats *a = *(const struct sm_ifstats *const *)pa;
    const struct sm_ifstats *b = *(const struct sm_ifstats *const *)pb;
    if (a->section != b->section)
        return a->section < b->section ? -1 : 1;
    if (a->interface != b->interface)
        return a->interface < b->interface ? -1 : 1;
    return a < b ? -1 : a > b; /* file order within one interface */
}

/*
 * Capture drops declared by pcapng Interface Statistics Blocks. Counters are cumulative per
 * interface (of a section): each increase is a loss somewhere between the previous
 * statistics of that interface (or the start of the capture) and these. Sorting by
 * (section, interface, file order) makes that one pass.
 */
static void apply_ifstats(sm_join_t *j, const struct sm_filesrc_summary *s, enum sm_role role,
                          uint64_t *total)
{
    if (s->nifstats == 0)
        return;
    const struct sm_ifstats **v = malloc(s->nifstats * sizeof *v);
    if (v == NULL) {
        /* Without order, assume the worst: the whole capture is blind. */
        sm_join_blind(j, role, SM_VIEW_ALL, s->first_ns, s->last_ns, SM_V_SENSOR_CAPTURE_LOSS);
        return;
    }
    for (size_t k = 0; k < s->nifstats; k++)
        v[k] = &s->ifstats[k];
    qsort(v, s->nifstats, sizeof *v, cmp_ifstats);
    for (size_t k = 0; k < s->nifstats; k++) {
        const struct sm_ifstats *st = v[k], *pv = k > 0 ? v[k - 1] : NULL;
        if (pv && (pv->section != st->section || pv->interface != st->interface))
            pv = NULL;
        uint64_t drops = (st->has_ifdrop ? st->ifdrop : 0) + (st->has_osdrop ? st->osdrop : 0);
        uint64_t before = pv ? (pv->has_ifdrop ? pv->ifdrop : 0) +
                                   (pv->has_osdrop ? pv->osdrop : 0)
                             : 0;
        if (drops <= before)
            continue;
        int64_t from = pv ? (pv->has_end ? pv->end_ns : pv->ts_ns)
                          : (st->has_start ? st->start_ns : s->first_ns);
        int64_t to = st->has_end ? st->end_ns : st->ts_ns;
        sm_join_blind(j, role, SM_VIEW_ALL, from, to, SM_V_SENSOR_CAPTURE_LOSS);
        *total += drops - before;
    }
    free(v);
}

/*
 * A classic pcap tells when capturing began only by its first frame. pcapng statistics blocks
 * carry the real start and end of the capture (isb_starttime, isb_endtime): when they reach
 * beyond the frames, the file witnessed that much more.
 */
static void apply_capture_window(sm_join_t *j, const struct sm_filesrc_summary *s,
                                 enum sm_role role)
{
    if (!s->have_ts)
        return;
    int64_t start = s->first_ns, end = s->last_ns;
    for (size_t k = 0; k < s->nifstats; k++) {
        if (s->ifstats[k].has_start && s->ifstats[k].start_ns < start)
            start = s->ifstats[k].start_ns;
        if (s->ifstats[k].has_end && s->ifstats[k].end_ns > end)
            end = s->ifstats[k].end_ns;
    }
    if (start < s->first_ns)
        sm_join_coverage_start(j, role, start);
    if (end > s->last_ns)
        sm_join_end(j, role, end);
}

int sm_compare_run(const struct sm_compare_opts *opts, struct sm_compare_result *res)
{
    memset(res, 0, sizeof *res);
    struct run rn = {.opts = opts, .res = res};
    rn.inferred = sm_scope_new();
    if (opts->n_server_ips > 0) {
        rn.given = sm_scope_new();
        for (size_t k = 0; rn.given && k < opts->n_server_ips; k++)
            sm_scope_add(rn.given, &opts->server_ips[k]);
    }
    struct sm_join_config jc = {
        .timeout_ns = opts->timeout_ns,
        .max_skew_ns = opts->max_skew_ns,
        .max_pending = opts->max_pending,
        .hold_unmatched = true,
        .on_verdict = on_verdict,
        .verdict_arg = &rn,
        .in_scope = in_scope,
        .scope_arg = &rn,
        .no_clock_correction = opts->no_clock_correction,
    };
    sm_join_t *j = sm_join_new(&jc);
    struct side sides[2];
    memset(sides, 0, sizeof sides);
    /* All batch buffers in one block in huge pages: the readers and the queues pass them
     * around, and in 4 KiB pages their first use faulted 1,600 times on a 100 MB pair. */
    const size_t buf_bytes = (size_t)NBUFS * SLOT_RECS * sizeof(struct sm_record);
    struct sm_record *bufs = sm_huge_alloc(buf_bytes);
    bool ok = j && rn.inferred && (opts->n_server_ips == 0 || rn.given) && bufs;
    const char *paths[2] = {opts->client_path, opts->server_path};
    for (int s = 0; s < 2; s++) {
        struct side *sd = &sides[s];
        sd->path = paths[s];
        sd->summary = &res->side[s];
        sd->fopts.max_conversations = opts->max_conversations;
        sd->fopts.batch_records = BATCH_RECORDS;
        pthread_mutex_init(&sd->mu, NULL);
        pthread_cond_init(&sd->cv, NULL);
        if (bufs != NULL) {
            struct sm_record *mine = bufs + (size_t)s * (QDEPTH + 1) * SLOT_RECS;
            for (int k = 0; k < QDEPTH; k++)
                sd->slots[k].recs = mine + (size_t)k * SLOT_RECS;
            sd->fopts.recs = mine + (size_t)QDEPTH * SLOT_RECS;
            sd->fopts.recs_cap = SLOT_RECS;
        }
    }
    for (int s = 0; ok && s < 2; s++) {
        sides[s].started = pthread_create(&sides[s].thread, NULL, reader_main, &sides[s]) == 0;
        ok = sides[s].started;
    }

    if (ok) {
        for (int s = 0; s < 2; s++)
            look_ahead(&sides[s], j, (enum sm_role)s);
        struct slot *cur[2] = {take(&sides[0]), take(&sides[1])};
        for (int s = 0; s < 2; s++)
            sm_join_coverage_start(j, (enum sm_role)s,
                                   cur[s]->have_first ? cur[s]->first_ns : INT64_MAX);
        bool done[2] = {false, false};
        /* the last server SYN's destination, offered to the inferred scope already */
        struct sm_addr added;
        bool have_added = false;
        while (!done[0] || !done[1]) {
            int s = done[0]   ? 1
                    : done[1] ? 0
                              : (sm_join_client_time(j, SM_ROLE_SERVER, cur[1]->wm) < cur[0]->wm);
            struct slot *sl = cur[s];
            for (size_t k = 0; k < sl->n; k++) {
                const struct sm_record *r = &sl->recs[k];
                /* Not sm_join_add_batch(): a server SYN's address joins the scope before the
                 * record joins, and in_scope() reads it. */
                if (k + SM_JOIN_PREFETCH_AHEAD < sl->n)
                    sm_join_prefetch(j, &sl->recs[k + SM_JOIN_PREFETCH_AHEAD]);
                if (s == SM_ROLE_SERVER && sm_flags_is_syn(r->flags) &&
                    !(have_added && sm_addr_eq(&added, &r->tuple.dst))) {
                    if (sm_scope_add(rn.inferred, &r->tuple.dst) == -1)
                        rn.oom = true;
                    added = r->tuple.dst;
                    have_added = true;
                }
                sm_join_add(j, (enum sm_role)s, r);
            }
            if (sl->eof && !res->side[s].opened) {
                ok = false; /* nothing to compare against: stop the other reader too */
                break;
            }
            if (sl->eof) {
                done[s] = true;
                sm_join_end(j, (enum sm_role)s, sl->wm);
            } else {
                sm_join_watermark(j, (enum sm_role)s, sl->wm);
            }
            release(&sides[s]);
            if (!done[s])
                cur[s] = take(&sides[s]);
        }
    }
    for (int s = 0; s < 2; s++) {
        if (sides[s].started) {
            pthread_mutex_lock(&sides[s].mu);
            sides[s].abort = true;
            pthread_cond_broadcast(&sides[s].cv);
            pthread_mutex_unlock(&sides[s].mu);
            pthread_join(sides[s].thread, NULL);
        }
    }
    if (ok) {
        for (int s = 0; s < 2; s++)
            apply_capture_window(j, &res->side[s], (enum sm_role)s);
        /* Drops of either capture: the server's blind the SYN leg, the client's the reply. */
        for (int s = 0; s < 2; s++)
            apply_ifstats(j, &res->side[s], (enum sm_role)s, &res->drops[s]);
        sm_join_finish(j);
        sm_join_get_stats(j, &res->join);
        sm_join_get_clock(j, &res->clock);
    }
    const sm_scope_t *sc = rn.given ? rn.given : rn.inferred;
    res->scope_inferred = rn.given == NULL;
    if (sc && sm_scope_count(sc) > 0) {
        res->scope = malloc(sm_scope_count(sc) * sizeof *res->scope);
        if (res->scope)
            res->nscope = sm_scope_list(sc, res->scope, sm_scope_count(sc));
    }
    for (int t = 0; t < SM_TABLE_COUNT; t++)
        if (res->rows[t])
            sort_rows(res->rows[t], res->nrows[t], t == SM_TABLE_MAP ? cmp_map : cmp_time);

    sm_huge_free(bufs, buf_bytes);
    for (int s = 0; s < 2; s++) {
        pthread_mutex_destroy(&sides[s].mu);
        pthread_cond_destroy(&sides[s].cv);
    }
    sm_join_destroy(&j);
    sm_scope_destroy(&rn.inferred);
    sm_scope_destroy(&rn.given);
    if (!ok || rn.oom) {
        bool opened = res->side[0].opened && res->side[1].opened;
        for (int s = 0; s < 2; s++)
            if (opened && res->side[s].err == SM_PCAP_ERR_NONE)
                snprintf(res->side[s].errmsg, sizeof res->side[s].errmsg, "out of memory");
        return -1;
    }
    return res->side[0].err == SM_PCAP_ERR_NONE && res->side[1].err == SM_PCAP_ERR_NONE ? 0
                                                                                       : -1;
}

void sm_compare_result_free(struct sm_compare_result *res)
{
    sm_filesrc_summary_free(&res->side[0]);
    sm_filesrc_summary_free(&res->side[1]);
    for (int t = 0; t < SM_TABLE_COUNT; t++)
        rows_free(res->rows[t], res->rows_cap[t]);
    free(res->scope);
    memset(res, 0, sizeof *res);
}
