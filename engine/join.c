/*
 * join.c - the time-windowed join table keyed by ISN.
 *
 * Entries live in one pool (indices, 0 = none) and are of two kinds: a client SYN group, or a
 * server SYN (one ISN and tuple as the server saw it, with its retransmissions). Both kinds
 * hang off one index keyed by ISN, so a record finds its counterpart with one lookup whichever
 * side arrives first. When a server SYN and a client group agree, they are linked and decided
 * together.
 *
 * The index is an open-addressing table of (ISN, first entry) slots, one slot per distinct
 * ISN, linear probing from a keyed hash of the ISN, at most half full; the entries sharing an
 * ISN are chained through the pool. A lookup reads 8-byte slots until the ISN or an empty slot, and
 * touches pool entries only of its own ISN: entries of other ISNs, cold in memory, are never
 * walked past (a chained hash of entries made every lookup miss the cache once per
 * neighbour). Entries of one ISN never lengthen the probes of other ISNs, and there are at
 * most MAX_SAME_ISN of them.
 *
 * Time: every entry has a due time in event time, kept in a timer queue with lazy deletion
 * (an entry's generation number invalidates its older items): NLANES rings ("lanes") for the
 * items that come in due order, which is nearly all of them since each sensor's records come
 * in time order (one lane per kind of due time), and a binary min-heap for the others; the
 * earliest of the heads is next. The horizon
 * H = min(client watermark, server watermark - max_skew) only moves forward; everything due
 * at or before H is decided. Work per call is proportional to what became due.
 *
 * Memory: the pool holds at most max_pending entries (reserved up front, backed on use). An
 * intrusive age list makes evicting the oldest entry O(1) when it is full
 * (docs/ARCHITECTURE.md, "Bounds").
 */
#include "synmatch/join.h"

#include <assert.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "alloc.h"
#include "clockfit.h"
#include "select.h"
#include "hugemem.h"
#include "siphash.h"
#include "addr.h"

#define NS_PER_SEC INT64_C(1000000000)
#define DEFAULT_TIMEOUT (3 * NS_PER_SEC)
#define DEFAULT_SKEW (1 * NS_PER_SEC)
#define DEFAULT_MAX_QUIET (120 * NS_PER_SEC)
/* Event times are clamped to [1933, 2116]: any difference of two stays below 2^63. */
#define TS_MAX (INT64_C(1) << 62)
#define TS_MIN (-(INT64_C(1) << 60))
#define BACKOFF_FACTOR 3 /* wait 3x the last retransmission gap for the next one */
/* A server SYN may be a client attempt seen up to this much beyond the skew allowance, so
 * that a clock offset larger than the allowance still shows in matched pairs (and turns the
 * verdicts that depend on it into `unknown`) instead of hiding every match. */
#define MATCH_SLACK (30 * NS_PER_SEC)
#define OFFSET_SAMPLES 64 /* recent matched delays behind the clock offset estimate */
#define OFFSET_MIN_SAMPLES 8
#define MAX_INTERVALS 4096u /* per list; past it intervals widen */
#define TRACKED_ATTEMPTS 8 /* attempts remembered per group to tell which one got through */
/* Timer lanes: items of one kind arrive in due order (groups at first SYN + timeout, lone
 * server SYNs at SYN + skew), each kind in its lane; what fits no lane goes to the heap. */
#define NLANES 4
/* Entries pending with one ISN at most. Random ISNs almost never share one; a flood tool's
 * constant ISN would otherwise make one chain that every SYN of the flood walks (quadratic),
 * and matching by ISN cannot tell such SYNs apart anyway. */
#define MAX_SAME_ISN 64
/* Offline, lone server SYNs kept for the second matcher at most (160 bytes each). */
#define ARCHIVE_MAX (1u << 20)
#define FP_MAX_CANDIDATES 16 /* fingerprint candidates examined per group */
/* Live, lone server SYNs kept for the second matcher (a ring, 160 bytes each): ~0.3 s of a
 * 50,000 SYN/s flood, minutes of ordinary traffic. */
#define LIVE_ARCHIVE (1u << 14) /* at most; an eighth of max_pending when that is smaller */

#define FP_DROPPED 256 /* keys remembered whose insertion the probe bound refused */

/* One filed SYN: its key, where it is, and its time to a second (about), so that a lookup
 * passes over SYNs of other times without touching the archive. */
struct fp_ent {
    uint64_t key;
    uint32_t at;  /* archive value + 1 (offline: index; live: the ring position's low 32 bits,
                   * never all ones); 0 = empty */
    int32_t sec;  /* fp_sec(first_ns) */
};

struct fp_index {
    struct fp_ent *e;
    size_t mask;
    /* Keys some SYN filed under was refused for (fp_index_put): a lookup of one of them
     * cannot be complete. Past FP_DROPPED of them, any lookup that meets the bound is not. */
    uint64_t dropped[FP_DROPPED];
    unsigned ndropped;
};

/*
 * The destination ports the server's SYNs went to, per second of (client clock) time: at most
 * PRES_PORTS of them, past it "any". Live the last PRES_LIVE seconds, in a ring; offline the
 * whole capture, up to PRES_OFFLINE seconds (past it, "any"). See pres_seen().
 */
#define PRES_PORTS 32
#define PRES_LIVE 128
#define PRES_OFFLINE (1 << 18)

struct pres_slot {
    int64_t sec; /* live: the second it holds, INT64_MIN for none */
    uint8_t n;   /* ports held; PRES_PORTS + 1: more than fit */
    uint16_t port[PRES_PORTS];
};

enum ekind {
    E_FREE = 0,
    E_GROUP,
    E_SERVER,
};

/* One client attempt: when it was sent and its TCP timestamp, which each retransmission
 * renews and which middleboxes rarely rewrite, so it names the attempt the server saw. */
struct attempt {
    int64_t ts;
    uint32_t tsval;
    bool has_tsval;
    uint16_t ip_id;
};

/* What a SYN says of its sender besides its ISN: the TCP options (a SYN carries no TSecr),
 * the IPv4 ID and the window. The second matcher (fingerprint) compares these when a device
 * rewrote the ISN; MSS is never compared (devices clamp it). 12 bytes. */
struct synprint {
    uint8_t present; /* SM_OPT_* */
    uint8_t wscale;
    uint16_t mss;
    uint32_t tsval;
    uint16_t ip_id; /* 0 for IPv6 */
    uint16_t window;
};

static inline struct synprint synprint_of(const struct sm_record *r)
{
    struct synprint f = {r->opts.present, r->opts.wscale, r->opts.mss, r->opts.tsval, r->ip_id,
                         r->window};
    return f;
}

/*
 * 160 bytes, in the order they are needed: a lookup reads the first 64 (kind, ISN, tuple), a
 * decision the first 128. The entries being decided were written seconds ago and are cold,
 * so every cache line an entry spans costs a miss: the attempts after the first, which few
 * groups have, live out of line (the first is first_ns and fp).
 */
struct entry {
    uint32_t hnext; /* next entry with this ISN, or the free list */
    uint32_t isn;
    uint32_t peer; /* linked counterpart */
    uint32_t gen;  /* invalidates stale heap items */
    uint8_t kind;
    bool held;      /* decided unmatched, waiting for sm_join_finish() */
    bool queued;    /* has a live heap item */
    bool suspect_sent;
    uint8_t answer; /* group: what the client received; server: what the server sent (the
                     * SYN/ACK wins over an RST) */
    bool flood : 1; /* server kind: the marker of refused server SYNs of a flooded ISN */
    bool fp_incomplete : 1; /* group: the second matcher found nothing, and could not see
                             * every server SYN of its window (lost, or past a bound) */
    bool pinned : 1;   /* offline group: counted in the pins (fp sweeps) */
    bool fp_tried : 1; /* offline group: the second matcher has had its one try */
    struct sm_tuple tuple;
    uint32_t attempts;
    /* 64 */
    uint32_t older, newer; /* age list */
    uint32_t lost_before;
    uint16_t candidates; /* server SYNs that could have matched this group (saturating) */
    uint16_t answers;    /* packets of that answer: the client received / the server sent
                          * (saturating) */
    int64_t first_ns, last_ns, gap_ns;
    int64_t delay_ns;
    struct synprint fp;
    /* 124 */
    uint32_t answer_seq; /* the first SYN/ACK's seq: the answerer's ISN (a SYN proxy's is
                          * not the server's) */
    int64_t stream;
    uint64_t frame;
    struct attempt *more; /* groups: attempts 2..TRACKED_ATTEMPTS, from the second on */
    int64_t answer_ns;    /* when the first of them was seen */
};
_Static_assert(offsetof(struct entry, older) == 64 && sizeof(struct entry) <= 160,
               "struct entry: the lookup fields fill the first cache line, the whole stays small");

struct slot {
    uint32_t isn;
    uint32_t head; /* first entry with this ISN; 0 = empty slot */
};

struct heap_item {
    int64_t due;
    uint64_t order; /* insertion order: makes ties deterministic */
    uint32_t idx;
    uint32_t gen;
};

/* A ring of timer items whose due times never decrease; cap is a power of two. */
struct lane {
    struct heap_item *buf;
    size_t head, len, cap;
};

/* An interval of event time with a kind: a blind interval (the verdict it implies) or a
 * host hint (enum sm_host_hint), of one server view or of all (SM_VIEW_ALL). */
struct interval {
    int64_t from, to;
    int kind;
    uint32_t view;
};

/* Intervals of one role and purpose, merged per kind; at MAX_INTERVALS they widen. */
struct ivlist {
    struct interval *v;
    size_t n, cap;
};

/* From client time `from` on, the server's clock is `offset` ahead of the client's. */
struct correction {
    int64_t from, offset;
};

struct sm_join {
    struct sm_join_config cfg;
    uint64_t hmul, hadd; /* random keys of the ISN hash */

    struct entry *pool;
    uint32_t pool_cap, pool_used; /* slots allocated; slot 0 unused */
    size_t pool_bytes;
    uint32_t free_head;
    size_t live;
    uint32_t oldest, newest;

    struct slot *tab; /* the ISN index: tab_mask + 1 slots, a power of two */
    uint32_t tab_mask, tab_used;

    struct heap_item *heap;
    size_t heap_len, heap_cap;
    uint64_t heap_order;
    struct lane lanes[NLANES]; /* rings of items pushed in due order */

    uint32_t *held;
    size_t held_len, held_cap;

    int64_t wm[2];
    bool ended[2];
    int64_t cov_start[2], cov_end[2];
    struct ivlist blind[2]; /* per role: where the evidence is incomplete */
    struct ivlist hints;    /* the server host's counters (sm_join_hint) */
    /* The lone server SYNs that expired, for the second matcher: offline all of them (to the
     * end), live the latest ring_cap in a ring with its index (fp section). */
    struct entry *arch;
    size_t narch, arch_cap;
    uint64_t arch_dropped;
    /* The times (first_ns) of the lone server SYNs the archive no longer holds (dropped when
     * full, written over in the ring), as one hull: a group whose window meets it cannot know
     * every candidate it had. lost_lo > lost_hi: none lost. */
    int64_t lost_lo, lost_hi;
    /* the destination ports of the server's SYNs, per second (pres_note) */
    struct pres_slot *pres;
    size_t pres_cap, pres_len; /* offline: slots held for pres_base, pres_base + 1, ... */
    int64_t pres_base;
    int64_t pres_floor; /* live: seconds up to this one were written over or came too late */
    bool pres_any;      /* offline: past PRES_OFFLINE seconds, or out of memory */
    bool arch_mapped;             /* offline: arch is an mmap of ARCHIVE_MAX entries */
    uint64_t *arch_seq;           /* live: which ring position each slot holds */
    size_t ring_cap;              /* live: slots in the ring (a power of two) */
    uint64_t ring_next;           /* live: positions written */
    struct fp_index *live_ix;     /* live: key -> ring position + 1 */
    size_t live_ix_inserts;
    /* Offline, the second matcher runs in sweeps as the horizon moves (fp_sweep_due): */
    struct fp_index *off_ix; /* key -> archive index + 1, filed as SYNs are archived */
    size_t held_swept;       /* held[0, held_swept) have been swept */
    /* Unswept groups not yet decided per 2^30 ns of their first_ns, from pin_base on
     * (pin[pin_lo] is the first nonzero): the earliest window a later sweep may still name. */
    uint32_t *pin;
    size_t pin_len, pin_cap, pin_lo;
    int64_t pin_base;
    bool pin_off; /* a group came before pin_base, or too far after: all at the end */
    bool off_failed; /* off_ix could not be made */
    uint32_t *off_list; /* the archived SYNs filed in off_ix (some taken since) */
    size_t off_n, off_cap;
    size_t off_bytes; /* the block off_ix->e lives in (off_slots) */
    int64_t sweep_next; /* no sweep before the horizon is here */
    struct fp_pend *pend; /* round one's choices waiting to be taken: [pend_head, pend_len) */
    size_t pend_head, pend_len, pend_cap;
    uint8_t *named; /* per archived SYN: how many choices named it (2: more than one) */

    bool degraded; /* evidence could not be recorded (out of memory): nothing is missing */
    int64_t decide_ns; /* event time of the decisions being made (sm_verdict.decided_ns) */
    bool backlog;  /* run() stopped at max_work with due entries left */
    int64_t delays[OFFSET_SAMPLES]; /* ring of recent matched delays */
    uint32_t ndelays, delay_next;
    bool median_stale; /* samples came since offset_median was computed */
    int64_t offset_median;
    /* the clocks (section "clock" below) */
    sm_clockfit_t *clock;
    bool correcting;   /* server times are translated (corr) */
    struct correction *corr; /* by client time: from each one's from on, its offset */
    size_t ncorr, corr_cap, corr_at; /* corr_at: where the last lookup was */
    int64_t applied;   /* the latest correction's offset */
    int64_t observed_to[2]; /* sm_join_observe() showed records up to here (per role) */
    bool clock_told;   /* the estimate was first confident */
    int64_t told;      /* the offset last counted as a change */
    uint64_t clock_changes;
    struct sm_join_stats st;
};

/* ---- pool, hash, age list ------------------------------------------------------------------ */

/*
 * Multiply-add-shift with random 64-bit keys (Dietzfelbinger): strongly universal on 32-bit
 * ISNs, so ISNs chosen without knowing the keys (a flood's, say) collide no more often than
 * random ones; the keys are drawn at start and never leave the process. A few instructions
 * where SipHash, run on every lookup, insertion and deletion, was a fifth of the join's work.
 */
static inline uint32_t hash_of(const sm_join_t *j, uint32_t isn)
{
    return (uint32_t)((j->hmul * isn + j->hadd) >> 32);
}

/* The slot of isn, or the empty slot where it would go. */
static inline struct slot *slot_of(sm_join_t *j, uint32_t isn)
{
    uint32_t k = hash_of(j, isn) & j->tab_mask;
    while (j->tab[k].head != 0 && j->tab[k].isn != isn)
        k = (k + 1) & j->tab_mask;
    return &j->tab[k];
}

/* The first entry with isn, 0 if none. */
static inline uint32_t head_of(sm_join_t *j, uint32_t isn)
{
    return slot_of(j, isn)->head;
}

/* Doubles the index; false (and nothing changed) when memory is short. */
static bool tab_grow(sm_join_t *j)
{
    uint32_t ncap = (j->tab_mask + 1) * 2;
    if (ncap == 0)
        return false;
    struct slot *nt = sm_block_alloc((size_t)ncap * sizeof *nt);
    if (nt == NULL)
        return false;
    struct slot *old = j->tab;
    uint32_t oldn = j->tab_mask + 1;
    j->tab = nt;
    j->tab_mask = ncap - 1;
    for (uint32_t k = 0; k < oldn; k++)
        if (old[k].head != 0)
            *slot_of(j, old[k].isn) = old[k];
    sm_block_free(old, (size_t)oldn * sizeof *old);
    return true;
}

