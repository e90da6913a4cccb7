/*
 * filesrc.c - capture file -> decoder -> tcp.stream numbering -> record batches.
 *
 * Every TCP header, quoted ones included, goes through the numbering so the indices match
 * tshark; only real (not quoted) SYN, SYN/ACK and RST headers become records.
 */
#include "synmatch/filesrc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "synmatch/stream.h"

#define DEFAULT_BATCH_RECORDS 4096u
#define DEFAULT_BATCH_FRAMES 65536u

/*
 * TCP headers are numbered AHEAD headers after the decoder hands them over: each one's slot
 * in the tcp.stream table is prefetched when it arrives (sm_streams_prepare) and looked up
 * when AHEAD more have arrived, so the lookup rarely waits for memory. The table is as large
 * as the capture's conversations (32 MB on a 1 GB pair) and the miss on its slot was a
 * third of the numbering's time. Order, and so every index, is unchanged.
 */
#define AHEAD 8u

struct pending {
    struct sm_tcp_view v;
    struct sm_streams_prep p;
};

struct reader {
    sm_streams_t *streams;
    struct sm_record *recs;
    size_t n, cap;
    uint64_t total;
    uint64_t overflow;
    struct pending ring[AHEAD];
    unsigned head, count;
    size_t records_ahead; /* records among the ring's headers */
};

static bool makes_record(const struct sm_tcp_view *v)
{
    return !v->quoted && sm_flags_is_interesting(v->rec.flags);
}

/* Numbers the oldest header of the ring, and keeps it as a record if it is one. */
static void number_one(struct reader *rd)
{
    const struct pending *pd = &rd->ring[rd->head];
    rd->head = (rd->head + 1) % AHEAD;
    rd->count--;
    int64_t stream = sm_streams_assign_prepared(rd->streams, &pd->v, &pd->p);
    if (!makes_record(&pd->v))
        return;
    rd->records_ahead--;
    if (rd->n == rd->cap) { /* cannot happen: a batch is cut after every frame past the size */
        rd->overflow++;
        return;
    }
    struct sm_record *r = &rd->recs[rd->n++];
    *r = pd->v.rec;
    r->stream = stream;
    rd->total++;
}

static void number_all(struct reader *rd)
{
    while (rd->count > 0)
        number_one(rd);
}

static void on_tcp(void *arg, const struct sm_tcp_view *v)
{
    struct reader *rd = arg;
    if (rd->count == AHEAD)
        number_one(rd);
    struct pending *pd = &rd->ring[(rd->head + rd->count) % AHEAD];
    rd->count++;
    pd->v = *v;
    sm_streams_prepare(rd->streams, &v->rec.tuple, &pd->p);
    rd->records_ahead += makes_record(v);
}

