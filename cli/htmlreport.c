/*
 * htmlreport.c - compare's HTML report (see htmlreport.h).
 *
 * Everything is drawn from compare's result after the files are read: the rows of its four
 * tables (each final verdict is the map's when it is matched, else its own table's) and the
 * join's counts, plus the clock corrections noted as verdicts were decided. Per-bucket
 * figures take one pass to count and one to place each row in its bucket (no sort of the
 * rows); the medians use the k-th smallest selection. The page's size is bounded by the
 * buckets and SM_REPORT_ROWS_MAX, whatever the captures' size.
 */
#include "htmlreport.h"

#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "fmt.h"
#include "select.h"
#include "svg.h"
#include "synmatch/report.h"

#define MAX_BUCKETS 600
#define MAX_CHANGES 65536 /* clock corrections noted; past it, no more (said on the page) */
#define ATTEMPT_BINS 9    /* 1..8 attempts, then 9 or more */
#define SEC INT64_C(1000000000)

/* Chart geometry, in pixels. */
#define CHART_W 960
#define PLOT_LEFT 72
#define PLOT_TOP 16
#define PLOT_W (CHART_W - PLOT_LEFT - 24)

struct change {
    int64_t t;      /* the verdict's first attempt */
    int64_t offset; /* the correction in force, server minus client; 0 when none */
    bool corrected;
};

struct sm_htmlreport {
    struct change *ch;
    size_t n, cap;
    bool have_last, last_corrected, full;
    int64_t last_offset;
};

sm_htmlreport_t *sm_htmlreport_new(void)
{
    return calloc(1, sizeof(struct sm_htmlreport));
}

void sm_htmlreport_destroy(sm_htmlreport_t **r_p)
{
    if (*r_p == NULL)
        return;
    free((*r_p)->ch);
    free(*r_p);
    *r_p = NULL;
}

void sm_htmlreport_verdict(sm_htmlreport_t *r, const struct sm_verdict *v)
{
    if (v->kind == SM_V_SUSPECT || !v->has_server)
        return;
    int64_t off = v->clock_corrected ? v->clock_offset_ns : 0;
    if (r->have_last && off == r->last_offset && v->clock_corrected == r->last_corrected)
        return;
    if (r->n == r->cap) {
        size_t cap = r->cap ? r->cap * 2 : 64;
        struct change *ch = cap <= MAX_CHANGES ? realloc(r->ch, cap * sizeof *ch) : NULL;
        if (ch == NULL) {
            r->full = true;
            return;
        }
        r->ch = ch;
        r->cap = cap;
    }
    r->ch[r->n++] = (struct change){v->first_ns, off, v->clock_corrected};
    r->have_last = true;
    r->last_offset = off;
    r->last_corrected = v->clock_corrected;
}

/* ---- the rows ------------------------------------------------------------------------------ */

/* Calls fn once for every final verdict's row: the map's matched ones and the other tables'. */
static void each_row(const struct sm_compare_result *res,
                     void (*fn)(void *arg, const struct sm_row *r), void *arg)
{
    for (int t = 0; t < SM_TABLE_COUNT; t++)
        for (size_t k = 0; k < res->nrows[t]; k++)
            if (t != SM_TABLE_MAP || res->rows[t][k].kind == SM_V_MATCHED)
                fn(arg, &res->rows[t][k]);
}

struct span {
    int64_t lo, hi;
    uint64_t n;
};

static void span_of(void *arg, const struct sm_row *r)
{
    struct span *s = arg;
    s->lo = r->first_ns < s->lo ? r->first_ns : s->lo;
    s->hi = r->first_ns > s->hi ? r->first_ns : s->hi;
    s->n++;
}

/* The time buckets: from t0, nb of width w (a round number of seconds). */
struct buckets {
    int64_t t0, w;
    size_t nb;
};

static void choose_buckets(struct buckets *b, const struct span *s)
{
    static const int64_t widths[] = {1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800,
                                     3600, 7200, 10800, 21600, 43200, 86400};
    int64_t span = s->hi - s->lo;
    b->w = 0;
    for (size_t i = 0; i < sizeof widths / sizeof widths[0] && b->w == 0; i++)
        if (span / (widths[i] * SEC) < MAX_BUCKETS - 1)
            b->w = widths[i] * SEC;
    if (b->w == 0) /* days: whole days enough for the span */
        b->w = (span / (MAX_BUCKETS - 1) / (86400 * SEC) + 1) * 86400 * SEC;
    b->t0 = s->lo - ((s->lo % b->w) + b->w) % b->w; /* aligned on the width, also before 1970 */
    b->nb = (size_t)((s->hi - b->t0) / b->w) + 1;
}

