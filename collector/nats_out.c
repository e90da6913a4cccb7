/*
 * nats_out.c - a shard's verdicts into JetStream, then into its file (nats_out.h).
 *
 * A ring of in-flight messages, oldest first: the shard's own thread fills a batch per
 * subject and hands a full one to the packer, a thread of its own that packs it (an LZ4
 * block: nats.h) and publishes it, in the order handed over; the acknowledgement handler (a
 * libnats thread) only marks a slot stored or failed; the shard's thread sends failed ones
 * again and writes stored ones from the oldest on, so its file keeps publish order. Packing
 * is a sixth of a shard's time: on its own thread it overlaps the join. The published set of
 * a restart is an open-addressing table of 64-bit keys, kept until every replayed group had
 * time to be decided.
 */
#include "nats_out.h"

#include <inttypes.h>
#include <nats/nats.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "errbuf.h"
#include "fmt.h"
#include "log.h"
#include "siphash.h"
#include "synmatch/nats.h"
#include "synmatch/report.h"

#define FLUSH_NS (50 * INT64_C(1000000)) /* a batch waits at most this long to fill */
#define BATCH_BYTES (192 * 1024)         /* a batch of lines this big goes (at once, or at the
                                          * pump) */
#define BATCH_LIMIT (256 * 1024)         /* and one never grows past this */
#define BATCH_VERDICTS 320               /* a batch of verdicts this big goes */
#define BATCH_CAP (BATCH_LIMIT + SM_REPORT_LINE_MAX) /* a batch's buffer */
_Static_assert(BATCH_CAP <= SM_NATS_OUT_MAX_LINES, "readers take a message this big");
_Static_assert(BATCH_VERDICTS * SM_REPORT_LINE_MAX <= SM_NATS_OUT_MAX_LINES,
               "the lines of a batch of verdicts fit a message");
_Static_assert(BATCH_VERDICTS * sizeof(struct sm_verdict) <= BATCH_CAP, "and its buffer");
#define RING 1024                        /* messages awaiting acknowledgement, at most */
#define MAX_INFLIGHT_BYTES (64 << 20) /* handed over (verdicts, lines) and not yet stored */
#define ACK_WAIT_MS 30000
#define RETRY_PAUSE_NS (200 * INT64_C(1000000))
#define ANSWER_STALL_NS (10 * INT64_C(1000000000)) /* a batch unanswered so long: sent again */
#define KEY_HEADER "Synmatch-Keys"
#define SLOT_HEADER "Synmatch-Slot"
#define LOAD_IDLE_MS 3000  /* loading the published keys: the longest wait for the next one */
#define LOAD_MAX_MS 60000
#define LOAD_TRIES 10

enum { F_FREE, F_PACKING, F_PENDING, F_STORED, F_FAILED };

/* What waits for its subject's next message: verdicts (struct sm_verdict, formatted by the
 * packer) on a partition's subject, lines on the events subject. */
struct batch {
    char *data, *keys;
    size_t len, cap, klen, kcap; /* len: bytes of data used */
    int64_t since; /* monotonic ns of the first line */
};

/* A thread's room to format a batch's lines and pack them. */
struct packbuf {
    char *lines; /* SM_NATS_OUT_MAX_LINES bytes */
    char *block; /* sm_nats_out_pack_bound(SM_NATS_OUT_MAX_LINES) bytes */
};

struct flight {
    char subject[SM_NATS_SUBJECT_MAX];
    char id[96];
    char *lines;       /* F_PACKING: the batch's buffer, handed to the packer */
    size_t nlines;     /* bytes of lines in it, or */
    size_t nverdicts;  /* verdicts in it (then lines are formatted by the packer) */
    char *data, *keys; /* what is sent (the lines' LZ4 block, or the lines); the keys
                        * header */
    size_t len;        /* of data */
    size_t plain;      /* data is a block of this many bytes of lines; 0: data is the lines */
    atomic_int state;
    int64_t retry_at; /* failed: monotonic ns of the next send (0: not yet set) */
    _Atomic int64_t sent_at; /* monotonic ns of the last send */
    _Atomic uint64_t sent;   /* which send it is: an acknowledgement names it (SLOT_HEADER) */
};

