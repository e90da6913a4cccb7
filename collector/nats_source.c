/*
 * nats_source.c - the streams' setup and the shard's consumers (nats_source.h).
 *
 * Durable push consumers, one per partition (nats-server 2.9 gives a consumer one filter
 * subject), each message acknowledged once handed on (explicit acks), at most PART_ACK_PENDING
 * unacknowledged per partition instead of flow control (a consumer whose leader died
 * mid-flow-control was seen to stall for good on nats-server 2.9.10). Explicit, not ack-all:
 * when a server dies, what it was pushing to this shard is lost on the way while the
 * consumer's new leader counts it as delivered; acknowledging a later message would
 * acknowledge it too and it would never come. Unacknowledged, it comes again after
 * SM_NATS_ACK_WAIT_NS, and the books (sensors.c) wait longer than that for a missing seq over
 * NATS. A consumer is the shard's cursor, not its safety: what keeps a verdict from being lost
 * when a shard dies is the replay: a shard that starts reads its partitions again from the
 * stream over the replay horizon before each one's delivered point, so whatever its
 * predecessor held undecided (or had received and not read) is decided again.
 *
 * The loop never waits here: each turn takes what is there from each owned partition in turn,
 * the replay consumer first while it lasts.
 */
#include "nats_source.h"

#include <inttypes.h>
#include <nats/nats.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "errbuf.h"
#include "synmatch/nats.h"
#include "log.h"
#include "synmatch/wire.h"

#define PENDING_BYTES (256 << 20) /* what libnats may hold for one partition: more than
                                   * PART_ACK_PENDING parts, so it never drops one */
#define PER_PART_TURN 1 /* messages of one partition before the next: the partitions
                          * go in step, each at most a batch ahead of the others */
#define PART_ACK_PENDING 32 /* per partition's consumer: the server pushes no further ahead.
                             * Each part a shard holds unread is memory, cold by the time it is
                             * read: 32 keep 64 partitions at about 30 MB; 256 held ~220 MB of
                             * 16,384-record batches' parts and cost 0.2-0.3 of the shard's
                             * time in page faults and misses (docs/PERFORMANCE.md) */
#define REPLAY_ACK_PENDING 256 /* the replay's one consumer, for all the owned partitions */
#define RETIRE_MAX 1024 /* messages freed together */
#define BIND_TRIES 10     /* binding a partition while the cluster elects leaders: tries */
#define API_WAIT_MS 30000 /* a JetStream API call's answer, at most */
#define BIND_PAUSE_MS 1000

struct part {
    uint32_t p;
    natsSubscription *live; /* bound to the durable consumer */
    bool replaying;         /* the replay has not reached replay_to yet */
    uint64_t replay_to;     /* the durable's delivered stream sequence at start */
};

struct sm_nats_source {
    natsConnection *nc;
    jsCtx *js;
    struct part *parts;   /* the owned partitions */
    struct part **index;  /* [partitions]: a partition's, or NULL when not owned */
    natsSubscription *replay; /* the replay consumer while a partition needs it */
    uint32_t nparts, next;
    uint32_t partitions, shard, shards;
    int64_t replay_from;
    uint32_t replaying;
    uint64_t replayed;
    uint64_t fetches, fetched; /* requests, and messages they brought */
    natsMsg *retired[RETIRE_MAX]; /* handed on this turn, freed at its end */
    size_t nretired;
    bool warned;
    natsStatus last_status; /* of the last failed call while binding */
    jsErrCode last_je;
};

static void retire_all(sm_nats_source_t *s);

static void consumer_name(char *buf, size_t len, uint32_t p)
{
    snprintf(buf, len, SM_NATS_CONSUMER_PREFIX "%u", (unsigned)p);
}

static int jerr_text(char *errbuf, size_t errlen, const char *what, natsStatus s, jsErrCode je)
{
    const char *last = nats_GetLastError(NULL);
    if (je)
        return sm_errbuf(errbuf, errlen, "%s: %s%s%s (JetStream error %d)", what,
                         natsStatus_GetText(s), last ? ": " : "", last ? last : "", (int)je);
    return sm_errbuf(errbuf, errlen, "%s: %s%s%s", what, natsStatus_GetText(s),
                     last ? ": " : "", last ? last : "");
}

