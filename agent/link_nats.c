/*
 * link_nats.c - the agent's JetStream publisher (link.h): one message per batch part, to the
 * part's subject, with a message id JetStream deduplicates on (docs/WIRE.md, "JetStream").
 *
 * Every part goes out with js_PublishMsgAsync: the subject names partition, role and sensor,
 * and the header Nats-Msg-Id = sensor:epoch:seq:partition lets JetStream drop a publish it
 * already stored (a resend after a lost acknowledgement, within the stream's duplicate
 * window). The in-flight window is bounded (MAX_PENDING); when it is full libnats waits
 * STALL_MS at most and refuses, which the sender treats as "would block" and keeps the part
 * in its own accounted queue. While the servers are away libnats buffers publishes in its
 * reconnect buffer (transport/nats.c); past that it refuses too.
 *
 * A part the stream did not store (no acknowledgement in ACK_WAIT_MS, no stream leader while
 * a cluster that lost a server elects one: seconds) is held here and sent again with its id,
 * the first held one alone with a growing backoff until it is stored, then the rest; while
 * any is held, new parts wait in the sender's queue, so each partition reaches the stream in
 * seq order and the collector need not give up on a seq that is only late. A part still not
 * stored after RETRY_FOR_NS, or refused for good (no such stream, not allowed), is counted
 * (sm_link_failed) and the collector sees its seq gap. The acknowledgement thread only holds
 * parts; the agent's thread sends them.
 */
#define FIRST_FAIL_HEADER "Synmatch-First-Fail"
#define PROBE_HEADER "Synmatch-Probe"
#include <nats/nats.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "errbuf.h"
#include "link.h"
#include "log.h"
#include "synmatch/wire.h"

#define MAX_PENDING 4096        /* publishes awaiting JetStream's acknowledgement */
#define STALL_MS 1              /* how long a publish may wait for room in that window */
#define ACK_WAIT_MS 5000        /* an acknowledgement not back by then: a failure */
#define RETRY_FOR_NS (120 * INT64_C(1000000000)) /* a part is sent again for so long */
#define BACKOFF_MIN_NS (50 * INT64_C(1000000))
#define BACKOFF_MAX_NS (1000 * INT64_C(1000000))
#define HELD_MAX_BYTES (64 << 20) /* parts waiting to be sent again, at most */
#define WAIT_STEP_MS 5
#define ANSWER_STALL_NS (3 * INT64_C(1000000000)) /* in flight, no answer: taken back */

/* A part the stream did not take, waiting to be sent again (oldest first). */
struct held {
    struct held *next;
    char subject[SM_NATS_SUBJECT_MAX];
    char id[SM_SENSOR_ID_MAX + 96];
    uint64_t seq;
    uint32_t partition;
    int64_t first_fail_ns;
    size_t len;
    uint8_t data[];
};

struct nlink {
    struct sm_link base;
    natsConnection *nc;
    jsCtx *js;
    char sensor_id[SM_SENSOR_ID_MAX + 1];
    enum sm_role role;
    uint64_t epoch;
    char endpoint[256];
    /* held parts: filled by the acknowledgement thread, sent again by the agent's */
    pthread_mutex_t mu;
    struct held *head, *tail;
    size_t held_bytes;
    int64_t next_try_ns, backoff_ns;
    atomic_int probe; /* PROBE_*: the first held part, sent again alone */
    atomic_int_fast64_t in_flight;  /* published, no answer yet */
    atomic_int_fast64_t last_answer_ns; /* monotonic: the last acknowledgement or refusal */
    atomic_uint_fast64_t failed, resent, reclaimed;
    atomic_bool warned_fail, warned_held;
    bool warned;
};

static int64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void give_up(struct nlink *l, const char *why)
{
    atomic_fetch_add(&l->failed, 1);
    if (!atomic_exchange(&l->warned_fail, true))
        sm_log_warnx("collector %s: a batch was not stored (%s); the collector will see its "
                     "seq gap", l->endpoint, why);
}

enum { PROBE_NONE, PROBE_IN_FLIGHT, PROBE_STORED, PROBE_FAILED };