struct sm_nats_out {
    natsConnection *nc;
    jsCtx *js;
    uint32_t shard, shards, partitions;
    sm_nats_out_write_fn write;
    sm_nats_out_write_packed_fn write_packed;
    void *arg;
    struct batch *batches; /* [partitions] verdicts, [partitions] events */
    struct flight ring[RING];
    size_t head, count, inflight_bytes;
    uint64_t next_id;
    int64_t boot_ns;
    uint64_t *set; /* the published keys of a restart (0 = empty slot) */
    size_t set_cap, set_n;
    struct sm_nats_out_stats st;
    atomic_bool warned;
    atomic_bool told_failure;
    _Atomic uint64_t packed_bytes, line_bytes;
    _Atomic uint64_t sends; /* numbers every send */
    /* held across a slot's "pending" and its hand-over to libnats, and across taking every
     * pending message back from libnats: a slot taken back is never one still on its way in */
    pthread_mutex_t pubmu;
    uint16_t community_id_seed;
    /* the packer thread: the slots it is to pack, in order; batch buffers it gives back */
    pthread_t packer;
    bool packer_on, stopping;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    size_t pq[RING], pq_head, pq_n;
    char **spare;
    size_t nspare, spare_max;
    struct packbuf pack; /* the packer's */
    struct packbuf own;  /* the shard thread's: a stored batch unpacked for the file; batches
                          * packed without a packer */
    size_t zcap;
};

static const struct sm_sipkey group_key = {UINT64_C(0x73796e6d61746368), UINT64_C(0x6b6579)};

uint64_t sm_nats_out_key(const struct sm_verdict *v)
{
    uint8_t b[64];
    size_t n = 0;
    memcpy(b + n, &v->isn, 4), n += 4;
    memcpy(b + n, &v->first_ns, 8), n += 8;
    memcpy(b + n, v->client.src.bytes, 16), n += 16;
    memcpy(b + n, v->client.dst.bytes, 16), n += 16;
    memcpy(b + n, &v->client.sport, 2), n += 2;
    memcpy(b + n, &v->client.dport, 2), n += 2;
    b[n++] = v->kind == SM_V_SUSPECT;
    uint64_t k = sm_siphash(&group_key, b, n);
    return k ? k : 1; /* 0 marks an empty slot */
}

/* On a libnats thread: the stream stored the message, or did not. */
static void on_ack(jsCtx *js, natsMsg *msg, jsPubAck *pa, jsPubAckErr *pae, void *closure)
{
    (void)js;
    sm_nats_out_t *o = closure;
    /* SLOT_HEADER is "<slot>.<send>": an answer to an earlier send of the slot (taken back
     * and sent again), or to a batch the slot held before, changes nothing */
    const char *v = NULL;
    if (natsMsgHeader_Get(msg, SLOT_HEADER, &v) == NATS_OK && v != NULL) {
        char *end = NULL;
        unsigned long long slot = strtoull(v, &end, 10);
        unsigned long long sent = end && *end == '.' ? strtoull(end + 1, NULL, 10) : 0;
        if (slot < RING && sent == atomic_load(&o->ring[slot].sent)) {
            int expect = F_PENDING;
            atomic_compare_exchange_strong(&o->ring[slot].state, &expect,
                                           pa != NULL && pae == NULL ? F_STORED : F_FAILED);
        }
    }
    if (pae != NULL && !atomic_exchange(&o->told_failure, true))
        sm_log_warnx("publishing verdicts: the stream did not store a batch (%s%s%s); sent "
                     "again", natsStatus_GetText(pae->Err), pae->ErrText ? ": " : "",
                     pae->ErrText ? pae->ErrText : "");
    natsMsg_Destroy(msg); /* the handler owns it */
}

static void *packer_main(void *arg);

