/*
 * outq.c - the collector's output thread (see outq.h).
 *
 * The loop appends items (a verdict struct, or the bytes of a finished line) to the batch
 * it fills; a full batch, or any batch at a flush, goes into a ring of NBATCH batches under
 * one mutex, so the hand-over costs a lock per batch, not per line. The thread takes batches
 * in ring order and writes each item in turn: the order of the lines is the order of the
 * hand-over. With every batch in the ring full, the loop waits (bounded memory: NBATCH x
 * BATCH_BYTES).
 */
#include "outq.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "synmatch/nats.h"
#include "synmatch/report.h"

#define NBATCH 8
#define BATCH_BYTES (128 * 1024)

enum item_kind {
    ITEM_VERDICT = 1,
    ITEM_LINE = 2,
    ITEM_VERDICT_QUIET = 3, /* to the output only: its service is over the alerts limit */
    ITEM_PACKED = 4,        /* lines as an LZ4 block (synmatch/nats.h): their length (uint32),
                             * then the block */
};

/* An item in a batch: its header, then its bytes, padded to the header's alignment. */
struct item {
    uint32_t kind;
    uint32_t len;
};

#define ITEM_ALIGN _Alignof(struct sm_verdict)
#define ITEM_SPACE(len) ((sizeof(struct item) + (len) + ITEM_ALIGN - 1) / ITEM_ALIGN * ITEM_ALIGN)

_Static_assert(sizeof(struct item) % ITEM_ALIGN == 0,
               "an item's bytes follow its header aligned for a verdict");

struct batch {
    size_t used;
    bool flush; /* flush the output after writing it */
    bool sync;  /* the producer waits until it is written: see sm_outq_sync() */
    _Alignas(max_align_t) unsigned char bytes[BATCH_BYTES];
};

struct sm_outq {
    FILE *out;
    void *pub;
    uint16_t seed;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct batch *ring[NBATCH]; /* [head, head + count) are full, in order */
    size_t head, count;
    struct batch *filling;      /* the producer's; not in the ring */
    struct batch *spare[NBATCH + 1]; /* empty batches */
    size_t nspare;
    bool stop;
    bool synced; /* the thread wrote a sync batch */
    atomic_uint_fast64_t errors;
    char *unpacked; /* the thread's: a packed item's lines (SM_NATS_OUT_MAX_LINES bytes) */
};

/* Lines (one or more, each ending in a newline): to the output at once, to the PUB socket
 * one message each unless quiet. */
static void write_lines(struct sm_outq *q, const char *lines, size_t len, bool quiet)
{
    if (fwrite(lines, 1, len, q->out) != len)
        atomic_fetch_add_explicit(&q->errors, 1, memory_order_relaxed);
    if (q->pub == NULL || quiet)
        return;
    for (const char *p = lines, *end = lines + len; p < end;) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t n = nl ? (size_t)(nl - p) + 1 : (size_t)(end - p);
        zmq_send(q->pub, p, n, ZMQ_DONTWAIT); /* PUB drops at its HWM: tail is best effort */
        p += n;
    }
}

static void write_batch(struct sm_outq *q, const struct batch *b)
{
    char line[SM_REPORT_LINE_MAX];
    for (size_t off = 0; off < b->used;) {
        const struct item *it = (const struct item *)(const void *)(b->bytes + off);
        const unsigned char *data = (const unsigned char *)(it + 1);
        if (it->kind == ITEM_VERDICT || it->kind == ITEM_VERDICT_QUIET) {
            struct sm_verdict v;
            memcpy(&v, data, sizeof v);
            write_lines(q, line, sm_report_verdict_line(line, &v, q->seed),
                        it->kind == ITEM_VERDICT_QUIET);
        } else if (it->kind == ITEM_PACKED) {
            uint32_t plain;
            memcpy(&plain, data, sizeof plain);
            if (q->unpacked == NULL)
                q->unpacked = malloc(SM_NATS_OUT_MAX_LINES);
            if (q->unpacked != NULL &&
                sm_nats_out_unpack_block((const char *)data + sizeof plain,
                                         it->len - sizeof plain, q->unpacked, plain) == plain)
                write_lines(q, q->unpacked, plain, false);
            else
                atomic_fetch_add_explicit(&q->errors, 1, memory_order_relaxed);
        } else {
            write_lines(q, (const char *)data, it->len, false);
        }
        off += ITEM_SPACE(it->len);
    }
    if (b->flush && fflush(q->out) == EOF)
        atomic_fetch_add_explicit(&q->errors, 1, memory_order_relaxed);
}

static void *thread_main(void *arg)
{
    struct sm_outq *q = arg;
    pthread_mutex_lock(&q->mu);
    for (;;) {
        while (q->count == 0 && !q->stop)
            pthread_cond_wait(&q->cv, &q->mu);
        if (q->count == 0)
            break; /* stopped with nothing left */
        struct batch *b = q->ring[q->head];
        pthread_mutex_unlock(&q->mu);
        write_batch(q, b);
        pthread_mutex_lock(&q->mu);
        q->head = (q->head + 1) % NBATCH;
        q->count--;
        if (b->sync)
            q->synced = true;
        b->used = 0;
        b->flush = b->sync = false;
        q->spare[q->nspare++] = b;
        pthread_cond_broadcast(&q->cv);
    }
    pthread_mutex_unlock(&q->mu);
    return NULL;
}

