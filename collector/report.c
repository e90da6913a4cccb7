/*
 * report.c - result writers. Every number and time is printed the same way in every format:
 * sequence numbers as unsigned decimals (Wireshark's tcp.seq_raw), times as RFC 3339 UTC
 * with nanoseconds, durations as seconds with nine decimals.
 */
#include "synmatch/report.h"

#include <inttypes.h>
#include <string.h>

#include "synmatch/addr.h"
#include "synmatch/timefmt.h"

int sm_format_parse(const char *name, enum sm_format *out)
{
    if (strcmp(name, "table") == 0)
        *out = SM_FORMAT_TABLE;
    else if (strcmp(name, "csv") == 0)
        *out = SM_FORMAT_CSV;
    else if (strcmp(name, "jsonl") == 0)
        *out = SM_FORMAT_JSONL;
    else
        return -1;
    return 0;
}

static const char *stream_text(int64_t s, char *buf, size_t len)
{
    if (s == SM_STREAM_NONE)
        snprintf(buf, len, "-");
    else
        snprintf(buf, len, "%" PRId64, s);
    return buf;
}

static const char *stream_json(int64_t s, char *buf, size_t len)
{
    if (s == SM_STREAM_NONE)
        snprintf(buf, len, "null");
    else
        snprintf(buf, len, "%" PRId64, s);
    return buf;
}

static char *tuple_text(const struct sm_tuple *t, char *out, size_t len)
{
    char a[SM_ENDPOINT_STRLEN], b[SM_ENDPOINT_STRLEN];
    snprintf(out, len, "%s -> %s", sm_endpoint_format(&t->src, t->sport, a, sizeof a),
             sm_endpoint_format(&t->dst, t->dport, b, sizeof b));
    return out;
}

/* "src","sport","dst","dport" as CSV fields (addresses never need quoting). */
static void tuple_csv(FILE *out, const struct sm_tuple *t)
{
    char a[SM_ADDR_STRLEN], b[SM_ADDR_STRLEN];
    fprintf(out, "%s,%u,%s,%u", sm_addr_format(&t->src, a, sizeof a), t->sport,
            sm_addr_format(&t->dst, b, sizeof b), t->dport);
}

static void tuple_json(FILE *out, const char *prefix, const struct sm_tuple *t)
{
    char a[SM_ADDR_STRLEN], b[SM_ADDR_STRLEN];
    fprintf(out, "\"%s_src\":\"%s\",\"%s_sport\":%u,\"%s_dst\":\"%s\",\"%s_dport\":%u", prefix,
            sm_addr_format(&t->src, a, sizeof a), prefix, t->sport, prefix,
            sm_addr_format(&t->dst, b, sizeof b), prefix, t->dport);
}

#define TUPLE_STRLEN (2 * SM_ENDPOINT_STRLEN + 8)