sm_nats_out_t *sm_nats_out_new(const struct sm_nats_out_opts *o, char *errbuf, size_t errlen)
{
    sm_nats_out_t *out = calloc(1, sizeof *out);
    if (out == NULL || (out->batches = calloc(2 * (size_t)o->partitions, sizeof *out->batches)) ==
                           NULL) {
        free(out);
        sm_errbuf(errbuf, errlen, "out of memory");
        return NULL;
    }
    pthread_mutex_init(&out->mu, NULL);
    pthread_mutex_init(&out->pubmu, NULL);
    pthread_cond_init(&out->cv, NULL);
    out->spare_max = (size_t)o->partitions + 2;
    out->nc = o->nc;
    out->shard = o->shard;
    out->shards = o->shards ? o->shards : 1;
    out->partitions = o->partitions;
    out->write = o->write;
    out->write_packed = o->write_packed;
    out->arg = o->arg;
    out->boot_ns = sm_clock_real_ns();
    out->community_id_seed = o->community_id_seed;
    out->zcap = sm_nats_out_pack_bound(SM_NATS_OUT_MAX_LINES);
    out->own = (struct packbuf){malloc(SM_NATS_OUT_MAX_LINES), malloc(out->zcap)};
    out->pack = (struct packbuf){malloc(SM_NATS_OUT_MAX_LINES), malloc(out->zcap)};
    out->spare = calloc(out->spare_max, sizeof *out->spare);
    jsOptions jo;
    jsOptions_Init(&jo);
    jo.Wait = ACK_WAIT_MS; /* publish acknowledgements, and API calls (a consumer made in a
                            * cluster that just lost a server takes seconds) */
    jo.PublishAsync.MaxPending = RING;
    jo.PublishAsync.AckHandler = on_ack;
    jo.PublishAsync.AckHandlerClosure = out;
    natsStatus s = natsConnection_JetStream(&out->js, out->nc, &jo);
    if (s == NATS_OK && (out->own.lines == NULL || out->own.block == NULL)) {
        sm_errbuf(errbuf, errlen, "out of memory");
        s = NATS_NO_MEMORY;
    } else if (s != NATS_OK) {
        sm_errbuf(errbuf, errlen, "JetStream: %s", natsStatus_GetText(s));
    }
    if (s != NATS_OK) {
        sm_nats_out_destroy(&out);
        return NULL;
    }
    /* without memory or a thread, the shard's thread packs itself */
    out->packer_on = out->pack.lines != NULL && out->pack.block != NULL && out->spare != NULL &&
                     pthread_create(&out->packer, NULL, packer_main, out) == 0;
    return out;
}

static bool append(char **buf, size_t *len, size_t *cap, const char *s, size_t n)
{
    if (*len + n > *cap) {
        size_t ncap = *cap ? *cap : 4096;
        while (ncap < *len + n)
            ncap *= 2;
        char *nb = realloc(*buf, ncap);
        if (nb == NULL)
            return false;
        *buf = nb;
        *cap = ncap;
    }
    memcpy(*buf + *len, s, n);
    *len += n;
    return true;
}

/* --- the published set --- */

static bool set_has(const sm_nats_out_t *o, uint64_t k)
{
    if (o->set == NULL)
        return false;
    for (size_t i = k & (o->set_cap - 1);; i = (i + 1) & (o->set_cap - 1)) {
        if (o->set[i] == k)
            return true;
        if (o->set[i] == 0)
            return false;
    }
}

static bool set_add(sm_nats_out_t *o, uint64_t k)
{
    if (2 * (o->set_n + 1) > o->set_cap) {
        size_t ncap = o->set_cap ? o->set_cap * 2 : 1024;
        uint64_t *ns = calloc(ncap, sizeof *ns);
        if (ns == NULL)
            return false;
        for (size_t i = 0; i < o->set_cap; i++) {
            if (o->set[i] == 0)
                continue;
            size_t j = o->set[i] & (ncap - 1);
            while (ns[j] != 0)
                j = (j + 1) & (ncap - 1);
            ns[j] = o->set[i];
        }
        free(o->set);
        o->set = ns;
        o->set_cap = ncap;
    }
    size_t i = k & (o->set_cap - 1);
    while (o->set[i] != 0 && o->set[i] != k)
        i = (i + 1) & (o->set_cap - 1);
    if (o->set[i] == 0) {
        o->set[i] = k;
        o->set_n++;
    }
    return true;
}

/* Adds the keys of one published message ("hex,hex,..."). */
static void add_keys(sm_nats_out_t *o, const char *v)
{
    while (*v) {
        char *end;
        uint64_t k = strtoull(v, &end, 16);
        if (end == v)
            break;
        if (k != 0 && set_add(o, k))
            o->st.keys_loaded++;
        v = *end == ',' ? end + 1 : end;
    }
}

/* One reading of the keys since since_ns; -1 with errbuf when it stopped before the end. */
static int load_once(sm_nats_out_t *o, uint32_t partitions, int64_t since_ns, char *errbuf,
                     size_t errlen);

int sm_nats_out_load_published(sm_nats_out_t *o, uint32_t partitions, int64_t since_ns,
                               char *errbuf, size_t errlen)
{
    /* A cluster that just lost a server may stall a new consumer while it elects leaders:
     * read again from the start (the set only gains keys). */
    for (int tries = 1;; tries++) {
        if (load_once(o, partitions, since_ns, errbuf, errlen) == 0)
            return 0;
        if (tries == LOAD_TRIES)
            return -1;
        sm_log_warnx("%s; reading again", errbuf);
    }
}

