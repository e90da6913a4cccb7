/*
 * test_filesrc.c - the file reader's batches against a reference made here the plain way.
 *
 * sm_filesrc_run() numbers each TCP header some headers after the decoder hands it over
 * (filesrc.c, AHEAD), so that the tcp.stream table's slot is fetched ahead. The reference
 * below decodes the same file and numbers every header at once, and cuts batches by the
 * documented rule (after the frame that brings the records to batch_records, or after
 * batch_frames frames). For every capture given, many batch sizes, and a consumer that stops
 * after k batches: the same batches (count, watermark, end), the same records (frame,
 * stream, flags, sequence numbers) and the same summary.
 *
 *   test_filesrc CAPTURE...
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "synmatch/filesrc.h"
#include "synmatch/stream.h"

#define MAX_BATCHES 100000

/* What a run produced: every batch's header, and every record's identity. */
struct run {
    size_t nbatches, nrecs;
    struct {
        size_t n;
        int64_t wm;
        bool eof;
    } b[MAX_BATCHES];
    struct {
        uint64_t frame;
        int64_t stream;
        uint16_t flags;
        uint32_t seq, ack;
    } *r;
    size_t rcap;
    size_t stop_after; /* the consumer stops after this many batches (0: never) */
    uint64_t streams, records;
};

static void keep(struct run *rn, const struct sm_record *recs, size_t n, int64_t wm, bool eof)
{
    if (rn->nbatches < MAX_BATCHES) {
        rn->b[rn->nbatches].n = n;
        rn->b[rn->nbatches].wm = wm;
        rn->b[rn->nbatches].eof = eof;
    }
    rn->nbatches++;
    for (size_t k = 0; k < n; k++) {
        if (rn->nrecs == rn->rcap) {
            rn->rcap = rn->rcap ? 2 * rn->rcap : 1024;
            rn->r = realloc(rn->r, rn->rcap * sizeof *rn->r);
            if (rn->r == NULL)
                abort();
        }
        rn->r[rn->nrecs].frame = recs[k].frame;
        rn->r[rn->nrecs].stream = recs[k].stream;
        rn->r[rn->nrecs].flags = recs[k].flags;
        rn->r[rn->nrecs].seq = recs[k].seq;
        rn->r[rn->nrecs].ack = recs[k].ack;
        rn->nrecs++;
    }
}

static int on_batch(void *arg, const struct sm_batch *b)
{
    struct run *rn = arg;
    keep(rn, b->recs, b->n, b->wm, b->eof);
    return rn->stop_after && rn->nbatches >= rn->stop_after ? -1 : 0;
}

/* The reference: every header numbered as the decoder hands it over. */
struct ref {
    sm_streams_t *streams;
    struct sm_record *recs;
    size_t n;
};

static void ref_tcp(void *arg, const struct sm_tcp_view *v)
{
    struct ref *rf = arg;
    int64_t stream = sm_streams_assign(rf->streams, v);
    if (v->quoted || !sm_flags_is_interesting(v->rec.flags))
        return;
    rf->recs[rf->n] = v->rec;
    rf->recs[rf->n++].stream = stream;
}

static void reference(const char *path, size_t batch_records, size_t batch_frames,
                      struct run *rn)
{
    enum sm_pcap_err kind;
    char err[512];
    sm_pcapfile_t *pf = sm_pcapfile_open(path, &kind, err, sizeof err);
    if (pf == NULL)
        return; /* the reader hands over nothing either */
    if (!sm_pcapfile_is_pcapng(pf) && !sm_decode_linktype_supported(sm_pcapfile_linktype(pf))) {
        sm_pcapfile_close(&pf);
        return;
    }
    struct ref rf = {sm_streams_new(0), malloc((batch_records + SM_FILESRC_SLACK) *
                                               sizeof(struct sm_record)),
                     0};
    sm_decoder_t *dec = sm_decoder_new(NULL);
    struct sm_frame fr;
    int64_t wm = INT64_MIN;
    size_t frames = 0;
    bool stopped = false;
    while (sm_pcapfile_next(pf, &fr) == 1) {
        sm_decode_frame(dec, &fr, ref_tcp, &rf);
        if (fr.ts_ns > wm)
            wm = fr.ts_ns;
        if (rf.n >= batch_records || ++frames >= batch_frames) {
            keep(rn, rf.recs, rf.n, wm, false);
            if (rn->stop_after && rn->nbatches >= rn->stop_after) {
                stopped = true;
                break;
            }
            rf.n = 0;
            frames = 0;
        }
    }
    if (!stopped)
        keep(rn, rf.recs, rf.n, wm, true);
    rn->streams = sm_streams_count(rf.streams);
    sm_decoder_destroy(&dec);
    sm_streams_destroy(&rf.streams);
    free(rf.recs);
    sm_pcapfile_close(&pf);
}

static void same(const struct run *a, const struct run *b, const char *what)
{
    bool ok = a->nbatches == b->nbatches && a->nrecs == b->nrecs;
    for (size_t k = 0; ok && k < a->nbatches && k < MAX_BATCHES; k++)
        ok = a->b[k].n == b->b[k].n && a->b[k].wm == b->b[k].wm && a->b[k].eof == b->b[k].eof;
    for (size_t k = 0; ok && k < a->nrecs; k++)
        ok = a->r[k].frame == b->r[k].frame && a->r[k].stream == b->r[k].stream &&
             a->r[k].flags == b->r[k].flags && a->r[k].seq == b->r[k].seq &&
             a->r[k].ack == b->r[k].ack;
    if (!ok)
        fprintf(stderr, "differs: %s (batches %zu/%zu, records %zu/%zu)\n", what, a->nbatches,
                b->nbatches, a->nrecs, b->nrecs);
    CHECK(ok);
}

static void one(const char *path, size_t batch_records, size_t batch_frames, size_t stop_after)
{
    static struct run got, want;
    free(got.r);
    free(want.r);
    memset(&got, 0, sizeof got);
    memset(&want, 0, sizeof want);
    got.stop_after = want.stop_after = stop_after;
    struct sm_filesrc_opts o = {.batch_records = batch_records, .batch_frames = batch_frames};
    struct sm_filesrc_summary sum;
    sm_filesrc_run(path, &o, on_batch, &got, &sum);
    reference(path, batch_records, batch_frames, &want);
    char what[600];
    snprintf(what, sizeof what, "%s, batches of %zu records or %zu frames, stop after %zu",
             path, batch_records, batch_frames, stop_after);
    same(&got, &want, what);
    if (stop_after == 0) {
        CHECK_EQ_U(sum.records, want.nrecs);
        CHECK_EQ_U(sum.streams, want.streams);
    }
    sm_filesrc_summary_free(&sum);
}

int main(int argc, char **argv)
{
    CHECK(argc > 1);
    static const size_t sizes[][2] = {{1, 1000000}, {2, 1000000}, {3, 1000000}, {5, 7},
                                      {8, 1000000}, {9, 3},       {4096, 1},   {4096, 2},
                                      {4096, 9},    {17, 1000000}, {4096, 65536}};
    for (int a = 1; a < argc; a++)
        for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++)
            for (size_t stop = 0; stop < 4; stop++)
                one(argv[a], sizes[s][0], sizes[s][1], stop);
    return check_done();
}