static size_t bucket_of(const struct buckets *b, int64_t t)
{
    return (size_t)((t - b->t0) / b->w);
}

struct counting {
    const struct buckets *b;
    uint64_t (*per)[SM_V_COUNT];           /* [bucket][verdict] */
    uint64_t attempts[ATTEMPT_BINS][SM_V_COUNT];
};

static void count_row(void *arg, const struct sm_row *r)
{
    struct counting *c = arg;
    c->per[bucket_of(c->b, r->first_ns)][r->kind]++;
    uint32_t a = r->attempts < 1 ? 1 : r->attempts;
    c->attempts[a >= ATTEMPT_BINS ? ATTEMPT_BINS - 1 : a - 1][r->kind]++;
}

/* ---- page pieces ----------------------------------------------------------------------------- */

static void esc(FILE *out, const char *s)
{
    sm_svg_text_escaped(out, s, strlen(s));
}

static const char *const meaning[SM_V_COUNT] = {
    [SM_V_MATCHED] = "the SYN reached the server and its SYN/ACK reached the client",
    [SM_V_MISSING] = "no attempt reached the server",
    [SM_V_REFUSED] = "the server answered RST (nothing listens there)",
    [SM_V_REPLY_LOST] = "the server answered; the answer never reached the client",
    [SM_V_UNANSWERED] = "the server saw the SYN and sent nothing back",
    [SM_V_ANSWERED_BY_MIDDLEBOX] = "the client got an answer the server did not send",
    [SM_V_SENSOR_CAPTURE_LOSS] = "a capture declared drops around it",
    [SM_V_TRANSPORT_LOSS] = "records were lost between agent and collector",
    [SM_V_SENSOR_DOWN] = "a sensor was down",
    [SM_V_COLLECTOR_OVERLOAD] = "more SYNs were open than --max-pending allows",
    [SM_V_UNKNOWN] = "the evidence cannot decide (see the reason)",
    [SM_V_AMBIGUOUS] = "two server SYNs could be this one",
};

/* "HH:MM:SS" of t, or the date too ("YYYY-MM-DD HH:MM") when days matter. */
static void time_label(char *out, int64_t t, bool days)
{
    char iso[SM_FMT_RFC3339_LEN + 1];
    *sm_fmt_rfc3339(iso, t) = '\0';
    if (days)
        snprintf(out, 32, "%.10s %.5s", iso, iso + 11);
    else
        snprintf(out, 32, "%.8s", iso + 11);
}

static void x_time_labels(const struct sm_svg_chart *c, const struct buckets *b)
{
    bool days = (int64_t)b->nb * b->w > 86400 * SEC;
    int n = 6;
    for (int i = 0; i <= n; i++) {
        size_t k = (size_t)((double)b->nb * i / n);
        char text[32];
        time_label(text, b->t0 + (int64_t)k * b->w, days);
        sm_svg_label(c->out, sm_svg_px(c, (double)k), c->top + c->height + 18, "tick",
                     i == 0 ? "start" : i == n ? "end" : "middle", text);
    }
}

static void legend(FILE *out, const uint64_t *totals)
{
    fputs("<p class=\"legend\">", out);
    for (int k = 0; k < SM_V_COUNT; k++)
        if (totals[k])
            fprintf(out, "<span><i class=\"sw v-%s\"></i>%s</span> ",
                    sm_verdict_name((enum sm_verdict_kind)k), sm_verdict_name((enum sm_verdict_kind)k));
    fputs("</p>\n", out);
}

/* Stacked bars: nbars x SM_V_COUNT counts; title_of names bar i. */
static void stacked_bars(const struct sm_svg_chart *c, const uint64_t (*counts)[SM_V_COUNT],
                         size_t nbars, const char *const *names)
{
    double bw = sm_svg_px(c, 1) - sm_svg_px(c, 0), gap = bw > 4 ? 1 : 0;
    for (size_t i = 0; i < nbars; i++) {
        uint64_t below = 0;
        for (int k = 0; k < SM_V_COUNT; k++) {
            uint64_t n = counts[i][k];
            if (n == 0)
                continue;
            double y1 = sm_svg_py(c, (double)(below + n)), y0 = sm_svg_py(c, (double)below);
            char cls[48], title[96];
            snprintf(cls, sizeof cls, "v-%s", sm_verdict_name((enum sm_verdict_kind)k));
            snprintf(title, sizeof title, "%s: %" PRIu64 " %s", names[i], n,
                     sm_verdict_name((enum sm_verdict_kind)k));
            sm_svg_rect(c->out, sm_svg_px(c, (double)i), y1, bw - gap, y0 - y1, cls,
                        (long long)n, title);
            below += n;
        }
    }
}