static int load_once(sm_nats_out_t *o, uint32_t partitions, int64_t since_ns, char *errbuf,
                     size_t errlen)
{
    jsStreamInfo *si = NULL;
    jsErrCode je = 0;
    natsStatus s = js_GetStreamInfo(&si, o->js, SM_NATS_OUT_STREAM, NULL, &je);
    if (s != NATS_OK) {
        sm_errbuf(errbuf, errlen, "stream %s: %s (made by --nats-setup)", SM_NATS_OUT_STREAM,
                  natsStatus_GetText(s));
        return -1;
    }
    uint64_t last = si->State.LastSeq;
    int64_t last_time = si->State.LastTime;
    jsStreamInfo_Destroy(si);
    if (last == 0 || last_time < since_ns)
        return 0; /* nothing published since */
    /* A durable consumer of its own, like the replay's (nats_source.c: an ephemeral one may
     * be placed on the server that just died), deleted once read. */
    char name[48], deliver[64];
    snprintf(name, sizeof name, "synmatch-load-%u-%u", (unsigned)o->shard, (unsigned)o->shards);
    snprintf(deliver, sizeof deliver, "synmatch.deliver.load.%u-%u", (unsigned)o->shard,
             (unsigned)o->shards);
    js_DeleteConsumer(o->js, SM_NATS_OUT_STREAM, name, NULL, NULL); /* a dead shard's */
    jsConsumerConfig cc;
    jsConsumerConfig_Init(&cc);
    cc.Durable = name;
    cc.Description = "synmatch: a restarted shard reading what it had published";
    cc.FilterSubject = "synmatch.out.v.>";
    cc.DeliverSubject = deliver;
    cc.DeliverPolicy = js_DeliverByStartTime;
    cc.OptStartTime = since_ns;
    cc.AckPolicy = js_AckNone;
    cc.FlowControl = true;
    cc.Heartbeat = 5 * INT64_C(1000000000);
    jsConsumerInfo *ci = NULL;
    s = js_AddConsumer(&ci, o->js, SM_NATS_OUT_STREAM, &cc, NULL, &je);
    jsConsumerInfo_Destroy(ci);
    ci = NULL;
    natsSubscription *sub = NULL;
    if (s == NATS_OK) {
        jsSubOptions so;
        jsSubOptions_Init(&so);
        so.Stream = SM_NATS_OUT_STREAM;
        so.Consumer = name;
        s = js_SubscribeSync(&sub, o->js, "synmatch.out.v.>", NULL, &so, &je);
    }
    if (s != NATS_OK) {
        sm_errbuf(errbuf, errlen, "stream %s: reading what was published: %s",
                  SM_NATS_OUT_STREAM, natsStatus_GetText(s));
        js_DeleteConsumer(o->js, SM_NATS_OUT_STREAM, name, NULL, NULL);
        return -1;
    }
    natsSubscription_SetPendingLimits(sub, -1, 256 << 20);
    /* How many verdict messages there are since then: the consumer counts them (those it
     * already pushed to us, and those still to come). */
    s = natsSubscription_GetConsumerInfo(&ci, sub, NULL, &je);
    uint64_t pending = s == NATS_OK ? ci->Delivered.Consumer + ci->NumPending : 1;
    jsConsumerInfo_Destroy(ci);
    int rc = 0;
    if (pending == 0)
        goto done;
    int64_t deadline = sm_clock_mono_ns() + (int64_t)LOAD_MAX_MS * 1000000;
    for (;;) {
        natsMsg *m = NULL;
        s = natsSubscription_NextMsg(&m, sub, LOAD_IDLE_MS);
        if (s != NATS_OK || sm_clock_mono_ns() > deadline) {
            natsMsg_Destroy(m);
            sm_errbuf(errbuf, errlen, "stream %s: reading what was published stopped before "
                      "its end (%s)", SM_NATS_OUT_STREAM,
                      s != NATS_OK ? natsStatus_GetText(s) : "too slow");
            rc = -1;
            break;
        }
        const char *subj = natsMsg_GetSubject(m);
        unsigned long p = strtoul(subj + strlen("synmatch.out.v."), NULL, 10);
        const char *keys = NULL;
        if (p < partitions && p % o->shards == o->shard &&
            natsMsgHeader_Get(m, KEY_HEADER, &keys) == NATS_OK && keys)
            add_keys(o, keys);
        /* The end: the stream's last message when we began (what follows is the other
         * shards' new output), or nothing more for the filter. */
        jsMsgMetaData *meta = NULL;
        uint64_t left = 1, seq = 0;
        if (natsMsg_GetMetaData(&meta, m) == NATS_OK) {
            left = meta->NumPending;
            seq = meta->Sequence.Stream;
            jsMsgMetaData_Destroy(meta);
        }
        natsMsg_Destroy(m);
        if (left == 0 || seq >= last)
            break;
    }
done:
    natsSubscription_Destroy(sub);
    js_DeleteConsumer(o->js, SM_NATS_OUT_STREAM, name, NULL, NULL);
    return rc;
}