sm_outq_t *sm_outq_new(FILE *out, void *pub, uint16_t community_id_seed)
{
    struct sm_outq *q = calloc(1, sizeof *q);
    if (q == NULL)
        return NULL;
    q->out = out;
    q->pub = pub;
    q->seed = community_id_seed;
    atomic_init(&q->errors, 0);
    for (int i = 0; i < NBATCH + 1; i++) {
        struct batch *b = malloc(sizeof *b);
        if (b == NULL)
            goto fail;
        b->used = 0;
        b->flush = b->sync = false;
        q->spare[q->nspare++] = b;
    }
    q->filling = q->spare[--q->nspare];
    if (pthread_mutex_init(&q->mu, NULL) != 0)
        goto fail;
    if (pthread_cond_init(&q->cv, NULL) != 0) {
        pthread_mutex_destroy(&q->mu);
        goto fail;
    }
    if (pthread_create(&q->thread, NULL, thread_main, q) != 0) {
        pthread_cond_destroy(&q->cv);
        pthread_mutex_destroy(&q->mu);
        goto fail;
    }
    return q;
fail:
    if (q->filling)
        q->spare[q->nspare++] = q->filling;
    for (size_t i = 0; i < q->nspare; i++)
        free(q->spare[i]);
    free(q);
    return NULL;
}

/* Puts the filling batch into the ring (waiting for room) and takes an empty one. */
static void submit(struct sm_outq *q)
{
    pthread_mutex_lock(&q->mu);
    while (q->count == NBATCH || q->nspare == 0)
        pthread_cond_wait(&q->cv, &q->mu);
    q->ring[(q->head + q->count) % NBATCH] = q->filling;
    q->count++;
    q->filling = q->spare[--q->nspare];
    pthread_cond_broadcast(&q->cv);
    pthread_mutex_unlock(&q->mu);
}

/* An item of kind whose bytes are head (hlen bytes) then data (len bytes). */
static void put2(struct sm_outq *q, enum item_kind kind, const void *head, size_t hlen,
                 const void *data, size_t len)
{
    if (q->filling->used + ITEM_SPACE(hlen + len) > BATCH_BYTES)
        submit(q);
    struct batch *b = q->filling;
    struct item *it = (struct item *)(void *)(b->bytes + b->used);
    it->kind = kind;
    it->len = (uint32_t)(hlen + len);
    if (hlen > 0)
        memcpy((unsigned char *)(it + 1), head, hlen);
    memcpy((unsigned char *)(it + 1) + hlen, data, len);
    b->used += ITEM_SPACE(hlen + len);
}

static void put(struct sm_outq *q, enum item_kind kind, const void *data, size_t len)
{
    put2(q, kind, NULL, 0, data, len);
}

void sm_outq_verdict(sm_outq_t *q, const struct sm_verdict *v, bool publish)
{
    put(q, publish ? ITEM_VERDICT : ITEM_VERDICT_QUIET, v, sizeof *v);
}

void sm_outq_line(sm_outq_t *q, const char *lines, size_t len)
{
    /* what does not fit one batch goes in several items, cut after a newline */
    const size_t most = BATCH_BYTES - ITEM_SPACE(0) - ITEM_ALIGN;
    while (len > most) {
        size_t n = most;
        while (n > 0 && lines[n - 1] != '\n')
            n--;
        if (n == 0)
            n = most; /* no newline in a whole batch: not lines, cut anyway */
        put(q, ITEM_LINE, lines, n);
        lines += n;
        len -= n;
    }
    if (len > 0)
        put(q, ITEM_LINE, lines, len);
}

bool sm_outq_packed(sm_outq_t *q, const char *block, size_t len, size_t plain)
{
    uint32_t n = (uint32_t)plain;
    if (plain == 0 || plain > SM_NATS_OUT_MAX_LINES ||
        ITEM_SPACE(sizeof n + len) > BATCH_BYTES - ITEM_ALIGN)
        return false;
    put2(q, ITEM_PACKED, &n, sizeof n, block, len);
    return true;
}

void sm_outq_flush(sm_outq_t *q)
{
    if (q->filling->used == 0)
        return; /* nothing was handed over since the last flush: nothing to flush */
    q->filling->flush = true;
    submit(q);
}

void sm_outq_sync(sm_outq_t *q, FILE *out, void *pub)
{
    q->filling->flush = true;
    q->filling->sync = true;
    pthread_mutex_lock(&q->mu);
    q->synced = false;
    pthread_mutex_unlock(&q->mu);
    submit(q);
    pthread_mutex_lock(&q->mu);
    while (!q->synced || q->count != 0)
        pthread_cond_wait(&q->cv, &q->mu);
    q->out = out; /* the thread reads them only after taking the next batch, under the mutex */
    q->pub = pub;
    pthread_mutex_unlock(&q->mu);
}

uint64_t sm_outq_errors(sm_outq_t *q)
{
    return atomic_load_explicit(&q->errors, memory_order_relaxed);
}

void sm_outq_destroy(sm_outq_t **q_p)
{
    struct sm_outq *q = *q_p;
    if (q == NULL)
        return;
    q->filling->flush = true;
    submit(q);
    pthread_mutex_lock(&q->mu);
    q->stop = true;
    pthread_cond_broadcast(&q->cv);
    pthread_mutex_unlock(&q->mu);
    pthread_join(q->thread, NULL);
    pthread_cond_destroy(&q->cv);
    pthread_mutex_destroy(&q->mu);
    free(q->filling);
    for (size_t i = 0; i < q->nspare; i++)
        free(q->spare[i]);
    free(q->unpacked);
    free(q);
    *q_p = NULL;
}