/* Creates stream sc, or updates it when it exists. "created", "updated" or NULL (errbuf). */
static const char *put_stream(jsCtx *js, jsStreamConfig *sc, char *errbuf, size_t errlen)
{
    jsStreamInfo *si = NULL;
    jsErrCode je = 0;
    natsStatus s = js_AddStream(&si, js, sc, NULL, &je);
    const char *did = "created";
    if (s != NATS_OK && je == JSStreamNameExistErr) {
        jsStreamInfo_Destroy(si);
        si = NULL;
        je = 0;
        s = js_UpdateStream(&si, js, sc, NULL, &je);
        did = "updated";
    }
    jsStreamInfo_Destroy(si);
    if (s != NATS_OK) {
        char what[96];
        snprintf(what, sizeof what, "stream %s", sc->Name);
        jerr_text(errbuf, errlen, what, s, je);
        return NULL;
    }
    return did;
}

int sm_nats_setup(const struct sm_nats_setup_opts *o, char *errbuf, size_t errlen)
{
    natsConnection *nc = sm_nats_connect(&o->conn, false, errbuf, errlen);
    if (nc == NULL)
        return -1;
    int rc = -1;
    jsCtx *js = NULL;
    natsStatus s = natsConnection_JetStream(&js, nc, NULL);
    if (s != NATS_OK) {
        jerr_text(errbuf, errlen, "JetStream", s, 0);
        goto out;
    }
    /* The partition count is fixed when the stream is made: agents hash into it. */
    char have_err[256];
    uint32_t have = sm_nats_stream_partitions(nc, have_err, sizeof have_err);
    if (have != 0 && have != o->partitions) {
        sm_errbuf(errbuf, errlen, "stream %s was made with %u partitions, not %u: the count "
                  "cannot change (delete the streams to start over, losing what they hold)",
                  SM_NATS_STREAM, (unsigned)have, (unsigned)o->partitions);
        goto out;
    }
    char desc[64];
    sm_nats_describe(desc, sizeof desc, o->partitions);
    const char *rec_subjects[] = {SM_NATS_SUBJECTS};
    jsStreamConfig sc;
    jsStreamConfig_Init(&sc);
    sc.Name = SM_NATS_STREAM;
    sc.Description = desc;
    sc.Subjects = rec_subjects;
    sc.SubjectsLen = 1;
    sc.Storage = js_FileStorage;
    sc.Replicas = o->replicas;
    sc.MaxAge = o->max_age_ns;
    sc.MaxBytes = o->max_bytes > 0 ? o->max_bytes : -1;
    sc.Duplicates = o->duplicates_ns;
    sc.Discard = js_DiscardOld;
    sc.MaxMsgSize = (int32_t)SM_WIRE_MAX_MESSAGE;
    const char *did = put_stream(js, &sc, errbuf, errlen);
    if (did == NULL)
        goto out;
    sm_log_info("stream %s %s: %s, subjects %s, file storage, %d replica%s, max age %.0f s, "
                "duplicate window %.0f s", SM_NATS_STREAM, did, desc, SM_NATS_SUBJECTS,
                o->replicas, o->replicas == 1 ? "" : "s", (double)o->max_age_ns / 1e9,
                (double)o->duplicates_ns / 1e9);
    const char *out_subjects[] = {SM_NATS_OUT_SUBJECTS};
    jsStreamConfig oc;
    jsStreamConfig_Init(&oc);
    oc.Name = SM_NATS_OUT_STREAM;
    oc.Description = "synmatch verdicts and events";
    oc.Subjects = out_subjects;
    oc.SubjectsLen = 1;
    oc.Storage = js_FileStorage;
    oc.Replicas = o->replicas;
    oc.MaxAge = o->out_max_age_ns;
    oc.Duplicates = o->duplicates_ns;
    oc.Discard = js_DiscardOld;
    if ((did = put_stream(js, &oc, errbuf, errlen)) == NULL)
        goto out;
    sm_log_info("stream %s %s: subjects %s, file storage, %d replica%s, max age %.0f s",
                SM_NATS_OUT_STREAM, did, SM_NATS_OUT_SUBJECTS, o->replicas,
                o->replicas == 1 ? "" : "s", (double)o->out_max_age_ns / 1e9);
    unsigned made = 0, kept = 0, updated = 0;
    for (uint32_t p = 0; p < o->partitions; p++) {
        char name[48], filter[48], deliver[64];
        consumer_name(name, sizeof name, p);
        sm_nats_filter(filter, sizeof filter, p);
        snprintf(deliver, sizeof deliver, SM_NATS_DELIVER_PREFIX "%u", (unsigned)p);
        jsConsumerInfo *ci = NULL;
        jsErrCode je = 0;
        s = js_GetConsumerInfo(&ci, js, SM_NATS_STREAM, name, NULL, &je);
        if (s == NATS_OK) {
            /* There: its position is what a shard resumes from; never reset it. */
            bool same = ci->Config->AckPolicy == js_AckExplicit &&
                        ci->Config->FilterSubject &&
                        strcmp(ci->Config->FilterSubject, filter) == 0 &&
                        ci->Config->DeliverSubject &&
                        strcmp(ci->Config->DeliverSubject, deliver) == 0;
            if (!same) {
                jsConsumerInfo_Destroy(ci);
                sm_errbuf(errbuf, errlen, "consumer %s of stream %s exists with another filter, "
                          "delivery subject or ack policy: delete it (a shard then starts that partition "
                          "over)", name, SM_NATS_STREAM);
                goto out;
            }
            /* made by an earlier version with another bound: given this one, position kept */
            if (ci->Config->MaxAckPending != PART_ACK_PENDING) {
                jsConsumerConfig uc = *ci->Config;
                uc.MaxAckPending = PART_ACK_PENDING;
                jsConsumerInfo *ui = NULL;
                je = 0;
                s = js_UpdateConsumer(&ui, js, SM_NATS_STREAM, &uc, NULL, &je);
                jsConsumerInfo_Destroy(ui);
                if (s == NATS_OK)
                    updated++;
                else
                    sm_log_warnx("consumer %s: keeping its bound of %" PRId64 " unacknowledged "
                                 "(%s)", name, ci->Config->MaxAckPending, natsStatus_GetText(s));
            }
            jsConsumerInfo_Destroy(ci);
            kept++;
            continue;
        }
        jsConsumerConfig cc;
        jsConsumerConfig_Init(&cc);
        cc.Durable = name;
        cc.Description = "synmatch: one partition's records, for the shard that owns it";
        cc.FilterSubject = filter;
        cc.DeliverSubject = deliver;
        cc.DeliverPolicy = js_DeliverAll;
        cc.AckPolicy = js_AckExplicit;
        cc.AckWait = SM_NATS_ACK_WAIT_NS;
        cc.MaxAckPending = PART_ACK_PENDING;
        je = 0;
        s = js_AddConsumer(&ci, js, SM_NATS_STREAM, &cc, NULL, &je);
        jsConsumerInfo_Destroy(ci);
        if (s != NATS_OK) {
            char what[96];
            snprintf(what, sizeof what, "consumer %s", name);
            jerr_text(errbuf, errlen, what, s, je);
            goto out;
        }
        made++;
    }
    sm_log_info("consumers %s0..%s%u: one per partition (filter synmatch.rec.<p>.>, pushed to "
                SM_NATS_DELIVER_PREFIX "<p>, explicit acks, at most %d unacknowledged): %u made, "
                "%u kept (%u of them given that bound)",
                SM_NATS_CONSUMER_PREFIX, SM_NATS_CONSUMER_PREFIX, (unsigned)o->partitions - 1,
                PART_ACK_PENDING, made, kept, updated);
    rc = 0;
out:
    jsCtx_Destroy(js);
    natsConnection_Close(nc);
    natsConnection_Destroy(nc);
    return rc;
}