static double nice_top(double v)
{
    double t[8];
    int n = sm_svg_ticks(0, v > 0 ? v : 1, 6, t);
    return t[n - 1] < v ? t[n - 1] + (n > 1 ? t[1] - t[0] : 1) : t[n - 1];
}

static void timeline(FILE *out, const struct buckets *b, const uint64_t (*per)[SM_V_COUNT],
                     const uint64_t *totals)
{
    uint64_t top = 0;
    for (size_t i = 0; i < b->nb; i++) {
        uint64_t s = 0;
        for (int k = 0; k < SM_V_COUNT; k++)
            s += per[i][k];
        top = s > top ? s : top;
    }
    fprintf(out, "<section id=\"timeline\"><h2>Client connection attempts by verdict, per %"
                 PRId64 " s</h2>\n<p>Each client SYN group (an ISN: the SYN and its "
                 "retransmissions) once, at its first attempt, in the client's clock.</p>\n",
            b->w / SEC);
    legend(out, totals);
    sm_svg_begin(out, CHART_W, 270, "connection attempts per time bucket, by verdict");
    struct sm_svg_chart c = {out, PLOT_LEFT, PLOT_TOP, PLOT_W, 220, 0, (double)b->nb, 0,
                             nice_top((double)top)};
    double ticks[8];
    int n = sm_svg_ticks(c.ymin, c.ymax, 6, ticks);
    sm_svg_yaxis(&c, ticks, n, 0, "");
    char **names = malloc(b->nb * sizeof *names);
    char *store = malloc(b->nb * 32);
    uint64_t(*fail)[SM_V_COUNT] = calloc(b->nb, sizeof *fail);
    if (names && store && fail) {
        bool days = (int64_t)b->nb * b->w > 86400 * SEC;
        for (size_t i = 0; i < b->nb; i++) {
            names[i] = store + i * 32;
            time_label(names[i], b->t0 + (int64_t)i * b->w, days);
        }
        stacked_bars(&c, per, b->nb, (const char *const *)names);
        x_time_labels(&c, b);
        sm_svg_end(out);

        /* the failures alone, on their own scale: a few among thousands show here */
        uint64_t ftop = 0, ftotals[SM_V_COUNT] = {0};
        for (size_t i = 0; i < b->nb; i++) {
            uint64_t s = 0;
            for (int k = 0; k < SM_V_COUNT; k++) {
                if (!sm_verdict_is_failure((enum sm_verdict_kind)k))
                    continue;
                fail[i][k] = per[i][k];
                ftotals[k] += per[i][k];
                s += per[i][k];
            }
            ftop = s > ftop ? s : ftop;
        }
        fprintf(out, "<h3 id=\"failures-timeline\">Failures alone, per %" PRId64 " s</h3>\n",
                b->w / SEC);
        if (ftop == 0) {
            fputs("<p>None.</p>\n", out);
        } else {
            legend(out, ftotals);
            sm_svg_begin(out, CHART_W, 200, "failures per time bucket, by verdict");
            struct sm_svg_chart f = {out, PLOT_LEFT, PLOT_TOP, PLOT_W, 150, 0, (double)b->nb,
                                     0, nice_top((double)ftop)};
            n = sm_svg_ticks(f.ymin, f.ymax, 5, ticks);
            sm_svg_yaxis(&f, ticks, n, 0, "");
            stacked_bars(&f, (const uint64_t(*)[SM_V_COUNT])fail, b->nb,
                         (const char *const *)names);
            x_time_labels(&f, b);
            sm_svg_end(out);
        }
    } else {
        x_time_labels(&c, b);
        sm_svg_end(out);
    }
    free(names);
    free(store);
    free(fail);
    fputs("</section>\n", out);
}

struct delays {
    const struct buckets *b;
    size_t *count, *at; /* per bucket: how many, where they start in v */
    int64_t *v;
    size_t n;
};

static void count_delay(void *arg, const struct sm_row *r)
{
    struct delays *d = arg;
    if (r->has_server) {
        d->count[bucket_of(d->b, r->first_ns)]++;
        d->n++;
    }
}

static void place_delay(void *arg, const struct sm_row *r)
{
    struct delays *d = arg;
    if (r->has_server)
        d->v[d->at[bucket_of(d->b, r->first_ns)]++] = r->delta_ns;
}

