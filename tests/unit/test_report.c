/*
 * test_report.c - the result writers (engine/report.c): the verdict line's Community IDs
 * (community_id always, server_community_id only when NAT changed the tuple) and its bound,
 * the Community ID columns last in the map, and large tables formatted on two threads giving
 * exactly the bytes one thread gives, in every format (the table's widths measured by both).
 */
#define _GNU_SOURCE
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "addr.h"
#include "check.h"
#include "synmatch/report.h"

/* Every optional key at once, the longest numbers and IPv6 tuples: the line's bound. */
static void test_verdict_line(void)
{
    struct sm_verdict v = {
        .kind = SM_V_ANSWERED_BY_MIDDLEBOX,
        .reason = "partly_outside_server_capture",
        .isn = UINT32_MAX,
        .attempts = UINT32_MAX,
        .lost_before = UINT32_MAX,
        .client_stream = INT64_MIN,
        .first_ns = INT64_MIN,
        .last_ns = INT64_MAX,
        .client_answer = SM_ANSWER_SYNACK,
        .replies_received = UINT32_MAX,
        .attempts_inside = UINT32_MAX,
        .has_server = true,
        .server_stream = INT64_MIN,
        .server_first_ns = INT64_MIN / 2, /* differences of these stay within 64 bits */
        .server_seq = UINT32_MAX,
        .server_attempts = UINT32_MAX,
        .delay_ns = INT64_MIN,
        .server_answer = SM_ANSWER_SYNACK,
        .reply_attempts = UINT32_MAX,
        .server_answer_ns = INT64_MAX / 2,
        .client_answer_ns = INT64_MIN / 8,
        .syncookies = true,
        .candidates = UINT32_MAX,
        .fingerprint = true,
        .proxied = true,
        .proxy_rtt_ns = INT64_MIN,
        .clock_corrected = true,
        .clock_offset_ns = INT64_MIN / 2,
    };
    const char *wide = "ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe";
    CHECK(sm_addr_parse(wide, &v.client.src) == 0);
    CHECK(sm_addr_parse("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", &v.client.dst) == 0);
    v.client.sport = v.client.dport = 65535;
    v.server = v.client;
    v.server.sport = 65534;
    char line[SM_REPORT_LINE_MAX + 1];
    size_t n = sm_report_verdict_line(line, &v, 65535);
    CHECK(n < 1300); /* the bound report.h states */
    line[n] = '\0';
    CHECK(strstr(line, "\"community_id\":\"1:") != NULL);
    CHECK(strstr(line, "\"server_community_id\":\"1:") != NULL);
    CHECK(line[n - 1] == '\n' && line[n - 2] == '}');

    /* No NAT: the server's tuple is the client's, one ID; no server: one ID. */
    v.server = v.client;
    line[sm_report_verdict_line(line, &v, 0)] = '\0';
    CHECK(strstr(line, "\"community_id\":\"1:") != NULL);
    CHECK(strstr(line, "server_community_id") == NULL);
    v.has_server = false;
    line[sm_report_verdict_line(line, &v, 0)] = '\0';
    CHECK(strstr(line, "server_community_id") == NULL && strstr(line, "community_id") != NULL);
}