void sm_nats_out_forget_published(sm_nats_out_t *o)
{
    free(o->set);
    o->set = NULL;
    o->set_cap = o->set_n = 0;
}

/* --- publishing --- */

static void publish(sm_nats_out_t *o, size_t slot)
{
    struct flight *f = &o->ring[slot];
    natsMsg *m = NULL;
    char sl[48];
    uint64_t sent = atomic_fetch_add(&o->sends, 1) + 1;
    char *e = sm_fmt_u64(sl, slot);
    *e++ = '.';
    *sm_fmt_u64(e, sent) = '\0';
    natsStatus s = natsMsg_Create(&m, f->subject, NULL, f->data, (int)f->len);
    if (s == NATS_OK && f->plain) {
        char size[24];
        *sm_fmt_u64(size, f->plain) = '\0';
        s = natsMsgHeader_Set(m, SM_NATS_ENCODING_HEADER, SM_NATS_ENCODING_LZ4);
        if (s == NATS_OK)
            s = natsMsgHeader_Set(m, SM_NATS_SIZE_HEADER, size);
    }
    if (s == NATS_OK)
        s = natsMsgHeader_Set(m, "Nats-Msg-Id", f->id);
    if (s == NATS_OK)
        s = natsMsgHeader_Set(m, SLOT_HEADER, sl);
    if (s == NATS_OK && f->keys)
        s = natsMsgHeader_Set(m, KEY_HEADER, f->keys);
    pthread_mutex_lock(&o->pubmu);
    atomic_store(&f->sent, sent);
    atomic_store(&f->sent_at, sm_clock_mono_ns());
    atomic_store(&f->state, F_PENDING);
    if (s == NATS_OK)
        s = js_PublishMsgAsync(o->js, &m, NULL);
    if (s != NATS_OK)
        atomic_store(&f->state, F_FAILED);
    pthread_mutex_unlock(&o->pubmu);
    natsMsg_Destroy(m); /* NULL once libnats took it */
    if (s != NATS_OK) {
        if (!atomic_exchange(&o->warned, true)) {
            sm_log_warnx("publishing verdicts: %s; kept and sent again", natsStatus_GetText(s));
        }
    }
}

/* --- the packer --- */

/* Bytes slot f was handed over with (verdicts or lines): what MAX_INFLIGHT_BYTES counts. */
static size_t handed(const struct flight *f)
{
    return f->nverdicts ? f->nverdicts * sizeof(struct sm_verdict) : f->nlines;
}

/* A buffer for a batch's lines: one the packer gave back, or a new one. */
static char *spare_get(sm_nats_out_t *o)
{
    pthread_mutex_lock(&o->mu);
    char *b = o->nspare > 0 ? o->spare[--o->nspare] : NULL;
    pthread_mutex_unlock(&o->mu);
    return b ? b : malloc(BATCH_CAP);
}

/* Keeps b for the next batch (warm, its pages already there), or frees it. */
static void spare_put(sm_nats_out_t *o, char *b)
{
    pthread_mutex_lock(&o->mu);
    if (o->spare != NULL && o->nspare < o->spare_max) {
        o->spare[o->nspare++] = b;
        b = NULL;
    }
    pthread_mutex_unlock(&o->mu);
    free(b);
}

/* Formats slot's verdicts (with pb; or takes its lines), packs them into an LZ4 block when
 * that is smaller (nats.h), and publishes what it kept; the batch's buffer goes back to the
 * spares. The flight is not touched once published: its acknowledgement may come at once. */