/*
 * On a libnats thread, for every publish: stored, or not (no acknowledgement in time, no
 * stream leader while the cluster elects one, a lost connection). A part not stored is held,
 * in order, and sent again by the agent's thread with the same message id, for RETRY_FOR_NS.
 * A refusal with a JetStream error code (no such stream, storage full, not allowed) will not
 * change by waiting: given up at once. The held part sent first again (the probe) stays held
 * until its answer says whether the rest may follow.
 */
static void hold(struct nlink *l, natsMsg *msg, const char *why);

static void on_ack(jsCtx *js, natsMsg *msg, jsPubAck *pa, jsPubAckErr *pae, void *closure)
{
    (void)js;
    struct nlink *l = closure;
    atomic_fetch_sub(&l->in_flight, 1);
    atomic_store(&l->last_answer_ns, mono_ns());
    const char *probe = NULL;
    natsMsgHeader_Get(msg, PROBE_HEADER, &probe);
    if (probe != NULL) {
        atomic_store(&l->probe, pa != NULL && pae == NULL ? PROBE_STORED : PROBE_FAILED);
        natsMsg_Destroy(msg);
        return;
    }
    if (pa != NULL && pae == NULL) {
        natsMsg_Destroy(msg);
        return;
    }
    if (pae != NULL && pae->ErrCode != 0) {
        give_up(l, pae->ErrText ? pae->ErrText : natsStatus_GetText(pae->Err));
        natsMsg_Destroy(msg);
        return;
    }
    hold(l, msg, pae ? natsStatus_GetText(pae->Err) : "no answer");
    natsMsg_Destroy(msg);
}

/* The order parts are held and sent again in: seq, then partition (from the message id
 * sensor:epoch:seq:partition). */
static bool held_before(const struct held *a, const struct held *b)
{
    return a->seq != b->seq ? a->seq < b->seq : a->partition < b->partition;
}

/* Holds a copy of msg, in seq order among those held (any thread). */
static void hold(struct nlink *l, natsMsg *msg, const char *why)
{
    const char *id = NULL, *first = NULL;
    natsMsgHeader_Get(msg, "Nats-Msg-Id", &id);
    natsMsgHeader_Get(msg, FIRST_FAIL_HEADER, &first);
    int64_t now = mono_ns(), since = first ? strtoll(first, NULL, 10) : now;
    if (now - since > RETRY_FOR_NS) {
        give_up(l, why);
        return;
    }
    int len = natsMsg_GetDataLength(msg);
    struct held *h = malloc(sizeof *h + (size_t)len);
    if (h != NULL) {
        snprintf(h->subject, sizeof h->subject, "%s", natsMsg_GetSubject(msg));
        snprintf(h->id, sizeof h->id, "%s", id ? id : "");
        const char *c = id ? strchr(id, ':') : NULL; /* sensor:epoch:seq:partition */
        c = c ? strchr(c + 1, ':') : NULL;
        h->seq = c ? strtoull(c + 1, NULL, 10) : 0;
        c = c ? strchr(c + 1, ':') : NULL;
        h->partition = c ? (uint32_t)strtoul(c + 1, NULL, 10) : 0;
        h->first_fail_ns = since;
        h->len = (size_t)len;
        memcpy(h->data, natsMsg_GetData(msg), (size_t)len);
        h->next = NULL;
    }
    pthread_mutex_lock(&l->mu);
    bool room = h != NULL && l->held_bytes + (size_t)len <= HELD_MAX_BYTES;
    if (room) {
        /* usually the last: failures come in publish order */
        struct held **at = &l->head;
        if (l->tail != NULL && !held_before(h, l->tail))
            at = &l->tail->next;
        else
            while (*at != NULL && !held_before(h, *at))
                at = &(*at)->next;
        h->next = *at;
        *at = h;
        if (h->next == NULL)
            l->tail = h;
        l->held_bytes += (size_t)len;
    }
    pthread_mutex_unlock(&l->mu);
    if (!room) {
        free(h);
        give_up(l, "too much waiting to be sent again");
        return;
    }
    if (!atomic_exchange(&l->warned_held, true))
        sm_log_warnx("collector %s: the stream did not take a batch (%s); holding it and what "
                     "follows, sending again", l->endpoint, why);
}

