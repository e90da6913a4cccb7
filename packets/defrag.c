/*
 * defrag.c - reassembly the way Wireshark decides it: a datagram completes on the frame that
 * fills its last hole, whichever order the fragments came in, and is then forgotten (a later
 * fragment with the same key starts a new datagram). Overlapping bytes are written by the
 * later fragment.
 *
 * Bounds: at most max_datagrams incomplete datagrams and max_bytes of buffered payload;
 * beyond either, the oldest incomplete datagram is dropped and counted. Lookup is a chained
 * hash with a random SipHash key, because fragment identifiers come from the wire.
 */
#include "defrag.h"

#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "siphash.h"
#include "addr.h"

#define MAX_DATAGRAM 65535u
#define MAX_RANGES 64u /* holes tracked per datagram; more fragments than this is hostile */

struct range {
    uint32_t start, end;
};

struct dgram {
    struct sm_frag_key key;
    uint64_t hash;
    struct dgram *hnext;            /* hash chain */
    struct dgram *older, *newer;    /* age list, oldest at head */
    uint8_t *buf;
    uint32_t buf_cap;
    uint32_t total;                 /* datagram length once the last fragment is seen */
    bool have_last;
    uint32_t nranges;
    struct range ranges[MAX_RANGES]; /* sorted, disjoint, non-adjacent */
};

struct sm_defrag {
    struct sm_sipkey key;
    struct dgram **buckets;
    size_t nbuckets;
    struct dgram *oldest, *newest;
    size_t count, bytes;
    size_t max_bytes, max_datagrams;
    uint8_t *done;      /* last completed payload, owned here */
};

sm_defrag_t *sm_defrag_new(size_t max_bytes, size_t max_datagrams)
{
    sm_defrag_t *df = sm_calloc(1, sizeof *df);
    if (df == NULL)
        return NULL;
    df->max_bytes = max_bytes;
    df->max_datagrams = max_datagrams;
    df->nbuckets = 1024;
    while (df->nbuckets < max_datagrams && df->nbuckets < (1u << 20))
        df->nbuckets *= 2;
    df->buckets = sm_calloc(df->nbuckets, sizeof *df->buckets);
    if (df->buckets == NULL) {
        free(df);
        return NULL;
    }
    sm_sipkey_random(&df->key);
    return df;
}

static void unlink_dgram(sm_defrag_t *df, struct dgram *d)
{
    struct dgram **pp = &df->buckets[d->hash & (df->nbuckets - 1)];
    while (*pp != d)
        pp = &(*pp)->hnext;
    *pp = d->hnext;
    if (d->older)
        d->older->newer = d->newer;
    else
        df->oldest = d->newer;
    if (d->newer)
        d->newer->older = d->older;
    else
        df->newest = d->older;
    df->count--;
    df->bytes -= d->buf_cap;
}

static void free_dgram(struct dgram *d)
{
    free(d->buf);
    free(d);
}

void sm_defrag_destroy(sm_defrag_t **self_p)
{
    if (self_p == NULL || *self_p == NULL)
        return;
    sm_defrag_t *df = *self_p;
    struct dgram *d = df->oldest;
    while (d) {
        struct dgram *n = d->newer;
        free_dgram(d);
        d = n;
    }
    free(df->buckets);
    free(df->done);
    free(df);
    *self_p = NULL;
}

static bool key_eq(const struct sm_frag_key *a, const struct sm_frag_key *b)
{
    return a->ident == b->ident && sm_addr_eq(&a->src, &b->src) && sm_addr_eq(&a->dst, &b->dst);
}

static uint64_t key_hash(const sm_defrag_t *df, const struct sm_frag_key *k)
{
    uint8_t flat[2 + 32 + 4];
    flat[0] = k->src.family;
    flat[1] = k->dst.family;
    memcpy(flat + 2, k->src.bytes, 16);
    memcpy(flat + 18, k->dst.bytes, 16);
    memcpy(flat + 34, &k->ident, 4);
    return sm_siphash(&df->key, flat, sizeof flat);
}

