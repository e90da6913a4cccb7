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

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "addr.h"
#include "fmt.h"
#include "hugemem.h"
#include "synmatch/communityid.h"

#define LINE 1024 /* longer than any row: two IPv6 tuples and a few numbers */
#define TUPLE_MAX (2 * SM_FMT_ENDPOINT_MAX + 4)

static const char *const verdict_names[SM_V_COUNT] = {
    [SM_V_SUSPECT] = "suspect",
    [SM_V_MATCHED] = "matched",
    [SM_V_MISSING] = "missing",
    [SM_V_REFUSED] = "refused",
    [SM_V_REPLY_LOST] = "reply_lost",
    [SM_V_UNANSWERED] = "unanswered",
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

/* ---- compare's tables: one writer, the columns of each table described ----------------- */

enum col {
    C_CLIENT_STREAM,
    C_SERVER_STREAM,
    C_CLIENT_SEQ,
    C_SERVER_SEQ,
    C_COUNT,
    C_CLIENT_TUPLE, /* table: one "src:sport -> dst:dport" column; csv, jsonl: four */
    C_SERVER_TUPLE,
    C_DELTA,
    C_VERDICT,
    C_FIRST,
    C_LAST,
    C_CLIENT_ANSWER,
    C_SERVER_ANSWER,
    C_REASON,
    C_INSIDE,
    C_MATCH,
    C_COMMUNITY_ID,        /* of the client's tuple */
    C_SERVER_COMMUNITY_ID, /* of the server's, when it differs from the client's (NAT) */
};

struct column {
    enum col col;
    const char *name;  /* csv header and jsonl key (the prefix of a tuple's four) */
    const char *title; /* table header */
    int width;         /* table: at least this wide; variable columns grow to their cells */
    bool right;        /* table: right-aligned */
    int gap;           /* table: spaces before it (0 to 2) */
};

#define MAX_COLUMNS 13

static const struct table_spec {
    const char *name;
    int ncol;
    struct column c[MAX_COLUMNS];
} tables[SM_TABLE_COUNT] = {
    [SM_TABLE_MAP] = {"map", 11, {
        {C_CLIENT_STREAM, "client_stream", "client_stream", 13, true, 0},
        {C_SERVER_STREAM, "server_stream", "server_stream", 13, true, 1},
        {C_CLIENT_SEQ, "client_seq", "client_seq", 10, true, 1},
        {C_SERVER_SEQ, "server_seq", "server_seq", 10, true, 1},
        {C_CLIENT_TUPLE, "client", "client (src -> dst)", 0, false, 2},
        {C_SERVER_TUPLE, "server", "server (src -> dst)", 0, false, 2},
        {C_DELTA, "delta", "delta (s)", 12, true, 2},
        {C_VERDICT, "verdict", "verdict", 0, false, 2},
        {C_MATCH, "match", "match", 0, false, 2},
        {C_COMMUNITY_ID, "community_id", "community_id", SM_COMMUNITY_ID_LEN, false, 2},
        {C_SERVER_COMMUNITY_ID, "server_community_id", "server_community_id",
         SM_COMMUNITY_ID_LEN, false, 2},
    }},
    [SM_TABLE_MISSING] = {"missing", 7, {
        {C_COUNT, "count", "count", 5, true, 0},
        {C_CLIENT_SEQ, "seq", "seq", 10, true, 1},
        {C_CLIENT_TUPLE, "client", "client (src -> dst)", 0, false, 2},
        {C_CLIENT_STREAM, "client_stream", "client_stream", 13, true, 1},
        {C_FIRST, "first", "first", 30, false, 2},
        {C_LAST, "last", "last", 30, false, 2},
        {C_COMMUNITY_ID, "community_id", "community_id", SM_COMMUNITY_ID_LEN, false, 2},
    }},
    [SM_TABLE_BROKEN] = {"broken", 13, {
        {C_VERDICT, "verdict", "verdict", 0, false, 0},
        {C_COUNT, "count", "count", 5, true, 2},
        {C_CLIENT_SEQ, "seq", "seq", 10, true, 1},
        {C_CLIENT_TUPLE, "client", "client (src -> dst)", 0, false, 2},
        {C_CLIENT_STREAM, "client_stream", "client_stream", 13, true, 1},
        {C_SERVER_STREAM, "server_stream", "server_stream", 13, true, 1},
        {C_SERVER_ANSWER, "server_answer", "server sent", 11, false, 2},
        {C_CLIENT_ANSWER, "client_answer", "client got", 10, false, 2},
        {C_FIRST, "first", "first", 30, false, 2},
        {C_LAST, "last", "last", 30, false, 2},
        {C_REASON, "reason", "reason", 0, false, 2},
        {C_COMMUNITY_ID, "community_id", "community_id", SM_COMMUNITY_ID_LEN, false, 2},
        {C_SERVER_COMMUNITY_ID, "server_community_id", "server_community_id",
         SM_COMMUNITY_ID_LEN, false, 2},
    }},
    [SM_TABLE_UNWITNESSED] = {"unwitnessed", 10, {
        {C_VERDICT, "verdict", "verdict", 0, false, 0},
        {C_REASON, "reason", "reason", 0, false, 2},
        {C_COUNT, "count", "count", 5, true, 2},
        {C_CLIENT_SEQ, "seq", "seq", 10, true, 1},
        {C_CLIENT_TUPLE, "client", "client (src -> dst)", 0, false, 2},
        {C_CLIENT_STREAM, "client_stream", "client_stream", 13, true, 1},
        {C_FIRST, "first", "first", 30, false, 2},
        {C_LAST, "last", "last", 30, false, 2},
        {C_INSIDE, "attempts_inside", "inside", 6, true, 1},
        {C_COMMUNITY_ID, "community_id", "community_id", SM_COMMUNITY_ID_LEN, false, 2},
    }},
};

const char *sm_table_name(enum sm_table t)
{
    return (unsigned)t < SM_TABLE_COUNT ? tables[t].name : "?";
}

enum sm_table sm_table_of(enum sm_verdict_kind k)
{
    switch (k) {
    case SM_V_MATCHED:
        return SM_TABLE_COUNT; /* the map alone */
    case SM_V_MISSING:
        return SM_TABLE_MISSING;
    case SM_V_REFUSED:
    case SM_V_REPLY_LOST:
    case SM_V_UNANSWERED:
    case SM_V_ANSWERED_BY_MIDDLEBOX:
        return SM_TABLE_BROKEN;
    case SM_V_SUSPECT:
        return SM_TABLE_COUNT;
    default:
        return SM_TABLE_UNWITNESSED;
    }
}

void sm_row_from_verdict(struct sm_row *row, const struct sm_verdict *v)
{
    memset(row, 0, sizeof *row);
    row->kind = (uint8_t)v->kind;
    row->reason = v->reason;
    row->attempts = v->attempts;
    row->seq = v->isn;
    row->attempts_inside = v->attempts_inside;
    row->client = v->client;
    row->client_stream = v->client_stream;
    row->first_ns = v->first_ns;
    row->last_ns = v->last_ns;
    row->client_answer = (uint8_t)v->client_answer;
    row->has_server = v->has_server;
    row->server_stream = v->has_server ? v->server_stream : SM_STREAM_NONE;
    if (v->has_server) {
        row->server = v->server;
        row->server_seq = v->server_seq;
        row->delta_ns = v->delay_ns;
        row->server_answer = (uint8_t)v->server_answer;
        row->fingerprint = v->fingerprint;
    }
}

/* A string cell, or none ("-" in a table, empty in csv, null in jsonl). */
static char *text_cell(char *p, const char *s, enum sm_format fmt)
{
    if (s == NULL)
        return fmt == SM_FORMAT_JSONL ? sm_fmt_str(p, "null")
                                      : fmt == SM_FORMAT_TABLE ? sm_fmt_str(p, "-") : p;
    if (fmt == SM_FORMAT_JSONL)
        *p++ = '"';
    p = sm_fmt_str(p, s); /* only fixed names: nothing to escape or quote */
    if (fmt == SM_FORMAT_JSONL)
        *p++ = '"';
    return p;
}

static bool tuple_eq(const struct sm_tuple *a, const struct sm_tuple *b)
{
    return a->sport == b->sport && a->dport == b->dport && sm_addr_eq(&a->src, &b->src) &&
           sm_addr_eq(&a->dst, &b->dst);
}

/* Whether row r prints a server_community_id: the server saw it through NAT (another tuple). */
static bool prints_server_id(const struct sm_row *r)
{
    return r->has_server && !tuple_eq(&r->client, &r->server);
}

/* A row's Community IDs as its writer has them: computed ahead for a chunk of rows, many at
 * once (rows_text()), or not (NULL: computed in the cell). Either way only when the row is
 * written, never kept. */
struct row_ids {
    uint16_t seed;
    const char *client; /* SM_COMMUNITY_ID_LEN characters, or NULL */
    const char *server;
};

/* A Community ID cell: the one computed ahead, or computed here. */
static char *community_id_cell(char *p, const struct sm_tuple *t, const char *ahead,
                               uint16_t seed, enum sm_format fmt)
{
    if (fmt == SM_FORMAT_JSONL)
        *p++ = '"';
    if (ahead != NULL) {
        memcpy(p, ahead, SM_COMMUNITY_ID_LEN);
        p += SM_COMMUNITY_ID_LEN;
    } else {
        p = sm_community_id_tcp(p, t, seed);
    }
    if (fmt == SM_FORMAT_JSONL)
        *p++ = '"';
    return p;
}

/* How a row was matched (the match column). */
static const char *match_name(bool fingerprint)
{
    return fingerprint ? "fingerprint" : "isn";
}

/* The value of column c for row r (the four fields of a tuple in csv), at p. */
static char *cell(char *p, const struct column *c, const struct sm_row *r, enum sm_format fmt,
                  const struct row_ids *ids)
{
    bool json = fmt == SM_FORMAT_JSONL;
    switch (c->col) {
    case C_CLIENT_STREAM:
        return stream_fmt(p, r->client_stream, json);
    case C_SERVER_STREAM:
        return stream_fmt(p, r->server_stream, json);
    case C_CLIENT_SEQ:
        return sm_fmt_u64(p, r->seq);
    case C_SERVER_SEQ:
        return sm_fmt_u64(p, r->server_seq);
    case C_COUNT:
        return sm_fmt_u64(p, r->attempts);
    case C_CLIENT_TUPLE:
    case C_SERVER_TUPLE: {
        const struct sm_tuple *t = c->col == C_CLIENT_TUPLE ? &r->client : &r->server;
        if (fmt == SM_FORMAT_CSV)
            return tuple_csv(p, t);
        return tuple_fmt(p, t);
    }
    case C_DELTA:
        return sm_fmt_duration(p, r->delta_ns);
    case C_VERDICT:
        return text_cell(p, sm_verdict_name(r->kind), fmt);
    case C_FIRST:
    case C_LAST:
        if (json)
            *p++ = '"';
        p = sm_fmt_rfc3339(p, c->col == C_FIRST ? r->first_ns : r->last_ns);
        if (json)
            *p++ = '"';
        return p;
    case C_CLIENT_ANSWER:
        return text_cell(p, sm_answer_name(r->client_answer), fmt);
    case C_SERVER_ANSWER:
        return text_cell(p, r->has_server ? sm_answer_name(r->server_answer) : NULL, fmt);
    case C_REASON:
        return text_cell(p, r->reason, fmt);
    case C_INSIDE:
        return sm_fmt_u64(p, r->attempts_inside);
    case C_MATCH:
        return text_cell(p, match_name(r->fingerprint), fmt);
    case C_COMMUNITY_ID:
        return community_id_cell(p, &r->client, ids->client, ids->seed, fmt);
    case C_SERVER_COMMUNITY_ID:
        if (!prints_server_id(r))
            return text_cell(p, NULL, fmt);
        return community_id_cell(p, &r->server, ids->server, ids->seed, fmt);
    }
    return p;
}

/* The table width of a variable column's cell, counted where that is cheap. */
static int cell_width(const struct column *c, const struct sm_row *r)
{
    switch (c->col) {
    case C_CLIENT_TUPLE:
        return tuple_width(&r->client);
    case C_SERVER_TUPLE:
        return tuple_width(&r->server);
    default: {
        char f[TUPLE_MAX];
        const struct row_ids none = {0, NULL, NULL};
        return (int)(cell(f, c, r, SM_FORMAT_TABLE, &none) - f);
    }
    }
}

/* The csv header row at p. */
static char *csv_header(char *p, const struct table_spec *ts)
{
    for (int i = 0; i < ts->ncol; i++) {
        const struct column *c = &ts->c[i];
        if (i)
            *p++ = ',';
        if (c->col == C_CLIENT_TUPLE || c->col == C_SERVER_TUPLE) {
            static const char *const f[4] = {"_src,", "_sport,", "_dst,", "_dport"};
            for (int k = 0; k < 4; k++) {
                p = sm_fmt_str(p, c->name);
                p = sm_fmt_str(p, f[k]);
            }
        } else {
            p = sm_fmt_str(p, c->name);
        }
    }
    *p++ = '\n';
    return p;
}

/* The end of [line, p) without trailing blanks (a left-aligned last column pads). */
static char *trim(const char *line, char *p)
{
    while (p > line && p[-1] == ' ')
        p--;
    return p;
}

/*
 * The table's column widths over rows [0, n): titles, fixed widths, and the widest cell of
 * each variable column. It is the pass over all rows that must come before any row is
 * written (for a large table, two threads each take half: write_table_parallel()): one pass
 * for all columns (the map of a 1 GB pair is 70 MB of rows, and a pass per column read it
 * four times), and a verdict's or a match's cell is one of a few names, so only which of
 * them occur is collected and each measured once.
 */
static void table_widths(int w[MAX_COLUMNS], const struct table_spec *ts,
                         const struct sm_row *rows, size_t n)
{
    int var[MAX_COLUMNS], nvar = 0;
    for (int i = 0; i < ts->ncol; i++) {
        int t = (int)strlen(ts->c[i].title);
        w[i] = ts->c[i].width > t ? ts->c[i].width : t;
        if (ts->c[i].width == 0) /* variable; a fixed one's cells never exceed it */
            var[nvar++] = i;
    }
    _Static_assert(SM_V_COUNT <= 32, "a verdict kind is a bit of kinds");
    uint32_t kinds = 0;
    bool match[2] = {false, false};
    for (size_t k = 0; k < n; k++) {
        const struct sm_row *r = &rows[k];
        for (int v = 0; v < nvar; v++) {
            const struct column *c = &ts->c[var[v]];
            int cw;
            if (c->col == C_VERDICT && r->kind < SM_V_COUNT) {
                kinds |= 1u << r->kind;
                continue;
            }
            if (c->col == C_MATCH) {
                match[r->fingerprint] = true;
                continue;
            }
            cw = cell_width(c, r);
            w[var[v]] = cw > w[var[v]] ? cw : w[var[v]];
        }
    }
    for (int v = 0; v < nvar; v++) {
        const struct column *c = &ts->c[var[v]];
        int cw = 0;
        if (c->col == C_VERDICT) {
            for (unsigned kind = 0; kind < SM_V_COUNT; kind++)
                if (kinds >> kind & 1) {
                    int l = (int)strlen(sm_verdict_name((enum sm_verdict_kind)kind));
                    cw = l > cw ? l : cw;
                }
        } else if (c->col == C_MATCH) {
            for (int f = 0; f < 2; f++)
                if (match[f] && (int)strlen(match_name(f)) > cw)
                    cw = (int)strlen(match_name(f));
        }
        w[var[v]] = cw > w[var[v]] ? cw : w[var[v]];
    }
}

/* n spaces (any n; none when n <= 0) in stores of 16 bytes, up to 15 of them scratch past the
 * end: a row's padding without a call to memset. */
static char *pad(char *p, int n)
{
    for (int i = 0; i < n; i += 16)
        memcpy(p + i, "                ", 16);
    return p + (n > 0 ? n : 0);
}

/* gap spaces (0 to 2): one two-byte store */
static char *gap(char *p, int n)
{
    p[0] = ' ';
    p[1] = ' ';
    return p + n;
}

/* The table's title line and dashes at p. */
static char *table_header(char *p, const struct table_spec *ts, const int *w)
{
    char *line = p;
    for (int i = 0; i < ts->ncol; i++) {
        p = gap(p, ts->c[i].gap);
        p = field(p, ts->c[i].title, ts->c[i].title + strlen(ts->c[i].title), w[i],
                  ts->c[i].right);
    }
    p = trim(line, p);
    *p++ = '\n';
    for (int i = 0; i < ts->ncol; i++) {
        p = gap(p, ts->c[i].gap);
        p = dashes(p, w[i]);
    }
    *p++ = '\n';
    return p;
}

/* What formatting a row needs besides the row. */
struct rowfmt {
    const struct table_spec *ts;
    enum sm_format fmt;
    int w[MAX_COLUMNS]; /* table only */
    uint16_t seed;
};

/* One row as a line (with its newline) at p, at most LINE bytes. */
static char *row_line(char *p, const struct rowfmt *rf, const struct sm_row *r,
                      const struct row_ids *ids)
{
    const struct table_spec *ts = rf->ts;
    char *line = p;
    switch (rf->fmt) {
    case SM_FORMAT_CSV:
        for (int i = 0; i < ts->ncol; i++) {
            if (i)
                *p++ = ',';
            p = cell(p, &ts->c[i], r, SM_FORMAT_CSV, ids);
        }
        break;
    case SM_FORMAT_JSONL:
        p = sm_fmt_str(p, "{\"table\":\"");
        p = sm_fmt_str(p, ts->name);
        *p++ = '"';
        for (int i = 0; i < ts->ncol; i++) {
            const struct column *c = &ts->c[i];
            *p++ = ',';
            if (c->col == C_CLIENT_TUPLE || c->col == C_SERVER_TUPLE) {
                p = tuple_json(p, c->name, c->col == C_CLIENT_TUPLE ? &r->client : &r->server);
                continue;
            }
            *p++ = '"';
            p = sm_fmt_str(p, c->name);
            p = sm_fmt_str(p, "\":");
            p = cell(p, c, r, SM_FORMAT_JSONL, ids);
        }
        *p++ = '}';
        break;
    case SM_FORMAT_TABLE:
        /* Left-aligned cells are written in place and padded (the last not at all: the line
         * is trimmed); right-aligned ones (numbers, at most 21 characters) are written aside
         * and copied as a fixed 32 bytes behind their padding, without a call. A row is far
         * shorter than LINE: the copy's excess lands in the buffer and is written over. */
        for (int i = 0; i < ts->ncol; i++) {
            const struct column *c = &ts->c[i];
            p = gap(p, c->gap);
            if (c->right) {
                char f[32];
                int len = (int)(cell(f, c, r, SM_FORMAT_TABLE, ids) - f);
                p = pad(p, rf->w[i] - len);
                memcpy(p, f, sizeof f);
                p += len;
            } else {
                char *s = p;
                p = cell(p, c, r, SM_FORMAT_TABLE, ids);
                if (i + 1 < ts->ncol)
                    p = pad(p, rf->w[i] - (int)(p - s));
            }
        }
        p = trim(line, p);
        break;
    }
    *p++ = '\n';
    return p;
}

/* Whether table ts has a column col. */
static bool has_column(const struct table_spec *ts, enum col col)
{
    for (int i = 0; i < ts->ncol; i++)
        if (ts->c[i].col == col)
            return true;
    return false;
}

#define CHUNK_ROWS 512

/*
 * Rows [lo, hi) at buf (room for (hi - lo) * LINE bytes), at most CHUNK_ROWS of them. Their
 * Community IDs are computed first, all at once (sixteen SHA-1s side by side where the CPU
 * allows: half an ID's cost, and the IDs were half a row's). Returns the length written.
 */
static size_t rows_text(char *buf, const struct rowfmt *rf, const struct sm_row *rows,
                        size_t lo, size_t hi)
{
    const struct sm_tuple *tp[2 * CHUNK_ROWS];
    tp[0] = NULL; /* (GCC cannot tell that only the n set below are read) */
    char ids[2 * CHUNK_ROWS][SM_COMMUNITY_ID_LEN];
    int at[CHUNK_ROWS][2];
    bool want_c = has_column(rf->ts, C_COMMUNITY_ID);
    bool want_s = has_column(rf->ts, C_SERVER_COMMUNITY_ID);
    size_t n = 0;
    for (size_t k = lo; k < hi; k++) {
        const struct sm_row *r = &rows[k];
        at[k - lo][0] = at[k - lo][1] = -1;
        if (want_c) {
            at[k - lo][0] = (int)n;
            tp[n++] = &r->client;
        }
        if (want_s && prints_server_id(r)) {
            at[k - lo][1] = (int)n;
            tp[n++] = &r->server;
        }
    }
    sm_community_id_tcp_many(ids, tp, n, rf->seed);
    char *p = buf;
    for (size_t k = lo; k < hi; k++) {
        const int *a = at[k - lo];
        const struct row_ids ri = {rf->seed, a[0] >= 0 ? ids[a[0]] : NULL,
                                   a[1] >= 0 ? ids[a[1]] : NULL};
        p = row_line(p, rf, &rows[k], &ri);
    }
    return (size_t)(p - buf);
}

/*
 * Large tables are written by two threads. compare writes its tables once both files are
 * read, when the reader threads have ended and one core would sit idle, and a row costs
 * about half a microsecond: the 1 GB pair's half a million map rows took a fifth of
 * compare's time on one thread. For the table format the two first measure the column
 * widths, each over half the rows. Then rows are cut into chunks, formatted into a ring of
 * NBUF buffers: each thread takes the next chunk whose buffer is free, and the caller writes
 * the chunks in order, so the bytes and their order are the same as one thread's. Taken on
 * demand, not turn about: with the odd chunks the helper's and the even ones the caller's,
 * the caller formatted its half a fifth faster than the helper (measured, not explained) and
 * then waited for it, 0.6-2 ms of the 6 ms the map's rows took on a 100 MB pair. Without
 * memory or a thread, one thread does it all.
 */
#define PARALLEL_MIN_ROWS (4 * CHUNK_ROWS)
#define NBUF 4 /* chunk buffers: one huge page */
_Static_assert(NBUF * CHUNK_ROWS * LINE == SM_HUGE_PAGE, "the chunk buffers fill one huge page");

struct pipeline {
    struct rowfmt *rf; /* its widths are final once widths_final is set */
    const struct sm_row *rows;
    size_t n, nchunks;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int w[MAX_COLUMNS]; /* the helper's widths of the second half of the rows */
    bool widths_done;   /* w holds them */
    bool widths_final;  /* the caller merged them into rf and wrote the header */
    char *buf[NBUF];    /* chunk c goes into buf[c % NBUF] */
    size_t len[NBUF];
    bool ready[NBUF];   /* buf[i] holds its chunk, formatted, not written yet */
    size_t next;        /* the first chunk nobody has taken */
    size_t written;     /* chunks written; chunk c's buffer is free once c < written + NBUF */
};

static void chunk_bounds(const struct pipeline *pl, size_t c, size_t *lo, size_t *hi)
{
    *lo = c * CHUNK_ROWS;
    *hi = *lo + CHUNK_ROWS < pl->n ? *lo + CHUNK_ROWS : pl->n;
}

/* Sets *flag under the lock and wakes the other thread. */
static void signal_flag(struct pipeline *pl, bool *flag, bool v)
{
    pthread_mutex_lock(&pl->mu);
    *flag = v;
    pthread_cond_broadcast(&pl->cv);
    pthread_mutex_unlock(&pl->mu);
}

/* Waits until *flag is v. */
static void wait_flag(struct pipeline *pl, const bool *flag, bool v)
{
    pthread_mutex_lock(&pl->mu);
    while (*flag != v)
        pthread_cond_wait(&pl->cv, &pl->mu);
    pthread_mutex_unlock(&pl->mu);
}

/* Formats chunk c, taken under the lock (held on entry and on return), into its buffer. */
static void format_chunk(struct pipeline *pl, size_t c)
{
    pthread_mutex_unlock(&pl->mu);
    size_t lo, hi;
    chunk_bounds(pl, c, &lo, &hi);
    size_t len = rows_text(pl->buf[c % NBUF], pl->rf, pl->rows, lo, hi);
    pthread_mutex_lock(&pl->mu);
    pl->len[c % NBUF] = len;
    pl->ready[c % NBUF] = true;
    pthread_cond_broadcast(&pl->cv);
}

static void *helper_main(void *arg)
{
    struct pipeline *pl = arg;
    if (pl->rf->fmt == SM_FORMAT_TABLE) {
        table_widths(pl->w, pl->rf->ts, pl->rows + pl->n / 2, pl->n - pl->n / 2);
        signal_flag(pl, &pl->widths_done, true);
        wait_flag(pl, &pl->widths_final, true);
    }
    pthread_mutex_lock(&pl->mu);
    for (;;) {
        while (pl->next < pl->nchunks && pl->next >= pl->written + NBUF)
            pthread_cond_wait(&pl->cv, &pl->mu);
        if (pl->next >= pl->nchunks)
            break;
        format_chunk(pl, pl->next++);
    }
    pthread_mutex_unlock(&pl->mu);
    return NULL;
}

/* Writes the table (header and rows) with a helper thread. Returns 0, or -1 when none could
 * be started (nothing written then). */
static int write_table_parallel(FILE *out, struct rowfmt *rf, const struct sm_row *rows,
                                size_t n)
{
    struct pipeline pl = {.rf = rf, .rows = rows, .n = n,
                          .nchunks = (n + CHUNK_ROWS - 1) / CHUNK_ROWS};
    /* The chunk buffers in one huge page (hugemem.h): in 4 KiB pages their first touches were
     * a tenth of compare's page faults on a 100 MB pair. */
    const size_t chunk_bytes = (size_t)CHUNK_ROWS * LINE, bytes = NBUF * chunk_bytes;
    char *mine = sm_huge_alloc(bytes);
    pthread_t helper;
    bool started = false;
    if (mine != NULL)
        for (int i = 0; i < NBUF; i++)
            pl.buf[i] = mine + (size_t)i * chunk_bytes;
    if (mine && pthread_mutex_init(&pl.mu, NULL) == 0) {
        if (pthread_cond_init(&pl.cv, NULL) == 0) {
            started = pthread_create(&helper, NULL, helper_main, &pl) == 0;
            if (!started)
                pthread_cond_destroy(&pl.cv);
        }
        if (!started)
            pthread_mutex_destroy(&pl.mu);
    }
    if (!started) {
        sm_huge_free(mine, bytes);
        return -1;
    }
    char head[2 * LINE], *p = head;
    if (rf->fmt == SM_FORMAT_CSV) {
        p = csv_header(p, rf->ts);
    } else if (rf->fmt == SM_FORMAT_TABLE) {
        table_widths(rf->w, rf->ts, rows, n / 2);
        wait_flag(&pl, &pl.widths_done, true);
        for (int i = 0; i < rf->ts->ncol; i++)
            rf->w[i] = pl.w[i] > rf->w[i] ? pl.w[i] : rf->w[i];
        p = table_header(p, rf->ts, rf->w);
        signal_flag(&pl, &pl.widths_final, true);
    }
    put(out, head, p);
    pthread_mutex_lock(&pl.mu);
    for (size_t c = 0; c < pl.nchunks; c++) {
        int b = (int)(c % NBUF);
        /* Until chunk c is formatted, format the next chunk there is room for, if any. */
        while (!pl.ready[b]) {
            if (pl.next < pl.nchunks && pl.next < pl.written + NBUF)
                format_chunk(&pl, pl.next++);
            else
                pthread_cond_wait(&pl.cv, &pl.mu);
        }
        pthread_mutex_unlock(&pl.mu);
        fwrite(pl.buf[b], 1, pl.len[b], out);
        pthread_mutex_lock(&pl.mu);
        pl.ready[b] = false;
        pl.written++;
        pthread_cond_broadcast(&pl.cv);
    }
    pthread_mutex_unlock(&pl.mu);
    pthread_join(helper, NULL);
    pthread_cond_destroy(&pl.cv);
    pthread_mutex_destroy(&pl.mu);
    sm_huge_free(mine, bytes);
    return 0;
}

void sm_report_table(FILE *out, enum sm_format fmt, enum sm_table t, const struct sm_row *rows,
                     size_t n, uint16_t community_id_seed)
{
    struct rowfmt rf = {.ts = &tables[t], .fmt = fmt, .seed = community_id_seed};
    if (n >= PARALLEL_MIN_ROWS && write_table_parallel(out, &rf, rows, n) == 0)
        return;
    char line[2 * LINE], *p = line;
    if (fmt == SM_FORMAT_CSV) {
        p = csv_header(p, rf.ts);
    } else if (fmt == SM_FORMAT_TABLE) {
        table_widths(rf.w, rf.ts, rows, n);
        p = table_header(p, rf.ts, rf.w);
    }
    put(out, line, p);
    const struct row_ids ids = {community_id_seed, NULL, NULL};
    for (size_t k = 0; k < n; k++) {
        p = row_line(line, &rf, &rows[k], &ids);
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

void sm_report_verdict_json(FILE *out, const struct sm_verdict *v, uint16_t community_id_seed)
{
    char line[SM_REPORT_LINE_MAX];
    fwrite(line, 1, sm_report_verdict_line(line, v, community_id_seed), out);
}

size_t sm_report_verdict_line(char *line, const struct sm_verdict *v, uint16_t community_id_seed)
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
    p = sm_fmt_str(p, "\",\"replies_received\":");
    p = sm_fmt_u64(p, v->replies_received);
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
        p = sm_fmt_str(p, "\",\"reply_attempts\":");
        p = sm_fmt_u64(p, v->reply_attempts);
        int64_t rd;
        if (sm_verdict_reply_delay(v, &rd)) {
            p = sm_fmt_str(p, ",\"reply_delay\":");
            p = sm_fmt_duration(p, rd);
        }
        if (v->kind == SM_V_ANSWERED_BY_MIDDLEBOX)
            p = sm_fmt_str(p, ",\"server_saw_syn\":true");
        if (v->proxied) {
            /* the proxy's answer as the client saw it; the server's to the proxy's SYN */
            p = sm_fmt_str(p, ",\"proxied\":true,\"proxy_rtt\":");
            p = sm_fmt_duration(p, v->proxy_rtt_ns);
            if (v->server_answer != SM_ANSWER_NONE) {
                p = sm_fmt_str(p, ",\"server_answer_delay\":");
                p = sm_fmt_duration(p, v->server_answer_ns - v->server_first_ns);
            }
        }
        if (v->syncookies)
            p = sm_fmt_str(p, ",\"syncookies\":true");
        if (v->candidates > 1) {
            p = sm_fmt_str(p, ",\"candidates\":");
            p = sm_fmt_u64(p, v->candidates);
        }
        /* how the server's SYN was found: by its ISN, or by its fingerprint (a device
         * rewrote the ISN: server_seq differs) */
        p = sm_fmt_str(p, v->fingerprint ? ",\"match\":\"fingerprint\"" : ",\"match\":\"isn\"");
    } else {
        p = sm_fmt_str(p, ",\"server\":null");
    }
    if (v->clock_corrected) {
        /* server clock minus client clock, as the server's times were corrected */
        p = sm_fmt_str(p, ",\"clock_offset\":");
        p = sm_fmt_duration(p, v->clock_offset_ns);
    }
    if (v->attempts_inside) {
        p = sm_fmt_str(p, ",\"attempts_inside\":");
        p = sm_fmt_u64(p, v->attempts_inside);
    }
    if (v->reason) {
        p = sm_fmt_str(p, ",\"reason\":\"");
        p = sm_fmt_str(p, v->reason);
        *p++ = '"';
    }
    /* both IDs in one call: through the SHA extensions two hashes go side by side */
    bool server_id = v->has_server && !tuple_eq(&v->client, &v->server);
    const struct sm_tuple *tp[2] = {&v->client, &v->server};
    char ids[2][SM_COMMUNITY_ID_LEN];
    sm_community_id_tcp_many(ids, tp, server_id ? 2 : 1, community_id_seed);
    p = sm_fmt_str(p, ",\"community_id\":\"");
    memcpy(p, ids[0], SM_COMMUNITY_ID_LEN);
    p += SM_COMMUNITY_ID_LEN;
    *p++ = '"';
    if (server_id) {
        p = sm_fmt_str(p, ",\"server_community_id\":\"");
        memcpy(p, ids[1], SM_COMMUNITY_ID_LEN);
        p += SM_COMMUNITY_ID_LEN;
        *p++ = '"';
    }
    p = sm_fmt_str(p, "}\n");
    return (size_t)(p - line);
}

char *sm_report_filter(char out[SM_REPORT_FILTER_MAX], const struct sm_tuple *t, uint32_t isn)
{
    const char *ip = t->src.family == SM_AF_INET6 ? "ipv6.addr == " : "ip.addr == ";
    char *p = sm_fmt_str(out, ip);
    p = sm_fmt_addr(p, &t->src);
    p = sm_fmt_str(p, " && tcp.port == ");
    p = sm_fmt_u64(p, t->sport);
    p = sm_fmt_str(p, " && ");
    p = sm_fmt_str(p, ip);
    p = sm_fmt_addr(p, &t->dst);
    p = sm_fmt_str(p, " && tcp.port == ");
    p = sm_fmt_u64(p, t->dport);
    p = sm_fmt_str(p, " && (tcp.seq_raw == ");
    p = sm_fmt_u64(p, isn);
    p = sm_fmt_str(p, " || tcp.ack_raw == ");
    p = sm_fmt_u64(p, (uint32_t)(isn + 1));
    *p++ = ')';
    *p = '\0';
    return out;
}
