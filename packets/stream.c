/*
 * stream.c - tcp.stream numbering as tshark 4.0 does it, with memory bounded by the number of
 * endpoint pairs.
 *
 * Two open-addressing tables (linear probing, keyed universal hashing because files can be
 * hostile):
 * one for IPv4 pairs (12-byte keys, 32-byte slots) and one for IPv6 pairs (36-byte keys,
 * 64-byte slots), so the common IPv4 case costs well under half the memory. Each slot keeps
 * 29 bits of its hash, below its three flags: growing the table needs no rehashing, and most
 * probes that are not the key are rejected without comparing keys. A slot holds the newest conversation
 * of its pair: its stream index, and the two flows' base sequence numbers (R6). R3 ("a SYN
 * with a new ISN starts a new conversation") simply overwrites the slot, since the older
 * conversation of a pair is never consulted again.
 *
 * Eviction at the cap is approximate LRU (the least recently used of a sample of slots),
 * with backward-shift deletion so probing stays correct without tombstones.
 */
#include "synmatch/stream.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "hugemem.h"
#include "siphash.h"

#define LOAD_NUM 7 /* grow past 70% full */
#define LOAD_DEN 10
#define EVICT_SAMPLE 16
#define INITIAL_SLOTS 1024u

/* The flags take the top three bits of a slot's hash word (struct slot_hdr). */
#define SLOT_USED (1u << 29)
#define SLOT_BASE0 (1u << 30)
#define SLOT_BASE1 (1u << 31)

#define HASH_MASK (SLOT_USED - 1)
/* Tables stay below 2^29 slots: the home slot comes from the hash's 29 bits. */
#define MAX_SLOTS ((size_t)SLOT_USED)

/*
 * 20 bytes and the key: an IPv4 slot is 32 bytes, two to a cache line, none across two (at
 * 40 bytes with a flags byte of its own, half the slots straddled two lines, and every
 * packet's lookup is a cache miss on a table the size of the connections).
 */
struct slot_hdr {
    uint32_t hf; /* 29 bits of the key's hash, below the SLOT_* flags */
    uint32_t stream;
    uint32_t base[2];
    uint32_t last_used;
    uint8_t key[]; /* addrA, addrB, portA, portB with (addrA, portA) <= (addrB, portB) */
};

/* mask < 2^29: the flags never take part. */
static inline size_t home_of(uint32_t hf, size_t mask)
{
    return hf & mask;
}

struct table {
    uint8_t *slots;
    size_t nslots; /* power of two */
    size_t used;
    size_t slot_size;
    size_t key_len;
};

struct sm_streams {
    struct table v4, v6;
    uint64_t mul[9], add; /* random keys of the multiply-add-shift hash */
    size_t max_pairs;
    uint64_t next_stream;
    uint32_t clock; /* headers seen, for LRU */
    uint64_t evicted;
    uint64_t first_inexact_frame;
    uint64_t rng;
};

/* 32 bytes for IPv4, 64 for IPv6 (56 used): slots never straddle cache lines. */
static inline size_t slot_size_for(size_t key_len)
{
    return sizeof(struct slot_hdr) + key_len <= 32 ? 32 : 64;
}

/*
 * Tables of SM_HUGE_FROM or more come whole in huge pages (hugemem.h): a growing table is
 * written all over while its members move in, and in 4 KiB pages each doubling faulted every
 * page of the new table anew (a third of compare's page faults on a 100 MB pair).
 */
static bool table_huge(const struct table *t)
{
    return t->nslots * t->slot_size >= SM_HUGE_FROM;
}

static void table_free(struct table *t)
{
    sm_block_free(t->slots, t->nslots * t->slot_size);
    t->slots = NULL;
}

static int table_init(struct table *t, size_t key_len)
{
    t->key_len = key_len;
    t->slot_size = slot_size_for(key_len);
    t->nslots = INITIAL_SLOTS;
    t->used = 0;
    t->slots = sm_block_alloc(t->nslots * t->slot_size);
    return t->slots ? 0 : -1;
}

static inline struct slot_hdr *slot_at(const struct table *t, size_t i)
{
    return (struct slot_hdr *)(t->slots + i * t->slot_size);
}

sm_streams_t *sm_streams_new(size_t max_conversations)
{
    sm_streams_t *s = sm_calloc(1, sizeof *s);
    if (s == NULL)
        return NULL;
    s->max_pairs = max_conversations ? max_conversations : SM_STREAMS_DEFAULT_MAX;
    struct sm_sipkey seed[5];
    for (int i = 0; i < 5; i++)
        sm_sipkey_random(&seed[i]);
    memcpy(s->mul, seed, sizeof s->mul);
    s->add = seed[4].k1;
    s->rng = seed[4].k0 | 1;
    if (table_init(&s->v4, 12) == -1 || table_init(&s->v6, 36) == -1) {
        sm_streams_destroy(&s);
        return NULL;
    }
    return s;
}

