/*
 * sensors.c - per-sensor books: epochs, a bounded reorder window, duplicates, seq gaps,
 * declared drops and silence, turned into ordered records, watermarks and blind intervals.
 *
 * A sensor is known by its id. Within an epoch, batches are processed strictly in seq order:
 * a batch ahead of the next expected seq waits in a window of reorder_window slots; a seq
 * that does not come within gap_wait (processing time), or that the window overruns, is
 * declared lost, and the time it covered (from the last processed watermark to the next
 * one) is blind for the sensor's role (transport loss). Duplicates and seqs already passed
 * are dropped and counted. A newer epoch means the agent restarted: the old epoch is closed
 * and the time between its last watermark and the new epoch's first is blind (sensor down).
 * An older epoch is refused (a late message from before a restart).
 */
#include "sensors.h"

#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "addr.h"
#include "synmatch/scope.h"

#define NS_PER_MS INT64_C(1000000)
#define DEFAULT_WINDOW 64u
#define DEFAULT_GAP_WAIT (500 * NS_PER_MS)
#define DEFAULT_DOWN_AFTER (1000 * NS_PER_MS)
#define DEFAULT_START_GRACE (3000 * NS_PER_MS)
#define DEFAULT_MAX_SENSORS 256u
#define DEFAULT_EXPIRE (600 * INT64_C(1000000000))

/* A batch waiting in the reorder window: what processing needs of its header, and records. */
struct pending {
    bool used;
    uint64_t seq;
    int64_t watermark_ns;
    struct sm_wire_counters counters;
    bool end_of_stream;
    int64_t unsent_from_ns, unsent_to_ns;
    struct sm_record *recs;
    size_t n;
    struct sm_host_counters host;
};

struct sensor {
    char id[SM_SENSOR_ID_MAX + 1];
    enum sm_role role;
    uint64_t epoch;
    uint64_t next_seq;   /* the seq processed next */
    bool in_order_yet;   /* a batch of this epoch was processed */
    bool joined_late;    /* this collector first heard the epoch past its start (it restarted) */
    bool up, ended;
    bool expired;        /* closed after a long silence: a tombstone keeping id and scope */
    uint64_t epoch_received, epoch_gaps, epoch_lost_batches; /* this epoch's books */
    uint64_t epoch_before; /* joined late: records sent before the first batch we processed */
    int64_t watermark;   /* of the last processed batch (never decreases) */
    int64_t last_heard;  /* processing time of the last batch received */
    int64_t gap_since;   /* processing time since a batch waits for a missing seq; 0 = none */
    int64_t down_from;   /* event time from which a down sensor is blind */
    int64_t capture_start; /* the first epoch's declared capture start; INT64_MIN unknown */
    struct sm_wire_counters last; /* counters of the last processed batch */
    struct sm_host_counters host; /* the last host counters of this epoch */
    bool have_last;
    struct pending *win; /* reorder_window slots, indexed by seq % window */
    size_t npending;
    size_t nscope;
    struct sm_scope_entry scope[SM_WIRE_MAX_SCOPE];
    struct sm_sensor_stats st;
};

struct sm_sensors {
    struct sm_sensors_config cfg;
    struct sm_sensors_sink sink;
    struct sensor **v;
    size_t n;
    int64_t role_down_from[2]; /* event time from which a role with no live sensor is blind */
    bool role_blind[2];
    int64_t started;           /* processing time of the first call */
    bool have_started;
    struct sm_sensors_totals tot;
};

sm_sensors_t *sm_sensors_new(const struct sm_sensors_config *cfg,
                             const struct sm_sensors_sink *sink)
{
    sm_sensors_t *s = sm_calloc(1, sizeof *s);
    if (s == NULL)
        return NULL;
    if (cfg)
        s->cfg = *cfg;
    if (s->cfg.reorder_window == 0)
        s->cfg.reorder_window = DEFAULT_WINDOW;
    if (s->cfg.gap_wait_ns <= 0)
        s->cfg.gap_wait_ns = DEFAULT_GAP_WAIT;
    if (s->cfg.down_after_ns <= 0)
        s->cfg.down_after_ns = DEFAULT_DOWN_AFTER;
    if (s->cfg.max_sensors == 0)
        s->cfg.max_sensors = DEFAULT_MAX_SENSORS;
    if (s->cfg.expire_after_ns <= 0)
        s->cfg.expire_after_ns = DEFAULT_EXPIRE;
    if (s->cfg.start_grace_ns <= 0)
        s->cfg.start_grace_ns = DEFAULT_START_GRACE;
    if (s->cfg.start_grace_ns < s->cfg.down_after_ns)
        s->cfg.start_grace_ns = s->cfg.down_after_ns;
    s->sink = *sink;
    s->v = sm_calloc(s->cfg.max_sensors, sizeof *s->v);
    if (s->v == NULL) {
        free(s);
        return NULL;
    }
    s->role_down_from[0] = s->role_down_from[1] = INT64_MIN;
    return s;
}