/* Where the replay of partition pt starts: the time of the durable's last delivered message
 * minus the horizon. 0 with *from set when there is something to replay, 1 when nothing is,
 * -1 on an error (errbuf). */
static int replay_start(sm_nats_source_t *s, const jsConsumerInfo *ci, uint64_t first_seq,
                        int64_t horizon, int64_t *from, char *errbuf, size_t errlen)
{
    uint64_t d = ci->Delivered.Stream;
    if (d == 0 || d < first_seq)
        return 1; /* nothing delivered yet, or it aged out of the stream: nothing to redo */
    natsMsg *m = NULL;
    jsErrCode je = 0;
    natsStatus st = js_GetMsg(&m, s->js, SM_NATS_STREAM, d, NULL, &je);
    if (st == NATS_NOT_FOUND || je == JSNoMessageFoundErr) {
        natsMsg_Destroy(m);
        return 1;
    }
    if (st != NATS_OK) {
        jerr_text(errbuf, errlen, "stream " SM_NATS_STREAM ": the last delivered record", st,
                  je);
        s->last_status = st;
        s->last_je = je;
        return -1;
    }
    *from = natsMsg_GetTime(m) - horizon;
    natsMsg_Destroy(m);
    return 0;
}

/* Binds pt to its durable consumer and notes what of it needs a replay. */
static int bind_part(sm_nats_source_t *s, struct part *pt, uint64_t first_seq, int64_t horizon,
                     char *errbuf, size_t errlen)
{
    char name[48], filter[48];
    consumer_name(name, sizeof name, pt->p);
    sm_nats_filter(filter, sizeof filter, pt->p);
    jsConsumerInfo *ci = NULL;
    jsErrCode je = 0;
    natsStatus st = js_GetConsumerInfo(&ci, s->js, SM_NATS_STREAM, name, NULL, &je);
    if (st != NATS_OK) {
        char what[160];
        snprintf(what, sizeof what, "consumer %s of stream %s (made by synmatch-collector "
                 "--nats-setup)", name, SM_NATS_STREAM);
        jerr_text(errbuf, errlen, what, st, je);
        s->last_status = st;
        s->last_je = je;
        return -1;
    }
    int64_t from = 0;
    int r = replay_start(s, ci, first_seq, horizon, &from, errbuf, errlen);
    pt->replay_to = ci->Delivered.Stream;
    jsConsumerInfo_Destroy(ci);
    if (r == -1)
        return -1;
    if (r == 0 && !pt->replaying) {
        pt->replaying = true;
        s->replaying++;
        if (s->replay_from == 0 || from < s->replay_from)
            s->replay_from = from;
    }
    if (pt->live != NULL)
        return 0;
    jsSubOptions so;
    jsSubOptions_Init(&so);
    so.Stream = SM_NATS_STREAM;
    so.Consumer = name; /* bind: never create one with other settings */
    je = 0;
    st = js_SubscribeSync(&pt->live, s->js, filter, NULL, &so, &je);
    if (st != NATS_OK) {
        char what[160];
        snprintf(what, sizeof what, "binding to consumer %s of stream %s", name,
                 SM_NATS_STREAM);
        jerr_text(errbuf, errlen, what, st, je);
        s->last_status = st;
        s->last_je = je;
        return -1;
    }
    natsSubscription_SetPendingLimits(pt->live, -1, PENDING_BYTES);
    return 0;
}

