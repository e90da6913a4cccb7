/*
 * filesrc.h - a capture file as a source of records: read, decode, number every TCP header
 * (Wireshark tcp.stream), and hand over the SYN, SYN/ACK and RST records in batches.
 *
 * Used by `synmatch compare` (one per file, each on its own thread) and by the agent's -r.
 * Batch boundaries depend only on the file's contents, so whatever consumes them sees the
 * same sequence every run.
 */
#ifndef SYNMATCH_FILESRC_H
#define SYNMATCH_FILESRC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "synmatch/decode.h"
#include "synmatch/pcapfile.h"
#include "synmatch/record.h"

struct sm_filesrc_opts {
    size_t max_conversations; /* 0 = SM_STREAMS_DEFAULT_MAX */
    size_t batch_records;     /* 0 = 4096 */
    size_t batch_frames;      /* 0 = 65536: a batch (and a watermark) at least this often */
    /* Optional: the caller's buffer for the batches, recs_cap records, at least batch_records
     * + SM_FILESRC_SLACK (else the reader allocates its own). Only with it may a batch
     * callback trade buffers (sm_batch.trade); the reader never frees these. */
    struct sm_record *recs;
    size_t recs_cap;
};

/* Records a batch may hold beyond batch_records: it is cut after the frame that reaches it. */
#define SM_FILESRC_SLACK 64u

/*
 * One batch: records in file order, then the watermark, the largest timestamp of any frame
 * read so far (records included). first_ns is the first frame's time once have_first.
 * recs is only valid during the callback, unless the callback trades: when trade is set (the
 * reader runs in buffers of the caller's, opts.recs), the callback may keep recs and store in
 * *trade another buffer of the caller's, of opts.recs_cap records, which the reader fills next.
 * Handing a full batch over without copying it.
 */
struct sm_batch {
    const struct sm_record *recs;
    size_t n;
    int64_t wm;
    bool have_first;
    int64_t first_ns;
    bool eof; /* the last batch: nothing follows */
    struct sm_record **trade; /* see above; NULL when the reader owns its buffer */
};

/* Returns 0 to go on, -1 to stop reading. */
typedef int (*sm_batch_fn)(void *arg, const struct sm_batch *b);

struct sm_filesrc_summary {
    bool opened;           /* the file opened and its header was valid */
    enum sm_pcap_err err;  /* NONE, or why reading stopped (or never started) */
    char errmsg[512];      /* one line, starting with the path */
    bool unsupported_linktype; /* the file's only link type is not supported */
    uint32_t linktype;
    bool pcapng;
    uint64_t frames;
    bool have_ts;
    int64_t first_ns, last_ns; /* smallest and largest frame timestamps */
    uint64_t records;
    uint64_t streams;           /* tcp.stream indices used */
    bool numbering_exact;
    uint64_t first_inexact_frame;
    uint64_t bounded_frames;       /* cut off by a nesting bound (sm_decoder_bounded_frames) */
    uint64_t first_bounded_frame;
    uint64_t unaligned_blocks;     /* pcapng blocks read as padded (sm_pcapfile_unaligned_blocks) */
    uint64_t pairs_evicted;
    uint64_t counters[SM_DC_COUNT];
    size_t nifstats;
    struct sm_ifstats *ifstats; /* owned; free with sm_filesrc_summary_free() */
};

/*
 * Reads path ("-" = standard input) to its end, calling fn for each batch, and a last time
 * with eof set, unless the file could not be opened or fn returned -1 (which stops reading).
 * Returns 0 when the whole file was read, -1 otherwise (summary->err and errmsg say why).
 */
int sm_filesrc_run(const char *path, const struct sm_filesrc_opts *opts, sm_batch_fn fn,
                   void *arg, struct sm_filesrc_summary *summary);

void sm_filesrc_summary_free(struct sm_filesrc_summary *summary);

#endif