static void test_map_csv(void)
{
    /* The map in csv: the two columns last, the server's empty when the tuples agree. */
    struct sm_row rows[2];
    struct sm_verdict m = {.kind = SM_V_MATCHED, .has_server = true, .client_stream = 0,
                           .server_stream = 0};
    CHECK(sm_addr_parse("1.2.3.4", &m.client.src) == 0);
    CHECK(sm_addr_parse("5.6.7.8", &m.client.dst) == 0);
    m.client.sport = 1122;
    m.client.dport = 3344;
    m.server = m.client;
    sm_row_from_verdict(&rows[0], &m);
    CHECK(sm_addr_parse("5.6.7.9", &m.server.src) == 0);
    sm_row_from_verdict(&rows[1], &m);
    char buf[4096] = "";
    FILE *f = fmemopen(buf, sizeof buf - 1, "w");
    CHECK(f != NULL);
    if (f == NULL)
        return;
    sm_report_table(f, SM_FORMAT_CSV, SM_TABLE_MAP, rows, 2, 0);
    fclose(f);
    char *l1 = strchr(buf, '\n'), *l2 = l1 ? strchr(l1 + 1, '\n') : NULL;
    CHECK(l1 != NULL && l2 != NULL);
    if (l1 == NULL || l2 == NULL)
        return;
    *l1 = *l2 = '\0';
    CHECK(strstr(buf, ",verdict,match,community_id,server_community_id") != NULL);
    size_t len1 = strlen(l1 + 1);
    CHECK(len1 > 31 && strcmp(l1 + 1 + len1 - 31, "1:wCb3OG7yAFWelaUydu0D+125CLM=,") == 0);
    CHECK(strstr(l2 + 1, ",1:wCb3OG7yAFWelaUydu0D+125CLM=,1:") != NULL);
}

/* n rows of every table's kinds, IPv4 and IPv6, some through NAT. */
static struct sm_row *make_rows(size_t n)
{
    struct sm_row *rows = calloc(n, sizeof *rows);
    if (rows == NULL)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        struct sm_verdict v = {.kind = (enum sm_verdict_kind)(1 + i % (SM_V_COUNT - 1)),
                               .isn = (uint32_t)(i * 2654435761u), .attempts = 1 + i % 3,
                               .client_stream = (int64_t)i,
                               .first_ns = INT64_C(1700000000000000000) + (int64_t)i * 1000,
                               .has_server = i % 4 != 0, .server_stream = (int64_t)i / 2};
        v.last_ns = v.first_ns + 7;
        v.delay_ns = (int64_t)(i % 1000) * 1000;
        v.reason = i % 5 == 0 ? "before_server_capture" : NULL;
        char a[64];
        if (i % 10 == 0)
            snprintf(a, sizeof a, "2001:db8:1::%zx", i % 65536);
        else
            snprintf(a, sizeof a, "198.18.%zu.%zu", i % 200, (i / 200) % 250);
        sm_addr_parse(a, &v.client.src);
        sm_addr_parse(i % 10 == 0 ? "2001:db8:2::2" : "198.18.2.2", &v.client.dst);
        v.client.sport = (uint16_t)(1024 + i % 60000);
        v.client.dport = 443;
        v.server = v.client;
        if (i % 3 == 0)
            v.server.sport = (uint16_t)(v.server.sport + 1);
        sm_row_from_verdict(&rows[i], &v);
    }
    return rows;
}

/* What sm_report_table() writes, as a string. */
static char *written(enum sm_format fmt, enum sm_table t, const struct sm_row *rows, size_t n,
                     size_t *len)
{
    char *buf = NULL;
    FILE *f = open_memstream(&buf, len);
    if (f == NULL)
        return NULL;
    sm_report_table(f, fmt, t, rows, n, 9);
    fclose(f);
    return buf;
}

/* Rows past the threshold go through the two-thread writer; the same rows in slices below it
 * go through one thread: the rows' bytes must be the same (the header once, in front). */