void sm_report_map(FILE *out, enum sm_format fmt, const struct sm_map_row *rows, size_t n)
{
    char s1[24], s2[24], d[32], t1[TUPLE_STRLEN], t2[TUPLE_STRLEN];
    switch (fmt) {
    case SM_FORMAT_CSV:
        fprintf(out, "client_stream,server_stream,client_seq,server_seq,client_src,client_sport,"
                     "client_dst,client_dport,server_src,server_sport,server_dst,server_dport,"
                     "delta\n");
        for (size_t i = 0; i < n; i++) {
            const struct sm_map_row *r = &rows[i];
            fprintf(out, "%s,%s,%" PRIu32 ",%" PRIu32 ",",
                    stream_text(r->client_stream, s1, sizeof s1),
                    stream_text(r->server_stream, s2, sizeof s2), r->client_seq, r->server_seq);
            tuple_csv(out, &r->client);
            fputc(',', out);
            tuple_csv(out, &r->server);
            fprintf(out, ",%s\n", sm_duration_format(r->delta_ns, d, sizeof d));
        }
        break;
    case SM_FORMAT_JSONL:
        for (size_t i = 0; i < n; i++) {
            const struct sm_map_row *r = &rows[i];
            fprintf(out,
                    "{\"table\":\"map\",\"client_stream\":%s,\"server_stream\":%s,"
                    "\"client_seq\":%" PRIu32 ",\"server_seq\":%" PRIu32 ",",
                    stream_json(r->client_stream, s1, sizeof s1),
                    stream_json(r->server_stream, s2, sizeof s2), r->client_seq, r->server_seq);
            tuple_json(out, "client", &r->client);
            fputc(',', out);
            tuple_json(out, "server", &r->server);
            fprintf(out, ",\"delta\":%s}\n", sm_duration_format(r->delta_ns, d, sizeof d));
        }
        break;
    case SM_FORMAT_TABLE: {
        int wc = (int)strlen("client (src -> dst)"), ws = (int)strlen("server (src -> dst)");
        for (size_t i = 0; i < n; i++) {
            int a = (int)strlen(tuple_text(&rows[i].client, t1, sizeof t1));
            int b = (int)strlen(tuple_text(&rows[i].server, t2, sizeof t2));
            wc = a > wc ? a : wc;
            ws = b > ws ? b : ws;
        }
        fprintf(out, "%13s %13s %10s %10s  %-*s  %-*s  %12s\n", "client_stream",
                "server_stream", "client_seq", "server_seq", wc, "client (src -> dst)", ws,
                "server (src -> dst)", "delta (s)");
        fprintf(out, "%13s %13s %10s %10s  %.*s  %.*s  %12s\n", "-------------",
                "-------------", "----------", "----------", wc,
                "----------------------------------------------------------------------------"
                "----------------------------------------------",
                ws,
                "----------------------------------------------------------------------------"
                "----------------------------------------------",
                "------------");
        for (size_t i = 0; i < n; i++) {
            const struct sm_map_row *r = &rows[i];
            fprintf(out, "%13s %13s %10" PRIu32 " %10" PRIu32 "  %-*s  %-*s  %12s\n",
                    stream_text(r->client_stream, s1, sizeof s1),
                    stream_text(r->server_stream, s2, sizeof s2), r->client_seq, r->server_seq,
                    wc, tuple_text(&r->client, t1, sizeof t1), ws,
                    tuple_text(&r->server, t2, sizeof t2),
                    sm_duration_format(r->delta_ns, d, sizeof d));
        }
        break;
    }
    }
}