void sm_streams_destroy(sm_streams_t **self_p)
{
    if (self_p == NULL || *self_p == NULL)
        return;
    table_free(&(*self_p)->v4);
    table_free(&(*self_p)->v6);
    free(*self_p);
    *self_p = NULL;
}

/*
 * Multiply-add-shift over 32-bit words with random 64-bit keys (Dietzfelbinger): strongly
 * universal, so without knowing the keys a crafted capture cannot aim its pairs at one probe
 * run; a file gives the attacker no view of the hash to adapt to. An eighth of SipHash's cost
 * on the per-packet path. (The live collector, which answers over the network, uses SipHash.)
 */
static inline uint32_t hash_key(const sm_streams_t *s, const uint8_t *key, size_t len)
{
    uint64_t h = s->add;
    for (size_t i = 0; i < len / 4; i++) {
        uint32_t w;
        memcpy(&w, key + 4 * i, 4);
        h += s->mul[i] * w;
    }
    return (uint32_t)(h >> 32);
}

/*
 * Doubles a table in huge pages where it lies: its block grows by the new half (fresh zeroed
 * pages, moved, never copied: sm_huge_grow), and the members are placed for the new mask
 * with a bitmap of the slots placed so far. A member goes to the first slot from its home that
 * is not placed yet; a member not placed yet that sits there is taken out and placed next
 * (as khash resizes in place). Every slot a member's probe run crosses was placed before it
 * and stays so: the table is a valid linear-probing table. Against a new table filled from
 * the old, only the new half is first-touched (half of all the pages a growing table ever
 * faults, at 1 to 3 ms a huge page in a virtual machine), and the old and the new table are
 * never both resident. Returns -1 when it cannot (the table is unchanged then).
 */
static int table_grow_in_place(struct table *t)
{
    size_t old_n = t->nslots, n = old_n * 2, mask = n - 1, ss = t->slot_size;
    uint64_t *placed = calloc(n / 64 + 1, sizeof *placed);
    if (placed == NULL)
        return -1;
    uint8_t *slots = sm_block_grow(t->slots, old_n * ss, n * ss);
    if (slots == NULL) {
        free(placed);
        return -1;
    }
    t->slots = slots;
    t->nslots = n;
    uint8_t moving[64], kicked[64];
    assert(ss <= sizeof moving); /* slot_size_for(): 32 or 64 */
    for (size_t j = 0; j < old_n; j++) {
        struct slot_hdr *e = slot_at(t, j);
        if (!(e->hf & SLOT_USED) || (placed[j / 64] >> (j % 64) & 1))
            continue;
        memcpy(moving, e, ss);
        memset(e, 0, ss);
        for (;;) {
            size_t i = home_of(((struct slot_hdr *)moving)->hf, mask);
            while (placed[i / 64] >> (i % 64) & 1)
                i = (i + 1) & mask;
            placed[i / 64] |= (uint64_t)1 << (i % 64);
            struct slot_hdr *d = slot_at(t, i);
            if (!(d->hf & SLOT_USED)) { /* free: the move ends here */
                memcpy(d, moving, ss);
                break;
            }
            memcpy(kicked, d, ss); /* a member not placed yet: it moves next */
            memcpy(d, moving, ss);
            memcpy(moving, kicked, ss);
        }
    }
    free(placed);
    return 0;
}

/* Doubles the table. Returns -1 if memory is short (the caller then evicts instead). */
static int table_grow(struct table *t)
{
    if (table_huge(t) && table_grow_in_place(t) == 0)
        return 0;
    size_t n = t->nslots * 2;
    uint8_t *ns = sm_block_alloc(n * t->slot_size);
    if (ns == NULL)
        return -1;
    for (size_t i = 0; i < t->nslots; i++) {
        struct slot_hdr *e = slot_at(t, i);
        if (!(e->hf & SLOT_USED))
            continue;
        size_t j = home_of(e->hf, n - 1);
        while (((struct slot_hdr *)(ns + j * t->slot_size))->hf & SLOT_USED)
            j = (j + 1) & (n - 1);
        memcpy(ns + j * t->slot_size, e, t->slot_size);
    }
    table_free(t);
    t->slots = ns;
    t->nslots = n;
    return 0;
}

/* Removes slot i, shifting later members of its probe run back (no tombstones). */
static void table_delete(struct table *t, size_t i)
{
    size_t mask = t->nslots - 1;
    size_t j = i;
    for (;;) {
        j = (j + 1) & mask;
        struct slot_hdr *e = slot_at(t, j);
        if (!(e->hf & SLOT_USED))
            break;
        size_t home = home_of(e->hf, mask);
        /* e may move to i if its home is not in the cyclic range (i, j]. */
        bool in_range = i <= j ? (home > i && home <= j) : (home > i || home <= j);
        if (!in_range) {
            memcpy(slot_at(t, i), e, t->slot_size);
            i = j;
        }
    }
    memset(slot_at(t, i), 0, t->slot_size);
    t->used--;
}

