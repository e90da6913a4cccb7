/*
 * compare.h - offline compare: two capture files through the join engine.
 *
 * Each file is read on its own thread (decode, tcp.stream numbering, records); the main
 * thread merges their batches in watermark order, which depends only on the files, and feeds
 * the join engine in offline mode: unmatched groups are decided once both files have ended,
 * when the server file's capture drops (pcapng statistics) and the inferred scope are known.
 * Memory grows with the number of conversations, never with the file size.
 */
#ifndef SYNMATCH_COMPARE_H
#define SYNMATCH_COMPARE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "synmatch/filesrc.h"
#include "synmatch/join.h"
#include "synmatch/record.h"
#include "synmatch/report.h"

struct sm_compare_opts {
    const char *client_path; /* "-" = standard input (at most one of the two) */
    const char *server_path;
    const struct sm_addr *server_ips; /* expected destinations; none = infer */
    size_t n_server_ips;
    int64_t timeout_ns;  /* 0 = engine default */
    int64_t max_skew_ns; /* 0 = engine default */
    size_t max_conversations;
    size_t max_pending;
    bool no_clock_correction;
    sm_verdict_fn on_verdict; /* optional: every final verdict, in decision order */
    void *verdict_arg;
};

struct sm_compare_result {
    struct sm_filesrc_summary side[2]; /* [SM_ROLE_CLIENT], [SM_ROLE_SERVER] */
    /* Every final verdict as a row of its tables (report.h): the map (client_stream, then
     * server_stream), missing, broken and unwitnessed (first time, then client_stream). */
    struct sm_row *rows[SM_TABLE_COUNT];
    size_t nrows[SM_TABLE_COUNT];
    size_t rows_cap[SM_TABLE_COUNT]; /* allocated (large arrays are mapped: see compare.c) */
    struct sm_join_stats join;
    struct sm_clock_estimate clock;
    bool scope_inferred;
    struct sm_addr *scope; /* sorted */
    size_t nscope;
    uint64_t drops[2]; /* packets each capture declared lost (pcapng statistics) */
};

/*
 * Runs the comparison. Returns 0 when both files were read to the end; -1 when a file could
 * not be opened (nothing was decided) or reading stopped early (what was decided is in res:
 * a partial result). side[].err says which and why. res must be freed in every case.
 */
int sm_compare_run(const struct sm_compare_opts *opts, struct sm_compare_result *res);

void sm_compare_result_free(struct sm_compare_result *res);

#endif