static int cmp_change(const void *pa, const void *pb)
{
    const struct change *a = pa, *b = pb;
    if (a->t != b->t)
        return a->t < b->t ? -1 : 1;
    return a->offset < b->offset ? -1 : a->offset > b->offset; /* a total order: stable bytes */
}

/* One-way delay per bucket (median and 95th percentile) and the clock correction in force. */
static int delay_chart(FILE *out, const struct sm_compare_result *res, const struct buckets *b,
                       sm_htmlreport_t *r)
{
    struct delays d = {.b = b};
    d.count = calloc(b->nb, sizeof *d.count);
    d.at = calloc(b->nb + 1, sizeof *d.at);
    double *x = malloc(b->nb * sizeof *x), *med = malloc(b->nb * sizeof *med),
           *p95 = malloc(b->nb * sizeof *p95), *off = malloc(b->nb * sizeof *off);
    int rc = -1;
    if (!d.count || !d.at || !x || !med || !p95 || !off)
        goto done;
    each_row(res, count_delay, &d);
    d.v = malloc((d.n ? d.n : 1) * sizeof *d.v);
    if (d.v == NULL)
        goto done;
    for (size_t i = 0; i < b->nb; i++)
        d.at[i + 1] = d.at[i] + d.count[i];
    each_row(res, place_delay, &d); /* at[i] ends where bucket i + 1 starts */
    double lo = 0, hi = 0;
    for (size_t i = 0; i < b->nb; i++) {
        size_t n = d.count[i], from = d.at[i] - n;
        x[i] = (double)i + 0.5;
        med[i] = p95[i] = NAN;
        if (n == 0)
            continue;
        med[i] = (double)sm_select_kth(d.v + from, n, n / 2) / 1e6;
        p95[i] = (double)sm_select_kth(d.v + from, n, (size_t)((double)(n - 1) * 0.95)) / 1e6;
        lo = fmin(lo, fmin(med[i], p95[i]));
        hi = fmax(hi, fmax(med[i], p95[i]));
    }
    fputs("<section id=\"delay\"><h2>One-way delay, client to server</h2>\n<p>From the client "
          "sending the attempt that got through to the server seeing it, per bucket: median "
          "and 95th percentile, in milliseconds",
          out);
    fputs(res->clock.corrected ? " (one clock: the server's times corrected)." :
          " (two clocks: not corrected, so the clocks' offset is in it).", out);
    fputs("</p>\n<p class=\"legend\"><span><i class=\"sw l-med\"></i>median</span> "
          "<span><i class=\"sw l-p95\"></i>95th percentile</span></p>\n", out);
    if (d.n == 0) {
        fputs("<p>No connection was seen by both captures.</p>\n", out);
    } else {
        sm_svg_begin(out, CHART_W, 270, "one-way delay per time bucket");
        if (hi - lo < 1e-3)
            hi = lo + 1e-3;
        struct sm_svg_chart c = {out, PLOT_LEFT, PLOT_TOP, PLOT_W, 220, 0, (double)b->nb, 0, 0};
        double ticks[8];
        double span = hi - lo;
        c.ymin = lo < 0 ? lo - span * 0.05 : 0;
        c.ymax = hi + span * 0.05;
        int n = sm_svg_ticks(c.ymin, c.ymax, 6, ticks);
        sm_svg_yaxis(&c, ticks, n, span < 10 ? 2 : 0, " ms");
        sm_svg_polyline(&c, x, p95, b->nb, "l-p95");
        sm_svg_polyline(&c, x, med, b->nb, "l-med");
        x_time_labels(&c, b);
        sm_svg_end(out);
    }
    fputs("</section>\n", out);

    /* the clock correction in force per bucket: the latest noted at or before its end */
    fputs("<section id=\"clock\"><h2>Clock offset, server minus client</h2>\n", out);
    const struct sm_clock_estimate *ce = &res->clock;
    char span_text[48];
    if (ce->pairs == 0)
        fputs("<p>Not measured: no connection was seen in both captures.</p>\n", out);
    else
        fprintf(out, "<p>Measured from %" PRIu64 " connections seen in both: %s%s, spread "
                     "%.3f ms%s%s.</p>\n",
                ce->pairs, ce->offset_ns < 0 ? "-" : "",
                sm_fmt_span(span_text, sizeof span_text, ce->offset_ns),
                ce->spread_ns / 1e6, ce->steps ? ", the clock stepped" : "",
                ce->corrected ? "; the server's times were corrected by it"
                              : "; no correction (below 10 ms, not confident, or "
                                "--no-clock-correction)");
    bool any = false;
    for (size_t i = 0; i < r->n; i++)
        any = any || r->ch[i].corrected;
    if (any) {
        qsort(r->ch, r->n, sizeof *r->ch, cmp_change); /* noted in decision order */
        double olo = INFINITY, ohi = -INFINITY;
        size_t j = 0;
        bool have = false;
        double cur = 0;
        for (size_t i = 0; i < b->nb; i++) {
            int64_t end = b->t0 + (int64_t)(i + 1) * b->w;
            while (j < r->n && r->ch[j].t < end) {
                have = r->ch[j].corrected;
                cur = (double)r->ch[j].offset / 1e6;
                j++;
            }
            off[i] = have ? cur : NAN;
            if (have) {
                olo = fmin(olo, cur);
                ohi = fmax(ohi, cur);
            }
        }
        fputs("<p class=\"legend\"><span><i class=\"sw l-off\"></i>correction applied (ms)"
              "</span></p>\n", out);
        sm_svg_begin(out, CHART_W, 190, "clock correction per time bucket");
        double pad = fmax((ohi - olo) * 0.1, fmax(fabs(ohi) * 1e-4, 0.01));
        struct sm_svg_chart c = {out, PLOT_LEFT + 40, PLOT_TOP, PLOT_W - 40, 140,
                                 0, (double)b->nb, olo - pad, ohi + pad};
        double ticks[8];
        int n = sm_svg_ticks(c.ymin, c.ymax, 5, ticks);
        sm_svg_yaxis(&c, ticks, n, 3, " ms");
        sm_svg_polyline(&c, x, off, b->nb, "l-off");
        x_time_labels(&c, b);
        sm_svg_end(out);
        if (r->full)
            fputs("<p>(The corrections changed too often to note them all; later ones are "
                  "not drawn.)</p>\n", out);
    }
    fputs("</section>\n", out);
    rc = 0;
done:
    free(d.count);
    free(d.at);
    free(d.v);
    free(x);
    free(med);
    free(p95);
    free(off);
    return rc;
}