/* Empties slot k, moving later slots of its probe run back so that no lookup stops short. */
static void slot_delete(sm_join_t *j, uint32_t k)
{
    uint32_t m = j->tab_mask;
    for (uint32_t n = (k + 1) & m; j->tab[n].head != 0; n = (n + 1) & m) {
        uint32_t home = hash_of(j, j->tab[n].isn) & m;
        /* n may move to k if its home is not in (k, n], cyclically */
        if (((n - home) & m) >= ((n - k) & m)) {
            j->tab[k] = j->tab[n];
            k = n;
        }
    }
    j->tab[k].head = 0;
    j->tab_used--;
}

static void age_unlink(sm_join_t *j, uint32_t i)
{
    struct entry *e = &j->pool[i];
    if (e->older)
        j->pool[e->older].newer = e->newer;
    else
        j->oldest = e->newer;
    if (e->newer)
        j->pool[e->newer].older = e->older;
    else
        j->newest = e->older;
    e->older = e->newer = 0;
}

static void hash_unlink(sm_join_t *j, uint32_t i)
{
    struct slot *sl = slot_of(j, j->pool[i].isn);
    uint32_t *pp = &sl->head;
    while (*pp != i && *pp != 0)
        pp = &j->pool[*pp].hnext;
    assert(*pp == i);
    if (*pp != i)
        return; /* not indexed: cannot happen */
    *pp = j->pool[i].hnext;
    if (sl->head == 0)
        slot_delete(j, (uint32_t)(sl - j->tab));
}

/* ---- pins: how early the groups not yet swept began (offline, fp_sweep_due) ------------- */

#define PIN_SHIFT 30          /* one count per 2^30 ns (about a second) of first_ns */
#define PIN_MAX (1u << 24)    /* counts at most (about 200 days): past it, all at the end */

static void pin(sm_join_t *j, struct entry *g)
{
    if (!j->cfg.hold_unmatched || j->pin_off)
        return;
    int64_t sec = g->first_ns >> PIN_SHIFT;
    if (j->pin_len == 0)
        j->pin_base = sec;
    if (sec < j->pin_base || sec - j->pin_base >= (int64_t)PIN_MAX) {
        j->pin_off = true; /* time went back (or jumped): sweeps could not be sure */
        return;
    }
    size_t k = (size_t)(sec - j->pin_base);
    if (k >= j->pin_cap) {
        size_t cap = j->pin_cap ? j->pin_cap : 1024;
        while (cap <= k)
            cap *= 2;
        uint32_t *p = sm_realloc(j->pin, cap * sizeof *p);
        if (p == NULL) {
            j->pin_off = true;
            return;
        }
        j->pin = p;
        j->pin_cap = cap;
    }
    if (k >= j->pin_len) {
        memset(j->pin + j->pin_len, 0, (k + 1 - j->pin_len) * sizeof *j->pin);
        j->pin_len = k + 1;
    }
    j->pin[k]++;
    /* all counts below pin_lo are zero, and pin[pin_lo] is the first nonzero or was the end */
    if (k < j->pin_lo || j->pin[j->pin_lo] == 0)
        j->pin_lo = k;
    g->pinned = true;
}

static void unpin(sm_join_t *j, struct entry *g)
{
    if (!g->pinned)
        return;
    g->pinned = false;
    j->pin[(size_t)((g->first_ns >> PIN_SHIFT) - j->pin_base)]--;
    while (j->pin_lo < j->pin_len && j->pin[j->pin_lo] == 0)
        j->pin_lo++;
}

/* A time no group still pinned began before. */
static int64_t pin_floor(const sm_join_t *j)
{
    if (j->pin_lo >= j->pin_len)
        return INT64_MAX;
    return (j->pin_base + (int64_t)j->pin_lo) * (INT64_C(1) << PIN_SHIFT);
}

static void entry_free(sm_join_t *j, uint32_t i)
{
    struct entry *e = &j->pool[i];
    assert(e->kind != E_FREE);
    unpin(j, e);
    hash_unlink(j, i);
    age_unlink(j, i);
    /* Not cleared whole: that would touch every cache line of an entry that is usually cold
     * by now; entry_alloc() clears it when it is reused (warm: the free list is LIFO). */
    e->kind = E_FREE;
    free(e->more);
    e->more = NULL;
    e->held = false;
    e->queued = false;
    e->peer = 0;
    e->gen++;
    e->hnext = j->free_head;
    j->free_head = i;
    j->live--;
}

static void evict_oldest(sm_join_t *j);

/* A zeroed entry of kind for isn, linked into the hash and the age list; 0 if out of memory. */
static uint32_t entry_alloc(sm_join_t *j, enum ekind kind, uint32_t isn)
{
    while (j->live >= j->cfg.max_pending && j->oldest)
        evict_oldest(j);
    struct slot *sl = slot_of(j, isn);
    if (sl->head == 0 && 2 * (j->tab_used + 1) > j->tab_mask + 1) {
        /* at most half full; past that only if memory is short, never full */
        if (!tab_grow(j) && j->tab_used + 2 > j->tab_mask)
            return 0;
        sl = slot_of(j, isn);
    }
    uint32_t i = j->free_head;
    if (i) {
        j->free_head = j->pool[i].hnext;
    } else {
        if (j->pool_used == j->pool_cap) /* cannot happen: live < max_pending here */
            return 0;
        i = j->pool_used++; /* first use of this slot: the kernel gives it zeroed */
        j->pool[i].gen = 0;
    }
    struct entry *e = &j->pool[i];
    uint32_t gen = e->gen;
    memset(e, 0, sizeof *e);
    e->gen = gen;
    e->kind = (uint8_t)kind;
    e->isn = isn;
    e->stream = SM_STREAM_NONE;
    if (sl->head == 0) {
        sl->isn = isn;
        j->tab_used++;
    }
    e->hnext = sl->head;
    sl->head = i;
    e->older = j->newest;
    if (j->newest)
        j->pool[j->newest].newer = i;
    else
        j->oldest = i;
    j->newest = i;
    j->live++;
    if (j->live > j->st.peak_pending)
        j->st.peak_pending = j->live;
    return i;
}

/* ---- heap ---------------------------------------------------------------------------------- */

static inline bool item_before(const struct heap_item *a, const struct heap_item *b)
{
    return a->due < b->due || (a->due == b->due && a->order < b->order);
}

static void heap_sift_up(sm_join_t *j, size_t k, struct heap_item it)
{
    while (k > 0) {
        size_t parent = (k - 1) / 2;
        if (!item_before(&it, &j->heap[parent]))
            break;
        j->heap[k] = j->heap[parent];
        k = parent;
    }
    j->heap[k] = it;
}

static inline bool item_live(const sm_join_t *j, const struct heap_item *it)
{
    const struct entry *e = &j->pool[it->idx];
    return e->gen == it->gen && e->kind != E_FREE && !e->held;
}

static inline struct heap_item *lane_at(const struct lane *l, size_t k)
{
    return &l->buf[(l->head + k) & (l->cap - 1)];
}

/*
 * Drops stale items (of freed, held or rescheduled entries) from every part and rebuilds the
 * heap, so that the queue's size follows the live entries even when the horizon stands still
 * for a long time.
 */
static void queue_compact(sm_join_t *j)
{
    size_t n = 0;
    for (size_t k = 0; k < j->heap_len; k++)
        if (item_live(j, &j->heap[k]))
            j->heap[n++] = j->heap[k];
    j->heap_len = 0;
    for (size_t k = 0; k < n; k++) {
        struct heap_item it = j->heap[k];
        heap_sift_up(j, j->heap_len++, it);
    }
    for (int l = 0; l < NLANES; l++) {
        struct lane *ln = &j->lanes[l];
        n = 0;
        for (size_t k = 0; k < ln->len; k++) { /* in place, order kept */
            struct heap_item it = *lane_at(ln, k);
            if (item_live(j, &it))
                *lane_at(ln, n++) = it;
        }
        ln->len = n;
    }
}

static bool lane_push(struct lane *l, struct heap_item it)
{
    if (l->len == l->cap) {
        size_t ncap = l->cap ? l->cap * 2 : 1024;
        struct heap_item *nb = sm_malloc(ncap * sizeof *nb);
        if (nb == NULL)
            return false;
        for (size_t k = 0; k < l->len; k++)
            nb[k] = *lane_at(l, k);
        free(l->buf);
        l->buf = nb;
        l->cap = ncap;
        l->head = 0;
    }
    *lane_at(l, l->len++) = it;
    return true;
}

static bool heap_grow(sm_join_t *j)
{
    size_t ncap = j->heap_cap ? j->heap_cap * 2 : 1024;
    struct heap_item *nh = sm_block_grow(j->heap, j->heap_cap * sizeof *nh, ncap * sizeof *nh);
    if (nh == NULL)
        return false;
    j->heap = nh;
    j->heap_cap = ncap;
    return true;
}

static struct heap_item heap_pop(sm_join_t *j)
{
    struct heap_item top = j->heap[0];
    struct heap_item last = j->heap[--j->heap_len];
    size_t k = 0, n = j->heap_len;
    for (;;) {
        size_t c = 2 * k + 1;
        if (c >= n)
            break;
        if (c + 1 < n && item_before(&j->heap[c + 1], &j->heap[c]))
            c++;
        if (!item_before(&j->heap[c], &last))
            break;
        j->heap[k] = j->heap[c];
        k = c;
    }
    if (n > 0)
        j->heap[k] = last;
    return top;
}

static size_t queue_len(const sm_join_t *j)
{
    size_t n = j->heap_len;
    for (int l = 0; l < NLANES; l++)
        n += j->lanes[l].len;
    return n;
}

static void queue_push(sm_join_t *j, uint32_t idx, int64_t due)
{
    if (queue_len(j) >= 2 * j->live + 1024)
        queue_compact(j);
    struct entry *e = &j->pool[idx];
    struct heap_item it = {due, j->heap_order, idx, e->gen + 1};
    /* The first lane it extends in order, else the first empty one, else the heap. */
    struct lane *to = NULL;
    for (int l = 0; l < NLANES && to == NULL; l++)
        if (j->lanes[l].len && lane_at(&j->lanes[l], j->lanes[l].len - 1)->due <= due)
            to = &j->lanes[l];
    for (int l = 0; l < NLANES && to == NULL; l++)
        if (j->lanes[l].len == 0)
            to = &j->lanes[l];
    if (to != NULL) {
        if (!lane_push(to, it))
            return; /* the entry is still bounded by the age list and decided at the end */
    } else {
        if (j->heap_len == j->heap_cap && !heap_grow(j))
            return;
        heap_sift_up(j, j->heap_len++, it);
    }
    j->heap_order++;
    e->gen++;
    e->queued = true;
}

/* Where the next item is: a lane's index, NLANES for the heap, -1 when the queue is empty. */
static inline int queue_next(const sm_join_t *j)
{
    const struct heap_item *best = j->heap_len ? &j->heap[0] : NULL;
    int at = best ? NLANES : -1;
    for (int l = 0; l < NLANES; l++) {
        const struct lane *ln = &j->lanes[l];
        if (ln->len && (best == NULL || item_before(&ln->buf[ln->head], best))) {
            best = &ln->buf[ln->head];
            at = l;
        }
    }
    return at;
}

static inline const struct heap_item *queue_at(const sm_join_t *j, int at)
{
    return at == NLANES ? &j->heap[0] : &j->lanes[at].buf[j->lanes[at].head];
}

/*
 * The entries due next are cold (written seconds ago): ask for them ahead of time, so that
 * their cache misses overlap instead of following one another. An entry PREFETCH_FAR places
 * ahead in a lane is fetched; for the one PREFETCH_NEAR ahead (which has arrived by then),
 * its index slot and the server entry linked to it.
 */
#define PREFETCH_FAR 12
#define PREFETCH_NEAR 6
static inline __attribute__((always_inline)) void prefetch_lane(const sm_join_t *j,
                                                              const struct lane *l)
{
    if (l->len > PREFETCH_FAR) {
        const char *far = (const char *)&j->pool[lane_at(l, PREFETCH_FAR)->idx];
        __builtin_prefetch(far);
        __builtin_prefetch(far + 64);
        const struct entry *near = &j->pool[lane_at(l, PREFETCH_NEAR)->idx];
        __builtin_prefetch(&j->tab[hash_of(j, near->isn) & j->tab_mask]); /* for its free */
        uint32_t peer = near->peer;
        if (peer) {
            const char *p = (const char *)&j->pool[peer];
            __builtin_prefetch(p);
            __builtin_prefetch(p + 64);
        }
    }
}

static struct heap_item queue_pop(sm_join_t *j, int at)
{
    if (at == NLANES)
        return heap_pop(j);
    struct lane *l = &j->lanes[at];
    prefetch_lane(j, l);
    struct heap_item it = l->buf[l->head];
    l->head = (l->head + 1) & (l->cap - 1);
    l->len--;
    return it;
}

/* ---- time ---------------------------------------------------------------------------------- */

static inline int64_t sat_add(int64_t a, int64_t b)
{
    if (b > 0 && a > INT64_MAX - b)
        return INT64_MAX;
    if (b < 0 && a < INT64_MIN - b)
        return INT64_MIN;
    return a + b;
}

static int64_t horizon(const sm_join_t *j)
{
    int64_t hc = j->ended[SM_ROLE_CLIENT] ? INT64_MAX : j->wm[SM_ROLE_CLIENT];
    int64_t hs = j->ended[SM_ROLE_SERVER] ? INT64_MAX
                                          : sat_add(j->wm[SM_ROLE_SERVER], -j->cfg.max_skew_ns);
    return hc < hs ? hc : hs;
}

/* The time of a decision forced before its due time (an eviction, a flooded ISN, a stop):
 * the horizon then, never before the decisions already made, and never the end of time. */
static int64_t forced_time(sm_join_t *j)
{
    int64_t h = horizon(j);
    if (h != INT64_MAX && h > j->decide_ns)
        j->decide_ns = h;
    return j->decide_ns;
}

static int64_t quiet_of(const sm_join_t *j, const struct entry *g)
{
    int64_t q = g->gap_ns > j->cfg.max_quiet_ns / BACKOFF_FACTOR ? j->cfg.max_quiet_ns
                                                                  : g->gap_ns * BACKOFF_FACTOR;
    return q < j->cfg.timeout_ns ? j->cfg.timeout_ns : q;
}

/* The early warning: the server has not seen the SYN, or the client has received no answer
 * (docs/VERDICTS.md, "suspect"). */
static inline bool suspicious(const struct entry *g)
{
    return g->peer == 0 || g->answer == SM_ANSWER_NONE;
}

static void schedule_group(sm_join_t *j, uint32_t i)
{
    const struct entry *g = &j->pool[i];
    int64_t due = sat_add(g->last_ns, quiet_of(j, g));
    if (j->cfg.emit_suspect && !g->suspect_sent && suspicious(g)) {
        int64_t sdue = sat_add(g->first_ns, j->cfg.timeout_ns);
        if (sdue < due)
            due = sdue;
    }
    queue_push(j, i, due);
}

/* ---- verdicts ------------------------------------------------------------------------------ */

static int64_t offset_at(const sm_join_t *j, int64_t t);
static struct attempt attempt_at(const struct entry *g, uint32_t i);
static uint32_t tracked_attempts(const struct entry *g);

/*
 * A SYN proxy answered the client itself and opened its own connection to the server only
 * after the client's handshake with it (nftables synproxy, a firewall's SYN-flood protection,
 * a load balancer): the SYN/ACK the client got is not the server's (another ISN, or the
 * server sent none) and it came before the server saw any SYN of the connection. Timing
 * decides, in the engine's (the client's) clock: the sequence number alone would not, as a
 * device that rewrites the server's ISN changes it too, but that SYN/ACK follows the server's
 * SYN.
 */
static bool proxied(const struct entry *g, const struct entry *s)
{
    return g->answer == SM_ANSWER_SYNACK &&
           (s->answer != SM_ANSWER_SYNACK || g->answer_seq != s->answer_seq) &&
           g->answer_ns < s->first_ns;
}

