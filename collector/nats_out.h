/*
 * nats_out.h - a shard's output over JetStream (private to the collector): its verdict and
 * event lines go into the SYNMATCH_OUT stream first, and to its own --output (and alerts
 * socket) only once the stream has them (docs/ARCHITECTURE.md, "Durable transport").
 *
 * Exactly once across restarts: every verdict line carries a key naming its client SYN group
 * (sm_nats_out_key: the ISN, the first attempt's time and the client's tuple, with suspects
 * apart), sent beside the lines in a header. A shard that starts again, and replays what its
 * predecessor may have held, first reads the keys its partitions published since the replay
 * began; a verdict whose key is among them was published already and is dropped here, counted.
 * So the stream holds each final verdict once, and the shards' files together too, except for
 * what a shard killed between the stream's acknowledgement and its own write had not written
 * yet (the stream, which `synmatch tail nats://` follows, is the record).
 *
 * Lines are batched per subject (one message per partition's verdicts, one for events),
 * published asynchronously, and written in publish order as the acknowledgements come; a
 * publish that fails is sent again with its message id (the stream drops a copy it has).
 */
#ifndef SYNMATCH_COLLECTOR_NATS_OUT_H
#define SYNMATCH_COLLECTOR_NATS_OUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "synmatch/verdict.h"

typedef struct sm_nats_out sm_nats_out_t;

/* Where acknowledged lines go: the shard's file and alerts socket. */
typedef void (*sm_nats_out_write_fn)(void *arg, const char *lines, size_t len);
/* The same as an LZ4 block of plain bytes of lines (synmatch/nats.h), unpacked by whoever
 * writes them: false when it cannot take the block (then the lines go to the write). */
typedef bool (*sm_nats_out_write_packed_fn)(void *arg, const char *block, size_t len,
                                            size_t plain);

struct sm_nats_out_opts {
    void *nc; /* a natsConnection * (the source's) */
    uint32_t shard, shards, partitions;
    sm_nats_out_write_fn write;
    sm_nats_out_write_packed_fn write_packed; /* or NULL */
    void *arg;
    uint16_t community_id_seed; /* of the verdict lines' Community IDs */
};

sm_nats_out_t *sm_nats_out_new(const struct sm_nats_out_opts *o, char *errbuf, size_t errlen);

/* The key of verdict v's client SYN group (suspects apart from final verdicts). */
uint64_t sm_nats_out_key(const struct sm_verdict *v);

/*
 * Reads the keys of the verdicts published on the partitions this shard owns since the
 * servers' time since_ns (the replay's start): those are not published again. 0, or -1 with
 * one line in errbuf.
 */
int sm_nats_out_load_published(sm_nats_out_t *o, uint32_t partitions, int64_t since_ns,
                               char *errbuf, size_t errlen);

/* The keys loaded are no longer needed (every replayed group is decided). */
void sm_nats_out_forget_published(sm_nats_out_t *o);

/* A verdict of partition p (copied; its reason must be static), its line formatted by the
 * packer thread. false when key was published already (not sent). */
bool sm_nats_out_verdict(sm_nats_out_t *o, uint32_t p, uint64_t key, const struct sm_verdict *v);

/* An event line of this shard. */
void sm_nats_out_event(sm_nats_out_t *o, const char *line, size_t len);

/*
 * Publishes the batches that are full or older than the flush interval (all of them with
 * flush_all), sends again what failed, and writes what was acknowledged, in publish order.
 * now: monotonic ns.
 */
void sm_nats_out_pump(sm_nats_out_t *o, int64_t now, bool flush_all);

/* True while too much waits for acknowledgement: the caller stops taking records. */
bool sm_nats_out_backlogged(const sm_nats_out_t *o);

/* Publishes everything and waits up to timeout_ms for the acknowledgements, writing as they
 * come. 0 when everything was stored and written, -1 otherwise (said on stderr). */
int sm_nats_out_finish(sm_nats_out_t *o, int timeout_ms);

struct sm_nats_out_stats {
    uint64_t lines, messages, resends, already_published, keys_loaded;
    uint64_t line_bytes, packed_bytes; /* the lines, and what was sent of them (nats.h) */
    size_t in_flight;
};
void sm_nats_out_stats(const sm_nats_out_t *o, struct sm_nats_out_stats *out);

void sm_nats_out_destroy(sm_nats_out_t **self_p);

#endif
