/*
 * snapshot.c - the triple buffer of snapshot.h.
 *
 * state holds the index of the middle buffer and, in bit 2, whether it is newer than what
 * the reader holds. The writer owns `back`, the reader `front`; each swaps its own with the
 * middle by an atomic exchange, so every buffer has exactly one owner at any time.
 */
#include "snapshot.h"

#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define FRESH 4u

struct sm_snap {
    unsigned char *buf[3];
    unsigned back, front;     /* the writer's, the reader's */
    atomic_uint state;        /* middle index | FRESH */
    atomic_uint_fast64_t generation; /* snapshots published */
    atomic_bool wanted;
};

sm_snap_t *sm_snap_new(size_t size)
{
    sm_snap_t *s = calloc(1, sizeof *s);
    if (s == NULL)
        return NULL;
    for (int i = 0; i < 3; i++) {
        s->buf[i] = malloc(size ? size : 1);
        if (s->buf[i] == NULL) {
            sm_snap_destroy(&s);
            return NULL;
        }
        /* written now, so that no publish pays for the first touch of its pages */
        memset(s->buf[i], 0, size ? size : 1);
    }
    s->back = 0;
    atomic_init(&s->state, 1u);
    s->front = 2;
    atomic_init(&s->generation, 0);
    atomic_init(&s->wanted, false);
    return s;
}

void sm_snap_destroy(sm_snap_t **s_p)
{
    sm_snap_t *s = *s_p;
    if (s == NULL)
        return;
    for (int i = 0; i < 3; i++)
        free(s->buf[i]);
    free(s);
    *s_p = NULL;
}

void *sm_snap_back(sm_snap_t *s)
{
    return s->buf[s->back];
}

void sm_snap_publish(sm_snap_t *s)
{
    unsigned prev = atomic_exchange_explicit(&s->state, s->back | FRESH, memory_order_acq_rel);
    s->back = prev & 3u;
    atomic_store_explicit(&s->wanted, false, memory_order_relaxed);
    atomic_fetch_add_explicit(&s->generation, 1, memory_order_release);
}

bool sm_snap_wanted(const sm_snap_t *s)
{
    return atomic_load_explicit(&((sm_snap_t *)s)->wanted, memory_order_relaxed);
}

const void *sm_snap_read(sm_snap_t *s, int timeout_ms)
{
    uint64_t gen = atomic_load_explicit(&s->generation, memory_order_acquire);
    if (timeout_ms > 0) {
        atomic_store_explicit(&s->wanted, true, memory_order_relaxed);
        struct timespec ms = {0, 1000000};
        for (int i = 0; i < timeout_ms &&
                        atomic_load_explicit(&s->generation, memory_order_acquire) == gen;
             i++)
            nanosleep(&ms, NULL);
        gen = atomic_load_explicit(&s->generation, memory_order_acquire);
    }
    if (gen == 0)
        return NULL;
    if (atomic_load_explicit(&s->state, memory_order_acquire) & FRESH) {
        unsigned prev = atomic_exchange_explicit(&s->state, s->front, memory_order_acq_rel);
        s->front = prev & 3u;
    }
    return s->buf[s->front];
}
