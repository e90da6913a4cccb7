/*
 * report.c - result writers. Every number and time is printed the same way in every format:
 * sequence numbers as unsigned decimals (Wireshark's tcp.seq_raw), times as RFC 3339 UTC
 * with nanoseconds, durations as seconds with nine decimals.
 *
 * Each row is assembled in a line buffer with the fmt.h helpers and written with one fwrite:
 * a 1 GB capture pair yields half a million rows, and printf's format parsing per field
 * used to cost more than reading the captures.
 */
#include "synmatch/report.h"

#include <string.h>

#include "fmt.h"

#define LINE 1024 /* longer than any row: two IPv6 tuples and a few numbers */
#define TUPLE_MAX (2 * SM_FMT_ENDPOINT_MAX + 4)

static const char *const verdict_names[SM_V_COUNT] = {
    [SM_V_SUSPECT] = "suspect",
    [SM_V_MATCHED] = "matched",
    [SM_V_MISSING] = "missing",
    [SM_V_ANSWERED_BY_MIDDLEBOX] = "answered_by_middlebox",
    [SM_V_SENSOR_CAPTURE_LOSS] = "sensor_capture_loss",
    [SM_V_TRANSPORT_LOSS] = "transport_loss",
    [SM_V_SENSOR_DOWN] = "sensor_down",
    [SM_V_COLLECTOR_OVERLOAD] = "collector_overload",
    [SM_V_UNKNOWN] = "unknown",
    [SM_V_AMBIGUOUS] = "ambiguous",
};

const char *sm_verdict_name(enum sm_verdict_kind k)
{
    return (unsigned)k < SM_V_COUNT ? verdict_names[k] : "?";
}

const char *sm_answer_name(enum sm_answer a)
{
    switch (a) {
    case SM_ANSWER_SYNACK:
        return "syn-ack";
    case SM_ANSWER_RST:
        return "rst";
    default:
        return "none";
    }
}

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

static void put(FILE *out, const char *line, const char *end)
{
    fwrite(line, 1, (size_t)(end - line), out);
}

/* A stream index, or "-" (text) / "null" (JSON) when there is none. */
static char *stream_fmt(char *p, int64_t s, bool json)
{
    if (s == SM_STREAM_NONE)
        return sm_fmt_str(p, json ? "null" : "-");
    return sm_fmt_i64(p, s);
}

/* "src:sport -> dst:dport" */
static char *tuple_fmt(char *p, const struct sm_tuple *t)
{
    p = sm_fmt_endpoint(p, &t->src, t->sport);
    p = sm_fmt_str(p, " -> ");
    return sm_fmt_endpoint(p, &t->dst, t->dport);
}

/* The length of tuple_fmt()'s text, counted rather than written (the table's first pass). */
static int tuple_width(const struct sm_tuple *t)
{
    int brackets = (t->src.family == SM_AF_INET6) * 2 + (t->dst.family == SM_AF_INET6) * 2;
    return sm_fmt_addr_len(&t->src) + sm_fmt_addr_len(&t->dst) + sm_fmt_u64_len(t->sport) +
           sm_fmt_u64_len(t->dport) + brackets + 2 + 4; /* two ':' and " -> " */
}

/* src,sport,dst,dport (addresses never need CSV quoting) */
static char *tuple_csv(char *p, const struct sm_tuple *t)
{
    p = sm_fmt_addr(p, &t->src);
    *p++ = ',';
    p = sm_fmt_u64(p, t->sport);
    *p++ = ',';
    p = sm_fmt_addr(p, &t->dst);
    *p++ = ',';
    return sm_fmt_u64(p, t->dport);
}

/* "PREFIX_src":"..","PREFIX_sport":N,"PREFIX_dst":"..","PREFIX_dport":N */
static char *tuple_json(char *p, const char *prefix, const struct sm_tuple *t)
{
    static const char *const names[4] = {"_src\":\"", "_sport\":", "_dst\":\"", "_dport\":"};
    for (int i = 0; i < 4; i++) {
        if (i)
            *p++ = ',';
        *p++ = '"';
        p = sm_fmt_str(p, prefix);
        p = sm_fmt_str(p, names[i]);
        switch (i) {
        case 0:
            p = sm_fmt_addr(p, &t->src);
            *p++ = '"';
            break;
        case 1:
            p = sm_fmt_u64(p, t->sport);
            break;
        case 2:
            p = sm_fmt_addr(p, &t->dst);
            *p++ = '"';
            break;
        default:
            p = sm_fmt_u64(p, t->dport);
            break;
        }
    }
    return p;
}

