/*
 * report.h - how results are written: compare's two tables (table, csv, jsonl) and the
 * verdict JSON line shared by compare --verdicts and the collector (docs/VERDICTS.md).
 */
#ifndef SYNMATCH_REPORT_H
#define SYNMATCH_REPORT_H

#include <stddef.h>
#include <stdio.h>

#include "synmatch/join.h"
#include "synmatch/record.h"

enum sm_format {
    SM_FORMAT_TABLE,
    SM_FORMAT_CSV,
    SM_FORMAT_JSONL,
};

/* One row of the stream map: a client SYN group the server saw. */
struct sm_map_row {
    int64_t client_stream, server_stream;
    uint32_t client_seq, server_seq;
    struct sm_tuple client, server;
    int64_t client_first_ns;
    int64_t delta_ns; /* when the server saw it minus when the client sent that attempt */
    uint32_t attempts, lost_before;
};

/* One row of the missing list: a client SYN group never seen at the server. */
struct sm_missing_row {
    uint32_t count; /* attempts */
    uint32_t seq;
    struct sm_tuple client;
    int64_t client_stream;
    int64_t first_ns, last_ns;
};

/* Version of the verdict JSON schema; bumped only for incompatible changes. */
#define SM_VERDICT_SCHEMA 1

/* Parses "table", "csv" or "jsonl". Returns 0 or -1. */
int sm_format_parse(const char *name, enum sm_format *out);

void sm_report_map(FILE *out, enum sm_format fmt, const struct sm_map_row *rows, size_t n);
void sm_report_missing(FILE *out, enum sm_format fmt, const struct sm_missing_row *rows,
                       size_t n);

/* Longest line sm_report_verdict_line() writes, with the newline. */
#define SM_REPORT_LINE_MAX 1024

/* Writes one verdict as a JSON object and a newline. */
void sm_report_verdict_json(FILE *out, const struct sm_verdict *v);

/* The same line into buf (at least SM_REPORT_LINE_MAX bytes). Returns its length. */
size_t sm_report_verdict_line(char *buf, const struct sm_verdict *v);

#endif