/* True for what a cluster says while it elects a leader after losing a server: worth asking
 * again in a moment. */
static bool transient(natsStatus st, jsErrCode je)
{
    return st == NATS_TIMEOUT || st == NATS_NO_RESPONDERS || je == JSClusterNotAvailErr ||
           je == JSClusterNotLeaderErr || je == JSStreamOfflineErr;
}

/* call (0 or -1, noting what failed in s), asked again while the cluster is between leaders
 * (a bounded wait): its result. */
#define RETRYING(s, errbuf, call)                                                              \
    ({                                                                                         \
        int rc_;                                                                               \
        for (int tries_ = 1;; tries_++) {                                                      \
            (s)->last_status = NATS_OK;                                                        \
            (s)->last_je = 0;                                                                  \
            if ((rc_ = (call)) == 0 || !transient((s)->last_status, (s)->last_je) ||          \
                tries_ == BIND_TRIES)                                                          \
                break;                                                                         \
            sm_log_warnx("%s; asking again", errbuf);                                          \
            nats_Sleep(BIND_PAUSE_MS);                                                         \
        }                                                                                      \
        rc_;                                                                                   \
    })

static void replay_name(const sm_nats_source_t *s, char *buf, size_t len)
{
    snprintf(buf, len, SM_NATS_REPLAY_PREFIX "%u-%u", (unsigned)s->shard, (unsigned)s->shards);
}

