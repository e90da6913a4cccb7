/*
 * report.h - how results are written: compare's two tables (table, csv, jsonl) and the
 * verdict JSON line shared by compare --verdicts and the collector (docs/VERDICTS.md).
 */
#ifndef SYNMATCH_REPORT_H
#define SYNMATCH_REPORT_H

#include <stddef.h>
#include <stdio.h>

#include "synmatch/compare.h"
#include "synmatch/join.h"

enum sm_format {
    SM_FORMAT_TABLE,
    SM_FORMAT_CSV,
    SM_FORMAT_JSONL,
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
