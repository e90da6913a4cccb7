/*
 * report.h - how results are written: compare's tables (table, csv, jsonl) and the verdict
 * JSON line shared by compare --verdicts and the collector (docs/VERDICTS.md).
 */
#ifndef SYNMATCH_REPORT_H
#define SYNMATCH_REPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "synmatch/record.h"
#include "synmatch/verdict.h"

enum sm_format {
    SM_FORMAT_TABLE,
    SM_FORMAT_CSV,
    SM_FORMAT_JSONL,
};

/* One final verdict as a row of compare's tables. compare keeps one for every map row until
 * it sorts them (half a million on a 1 GB pair), so the fields are ordered by size and the
 * enumerations kept in a byte each: 144 bytes, where the declaration order took 176. */
struct sm_row {
    int64_t client_stream;
    int64_t server_stream; /* SM_STREAM_NONE without has_server */
    int64_t first_ns, last_ns;
    int64_t delta_ns; /* when the server saw it minus when the client sent that attempt */
    const char *reason; /* static, or NULL */
    uint32_t attempts, seq;
    uint32_t attempts_inside;
    uint32_t server_seq;
    struct sm_tuple client;
    struct sm_tuple server; /* when has_server */
    uint8_t kind;           /* enum sm_verdict_kind */
    uint8_t client_answer;  /* enum sm_answer */
    uint8_t server_answer;  /* enum sm_answer */
    bool has_server : 1;
    bool fingerprint : 1; /* matched by fingerprint, not ISN */
};

void sm_row_from_verdict(struct sm_row *row, const struct sm_verdict *v);

/*
 * compare's tables, each a selection of final verdicts with its own columns (README,
 * "OUTPUT"):
 *   map          every client SYN the server saw: which stream is which, with the verdict
 *   missing      the SYNs no attempt of which reached the server
 *   broken       the handshakes that broke past the SYN: refused, reply_lost, unanswered,
 *                answered_by_middlebox
 *   unwitnessed  what the evidence could not decide, with the reason
 */
enum sm_table {
    SM_TABLE_MAP,
    SM_TABLE_MISSING,
    SM_TABLE_BROKEN,
    SM_TABLE_UNWITNESSED,
    SM_TABLE_COUNT
};

const char *sm_table_name(enum sm_table t);

/* The table a final verdict's row belongs to, besides the map (SM_TABLE_COUNT: none). */
enum sm_table sm_table_of(enum sm_verdict_kind k);

/* Writes table t: a header (csv, table) and one line per row. Each row ends with the
 * Community ID of its client tuple (communityid.h, with community_id_seed), and the map's and
 * the broken table's with the server tuple's when that differs (NAT). */
void sm_report_table(FILE *out, enum sm_format fmt, enum sm_table t, const struct sm_row *rows,
                     size_t n, uint16_t community_id_seed);

/* Version of the verdict JSON schema; bumped only for incompatible changes. */
#define SM_VERDICT_SCHEMA 2

/* Parses "table", "csv" or "jsonl". Returns 0 or -1. */
int sm_format_parse(const char *name, enum sm_format *out);


/* Longest line sm_report_verdict_line() writes, with the newline: every optional key at
 * once, two IPv6 tuples and their Community IDs stay below 1,300 characters. */
#define SM_REPORT_LINE_MAX 1536

/* Writes one verdict as a JSON object and a newline (docs/VERDICTS.md), with the Community
 * ID of the client tuple (community_id) and of the server's when it differs
 * (server_community_id), hashed with community_id_seed. */
void sm_report_verdict_json(FILE *out, const struct sm_verdict *v, uint16_t community_id_seed);

/* The same line into buf (at least SM_REPORT_LINE_MAX bytes). Returns its length. */
size_t sm_report_verdict_line(char *buf, const struct sm_verdict *v, uint16_t community_id_seed);

/* Longest text sm_report_filter() writes, with its terminating NUL. */
#define SM_REPORT_FILTER_MAX 256

/*
 * A Wireshark display filter for one side's view of a handshake: the packets between t's two
 * endpoints that carry isn (the SYN and its retransmissions, tcp.seq_raw) or acknowledge it
 * (the SYN/ACK or RST answering, tcp.ack_raw == isn + 1). Paste it into the capture of the
 * side that saw t. Writes a NUL-terminated string into out and returns out.
 */
char *sm_report_filter(char out[SM_REPORT_FILTER_MAX], const struct sm_tuple *t, uint32_t isn);

#endif