/*
 * The replay: one consumer for all the shard's partitions (made once: making one per
 * partition takes seconds each in a cluster that just lost a server), durable like the
 * stream (an ephemeral one is placed on one server, which may be the one that died), from the
 * earliest partition's start; each partition takes what it needs of it and the rest is
 * dropped. Made anew (a dead predecessor's is deleted first) and deleted once done.
 */
static int open_replay(sm_nats_source_t *s, char *errbuf, size_t errlen)
{
    char rname[48], rdeliver[64];
    replay_name(s, rname, sizeof rname);
    snprintf(rdeliver, sizeof rdeliver, "synmatch.deliver.replay.%u-%u", (unsigned)s->shard,
             (unsigned)s->shards);
    jsErrCode je = 0;
    natsStatus st = js_DeleteConsumer(s->js, SM_NATS_STREAM, rname, NULL, &je);
    if (st != NATS_OK && st != NATS_NOT_FOUND && je != JSConsumerNotFoundErr) {
        jerr_text(errbuf, errlen, "replay: deleting the last one", st, je);
        s->last_status = st;
        s->last_je = je;
        return -1;
    }
    jsConsumerConfig cc;
    jsConsumerConfig_Init(&cc);
    cc.Durable = rname;
    cc.Description = "synmatch: a shard's replay of its partitions after a restart";
    cc.FilterSubject = SM_NATS_SUBJECTS;
    cc.DeliverSubject = rdeliver;
    cc.DeliverPolicy = js_DeliverByStartTime;
    cc.OptStartTime = s->replay_from;
    cc.AckPolicy = js_AckExplicit;
    cc.AckWait = SM_NATS_ACK_WAIT_NS;
    cc.MaxAckPending = REPLAY_ACK_PENDING;
    jsConsumerInfo *ci = NULL;
    je = 0;
    st = js_AddConsumer(&ci, s->js, SM_NATS_STREAM, &cc, NULL, &je);
    jsConsumerInfo_Destroy(ci);
    if (st == NATS_OK) {
        jsSubOptions so;
        jsSubOptions_Init(&so);
        so.Stream = SM_NATS_STREAM;
        so.Consumer = rname;
        je = 0;
        st = js_SubscribeSync(&s->replay, s->js, SM_NATS_SUBJECTS, NULL, &so, &je);
    }
    if (st != NATS_OK) {
        jerr_text(errbuf, errlen, "replay", st, je);
        s->last_status = st;
        s->last_je = je;
        return -1;
    }
    natsSubscription_SetPendingLimits(s->replay, -1, PENDING_BYTES);
    return 0;
}