void sm_report_missing(FILE *out, enum sm_format fmt, const struct sm_missing_row *rows,
                       size_t n)
{
    char s1[24], f[SM_TIME_STRLEN], l[SM_TIME_STRLEN], t1[TUPLE_STRLEN];
    switch (fmt) {
    case SM_FORMAT_CSV:
        fprintf(out, "count,seq,client_src,client_sport,client_dst,client_dport,client_stream,"
                     "first,last\n");
        for (size_t i = 0; i < n; i++) {
            const struct sm_missing_row *r = &rows[i];
            fprintf(out, "%" PRIu32 ",%" PRIu32 ",", r->count, r->seq);
            tuple_csv(out, &r->client);
            fprintf(out, ",%s,%s,%s\n", stream_text(r->client_stream, s1, sizeof s1),
                    sm_time_format_rfc3339(r->first_ns, f, sizeof f),
                    sm_time_format_rfc3339(r->last_ns, l, sizeof l));
        }
        break;
    case SM_FORMAT_JSONL:
        for (size_t i = 0; i < n; i++) {
            const struct sm_missing_row *r = &rows[i];
            fprintf(out, "{\"table\":\"missing\",\"count\":%" PRIu32 ",\"seq\":%" PRIu32 ",",
                    r->count, r->seq);
            tuple_json(out, "client", &r->client);
            fprintf(out, ",\"client_stream\":%s,\"first\":\"%s\",\"last\":\"%s\"}\n",
                    stream_json(r->client_stream, s1, sizeof s1),
                    sm_time_format_rfc3339(r->first_ns, f, sizeof f),
                    sm_time_format_rfc3339(r->last_ns, l, sizeof l));
        }
        break;
    case SM_FORMAT_TABLE: {
        int wc = (int)strlen("client (src -> dst)");
        for (size_t i = 0; i < n; i++) {
            int a = (int)strlen(tuple_text(&rows[i].client, t1, sizeof t1));
            wc = a > wc ? a : wc;
        }
        fprintf(out, "%5s %10s  %-*s %13s  %-30s  %-30s\n", "count", "seq", wc,
                "client (src -> dst)", "client_stream", "first", "last");
        fprintf(out, "%5s %10s  %.*s %13s  %-30s  %-30s\n", "-----", "----------", wc,
                "----------------------------------------------------------------------------"
                "----------------------------------------------",
                "-------------", "------------------------------",
                "------------------------------");
        for (size_t i = 0; i < n; i++) {
            const struct sm_missing_row *r = &rows[i];
            fprintf(out, "%5" PRIu32 " %10" PRIu32 "  %-*s %13s  %-30s  %-30s\n", r->count,
                    r->seq, wc, tuple_text(&r->client, t1, sizeof t1),
                    stream_text(r->client_stream, s1, sizeof s1),
                    sm_time_format_rfc3339(r->first_ns, f, sizeof f),
                    sm_time_format_rfc3339(r->last_ns, l, sizeof l));
        }
        break;
    }
    }
}

static void endpoint_obj(FILE *out, const struct sm_tuple *t)
{
    char a[SM_ADDR_STRLEN], b[SM_ADDR_STRLEN];
    fprintf(out, "{\"src\":\"%s\",\"sport\":%u,\"dst\":\"%s\",\"dport\":%u}",
            sm_addr_format(&t->src, a, sizeof a), t->sport, sm_addr_format(&t->dst, b, sizeof b),
            t->dport);
}

void sm_report_verdict_json(FILE *out, const struct sm_verdict *v)
{
    char f[SM_TIME_STRLEN], l[SM_TIME_STRLEN], s1[24], d[32];
    fprintf(out, "{\"schema\":%d,\"verdict\":\"%s\",\"seq\":%" PRIu32 ",\"attempts\":%" PRIu32,
            SM_VERDICT_SCHEMA, sm_verdict_name(v->kind), v->isn, v->attempts);
    fprintf(out, ",\"first\":\"%s\",\"last\":\"%s\",\"client\":",
            sm_time_format_rfc3339(v->first_ns, f, sizeof f),
            sm_time_format_rfc3339(v->last_ns, l, sizeof l));
    endpoint_obj(out, &v->client);
    fprintf(out, ",\"client_stream\":%s,\"client_answer\":\"%s\"",
            stream_json(v->client_stream, s1, sizeof s1), sm_answer_name(v->client_answer));
    if (v->has_server) {
        fprintf(out, ",\"server\":");
        endpoint_obj(out, &v->server);
        fprintf(out,
                ",\"server_stream\":%s,\"server_seq\":%" PRIu32 ",\"server_first\":\"%s\","
                "\"server_attempts\":%" PRIu32 ",\"lost_before\":%" PRIu32
                ",\"delay\":%s,\"answer\":\"%s\"",
                stream_json(v->server_stream, s1, sizeof s1), v->server_seq,
                sm_time_format_rfc3339(v->server_first_ns, f, sizeof f), v->server_attempts,
                v->lost_before, sm_duration_format(v->delay_ns, d, sizeof d),
                sm_answer_name(v->server_answer));
        if (v->candidates > 1)
            fprintf(out, ",\"candidates\":%" PRIu32, v->candidates);
    } else {
        fprintf(out, ",\"server\":null");
    }
    if (v->reason)
        fprintf(out, ",\"reason\":\"%s\"", v->reason);
    fputs("}\n", out);
}
