/*
 * sender.c - a bounded drop-oldest queue in front of a link (link.h).
 *
 * Why a queue of our own when the transports queue too: ZeroMQ's buffer (ZMQ_SNDHWM) can only
 * refuse the NEWEST message when it is full, and it cannot tell us what it threw away at
 * close; libnats's reconnect buffer refuses what does not fit. Our queue drops the OLDEST
 * part, which is what a live feed wants (the collector cares most about what is recent), and
 * every drop is counted with its records and capture times, per partition too, so the agent
 * can declare it. The links' own buffers are kept small (ZeroMQ) or bounded in bytes
 * (libnats), so that most of what an outage holds sits here, where it is accounted for.
 */
#include "sender.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "log.h"

#define FINISH_STEP_MS 50

struct queued {
    uint8_t *buf;
    size_t len;
    struct sm_sender_batch meta;
};

struct sm_sender {
    sm_link_t *link;
    char *endpoint;
    uint32_t nparts;
    uint64_t *part_records_unsent, *part_batches_unsent; /* [nparts] */
    /* ring of qmax entries (parts): head is the oldest */
    struct queued *q;
    size_t qmax, head, count;
    struct sm_sender_stats st;
    bool unsent_pending;
    int64_t unsent_from, unsent_to;
};

static int64_t mono_ms(void)
{
    return sm_clock_mono_ns() / SM_NS_PER_MS;
}

sm_sender_t *sm_sender_new(const struct sm_sender_opts *o, char *errbuf, size_t errlen)
{
    sm_link_t *link = sm_link_open(&o->link, errbuf, errlen);
    if (link == NULL)
        return NULL;
    sm_sender_t *s = calloc(1, sizeof *s);
    if (s == NULL) {
        sm_link_close(&link, 0);
        snprintf(errbuf, errlen, "collector %s: out of memory", o->link.endpoint);
        return NULL;
    }
    s->link = link;
    s->nparts = sm_link_partitions(link);
    /* a batch is nparts parts: the queue holds queue_max batches' worth of them */
    s->qmax = (o->queue_max ? o->queue_max : SM_SENDER_DEFAULT_QUEUE) * s->nparts;
    s->q = calloc(s->qmax, sizeof *s->q);
    s->endpoint = strdup(o->link.endpoint);
    s->part_records_unsent = calloc(s->nparts, sizeof *s->part_records_unsent);
    s->part_batches_unsent = calloc(s->nparts, sizeof *s->part_batches_unsent);
    if (s->q == NULL || s->endpoint == NULL || s->part_records_unsent == NULL ||
        s->part_batches_unsent == NULL) {
        snprintf(errbuf, errlen, "collector %s: out of memory", o->link.endpoint);
        sm_sender_destroy(&s);
    }
    return s;
}

static void free_queue(sm_sender_t *s)
{
    while (s->count > 0) {
        free(s->q[s->head].buf);
        s->q[s->head].buf = NULL;
        s->head = (s->head + 1) % s->qmax;
        s->count--;
    }
}

void sm_sender_destroy(sm_sender_t **self_p)
{
    if (self_p == NULL || *self_p == NULL)
        return;
    sm_sender_t *s = *self_p;
    sm_link_close(&s->link, 0);
    if (s->q != NULL)
        free_queue(s);
    free(s->q);
    free(s->part_records_unsent);
    free(s->part_batches_unsent);
    free(s->endpoint);
    free(s);
    *self_p = NULL;
}

static void widen_span(sm_sender_t *s, int64_t from, int64_t to)
{
    if (!s->unsent_pending) {
        s->unsent_pending = true;
        s->unsent_from = from;
        s->unsent_to = to;
        return;
    }
    if (from < s->unsent_from)
        s->unsent_from = from;
    if (to > s->unsent_to)
        s->unsent_to = to;
}

/* Counts a batch that will never be sent; its records, and any span it was carrying, go to
 * the span the next batch declares. */
static void count_unsent(sm_sender_t *s, const struct sm_sender_batch *b)
{
    s->st.batches_unsent++;
    s->st.records_unsent += b->nrecs;
    uint32_t p = b->partition < s->nparts ? b->partition : 0;
    s->part_batches_unsent[p]++;
    s->part_records_unsent[p] += b->nrecs;
    if (b->nrecs > 0)
        widen_span(s, b->min_ts, b->max_ts);
    if (b->declares)
        widen_span(s, b->unsent_from, b->unsent_to);
}

