/*
 * stream.h - Wireshark-compatible tcp.stream numbering (docs/tcp-stream-numbering.md).
 *
 * Feed every TCP header of a file in file order, as the decoder reports them (quoted ones
 * included); each gets the stream index tshark 4.0 would print. Memory grows with the number
 * of distinct endpoint pairs only: just the newest conversation of a pair is ever consulted
 * again, so one table slot per pair holds it.
 *
 * The table has a hard cap. When it is full, the least recently used pair is forgotten; from
 * then on a packet of a forgotten pair gets a new index where tshark would have reused the
 * old one, so the numbering is no longer exact. sm_streams_exact() says whether that
 * happened and sm_streams_first_inexact_frame() from where.
 */
#ifndef SYNMATCH_STREAM_H
#define SYNMATCH_STREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "synmatch/decode.h"

typedef struct sm_streams sm_streams_t;

#define SM_STREAMS_DEFAULT_MAX 4000000u

/* max_conversations: endpoint pairs kept (0 = SM_STREAMS_DEFAULT_MAX). NULL when out of memory. */
sm_streams_t *sm_streams_new(size_t max_conversations);
void sm_streams_destroy(sm_streams_t **self_p);

/* Numbers one TCP header (rules R1-R8). Returns its tcp.stream. */
int64_t sm_streams_assign(sm_streams_t *s, const struct sm_tcp_view *v);

/*
 * The same in two steps, so that a reader can look up several headers ahead: prepare builds a
 * header's key and hash and prefetches its home slot (it changes nothing), and
 * assign_prepared numbers it. Headers must still be assigned one by one in file order;
 * between the two steps the table may grow, which makes the prefetch useless but nothing
 * wrong. A preparation belongs to the table that made it (its hash keys are the table's own,
 * random): given to another, it would number the pair as a new one.
 */
struct sm_streams_prep {
    uint8_t key[36]; /* the pair's canonical key (12 bytes for IPv4) */
    uint32_t hash;
    uint8_t flow; /* the sender's side of the pair, 0 or 1 */
    bool v6;
};
void sm_streams_prepare(const sm_streams_t *s, const struct sm_tuple *t,
                        struct sm_streams_prep *p);
int64_t sm_streams_assign_prepared(sm_streams_t *s, const struct sm_tcp_view *v,
                                   const struct sm_streams_prep *p);

/* Streams created so far (the next index). */
uint64_t sm_streams_count(const sm_streams_t *s);

/* Endpoint pairs held now (at most max_conversations). */
size_t sm_streams_pairs(const sm_streams_t *s);

/* False once a pair had to be forgotten. */
bool sm_streams_exact(const sm_streams_t *s);
uint64_t sm_streams_evicted(const sm_streams_t *s);
uint64_t sm_streams_first_inexact_frame(const sm_streams_t *s);

#endif