static void pack_and_publish(sm_nats_out_t *o, size_t slot, struct packbuf *pb)
{
    struct flight *f = &o->ring[slot];
    const char *lines = f->lines;
    size_t n = f->nlines;
    if (f->nverdicts > 0) {
        const struct sm_verdict *v = (const struct sm_verdict *)(void *)f->lines;
        n = 0;
        for (size_t k = 0; k < f->nverdicts; k++)
            n += sm_report_verdict_line(pb->lines + n, &v[k], o->community_id_seed);
        lines = pb->lines;
    }
    size_t packed = sm_nats_out_pack(lines, n, pb->block, o->zcap);
    size_t len = packed ? packed : n;
    char *data;
    while ((data = malloc(len)) == NULL) { /* the slot waits in the ring meanwhile */
        if (!atomic_exchange(&o->warned, true))
            sm_log_warnx("out of memory for a message of verdicts; waiting");
        nats_Sleep(10);
    }
    memcpy(data, packed ? pb->block : lines, len);
    spare_put(o, f->lines);
    f->lines = NULL;
    f->data = data;
    f->len = len;
    f->plain = packed ? n : 0;
    atomic_fetch_add(&o->line_bytes, n);
    atomic_fetch_add(&o->packed_bytes, len);
    publish(o, slot);
}

static void *packer_main(void *arg)
{
    sm_nats_out_t *o = arg;
    pthread_mutex_lock(&o->mu);
    for (;;) {
        while (o->pq_n == 0 && !o->stopping)
            pthread_cond_wait(&o->cv, &o->mu);
        if (o->pq_n == 0)
            break; /* stopping, and everything handed over is published */
        size_t slot = o->pq[o->pq_head];
        o->pq_head = (o->pq_head + 1) % RING;
        o->pq_n--;
        pthread_mutex_unlock(&o->mu);
        pack_and_publish(o, slot, &o->pack);
        pthread_mutex_lock(&o->mu);
    }
    pthread_mutex_unlock(&o->mu);
    return NULL;
}

/*
 * Hands batch b (of subject) to the packer in a ring slot, which keeps what is sent until the
 * stream stores it, and gives the batch a fresh buffer (a spare: the same few warm buffers go
 * round). false when the ring is full (or memory is short: asked again once acknowledgements
 * free some).
 */
static bool send_batch(sm_nats_out_t *o, size_t i, struct batch *b, const char *subject)
{
    if (o->count == RING)
        return false;
    char *next = spare_get(o);
    if (next == NULL)
        return false;
    size_t slot = (o->head + o->count) % RING;
    struct flight *f = &o->ring[slot];
    snprintf(f->subject, sizeof f->subject, "%s", subject);
    snprintf(f->id, sizeof f->id, "%u.%u:%" PRId64 ":%" PRIu64, (unsigned)o->shard,
             (unsigned)o->shards, o->boot_ns, o->next_id++);
    f->lines = b->data;
    f->nverdicts = i < o->partitions ? b->len / sizeof(struct sm_verdict) : 0;
    f->nlines = i < o->partitions ? 0 : b->len;
    f->data = NULL;
    f->len = f->plain = 0;
    f->keys = NULL;
    f->retry_at = 0;
    if (b->klen > 0 && append(&b->keys, &b->klen, &b->kcap, "", 1))
        f->keys = b->keys;
    else
        free(b->keys);
    b->keys = NULL;
    b->len = b->klen = b->kcap = 0;
    b->data = next;
    b->cap = BATCH_CAP;
    o->count++;
    o->inflight_bytes += handed(f);
    o->st.messages++;
    atomic_store(&f->state, F_PACKING);
    if (!o->packer_on) {
        pack_and_publish(o, slot, &o->own);
        return true;
    }
    pthread_mutex_lock(&o->mu);
    o->pq[(o->pq_head + o->pq_n) % RING] = slot;
    o->pq_n++;
    pthread_cond_signal(&o->cv);
    pthread_mutex_unlock(&o->mu);
    return true;
}

static void batch_subject(const sm_nats_out_t *o, size_t i, char *buf, size_t len)
{
    if (i < o->partitions)
        snprintf(buf, len, "synmatch.out.v.%zu", i);
    else
        snprintf(buf, len, "synmatch.out.e.%u.%u", (unsigned)o->shard, (unsigned)o->shards);
}

static void batch_subject(const sm_nats_out_t *o, size_t i, char *buf, size_t len);

/* Batch i is full: no room for another item (a verdict, or a line of len bytes). */
static bool batch_full(const sm_nats_out_t *o, size_t i, const struct batch *b, size_t len)
{
    if (i < o->partitions)
        return b->len >= BATCH_VERDICTS * sizeof(struct sm_verdict);
    return b->len > 0 && b->len + len > BATCH_LIMIT;
}