/* A field of width w: text [s, e) right-aligned (right) or left-aligned. */
static char *field(char *p, const char *s, const char *e, int w, bool right)
{
    int n = (int)(e - s), pad = w - n;
    if (right)
        p = sm_fmt_pad(p, pad);
    memcpy(p, s, (size_t)n);
    p += n;
    if (!right)
        p = sm_fmt_pad(p, pad);
    return p;
}

static char *dashes(char *p, int n)
{
    memset(p, '-', (size_t)n);
    return p + n;
}

/* Prints a table header row and its dashes: names, widths, right-alignment per column. */
static void table_header(FILE *out, int ncol, const char *const *names, const int *w,
                         const bool *right, const char *const *seps)
{
    char line[LINE], *p = line;
    for (int i = 0; i < ncol; i++) {
        p = sm_fmt_str(p, seps[i]);
        p = field(p, names[i], names[i] + strlen(names[i]), w[i], right[i]);
    }
    *p++ = '\n';
    for (int i = 0; i < ncol; i++) {
        p = sm_fmt_str(p, seps[i]);
        p = dashes(p, w[i]);
    }
    *p++ = '\n';
    put(out, line, p);
}

void sm_report_map(FILE *out, enum sm_format fmt, const struct sm_map_row *rows, size_t n)
{
    char line[LINE];
    if (fmt == SM_FORMAT_CSV) {
        fputs("client_stream,server_stream,client_seq,server_seq,client_src,client_sport,"
              "client_dst,client_dport,server_src,server_sport,server_dst,server_dport,"
              "delta\n",
              out);
        for (size_t i = 0; i < n; i++) {
            const struct sm_map_row *r = &rows[i];
            char *p = line;
            p = stream_fmt(p, r->client_stream, false);
            *p++ = ',';
            p = stream_fmt(p, r->server_stream, false);
            *p++ = ',';
            p = sm_fmt_u64(p, r->client_seq);
            *p++ = ',';
            p = sm_fmt_u64(p, r->server_seq);
            *p++ = ',';
            p = tuple_csv(p, &r->client);
            *p++ = ',';
            p = tuple_csv(p, &r->server);
            *p++ = ',';
            p = sm_fmt_duration(p, r->delta_ns);
            *p++ = '\n';
            put(out, line, p);
        }
        return;
    }
    if (fmt == SM_FORMAT_JSONL) {
        for (size_t i = 0; i < n; i++) {
            const struct sm_map_row *r = &rows[i];
            char *p = sm_fmt_str(line, "{\"table\":\"map\",\"client_stream\":");
            p = stream_fmt(p, r->client_stream, true);
            p = sm_fmt_str(p, ",\"server_stream\":");
            p = stream_fmt(p, r->server_stream, true);
            p = sm_fmt_str(p, ",\"client_seq\":");
            p = sm_fmt_u64(p, r->client_seq);
            p = sm_fmt_str(p, ",\"server_seq\":");
            p = sm_fmt_u64(p, r->server_seq);
            *p++ = ',';
            p = tuple_json(p, "client", &r->client);
            *p++ = ',';
            p = tuple_json(p, "server", &r->server);
            p = sm_fmt_str(p, ",\"delta\":");
            p = sm_fmt_duration(p, r->delta_ns);
            p = sm_fmt_str(p, "}\n");
            put(out, line, p);
        }
        return;
    }
    static const char *const names[] = {"client_stream", "server_stream", "client_seq",
                                        "server_seq",    "client (src -> dst)",
                                        "server (src -> dst)", "delta (s)"};
    static const bool right[] = {true, true, true, true, false, false, true};
    static const char *const seps[] = {"", " ", " ", " ", "  ", "  ", "  "};
    int w[] = {13, 13, 10, 10, (int)strlen(names[4]), (int)strlen(names[5]), 12};
    for (size_t i = 0; i < n; i++) {
        int a = tuple_width(&rows[i].client), b = tuple_width(&rows[i].server);
        w[4] = a > w[4] ? a : w[4];
        w[5] = b > w[5] ? b : w[5];
    }
    table_header(out, 7, names, w, right, seps);
    for (size_t i = 0; i < n; i++) {
        const struct sm_map_row *r = &rows[i];
        char f[TUPLE_MAX], *e, *p = line;
        e = stream_fmt(f, r->client_stream, false);
        p = field(p, f, e, w[0], true);
        *p++ = ' ';
        e = stream_fmt(f, r->server_stream, false);
        p = field(p, f, e, w[1], true);
        *p++ = ' ';
        e = sm_fmt_u64(f, r->client_seq);
        p = field(p, f, e, w[2], true);
        *p++ = ' ';
        e = sm_fmt_u64(f, r->server_seq);
        p = field(p, f, e, w[3], true);
        p = sm_fmt_str(p, "  ");
        e = tuple_fmt(f, &r->client);
        p = field(p, f, e, w[4], false);
        p = sm_fmt_str(p, "  ");
        e = tuple_fmt(f, &r->server);
        p = field(p, f, e, w[5], false);
        p = sm_fmt_str(p, "  ");
        e = sm_fmt_duration(f, r->delta_ns);
        p = field(p, f, e, w[6], true);
        *p++ = '\n';
        put(out, line, p);
    }
}

