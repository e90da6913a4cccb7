/*
 * nats_source.h - the collector's JetStream side (private to the collector): the streams'
 * setup, and the records of the partitions a shard owns, replayed after a restart
 * (docs/ARCHITECTURE.md, "Durable transport"; docs/DEPLOY.md, "NATS JetStream").
 *
 * Each partition p has a durable push consumer, synmatch-p<p>, made by --nats-setup: it
 * remembers how far the shard owning p got (its delivered stream sequence D). A shard that
 * starts again first replays p from the stream, from D's time minus the replay horizon up to
 * D, through an ordered consumer of its own, and only then goes on with the durable one: what
 * the dead shard held undecided is decided again, and what it had already published is
 * recognised (nats_out.h) and not published twice.
 */
#ifndef SYNMATCH_COLLECTOR_NATS_SOURCE_H
#define SYNMATCH_COLLECTOR_NATS_SOURCE_H

#include <stddef.h>
#include <stdint.h>

#include "synmatch/nats.h"

typedef struct sm_nats_source sm_nats_source_t;

/* A message pushed to a shard and not acknowledged within this is pushed again: what a dying
 * server was delivering comes again after it. The books wait longer for a missing seq
 * (SM_NATS_GAP_WAIT_NS). */
#define SM_NATS_ACK_WAIT_NS (10 * INT64_C(1000000000))
#define SM_NATS_GAP_WAIT_NS (2 * SM_NATS_ACK_WAIT_NS + 5 * INT64_C(1000000000))
#define SM_NATS_REORDER_WINDOW 1024 /* parts held per stream while one is missing */

/* What --nats-setup makes: the two streams and one durable consumer per partition. */
struct sm_nats_setup_opts {
    struct sm_nats_conn_opts conn;
    uint32_t partitions;
    int replicas;          /* 1, or 3 in a cluster */
    int64_t max_age_ns;    /* how long the records stream keeps records */
    int64_t max_bytes;     /* and at most this many bytes (0 = no bound) */
    int64_t out_max_age_ns; /* how long the verdict stream keeps verdicts */
    int64_t duplicates_ns; /* the window in which a publish with a known id is dropped */
};

/* Creates the streams and every partition's consumer, or checks and updates them
 * (idempotent; a stream made with another partition count is an error, never changed). 0, or
 * -1 with one line in errbuf. Says what it did on stderr. */
int sm_nats_setup(const struct sm_nats_setup_opts *o, char *errbuf, size_t errlen);

struct sm_nats_source_opts {
    struct sm_nats_conn_opts conn;
    uint32_t partitions;    /* expected (0: take the stream's) */
    uint32_t shard, shards; /* this shard owns the partitions p with p % shards == shard */
    int64_t replay_ns;      /* the replay horizon */
};

/*
 * Connects (the servers must answer now), reads the stream's partition count, and binds to
 * the owned partitions' consumers, each after a replay of what its predecessor may have held.
 * NULL with one line in errbuf (no server, no stream or consumer: run --nats-setup; a
 * consumer another shard is bound to).
 */
sm_nats_source_t *sm_nats_source_new(const struct sm_nats_source_opts *o, char *errbuf,
                                     size_t errlen);

/* Called with each message's bytes, in stream order per partition. */
typedef void (*sm_nats_batch_fn)(void *arg, const uint8_t *buf, size_t len);

/*
 * Takes up to max messages that wait in the client (never waits for more), each partition in
 * turn, replays first, and hands each to fn. Returns how many were taken.
 */
int sm_nats_source_drain(sm_nats_source_t *s, int max, sm_nats_batch_fn fn, void *arg);

/* The connection (a natsConnection *), for the verdict publisher to share. */
void *sm_nats_source_connection(sm_nats_source_t *s);

uint32_t sm_nats_source_partitions(const sm_nats_source_t *s);
uint32_t sm_nats_source_owned(const sm_nats_source_t *s);
bool sm_nats_source_owns(const sm_nats_source_t *s, uint32_t p);

/* The earliest time (the servers' clock, ns) a replay starts from, or 0 when nothing is
 * replayed: verdicts published since then may be published again (nats_out.h). */
int64_t sm_nats_source_replay_from(const sm_nats_source_t *s);

/* Partitions still replaying, and messages replayed so far. */
uint32_t sm_nats_source_replaying(const sm_nats_source_t *s);
uint64_t sm_nats_source_replayed(const sm_nats_source_t *s);

/* Fetch requests made to the partitions' consumers, and the messages they brought. */
void sm_nats_source_fetches(const sm_nats_source_t *s, uint64_t *fetches, uint64_t *fetched);

void sm_nats_source_destroy(sm_nats_source_t **self_p);

#endif