/* Batch i is worth a message now. */
static bool batch_ready(const sm_nats_out_t *o, size_t i, const struct batch *b)
{
    return i < o->partitions ? batch_full(o, i, b, 0) : b->len >= BATCH_BYTES;
}

/* Adds an item of len bytes (a struct sm_verdict to a partition's batch, a line to the
 * events') to batch i, with its group's key (0: none). */
static void add_item(sm_nats_out_t *o, size_t i, uint64_t key, const void *item, size_t len)
{
    struct batch *b = &o->batches[i];
    /* A message stays well under the servers' max_payload (1 MiB by default): a full batch
     * goes now, waiting for room in the ring if it must (the stream is the bottleneck then,
     * and the loop takes no more records meanwhile). */
    if (batch_full(o, i, b, len)) {
        char subject[SM_NATS_SUBJECT_MAX];
        batch_subject(o, i, subject, sizeof subject);
        while (!send_batch(o, i, b, subject)) { /* the ring is full, or memory short */
            sm_nats_out_pump(o, sm_clock_mono_ns(), false);
            nats_Sleep(1);
        }
    }
    if (b->data == NULL) {
        b->data = malloc(BATCH_CAP);
        b->cap = BATCH_CAP;
        b->len = 0;
    }
    if (b->len == 0)
        b->since = sm_clock_mono_ns();
    if (b->data == NULL || len > b->cap - b->len) { /* a line is at most SM_REPORT_LINE_MAX */
        sm_log_warnx("out of memory holding a verdict for the stream");
        return;
    }
    memcpy(b->data + b->len, item, len);
    b->len += len;
    if (key) {
        char hex[17];
        size_t n = 0;
        if (b->klen)
            hex[n++] = ',';
        for (int sh = 60; sh >= 0; sh -= 4)
            hex[n++] = "0123456789abcdef"[(key >> sh) & 15];
        append(&b->keys, &b->klen, &b->kcap, hex, n);
    }
    o->st.lines++;
    /* ready: it goes now, unless the ring is full (then it waits for the pump, a batch of
     * lines growing up to BATCH_LIMIT meanwhile) */
    if (batch_ready(o, i, b) && o->count < RING) {
        char subject[SM_NATS_SUBJECT_MAX];
        batch_subject(o, i, subject, sizeof subject);
        send_batch(o, i, b, subject);
    }
}

bool sm_nats_out_verdict(sm_nats_out_t *o, uint32_t p, uint64_t key, const struct sm_verdict *v)
{
    if (set_has(o, key)) {
        o->st.already_published++;
        return false;
    }
    add_item(o, p < o->partitions ? p : 0, key, v, sizeof *v);
    return true;
}

void sm_nats_out_event(sm_nats_out_t *o, const char *line, size_t len)
{
    add_item(o, o->partitions, 0, line, len);
}

void sm_nats_out_pump(sm_nats_out_t *o, int64_t now, bool flush_all)
{
    for (size_t i = 0; i <= o->partitions; i++) {
        struct batch *b = &o->batches[i];
        if (b->len == 0 || !(flush_all || batch_ready(o, i, b) || now - b->since >= FLUSH_NS))
            continue;
        char subject[SM_NATS_SUBJECT_MAX];
        batch_subject(o, i, subject, sizeof subject);
        if (!send_batch(o, i, b, subject))
            break; /* the ring is full: the acknowledgements below make room */
    }
    /* The oldest unanswered for long (the server that took it died before storing it, and
     * libnats waits for that acknowledgement for ever): take everything in flight back from
     * libnats and send it again (the stream drops what it had, by message id). */
    if (o->count > 0 && atomic_load(&o->ring[o->head].state) == F_PENDING &&
        now - atomic_load(&o->ring[o->head].sent_at) > ANSWER_STALL_NS) {
        natsMsgList pending = {0};
        pthread_mutex_lock(&o->pubmu);
        if (js_PublishAsyncGetPendingList(&pending, o->js) == NATS_OK) {
            natsMsgList_Destroy(&pending);
            for (size_t k = 0; k < o->count; k++) {
                int expect = F_PENDING;
                atomic_compare_exchange_strong(&o->ring[(o->head + k) % RING].state, &expect,
                                               F_FAILED);
            }
        }
        pthread_mutex_unlock(&o->pubmu);
    }
    for (size_t k = 0; k < o->count; k++) {
        size_t slot = (o->head + k) % RING;
        struct flight *f = &o->ring[slot];
        if (atomic_load(&f->state) != F_FAILED)
            continue;
        /* not at once: a cluster electing a stream leader refuses for seconds */
        if (f->retry_at == 0) {
            f->retry_at = now + RETRY_PAUSE_NS;
        } else if (now >= f->retry_at) {
            f->retry_at = 0;
            o->st.resends++;
            publish(o, slot);
        }
    }
    while (o->count > 0) {
        struct flight *f = &o->ring[o->head];
        if (atomic_load(&f->state) != F_STORED)
            break;
        if (f->plain == 0)
            o->write(o->arg, f->data, f->len);
        else if (o->write_packed && o->write_packed(o->arg, f->data, f->len, f->plain))
            ; /* unpacked by the output thread */
        else if (sm_nats_out_unpack_block(f->data, f->len, o->own.lines, f->plain) == f->plain)
            o->write(o->arg, o->own.lines, f->plain);
        else /* its own block, made in this process: cannot happen */
            sm_log_warnx("a stored batch of verdicts could not be unpacked for the file");
        free(f->data);
        o->inflight_bytes -= handed(f);
        free(f->keys);
        f->data = f->keys = NULL;
        atomic_store(&f->state, F_FREE);
        o->head = (o->head + 1) % RING;
        o->count--;
        atomic_store(&o->warned, false);
    }
}