static void fill_verdict(const sm_join_t *j, uint32_t gi, enum sm_verdict_kind kind,
                         const char *reason, struct sm_verdict *v)
{
    const struct entry *g = &j->pool[gi];
    memset(v, 0, sizeof *v);
    v->kind = kind;
    v->reason = reason;
    v->isn = g->isn;
    v->attempts = g->attempts;
    v->client = g->tuple;
    v->client_stream = g->stream;
    v->client_frame = g->frame;
    v->first_ns = g->first_ns;
    v->last_ns = g->last_ns;
    v->client_answer = (enum sm_answer)g->answer;
    v->replies_received = g->answers;
    v->client_answer_ns = g->answer_ns;
    v->server_stream = SM_STREAM_NONE;
    v->candidates = g->candidates;
    v->fingerprint = g->peer && j->pool[g->peer].isn != g->isn;
    v->clock_corrected = j->correcting;
    v->clock_offset_ns = j->correcting ? offset_at(j, g->first_ns) : 0;
    if (g->peer) {
        const struct entry *s = &j->pool[g->peer];
        v->has_server = true;
        v->server = s->tuple;
        v->server_stream = s->stream;
        v->server_frame = s->frame;
        /* the engine holds server times in the client's clock; the verdict gives the
         * server's own (with the correction in force now) */
        v->server_first_ns = j->correcting ? sat_add(s->first_ns, offset_at(j, s->first_ns))
                                           : s->first_ns;
        v->server_seq = s->isn;
        v->server_attempts = s->attempts;
        v->server_answer = (enum sm_answer)s->answer;
        v->reply_attempts = s->answers;
        v->server_answer_ns = j->correcting ? sat_add(s->answer_ns, offset_at(j, s->answer_ns))
                                            : s->answer_ns;
        v->lost_before = g->lost_before;
        v->delay_ns = g->delay_ns;
        if (kind != SM_V_AMBIGUOUS && proxied(g, s)) {
            /* the proxy's answer time, from the client's last attempt before it */
            int64_t sent = g->first_ns;
            for (uint32_t i = 0, n = tracked_attempts(g); i < n; i++) {
                int64_t t = attempt_at(g, i).ts;
                if (t <= g->answer_ns && t > sent)
                    sent = t;
            }
            v->proxied = true;
            v->proxy_rtt_ns = g->answer_ns - sent;
        }
    }
}

/* A verdict for a client SYN that could not be given an entry. */
static void emit_record(sm_join_t *j, const struct sm_record *r, enum sm_verdict_kind kind,
                        const char *reason)
{
    struct sm_verdict v;
    memset(&v, 0, sizeof v);
    v.kind = kind;
    v.reason = reason;
    v.isn = r->seq;
    v.attempts = 1;
    v.client = r->tuple;
    v.client_stream = r->stream;
    v.client_frame = r->frame;
    v.first_ns = v.last_ns = r->ts_ns;
    v.server_stream = SM_STREAM_NONE;
    v.decided_ns = forced_time(j);
    j->st.client_groups++;
    j->st.verdicts[kind]++;
    j->cfg.on_verdict(j->cfg.verdict_arg, &v);
}

static void note_delay(sm_join_t *j, int64_t delay)
{
    j->delays[j->delay_next] = delay;
    j->delay_next = (j->delay_next + 1) % OFFSET_SAMPLES;
    if (j->ndelays < OFFSET_SAMPLES)
        j->ndelays++;
    j->median_stale = true;
}

/* The median of the recent matched delays (server time minus client time): one-way delay
 * plus the clock offset between the two sensors. Computed when asked for (an unmatched
 * group decided, a stats line), not on every match. */
static int64_t offset_median(const sm_join_t *cj)
{
    sm_join_t *j = (sm_join_t *)cj; /* a cache: the value does not change */
    if (j->median_stale && j->ndelays > 0) {
        int64_t tmp[OFFSET_SAMPLES];
        memcpy(tmp, j->delays, j->ndelays * sizeof tmp[0]);
        j->offset_median = sm_select_kth(tmp, j->ndelays, j->ndelays / 2);
        j->median_stale = false;
    }
    return j->offset_median;
}

/* True when matched pairs show the clocks further apart than the skew allowance. */
static bool offset_exceeds_skew(const sm_join_t *j)
{
    if (j->ndelays < OFFSET_MIN_SAMPLES)
        return false;
    int64_t m = offset_median(j);
    return m > j->cfg.max_skew_ns || m < -j->cfg.max_skew_ns;
}

/* Emits the verdict of group gi; syncookies and attempts_inside as decided. */
static void emit_x(sm_join_t *j, uint32_t gi, enum sm_verdict_kind kind, const char *reason,
                   bool syncookies, uint32_t attempts_inside)
{
    struct sm_verdict v;
    fill_verdict(j, gi, kind, reason, &v);
    v.syncookies = syncookies;
    v.attempts_inside = attempts_inside;
    v.suspected = kind != SM_V_SUSPECT && j->pool[gi].suspect_sent;
    v.decided_ns = j->decide_ns;
    if (v.has_server && kind != SM_V_AMBIGUOUS && kind != SM_V_SUSPECT)
        note_delay(j, v.delay_ns);
    j->st.verdicts[kind]++;
    j->cfg.on_verdict(j->cfg.verdict_arg, &v);
}

static void emit(sm_join_t *j, uint32_t gi, enum sm_verdict_kind kind, const char *reason)
{
    emit_x(j, gi, kind, reason, false, 0);
}

/* True when an interval of view iv speaks of view (SM_VIEW_ALL on either side: of all). */
static bool view_meets(uint32_t iv, uint32_t view)
{
    return iv == SM_VIEW_ALL || view == SM_VIEW_ALL || iv == view;
}

/* The most serious kind of blind interval of role overlapping [from, to] in view, or
 * SM_V_COUNT. */
static enum sm_verdict_kind blind_over(const sm_join_t *j, enum sm_role role, uint32_t view,
                                       int64_t from, int64_t to)
{
    static const enum sm_verdict_kind rank[] = {SM_V_SENSOR_DOWN, SM_V_TRANSPORT_LOSS,
                                                SM_V_SENSOR_CAPTURE_LOSS, SM_V_UNKNOWN};
    bool seen[SM_V_COUNT] = {false};
    const struct ivlist *l = &j->blind[role];
    for (size_t k = 0; k < l->n; k++)
        if (l->v[k].from <= to && l->v[k].to >= from && view_meets(l->v[k].view, view))
            seen[l->v[k].kind] = true;
    for (size_t r = 0; r < sizeof rank / sizeof rank[0]; r++)
        if (seen[rank[r]])
            return rank[r];
    return SM_V_COUNT;
}

/* True when a host hint of kind overlaps [from, to] in view. */
static bool hint_over(const sm_join_t *j, uint32_t view, enum sm_host_hint kind, int64_t from,
                      int64_t to)
{
    for (size_t k = 0; k < j->hints.n; k++)
        if (j->hints.v[k].kind == (int)kind && j->hints.v[k].from <= to &&
            j->hints.v[k].to >= from && view_meets(j->hints.v[k].view, view))
            return true;
    return false;
}

static const char *blind_reason(enum sm_role role, enum sm_verdict_kind kind)
{
    bool server = role == SM_ROLE_SERVER;
    switch (kind) {
    case SM_V_SENSOR_DOWN:
        return server ? "server_sensor_down" : "client_sensor_down";
    case SM_V_TRANSPORT_LOSS:
        return server ? "server_records_lost" : "client_records_lost";
    case SM_V_UNKNOWN:
        return "clock_stepped"; /* the server's clock jumped: its times there are unsure */
    default:
        return server ? "server_capture_drops" : "client_capture_drops";
    }
}

static void free_group(sm_join_t *j, uint32_t gi)
{
    uint32_t peer = j->pool[gi].peer;
    if (peer)
        entry_free(j, peer);
    entry_free(j, gi);
}

/* The server view expecting a client SYN to tuple's destination, or SM_SCOPE_OUT. */
static int32_t scope_view(const sm_join_t *j, const struct sm_tuple *client)
{
    return j->cfg.in_scope ? j->cfg.in_scope(j->cfg.scope_arg, client) : (int32_t)SM_VIEW_ALL;
}

static bool in_scope(const sm_join_t *j, const struct sm_tuple *client)
{
    return scope_view(j, client) != SM_SCOPE_OUT;
}

/* Could the server capture have seen a client attempt sent at t? It ran from before t (by
 * the skew) until t's window closed (t + timeout + skew). */
static bool witnessable(const sm_join_t *j, int64_t t)
{
    int64_t skew = j->cfg.max_skew_ns;
    return t >= sat_add(j->cov_start[SM_ROLE_SERVER], skew) &&
           sat_add(t, j->cfg.timeout_ns + skew) <= j->cov_end[SM_ROLE_SERVER];
}

/* Of group g's attempts (those remembered), how many the server capture could witness. */
static uint32_t attempts_witnessable(const sm_join_t *j, const struct entry *g)
{
    uint32_t n = 0, tracked = tracked_attempts(g);
    for (uint32_t i = 0; i < tracked; i++)
        n += witnessable(j, attempt_at(g, i).ts);
    return n;
}

static bool strong_print(const struct entry *e);
static bool pres_seen(const sm_join_t *j, uint16_t port, int64_t from, int64_t to);

/*
 * Final verdict for a group the server never saw. Out-of-scope groups end silently (counted);
 * otherwise the evidence decides between missing and the named non-network verdicts.
 */
static void decide_unmatched(sm_join_t *j, uint32_t gi)
{
    const struct entry *g = &j->pool[gi];
    int32_t sv = scope_view(j, &g->tuple);
    if (sv == SM_SCOPE_OUT) {
        j->st.out_of_scope++;
        free_group(j, gi);
        return;
    }
    uint32_t view = (uint32_t)sv;
    /* Evidence first, in order: could the server capture have seen it at all (it ran from
     * before the last attempt until the last attempt could have arrived), did it declare
     * gaps around it; only then does an answer the client got mean a middlebox answered;
     * and a gap in the client's view might hide such an answer. */
    int64_t skew = j->cfg.max_skew_ns;
    int64_t from = sat_add(g->first_ns, -skew);
    int64_t to = sat_add(g->last_ns, j->cfg.timeout_ns + skew);
    enum sm_verdict_kind k;
    uint32_t inside;
    if (j->degraded) {
        emit(j, gi, SM_V_UNKNOWN, "collector_out_of_memory");
    } else if (!witnessable(j, g->last_ns)) {
        /* The last attempt could not have been seen: the server capture began after it or
         * ended before its window closed. Earlier attempts may have been witnessable. */
        if ((inside = attempts_witnessable(j, g)) > 0)
            emit_x(j, gi, SM_V_UNKNOWN, "partly_outside_server_capture", false, inside);
        else if (g->last_ns < sat_add(j->cov_start[SM_ROLE_SERVER], skew))
            emit(j, gi, SM_V_UNKNOWN, "before_server_capture");
        else
            emit(j, gi, SM_V_UNKNOWN, "after_server_capture");
    } else if ((k = blind_over(j, SM_ROLE_SERVER, view, from, to)) != SM_V_COUNT) {
        emit(j, gi, k, blind_reason(SM_ROLE_SERVER, k));
    } else if (g->fp_incomplete) {
        /* its server SYN, rewritten, may be among those the second matcher could not see */
        emit(j, gi, SM_V_UNKNOWN, "fingerprint_incomplete");
    } else if (j->st.isn_rewritten > 0 && !strong_print(g) &&
               pres_seen(j, g->tuple.dport, from, to)) {
        /* A device rewrites ISNs on these paths, and nothing of this SYN but its ports
         * could name its server SYN: it may have been delivered (unless the server saw no
         * SYN at all to that port then: evidence enough of its own, below). */
        emit(j, gi, SM_V_UNKNOWN, "isn_rewritten_unmatchable");
    } else if (g->candidates > 1 && g->answer != SM_ANSWER_NONE) {
        /* it lost a tie for a server SYN that may have been its own: the answer it got
         * may have been that server's, not a middlebox's */
        emit(j, gi, SM_V_AMBIGUOUS, NULL);
    } else if (g->answer != SM_ANSWER_NONE) {
        emit(j, gi, SM_V_ANSWERED_BY_MIDDLEBOX, NULL);
    } else if ((k = blind_over(j, SM_ROLE_CLIENT, SM_VIEW_ALL, from, to)) != SM_V_COUNT) {
        emit(j, gi, k, blind_reason(SM_ROLE_CLIENT, k));
    } else if (g->candidates > 1) {
        emit(j, gi, SM_V_AMBIGUOUS, NULL); /* lost a tie for a server SYN: not missing */
    } else if (offset_exceeds_skew(j)) {
        /* The server's view of this time is shifted beyond what the deadline allowed for:
         * its SYN may simply not have been waited for. */
        emit(j, gi, SM_V_UNKNOWN, "clock_offset_exceeds_skew");
    } else {
        emit(j, gi, SM_V_MISSING, NULL);
    }
    free_group(j, gi);
}

static void hold(sm_join_t *j, uint32_t gi)
{
    if (j->held_len >= 2 * j->live + 256) {
        /* Forget indices of held groups decided or evicted since (their slots may be
         * reused); the swept ones stay first. */
        size_t n = 0, swept = 0;
        for (size_t k = 0; k < j->held_len; k++) {
            uint32_t h = j->held[k];
            if (j->pool[h].kind == E_GROUP && j->pool[h].held) {
                swept += k < j->held_swept;
                j->held[n++] = h;
            }
        }
        j->held_len = n;
        j->held_swept = swept;
    }
    if (j->held_len == j->held_cap) {
        size_t ncap = j->held_cap ? j->held_cap * 2 : 256;
        uint32_t *nh = sm_realloc(j->held, ncap * sizeof *nh);
        if (nh == NULL) {
            decide_unmatched(j, gi); /* cannot wait: decide on what is known now */
            return;
        }
        j->held = nh;
        j->held_cap = ncap;
    }
    j->pool[gi].held = true;
    j->pool[gi].gen++; /* no heap item may touch it again */
    j->held[j->held_len++] = gi;
}

/* True when a linked group's verdict needs no evidence beyond its own packets: both ends
 * agree on the answer (matched, refused), or two server SYNs fit it (ambiguous). */
static bool settled(const struct entry *g, const struct entry *s)
{
    return g->candidates > 1 || (g->answer != SM_ANSWER_NONE && g->answer == s->answer);
}

/*
 * Final verdict for a group the server saw, in handshake order: what the server sent back
 * against what the client received (docs/VERDICTS.md has the table). A failure is named
 * only on clean evidence of the leg it blames: the reply leg on the client sensor's side,
 * the server host's silence on the server sensor's.
 */