static void drop_pending(struct sensor *se, unsigned window)
{
    for (unsigned k = 0; k < window; k++) {
        if (se->win[k].used) {
            free(se->win[k].recs);
            se->win[k].used = false;
            se->win[k].recs = NULL;
        }
    }
    se->npending = 0;
}

void sm_sensors_destroy(sm_sensors_t **self_p)
{
    if (self_p == NULL || *self_p == NULL)
        return;
    sm_sensors_t *s = *self_p;
    for (size_t i = 0; i < s->n; i++) {
        drop_pending(s->v[i], s->cfg.reorder_window);
        free(s->v[i]->win);
        free(s->v[i]);
    }
    free(s->v);
    free(s);
    *self_p = NULL;
}

static void books_of(const struct sensor *se, struct sm_sensor_books *b)
{
    b->emitted = se->last.records_emitted;
    b->before = se->epoch_before;
    b->received = se->epoch_received;
    b->unsent = se->last.records_unsent;
    uint64_t accounted = b->before + b->received + b->unsent;
    b->lost = b->emitted > accounted ? b->emitted - accounted : 0;
    b->gaps = se->epoch_gaps;
    b->lost_batches = se->epoch_lost_batches;
}

static void event_full(sm_sensors_t *s, const struct sensor *se, enum sm_sensor_event_kind kind,
                       uint64_t a, uint64_t b, const char *reason)
{
    struct sm_sensor_books books;
    struct sm_sensor_event ev = {kind, se->id, se->role, se->epoch, a, b, se->watermark,
                                 NULL, reason};
    if (kind == SM_SENSOR_END || kind == SM_SENSOR_CLOSED) {
        books_of(se, &books);
        ev.books = &books;
    }
    if (s->sink.event)
        s->sink.event(s->sink.arg, &ev);
}

static void event(sm_sensors_t *s, const struct sensor *se, enum sm_sensor_event_kind kind,
                  uint64_t a, uint64_t b)
{
    event_full(s, se, kind, a, b, NULL);
}

static void blind(sm_sensors_t *s, enum sm_role role, int64_t from, int64_t to,
                  enum sm_verdict_kind kind)
{
    if (s->sink.blind && from <= to)
        s->sink.blind(s->sink.arg, role, from, to, kind);
}

static struct sensor *find(const sm_sensors_t *s, const char *id)
{
    for (size_t i = 0; i < s->n; i++)
        if (strcmp(s->v[i]->id, id) == 0)
            return s->v[i];
    return NULL;
}

/*
 * Starts a new epoch for se at the header's values (a new sensor or a restart). An epoch
 * starts at seq 0: a first seq heard within the reorder window means the earlier ones may be
 * still on their way (they are waited for like any gap); a later one means this collector
 * joined mid-epoch (it restarted), and what came before is not ours to account for.
 */
static void start_epoch(struct sensor *se, const struct sm_wire_header *h, unsigned window)
{
    drop_pending(se, window);
    se->role = h->role;
    se->epoch = h->boot_epoch;
    se->next_seq = h->seq < window ? 0 : h->seq;
    se->joined_late = h->seq >= window;
    se->in_order_yet = false;
    se->ended = false;
    se->have_last = false;
    memset(&se->last, 0, sizeof se->last);
    se->gap_since = 0;
    se->expired = false;
    se->epoch_received = se->epoch_gaps = se->epoch_lost_batches = se->epoch_before = 0;
    se->host.present = false;
    se->st.epoch = h->boot_epoch;
    se->st.epochs++;
    se->st.role = h->role;
}