bool sm_nats_out_backlogged(const sm_nats_out_t *o)
{
    return o->count >= RING * 3 / 4 || o->inflight_bytes >= MAX_INFLIGHT_BYTES;
}

static bool batches_empty(const sm_nats_out_t *o)
{
    for (size_t i = 0; i <= o->partitions; i++)
        if (o->batches[i].len > 0)
            return false;
    return true;
}

int sm_nats_out_finish(sm_nats_out_t *o, int timeout_ms)
{
    int64_t deadline = sm_clock_mono_ns() + (int64_t)timeout_ms * 1000000;
    for (;;) {
        int64_t now = sm_clock_mono_ns();
        sm_nats_out_pump(o, now, true);
        if (o->count == 0 && batches_empty(o))
            return 0;
        if (now >= deadline)
            break;
        nats_Sleep(5);
    }
    sm_log_warnx("%zu messages of verdicts were not acknowledged by the stream in time: the "
                 "shard that replays these partitions next will publish them",
                 o->count);
    return -1;
}

void sm_nats_out_stats(const sm_nats_out_t *o, struct sm_nats_out_stats *out)
{
    *out = o->st;
    out->packed_bytes = atomic_load(&o->packed_bytes);
    out->line_bytes = atomic_load(&o->line_bytes);
    out->in_flight = o->count;
}

void sm_nats_out_destroy(sm_nats_out_t **self_p)
{
    if (self_p == NULL || *self_p == NULL)
        return;
    sm_nats_out_t *o = *self_p;
    if (o->packer_on) { /* it publishes what it was handed first */
        pthread_mutex_lock(&o->mu);
        o->stopping = true;
        pthread_cond_signal(&o->cv);
        pthread_mutex_unlock(&o->mu);
        pthread_join(o->packer, NULL);
        o->packer_on = false;
    }
    if (o->js) {
        /* No acknowledgement may touch the ring once it is gone: those still awaited get a
         * moment; past it the ring is left to the process's end rather than freed under a
         * libnats thread. */
        jsPubOptions po;
        jsPubOptions_Init(&po);
        po.MaxWait = 2000;
        natsStatus s = js_PublishAsyncComplete(o->js, &po);
        jsCtx_Destroy(o->js);
        if (s != NATS_OK) {
            *self_p = NULL;
            return;
        }
    }
    for (size_t k = 0; k < RING; k++) {
        free(o->ring[k].lines);
        free(o->ring[k].data);
        free(o->ring[k].keys);
    }
    if (o->batches)
        for (size_t i = 0; i <= o->partitions; i++) {
            free(o->batches[i].data);
            free(o->batches[i].keys);
        }
    free(o->batches);
    free(o->own.lines);
    free(o->own.block);
    free(o->pack.lines);
    free(o->pack.block);
    for (size_t k = 0; k < o->nspare; k++)
        free(o->spare[k]);
    free(o->spare);
    pthread_mutex_destroy(&o->mu);
    pthread_mutex_destroy(&o->pubmu);
    pthread_cond_destroy(&o->cv);
    free(o->set);
    free(o);
    *self_p = NULL;
}
