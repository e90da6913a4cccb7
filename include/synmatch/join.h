/*
 * join.h - the join engine: client SYNs grouped by ISN, joined to the server's SYNs, decided
 * on event time by per-side watermarks (docs/ARCHITECTURE.md, "Verdicts" and "Time").
 *
 * One engine serves both fronts: `synmatch compare` feeds it two files, the live collector
 * feeds it batches from sensors. The engine never looks at a wall clock: it decides a client
 * SYN group when both sides' watermarks show that nothing more can change the answer, so
 * the same packets give the same verdicts at any replay speed.
 *
 * A client SYN group is the set of client SYNs with one ISN and one 4-tuple (the original
 * and its retransmissions). It stays open while retransmissions can still come: for
 * max(timeout, 3 x the last gap between attempts), capped by max_quiet, so exponential
 * backoff (1 s, 2 s, 4 s, ...) keeps one group and gives the final attempt count.
 * A group is decided when the client watermark has passed last + quiet and the server
 * watermark has passed last + quiet + max_skew.
 *
 * Bounds: at most max_pending entries (client groups plus unmatched server SYNs); past it the
 * oldest entry is evicted and its group ends as `collector_overload` (or `matched`, if it was).
 * The ISN hash is keyed (SipHash, random key): ISNs come from the network.
 */
#ifndef SYNMATCH_JOIN_H
#define SYNMATCH_JOIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "synmatch/record.h"
#include "synmatch/verdict.h"

typedef struct sm_join sm_join_t;


/*
 * Which client SYNs are expected at the server, and in which server view (docs/ARCHITECTURE.md,
 * "Scope"): a view is what one server sensor witnesses, so that one sensor's blind time
 * makes only the SYNs to what it serves unknown. Returns SM_SCOPE_OUT for a destination no
 * server watches, SM_VIEW_ALL when the server side is one view (offline, or no server sensor
 * heard yet), or the view of the server sensor serving it (>= 1).
 */
#define SM_SCOPE_OUT (-1)
#define SM_VIEW_ALL 0u
typedef int32_t (*sm_scope_fn)(void *arg, const struct sm_tuple *client);

/*
 * A server SYN that no client SYN matched (a client no client sensor watches, or a flood's
 * spoofed source), told once when the engine lets go of it: the tuple as the server saw it,
 * its first time (the client's clock), the attempts seen and what the server answered.
 * decided_ns as in struct sm_verdict: the event time when it was let go. Also told for a
 * server SYN refused because its ISN was flooded (attempts 1, answer unknown: NONE).
 */
struct sm_lone_syn {
    struct sm_tuple tuple;
    int64_t first_ns;
    uint32_t attempts;
    enum sm_answer answer;
    int64_t decided_ns;
};
typedef void (*sm_lone_fn)(void *arg, const struct sm_lone_syn *s);

struct sm_join_config {
    int64_t timeout_ns;  /* 0 = 3 s */
    int64_t max_skew_ns; /* 0 = 1 s; use a negative value for exactly 0 */
    int64_t max_quiet_ns; /* longest wait for a retransmission; 0 = 120 s */
    size_t max_pending;  /* entries; 0 = SM_JOIN_DEFAULT_MAX_PENDING */
    /* Offline: a file may declare its capture drops only at its end (pcapng ISB) and the
     * inferred scope is only known then, so unmatched groups are decided in sm_join_finish(). */
    bool hold_unmatched;
    bool emit_suspect;
    size_t max_work; /* entries decided per call at most (0 = no limit); see sm_join_tick() */
    sm_verdict_fn on_verdict; /* required */
    void *verdict_arg;
    sm_scope_fn in_scope; /* NULL = every destination is expected */
    void *scope_arg;
    /* Leave the server's times as they are even when the clocks are measured apart
     * (docs/VERDICTS.md, "Clocks"). */
    bool no_clock_correction;
    /* Told of every server SYN no client SYN matched (may be NULL). A SYN the second matcher
     * (fingerprint) claims later was told already: rare, only behind ISN rewriting. */
    sm_lone_fn on_lone;
    void *lone_arg;
};