/* A server host's counters that rose between two samples of one epoch are evidence over
 * that time (docs/VERDICTS.md, "unanswered"). */
static void host_counters(sm_sensors_t *s, struct sensor *se, const struct sm_host_counters *c)
{
    if (!c->present || se->role != SM_ROLE_SERVER)
        return;
    const struct sm_host_counters *p = &se->host;
    if (p->present && c->sampled_ns > p->sampled_ns && s->sink.hint) {
        if (c->listen_overflows > p->listen_overflows || c->listen_drops > p->listen_drops)
            s->sink.hint(s->sink.arg, p->sampled_ns, c->sampled_ns, SM_HINT_LISTEN_OVERFLOW);
        if (c->reqq_full_drop > p->reqq_full_drop)
            s->sink.hint(s->sink.arg, p->sampled_ns, c->sampled_ns, SM_HINT_SYN_QUEUE_FULL);
        if (c->syncookies_sent > p->syncookies_sent ||
            c->reqq_full_do_cookies > p->reqq_full_do_cookies)
            s->sink.hint(s->sink.arg, p->sampled_ns, c->sampled_ns, SM_HINT_SYNCOOKIES);
    }
    if (!p->present || c->sampled_ns > p->sampled_ns)
        se->host = *c;
}

/* Processes one batch that is next in seq order. Takes ownership of recs. */
static void process(sm_sensors_t *s, struct sensor *se, const struct pending *b)
{
    enum sm_role role = se->role;
    int64_t prev_wm = se->watermark;
    if (se->have_last && b->watermark_ns < prev_wm) {
        /* An agent's watermark never goes back within an epoch (a replayed old capture is a
         * new epoch, so it stays valid): this batch lies about time. Its records are
         * dropped and counted as lost in the books; nothing it says is believed. */
        free(b->recs);
        se->st.time_regressed++;
        s->tot.time_regressed++;
        se->st.lost_batches++;
        se->epoch_lost_batches++;
        s->tot.lost_batches++;
        se->next_seq = b->seq + 1;
        return;
    }
    if (!se->in_order_yet) {
        se->in_order_yet = true;
        event(s, se, SM_SENSOR_UP, b->seq, 0);
    }
    /* Declared losses since the previous processed batch. */
    if (se->have_last) {
        uint64_t drops = b->counters.pcap_dropped + b->counters.pcap_ifdropped;
        uint64_t drops0 = se->last.pcap_dropped + se->last.pcap_ifdropped;
        if (drops > drops0)
            blind(s, role, prev_wm, b->watermark_ns, SM_V_SENSOR_CAPTURE_LOSS);
        if (b->counters.records_unsent > se->last.records_unsent) {
            int64_t from = b->unsent_from_ns ? b->unsent_from_ns : prev_wm;
            int64_t to = b->unsent_to_ns ? b->unsent_to_ns : b->watermark_ns;
            blind(s, role, from, to, SM_V_TRANSPORT_LOSS);
        }
    } else {
        if (b->counters.pcap_dropped + b->counters.pcap_ifdropped > 0)
            /* Drops before the first batch we have: somewhere before this watermark. */
            blind(s, role, INT64_MIN, b->watermark_ns, SM_V_SENSOR_CAPTURE_LOSS);
        if (se->joined_late) {
            /* This collector restarted mid-epoch: the batches before this one went to its
             * predecessor or were lost with it, so everything the sensor saw before this
             * batch's first record is unknown here (the batches are in capture order). */
            int64_t edge = b->watermark_ns; /* just before this batch's earliest record */
            for (size_t i = 0; i < b->n; i++)
                if (b->recs[i].ts_ns <= edge)
                    edge = b->recs[i].ts_ns - 1;
            blind(s, role, INT64_MIN, edge, SM_V_TRANSPORT_LOSS);
            const struct sm_wire_counters *k = &b->counters;
            uint64_t sent = k->records_emitted > k->records_unsent
                                ? k->records_emitted - k->records_unsent
                                : 0;
            se->epoch_before = sent > b->n ? sent - b->n : 0;
        }
    }
    host_counters(s, se, &b->host);
    /* The join decides on watermarks only, so records may follow what they are blind to. */
    if (b->n > 0 && s->sink.records)
        s->sink.records(s->sink.arg, role, b->recs, b->n);
    free(b->recs);
    se->st.records_received += b->n;
    se->epoch_received += b->n;
    se->st.batches++;
    s->tot.batches++;
    se->last = b->counters;
    se->have_last = true;
    se->st.records_emitted = b->counters.records_emitted;
    se->st.records_unsent = b->counters.records_unsent;
    se->st.pcap_dropped = b->counters.pcap_dropped + b->counters.pcap_ifdropped;
    if (b->watermark_ns > se->watermark)
        se->watermark = b->watermark_ns;
    se->st.watermark_ns = se->watermark;
    se->next_seq = b->seq + 1;
    if (b->end_of_stream) {
        se->ended = true;
        se->st.ended = true;
        event(s, se, SM_SENSOR_END, b->seq, 0);
    }
}