static uint64_t next_rand(sm_streams_t *s)
{
    s->rng ^= s->rng << 13;
    s->rng ^= s->rng >> 7;
    s->rng ^= s->rng << 17;
    return s->rng;
}

/* Forgets the least recently used of a sample of pairs, from t if it holds any. */
static void evict_one(sm_streams_t *s, struct table *t, uint64_t frame)
{
    if (t->used == 0)
        t = t == &s->v4 ? &s->v6 : &s->v4;
    if (t->used == 0)
        return;
    size_t mask = t->nslots - 1;
    size_t i = next_rand(s) & mask;
    size_t victim = SIZE_MAX;
    uint32_t oldest_age = 0;
    for (unsigned seen = 0; seen < EVICT_SAMPLE && seen < t->used;) {
        struct slot_hdr *e = slot_at(t, i);
        if (e->hf & SLOT_USED) {
            uint32_t age = s->clock - e->last_used;
            if (victim == SIZE_MAX || age > oldest_age) {
                victim = i;
                oldest_age = age;
            }
            seen++;
        }
        i = (i + 1) & mask;
    }
    table_delete(t, victim);
    if (s->evicted++ == 0)
        s->first_inexact_frame = frame;
}

/*
 * Returns the slot of key, creating it (with a new stream index) if absent. Always inlined
 * with constant key and slot sizes (one copy per table): the probe loop then steps by a
 * constant stride and compares keys inline, which is most of the per-packet cost here.
 */
static inline __attribute__((always_inline)) struct slot_hdr *
find_or_insert_sized(sm_streams_t *s, struct table *t, const uint8_t *key, uint32_t h,
                     uint64_t frame, size_t key_len, size_t slot_size)
{
    for (;;) {
        size_t mask = t->nslots - 1, i = home_of(h, mask);
        uint8_t *base = t->slots;
        struct slot_hdr *e;
        for (;;) {
            e = (struct slot_hdr *)(base + i * slot_size);
            if (!(e->hf & SLOT_USED))
                break;
            if ((e->hf & HASH_MASK) == h && memcmp(e->key, key, key_len) == 0)
                return e;
            i = (i + 1) & mask;
        }
        if (s->v4.used + s->v6.used >= s->max_pairs) {
            evict_one(s, t, frame);
            continue; /* deletion may have moved slots: probe again */
        }
        if ((t->used + 1) * LOAD_DEN > t->nslots * LOAD_NUM) {
            if (t->nslots >= MAX_SLOTS || table_grow(t) == -1)
                evict_one(s, t, frame);
            continue;
        }
        memcpy(e->key, key, key_len);
        e->hf = h | SLOT_USED;
        e->stream = (uint32_t)s->next_stream++;
        t->used++;
        return e;
    }
}

#define V4_KEY 12
#define V6_KEY 36
_Static_assert(sizeof((struct sm_streams_prep *)0)->key == V6_KEY, "a prepared key holds IPv6");

static struct slot_hdr *find_or_insert_v4(sm_streams_t *s, const uint8_t *key, uint32_t h,
                                          uint64_t frame)
{
    return find_or_insert_sized(s, &s->v4, key, h, frame, V4_KEY, slot_size_for(V4_KEY));
}

static struct slot_hdr *find_or_insert_v6(sm_streams_t *s, const uint8_t *key, uint32_t h,
                                          uint64_t frame)
{
    return find_or_insert_sized(s, &s->v6, key, h, frame, V6_KEY, slot_size_for(V6_KEY));
}

static inline uint64_t load_be64(const uint8_t *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
    return __builtin_bswap64(v);
}

static inline uint32_t load_be32(const uint8_t *p)
{
    uint32_t v;
    memcpy(&v, p, 4);
    return __builtin_bswap32(v);
}

/* The sign of memcmp over the raw address bytes (big-endian words compare alike). */
static inline int addr_cmp(const uint8_t *a, const uint8_t *b, bool v6)
{
    if (!v6) {
        uint32_t x = load_be32(a), y = load_be32(b);
        return (x > y) - (x < y);
    }
    uint64_t x = load_be64(a), y = load_be64(b);
    if (x == y) {
        x = load_be64(a + 8);
        y = load_be64(b + 8);
    }
    return (x > y) - (x < y);
}