static void decide_linked(sm_join_t *j, uint32_t gi)
{
    const struct entry *g = &j->pool[gi], *s = &j->pool[g->peer];
    /* Behind a SYN proxy the reply leg the client saw is the proxy's and it got through: the
     * server's answer then says how the connection ended. */
    enum sm_answer ca = proxied(g, s) ? (enum sm_answer)s->answer : (enum sm_answer)g->answer;
    int64_t skew = j->cfg.max_skew_ns;
    /* the client's view of the reply, and the server's of its own answer */
    int64_t cfrom = sat_add(g->first_ns, -skew);
    int64_t cto = sat_add(g->last_ns, j->cfg.timeout_ns + skew);
    int64_t sfrom = s->first_ns, sto = sat_add(s->last_ns, j->cfg.timeout_ns);
    /* the server view it belongs to, asked only when evidence of that view is needed */
    uint32_t view = SM_VIEW_ALL;
    if (ca != SM_ANSWER_NONE || s->answer != SM_ANSWER_SYNACK || j->hints.n > 0) {
        int32_t sv = scope_view(j, &g->tuple);
        view = sv == SM_SCOPE_OUT ? SM_VIEW_ALL : (uint32_t)sv;
    }
    enum sm_verdict_kind k;
    if (g->candidates > 1) {
        emit(j, gi, SM_V_AMBIGUOUS, NULL);
    } else if (ca == SM_ANSWER_SYNACK && s->answer == SM_ANSWER_SYNACK) {
        emit_x(j, gi, SM_V_MATCHED, NULL,
               hint_over(j, view, SM_HINT_SYNCOOKIES, s->first_ns, s->answer_ns), 0);
    } else if (ca == SM_ANSWER_RST && s->answer == SM_ANSWER_RST) {
        emit(j, gi, SM_V_REFUSED, NULL);
    } else if (ca != SM_ANSWER_NONE) {
        /* The client got an answer the server did not send: a device between them answered
         * (a proxy, a reset on the way back), unless the server's capture was blind then. */
        if ((k = blind_over(j, SM_ROLE_SERVER, view, sfrom, sto)) != SM_V_COUNT)
            emit(j, gi, k, blind_reason(SM_ROLE_SERVER, k));
        else
            emit(j, gi, SM_V_ANSWERED_BY_MIDDLEBOX, NULL);
    } else if (s->answer != SM_ANSWER_NONE) {
        /* The server answered; nothing reached the client: the return path lost it, if the
         * client's capture was there to see it. */
        if (j->degraded)
            emit(j, gi, SM_V_UNKNOWN, "collector_out_of_memory");
        else if (cto > j->cov_end[SM_ROLE_CLIENT])
            emit(j, gi, SM_V_UNKNOWN, "after_client_capture");
        else if ((k = blind_over(j, SM_ROLE_CLIENT, SM_VIEW_ALL, cfrom, cto)) != SM_V_COUNT)
            emit(j, gi, k, blind_reason(SM_ROLE_CLIENT, k));
        else
            emit(j, gi, SM_V_REPLY_LOST, NULL);
    } else {
        /* Seen at the server, answered by nobody: the server host dropped it after the
         * capture point, if its capture was there to see an answer. */
        const char *why = hint_over(j, view, SM_HINT_LISTEN_OVERFLOW, s->first_ns, s->last_ns)
                              ? "listen_queue_overflow"
                          : hint_over(j, view, SM_HINT_SYN_QUEUE_FULL, s->first_ns, s->last_ns)
                              ? "syn_queue_full"
                              : NULL;
        if (j->degraded)
            emit(j, gi, SM_V_UNKNOWN, "collector_out_of_memory");
        else if (sto > j->cov_end[SM_ROLE_SERVER])
            emit(j, gi, SM_V_UNKNOWN, "after_server_capture");
        else if ((k = blind_over(j, SM_ROLE_SERVER, view, sfrom, sto)) != SM_V_COUNT)
            emit(j, gi, k, blind_reason(SM_ROLE_SERVER, k));
        else
            emit(j, gi, SM_V_UNANSWERED, why);
    }
    free_group(j, gi);
}

/* Decides group gi now, on what is known now. */
static void fp_match(sm_join_t *j, const struct fp_index *ix, uint32_t gi);

static void decide_final(sm_join_t *j, uint32_t gi)
{
    struct entry *g = &j->pool[gi];
    /* Live, the second matcher looks at the server SYNs that expired alone. */
    if (!g->peer && j->live_ix && g->candidates <= 1 && !j->cfg.hold_unmatched &&
        in_scope(j, &g->tuple))
        fp_match(j, j->live_ix, gi);
    g = &j->pool[gi];
    g->held = false;
    if (g->peer)
        decide_linked(j, gi);
    else
        decide_unmatched(j, gi);
}

/*
 * Group gi is due: decide it, or hold it when the configuration says to wait (offline: the
 * files' drops and ends, and the scope, are known only at the end) and its verdict needs
 * that evidence. Settled groups, nearly all of them, are decided at once.
 */
static void decide_group(sm_join_t *j, uint32_t gi)
{
    const struct entry *g = &j->pool[gi];
    if (j->cfg.hold_unmatched && (g->peer == 0 || !settled(g, &j->pool[g->peer])))
        hold(j, gi);
    else
        decide_final(j, gi);
}

static void live_archive(sm_join_t *j, const struct entry *e);

static void off_file(sm_join_t *j, size_t a);

/* Lone server SYN e is not (or no longer) in the archive. */
static void arch_lose(sm_join_t *j, const struct entry *e)
{
    j->arch_dropped++;
    if (e->first_ns < j->lost_lo)
        j->lost_lo = e->first_ns;
    if (e->first_ns > j->lost_hi)
        j->lost_hi = e->first_ns;
}

/* Keeps a copy of lone server SYN e for the second matcher (offline: sm_join_finish). */
static void archive(sm_join_t *j, const struct entry *e)
{
    if (j->arch == NULL && j->arch_cap == 0) {
        /* Reserved whole, backed as it is used, like the pool: never copied to grow. */
        j->arch_cap = ARCHIVE_MAX;
        j->arch = sm_alloc_should_fail() ? NULL
                                         : sm_huge_reserve(ARCHIVE_MAX * sizeof(struct entry));
        j->arch_mapped = j->arch != NULL;
    }
    if (j->arch == NULL || j->narch == j->arch_cap) {
        arch_lose(j, e); /* counted: a rewritten connection may go unmatched */
        return;
    }
    j->arch[j->narch++] = *e;
    off_file(j, j->narch - 1);
}

/* A server SYN no client SYN matched ends (another client's, or one no client sensor
 * watches); counted, and whether the server left it unanswered. */
static void server_alone(sm_join_t *j, uint32_t si)
{
    const struct entry *e = &j->pool[si];
    if (!e->flood) {
        if (j->cfg.on_lone) {
            struct sm_lone_syn ls = {.tuple = e->tuple, .first_ns = e->first_ns,
                                     .attempts = e->attempts,
                                     .answer = (enum sm_answer)e->answer,
                                     .decided_ns = j->decide_ns};
            j->cfg.on_lone(j->cfg.lone_arg, &ls);
        }
        j->st.server_only++;
        if (e->answer == SM_ANSWER_NONE &&
            in_scope(j, &e->tuple))
            j->st.server_only_unanswered++;
        if (j->cfg.hold_unmatched)
            archive(j, e);
        else
            live_archive(j, e);
    }
    entry_free(j, si);
}

static void evict_oldest(sm_join_t *j)
{
    uint32_t i = j->oldest;
    struct entry *e = &j->pool[i];
    j->st.evicted++;
    forced_time(j);
    if (e->kind == E_SERVER) {
        if (e->peer) {
            i = e->peer; /* evict the group it belongs to, with it */
        } else {
            server_alone(j, i);
            return;
        }
    }
    struct entry *g = &j->pool[i];
    if (g->peer || g->held) {
        decide_final(j, i); /* its answer is known, or it was already due */
    } else if (!in_scope(j, &g->tuple)) {
        j->st.out_of_scope++;
        free_group(j, i);
    } else {
        emit(j, i, SM_V_COLLECTOR_OVERLOAD, "join_table_full");
        free_group(j, i);
    }
}

/* Decides what is due at or before the horizon: everything, or max_work entries when limit. */
static void run_limited(sm_join_t *j, bool limit)
{
    int64_t h = horizon(j);
    size_t work = 0;
    j->backlog = false;
    int at;
    while ((at = queue_next(j)) >= 0 && queue_at(j, at)->due <= h) {
        if (limit && j->cfg.max_work && work++ >= j->cfg.max_work) {
            j->backlog = true;
            return;
        }
        struct heap_item it = queue_pop(j, at);
        struct entry *e = &j->pool[it.idx];
        if (e->gen != it.gen || e->kind == E_FREE || e->held)
            continue;
        if (it.due > j->decide_ns)
            j->decide_ns = it.due;
        e->queued = false;
        if (e->kind == E_SERVER) {
            if (e->flood && sat_add(e->last_ns, j->cfg.max_skew_ns) > h) {
                queue_push(j, it.idx, sat_add(e->last_ns, j->cfg.max_skew_ns));
            } else if (e->peer == 0) {
                server_alone(j, it.idx);
            }
            continue;
        }
        if (j->cfg.emit_suspect && !e->suspect_sent && suspicious(e) &&
            sat_add(e->first_ns, j->cfg.timeout_ns) <= h && e->peer == 0 && j->live_ix &&
            e->candidates <= 1 && in_scope(j, &e->tuple)) {
            fp_match(j, j->live_ix, it.idx); /* found by fingerprint: nothing to warn of */
            e = &j->pool[it.idx];
        }
        if (j->cfg.emit_suspect && !e->suspect_sent && suspicious(e) &&
            sat_add(e->first_ns, j->cfg.timeout_ns) <= h) {
            e->suspect_sent = true;
            if (in_scope(j, &e->tuple))
                emit(j, it.idx, SM_V_SUSPECT, NULL);
        }
        int64_t gdue = sat_add(e->last_ns, quiet_of(j, e));
        if (gdue <= h) {
            /* decided now, at its own due time (later than this item's when the item was
             * the suspect's or came before a retransmission): decided_ns never goes back */
            if (gdue > j->decide_ns)
                j->decide_ns = gdue;
            decide_group(j, it.idx);
        } else {
            schedule_group(j, it.idx);
        }
    }
}

static void fp_sweep_due(sm_join_t *j);

static void run(sm_join_t *j)
{
    run_limited(j, true);
    if (j->cfg.hold_unmatched)
        fp_sweep_due(j);
}

/* ---- matching ------------------------------------------------------------------------------ */

static bool tuple_eq(const struct sm_tuple *a, const struct sm_tuple *b)
{
    return a->sport == b->sport && a->dport == b->dport && sm_addr_eq(&a->src, &b->src) &&
           sm_addr_eq(&a->dst, &b->dst);
}

static bool tuple_is_reverse(const struct sm_tuple *a, const struct sm_tuple *b)
{
    return a->sport == b->dport && a->dport == b->sport && sm_addr_eq(&a->src, &b->dst) &&
           sm_addr_eq(&a->dst, &b->src);
}

static uint32_t find(sm_join_t *j, enum ekind kind, uint32_t isn, const struct sm_tuple *t,
                     bool reverse)
{
    for (uint32_t i = head_of(j, isn); i; i = j->pool[i].hnext) {
        const struct entry *e = &j->pool[i];
        if (e->kind == kind && e->isn == isn && !e->flood &&
            (reverse ? tuple_is_reverse(&e->tuple, t) : tuple_eq(&e->tuple, t)))
            return i;
    }
    return 0;
}

/* Could server SYN s carry a TSval of group g's connection? One TCP timestamp clock ticks
 * at most 1,000 times a second: the two TSvals are no further apart than the milliseconds
 * between the two SYNs, and a second of slop (a retransmission the other side missed). */
static bool tsval_near(const struct entry *g, const struct entry *s)
{
    int64_t d = (int32_t)(s->fp.tsval - g->fp.tsval);
    int64_t dt = (s->first_ns - g->first_ns) / 1000000;
    if (d < 0)
        d = -d;
    if (dt < 0)
        dt = -dt;
    return d <= dt + 1000;
}

/* How well server SYN s fits client group g: higher is better; 0 = cannot be it. */
static int fit(const sm_join_t *j, const struct entry *g, const struct entry *s)
{
    /* The server sees an attempt after it was sent, within the timeout, give or take the
     * clock skew (and a slack to measure offsets beyond it): outside that window an equal ISN
     * is another connection's. */
    if (s->first_ns < sat_add(g->first_ns, -(j->cfg.max_skew_ns + MATCH_SLACK)) ||
        s->first_ns > sat_add(g->last_ns, j->cfg.timeout_ns + j->cfg.max_skew_ns + MATCH_SLACK))
        return 0;
    /* In the slack (beyond the skew allowance), and anywhere once a device was seen
     * rewriting ISNs, an equal ISN whose TCP timestamp is further from the client's than the
     * time between them allows is another connection's: a rewritten ISN meets another
     * connection's own now and then (about once in 10^5 connections at 5,000 a second), and
     * the connection it really belongs to is not there to make it ambiguous. */
    bool in_slack = s->first_ns < sat_add(g->first_ns, -j->cfg.max_skew_ns) ||
                    s->first_ns > sat_add(g->last_ns, j->cfg.timeout_ns + j->cfg.max_skew_ns);
    if ((in_slack || j->st.isn_rewritten > 0) && (g->fp.present & SM_OPT_TS) &&
        (s->fp.present & SM_OPT_TS) &&
        !tsval_near(g, s))
        return 0;
    int score = 1;
    if (g->tuple.dport == s->tuple.dport)
        score += 4; /* survives NAT unless the destination port is translated */
    if ((g->fp.present & SM_OPT_TS) && (s->fp.present & SM_OPT_TS) &&
        g->fp.tsval == s->fp.tsval)
        score += 2;
    if (g->fp.present == s->fp.present)
        score += 1;
    return score;
}

/* Remembers retransmission r as attempt i (1-based count of earlier ones) of group g. */
static void record_attempt(struct entry *g, uint32_t i, const struct sm_record *r)
{
    if (i == 0 || i >= TRACKED_ATTEMPTS)
        return;
    if (i == 1)
        g->more = sm_malloc((TRACKED_ATTEMPTS - 1) * sizeof *g->more);
    if (g->more == NULL)
        return; /* out of memory: only the first attempt is known, delivery is judged on it */
    struct attempt *a = &g->more[i - 1];
    a->ts = r->ts_ns;
    a->has_tsval = (r->opts.present & SM_OPT_TS) != 0;
    a->tsval = r->opts.tsval;
    a->ip_id = r->ip_id;
}

/* Attempt i of group g (i < tracked_attempts(g)). */
static struct attempt attempt_at(const struct entry *g, uint32_t i)
{
    if (i > 0)
        return g->more[i - 1];
    struct attempt a = {g->first_ns, g->fp.tsval, (g->fp.present & SM_OPT_TS) != 0, g->fp.ip_id};
    return a;
}

static uint32_t tracked_attempts(const struct entry *g)
{
    if (g->more == NULL)
        return 1;
    return g->attempts < TRACKED_ATTEMPTS ? g->attempts : TRACKED_ATTEMPTS;
}

/*
 * Which client attempt did the server see first? The one whose TSval equals the server's;
 * without timestamps, the last attempt sent no later than the server saw it (clocks assumed
 * within max_skew of each other), or the first one. Sets lost_before and delay_ns.
 */
static void resolve_delivery(sm_join_t *j, struct entry *g)
{
    const struct entry *s = &j->pool[g->peer];
    uint32_t n = tracked_attempts(g);
    uint32_t k = 0;
    bool found = false;
    if (s->fp.present & SM_OPT_TS) {
        for (uint32_t i = 0; i < n && !found; i++) {
            struct attempt a = attempt_at(g, i);
            if (a.has_tsval && a.tsval == s->fp.tsval) {
                k = i;
                found = true;
            }
        }
    }
    if (!found) {
        for (uint32_t i = 0; i < n; i++)
            if (attempt_at(g, i).ts <= s->first_ns)
                k = i;
    }
    g->lost_before = k;
    g->delay_ns = s->first_ns - attempt_at(g, k).ts;
}

static void contest(struct entry *e, uint32_t n)
{
    if (n > UINT16_MAX)
        n = UINT16_MAX;
    if (e->candidates < n)
        e->candidates = n;
}

static void link_pair(sm_join_t *j, uint32_t gi, uint32_t si, uint32_t candidates)
{
    struct entry *g = &j->pool[gi], *s = &j->pool[si];
    g->peer = si;
    s->peer = gi;
    contest(g, candidates);
    resolve_delivery(j, g);
    s->gen++; /* the server entry's own expiry no longer applies */
}

/*
 * Matching is order-independent about ambiguity: whichever side arrives first, a client group
 * that more than one server SYN fits equally well (or that ties with another group for one
 * server SYN) ends `ambiguous`, never `matched` by luck or `missing` for losing the tie.
 */

/* Could one of the server SYNs refused under marker s have been an attempt of group g? The
 * window of fit(), over the marker's span of refusals. */