/*
 * No answer at all for ANSWER_STALL_NS while parts are in flight (the server that took them
 * died before storing them, and libnats waits for those acknowledgements for ever): they are
 * taken back from libnats and held, in order, like refused ones.
 */
static void reclaim_stalled(struct nlink *l)
{
    int64_t now = mono_ns();
    if (atomic_load(&l->in_flight) <= 0 || now - atomic_load(&l->last_answer_ns) < ANSWER_STALL_NS)
        return;
    natsMsgList pending = {0};
    if (js_PublishAsyncGetPendingList(&pending, l->js) != NATS_OK)
        return;
    atomic_store(&l->last_answer_ns, now);
    for (int i = 0; i < pending.Count; i++) {
        const char *probe = NULL;
        natsMsgHeader_Get(pending.Msgs[i], PROBE_HEADER, &probe);
        if (probe != NULL) /* the first held part itself: still held, probed again */
            atomic_store(&l->probe, PROBE_FAILED);
        else
            hold(l, pending.Msgs[i], "no answer");
        atomic_fetch_sub(&l->in_flight, 1);
        atomic_fetch_add(&l->reclaimed, 1);
    }
    natsMsgList_Destroy(&pending);
}

/* One part as a message with its id (and when it first failed, and whether it is the probe);
 * NULL when out of memory. */
static natsMsg *make_msg(const char *subject, const char *id, const void *data, size_t len,
                         int64_t first_fail_ns, bool probe)
{
    natsMsg *m = NULL;
    natsStatus s = natsMsg_Create(&m, subject, NULL, data, (int)len);
    if (s == NATS_OK)
        s = natsMsgHeader_Set(m, "Nats-Msg-Id", id);
    if (s == NATS_OK && first_fail_ns) {
        char t[24];
        snprintf(t, sizeof t, "%lld", (long long)first_fail_ns);
        s = natsMsgHeader_Set(m, FIRST_FAIL_HEADER, t);
    }
    if (s == NATS_OK && probe)
        s = natsMsgHeader_Set(m, PROBE_HEADER, "1");
    if (s != NATS_OK) {
        natsMsg_Destroy(m);
        return NULL;
    }
    return m;
}

/* Publishes held part h (under mu). */
static natsStatus publish(struct nlink *l, natsMsg **m)
{
    if (atomic_fetch_add(&l->in_flight, 1) == 0) /* the wait for an answer starts now */
        atomic_store(&l->last_answer_ns, mono_ns());
    natsStatus s = *m ? js_PublishMsgAsync(l->js, m, NULL) : NATS_NO_MEMORY;
    if (s != NATS_OK)
        atomic_fetch_sub(&l->in_flight, 1);
    return s;
}

static natsStatus publish_held(struct nlink *l, const struct held *h, bool probe)
{
    natsMsg *m = make_msg(h->subject, h->id, h->data, h->len, h->first_fail_ns, probe);
    natsStatus s = publish(l, &m);
    natsMsg_Destroy(m);
    return s;
}

/* Frees the first held part (under mu). */
static void drop_head(struct nlink *l)
{
    struct held *h = l->head;
    l->head = h->next;
    if (l->head == NULL)
        l->tail = NULL;
    l->held_bytes -= h->len;
    free(h);
}

/*
 * Sends the held parts again, oldest first: the first alone, with a growing backoff, until
 * the stream stores it; then the rest. Returns true when none is held any more (new parts
 * may go out: each partition reaches the stream in seq order).
 */