sm_nats_source_t *sm_nats_source_new(const struct sm_nats_source_opts *o, char *errbuf,
                                     size_t errlen)
{
    sm_nats_source_t *s = calloc(1, sizeof *s);
    if (s == NULL) {
        sm_errbuf(errbuf, errlen, "out of memory");
        return NULL;
    }
    s->shard = o->shard;
    s->shards = o->shards ? o->shards : 1;
    if ((s->nc = sm_nats_connect(&o->conn, false, errbuf, errlen)) == NULL)
        goto fail;
    /* API calls get a longer wait than libnats's 5 s: a cluster that just lost a server
     * takes that long and more to answer some of them. */
    jsOptions jo;
    jsOptions_Init(&jo);
    jo.Wait = API_WAIT_MS;
    natsStatus st = natsConnection_JetStream(&s->js, s->nc, &jo);
    if (st != NATS_OK) {
        jerr_text(errbuf, errlen, "JetStream", st, 0);
        goto fail;
    }
    /* A cluster that just lost a server answers once it has elected leaders again. */
    jsStreamInfo *si = NULL;
    jsErrCode je = 0;
    for (int tries = 1;; tries++) {
        je = 0;
        st = js_GetStreamInfo(&si, s->js, SM_NATS_STREAM, NULL, &je);
        if (st == NATS_OK || !transient(st, je) || tries == BIND_TRIES)
            break;
        nats_Sleep(BIND_PAUSE_MS);
    }
    if (st != NATS_OK) {
        jerr_text(errbuf, errlen, "stream " SM_NATS_STREAM " (made by synmatch-collector "
                  "--nats-setup)", st, je);
        goto fail;
    }
    uint64_t first_seq = si->State.FirstSeq;
    s->partitions = sm_nats_described_partitions(si->Config->Description);
    jsStreamInfo_Destroy(si);
    if (s->partitions == 0) {
        sm_errbuf(errbuf, errlen, "stream %s was not made by synmatch-collector --nats-setup "
                  "(its description names no partition count)", SM_NATS_STREAM);
        goto fail;
    }
    if (o->partitions && o->partitions != s->partitions) {
        sm_errbuf(errbuf, errlen, "stream %s has %u partitions, not %u (--partitions)",
                  SM_NATS_STREAM, (unsigned)s->partitions, (unsigned)o->partitions);
        goto fail;
    }
    if (s->shard >= s->partitions) {
        sm_errbuf(errbuf, errlen, "--shard %u/%u owns no partition: the stream has %u",
                  (unsigned)s->shard, (unsigned)s->shards, (unsigned)s->partitions);
        goto fail;
    }
    if ((s->parts = calloc(s->partitions, sizeof *s->parts)) == NULL ||
        (s->index = calloc(s->partitions, sizeof *s->index)) == NULL) {
        sm_errbuf(errbuf, errlen, "out of memory");
        goto fail;
    }
    for (uint32_t p = s->shard; p < s->partitions; p += s->shards) {
        struct part *pt = &s->parts[s->nparts];
        s->index[p] = pt;
        pt->p = p;
        s->nparts++;
        if (RETRYING(s, errbuf, bind_part(s, pt, first_seq, o->replay_ns, errbuf, errlen)) == -1)
            goto fail;
    }
    if (s->replaying > 0 && RETRYING(s, errbuf, open_replay(s, errbuf, errlen)) == -1)
        goto fail;
    return s;
fail:
    sm_nats_source_destroy(&s);
    return NULL;
}

/* The replay is over for every partition: its consumer goes (on the servers too). */
static void close_replay(sm_nats_source_t *s)
{
    char rname[48];
    replay_name(s, rname, sizeof rname);
    natsSubscription_Destroy(s->replay);
    s->replay = NULL;
    js_DeleteConsumer(s->js, SM_NATS_STREAM, rname, NULL, NULL); /* else the next start does */
    for (uint32_t k = 0; k < s->nparts; k++)
        s->parts[k].replaying = false;
    s->replaying = 0;
}

/* One replayed message: handed on when it is one its partition replays. 1 taken, 0 none. */
static int take_replayed(sm_nats_source_t *s, sm_nats_batch_fn fn, void *arg)
{
    natsMsg *m = NULL;
    if (natsSubscription_NextMsg(&m, s->replay, 0) != NATS_OK)
        return 0;
    jsMsgMetaData *meta = NULL;
    uint64_t seq = 0, left = 1;
    if (natsMsg_GetMetaData(&meta, m) == NATS_OK) {
        seq = meta->Sequence.Stream;
        left = meta->NumPending;
        jsMsgMetaData_Destroy(meta);
    }
    /* synmatch.rec.<p>.<role>.<sensor> */
    const char *subj = natsMsg_GetSubject(m) + strlen("synmatch.rec.");
    unsigned long p = strtoul(subj, NULL, 10);
    struct part *pt = p < s->partitions ? s->index[p] : NULL;
    if (pt != NULL && pt->replaying) {
        if (seq <= pt->replay_to) {
            fn(arg, (const uint8_t *)natsMsg_GetData(m), (size_t)natsMsg_GetDataLength(m));
            s->replayed++;
        }
        if (seq >= pt->replay_to) {
            pt->replaying = false;
            s->replaying--;
        }
    }
    natsMsg_Ack(m, NULL);
    natsMsg_Destroy(m);
    if (s->replaying == 0 || left == 0)
        close_replay(s);
    return 1;
}