/* Adds [s, e) to the sorted range list, merging neighbours. Returns false if it is full. */
static bool add_range(struct dgram *d, uint32_t s, uint32_t e)
{
    uint32_t i = 0;
    while (i < d->nranges && d->ranges[i].end < s)
        i++;
    uint32_t j = i;
    while (j < d->nranges && d->ranges[j].start <= e) {
        if (d->ranges[j].start < s)
            s = d->ranges[j].start;
        if (d->ranges[j].end > e)
            e = d->ranges[j].end;
        j++;
    }
    if (i == j && d->nranges == MAX_RANGES)
        return false;
    /* Replace ranges [i, j) with one range. */
    uint32_t tail = d->nranges - j;
    memmove(&d->ranges[i + 1], &d->ranges[j], tail * sizeof d->ranges[0]);
    d->ranges[i].start = s;
    d->ranges[i].end = e;
    d->nranges = i + 1 + tail;
    return true;
}

/* Drops the oldest incomplete datagrams, except keep, until count and bytes fit. */
static void evict_to_fit(sm_defrag_t *df, const struct dgram *keep, size_t new_count,
                         size_t extra_bytes, uint64_t *evicted)
{
    struct dgram *d = df->oldest;
    while (d && (df->count + new_count > df->max_datagrams ||
                 df->bytes + extra_bytes > df->max_bytes)) {
        struct dgram *next = d->newer;
        if (d != keep) {
            unlink_dgram(df, d);
            free_dgram(d);
            (*evicted)++;
        }
        d = next;
    }
}

enum sm_defrag_result sm_defrag_add(sm_defrag_t *df, const struct sm_frag_key *key,
                                    uint32_t offset, bool more, const uint8_t *data,
                                    uint32_t len, const uint8_t **out, uint32_t *outlen,
                                    uint64_t *evicted)
{
    uint64_t end64 = (uint64_t)offset + len;
    if (end64 > MAX_DATAGRAM)
        return SM_DEFRAG_BAD;
    uint32_t end = (uint32_t)end64;
    uint64_t h = key_hash(df, key);
    struct dgram *d = df->buckets[h & (df->nbuckets - 1)];
    while (d && !(d->hash == h && key_eq(&d->key, key)))
        d = d->hnext;
    if (d == NULL) {
        evict_to_fit(df, NULL, 1, 0, evicted);
        d = sm_calloc(1, sizeof *d);
        if (d == NULL) {
            (*evicted)++; /* dropped for want of memory: the numbering may be inexact */
            return SM_DEFRAG_BAD;
        }
        d->key = *key;
        d->hash = h;
        size_t b = h & (df->nbuckets - 1);
        d->hnext = df->buckets[b];
        df->buckets[b] = d;
        d->older = df->newest;
        if (df->newest)
            df->newest->newer = d;
        else
            df->oldest = d;
        df->newest = d;
        df->count++;
    }
    if (!more) {
        /* A second, different end is a conflict; the newest word wins, as in Wireshark. */
        d->total = end;
        d->have_last = true;
    }
    if (end > d->buf_cap) {
        uint32_t ncap = d->buf_cap ? d->buf_cap : 2048;
        while (ncap < end)
            ncap *= 2;
        if (ncap > MAX_DATAGRAM)
            ncap = MAX_DATAGRAM;
        size_t extra = ncap - d->buf_cap;
        evict_to_fit(df, d, 0, extra, evicted);
        if (df->bytes + extra > df->max_bytes) {
            unlink_dgram(df, d);
            free_dgram(d);
            (*evicted)++;
            return SM_DEFRAG_BAD;
        }
        uint8_t *nb = sm_realloc(d->buf, ncap);
        if (nb == NULL) {
            unlink_dgram(df, d);
            free_dgram(d);
            (*evicted)++;
            return SM_DEFRAG_BAD;
        }
        memset(nb + d->buf_cap, 0, ncap - d->buf_cap);
        df->bytes += ncap - d->buf_cap;
        d->buf = nb;
        d->buf_cap = ncap;
    }
    if (len > 0) {
        memcpy(d->buf + offset, data, len);
        if (!add_range(d, offset, end)) {
            unlink_dgram(df, d);
            free_dgram(d);
            return SM_DEFRAG_BAD;
        }
    }
    if (d->have_last && d->nranges == 1 && d->ranges[0].start == 0 &&
        d->ranges[0].end >= d->total) {
        unlink_dgram(df, d);
        free(df->done);
        df->done = d->buf;
        d->buf = NULL;
        *out = df->done;
        *outlen = d->total;
        free_dgram(d);
        return SM_DEFRAG_COMPLETE;
    }
    return SM_DEFRAG_HELD;
}