static bool resend_held(struct nlink *l)
{
    reclaim_stalled(l);
    pthread_mutex_lock(&l->mu);
    int64_t now = mono_ns();
    int probe = atomic_load(&l->probe);
    if (probe == PROBE_STORED && l->head != NULL) {
        drop_head(l);
        atomic_fetch_add(&l->resent, 1);
        l->backoff_ns = 0;
        /* the stream takes parts again: the others go now, in order; one it refuses
         * again is held again */
        while (l->head != NULL && publish_held(l, l->head, false) == NATS_OK) {
            drop_head(l);
            atomic_fetch_add(&l->resent, 1);
        }
        atomic_store(&l->probe, PROBE_NONE);
        probe = PROBE_NONE;
    } else if (probe == PROBE_FAILED) {
        l->backoff_ns = l->backoff_ns ? l->backoff_ns * 2 : BACKOFF_MIN_NS;
        if (l->backoff_ns > BACKOFF_MAX_NS)
            l->backoff_ns = BACKOFF_MAX_NS;
        l->next_try_ns = now + l->backoff_ns;
        atomic_store(&l->probe, PROBE_NONE);
        probe = PROBE_NONE;
        if (l->head != NULL && now - l->head->first_fail_ns > RETRY_FOR_NS) {
            drop_head(l); /* it had its time: a seq gap */
            pthread_mutex_unlock(&l->mu);
            give_up(l, "not stored in time");
            pthread_mutex_lock(&l->mu);
        }
    }
    if (probe == PROBE_NONE && l->head != NULL && now >= l->next_try_ns) {
        atomic_store(&l->probe, PROBE_IN_FLIGHT);
        if (publish_held(l, l->head, true) != NATS_OK)
            atomic_store(&l->probe, PROBE_FAILED);
    }
    bool empty = l->head == NULL && atomic_load(&l->probe) == PROBE_NONE;
    pthread_mutex_unlock(&l->mu);
    return empty;
}

static int nsend(sm_link_t *base, const uint8_t *buf, size_t len, uint32_t partition,
                 uint64_t seq)
{
    struct nlink *l = (struct nlink *)base;
    /* while parts wait to be sent again, newer ones wait too, in the sender's own queue */
    if (!resend_held(l))
        return 0;
    char subj[SM_NATS_SUBJECT_MAX], id[SM_SENSOR_ID_MAX + 96];
    if (sm_nats_subject(subj, sizeof subj, partition, l->role, l->sensor_id) == -1)
        return -1;
    snprintf(id, sizeof id, "%s:%llu:%llu:%u", l->sensor_id, (unsigned long long)l->epoch,
             (unsigned long long)seq, (unsigned)partition);
    natsMsg *m = make_msg(subj, id, buf, len, 0, false);
    natsStatus s = publish(l, &m);
    natsMsg_Destroy(m); /* NULL once libnats took it */
    if (s == NATS_OK)
        return 1;
    /* the in-flight window full (a timeout), or the reconnect buffer full: later */
    if (s == NATS_TIMEOUT || s == NATS_INSUFFICIENT_BUFFER)
        return 0;
    if (!l->warned) {
        l->warned = true;
        sm_log_warnx("collector %s: publish failed: %s", l->endpoint, natsStatus_GetText(s));
    }
    return -1;
}

static void nwait(sm_link_t *base, int timeout_ms)
{
    resend_held((struct nlink *)base);
    nats_Sleep(timeout_ms < WAIT_STEP_MS ? timeout_ms : WAIT_STEP_MS);
}

static void nfree(struct nlink *l)
{
    if (l->js)
        jsCtx_Destroy(l->js);
    if (l->nc) {
        natsConnection_Close(l->nc);
        natsConnection_Destroy(l->nc);
    }
    for (struct held *h = l->head, *next; h != NULL; h = next) {
        next = h->next;
        free(h);
    }
    pthread_mutex_destroy(&l->mu);
    free(l);
}

/* Parts still held: each one is a seq gap for the collector. */
static size_t count_held(struct nlink *l)
{
    size_t n = 0;
    pthread_mutex_lock(&l->mu);
    for (const struct held *h = l->head; h != NULL; h = h->next)
        n++;
    pthread_mutex_unlock(&l->mu);
    return n;
}