/* The window's slot for seq. */
static struct pending *slot(const sm_sensors_t *s, struct sensor *se, uint64_t seq)
{
    return &se->win[seq % s->cfg.reorder_window];
}

/* Processes whatever waits in order after next_seq. */
static void drain(sm_sensors_t *s, struct sensor *se)
{
    for (;;) {
        struct pending *p = slot(s, se, se->next_seq);
        if (!p->used || p->seq != se->next_seq)
            break;
        struct pending b = *p;
        p->used = false;
        p->recs = NULL;
        se->npending--;
        process(s, se, &b);
    }
    se->gap_since = se->npending > 0 ? se->gap_since : 0;
}

/* Declares seqs next_seq .. upto-1 lost; the time up to watermark `to` is blind. */
static void declare_lost(sm_sensors_t *s, struct sensor *se, uint64_t upto, int64_t to)
{
    uint64_t n = upto - se->next_seq;
    blind(s, se->role, se->watermark, to, SM_V_TRANSPORT_LOSS);
    se->st.gaps++;
    se->st.lost_batches += n;
    se->epoch_gaps++;
    se->epoch_lost_batches += n;
    s->tot.gaps++;
    s->tot.lost_batches += n;
    event(s, se, SM_SENSOR_GAP, se->next_seq, upto - 1);
    se->next_seq = upto;
}

/*
 * Gives up on the seqs missing before the first waiting batch: declares them lost, with the
 * time between the last processed watermark and that batch's watermark blind.
 */
static void skip_gap(sm_sensors_t *s, struct sensor *se)
{
    uint64_t first = 0;
    bool found = false;
    for (unsigned k = 0; k < s->cfg.reorder_window; k++) {
        const struct pending *p = &se->win[k];
        if (p->used && (!found || p->seq < first)) {
            first = p->seq;
            found = true;
        }
    }
    if (!found || first <= se->next_seq)
        return;
    declare_lost(s, se, first, slot(s, se, first)->watermark_ns);
    se->gap_since = 0;
    drain(s, se);
}

