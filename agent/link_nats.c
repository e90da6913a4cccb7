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
 * reconnect buffer (transport/nats.c); past that it refuses too. A publish JetStream did
 * not acknowledge in ACK_WAIT_MS (a timeout across a reconnect, a leader election) is sent
 * again with the same id, up to TRIES times; past that it is counted (sm_link_failed) and
 * the collector sees the seq gap. The error handler runs on a libnats thread: it resends or
 * counts, nothing else.
 */
#include <nats/nats.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "errbuf.h"
#include "link.h"
#include "log.h"
#include "synmatch/wire.h"

#define MAX_PENDING 4096           /* publishes awaiting JetStream's acknowledgement */
#define STALL_MS 1                 /* how long a publish may wait for room in that window */
#define ACK_WAIT_MS 5000           /* an acknowledgement not back by then: resend */
#define TRIES 5                    /* sends of one part at most */
#define TRY_HEADER "Synmatch-Try"
#define WAIT_STEP_MS 5

struct nlink {
    struct sm_link base;
    natsConnection *nc;
    jsCtx *js;
    char sensor_id[SM_SENSOR_ID_MAX + 1];
    enum sm_role role;
    uint64_t epoch;
    char endpoint[256];
    atomic_uint_fast64_t failed;
    atomic_bool warned_fail;
    bool warned;
};

/* On a libnats thread: the acknowledgement did not come, or JetStream refused. */
static void on_pub_error(jsCtx *js, jsPubAckErr *pae, void *closure)
{
    struct nlink *l = closure;
    const char *v = NULL;
    int tries = 1;
    if (natsMsgHeader_Get(pae->Msg, TRY_HEADER, &v) == NATS_OK && v)
        tries = atoi(v);
    /* A refusal with a JetStream error code (no stream, storage full, not allowed) will not
     * change by resending now; a timeout or a lost connection may. */
    if (pae->ErrCode == 0 && tries < TRIES) {
        char t[16];
        snprintf(t, sizeof t, "%d", tries + 1);
        natsMsgHeader_Set(pae->Msg, TRY_HEADER, t);
        if (js_PublishMsgAsync(js, &pae->Msg, NULL) == NATS_OK)
            return;
    }
    atomic_fetch_add(&l->failed, 1);
    if (!atomic_exchange(&l->warned_fail, true))
        sm_log_warnx("collector %s: a batch was not stored after %d tries (%s%s%s); the "
                     "collector will see its seq gap",
                     l->endpoint, tries, natsStatus_GetText(pae->Err),
                     pae->ErrText ? ": " : "", pae->ErrText ? pae->ErrText : "");
}

static int nsend(sm_link_t *base, const uint8_t *buf, size_t len, uint32_t partition,
                 uint64_t seq)
{
    struct nlink *l = (struct nlink *)base;
    char subj[SM_NATS_SUBJECT_MAX], id[SM_SENSOR_ID_MAX + 96];
    if (sm_nats_subject(subj, sizeof subj, partition, l->role, l->sensor_id) == -1)
        return -1;
    snprintf(id, sizeof id, "%s:%llu:%llu:%u", l->sensor_id, (unsigned long long)l->epoch,
             (unsigned long long)seq, (unsigned)partition);
    natsMsg *m = NULL;
    natsStatus s = natsMsg_Create(&m, subj, NULL, (const char *)buf, (int)len);
    if (s == NATS_OK)
        s = natsMsgHeader_Set(m, "Nats-Msg-Id", id);
    if (s == NATS_OK)
        s = js_PublishMsgAsync(l->js, &m, NULL);
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
    (void)base;
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
    free(l);
}

static int nclose(sm_link_t *base, int linger_ms)
{
    struct nlink *l = (struct nlink *)base;
    jsPubOptions po;
    jsPubOptions_Init(&po);
    po.MaxWait = linger_ms > 0 ? linger_ms : 1;
    natsStatus s = js_PublishAsyncComplete(l->js, &po);
    int rc = s == NATS_OK && atomic_load(&l->failed) == 0 ? 0 : -1;
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
    jo.PublishAsync.ErrHandler = on_pub_error;
    jo.PublishAsync.ErrHandlerClosure = l;
    natsStatus s = natsConnection_JetStream(&l->js, l->nc, &jo);
    if (s != NATS_OK) {
        sm_errbuf(errbuf, errlen, "%s: JetStream: %s", o->endpoint, natsStatus_GetText(s));
        nfree(l);
        return NULL;
    }
    return &l->base;
}