static bool flood_fits(const sm_join_t *j, const struct entry *g, const struct entry *s)
{
    return s->last_ns >= sat_add(g->first_ns, -(j->cfg.max_skew_ns + MATCH_SLACK)) &&
           s->first_ns <=
               sat_add(g->last_ns, j->cfg.timeout_ns + j->cfg.max_skew_ns + MATCH_SLACK);
}

/* Links the new group gi to the best-fitting unlinked server SYN with its ISN, if any. */
static void match_group(sm_join_t *j, uint32_t gi)
{
    struct entry *g = &j->pool[gi];
    uint32_t pick = 0, count = 0;
    int best = 0;
    for (uint32_t i = head_of(j, g->isn); i; i = j->pool[i].hnext) {
        const struct entry *s = &j->pool[i];
        if (s->kind != E_SERVER || s->isn != g->isn)
            continue;
        if (s->flood) {
            if (flood_fits(j, g, s))
                contest(g, 2); /* a refused server SYN may have been this one */
            continue;
        }
        int sc = fit(j, g, s);
        if (sc == 0 || sc < best)
            continue;
        /* A server SYN that fits its own group better is not a candidate for this one. */
        if (s->peer && fit(j, &j->pool[s->peer], s) > sc)
            continue;
        if (sc > best) {
            best = sc;
            count = 0;
            pick = 0;
        }
        count++;
        if (!s->peer && !pick)
            pick = i;
    }
    if (count == 0)
        return;
    for (uint32_t i = head_of(j, g->isn); i; i = j->pool[i].hnext) {
        const struct entry *s = &j->pool[i];
        if (s->kind == E_SERVER && !s->flood && s->isn == g->isn && s->peer &&
            fit(j, g, s) == best &&
            fit(j, &j->pool[s->peer], s) <= best)
            contest(&j->pool[s->peer], 2);
    }
    if (pick)
        link_pair(j, gi, pick, count);
    else
        contest(g, count + 1); /* every fitting server SYN is taken: a tie lost */
}

/* Links the new server SYN si to the best-fitting unlinked client group, if any. */
static void match_server(sm_join_t *j, uint32_t si)
{
    const struct entry *s = &j->pool[si];
    uint32_t pick = 0, count = 0;
    int best = 0;
    for (uint32_t i = head_of(j, s->isn); i; i = j->pool[i].hnext) {
        const struct entry *g = &j->pool[i];
        if (g->kind != E_GROUP || g->isn != s->isn)
            continue;
        int sc = fit(j, g, s);
        if (sc == 0 || sc < best)
            continue;
        if (sc > best) {
            best = sc;
            count = 0;
            pick = 0;
        }
        count++;
        if (!g->peer && !pick)
            pick = i;
    }
    if (count == 0)
        return;
    for (uint32_t i = head_of(j, s->isn); i; i = j->pool[i].hnext) {
        struct entry *g = &j->pool[i];
        if (g->kind != E_GROUP || g->isn != s->isn || fit(j, g, s) != best)
            continue;
        if (count > 1)
            contest(g, count);
        /* A linked group that this SYN fits as well as its own peer: two server SYNs. */
        if (g->peer && fit(j, g, &j->pool[g->peer]) <= best)
            contest(g, 2);
    }
    if (pick == 0)
        return;
    bool was_held = j->pool[pick].held;
    link_pair(j, pick, si, j->pool[pick].candidates ? j->pool[pick].candidates : 1);
    if (was_held)
        j->st.late_records++;
    else if (!j->pool[pick].queued)
        schedule_group(j, pick);
}

/* True when isn already has MAX_SAME_ISN entries pending (counted once per record refused). */
static bool isn_flooded(sm_join_t *j, uint32_t isn)
{
    uint32_t n = 0;
    for (uint32_t i = head_of(j, isn); i; i = j->pool[i].hnext)
        if (++n >= MAX_SAME_ISN) {
            j->st.isn_flood++;
            return true;
        }
    return false;
}

/*
 * Answer r (a SYN/ACK, or an RST acknowledging the ISN) going back towards the SYNs of an
 * entry of kind: the client's answer on a group (what the client received), the server's on
 * a server SYN (what the server sent). False when no such entry is held.
 */
static bool note_answer(sm_join_t *j, enum ekind kind, const struct sm_record *r)
{
    if (!(r->flags & SM_TH_ACK) || !(r->flags & (SM_TH_SYN | SM_TH_RST)))
        return false;
    uint32_t i = find(j, kind, r->ack - 1, &r->tuple, true);
    if (i == 0)
        return false;
    struct entry *e = &j->pool[i];
    enum sm_answer a = sm_flags_is_synack(r->flags) ? SM_ANSWER_SYNACK : SM_ANSWER_RST;
    if (e->answer == SM_ANSWER_NONE || (a == SM_ANSWER_SYNACK && e->answer == SM_ANSWER_RST)) {
        e->answer = (uint8_t)a; /* the SYN/ACK wins over an RST: it answered the SYN */
        e->answer_ns = r->ts_ns;
        e->answer_seq = r->seq;
        e->answers = 0;
    }
    if (e->answer == a) {
        if (r->ts_ns < e->answer_ns) {
            e->answer_ns = r->ts_ns;
            e->answer_seq = r->seq;
        }
        if (e->answers < UINT16_MAX)
            e->answers++;
    }
    return true;
}

static void add_client(sm_join_t *j, const struct sm_record *r)
{
    if (sm_flags_is_syn(r->flags)) {
        uint32_t gi = find(j, E_GROUP, r->seq, &r->tuple, false);
        if (gi && !j->pool[gi].held) {
            struct entry *g = &j->pool[gi];
            if (r->ts_ns > g->last_ns) {
                g->gap_ns = r->ts_ns - g->last_ns;
                g->last_ns = r->ts_ns;
            }
            record_attempt(g, g->attempts, r);
            g->attempts++;
            if (g->peer)
                resolve_delivery(j, g);
            /* Its due time only moves later: the queued item, when it pops, reschedules. */
            if (!g->queued)
                schedule_group(j, gi);
            return;
        }
        if (r->ts_ns < horizon(j))
            j->st.late_records++;
        if (isn_flooded(j, r->seq)) {
            /* Decided now, on what is known: nothing can say which server SYN is its. */
            if (!in_scope(j, &r->tuple))
                j->st.out_of_scope++;
            else
                emit_record(j, r, SM_V_UNKNOWN, "isn_flood");
            return;
        }
        gi = entry_alloc(j, E_GROUP, r->seq);
        if (gi == 0) {
            emit_record(j, r, SM_V_UNKNOWN, "collector_out_of_memory");
            return;
        }
        struct entry *g = &j->pool[gi];
        g->tuple = r->tuple;
        g->first_ns = g->last_ns = r->ts_ns;
        g->attempts = 1;
        g->stream = r->stream;
        g->frame = r->frame;
        g->fp = synprint_of(r);
        pin(j, g);
        j->st.client_groups++;
        match_group(j, gi);
        schedule_group(j, gi);
        return;
    }
    if (!note_answer(j, E_GROUP, r))
        j->st.ignored[SM_ROLE_CLIENT]++;
}

/*
 * Server SYN r of a flooded ISN is refused. Every open group of the ISN might have been its
 * client: none may end `missing` for want of it (ambiguous instead); nor may a group that
 * comes later (a client's records can arrive after the server's): one marker entry per ISN
 * keeps the span of refused SYNs until, like a server SYN, the horizon passes it by the skew.
 */
static void note_refused(sm_join_t *j, const struct sm_record *r)
{
    uint32_t marker = 0;
    for (uint32_t i = head_of(j, r->seq); i; i = j->pool[i].hnext) {
        struct entry *e = &j->pool[i];
        if (e->kind == E_GROUP)
            contest(e, 2);
        else if (e->flood)
            marker = i;
    }
    if (marker == 0) {
        marker = entry_alloc(j, E_SERVER, r->seq);
        if (marker == 0) {
            j->degraded = true; /* the refusal cannot be remembered: nothing is missing */
            return;
        }
        struct entry *m = &j->pool[marker];
        m->flood = true;
        m->first_ns = m->last_ns = r->ts_ns;
        queue_push(j, marker, sat_add(r->ts_ns, j->cfg.max_skew_ns));
        return;
    }
    struct entry *m = &j->pool[marker];
    if (r->ts_ns < m->first_ns)
        m->first_ns = r->ts_ns;
    if (r->ts_ns > m->last_ns)
        m->last_ns = r->ts_ns; /* its timer item, when it pops, reschedules */
}

/* ---- which ports the server saw SYNs to --------------------------------------------------- */

static int64_t sec_of(int64_t ns)
{
    return ns >= 0 ? ns / NS_PER_SEC : -((-(ns + 1)) / NS_PER_SEC) - 1;
}

static void pres_put(struct pres_slot *s, uint16_t port)
{
    if (s->n > PRES_PORTS)
        return;
    for (uint8_t i = 0; i < s->n; i++)
        if (s->port[i] == port)
            return;
    if (s->n == PRES_PORTS)
        s->n = PRES_PORTS + 1; /* more than fit: "any" from now on */
    else
        s->port[s->n++] = port;
}

static bool pres_has(const struct pres_slot *s, uint16_t port)
{
    if (s->n > PRES_PORTS)
        return true;
    for (uint8_t i = 0; i < s->n; i++)
        if (s->port[i] == port)
            return true;
    return false;
}

static struct pres_slot *pres_ring_at(const sm_join_t *j, int64_t sec)
{
    return &j->pres[(size_t)((sec % PRES_LIVE + PRES_LIVE) % PRES_LIVE)];
}

/* The server saw a SYN to port at ns (client clock). */
static void pres_note(sm_join_t *j, int64_t ns, uint16_t port)
{
    int64_t sec = sec_of(ns);
    if (!j->cfg.hold_unmatched) {
        if (j->pres == NULL) {
            j->pres = sm_malloc(PRES_LIVE * sizeof *j->pres);
            if (j->pres == NULL) {
                j->pres_floor = INT64_MAX; /* nothing known: any port may have been seen */
                return;
            }
            for (size_t k = 0; k < PRES_LIVE; k++)
                j->pres[k].sec = INT64_MIN, j->pres[k].n = 0;
        }
        struct pres_slot *s = pres_ring_at(j, sec);
        if (s->sec > sec) { /* too late for the ring */
            if (sec > j->pres_floor)
                j->pres_floor = sec;
            return;
        }
        if (s->sec < sec) {
            if (s->sec != INT64_MIN && s->sec > j->pres_floor)
                j->pres_floor = s->sec; /* written over */
            s->sec = sec;
            s->n = 0;
        }
        pres_put(s, port);
        return;
    }
    if (j->pres_any)
        return;
    if (j->pres_len == 0)
        j->pres_base = sec;
    if (sec < j->pres_base || sec - j->pres_base >= PRES_OFFLINE) {
        /* before the first, or too far from it: rather than move everything, know less */
        j->pres_any = true;
        return;
    }
    size_t at = (size_t)(sec - j->pres_base);
    if (at >= j->pres_len) {
        if (at >= j->pres_cap) {
            size_t ncap = j->pres_cap ? j->pres_cap : 64;
            while (ncap <= at)
                ncap *= 2;
            struct pres_slot *np = sm_realloc(j->pres, ncap * sizeof *np);
            if (np == NULL) {
                j->pres_any = true;
                return;
            }
            j->pres = np;
            j->pres_cap = ncap;
        }
        for (size_t k = j->pres_len; k <= at; k++)
            j->pres[k].n = 0;
        j->pres_len = at + 1;
    }
    pres_put(&j->pres[at], port);
}

/*
 * Whether the server may have seen a SYN to port between from and to (client clock): false
 * only when it surely saw none. Behind a device that rewrites ISNs, a client SYN that carries
 * nothing but its ports cannot be matched by fingerprint; but if no SYN at all reached that
 * port on the server then, it was not delivered, whatever its ISN became.
 */
static bool pres_seen(const sm_join_t *j, uint16_t port, int64_t from, int64_t to)
{
    int64_t a = sec_of(from), b = sec_of(to);
    if (!j->cfg.hold_unmatched) {
        if (j->pres == NULL)
            return j->pres_floor == INT64_MAX; /* none seen yet, unless out of memory */
        if (a <= j->pres_floor || b - a >= PRES_LIVE)
            return true;
        for (int64_t sec = a; sec <= b; sec++) {
            const struct pres_slot *s = pres_ring_at(j, sec);
            if (s->sec > sec)
                return true; /* written over since */
            if (s->sec == sec && pres_has(s, port))
                return true;
        }
        return false;
    }
    if (j->pres_any)
        return true;
    for (int64_t sec = a; sec <= b; sec++) {
        if (j->pres_len == 0 || sec < j->pres_base || sec - j->pres_base >= (int64_t)j->pres_len)
            continue; /* no server SYN at all then */
        if (pres_has(&j->pres[sec - j->pres_base], port))
            return true;
    }
    return false;
}

static void add_server(sm_join_t *j, const struct sm_record *r)
{
    if (sm_flags_is_syn(r->flags)) {
        pres_note(j, r->ts_ns, r->tuple.dport);
        uint32_t si = find(j, E_SERVER, r->seq, &r->tuple, false);
        if (si) {
            j->pool[si].attempts++;
            return;
        }
        if (isn_flooded(j, r->seq)) {
            note_refused(j, r);
            if (j->cfg.on_lone) {
                struct sm_lone_syn ls = {.tuple = r->tuple, .first_ns = r->ts_ns,
                                         .attempts = 1, .answer = SM_ANSWER_NONE,
                                         .decided_ns = forced_time(j)};
                j->cfg.on_lone(j->cfg.lone_arg, &ls);
            }
            return;
        }
        si = entry_alloc(j, E_SERVER, r->seq);
        if (si == 0)
            return;
        struct entry *s = &j->pool[si];
        s->tuple = r->tuple;
        s->first_ns = s->last_ns = r->ts_ns;
        s->attempts = 1;
        s->stream = r->stream;
        s->frame = r->frame;
        s->fp = synprint_of(r);
        j->st.server_syns++;
        match_server(j, si);
        /* A server SYN that found its group is decided with it; only one still alone needs
         * its own expiry (pushing it anyway would leave a stale timer item per connection,
         * whose pop reads the then cold entry just to learn that). */
        if (j->pool[si].peer == 0)
            queue_push(j, si, sat_add(r->ts_ns, j->cfg.max_skew_ns));
        return;
    }
    if (!note_answer(j, E_SERVER, r))
        j->st.ignored[SM_ROLE_SERVER]++;
}

/* ---- the second matcher: fingerprints, for ISNs a device rewrote ------------------------- */

/*
 * A firewall that randomizes ISNs (Cisco ASA, Firepower) rewrites the client's sequence
 * numbers on the way to the server and the acknowledgements on the way back, and nothing
 * else a SYN says: its TCP timestamp (Linux: one random offset per connection or host pair),
 * its IPv4 ID, its ports (without NAT), its options and window. Groups the ISN did not
 * match are matched on those, against the server SYNs the ISN did not match either, within
 * the same time window: the TSval (or, without timestamps, the IPv4 ID) must be equal, or,
 * with neither, the source port, and only a unique candidate is taken; more than one is
 * `ambiguous`, never a guess. Offline (compare) this runs at the end, over the lone server
 * SYNs kept since they expired (archive()).
 */
enum fp_kind { FP_TSVAL = 1, FP_IPID = 2, FP_PORT = 3 };

static inline uint64_t fp_key(enum fp_kind kind, uint16_t dport, uint32_t value)
{
    return (uint64_t)kind << 48 | (uint64_t)dport << 32 | value;
}

/* True when a SYN says more of itself than its ports: a timestamp or an IPv4 ID. */
static bool strong_print(const struct entry *e)
{
    return (e->fp.present & SM_OPT_TS) || e->fp.ip_id != 0;
}