static void test_two_threads(void)
{
    const size_t n = 50000, slice = 1000;
    struct sm_row *rows = make_rows(n);
    CHECK(rows != NULL);
    if (rows == NULL)
        return;
    static const enum sm_format fmts[] = {SM_FORMAT_CSV, SM_FORMAT_JSONL};
    for (int t = 0; t < SM_TABLE_COUNT; t++) {
        for (size_t k = 0; k < sizeof fmts / sizeof fmts[0]; k++) {
            size_t len, hlen, slen;
            char *all = written(fmts[k], (enum sm_table)t, rows, n, &len);
            char *head = written(fmts[k], (enum sm_table)t, rows, 0, &hlen);
            CHECK(all != NULL && head != NULL);
            if (all == NULL || head == NULL)
                return;
            bool same = len > hlen && memcmp(all, head, hlen) == 0;
            size_t at = hlen;
            for (size_t lo = 0; lo < n && same; lo += slice) {
                char *part = written(fmts[k], (enum sm_table)t, rows + lo, slice, &slen);
                same = part && slen >= hlen && at + slen - hlen <= len &&
                       memcmp(all + at, part + hlen, slen - hlen) == 0;
                at += part ? slen - hlen : 0;
                free(part);
            }
            CHECK(same && at == len);
            free(all);
            free(head);
        }
    }
    /* The table format's widths come from all rows: a two-thread run equals itself and
     * has one line per row plus the header's two. */
    size_t l1, l2;
    char *a = written(SM_FORMAT_TABLE, SM_TABLE_MAP, rows, n, &l1);
    char *b = written(SM_FORMAT_TABLE, SM_TABLE_MAP, rows, n, &l2);
    CHECK(a && b && l1 == l2 && memcmp(a, b, l1) == 0);
    size_t lines = 0;
    for (size_t i = 0; a && i < l1; i++)
        lines += a[i] == '\n';
    CHECK_EQ_U(lines, n + 2);
    free(a);
    free(b);
    free(rows);
}

/* Row r given the widest cell of every variable column: the longest verdict name, a match by
 * fingerprint, the longest reason used here, and the longest IPv6 tuples. */
static void widen(struct sm_row *r)
{
    r->kind = SM_V_ANSWERED_BY_MIDDLEBOX;
    r->fingerprint = true;
    r->reason = "before_server_capture";
    r->has_server = true;
    sm_addr_parse("ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe", &r->client.src);
    sm_addr_parse("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", &r->client.dst);
    r->client.sport = r->client.dport = 65535;
    r->server = r->client;
}

/* The table format on two threads: each thread measures the widths over half the rows. With
 * the widest cells in the first row of every slice, each slice's widths are the whole
 * table's, so the two-thread table must be the slices' rows under one header. */
static void test_two_threads_table(void)
{
    const size_t n = 50000, slice = 1000;
    struct sm_row *rows = make_rows(n);
    CHECK(rows != NULL);
    if (rows == NULL)
        return;
    for (size_t lo = 0; lo < n; lo += slice)
        widen(&rows[lo]);
    for (int t = 0; t < SM_TABLE_COUNT; t++) {
        size_t len, slen, at = 0;
        char *all = written(SM_FORMAT_TABLE, (enum sm_table)t, rows, n, &len);
        bool same = all != NULL;
        for (size_t lo = 0; lo < n && same; lo += slice) {
            char *part = written(SM_FORMAT_TABLE, (enum sm_table)t, rows + lo, slice, &slen);
            size_t skip = 0; /* the header's two lines, after the first slice */
            for (int nl = 0; lo > 0 && part && nl < 2 && skip < slen; skip++)
                nl += part[skip] == '\n';
            same = part && at + slen - skip <= len &&
                   memcmp(all + at, part + skip, slen - skip) == 0;
            at += part ? slen - skip : 0;
            free(part);
        }
        CHECK(same && at == len);
        free(all);
    }
    /* The widest cells in one row only, in either thread's half: the whole table's header
     * is the header of the slice that holds that row. */
    free(rows);
    const size_t ends[2] = {0, n - 1};
    for (int e = 0; e < 2; e++) {
        rows = make_rows(n);
        CHECK(rows != NULL);
        if (rows == NULL)
            return;
        widen(&rows[ends[e]]);
        size_t len, slen;
        const size_t lo = ends[e] / slice * slice;
        char *all = written(SM_FORMAT_TABLE, SM_TABLE_BROKEN, rows, n, &len);
        char *part = written(SM_FORMAT_TABLE, SM_TABLE_BROKEN, rows + lo, slice, &slen);
        size_t hdr = 0;
        for (int nl = 0; part && nl < 2 && hdr < slen; hdr++)
            nl += part[hdr] == '\n';
        CHECK(all && part && len >= hdr && memcmp(all, part, hdr) == 0);
        free(all);
        free(part);
        free(rows);
    }
}

int main(void)
{
    test_verdict_line();
    test_map_csv();
    test_two_threads();
    test_two_threads_table();
    return check_done();
}