int sm_filesrc_run(const char *path, const struct sm_filesrc_opts *opts, sm_batch_fn fn,
                   void *arg, struct sm_filesrc_summary *sum)
{
    memset(sum, 0, sizeof *sum);
    sum->numbering_exact = true;
    size_t batch_records = opts && opts->batch_records ? opts->batch_records
                                                       : DEFAULT_BATCH_RECORDS;
    size_t batch_frames = opts && opts->batch_frames ? opts->batch_frames : DEFAULT_BATCH_FRAMES;

    char err[512];
    sm_pcapfile_t *pf = sm_pcapfile_open(path, &sum->err, err, sizeof err);
    if (pf == NULL) {
        snprintf(sum->errmsg, sizeof sum->errmsg, "%s", err);
        return -1;
    }
    sum->pcapng = sm_pcapfile_is_pcapng(pf);
    sum->linktype = sm_pcapfile_linktype(pf);
    if (!sum->pcapng && !sm_decode_linktype_supported(sum->linktype)) {
        sum->err = SM_PCAP_ERR_NOT_CAPTURE;
        sum->unsupported_linktype = true;
        snprintf(sum->errmsg, sizeof sum->errmsg, "%s: unsupported link type %u", path,
                 sum->linktype);
        sm_pcapfile_close(&pf);
        return -1;
    }

    struct reader rd = {0};
    /* A frame carries at most a few TCP headers (tunnels, quotes): room past the threshold. */
    bool lent = opts && opts->recs && opts->recs_cap >= batch_records + SM_FILESRC_SLACK;
    rd.cap = lent ? opts->recs_cap : batch_records + SM_FILESRC_SLACK;
    rd.recs = lent ? opts->recs : malloc(rd.cap * sizeof *rd.recs);
    rd.streams = sm_streams_new(opts ? opts->max_conversations : 0);
    sm_decoder_t *dec = sm_decoder_new(NULL);
    if (rd.recs == NULL || rd.streams == NULL || dec == NULL) {
        sum->err = SM_PCAP_ERR_OPEN;
        snprintf(sum->errmsg, sizeof sum->errmsg, "%s: out of memory", path);
        if (!lent)
            free(rd.recs);
        sm_streams_destroy(&rd.streams);
        sm_decoder_destroy(&dec);
        sm_pcapfile_close(&pf);
        return -1;
    }
    sum->opened = true;

    struct sm_batch b = {.wm = INT64_MIN, .trade = lent ? &rd.recs : NULL};
    size_t frames_in_batch = 0;
    struct sm_frame fr;
    int rc;
    bool stopped = false;
    while ((rc = sm_pcapfile_next(pf, &fr)) == 1) {
        if (!sum->have_ts) {
            sum->have_ts = true;
            sum->first_ns = sum->last_ns = fr.ts_ns;
            b.have_first = true;
            b.first_ns = fr.ts_ns;
        } else {
            if (fr.ts_ns < sum->first_ns)
                sum->first_ns = fr.ts_ns;
            if (fr.ts_ns > sum->last_ns)
                sum->last_ns = fr.ts_ns;
        }
        sum->frames++;
        sm_decode_frame(dec, &fr, on_tcp, &rd);
        if (fr.ts_ns > b.wm)
            b.wm = fr.ts_ns;
        if (rd.n + rd.records_ahead >= batch_records || ++frames_in_batch >= batch_frames) {
            number_all(&rd); /* a batch holds every record up to its last frame */
            b.recs = rd.recs;
            b.n = rd.n;
            if (fn(arg, &b) == -1) {
                stopped = true;
                break;
            }
            rd.n = 0;
            frames_in_batch = 0;
        }
    }
    if (rc == -1) {
        sum->err = sm_pcapfile_errkind(pf);
        snprintf(sum->errmsg, sizeof sum->errmsg, "%s: %s", path, sm_pcapfile_error(pf));
    }
    number_all(&rd); /* at the end of the file or a read error (a stop found it empty) */
    if (!stopped) {
        b.recs = rd.recs;
        b.n = rd.n;
        b.eof = true;
        fn(arg, &b);
    }

    const uint64_t *ctr = sm_decoder_counters(dec);
    memcpy(sum->counters, ctr, sizeof sum->counters);
    if (sum->pcapng && sum->frames > 0 && ctr[SM_DC_LINKTYPE_UNSUPPORTED] == sum->frames)
        sum->unsupported_linktype = true;
    sum->records = rd.total;
    sum->streams = sm_streams_count(rd.streams);
    sum->numbering_exact = sm_streams_exact(rd.streams) && ctr[SM_DC_FRAG_EVICTED] == 0;
    sum->first_inexact_frame = sm_streams_first_inexact_frame(rd.streams);
    sum->pairs_evicted = sm_streams_evicted(rd.streams);
    sum->bounded_frames = sm_decoder_bounded_frames(dec);
    sum->unaligned_blocks = sm_pcapfile_unaligned_blocks(pf);
    sum->first_bounded_frame = sm_decoder_first_bounded_frame(dec);
    if (sum->bounded_frames)
        sum->numbering_exact = false;
    const struct sm_ifstats *ifs;
    size_t nifs = sm_pcapfile_ifstats(pf, &ifs);
    if (nifs > 0) {
        sum->ifstats = malloc(nifs * sizeof *ifs);
        if (sum->ifstats) {
            memcpy(sum->ifstats, ifs, nifs * sizeof *ifs);
            sum->nifstats = nifs;
        } else if (sum->err == SM_PCAP_ERR_NONE) {
            /* The capture's declared drops would be lost: that must not pass silently. */
            sum->err = SM_PCAP_ERR_OPEN;
            snprintf(sum->errmsg, sizeof sum->errmsg, "%s: out of memory for statistics",
                     path);
        }
    }
    if (!lent)
        free(rd.recs);
    sm_streams_destroy(&rd.streams);
    sm_decoder_destroy(&dec);
    sm_pcapfile_close(&pf);
    return sum->err == SM_PCAP_ERR_NONE && !stopped ? 0 : -1;
}

void sm_filesrc_summary_free(struct sm_filesrc_summary *sum)
{
    free(sum->ifstats);
    sum->ifstats = NULL;
    sum->nifstats = 0;
}
