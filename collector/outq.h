/*
 * outq.h - the collector's output thread: verdicts and event lines handed over in order,
 * formatted and written (output stream, alerts PUB socket) by a thread of their own.
 *
 * Writing a verdict line (JSON, two Community IDs: about half a microsecond) was a third of
 * the collector loop's time per verdict; the loop only copies the verdict into a batch now.
 * Batches keep the order in which lines were handed over, so the output is the one a
 * single thread writes. The number of batches in flight is bounded: when the thread falls
 * behind (a slow disk), the loop waits for it, as it waited for fwrite before.
 */
#ifndef SYNMATCH_OUTQ_H
#define SYNMATCH_OUTQ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "synmatch/verdict.h"

typedef struct sm_outq sm_outq_t;

/*
 * Starts the thread. It writes to out (which nobody else may write until sm_outq_destroy())
 * and, when pub is not NULL, sends each line on that ZeroMQ socket without blocking (PUB
 * drops at its high-water mark), which nobody else may use until sm_outq_destroy() or
 * sm_outq_sync(). Verdict lines carry Community IDs with community_id_seed. Returns NULL
 * without memory or a thread (the caller writes itself then).
 */
sm_outq_t *sm_outq_new(FILE *out, void *pub, uint16_t community_id_seed);

/* Hands a verdict over (copied; its reason must be static). Its line goes to the output,
 * and to the PUB socket when publish (false: its service is over the alerts socket's limit).
 * May wait for room. */
void sm_outq_verdict(sm_outq_t *q, const struct sm_verdict *v, bool publish);

/* Hands finished lines over (copied; one or more, each with its newline, any length: the
 * PUB socket gets one message per line). May wait for room. */
void sm_outq_line(sm_outq_t *q, const char *lines, size_t len);

/* Hands over lines as an LZ4 block of plain bytes of them (synmatch/nats.h: a shard's stored
 * verdicts), copied and unpacked by the thread. false, nothing handed over, when the block
 * is too big for one of the queue's batches (the caller unpacks it and hands the lines). */
bool sm_outq_packed(sm_outq_t *q, const char *block, size_t len, size_t plain);

/* Hands over what is pending and has the thread flush the output after writing it. Does
 * not wait for the writing. */
void sm_outq_flush(sm_outq_t *q);

/* Hands over what is pending and waits until all of it is written and flushed: the thread
 * then touches neither the output nor the PUB socket until the next call of this queue.
 * Then out and pub (NULL: none) are the ones the lines to come go to. For reopening the
 * alerts socket (or the output file). */
void sm_outq_sync(sm_outq_t *q, FILE *out, void *pub);

/* Lines the thread could not write to out in full, so far. */
uint64_t sm_outq_errors(sm_outq_t *q);

/* Writes what is pending, flushes, stops the thread and frees the queue. NULL-safe. */
void sm_outq_destroy(sm_outq_t **q_p);

#endif