/* Inlined once per address length, so the copies and the hash run on constant sizes. */
static inline __attribute__((always_inline)) void
prepare_sized(const sm_streams_t *s, const struct sm_tuple *tp, struct sm_streams_prep *p,
              bool v6)
{
    const size_t alen = v6 ? 16 : 4;

    /* R1: the sender's flow, from the raw address order, then the ports. */
    int d = addr_cmp(tp->src.bytes, tp->dst.bytes, v6);
    bool src_first = d < 0 || (d == 0 && tp->sport <= tp->dport);
    if (d == 0)
        d = tp->sport > tp->dport ? 1 : -1;
    p->flow = d >= 0 ? 0 : 1;

    /* The unordered pair as a canonical key: the smaller endpoint first. */
    const uint8_t *a = src_first ? tp->src.bytes : tp->dst.bytes;
    const uint8_t *b = src_first ? tp->dst.bytes : tp->src.bytes;
    uint16_t pa = src_first ? tp->sport : tp->dport, pb = src_first ? tp->dport : tp->sport;
    memcpy(p->key, a, alen);
    memcpy(p->key + alen, b, alen);
    p->key[2 * alen] = (uint8_t)(pa >> 8);
    p->key[2 * alen + 1] = (uint8_t)pa;
    p->key[2 * alen + 2] = (uint8_t)(pb >> 8);
    p->key[2 * alen + 3] = (uint8_t)pb;
    p->hash = hash_key(s, p->key, v6 ? V6_KEY : V4_KEY) & HASH_MASK;
    p->v6 = v6;
}

/* R3-R6 on the pair's slot; returns the header's stream index. */
static inline int64_t apply(sm_streams_t *s, const struct sm_tcp_view *v, struct slot_hdr *e,
                            unsigned f)
{
    const struct sm_record *r = &v->rec;
    unsigned rv = 1 - f;
    uint32_t fbit = SLOT_BASE0 << f, rbit = SLOT_BASE0 << rv;
    e->last_used = s->clock;

    bool syn = (r->flags & SM_TH_SYN) != 0, ack = (r->flags & SM_TH_ACK) != 0;
    if (syn && (e->hf & fbit) && r->seq != e->base[f]) {
        if (!ack) {
            /* R3: a SYN with another ISN starts a new conversation for the pair. */
            e->stream = (uint32_t)s->next_stream++;
            e->hf = (e->hf & HASH_MASK) | SLOT_USED;
        } else {
            /* R4: a SYN/ACK only moves the base. */
            e->base[f] = r->seq;
        }
    }
    int64_t stream = e->stream;

    /* R6: base learning, only from analyzable headers (R8). */
    if (v->analyzable) {
        if (!(e->hf & fbit)) {
            e->base[f] = syn ? r->seq : r->seq - 1;
            e->hf |= fbit;
        }
        if (ack && !(e->hf & rbit)) {
            e->base[rv] = r->ack - 1;
            e->hf |= rbit;
        }
    }
    return stream;
}

static inline void prepare(const sm_streams_t *s, const struct sm_tuple *t,
                           struct sm_streams_prep *p)
{
    if (t->src.family != SM_AF_INET6)
        prepare_sized(s, t, p, false);
    else
        prepare_sized(s, t, p, true);
}

void sm_streams_prepare(const sm_streams_t *s, const struct sm_tuple *t,
                        struct sm_streams_prep *p)
{
    prepare(s, t, p);
    const struct table *tb = p->v6 ? &s->v6 : &s->v4;
    if (tb->slots != NULL) /* for writing: apply() stamps the slot */
        __builtin_prefetch(slot_at(tb, home_of(p->hash, tb->nslots - 1)), 1);
}

int64_t sm_streams_assign_prepared(sm_streams_t *s, const struct sm_tcp_view *v,
                                   const struct sm_streams_prep *p)
{
    struct slot_hdr *e;
    s->clock++;
    /* R2: the pair's newest conversation, or a new one. */
    if (!p->v6)
        e = find_or_insert_v4(s, p->key, p->hash, v->rec.frame);
    else
        e = find_or_insert_v6(s, p->key, p->hash, v->rec.frame);
    return apply(s, v, e, p->flow);
}

int64_t sm_streams_assign(sm_streams_t *s, const struct sm_tcp_view *v)
{
    struct sm_streams_prep p;
    prepare(s, &v->rec.tuple, &p);
    return sm_streams_assign_prepared(s, v, &p);
}

uint64_t sm_streams_count(const sm_streams_t *s)
{
    return s->next_stream;
}

bool sm_streams_exact(const sm_streams_t *s)
{
    return s->evicted == 0 && s->next_stream <= UINT32_MAX;
}

uint64_t sm_streams_evicted(const sm_streams_t *s)
{
    return s->evicted;
}

uint64_t sm_streams_first_inexact_frame(const sm_streams_t *s)
{
    return s->first_inexact_frame;
}

size_t sm_streams_pairs(const sm_streams_t *s)
{
    return s->v4.used + s->v6.used;
}