void sm_report_missing(FILE *out, enum sm_format fmt, const struct sm_missing_row *rows,
                       size_t n)
{
    char line[LINE];
    if (fmt == SM_FORMAT_CSV) {
        fputs("count,seq,client_src,client_sport,client_dst,client_dport,client_stream,"
              "first,last\n",
              out);
        for (size_t i = 0; i < n; i++) {
            const struct sm_missing_row *r = &rows[i];
            char *p = sm_fmt_u64(line, r->count);
            *p++ = ',';
            p = sm_fmt_u64(p, r->seq);
            *p++ = ',';
            p = tuple_csv(p, &r->client);
            *p++ = ',';
            p = stream_fmt(p, r->client_stream, false);
            *p++ = ',';
            p = sm_fmt_rfc3339(p, r->first_ns);
            *p++ = ',';
            p = sm_fmt_rfc3339(p, r->last_ns);
            *p++ = '\n';
            put(out, line, p);
        }
        return;
    }
    if (fmt == SM_FORMAT_JSONL) {
        for (size_t i = 0; i < n; i++) {
            const struct sm_missing_row *r = &rows[i];
            char *p = sm_fmt_str(line, "{\"table\":\"missing\",\"count\":");
            p = sm_fmt_u64(p, r->count);
            p = sm_fmt_str(p, ",\"seq\":");
            p = sm_fmt_u64(p, r->seq);
            *p++ = ',';
            p = tuple_json(p, "client", &r->client);
            p = sm_fmt_str(p, ",\"client_stream\":");
            p = stream_fmt(p, r->client_stream, true);
            p = sm_fmt_str(p, ",\"first\":\"");
            p = sm_fmt_rfc3339(p, r->first_ns);
            p = sm_fmt_str(p, "\",\"last\":\"");
            p = sm_fmt_rfc3339(p, r->last_ns);
            p = sm_fmt_str(p, "\"}\n");
            put(out, line, p);
        }
        return;
    }
    static const char *const names[] = {"count", "seq",   "client (src -> dst)",
                                        "client_stream", "first", "last"};
    static const bool right[] = {true, true, false, true, false, false};
    static const char *const seps[] = {"", " ", "  ", " ", "  ", "  "};
    int w[] = {5, 10, (int)strlen(names[2]), 13, 30, 30};
    for (size_t i = 0; i < n; i++) {
        int a = tuple_width(&rows[i].client);
        w[2] = a > w[2] ? a : w[2];
    }
    table_header(out, 6, names, w, right, seps);
    for (size_t i = 0; i < n; i++) {
        const struct sm_missing_row *r = &rows[i];
        char f[TUPLE_MAX], *e, *p = line;
        e = sm_fmt_u64(f, r->count);
        p = field(p, f, e, w[0], true);
        *p++ = ' ';
        e = sm_fmt_u64(f, r->seq);
        p = field(p, f, e, w[1], true);
        p = sm_fmt_str(p, "  ");
        e = tuple_fmt(f, &r->client);
        p = field(p, f, e, w[2], false);
        *p++ = ' ';
        e = stream_fmt(f, r->client_stream, false);
        p = field(p, f, e, w[3], true);
        p = sm_fmt_str(p, "  ");
        e = sm_fmt_rfc3339(f, r->first_ns);
        p = field(p, f, e, w[4], false);
        p = sm_fmt_str(p, "  ");
        e = sm_fmt_rfc3339(f, r->last_ns);
        p = field(p, f, e, w[5], false);
        *p++ = '\n';
        put(out, line, p);
    }
}