bool sm_sensors_batch(sm_sensors_t *s, const struct sm_wire_header *h, struct sm_record *recs,
                      size_t n, int64_t now)
{
    if (!s->have_started) {
        s->have_started = true;
        s->started = now;
    }
    struct sensor *se = find(s, h->sensor_id);
    if (se == NULL && s->n == s->cfg.max_sensors) {
        /* Full: the slot of the sensor expired longest ago, if any, is reused. */
        struct sensor *old = NULL;
        size_t at = 0;
        for (size_t i = 0; i < s->n; i++) {
            if (s->v[i]->expired && (old == NULL || s->v[i]->last_heard < old->last_heard)) {
                old = s->v[i];
                at = i;
            }
        }
        if (old == NULL) {
            s->tot.rejected_sensors++;
            free(recs);
            return false;
        }
        drop_pending(old, s->cfg.reorder_window);
        free(old->win);
        free(old);
        s->v[at] = s->v[--s->n];
    }
    if (se == NULL) {
        se = sm_calloc(1, sizeof *se);
        struct pending *win = sm_calloc(s->cfg.reorder_window, sizeof *win);
        if (se == NULL || win == NULL) {
            free(se);
            free(win);
            free(recs);
            return false;
        }
        se->win = win;
        memcpy(se->id, h->sensor_id, sizeof se->id);
        memcpy(se->st.sensor_id, h->sensor_id, sizeof se->st.sensor_id);
        se->watermark = INT64_MIN;
        se->capture_start = INT64_MIN;
        s->v[s->n++] = se;
        start_epoch(se, h, s->cfg.reorder_window);
    } else if (h->boot_epoch > se->epoch) {
        /* A restart. Whatever waited from the old epoch is lost; the pause is blind. */
        if (se->npending > 0)
            skip_gap(s, se);
        drop_pending(se, s->cfg.reorder_window);
        if (se->in_order_yet && !se->ended) {
            blind(s, se->role, se->watermark, h->watermark_ns, SM_V_SENSOR_DOWN);
            event_full(s, se, SM_SENSOR_CLOSED, se->next_seq, 0, "restart");
        }
        start_epoch(se, h, s->cfg.reorder_window);
    } else if (h->boot_epoch < se->epoch || h->role != se->role) {
        se->st.stale++;
        s->tot.stale++;
        free(recs);
        return true;
    }
    se->last_heard = now;
    if (se->capture_start == INT64_MIN && h->capture_start_ns > 0)
        se->capture_start = h->capture_start_ns;
    if (!se->up) {
        se->up = true;
        se->st.up = true;
        if (se->in_order_yet) {
            /* It was down and is back in the same epoch: the silence was blind. */
            blind(s, se->role, se->down_from, h->watermark_ns, SM_V_SENSOR_DOWN);
            event(s, se, SM_SENSOR_BACK, h->seq, 0);
        }
    }
    if (h->nscope > 0) {
        se->nscope = h->nscope;
        memcpy(se->scope, h->scope, h->nscope * sizeof h->scope[0]);
    }

    se->expired = false;
    if (h->seq < se->next_seq || se->ended) {
        se->st.duplicates++;
        s->tot.duplicates++;
        free(recs);
        return true;
    }
    struct pending b = {true,          h->seq,         h->watermark_ns,
                        h->counters,   h->end_of_stream, h->unsent_from_ns,
                        h->unsent_to_ns, recs,         n,  h->host};
    if (h->seq == se->next_seq) {
        process(s, se, &b);
        drain(s, se);
        return true;
    }
    /* Ahead of the next seq: wait in the window, unless the window is overrun, in which case
     * the oldest holes are given up until it fits. */
    while (h->seq - se->next_seq >= s->cfg.reorder_window) {
        if (se->npending == 0) {
            declare_lost(s, se, h->seq, h->watermark_ns);
            break;
        }
        skip_gap(s, se);
    }
    if (h->seq == se->next_seq) {
        process(s, se, &b);
        drain(s, se);
        return true;
    }
    struct pending *p = slot(s, se, h->seq);
    if (p->used) { /* the same seq again */
        se->st.duplicates++;
        s->tot.duplicates++;
        free(recs);
        return true;
    }
    *p = b;
    se->npending++;
    if (se->gap_since == 0)
        se->gap_since = now;
    return true;
}

void sm_sensors_tick(sm_sensors_t *s, int64_t now)
{
    if (!s->have_started) {
        s->have_started = true;
        s->started = now;
    }
    for (size_t i = 0; i < s->n; i++) {
        struct sensor *se = s->v[i];
        if (se->npending > 0 && se->gap_since != 0 && now - se->gap_since >= s->cfg.gap_wait_ns)
            skip_gap(s, se);
        if (se->up && !se->ended && now - se->last_heard >= s->cfg.down_after_ns) {
            se->up = false;
            se->st.up = false;
            se->down_from = se->watermark;
            event(s, se, SM_SENSOR_DOWN, se->next_seq, 0);
        }
        if (!se->up && !se->ended && !se->expired &&
            now - se->last_heard >= s->cfg.expire_after_ns) {
            /* Gone for good, as far as we know: close its books and free what waits. Its id
             * and scope stay, so SYNs to what it served keep saying sensor_down. */
            drop_pending(se, s->cfg.reorder_window);
            se->expired = true;
            event_full(s, se, SM_SENSOR_CLOSED, se->next_seq, 0, "expired");
        }
    }
}