static void attempts_chart(FILE *out, const uint64_t (*attempts)[SM_V_COUNT],
                           const uint64_t *totals)
{
    static const char *const names[ATTEMPT_BINS] = {"1", "2", "3", "4", "5", "6", "7", "8",
                                                    "9+"};
    uint64_t top = 0;
    for (int i = 0; i < ATTEMPT_BINS; i++) {
        uint64_t s = 0;
        for (int k = 0; k < SM_V_COUNT; k++)
            s += attempts[i][k];
        top = s > top ? s : top;
    }
    fputs("<section id=\"attempts\"><h2>Attempts per connection (SYN retransmissions)</h2>\n"
          "<p>How many SYNs the client sent for each ISN, by verdict: 1 means no "
          "retransmission.</p>\n",
          out);
    legend(out, totals);
    sm_svg_begin(out, 640, 280, "attempts per connection, by verdict");
    struct sm_svg_chart c = {out, PLOT_LEFT, PLOT_TOP + 10, 640 - PLOT_LEFT - 24, 220,
                             0, ATTEMPT_BINS, 0, nice_top((double)top)};
    double ticks[8];
    int n = sm_svg_ticks(c.ymin, c.ymax, 6, ticks);
    sm_svg_yaxis(&c, ticks, n, 0, "");
    char titles[ATTEMPT_BINS][24];
    const char *tp[ATTEMPT_BINS];
    for (int i = 0; i < ATTEMPT_BINS; i++) {
        snprintf(titles[i], sizeof titles[i], "%s attempt%s", names[i], i ? "s" : "");
        tp[i] = titles[i];
    }
    stacked_bars(&c, attempts, ATTEMPT_BINS, tp);
    for (int i = 0; i < ATTEMPT_BINS; i++) {
        uint64_t s = 0;
        for (int k = 0; k < SM_V_COUNT; k++)
            s += attempts[i][k];
        char total[24];
        snprintf(total, sizeof total, "%" PRIu64, s);
        sm_svg_label(out, sm_svg_px(&c, i + 0.5), sm_svg_py(&c, (double)s) - 4, "tick", "middle",
                     total);
        sm_svg_label(out, sm_svg_px(&c, i + 0.5), c.top + c.height + 18, "tick", "middle",
                     names[i]);
    }
    sm_svg_end(out);
    fputs("</section>\n", out);
}