/* The one key a server SYN is filed under: its strongest print. */
static uint64_t server_key(const struct entry *s)
{
    if (s->fp.present & SM_OPT_TS)
        return fp_key(FP_TSVAL, s->tuple.dport, s->fp.tsval);
    if (s->fp.ip_id != 0)
        return fp_key(FP_IPID, s->tuple.dport, s->fp.ip_id);
    return fp_key(FP_PORT, s->tuple.dport, s->tuple.sport);
}

/* Could server SYN s (another ISN) be an attempt of group g? Time, options, window. */
static bool fp_fits(const sm_join_t *j, const struct entry *g, const struct entry *s)
{
    int64_t skew = j->cfg.max_skew_ns;
    if (s->isn == g->isn || s->tuple.dport != g->tuple.dport)
        return false;
    if (s->first_ns < sat_add(g->first_ns, -skew) ||
        s->first_ns > sat_add(g->last_ns, j->cfg.timeout_ns + skew))
        return false;
    if (s->fp.present != g->fp.present || s->fp.window != g->fp.window)
        return false;
    if ((g->fp.present & SM_OPT_WSCALE) && s->fp.wscale != g->fp.wscale)
        return false;
    return true;
}

static inline size_t fp_slot(const struct fp_index *ix, uint64_t k)
{
    return (size_t)((k * UINT64_C(0x9e3779b97f4a7c15)) >> 20) & ix->mask;
}

/* A time in units of 2^30 ns, clamped: monotonic, so a window compared in it keeps all the
 * window holds. */
static inline int32_t fp_sec(int64_t ns)
{
    int64_t s = ns >> 30;
    return s > INT32_MAX ? INT32_MAX : s < INT32_MIN ? INT32_MIN : (int32_t)s;
}

static bool fp_index_init(struct fp_index *ix, size_t n)
{
    ix->e = sm_calloc(n, sizeof *ix->e);
    ix->mask = n - 1;
    ix->ndropped = 0;
    if (ix->e == NULL)
        return false;
    return true;
}

/* Probes per insertion at most: a flood of SYNs with one print (a constant IP ID) would
 * otherwise grow one cluster that every insertion and lookup walks. A SYN lies in the
 * first FP_MAX_PROBE slots from its home or is not filed (its key is remembered, so that a
 * lookup knows it may be incomplete): one print shared by so many SYNs could not have
 * named one of them anyway. */
#define FP_MAX_PROBE 64

/* Whether a SYN filed under k may have been refused. */
static bool fp_dropped(const struct fp_index *ix, uint64_t k)
{
    if (ix->ndropped > FP_DROPPED)
        return true;
    for (unsigned i = 0; i < ix->ndropped; i++)
        if (ix->dropped[i] == k)
            return true;
    return false;
}

static void fp_index_put(struct fp_index *ix, uint64_t k, uint64_t v, int64_t first_ns)
{
    size_t h = fp_slot(ix, k);
    for (int probes = 1; ix->e[h].at; probes++) { /* h is the probes-th slot from home */
        if (probes == FP_MAX_PROBE) {
            if (!fp_dropped(ix, k)) {
                if (ix->ndropped < FP_DROPPED)
                    ix->dropped[ix->ndropped] = k;
                ix->ndropped++;
            }
            return;
        }
        h = (h + 1) & ix->mask;
    }
    ix->e[h].key = k;
    ix->e[h].at = (uint32_t)v + 1;
    ix->e[h].sec = fp_sec(first_ns);
}

/* Files server SYN s under its strongest print and, when that is not its ports, under its
 * ports too: a load tool's SYNs may share one IP ID, and then the port decides. */
static void fp_file(struct fp_index *ix, const struct entry *s, uint64_t v)
{
    uint64_t k = server_key(s), kp = fp_key(FP_PORT, s->tuple.dport, s->tuple.sport);
    fp_index_put(ix, k, v, s->first_ns);
    if (k != kp)
        fp_index_put(ix, kp, v, s->first_ns);
}

/* Offline: n zeroed slots for the index, in its own block: reused while large enough (a
 * refiling then touches no new page), else a new one in huge pages (hugemem.h): in 4 KiB
 * pages the refilings of a 1 GB pair faulted 14,000 times. */
static bool off_slots(sm_join_t *j, size_t n)
{
    size_t bytes = n * sizeof(struct fp_ent);
    if (bytes > j->off_bytes) {
        void *p = sm_alloc_should_fail() ? NULL : sm_huge_alloc(bytes);
        if (p == NULL)
            return false;
        sm_huge_free(j->off_ix->e, j->off_bytes);
        j->off_ix->e = p;
        j->off_bytes = sm_huge_round(bytes);
    } else {
        memset(j->off_ix->e, 0, bytes);
    }
    j->off_ix->mask = n - 1;
    j->off_ix->ndropped = 0;
    return true;
}

/*
 * Offline: files archived SYN a into the index as it is archived. The index holds the SYNs
 * not taken yet (off_list): most are taken within a minute or so, so it stays small enough
 * for the caches. When the SYNs filed since it was made reach a quarter of its slots (two
 * keys a SYN: half full), it is made anew, eight slots for each SYN still untaken: amortized
 * constant work per SYN.
 */
static void off_file(sm_join_t *j, size_t a)
{
    if (j->off_failed)
        return;
    if (j->off_ix == NULL) {
        j->off_ix = sm_calloc(1, sizeof *j->off_ix);
        if (j->off_ix == NULL || !off_slots(j, 4096))
            goto fail;
    }
    if (j->off_n == j->off_cap) {
        size_t cap = j->off_cap ? 2 * j->off_cap : 1024;
        uint32_t *l = sm_realloc(j->off_list, cap * sizeof *l);
        if (l == NULL)
            goto fail;
        j->off_list = l;
        j->off_cap = cap;
    }
    j->off_list[j->off_n++] = (uint32_t)a;
    if (4 * j->off_n <= j->off_ix->mask + 1) {
        fp_file(j->off_ix, &j->arch[a], a);
        return;
    }
    size_t kept = 0;
    for (size_t k = 0; k < j->off_n; k++)
        if (j->arch[j->off_list[k]].kind == E_SERVER)
            j->off_list[kept++] = j->off_list[k];
    j->off_n = kept;
    size_t n = 4096;
    while (n < 8 * kept)
        n *= 2;
    if (!off_slots(j, n))
        goto fail;
    for (size_t k = 0; k < kept; k++)
        fp_file(j->off_ix, &j->arch[j->off_list[k]], j->off_list[k]);
    return;
fail:
    if (j->off_ix)
        sm_huge_free(j->off_ix->e, j->off_bytes);
    free(j->off_ix);
    j->off_ix = NULL;
    j->off_failed = true;
    j->degraded = true; /* rewritten connections may go unmatched: nothing is missing */
}

/* The archived server SYN an index value names, or NULL when the ring wrote over it. */
static struct entry *arch_at(const sm_join_t *j, uint64_t v)
{
    if (j->cfg.hold_unmatched)
        return v < j->narch ? &j->arch[v] : NULL;
    size_t slot = (size_t)(v & (j->ring_cap - 1));
    return j->arch && j->arch_seq[slot] == v ? &j->arch[slot] : NULL;
}

/*
 * Live: lone server SYN e into the ring, and its key into the index. The index is never
 * deleted from: entries the ring wrote over fail arch_at(); once it has taken as many keys
 * as the ring holds it is rebuilt from the ring (amortized constant work per SYN).
 */
static void live_archive(sm_join_t *j, const struct entry *e)
{
    if (j->arch == NULL) {
        j->arch = sm_malloc(j->ring_cap * sizeof *j->arch);
        j->arch_seq = sm_malloc(j->ring_cap * sizeof *j->arch_seq);
        j->live_ix = sm_calloc(1, sizeof *j->live_ix);
        if (j->arch == NULL || j->arch_seq == NULL || j->live_ix == NULL ||
            !fp_index_init(j->live_ix, 8 * j->ring_cap)) {
            free(j->arch);
            free(j->arch_seq);
            free(j->live_ix);
            j->arch = NULL;
            j->arch_seq = NULL;
            j->live_ix = NULL;
            arch_lose(j, e);
            return;
        }
        for (size_t k = 0; k < j->ring_cap; k++)
            j->arch_seq[k] = UINT64_MAX;
    }
    uint64_t pos = j->ring_next++;
    if ((uint32_t)pos == UINT32_MAX)
        pos = j->ring_next++; /* the index keeps pos + 1 in 32 bits: never 0 */
    size_t slot = (size_t)(pos & (j->ring_cap - 1));
    if (j->arch_seq[slot] != UINT64_MAX && j->arch[slot].kind == E_SERVER)
        arch_lose(j, &j->arch[slot]); /* written over before any group took it */
    j->arch[slot] = *e;
    j->arch_seq[slot] = pos;
    if (++j->live_ix_inserts > j->ring_cap) {
        memset(j->live_ix->e, 0, (j->live_ix->mask + 1) * sizeof *j->live_ix->e);
        j->live_ix->ndropped = 0;
        for (size_t k = 0; k < j->ring_cap; k++)
            if (j->arch_seq[k] != UINT64_MAX && j->arch[k].kind == E_SERVER)
                fp_file(j->live_ix, &j->arch[k], j->arch_seq[k]);
        j->live_ix_inserts = 1;
    } else {
        fp_file(j->live_ix, e, pos);
    }
}

/* Adds the archived server SYNs filed under k that fit g to cand (distinct, at most max). */
static size_t fp_lookup(const sm_join_t *j, const struct fp_index *ix, uint64_t k,
                        const struct entry *g, uint64_t *cand, size_t n, size_t max,
                        uint64_t *skipped)
{
    /* Every SYN filed under k lies in the first FP_MAX_PROBE slots from its home (fp_index_put). */
    int probes = 0;
    size_t h = fp_slot(ix, k);
    int32_t lo = fp_sec(sat_add(g->first_ns, -j->cfg.max_skew_ns));
    int32_t hi = fp_sec(sat_add(g->last_ns, j->cfg.timeout_ns + j->cfg.max_skew_ns));
    for (; ix->e[h].at && probes < FP_MAX_PROBE; h = (h + 1) & ix->mask, probes++) {
        const struct fp_ent *f = &ix->e[h];
        if (f->key != k || f->sec < lo || f->sec > hi)
            continue; /* another print, or outside the window (fp_fits) */
        /* offline the archive index; live the ring position, which lies within 2^32 below
         * ring_next (the index holds at most twice the ring) */
        uint32_t v32 = f->at - 1;
        uint64_t v = j->cfg.hold_unmatched ? v32
                                           : j->ring_next - (uint32_t)((uint32_t)j->ring_next - v32);
        const struct entry *s = arch_at(j, v);
        if (s == NULL || s->kind != E_SERVER || !fp_fits(j, g, s))
            continue; /* written over, taken already, or not this one */
        bool dup = false;
        for (size_t i = 0; i < n && !dup; i++)
            dup = cand[i] == v;
        if (dup)
            continue;
        if (n == max) {
            (*skipped)++; /* one is enough to know: the rest are not walked */
            break;
        }
        cand[n++] = v;
    }
    if (probes == FP_MAX_PROBE && fp_dropped(ix, k))
        (*skipped)++; /* a SYN under k may not have been filed */
    return n;
}

/* How many of its prints server SYN s shares with some attempt of g: TSval 4, IPv4 ID 2,
 * source port 1, times 4; then, to tell apart SYNs equal in those (a reused port's two
 * connections in one millisecond carry one TSval), the server's count of attempts: not above
 * the client's 2, equal to it 1 more (the server sees at most the attempts the client sent). */
static int fp_score(const struct entry *g, uint32_t tracked, const struct entry *s)
{
    int best = 0;
    for (uint32_t i = 0; i < tracked; i++) {
        struct attempt a = attempt_at(g, i);
        int sc = (a.has_tsval && (s->fp.present & SM_OPT_TS) && a.tsval == s->fp.tsval) * 4 +
                 (a.ip_id != 0 && a.ip_id == s->fp.ip_id) * 2;
        if (sc > best)
            best = sc;
    }
    int prints = best + (g->tuple.sport == s->tuple.sport);
    return prints * 4 + (s->attempts <= g->attempts) * 2 + (s->attempts == g->attempts);
}

/* Tries held group gi against the archive; links it to a unique candidate. */
/*
 * The one archived server SYN that group gi's prints name with a clear margin, or
 * UINT64_MAX: none fits, or several fit as well (then the group is contested: ambiguous).
 */
static uint64_t fp_choose(sm_join_t *j, const struct fp_index *ix, uint32_t gi)
{
    struct entry *g = &j->pool[gi];
    uint64_t cand[FP_MAX_CANDIDATES];
    size_t n = 0;
    uint64_t skipped = 0;
    uint32_t tracked = tracked_attempts(g);
    /* First by its ports, scanned to its end (or the bound): a candidate of the same source
     * port that a long strong-key chain leaves unexamined is found here. */
    uint64_t skipped_port = 0;
    n = fp_lookup(j, ix, fp_key(FP_PORT, g->tuple.dport, g->tuple.sport), g, cand, n,
                  FP_MAX_CANDIDATES, &skipped_port);
    if (g->fp.present & SM_OPT_TS) {
        for (uint32_t i = 0; i < tracked; i++) {
            struct attempt a = attempt_at(g, i);
            if (a.has_tsval)
                n = fp_lookup(j, ix, fp_key(FP_TSVAL, g->tuple.dport, a.tsval), g, cand, n,
                              FP_MAX_CANDIDATES, &skipped);
        }
    } else if (g->fp.ip_id != 0) {
        for (uint32_t i = 0; i < tracked; i++)
            n = fp_lookup(j, ix, fp_key(FP_IPID, g->tuple.dport, attempt_at(g, i).ip_id), g,
                          cand, n, FP_MAX_CANDIDATES, &skipped);
    }
    /* Server SYNs of its window the archive lost could tie whatever was found: then nothing
     * found is sure, not even a port match. */
    bool incomplete = j->lost_lo <= sat_add(g->last_ns, j->cfg.timeout_ns + j->cfg.max_skew_ns) &&
                      j->lost_hi >= sat_add(g->first_ns, -j->cfg.max_skew_ns);
    j->st.fp_skipped += skipped + skipped_port + incomplete;
    if (n == 0) {
        /* what it could not see may have been its own: not missing, not a middlebox's */
        g->fp_incomplete = g->fp_incomplete || incomplete || skipped || skipped_port;
        return UINT64_MAX;
    }
    /* Several fit (two connections in one millisecond share a TSval): the other fields
     * decide, and only a clear winner is taken. */
    /* A winner must share the strongest print the SYN has: its TSval when it carries a
     * timestamp, else its IPv4 ID, else its port. A port alone next to a timestamp is
     * another connection's port. */
    int need = ((g->fp.present & SM_OPT_TS) ? 4 : g->fp.ip_id != 0 ? 2 : 1) * 4;
    int best = -1, second = -1;
    size_t pick = 0;
    for (size_t c = 0; c < n; c++) {
        int sc = fp_score(g, tracked, arch_at(j, cand[c]));
        if (sc < need)
            continue;
        if (sc > best) {
            second = best;
            best = sc;
            pick = c;
        } else if (sc > second) {
            second = sc;
        }
    }
    if (best < 0 && !skipped && !incomplete)
        return UINT64_MAX; /* nothing shares its strongest print */
    /* Candidates left unexamined could tie the best, unless it shares the source port and
     * the port key was scanned whole (a skipped one with that port would have been found
     * there, and one without it scores less). */
    bool port_sure = best >= 0 && skipped_port == 0 &&
                     arch_at(j, cand[pick])->tuple.sport == g->tuple.sport;
    if (best == second || skipped_port || incomplete || (skipped && !port_sure)) {
        contest(g, (uint32_t)(n + skipped + skipped_port + incomplete)); /* never a guess */
        return UINT64_MAX;
    }
    return cand[pick];
}

