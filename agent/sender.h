/*
 * sender.h - the agent's side of the transport: a link (link.h: ZeroMQ PUSH to the
 * collector, or JetStream), plus a bounded queue of encoded batches of its own (private to
 * the agent).
 *
 * The capture loop must never block on the network. Sends are non-blocking; while the
 * collector is away the link holds what it can (ZeroMQ a few messages, libnats its reconnect
 * buffer), then this queue holds up to queue_max batches more (of every partition's parts),
 * retried on every sm_sender_pump(). When both are full the OLDEST queued part is dropped:
 * its record count and capture-time span are counted (per partition too), and the agent
 * declares them in the next batch it builds (sm_sender_take_unsent()). A dropped part keeps
 * its seq, so the collector also sees the gap.
 */
#ifndef SYNMATCH_AGENT_SENDER_H
#define SYNMATCH_AGENT_SENDER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "link.h"

typedef struct sm_sender sm_sender_t;

#define SM_SENDER_DEFAULT_QUEUE 1000 /* batches in the sender's own queue */
#define SM_SENDER_DEFAULT_LINGER_MS 2000
/* A replay as fast as the collector takes it waits for the collector all along (agent.c,
 * wait_for_room()); its end waits as long: a collector busy for a few seconds (a log
 * rotation on a slow disk, a sanitizer build) must not cost the last batches and the end of
 * stream. ZeroMQ returns as soon as it has written them, so the normal end costs nothing. */
#define SM_SENDER_REPLAY_LINGER_MS 60000

struct sm_sender_opts {
    struct sm_link_opts link; /* the endpoint and what its transport needs */
    size_t queue_max;         /* batches; 0 = SM_SENDER_DEFAULT_QUEUE */
};

/* Cumulative since sm_sender_new(); a part of a partitioned batch counts as a batch. */
struct sm_sender_stats {
    uint64_t batches_sent, records_sent;     /* handed to the link */
    uint64_t batches_unsent, records_unsent; /* dropped from the queue (or left at the end) */
    uint64_t batches_failed; /* taken by the link, then given up (sm_link_failed) */
    size_t queued;                           /* in the sender's own queue now */
};

/*
 * Opens the link the endpoint names (sm_link_open). Returns NULL with one line in errbuf
 * naming the endpoint when it is malformed or its options are wrong. A collector that is not
 * there yet is not an error: messages queue until it appears.
 */
sm_sender_t *sm_sender_new(const struct sm_sender_opts *opts, char *errbuf, size_t errlen);

/*
 * Closes the link without waiting and frees everything, queued batches included (not
 * counted). Use sm_sender_finish() first for an orderly end. NULL-safe.
 */
void sm_sender_destroy(sm_sender_t **self_p);

/*
 * Retries the queue, oldest first, until the link refuses one. Never blocks. Returns 0, or -1
 * on an error other than "would block" (logged once; the batches stay queued).
 */
int sm_sender_pump(sm_sender_t *s);

/*
 * Makes room for one more batch: pumps, and if the queue is still full drops the oldest
 * batch and counts it. Call it before building a batch, so that a drop it causes is declared
 * in that very batch.
 */
void sm_sender_make_room(sm_sender_t *s);

/*
 * If records were dropped since the last call, returns true with the capture-time span of
 * those records (*from_ns <= *to_ns) and starts a new span. A dropped batch without records
 * leaves no span: its seq gap and batches_unsent tell of it. A dropped batch that itself
 * carried a declaration hands that span on, so a span is only forgotten once a batch carrying
 * it has been handed to the link.
 */
bool sm_sender_take_unsent(sm_sender_t *s, int64_t *from_ns, int64_t *to_ns);

/* What the sender must know about a batch to account for it if it is dropped. */
struct sm_sender_batch {
    size_t nrecs;            /* records in it */
    int64_t min_ts, max_ts;  /* their capture-time span (ignored when nrecs is 0) */
    bool declares;           /* it carries an unsent span from sm_sender_take_unsent() */
    int64_t unsent_from, unsent_to;
    uint32_t partition;      /* the part's partition (0 when not partitioned) */
    uint64_t seq;            /* the batch's seq */
};

/*
 * Sends an encoded batch, or queues it behind earlier ones. Takes ownership of *buf_p (a
 * malloc'd buffer of len bytes) and NULLs it. Call sm_sender_make_room() first; without room
 * the oldest batch is dropped here.
 */
void sm_sender_push(sm_sender_t *s, uint8_t **buf_p, size_t len, const struct sm_sender_batch *b);

/* Counts a batch that could not even be queued (its encoding failed) as unsent. */
void sm_sender_discard(sm_sender_t *s, const struct sm_sender_batch *b);

/*
 * Orderly end: pumps the queue until it is empty or timeout_ms have passed, then closes the
 * link with the time left, so what the link holds drains within the same bound. What is
 * still queued at the deadline is counted as unsent. Returns 0 if everything was handed over
 * and, as far as the link can tell, delivered; -1 otherwise. The sender can only be
 * destroyed afterwards.
 */
int sm_sender_finish(sm_sender_t *s, unsigned timeout_ms);

void sm_sender_stats(const sm_sender_t *s, struct sm_sender_stats *out);

/* How many partitions a batch is split into (1 on ZeroMQ). */
uint32_t sm_sender_partitions(const sm_sender_t *s);

/* Partition p's share of records_unsent and batches_unsent (each part counts for its own). */
void sm_sender_part_unsent(const sm_sender_t *s, uint32_t p, uint64_t *records,
                           uint64_t *batches);

#endif