struct sm_join_stats {
    uint64_t records[2];        /* records given, per role */
    uint64_t ignored[2];        /* records that are not SYN, SYN/ACK or RST answers */
    uint64_t client_groups;     /* groups created */
    uint64_t server_syns;       /* distinct server SYNs (ISN and tuple) */
    uint64_t server_only;       /* server SYNs no client SYN matched (other clients) */
    uint64_t out_of_scope;      /* unmatched client groups whose destination is not expected */
    uint64_t late_records;      /* records older than what was already decided */
    uint64_t evicted;           /* entries evicted at max_pending */
    uint64_t isn_flood;         /* SYNs refused: their ISN already had 64 entries pending */
    uint64_t server_only_unanswered; /* of server_only: in scope, and the server sent no
                                      * answer (the signature of swapped compare arguments) */
    uint64_t isn_rewritten;     /* groups matched by fingerprint: their ISN was rewritten */
    uint64_t fp_skipped;        /* fingerprint lookups not complete: candidates past the
                                 * bound, a print's index chain full, or server SYNs the
                                 * archive lost in the group's window (no unique match then) */
    uint64_t fp_archive_lost;   /* lone server SYNs the fingerprint archive could not keep
                                 * (offline past 2^20, live written over in the ring) */
    uint64_t verdicts[SM_V_COUNT];
    size_t pending;             /* entries held now */
    size_t peak_pending;
    bool backlog;               /* due entries wait for the next sm_join_tick() */
    uint32_t offset_samples;    /* matched pairs behind the clock offset estimate */
    int64_t offset_ns;          /* median server-minus-client delay of recent matches */
};

/*
 * The offset between the two sides' clocks (server minus client), measured from connections
 * both saw whatever the offset, and the correction the engine applies: once the estimate is
 * confident and at least SM_CLOCK_MIN_CORRECTION_NS, every server time the engine is given
 * (records, watermarks, coverage, blind intervals, hints) is translated into the client's
 * clock; --max-skew then allows for the estimate's error, not for the offset.
 */
#define SM_CLOCK_MIN_CORRECTION_NS INT64_C(10000000) /* 10 ms: below, the clocks agree */
#define SM_CLOCK_CONFIDENT_SPREAD_NS INT64_C(50000000) /* 50 ms of spread at most */
struct sm_clock_estimate {
    bool confident;    /* the latest bucket's pairs agree within the confident spread */
    bool corrected;    /* the engine translates server times by applied_ns */
    bool two_legs;     /* SYN/ACKs on both sides: the one-way delay is not in offset_ns */
    int64_t offset_ns; /* server clock minus client clock, middle of the latest segment */
    int64_t at_ns;     /* (client time of that middle) */
    int64_t applied_ns;       /* the correction in force now (0 when not corrected) */
    int64_t spread_ns;        /* median absolute deviation of the latest bucket */
    double drift_ppm;         /* of the latest segment */
    int64_t segment_from_ns;  /* where the latest segment began (client time) */
    uint64_t pairs, back_pairs; /* connections paired (forward: SYNs, backward: SYN/ACKs) */
    uint32_t steps;           /* segments after the first: the clock stepped */
    int64_t first_ns, last_ns; /* client times the pairs span */
    uint64_t changes;         /* bumped when first confident and when the correction moves
                               * by more than the estimate's error */
};
void sm_join_get_clock(const sm_join_t *j, struct sm_clock_estimate *out);
/* The estimate's `changes`, cheaply: a front polls it after feeding records. */
uint64_t sm_join_clock_changes(const sm_join_t *j);

/* t of role's clock in the client's clock, as the engine reads it now. */
int64_t sm_join_client_time(const sm_join_t *j, enum sm_role role, int64_t t);

/* Shows the clock estimator records of role before they are fed (a front that can look
 * ahead, like compare, lets it measure the offset before the first record is joined). */
void sm_join_observe(sm_join_t *j, enum sm_role role, const struct sm_record *recs, size_t n);

#define SM_JOIN_DEFAULT_MAX_PENDING 1000000u

/* The address space sm_join_new() reserves for max_pending entries (0 = the default): backed
 * by memory only as entries are used, but it must be available to reserve. */
size_t sm_join_reserve_bytes(size_t max_pending);