/* The smallest watermark of role's live sensors, or INT64_MAX when it has none. */
static int64_t live_min(const sm_sensors_t *s, enum sm_role role, bool *any_live,
                        bool *any_ended, int64_t *down_from)
{
    int64_t wm = INT64_MAX;
    *any_live = *any_ended = false;
    *down_from = INT64_MAX;
    for (size_t i = 0; i < s->n; i++) {
        const struct sensor *se = s->v[i];
        if (se->role != role)
            continue;
        if (se->ended) {
            *any_ended = true;
        } else if (se->up && se->in_order_yet) {
            *any_live = true;
            if (se->watermark < wm)
                wm = se->watermark;
        } else if (!se->up && se->down_from < *down_from) {
            *down_from = se->down_from;
        }
    }
    return wm;
}

int64_t sm_sensors_watermark(sm_sensors_t *s, enum sm_role role, int64_t now)
{
    bool live, ended, olive, oended;
    int64_t down_from, odown;
    int64_t wm = live_min(s, role, &live, &ended, &down_from);
    enum sm_role other = role == SM_ROLE_CLIENT ? SM_ROLE_SERVER : SM_ROLE_CLIENT;
    int64_t owm = live_min(s, other, &olive, &oended, &odown);
    if (live) {
        s->role_blind[role] = false;
        if (down_from != INT64_MAX) /* a down sensor beside live ones: its share is blind */
            blind(s, role, down_from, wm, SM_V_SENSOR_DOWN);
        return wm;
    }
    if (ended && down_from == INT64_MAX)
        return sm_sensors_last_watermark(s, role); /* finished: no further evidence */
    /* No live sensor of this role: down, or none yet (after the start grace). Time moves
     * with the other role, and everything from the role's last evidence is blind. */
    bool waited = s->have_started && now - s->started >= s->cfg.start_grace_ns;
    if (!olive || (down_from == INT64_MAX && !waited))
        return INT64_MIN;
    int64_t from = down_from != INT64_MAX ? down_from : INT64_MIN;
    if (!s->role_blind[role] || from < s->role_down_from[role]) {
        s->role_blind[role] = true;
        s->role_down_from[role] = from;
    }
    blind(s, role, s->role_down_from[role], owm, SM_V_SENSOR_DOWN);
    return owm;
}

bool sm_sensors_all_ended(const sm_sensors_t *s)
{
    bool seen[2] = {false, false};
    for (size_t i = 0; i < s->n; i++) {
        if (!s->v[i]->ended)
            return false;
        seen[s->v[i]->role] = true;
    }
    return seen[SM_ROLE_CLIENT] && seen[SM_ROLE_SERVER];
}

int64_t sm_sensors_last_watermark(const sm_sensors_t *s, enum sm_role role)
{
    int64_t wm = INT64_MIN;
    for (size_t i = 0; i < s->n; i++)
        if (s->v[i]->role == role && s->v[i]->watermark > wm)
            wm = s->v[i]->watermark;
    return wm;
}

int64_t sm_sensors_capture_start(const sm_sensors_t *s, enum sm_role role)
{
    int64_t start = INT64_MAX;
    for (size_t i = 0; i < s->n; i++)
        if (s->v[i]->role == role && s->v[i]->capture_start != INT64_MIN &&
            s->v[i]->capture_start < start)
            start = s->v[i]->capture_start;
    return start == INT64_MAX ? INT64_MIN : start;
}

bool sm_sensors_in_scope(const sm_sensors_t *s, const struct sm_tuple *client)
{
    bool any_server = false;
    for (size_t i = 0; i < s->n; i++) {
        const struct sensor *se = s->v[i];
        if (se->role != SM_ROLE_SERVER)
            continue;
        any_server = true;
        for (size_t k = 0; k < se->nscope; k++)
            if (sm_scope_entry_covers(&se->scope[k], &client->dst, client->dport))
                return true;
    }
    return !any_server;
}

void sm_sensors_totals(const sm_sensors_t *s, struct sm_sensors_totals *out)
{
    *out = s->tot;
    out->sensors = s->n;
    out->up = 0;
    for (size_t i = 0; i < s->n; i++)
        out->up += s->v[i]->up && !s->v[i]->ended;
}

size_t sm_sensors_stats(const sm_sensors_t *s, struct sm_sensor_stats *out, size_t max)
{
    size_t k = 0;
    for (; k < s->n && k < max; k++)
        out[k] = s->v[k]->st;
    return k;
}