static void tuple_cell(FILE *out, const struct sm_tuple *t)
{
    char buf[2 * SM_FMT_ENDPOINT_MAX + 8];
    char *p = sm_fmt_endpoint(buf, &t->src, t->sport);
    p = sm_fmt_str(p, " \xe2\x86\x92 ");
    p = sm_fmt_endpoint(p, &t->dst, t->dport);
    *p = '\0';
    fprintf(out, "<td class=\"tuple\">%s</td>", buf);
}

static void filters_cell(FILE *out, int64_t stream, uint32_t seq)
{
    fputs("<td class=\"flt\">", out);
    if (stream != SM_STREAM_NONE)
        fprintf(out, "<code>tcp.stream eq %" PRId64 "</code> ", stream);
    fprintf(out, "<code>tcp.seq_raw == %" PRIu32 "</code></td>", seq);
}

static void failure_row(FILE *out, const struct sm_row *r)
{
    char t[SM_FMT_RFC3339_LEN + 1];
    *sm_fmt_rfc3339(t, r->first_ns) = '\0';
    const char *name = sm_verdict_name(r->kind);
    fprintf(out, "<tr class=\"f-%s\"><td>%s</td><td class=\"t\">%s</td><td class=\"n\">%" PRIu32 "</td>",
            name, name, t, r->attempts);
    tuple_cell(out, &r->client);
    filters_cell(out, r->client_stream, r->seq);
    if (r->has_server)
        filters_cell(out, r->server_stream, r->server_seq);
    else
        fputs("<td class=\"none\">not seen at the server</td>", out);
    fprintf(out, "<td>%s</td></tr>\n", r->reason ? r->reason : "");
}

/* The failures (missing, then the broken handshakes but refused), merged by first time. */
static void failures(FILE *out, const struct sm_compare_result *res)
{
    const struct sm_row *m = res->rows[SM_TABLE_MISSING], *b = res->rows[SM_TABLE_BROKEN];
    size_t nm = res->nrows[SM_TABLE_MISSING], nb = res->nrows[SM_TABLE_BROKEN], total = nm;
    for (size_t k = 0; k < nb; k++)
        total += sm_verdict_is_failure(b[k].kind);
    fprintf(out, "<section id=\"failures\"><h2>Failures: <span id=\"failures-total\">%zu</span>"
                 "</h2>\n<p>Missing, reply_lost, unanswered and answered_by_middlebox, by first "
                 "attempt. Paste a filter into the capture of its side (Wireshark, tshark -Y): "
                 "<code>tcp.stream eq N</code> is that side's stream, <code>tcp.seq_raw</code> "
                 "its ISN.</p>\n",
            total);
    if (total == 0) {
        fputs("<p>None.</p></section>\n", out);
        return;
    }
    fputs("<p><label>Show only rows containing <input id=\"q\" type=\"search\" size=\"30\">"
          "</label></p>\n<table id=\"failures-table\"><thead><tr><th>verdict</th><th>first "
          "attempt</th><th>attempts</th><th>client (src \xe2\x86\x92 dst)</th><th>client "
          "capture</th><th>server capture</th><th>reason</th></tr></thead>\n<tbody>\n",
          out);
    size_t i = 0, k = 0, listed = 0;
    while ((i < nm || k < nb) && listed < SM_REPORT_ROWS_MAX) {
        if (k < nb && !sm_verdict_is_failure(b[k].kind)) {
            k++;
            continue;
        }
        bool take_m = k >= nb || (i < nm && m[i].first_ns <= b[k].first_ns);
        failure_row(out, take_m ? &m[i++] : &b[k++]);
        listed++;
    }
    fprintf(out, "</tbody></table>\n<p id=\"failures-listed\" data-listed=\"%zu\" "
                 "data-more=\"%zu\">",
            listed, total - listed);
    if (total > listed)
        fprintf(out, "The first %zu are listed; %zu more: <code>synmatch compare --missing "
                     "--broken</code> lists them all.",
                listed, total - listed);
    else
        fprintf(out, "All %zu listed.", listed);
    fputs("</p></section>\n", out);
}