/* Returns NULL when out of memory, or when the entries cannot be reserved. */
sm_join_t *sm_join_new(const struct sm_join_config *cfg);
void sm_join_destroy(sm_join_t **self_p);

/* Feeds one record seen by role. Only SYN, SYN/ACK and RST records matter; others are counted
 * and ignored. The record is copied. */
void sm_join_add(sm_join_t *j, enum sm_role role, const struct sm_record *r);
/* The same for n records in a row, faster (lookups are prefetched). */
void sm_join_add_batch(sm_join_t *j, enum sm_role role, const struct sm_record *recs, size_t n);
/* Asks for the memory r's lookup will read, for a caller that adds records one by one with
 * work of its own between them (compare): SM_JOIN_PREFETCH_AHEAD records ahead, the misses
 * overlap. Changes nothing. */
#define SM_JOIN_PREFETCH_AHEAD 8
void sm_join_prefetch(const sm_join_t *j, const struct sm_record *r);

/* role has delivered everything it captured up to event time t. Emits what became decided
 * (at most max_work entries: the rest waits for sm_join_tick()). */
void sm_join_watermark(sm_join_t *j, enum sm_role role, int64_t t);

/* Decides up to max_work more entries that are due. Returns true while a backlog remains. */
bool sm_join_tick(sm_join_t *j);

/* The horizon: everything due at or before it is decided (or waits in the backlog of
 * sm_join_tick()). Event time, the client's clock; INT64_MIN before both roles have a
 * watermark, INT64_MAX once both ended. Never goes back. */
int64_t sm_join_horizon(const sm_join_t *j);

/* role's capture covers event time from t on. */
void sm_join_coverage_start(sm_join_t *j, enum sm_role role, int64_t t);

/*
 * role's evidence is incomplete over [from, to] (event time) in view (server role: the view
 * of the server sensor that was blind, or SM_VIEW_ALL; client role: always all), for the
 * reason kind:
 * SM_V_SENSOR_CAPTURE_LOSS (the capture dropped packets), SM_V_TRANSPORT_LOSS (batches or
 * records lost between agent and collector) or SM_V_SENSOR_DOWN (the sensor was silent or
 * restarting). An unmatched client SYN whose window overlaps such an interval ends with that
 * verdict, never `missing`. Overlapping or touching intervals of one kind are merged.
 */
void sm_join_blind(sm_join_t *j, enum sm_role role, uint32_t view, int64_t from, int64_t to,
                   enum sm_verdict_kind kind);

/*
 * What the server host's own kernel counters say happened over [from, to] (the server
 * sensor's event time; view: that sensor's, or SM_VIEW_ALL): evidence, not blindness. A connection attempt the server host left
 * unanswered over such an interval gets the reason (listen queue overflow, SYN queue full);
 * one it answered while sending SYN cookies is marked so. The counters are per host, not
 * per port: a hint, documented as such (docs/VERDICTS.md).
 */
enum sm_host_hint {
    SM_HINT_LISTEN_OVERFLOW, /* ListenOverflows or ListenDrops rose: accept queue full */
    SM_HINT_SYN_QUEUE_FULL,  /* TCPReqQFullDrop rose: SYN (request) queue full */
    SM_HINT_SYNCOOKIES,      /* SyncookiesSent rose */
    SM_HINT_COUNT
};
void sm_join_hint(sm_join_t *j, uint32_t view, int64_t from, int64_t to, enum sm_host_hint kind);

/* role's capture ended at event time t: it will deliver nothing more. */
void sm_join_end(sm_join_t *j, enum sm_role role, int64_t t);

/* Decides everything still held or pending. Call once both roles have ended. */
void sm_join_finish(sm_join_t *j);

/*
 * Stops early (the collector is shutting down): decides what is due, then ends every other
 * group now: matched ones as matched, the rest `unknown` with reason (a static string).
 */
void sm_join_stop(sm_join_t *j, const char *reason);

void sm_join_get_stats(const sm_join_t *j, struct sm_join_stats *out);

/* Items in the deadline queue (live and stale): for tests of the memory bound. */
size_t sm_join_heap_size(const sm_join_t *j);

#endif