void sm_sender_discard(sm_sender_t *s, const struct sm_sender_batch *b)
{
    count_unsent(s, b);
}

static void drop_oldest(sm_sender_t *s)
{
    assert(s->count > 0);
    struct queued *e = &s->q[s->head];
    count_unsent(s, &e->meta);
    free(e->buf);
    e->buf = NULL;
    s->head = (s->head + 1) % s->qmax;
    s->count--;
}

/* 1 sent, 0 would block (or interrupted: try again later), -1 error. */
static int try_send(sm_sender_t *s, const struct queued *e)
{
    if (s->link == NULL)
        return -1;
    int rc = sm_link_send(s->link, e->buf, e->len, e->meta.partition, e->meta.seq);
    if (rc == 1) {
        s->st.batches_sent++;
        s->st.records_sent += e->meta.nrecs;
    }
    return rc;
}

int sm_sender_pump(sm_sender_t *s)
{
    while (s->count > 0) {
        struct queued *e = &s->q[s->head];
        int rc = try_send(s, e);
        if (rc <= 0)
            return rc;
        free(e->buf);
        e->buf = NULL;
        s->head = (s->head + 1) % s->qmax;
        s->count--;
    }
    return 0;
}

void sm_sender_make_room(sm_sender_t *s)
{
    sm_sender_pump(s);
    if (s->count == s->qmax)
        drop_oldest(s);
}

bool sm_sender_take_unsent(sm_sender_t *s, int64_t *from_ns, int64_t *to_ns)
{
    if (!s->unsent_pending)
        return false;
    *from_ns = s->unsent_from;
    *to_ns = s->unsent_to;
    s->unsent_pending = false;
    return true;
}

void sm_sender_push(sm_sender_t *s, uint8_t **buf_p, size_t len, const struct sm_sender_batch *b)
{
    struct queued e = {*buf_p, len, *b};
    *buf_p = NULL;
    if (s->count == 0 && try_send(s, &e) == 1) {
        free(e.buf);
        return;
    }
    if (s->count == s->qmax)
        drop_oldest(s);
    s->q[(s->head + s->count) % s->qmax] = e;
    s->count++;
}

int sm_sender_finish(sm_sender_t *s, unsigned timeout_ms)
{
    int64_t deadline = mono_ms() + timeout_ms;
    int64_t left = timeout_ms;
    while (sm_sender_pump(s) == 0 && s->count > 0 && (left = deadline - mono_ms()) > 0)
        sm_link_wait(s->link, left < FINISH_STEP_MS ? (int)left : FINISH_STEP_MS);
    left = deadline - mono_ms();
    if (left < 0)
        left = 0;
    size_t stuck = s->count;
    while (s->count > 0)
        drop_oldest(s);
    s->unsent_pending = false; /* nothing follows that could declare it */

    /* The link gets the time left to deliver what it holds. */
    s->st.batches_failed = sm_link_failed(s->link);
    int delivered = sm_link_close(&s->link, (int)left);
    if (stuck > 0)
        sm_log_warnx("collector %s: not reachable; %zu queued batches were not sent", s->endpoint,
                     stuck);
    else if (delivered != 0)
        sm_log_warnx("collector %s: not reachable; the last batches may not have been delivered",
                     s->endpoint);
    return stuck == 0 && delivered == 0 ? 0 : -1;
}

void sm_sender_stats(const sm_sender_t *s, struct sm_sender_stats *out)
{
    *out = s->st;
    if (s->link != NULL)
        out->batches_failed = sm_link_failed(s->link);
    out->queued = s->count;
}

uint32_t sm_sender_partitions(const sm_sender_t *s)
{
    return s->nparts;
}

void sm_sender_part_unsent(const sm_sender_t *s, uint32_t p, uint64_t *records,
                           uint64_t *batches)
{
    *records = p < s->nparts ? s->part_records_unsent[p] : 0;
    *batches = p < s->nparts ? s->part_batches_unsent[p] : 0;
}