static int nclose(sm_link_t *base, int linger_ms)
{
    struct nlink *l = (struct nlink *)base;
    int64_t deadline = mono_ns() + (int64_t)linger_ms * 1000000;
    natsStatus s = NATS_OK;
    /* what is held goes again, and everything in flight must be acknowledged (a failure
     * held meanwhile goes again too), within the linger */
    for (;;) {
        while (!resend_held(l) && mono_ns() < deadline)
            nats_Sleep(WAIT_STEP_MS);
        int64_t left_ms = (deadline - mono_ns()) / 1000000;
        jsPubOptions po;
        jsPubOptions_Init(&po);
        po.MaxWait = left_ms > 0 ? left_ms : 1;
        s = js_PublishAsyncComplete(l->js, &po);
        if (count_held(l) == 0 || mono_ns() >= deadline)
            break;
    }
    size_t held = count_held(l);
    for (size_t k = 0; k < held; k++)
        give_up(l, "still not stored at the end");
    int rc = s == NATS_OK && held == 0 && atomic_load(&l->failed) == 0 ? 0 : -1;
    if (s != NATS_OK)
        sm_log_warnx("collector %s: the last batches were not all acknowledged: %s",
                     l->endpoint, natsStatus_GetText(s));
    nfree(l);
    return rc;
}

static uint64_t nfailed(const sm_link_t *base)
{
    const struct nlink *l = (const struct nlink *)base;
    return atomic_load(&l->failed);
}

static const struct sm_link_ops nats_ops = {nsend, nwait, nclose, nfailed};

sm_link_t *sm_link_nats_open(const struct sm_link_opts *o, char *errbuf, size_t errlen)
{
    if (!sm_nats_sensor_ok(o->sensor_id)) {
        sm_errbuf(errbuf, errlen,
                  "sensor id '%s': over NATS it is a subject token: no '.', '*', '>' or space",
                  o->sensor_id);
        return NULL;
    }
    uint32_t parts = o->partitions ? o->partitions : SM_NATS_DEFAULT_PARTITIONS;
    if (parts > SM_WIRE_MAX_PARTITIONS) {
        sm_errbuf(errbuf, errlen, "--partitions: at most %u", SM_WIRE_MAX_PARTITIONS);
        return NULL;
    }
    struct nlink *l = calloc(1, sizeof *l);
    if (l == NULL) {
        sm_errbuf(errbuf, errlen, "out of memory");
        return NULL;
    }
    l->base.ops = &nats_ops;
    l->base.partitions = parts;
    snprintf(l->endpoint, sizeof l->endpoint, "%s", o->endpoint);
    snprintf(l->sensor_id, sizeof l->sensor_id, "%s", o->sensor_id);
    l->role = o->role;
    l->epoch = o->epoch;
    pthread_mutex_init(&l->mu, NULL);
    char inbox[SM_SENSOR_ID_MAX + 32];
    snprintf(inbox, sizeof inbox, "_SM_INBOX.%s", o->sensor_id);
    struct sm_nats_conn_opts co = o->nats;
    co.endpoint = o->endpoint;
    co.inbox_prefix = inbox;
    if (co.name == NULL)
        co.name = o->sensor_id;
    l->nc = sm_nats_connect(&co, true, errbuf, errlen);
    if (l->nc == NULL) {
        nfree(l);
        return NULL;
    }
    /* Reachable now: the stream must exist and agree on the partitions, or every part would
     * go where no shard looks. Not reachable yet: checked by the collectors, which refuse
     * parts of another partitioning (bad_partition). */
    if (natsConnection_Status(l->nc) == NATS_CONN_STATUS_CONNECTED) {
        uint32_t have = sm_nats_stream_partitions(l->nc, errbuf, errlen);
        if (have == 0 || have != parts) {
            if (have != 0)
                sm_errbuf(errbuf, errlen, "stream %s has %u partitions, this agent %u "
                          "(--partitions)", SM_NATS_STREAM, (unsigned)have, (unsigned)parts);
            nfree(l);
            return NULL;
        }
    }
    jsOptions jo;
    jsOptions_Init(&jo);
    jo.Wait = ACK_WAIT_MS;
    jo.PublishAsync.MaxPending = MAX_PENDING;
    jo.PublishAsync.StallWait = STALL_MS;
    jo.PublishAsync.AckHandler = on_ack;
    jo.PublishAsync.AckHandlerClosure = l;
    natsStatus s = natsConnection_JetStream(&l->js, l->nc, &jo);
    if (s != NATS_OK) {
        sm_errbuf(errbuf, errlen, "%s: JetStream: %s", o->endpoint, natsStatus_GetText(s));
        nfree(l);
        return NULL;
    }
    return &l->base;
}