static void summary(FILE *out, const struct sm_compare_result *res,
                    const struct sm_compare_opts *o)
{
    const struct sm_join_stats *js = &res->join;
    uint64_t judged = 0, failed = 0;
    for (int k = 0; k < SM_V_COUNT; k++) {
        if (k == SM_V_SUSPECT)
            continue;
        judged += js->verdicts[k];
        if (sm_verdict_is_failure((enum sm_verdict_kind)k))
            failed += js->verdicts[k];
    }
    fprintf(out, "<section id=\"summary\"><h2>Summary</h2>\n<p class=\"%s\">%" PRIu64
                 " connection attempts judged, <b id=\"failed\">%" PRIu64 "</b> broke on the "
                 "network or at the server host.</p>\n",
            failed ? "bad" : "good", judged, failed);
    fputs("<table id=\"verdicts\"><thead><tr><th>verdict</th><th>connection attempts</th>"
          "<th>share</th><th>meaning</th></tr></thead><tbody>\n", out);
    for (int k = 0; k < SM_V_COUNT; k++) {
        if (k == SM_V_SUSPECT || (js->verdicts[k] == 0 && k != SM_V_MATCHED && k != SM_V_MISSING))
            continue;
        const char *name = sm_verdict_name((enum sm_verdict_kind)k);
        fprintf(out, "<tr data-verdict=\"%s\"><td><i class=\"sw v-%s\"></i>%s</td><td class=\"n\">"
                     "%" PRIu64 "</td><td class=\"n\">%.2f%%</td><td>%s</td></tr>\n",
                name, name, name, js->verdicts[k],
                judged ? 100.0 * (double)js->verdicts[k] / (double)judged : 0.0, meaning[k]);
    }
    fputs("</tbody></table>\n<table id=\"counts\"><tbody>\n", out);
    fprintf(out, "<tr><td>client SYN groups (ISNs)</td><td class=\"n\" id=\"groups\">%" PRIu64
                 "</td></tr>\n<tr><td>not for the server (out of scope)</td><td class=\"n\" "
                 "id=\"out-of-scope\">%" PRIu64 "</td></tr>\n",
            js->client_groups, js->out_of_scope);
    static const char *const titles[SM_TABLE_COUNT] = {
        "stream map rows (seen at the server)", "missing rows", "broken handshake rows",
        "not witnessed rows"};
    for (int t = 0; t < SM_TABLE_COUNT; t++)
        fprintf(out, "<tr><td>%s</td><td class=\"n\" id=\"rows-%s\">%zu</td></tr>\n", titles[t],
                sm_table_name((enum sm_table)t), res->nrows[t]);
    if (js->isn_rewritten)
        fprintf(out, "<tr><td>matched by fingerprint (a device rewrites ISNs)</td><td "
                     "class=\"n\">%" PRIu64 "</td></tr>\n",
                js->isn_rewritten);
    fputs("</tbody></table>\n<h3>Captures</h3>\n<table id=\"files\"><tbody>\n", out);
    const char *paths[2] = {o->client_path, o->server_path};
    for (int s = 0; s < 2; s++) {
        const struct sm_filesrc_summary *f = &res->side[s];
        char a[SM_FMT_RFC3339_LEN + 1] = "-", b[SM_FMT_RFC3339_LEN + 1] = "-";
        if (f->have_ts) {
            *sm_fmt_rfc3339(a, f->first_ns) = '\0';
            *sm_fmt_rfc3339(b, f->last_ns) = '\0';
        }
        fprintf(out, "<tr><td>%s</td><td>", s ? "server" : "client");
        esc(out, paths[s]);
        fprintf(out, "</td><td class=\"n\">%" PRIu64 " frames</td><td>%s</td><td>%s</td>"
                     "<td class=\"n\">%" PRIu64 " drops declared</td></tr>\n",
                f->frames, a, b, res->drops[s]);
    }
    fputs("</tbody></table>\n<p>Judged: client SYNs sent to ", out);
    for (size_t k = 0; k < res->nscope && k < 8; k++) {
        char addr[SM_FMT_ENDPOINT_MAX];
        *sm_fmt_addr(addr, &res->scope[k]) = '\0';
        fprintf(out, "%s%s", k ? ", " : "", addr);
    }
    if (res->nscope > 8)
        fprintf(out, " and %zu more", res->nscope - 8);
    fprintf(out, " (%s).</p>\n</section>\n",
            res->scope_inferred ? "every address that receives SYNs in the server capture"
                                : "--server-ip");
}