/* {"src":"..","sport":N,"dst":"..","dport":N} */
static char *endpoint_obj(char *p, const struct sm_tuple *t)
{
    p = sm_fmt_str(p, "{\"src\":\"");
    p = sm_fmt_addr(p, &t->src);
    p = sm_fmt_str(p, "\",\"sport\":");
    p = sm_fmt_u64(p, t->sport);
    p = sm_fmt_str(p, ",\"dst\":\"");
    p = sm_fmt_addr(p, &t->dst);
    p = sm_fmt_str(p, "\",\"dport\":");
    p = sm_fmt_u64(p, t->dport);
    *p++ = '}';
    return p;
}

void sm_report_verdict_json(FILE *out, const struct sm_verdict *v)
{
    char line[SM_REPORT_LINE_MAX];
    fwrite(line, 1, sm_report_verdict_line(line, v), out);
}

size_t sm_report_verdict_line(char *line, const struct sm_verdict *v)
{
    char *p = sm_fmt_str(line, "{\"schema\":");
    p = sm_fmt_u64(p, SM_VERDICT_SCHEMA);
    p = sm_fmt_str(p, ",\"verdict\":\"");
    p = sm_fmt_str(p, sm_verdict_name(v->kind));
    p = sm_fmt_str(p, "\",\"seq\":");
    p = sm_fmt_u64(p, v->isn);
    p = sm_fmt_str(p, ",\"attempts\":");
    p = sm_fmt_u64(p, v->attempts);
    p = sm_fmt_str(p, ",\"first\":\"");
    p = sm_fmt_rfc3339(p, v->first_ns);
    p = sm_fmt_str(p, "\",\"last\":\"");
    p = sm_fmt_rfc3339(p, v->last_ns);
    p = sm_fmt_str(p, "\",\"client\":");
    p = endpoint_obj(p, &v->client);
    p = sm_fmt_str(p, ",\"client_stream\":");
    p = stream_fmt(p, v->client_stream, true);
    p = sm_fmt_str(p, ",\"client_answer\":\"");
    p = sm_fmt_str(p, sm_answer_name(v->client_answer));
    *p++ = '"';
    if (v->has_server) {
        p = sm_fmt_str(p, ",\"server\":");
        p = endpoint_obj(p, &v->server);
        p = sm_fmt_str(p, ",\"server_stream\":");
        p = stream_fmt(p, v->server_stream, true);
        p = sm_fmt_str(p, ",\"server_seq\":");
        p = sm_fmt_u64(p, v->server_seq);
        p = sm_fmt_str(p, ",\"server_first\":\"");
        p = sm_fmt_rfc3339(p, v->server_first_ns);
        p = sm_fmt_str(p, "\",\"server_attempts\":");
        p = sm_fmt_u64(p, v->server_attempts);
        p = sm_fmt_str(p, ",\"lost_before\":");
        p = sm_fmt_u64(p, v->lost_before);
        p = sm_fmt_str(p, ",\"delay\":");
        p = sm_fmt_duration(p, v->delay_ns);
        p = sm_fmt_str(p, ",\"answer\":\"");
        p = sm_fmt_str(p, sm_answer_name(v->server_answer));
        *p++ = '"';
        if (v->candidates > 1) {
            p = sm_fmt_str(p, ",\"candidates\":");
            p = sm_fmt_u64(p, v->candidates);
        }
    } else {
        p = sm_fmt_str(p, ",\"server\":null");
    }
    if (v->reason) {
        p = sm_fmt_str(p, ",\"reason\":\"");
        p = sm_fmt_str(p, v->reason);
        *p++ = '"';
    }
    p = sm_fmt_str(p, "}\n");
    return (size_t)(p - line);
}
