/*
 * snapshot.h - a loop's figures handed to a reader thread without ever blocking the loop.
 *
 * A triple buffer: the writer (the collector's or the agent's loop) fills its own buffer and
 * publishes it by swapping it with the middle one in one atomic exchange; the reader (the
 * metrics HTTP thread) takes the middle one the same way when a newer one was published. The
 * two never wait for each other and never touch the same buffer: the loop's cost is the
 * copy of its figures into its buffer, nothing else (docs/METRICS.md, "Cost"). One writer
 * thread, one reader thread.
 *
 * A reader that wants fresh figures says so (sm_snap_read with a timeout): the writer sees it
 * with sm_snap_wanted(), a relaxed atomic load it can afford every turn, and publishes.
 */
#ifndef SYNMATCH_SNAPSHOT_H
#define SYNMATCH_SNAPSHOT_H

#include <stdbool.h>
#include <stddef.h>

typedef struct sm_snap sm_snap_t;

/* Three zeroed buffers of size bytes (aligned for any type). NULL without memory. */
sm_snap_t *sm_snap_new(size_t size);
void sm_snap_destroy(sm_snap_t **s_p);

/* Writer: the buffer to fill (its previous contents are those of an older snapshot). */
void *sm_snap_back(sm_snap_t *s);
/* Writer: publishes what was filled; sm_snap_back() is another buffer afterwards. */
void sm_snap_publish(sm_snap_t *s);
/* Writer: a reader waits for a snapshot newer than the last one published. */
bool sm_snap_wanted(const sm_snap_t *s);

/* Reader: asks for a fresh snapshot and waits up to timeout_ms for it; returns the newest
 * one published (valid until the next call), or NULL if none ever was. */
const void *sm_snap_read(sm_snap_t *s, int timeout_ms);

#endif