/* Links group gi to archived server SYN v, brought back into the pool. */
static void fp_claim(sm_join_t *j, uint32_t gi, uint64_t v)
{
    if (j->live >= j->cfg.max_pending) {
        /* no room to bring it back: it may have been delivered, never missing */
        j->st.fp_skipped++;
        contest(&j->pool[gi], 2);
        return;
    }
    struct entry *a = arch_at(j, v);
    uint32_t si = entry_alloc(j, E_SERVER, a->isn);
    if (si == 0)
        return;
    struct entry *s = &j->pool[si];
    s->tuple = a->tuple;
    s->first_ns = a->first_ns;
    s->last_ns = a->last_ns;
    s->attempts = a->attempts;
    s->stream = a->stream;
    s->frame = a->frame;
    s->fp = a->fp;
    s->answer = a->answer;
    s->answers = a->answers;
    s->answer_seq = a->answer_seq;
    s->answer_ns = a->answer_ns;
    a->kind = E_FREE; /* taken */
    link_pair(j, gi, si, 1);
    j->st.server_only--;
    j->st.isn_rewritten++;
}

/*
 * Which groups the second matcher tries: those the client saw answered (behind a rewriting
 * device the client still gets its SYN/ACK) and, once a rewrite has been seen, all. A SYN
 * that nobody answered and no rewriting in sight is not worth a guess at weak prints.
 */
static bool fp_eligible(const sm_join_t *j, const struct entry *g)
{
    return g->answer != SM_ANSWER_NONE || j->st.isn_rewritten > 0;
}

/* Live: group gi takes its server SYN by fingerprint now, if one is clear (first come). */
static void fp_match(sm_join_t *j, const struct fp_index *ix, uint32_t gi)
{
    if (!fp_eligible(j, &j->pool[gi]))
        return;
    uint64_t v = fp_choose(j, ix, gi);
    if (v != UINT64_MAX)
        fp_claim(j, gi, v);
}

/*
 * Offline, the second matcher takes every held group the ISN left unmatched in two rounds:
 * first the groups the client saw answered, then, once a rewriting device has been seen,
 * the rest. In a round each group names its clear winner (fp_choose) and a server SYN named
 * by two goes to neither (both contested), so the order of the groups decides nothing.
 *
 * Round one runs as the horizon moves (fp_sweep_due), so that most of the matcher's work and
 * of the decisions it makes overlaps the reading: a 1 GB pair with every ISN rewritten
 * waited 0.6 s for them at the end. A held group names its winner once its window is more
 * than a late ISN match (MATCH_SLACK) or a late answer (the quiet time) behind the horizon:
 * every server SYN it could name is archived by then, and nothing to come changes it. The
 * name is taken (fp_commit) once no group still to name can name that server SYN: the
 * pins say how early the groups not yet through round one began, and a server SYN more than
 * the skew before that lies in none of their windows. So a server SYN taken is one no later
 * choice could have seen, and the rounds make the choices one pass at the end would.
 * Round two, rare (unanswered SYNs behind a rewriting device), runs at the end.
 */

/* A choice of round one, waiting to be taken (fp_commit). */
struct fp_pend {
    uint64_t v;       /* the archived server SYN named */
    int64_t first_ns; /* its time */
    uint32_t gi, gen; /* the group that named it, as it was then */
};

/* Round one for held group gi: its choice, counted and queued. */
static void fp_name(sm_join_t *j, uint32_t gi)
{
    struct entry *g = &j->pool[gi];
    g->fp_tried = true;
    if (j->off_ix == NULL)
        return; /* nothing archived: nothing to name */
    if (j->named == NULL) {
        j->named = sm_calloc(ARCHIVE_MAX, 1); /* backed as used */
        if (j->named == NULL) {
            j->degraded = true; /* rewritten connections may go unmatched: nothing is missing */
            return;
        }
    }
    if (j->pend_len == j->pend_cap) {
        if (j->pend_head > 0) { /* slide the waiting ones down */
            memmove(j->pend, j->pend + j->pend_head,
                    (j->pend_len - j->pend_head) * sizeof *j->pend);
            j->pend_len -= j->pend_head;
            j->pend_head = 0;
        }
        if (j->pend_len == j->pend_cap) {
            size_t cap = j->pend_cap ? 2 * j->pend_cap : 1024;
            struct fp_pend *p = sm_realloc(j->pend, cap * sizeof *p);
            if (p == NULL) {
                j->degraded = true;
                return;
            }
            j->pend = p;
            j->pend_cap = cap;
        }
    }
    uint64_t v = fp_choose(j, j->off_ix, gi);
    if (v == UINT64_MAX)
        return;
    if (j->named[v] < 2)
        j->named[v]++;
    j->pend[j->pend_len++] = (struct fp_pend){
        .v = v, .first_ns = j->arch[v].first_ns, .gi = gi, .gen = j->pool[gi].gen};
}

/* Whether held group g has its try in round one (answered) or round two (not), and has not
 * had it yet. */
static bool fp_untried(const sm_join_t *j, const struct entry *g, bool answered)
{
    return g->kind == E_GROUP && g->held && g->peer == 0 && g->candidates <= 1 &&
           !g->fp_tried && (g->answer != SM_ANSWER_NONE) == answered && in_scope(j, &g->tuple);
}

/* Takes the choices of round one whose server SYN lies more than the skew before f (every
 * group still to name began at or after f), in the order they were made; all when final. A
 * pair is decided at once when settled, as the ISN's pairs are, or when final; the rest
 * wait for sm_join_finish() as held groups. */
static void fp_commit(sm_join_t *j, int64_t f, bool final)
{
    while (j->pend_head < j->pend_len) {
        const struct fp_pend p = j->pend[j->pend_head];
        if (!final && sat_add(p.first_ns, j->cfg.max_skew_ns) >= f)
            break;
        j->pend_head++;
        struct entry *g = &j->pool[p.gi];
        if (g->gen != p.gen || g->kind != E_GROUP || !g->held || g->peer)
            continue; /* decided (evicted) meanwhile */
        if (j->named[p.v] > 1) {
            contest(g, 2);
            continue;
        }
        fp_claim(j, p.gi, p.v);
        g = &j->pool[p.gi];
        if (g->peer && (final || settled(g, &j->pool[g->peer])))
            decide_final(j, p.gi); /* now: the pair's two entries are free again */
    }
    if (j->pend_head == j->pend_len)
        j->pend_head = j->pend_len = 0;
}

/* Round one as the horizon moves; see above. Held groups go through it in the order they
 * were held, at most once a second of event time (each try walks what waits). */
static void fp_sweep_due(sm_join_t *j)
{
    if (j->pin_off || j->backlog)
        return;
    int64_t h = horizon(j);
    if (h == INT64_MAX || h < j->sweep_next)
        return; /* the end: sm_join_finish() does the rest */
    j->sweep_next = sat_add(h, INT64_C(1) << PIN_SHIFT);
    int64_t late = MATCH_SLACK > j->cfg.max_quiet_ns ? MATCH_SLACK : j->cfg.max_quiet_ns;
    int64_t lag = sat_add(sat_add(j->cfg.timeout_ns, 2 * j->cfg.max_skew_ns), late);
    for (; j->held_swept < j->held_len; j->held_swept++) {
        uint32_t gi = j->held[j->held_swept];
        struct entry *g = &j->pool[gi];
        if (g->kind != E_GROUP || !g->held)
            continue; /* decided or evicted since */
        if (sat_add(g->last_ns, lag) > h)
            break;
        /* Out of scope now, it is left for the end (the scope grows with the server capture). */
        if (fp_untried(j, g, true))
            fp_name(j, gi);
        unpin(j, g); /* through round one, or never in it */
    }
    int64_t f = pin_floor(j);
    if (j->wm[SM_ROLE_CLIENT] < f)
        f = j->wm[SM_ROLE_CLIENT]; /* groups to come begin after the client's watermark */
    fp_commit(j, f, false);
}

/* Round two: the unanswered held groups, once a rewriting device has been seen. */
static void fp_round_two(sm_join_t *j)
{
    if (j->st.isn_rewritten == 0 || j->off_ix == NULL || j->named == NULL || j->held_len == 0)
        return;
    struct fp_pend *picks = sm_malloc(j->held_len * sizeof *picks);
    if (picks == NULL) {
        j->degraded = true;
        return;
    }
    size_t n = 0;
    for (size_t k = 0; k < j->held_len; k++) {
        uint32_t gi = j->held[k];
        struct entry *g = &j->pool[gi];
        if (!fp_untried(j, g, false))
            continue;
        g->fp_tried = true;
        uint64_t v = fp_choose(j, j->off_ix, gi);
        if (v != UINT64_MAX)
            picks[n++] = (struct fp_pend){.v = v, .gi = gi, .gen = g->gen};
    }
    /* counted afresh: a server SYN round one's groups contested is free to name again */
    for (size_t i = 0; i < n; i++)
        j->named[picks[i].v] = 0;
    for (size_t i = 0; i < n; i++)
        if (j->named[picks[i].v] < 2)
            j->named[picks[i].v]++;
    for (size_t i = 0; i < n; i++) {
        uint32_t gi = picks[i].gi;
        if (j->named[picks[i].v] > 1) {
            contest(&j->pool[gi], 2);
            continue;
        }
        fp_claim(j, gi, picks[i].v);
        if (j->pool[gi].peer)
            decide_final(j, gi);
    }
    free(picks);
}

/* Offline, at the end: round one for the groups still to name, every choice taken, then
 * round two. */
static void fp_pass(sm_join_t *j)
{
    /* the lone server SYNs still pending join the archive first */
    for (uint32_t i = 1; i < j->pool_used; i++)
        if (j->pool[i].kind == E_SERVER && j->pool[i].peer == 0 && !j->pool[i].flood)
            server_alone(j, i);
    for (size_t k = 0; k < j->held_len; k++) {
        uint32_t gi = j->held[k];
        if (fp_untried(j, &j->pool[gi], true))
            fp_name(j, gi);
    }
    fp_commit(j, INT64_MAX, true);
    fp_round_two(j);
}

/* ---- clock --------------------------------------------------------------------------------- */

/*
 * The server side's clock against the client side's (clockfit.h measures it). The engine
 * holds every server time in the client's clock: what it is given is translated on the way
 * in by the correction in force (applied), so matching windows, coverage, blind intervals,
 * deadlines and delays all compare times of one clock. When the correction changes by more
 * than drift (it is first switched on, or the clock stepped), what was taken in under the old
 * one is moved (rebase): the server entries, the server's watermark, coverage, blind
 * intervals and hints from the cutoff on, and the lone server SYNs are matched again.
 */

/* The correction in force at client time t (0 when none). Lookups mostly move forward in
 * time: from where the last one ended, amortized constant. */
static int64_t offset_at(const sm_join_t *cj, int64_t t)
{
    sm_join_t *j = (sm_join_t *)cj; /* the cursor is a cache */
    if (j->ncorr == 0)
        return 0;
    size_t i = j->corr_at;
    while (i + 1 < j->ncorr && j->corr[i + 1].from <= t)
        i++;
    while (i > 0 && j->corr[i].from > t)
        i--;
    j->corr_at = i;
    return j->corr[i].offset;
}

/* Server time t in the client's clock. */
static int64_t to_client(const sm_join_t *j, int64_t t)
{
    if (!j->correcting || t == INT64_MIN || t == INT64_MAX)
        return t;
    /* the correction is found by client time: guess it with the last one used */
    int64_t guess = offset_at(j, sat_add(t, -j->corr[j->corr_at].offset));
    return sat_add(t, -offset_at(j, sat_add(t, -guess)));
}

/* Appends a correction from client time from on; false when memory is short (then the
 * previous one stays in force). Past MAX_CORRECTIONS every other drift correction goes. */
#define MAX_CORRECTIONS 8192
static bool add_correction(sm_join_t *j, int64_t from, int64_t offset, bool step)
{
    if (j->ncorr > 0 && from <= j->corr[j->ncorr - 1].from) {
        if (!step) {
            j->corr[j->ncorr - 1].offset = offset; /* a knot out of order: refine the last */
            return true;
        }
        /* a step before the last correction: what came after it is superseded */
        while (j->ncorr > 1 && j->corr[j->ncorr - 1].from >= from)
            j->ncorr--;
    }
    if (j->ncorr == MAX_CORRECTIONS) {
        size_t n = 1;
        for (size_t i = 2; i < j->ncorr; i += 2)
            j->corr[n++] = j->corr[i];
        j->ncorr = n;
    }
    if (j->ncorr == j->corr_cap) {
        size_t ncap = j->corr_cap ? j->corr_cap * 2 : 64;
        struct correction *nc = sm_realloc(j->corr, ncap * sizeof *nc);
        if (nc == NULL)
            return false;
        j->corr = nc;
        j->corr_cap = ncap;
    }
    j->corr[j->ncorr++] = (struct correction){from, offset};
    if (j->corr_at >= j->ncorr)
        j->corr_at = j->ncorr - 1;
    return true;
}

static inline void shift_time(int64_t *t, int64_t cutoff, int64_t delta)
{
    if (*t != INT64_MIN && *t != INT64_MAX && *t >= cutoff)
        *t = sat_add(*t, -delta);
}

static void shift_ivlist(struct ivlist *l, int64_t cutoff, int64_t delta)
{
    for (size_t k = 0; k < l->n; k++) {
        if (l->v[k].to >= cutoff) {
            shift_time(&l->v[k].from, cutoff, delta);
            shift_time(&l->v[k].to, cutoff, delta);
        }
    }
}

static void match_server(sm_join_t *j, uint32_t si);
static void resolve_delivery(sm_join_t *j, struct entry *g);
static bool ivlist_add(struct ivlist *l, int64_t from, int64_t to, int kind, uint32_t view,
                       bool blind);

/* Server times from cutoff on (in the client's clock as it was) are moved back by delta. */
static void rebase(sm_join_t *j, int64_t cutoff, int64_t delta)
{
    int64_t skew = j->cfg.max_skew_ns;
    for (uint32_t i = 1; i < j->pool_used; i++) {
        struct entry *e = &j->pool[i];
        if (e->kind != E_SERVER || e->last_ns < cutoff)
            continue;
        e->first_ns = sat_add(e->first_ns, -delta);
        e->last_ns = sat_add(e->last_ns, -delta);
        if (e->answer != SM_ANSWER_NONE)
            e->answer_ns = sat_add(e->answer_ns, -delta);
        if (e->peer) {
            resolve_delivery(j, &j->pool[e->peer]);
            continue;
        }
        if (!e->flood)
            match_server(j, i); /* a group may fit it now */
        if (e->peer == 0)
            queue_push(j, i, sat_add(e->flood ? e->last_ns : e->first_ns, skew));
    }
    shift_time(&j->wm[SM_ROLE_SERVER], cutoff, delta);
    shift_time(&j->cov_start[SM_ROLE_SERVER], cutoff, delta);
    shift_time(&j->cov_end[SM_ROLE_SERVER], cutoff, delta);
    shift_ivlist(&j->blind[SM_ROLE_SERVER], cutoff, delta);
    shift_ivlist(&j->hints, cutoff, delta);
}

static int64_t iabs64(int64_t x)
{
    return x < 0 ? -x : x;
}

/*
 * A new knot of the estimate: switch the correction on, follow drift, or take a step. Each
 * knot's offset holds from its own time on, so a front that looked ahead (compare) has the
 * whole history before it joins a record, and the live collector follows the clock as it
 * goes. Only a change beyond drift moves what was already taken in (rebase).
 */