/* m is done with. libnats frees a received message on its own thread, woken for it when it
 * sleeps: one wake per turn, not one per message, when the turn's are handed over together. */
static void retire(sm_nats_source_t *s, natsMsg *m)
{
    if (s->nretired == RETIRE_MAX)
        retire_all(s);
    s->retired[s->nretired++] = m;
}

static void retire_all(sm_nats_source_t *s)
{
    for (size_t k = 0; k < s->nretired; k++)
        natsMsg_Destroy(s->retired[k]);
    s->nretired = 0;
}

/* What waits of pt's durable consumer, once its replay is over, up to max: how many. Each
 * one is acknowledged once handed on, so the server keeps pushing: at most PART_ACK_PENDING
 * unacknowledged per partition. */
static int take_live(sm_nats_source_t *s, struct part *pt, int max, sm_nats_batch_fn fn,
                     void *arg)
{
    if (pt->replaying)
        return 0; /* what the durable consumer brings follows the replay */
    int got = 0;
    while (got < max && got < PER_PART_TURN) {
        natsMsg *m = NULL;
        natsStatus st = natsSubscription_NextMsg(&m, pt->live, 0);
        if (st != NATS_OK) {
            if (st != NATS_TIMEOUT && !s->warned) {
                s->warned = true;
                sm_log_warnx("partition %u: %s", (unsigned)pt->p, natsStatus_GetText(st));
            }
            break;
        }
        fn(arg, (const uint8_t *)natsMsg_GetData(m), (size_t)natsMsg_GetDataLength(m));
        natsMsg_Ack(m, NULL);
        retire(s, m);
        got++;
    }
    if (got > 0) {
        s->fetches++;
        s->fetched += (uint64_t)got;
    }
    return got;
}

int sm_nats_source_drain(sm_nats_source_t *s, int max, sm_nats_batch_fn fn, void *arg)
{
    int taken = 0, idle = 0;
    while (s->replay != NULL && taken < max && take_replayed(s, fn, arg) == 1)
        taken++;
    /* each partition in turn, from where the last call stopped, until all are empty */
    while (taken < max && idle < (int)s->nparts) {
        struct part *pt = &s->parts[s->next];
        s->next = (s->next + 1) % s->nparts;
        int k = take_live(s, pt, max - taken, fn, arg);
        taken += k;
        idle = k == 0 ? idle + 1 : 0;
    }
    retire_all(s);
    return taken;
}

void *sm_nats_source_connection(sm_nats_source_t *s)
{
    return s->nc;
}

uint32_t sm_nats_source_partitions(const sm_nats_source_t *s)
{
    return s->partitions;
}

uint32_t sm_nats_source_owned(const sm_nats_source_t *s)
{
    return s->nparts;
}

bool sm_nats_source_owns(const sm_nats_source_t *s, uint32_t p)
{
    return p < s->partitions && p % s->shards == s->shard;
}

int64_t sm_nats_source_replay_from(const sm_nats_source_t *s)
{
    return s->replay_from;
}

uint32_t sm_nats_source_replaying(const sm_nats_source_t *s)
{
    return s->replaying;
}

uint64_t sm_nats_source_replayed(const sm_nats_source_t *s)
{
    return s->replayed;
}

void sm_nats_source_fetches(const sm_nats_source_t *s, uint64_t *fetches, uint64_t *fetched)
{
    *fetches = s->fetches;
    *fetched = s->fetched;
}

void sm_nats_source_destroy(sm_nats_source_t **self_p)
{
    if (self_p == NULL || *self_p == NULL)
        return;
    sm_nats_source_t *s = *self_p;
    retire_all(s);
    natsSubscription_Destroy(s->replay);
    for (uint32_t k = 0; k < s->nparts; k++)
        natsSubscription_Destroy(s->parts[k].live);
    free(s->parts);
    free(s->index);
    jsCtx_Destroy(s->js);
    if (s->nc) {
        natsConnection_Close(s->nc);
        natsConnection_Destroy(s->nc);
    }
    free(s);
    *self_p = NULL;
}
