/*
 * defrag.c - reassembly the way Wireshark decides it: a datagram completes on the frame that
 * fills its last hole, whichever order the fragments came in, and is then forgotten (a later
 * fragment with the same key starts a new datagram). Overlapping bytes are the fragment's
 * of the lowest offset, of equal offsets the first one's (Wireshark's reassemble.c keeps its
 * fragments sorted by offset, equal ones in arrival order, and copies each only past what the
 * ones before it covered); fragments past the datagram's end do not keep it from completing.
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
#define MAX_FRAGS 4096u /* fragments per datagram (8-byte ones fill 64 KiB with 8192) */

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
    uint32_t cover;                  /* bytes 0..cover are all there */
    struct range *frags;             /* every fragment, by offset (equal: arrival order) */
    uint32_t nfrags, frags_cap;
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
    df->bytes -= d->buf_cap + d->frags_cap * sizeof *d->frags;
}

static void free_dgram(struct dgram *d)
{
    free(d->frags);
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

/* Where the bytes a fragment at s writes begin: the fragments at or before s keep theirs. */
static uint32_t first_own_byte(const struct dgram *d, uint32_t s)
{
    uint32_t m = s;
    for (uint32_t i = 0; i < d->nfrags && d->frags[i].start <= s; i++)
        if (d->frags[i].end > m)
            m = d->frags[i].end;
    return m;
}

/* Files fragment [s, e) after those at or before s (its list's memory counts in the cap). */
static bool add_frag(sm_defrag_t *df, struct dgram *d, uint32_t s, uint32_t e, uint64_t *evicted)
{
    if (d->nfrags == d->frags_cap) {
        if (d->frags_cap == MAX_FRAGS)
            return false;
        uint32_t ncap = d->frags_cap ? 2 * d->frags_cap : 8;
        size_t extra = (ncap - d->frags_cap) * sizeof *d->frags;
        evict_to_fit(df, d, 0, extra, evicted);
        struct range *nf =
            df->bytes + extra > df->max_bytes ? NULL : sm_realloc(d->frags, ncap * sizeof *nf);
        if (nf == NULL) {
            (*evicted)++; /* dropped for want of memory: the numbering may be inexact */
            return false;
        }
        df->bytes += extra;
        d->frags = nf;
        d->frags_cap = ncap;
    }
    uint32_t i = d->nfrags;
    while (i > 0 && d->frags[i - 1].start > s)
        i--;
    memmove(&d->frags[i + 1], &d->frags[i], (d->nfrags - i) * sizeof d->frags[0]);
    d->frags[i].start = s;
    d->frags[i].end = e;
    d->nfrags++;
    /* what is there from byte 0 on, as far as it goes without a hole */
    for (; i < d->nfrags && d->frags[i].start <= d->cover; i++)
        if (d->frags[i].end > d->cover)
            d->cover = d->frags[i].end;
    return true;
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
    if (!more && !d->have_last) {
        /* The first last fragment gives the length; a second, different end is only a
         * conflict (Wireshark: "multiple tails"), the length stays. */
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
        uint32_t from = first_own_byte(d, offset);
        if (from < end)
            memcpy(d->buf + from, data + (from - offset), end - from);
        if (!add_frag(df, d, offset, end, evicted)) {
            bool too_many = d->nfrags == MAX_FRAGS;
            unlink_dgram(df, d);
            free_dgram(d);
            return too_many ? SM_DEFRAG_TOO_MANY : SM_DEFRAG_BAD;
        }
    }
    if (d->have_last && d->cover >= d->total) {
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