static void clock_update(sm_join_t *j)
{
    struct sm_clockfit_knot k;
    if (!sm_clockfit_knot(j->clock, &k) || k.spread_ns > SM_CLOCK_CONFIDENT_SPREAD_NS)
        return;
    int64_t err = k.spread_ns > SM_CLOCK_MIN_CORRECTION_NS / 10 ? k.spread_ns
                                                                 : SM_CLOCK_MIN_CORRECTION_NS / 10;
    if (!j->clock_told) {
        j->clock_told = true;
        j->told = k.offset_ns;
        j->clock_changes++;
    } else if (iabs64(k.offset_ns - j->told) > err) {
        j->told = k.offset_ns;
        j->clock_changes++;
    }
    if (j->cfg.no_clock_correction)
        return;
    if (!j->correcting) {
        if (iabs64(k.offset_ns) < SM_CLOCK_MIN_CORRECTION_NS)
            return; /* the clocks agree: nothing to translate */
        if (!add_correction(j, INT64_MIN, k.offset_ns, true))
            return;
        j->correcting = true;
        j->applied = k.offset_ns;
        rebase(j, INT64_MIN, k.offset_ns);
        return;
    }
    if (!k.step) {
        /* drift: from this knot on; what was taken in stays within the error */
        if (add_correction(j, k.at_ns, k.offset_ns, false))
            j->applied = k.offset_ns;
        return;
    }
    int64_t delta = k.offset_ns - offset_at(j, k.from_ns);
    if (!add_correction(j, k.from_ns, k.offset_ns, true)) {
        j->degraded = true; /* the server's times from here on cannot be trusted */
        return;
    }
    j->applied = k.offset_ns;
    /* What was taken in after the step was delta off; the two sides of it overlap for
     * |delta| around it, where no time of the server's can be trusted. */
    rebase(j, sat_add(k.from_ns, delta / 2), delta);
    int64_t span = sat_add(iabs64(delta), j->cfg.max_skew_ns);
    if (!ivlist_add(&j->blind[SM_ROLE_SERVER], sat_add(k.from_ns, -span),
                    sat_add(k.from_ns, span), SM_V_UNKNOWN, SM_VIEW_ALL, true))
        j->degraded = true;
}

static inline void clock_observe(sm_join_t *j, enum sm_role role, const struct sm_record *r)
{
    if (j->clock && sm_clockfit_observe(j->clock, role, r))
        clock_update(j);
}

/* ---- public -------------------------------------------------------------------------------- */

size_t sm_join_reserve_bytes(size_t max_pending)
{
    if (max_pending == 0)
        max_pending = SM_JOIN_DEFAULT_MAX_PENDING;
    if (max_pending > UINT32_MAX - 2)
        max_pending = UINT32_MAX - 2;
    return (max_pending + 1) * sizeof(struct entry);
}

sm_join_t *sm_join_new(const struct sm_join_config *cfg)
{
    assert(cfg != NULL && cfg->on_verdict != NULL);
    sm_join_t *j = sm_calloc(1, sizeof *j);
    if (j == NULL)
        return NULL;
    j->cfg = *cfg;
    if (j->cfg.timeout_ns <= 0)
        j->cfg.timeout_ns = DEFAULT_TIMEOUT;
    if (j->cfg.max_skew_ns == 0)
        j->cfg.max_skew_ns = DEFAULT_SKEW;
    else if (j->cfg.max_skew_ns < 0)
        j->cfg.max_skew_ns = 0;
    if (j->cfg.max_quiet_ns <= 0)
        j->cfg.max_quiet_ns = DEFAULT_MAX_QUIET;
    if (j->cfg.max_quiet_ns < j->cfg.timeout_ns)
        j->cfg.max_quiet_ns = j->cfg.timeout_ns;
    if (j->cfg.max_pending == 0)
        j->cfg.max_pending = SM_JOIN_DEFAULT_MAX_PENDING;
    if (j->cfg.max_pending > UINT32_MAX - 2)
        j->cfg.max_pending = UINT32_MAX - 2;
    /* The live ring is part of the memory --max-pending bounds: an eighth of it (a power of
     * two, at least 1,024), at most LIVE_ARCHIVE, so that a flood fills it as soon as the
     * table rather than raising the peak once the table's bound has been reached. */
    j->ring_cap = 1024;
    while (j->ring_cap < LIVE_ARCHIVE && 2 * j->ring_cap <= j->cfg.max_pending / 8)
        j->ring_cap *= 2;
    struct sm_sipkey seed;
    sm_sipkey_random(&seed);
    j->hmul = seed.k0;
    j->hadd = seed.k1;
    j->lost_lo = INT64_MAX;
    j->pres_floor = INT64_MIN;
    j->lost_hi = INT64_MIN;
    j->decide_ns = INT64_MIN;
    j->sweep_next = INT64_MIN;
    j->tab_mask = 1023;
    j->tab = sm_block_alloc((j->tab_mask + 1) * sizeof *j->tab);
    /* The pool is reserved whole (address space only: max_pending entries) and backed as it
     * is first touched, so it never moves and never copies; in 2 MiB pages where the system
     * grants them. Growing it by realloc faulted every 4 KiB page of ~60 MB anew, a tenth of
     * the collector's CPU time at 50,000 connections/s (docs/PERFORMANCE.md). */
    j->pool_cap = (uint32_t)j->cfg.max_pending + 1;
    j->pool_bytes = sm_join_reserve_bytes(j->cfg.max_pending);
    j->pool = sm_alloc_should_fail() ? NULL : sm_huge_reserve(j->pool_bytes);
    if (j->tab == NULL || j->pool == NULL) {
        sm_join_destroy(&j);
        return NULL;
    }
    j->pool_used = 1;
    j->clock = sm_clockfit_new(SM_CLOCK_CONFIDENT_SPREAD_NS); /* none: no correction */
    for (int r = 0; r < 2; r++) {
        j->wm[r] = INT64_MIN;
        j->cov_start[r] = INT64_MIN;
        j->cov_end[r] = INT64_MAX;
        j->observed_to[r] = INT64_MIN;
    }
    return j;
}

void sm_join_destroy(sm_join_t **self_p)
{
    if (self_p == NULL || *self_p == NULL)
        return;
    sm_join_t *j = *self_p;
    for (uint32_t i = 1; i < j->pool_used; i++)
        free(j->pool[i].more);
    sm_huge_free(j->pool, j->pool_bytes);
    sm_block_free(j->tab, ((size_t)j->tab_mask + 1) * sizeof *j->tab);
    sm_block_free(j->heap, j->heap_cap * sizeof *j->heap);
    for (int l = 0; l < NLANES; l++)
        free(j->lanes[l].buf);
    free(j->held);
    free(j->blind[0].v);
    free(j->blind[1].v);
    free(j->hints.v);
    if (j->arch_mapped)
        sm_huge_free(j->arch, ARCHIVE_MAX * sizeof(struct entry));
    else
        free(j->arch);
    free(j->arch_seq);
    free(j->pres);
    if (j->live_ix) {
        free(j->live_ix->e);
        free(j->live_ix);
    }
    if (j->off_ix) {
        sm_huge_free(j->off_ix->e, j->off_bytes);
        free(j->off_ix);
    }
    free(j->pin);
    free(j->off_list);
    free(j->pend);
    free(j->named);
    sm_clockfit_destroy(&j->clock);
    free(j->corr);
    free(j);
    *self_p = NULL;
}

void sm_join_add(sm_join_t *j, enum sm_role role, const struct sm_record *r)
{
    j->st.records[role]++;
    /* Keep every time difference the engine computes far from int64 overflow. */
    struct sm_record clamped;
    if (r->ts_ns > TS_MAX || r->ts_ns < TS_MIN) {
        clamped = *r;
        clamped.ts_ns = r->ts_ns > 0 ? TS_MAX : TS_MIN;
        r = &clamped;
    }
    if (r->ts_ns > j->observed_to[role])
        clock_observe(j, role, r);
    if (role == SM_ROLE_CLIENT) {
        add_client(j, r);
    } else if (j->correcting) {
        struct sm_record t = *r;
        t.ts_ns = to_client(j, r->ts_ns);
        add_server(j, &t);
    } else {
        add_server(j, r);
    }
}

/* The ISN a record is looked up by: its own for a SYN, the one it acknowledges for an answer;
 * false for a record the join ignores. */
static inline bool lookup_isn(const struct sm_record *r, uint32_t *isn)
{
    if (sm_flags_is_syn(r->flags)) {
        *isn = r->seq;
        return true;
    }
    if ((r->flags & SM_TH_ACK) && (r->flags & (SM_TH_SYN | SM_TH_RST))) {
        *isn = r->ack - 1;
        return true;
    }
    return false;
}

void sm_join_prefetch(const sm_join_t *j, const struct sm_record *r)
{
    uint32_t isn;
    if (lookup_isn(r, &isn))
        __builtin_prefetch(&j->tab[hash_of(j, isn) & j->tab_mask]);
}

/* A batch's lookups go to random places of the index: each record's slot is asked for a few
 * records ahead, so that the misses overlap. */
void sm_join_add_batch(sm_join_t *j, enum sm_role role, const struct sm_record *recs, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (i + SM_JOIN_PREFETCH_AHEAD < n)
            sm_join_prefetch(j, &recs[i + SM_JOIN_PREFETCH_AHEAD]);
        sm_join_add(j, role, &recs[i]);
    }
}

void sm_join_watermark(sm_join_t *j, enum sm_role role, int64_t t)
{
    if (role == SM_ROLE_SERVER)
        t = to_client(j, t);
    if (t > j->wm[role])
        j->wm[role] = t;
    run(j);
}

void sm_join_coverage_start(sm_join_t *j, enum sm_role role, int64_t t)
{
    j->cov_start[role] = role == SM_ROLE_SERVER ? to_client(j, t) : t;
}

/*
 * Adds [from, to] of kind to l, merged with an interval of the same kind it overlaps or
 * touches. At the bound (or out of memory) the last interval widens instead, rather than
 * forget the evidence; with nothing to widen, false (the caller degrades).
 */
static bool ivlist_add(struct ivlist *l, int64_t from, int64_t to, int kind, uint32_t view,
                       bool blind)
{
    for (size_t k = l->n; k-- > 0;) {
        struct interval *iv = &l->v[k];
        if (iv->kind == kind && iv->view == view && from <= sat_add(iv->to, 1) &&
            to >= sat_add(iv->from, -1)) {
            iv->from = from < iv->from ? from : iv->from;
            iv->to = to > iv->to ? to : iv->to;
            return true;
        }
    }
    if (l->n == l->cap) {
        size_t ncap = l->cap ? l->cap * 2 : 16;
        struct interval *nb = ncap <= MAX_INTERVALS ? sm_realloc(l->v, ncap * sizeof *nb) : NULL;
        if (nb == NULL && l->n == 0)
            return false;
        if (nb == NULL) {
            struct interval *last = &l->v[l->n - 1];
            last->from = from < last->from ? from : last->from;
            last->to = to > last->to ? to : last->to;
            /* a blind interval widened keeps the most serious kind */
            if (blind && (kind == SM_V_SENSOR_DOWN || last->kind == SM_V_SENSOR_CAPTURE_LOSS))
                last->kind = kind;
            if (last->view != view) /* widened over two views: it speaks of all */
                last->view = SM_VIEW_ALL;
            return true;
        }
        l->v = nb;
        l->cap = ncap;
    }
    l->v[l->n++] = (struct interval){from, to, kind, view};
    return true;
}

void sm_join_blind(sm_join_t *j, enum sm_role role, uint32_t view, int64_t from, int64_t to,
                   enum sm_verdict_kind kind)
{
    if (to < from)
        return;
    if (role == SM_ROLE_SERVER) {
        from = to_client(j, from);
        to = to_client(j, to);
    }
    if (role == SM_ROLE_CLIENT)
        view = SM_VIEW_ALL; /* client sensors are not told apart (docs/ARCHITECTURE.md) */
    if (!ivlist_add(&j->blind[role], from, to, (int)kind, view, true))
        j->degraded = true; /* no way to remember it: no SYN may be called missing */
}

void sm_join_hint(sm_join_t *j, uint32_t view, int64_t from, int64_t to, enum sm_host_hint kind)
{
    if (to < from || (unsigned)kind >= SM_HINT_COUNT)
        return;
    from = to_client(j, from);
    to = to_client(j, to);
    /* a hint lost is a reason not given */
    ivlist_add(&j->hints, from, to, (int)kind, view, false);
}

void sm_join_end(sm_join_t *j, enum sm_role role, int64_t t)
{
    j->cov_end[role] = role == SM_ROLE_SERVER ? to_client(j, t) : t;
    j->ended[role] = true;
    run(j);
}

void sm_join_finish(sm_join_t *j)
{
    j->ended[SM_ROLE_CLIENT] = j->ended[SM_ROLE_SERVER] = true;
    run_limited(j, false);
    if (j->cfg.hold_unmatched)
        fp_pass(j);
    for (size_t k = 0; k < j->held_len; k++) {
        uint32_t gi = j->held[k];
        /* A slot evicted and reused since it was held is skipped (no longer held). */
        if (j->pool[gi].kind == E_GROUP && j->pool[gi].held)
            decide_final(j, gi);
    }
    j->held_len = 0;
    /* Anything left missed its heap item (allocation failure): decide it now. */
    while (j->oldest) {
        uint32_t i = j->oldest;
        const struct entry *e = &j->pool[i];
        if (e->kind == E_SERVER && e->peer == 0) {
            server_alone(j, i);
            continue;
        }
        decide_final(j, e->kind == E_SERVER ? e->peer : i);
    }
    j->heap_len = 0;
    for (int l = 0; l < NLANES; l++)
        j->lanes[l].len = 0;
}

void sm_join_stop(sm_join_t *j, const char *reason)
{
    run_limited(j, false);
    forced_time(j);
    while (j->oldest) {
        uint32_t i = j->oldest;
        const struct entry *e = &j->pool[i];
        if (e->kind == E_SERVER && e->peer == 0) {
            server_alone(j, i);
            continue;
        }
        uint32_t gi = e->kind == E_SERVER ? e->peer : i;
        struct entry *g = &j->pool[gi];
        g->held = false;
        if (g->peer && settled(g, &j->pool[g->peer])) {
            decide_linked(j, gi); /* frees it */
            continue;
        } else if (g->peer) {
            /* the reply leg is not complete: nothing can be said of it now */
            emit(j, gi, SM_V_UNKNOWN, reason);
        } else if (!in_scope(j, &g->tuple)) {
            j->st.out_of_scope++;
        } else {
            emit(j, gi, SM_V_UNKNOWN, reason);
        }
        free_group(j, gi);
    }
    j->held_len = 0;
    j->heap_len = 0;
    for (int l = 0; l < NLANES; l++)
        j->lanes[l].len = 0;
}

int64_t sm_join_horizon(const sm_join_t *j)
{
    return horizon(j);
}

bool sm_join_tick(sm_join_t *j)
{
    run(j);
    return j->backlog;
}

void sm_join_get_stats(const sm_join_t *j, struct sm_join_stats *out)
{
    *out = j->st;
    out->pending = j->live;
    out->backlog = j->backlog;
    out->fp_archive_lost = j->arch_dropped;
    out->offset_samples = j->ndelays;
    out->offset_ns = j->ndelays ? offset_median(j) : 0;
}

void sm_join_get_clock(const sm_join_t *j, struct sm_clock_estimate *out)
{
    memset(out, 0, sizeof *out);
    if (j->clock)
        sm_clockfit_estimate(j->clock, out);
    out->corrected = j->correcting;
    out->applied_ns = j->applied;
    out->changes = j->clock_changes;
}

uint64_t sm_join_clock_changes(const sm_join_t *j)
{
    return j->clock_changes;
}

int64_t sm_join_client_time(const sm_join_t *j, enum sm_role role, int64_t t)
{
    return role == SM_ROLE_SERVER ? to_client(j, t) : t;
}

void sm_join_observe(sm_join_t *j, enum sm_role role, const struct sm_record *recs, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (recs[i].ts_ns > TS_MAX || recs[i].ts_ns < TS_MIN)
            continue;
        clock_observe(j, role, &recs[i]);
        if (recs[i].ts_ns > j->observed_to[role])
            j->observed_to[role] = recs[i].ts_ns; /* sm_join_add() will not show it again */
    }
}

size_t sm_join_heap_size(const sm_join_t *j)
{
    return queue_len(j);
}