static const char style[] =
    "body{font:14px/1.45 system-ui,sans-serif;margin:24px auto;max-width:1000px;color:#222}"
    "h1{font-size:22px}h2{font-size:18px;margin-top:28px}h3{font-size:15px}"
    "table{border-collapse:collapse;margin:8px 0}td,th{padding:3px 8px;border-bottom:1px solid "
    "#ddd;text-align:left;vertical-align:top}td.n{text-align:right;font-variant-numeric:"
    "tabular-nums}code{font:12px ui-monospace,monospace;background:#f3f3f3;padding:1px 3px;"
    "white-space:nowrap}td.tuple{font:12px ui-monospace,monospace;white-space:nowrap}"
    "td.t{white-space:nowrap;font-size:12px}#files td{white-space:nowrap}"
    "td.none{color:#888}.bad b{color:#c0392b}.good b{color:#2e7d32}"
    "svg{display:block;margin:6px 0}svg text{font:11px sans-serif;fill:#444}"
    ".grid{stroke:#e5e5e5}.axis{stroke:#888}.frame{fill:none;stroke:#bbb}"
    "polyline{fill:none;stroke-width:1.6}.l-med{stroke:#1f77b4}.l-p95{stroke:#ff7f0e}"
    ".l-off{stroke:#6a3d9a}.legend span{margin-right:14px;white-space:nowrap}"
    ".sw{display:inline-block;width:11px;height:11px;margin-right:4px;vertical-align:-1px}"
    "i.l-med{background:#1f77b4}i.l-p95{background:#ff7f0e}i.l-off{background:#6a3d9a}"
    ".v-matched{fill:#4caf50;background:#4caf50}.v-missing{fill:#d62728;background:#d62728}"
    ".v-refused{fill:#9e9e9e;background:#9e9e9e}.v-reply_lost{fill:#ff7f0e;background:#ff7f0e}"
    ".v-unanswered{fill:#9467bd;background:#9467bd}.v-answered_by_middlebox{fill:#e377c2;"
    "background:#e377c2}.v-sensor_capture_loss{fill:#bcbd22;background:#bcbd22}"
    ".v-transport_loss{fill:#17becf;background:#17becf}.v-sensor_down{fill:#7f7f7f;"
    "background:#7f7f7f}.v-collector_overload{fill:#8c564b;background:#8c564b}"
    ".v-unknown{fill:#c7c7c7;background:#c7c7c7}.v-ambiguous{fill:#1f77b4;background:#1f77b4}"
    ".v-suspect{fill:#000;background:#000}footer{margin-top:32px;color:#888;font-size:12px}";

/* The failures table's filter box: hides the rows that do not contain the text typed. */
static const char script[] =
    "(function(){var q=document.getElementById('q');if(!q)return;"
    "var rows=document.querySelectorAll('#failures-table tbody tr');"
    "q.addEventListener('input',function(){var s=q.value.toLowerCase();"
    "for(var i=0;i<rows.length;i++){rows[i].hidden=s!==''&&"
    "rows[i].textContent.toLowerCase().indexOf(s)<0;}});})();";

int sm_htmlreport_write(sm_htmlreport_t *r, FILE *out, const struct sm_compare_result *res,
                        const struct sm_compare_opts *o)
{
    struct span s = {INT64_MAX, INT64_MIN, 0};
    each_row(res, span_of, &s);
    struct buckets b = {0, SEC, 1};
    if (s.n)
        choose_buckets(&b, &s);
    struct counting c = {.b = &b};
    c.per = calloc(b.nb, sizeof *c.per);
    if (c.per == NULL)
        return -1;
    if (s.n)
        each_row(res, count_row, &c);
    uint64_t totals[SM_V_COUNT] = {0};
    for (size_t i = 0; i < b.nb; i++)
        for (int k = 0; k < SM_V_COUNT; k++)
            totals[k] += c.per[i][k];

    fputs("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
          "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
          "style-src 'unsafe-inline'; script-src 'unsafe-inline'\">\n"
          "<meta name=\"viewport\" content=\"width=device-width\">\n<title>synmatch compare: ",
          out);
    esc(out, o->client_path);
    fputs(" / ", out);
    esc(out, o->server_path);
    fprintf(out, "</title>\n<style>%s</style></head><body>\n<h1>synmatch compare</h1>\n<p>"
                 "client capture <code>",
            style);
    esc(out, o->client_path);
    fputs("</code>, server capture <code>", out);
    esc(out, o->server_path);
    fputs("</code></p>\n", out);
    summary(out, res, o);
    if (s.n) {
        timeline(out, &b, (const uint64_t(*)[SM_V_COUNT])c.per, totals);
        if (delay_chart(out, res, &b, r) == -1) {
            free(c.per);
            return -1;
        }
        attempts_chart(out, (const uint64_t(*)[SM_V_COUNT])c.attempts, totals);
    }
    failures(out, res);
    fprintf(out, "<footer>synmatch %s. Verdicts: docs/VERDICTS.md.</footer>\n<script>%s</script>"
                 "\n</body></html>\n",
            SM_VERSION, script);
    free(c.per);
    return 0;
}
