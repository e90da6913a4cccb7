/*
 * sm_stages.c - the collector's stages timed one at a time, in-process (no ZeroMQ), on the
 * same pre-encoded batches that `sm_feed send` sends (bench/sm_gen.h).
 *
 *   sm_stages [--stage NAME] [--runs N] [generator options]
 *
 * Stages (each run N times over all the messages; medians reported):
 *   unpack   protobuf-c synmatch__batch__unpack() + free, default allocator: the parse alone
 *   decode   sm_wire_decode() + free: unpack through the budget allocator, then the semantic
 *            validation of every field and the copy into struct sm_record (what the
 *            collector calls per message). decode - unpack = validation + copy.
 *   join     the sensor books (collector/sensors.c: order, duplicates, gaps, watermarks,
 *            scope) and the join engine (engine/join.c), fed with already decoded
 *            batches, advancing the watermarks after every batch as the collector does after
 *            every drain; the verdict callback only counts. Ends like --exit-when-done
 *            (sm_join_end + sm_join_finish).
 *   write    sm_report_verdict_line() for every verdict the join produced, fwrite() to a
 *            stdio stream on /dev/null (what the collector does per verdict, PUB off)
 *   all      decode + join + write in one pass: the collector's work minus ZeroMQ
 *   (default: every stage)
 *
 * Output: one line per stage with the median wall time, ns per record, records per second,
 * and the verdict counts, checked against the generator's truth. Every stage function is
 * noinline and named stage_*, so `valgrind --tool=callgrind --toggle-collect=stage_join ...`
 * counts the instructions of one stage alone.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sensors.h"
#include "sm_gen.h"
#include "synmatch.pb-c.h"
#include "synmatch/join.h"
#include "synmatch/report.h"
#include "synmatch/wire.h"

#define NOINLINE __attribute__((noinline))

static int64_t mono(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* ---- the collector's glue, as in collector/collector.c ------------------------------------- */

struct pipe {
    sm_join_t *join;
    sm_sensors_t *sensors;
    int64_t server_capture_start;
    uint64_t verdicts[SM_V_COUNT];
    uint64_t events;
    /* what the verdict callback does */
    struct sm_verdict *keep; /* join stage, untimed pass: keep every verdict for `write` */
    size_t nkeep, capkeep;
    FILE *out; /* all stage: write the lines */
    uint64_t out_bytes;
};

static void on_verdict(void *arg, const struct sm_verdict *v)
{
    struct pipe *p = arg;
    p->verdicts[v->kind]++;
    if (p->out) {
        char line[SM_REPORT_LINE_MAX];
        size_t n = sm_report_verdict_line(line, v, 0);
        fwrite(line, 1, n, p->out);
        p->out_bytes += n;
    }
    if (p->keep) {
        if (p->nkeep == p->capkeep) {
            p->capkeep *= 2;
            p->keep = realloc(p->keep, p->capkeep * sizeof *p->keep);
            if (p->keep == NULL) {
                fprintf(stderr, "out of memory\n");
                exit(9);
            }
        }
        p->keep[p->nkeep++] = *v;
    }
}

static void on_records(void *arg, enum sm_role role, const struct sm_record *recs, size_t n)
{
    struct pipe *p = arg;
    sm_join_add_batch(p->join, role, recs, n);
}

static void on_blind(void *arg, enum sm_role role, uint32_t view, int64_t from, int64_t to,
                     enum sm_verdict_kind kind)
{
    struct pipe *p = arg;
    sm_join_blind(p->join, role, view, from, to, kind);
}

static void on_event(void *arg, const struct sm_sensor_event *ev)
{
    (void)ev;
    ((struct pipe *)arg)->events++;
}

static int32_t in_scope(void *arg, const struct sm_tuple *client)
{
    const struct pipe *p = arg;
    return sm_sensors_scope_view(p->sensors, client);
}

static void pipe_open(struct pipe *p)
{
    memset(p, 0, sizeof *p);
    p->server_capture_start = INT64_MIN;
    struct sm_join_config jc = {
        .emit_suspect = true, .on_verdict = on_verdict, .verdict_arg = p,
        .in_scope = in_scope, .scope_arg = p,
    };
    struct sm_sensors_sink sink = {on_records, on_blind, on_event, NULL, p, NULL};
    p->join = sm_join_new(&jc);
    p->sensors = sm_sensors_new(NULL, &sink);
    if (p->join == NULL || p->sensors == NULL) {
        fprintf(stderr, "out of memory\n");
        exit(9);
    }
}

static void pipe_advance(struct pipe *p, int64_t now)
{
    sm_sensors_tick(p->sensors, now);
    int64_t start = sm_sensors_capture_start(p->sensors, SM_ROLE_SERVER);
    if (start != p->server_capture_start) {
        p->server_capture_start = start;
        sm_join_coverage_start(p->join, SM_ROLE_SERVER, start);
    }
    for (int r = 0; r < 2; r++) {
        int64_t wm = sm_sensors_watermark(p->sensors, (enum sm_role)r, now);
        if (wm != INT64_MIN)
            sm_join_watermark(p->join, (enum sm_role)r, wm);
    }
}

static void pipe_finish(struct pipe *p)
{
    for (int r = 0; r < 2; r++)
        sm_join_end(p->join, (enum sm_role)r,
                    sm_sensors_last_watermark(p->sensors, (enum sm_role)r));
    sm_join_finish(p->join);
}

static void pipe_close(struct pipe *p)
{
    sm_sensors_destroy(&p->sensors);
    sm_join_destroy(&p->join);
}

/* ---- stages -------------------------------------------------------------------------------- */

struct decoded {
    struct sm_wire_header h;
    struct sm_record *recs;
    size_t n;
};

static uint64_t sink_u64; /* keeps results alive */

static NOINLINE void stage_unpack(const struct gen_result *g)
{
    for (size_t i = 0; i < g->nmsgs; i++) {
        Synmatch__Batch *b = synmatch__batch__unpack(NULL, g->msgs[i].len, g->msgs[i].buf);
        if (b == NULL) {
            fprintf(stderr, "unpack failed\n");
            exit(1);
        }
        sink_u64 += b->n_ts_ns;
        synmatch__batch__free_unpacked(b, NULL);
    }
}

static NOINLINE void stage_decode(const struct gen_result *g, struct sm_wire_header *h)
{
    for (size_t i = 0; i < g->nmsgs; i++) {
        struct sm_record *recs;
        size_t n;
        if (sm_wire_decode(g->msgs[i].buf, g->msgs[i].len, h, &recs, &n) != SM_WIRE_OK) {
            fprintf(stderr, "decode failed\n");
            exit(1);
        }
        sink_u64 += n;
        free(recs);
    }
}

static NOINLINE void stage_join(struct pipe *p, struct decoded *d, size_t nmsgs)
{
    for (size_t i = 0; i < nmsgs; i++) {
        int64_t now = mono();
        sm_sensors_batch(p->sensors, &d[i].h, d[i].recs, d[i].n, now);
        d[i].recs = NULL;
        pipe_advance(p, now);
    }
    pipe_finish(p);
}

static NOINLINE void stage_write(const struct sm_verdict *v, size_t n, FILE *out)
{
    for (size_t i = 0; i < n; i++) {
        char line[SM_REPORT_LINE_MAX];
        size_t len = sm_report_verdict_line(line, &v[i], 0);
        fwrite(line, 1, len, out);
    }
    fflush(out);
}

static NOINLINE void stage_all(struct pipe *p, const struct gen_result *g,
                               struct sm_wire_header *h)
{
    for (size_t i = 0; i < g->nmsgs; i++) {
        struct sm_record *recs;
        size_t n;
        if (sm_wire_decode(g->msgs[i].buf, g->msgs[i].len, h, &recs, &n) != SM_WIRE_OK) {
            fprintf(stderr, "decode failed\n");
            exit(1);
        }
        int64_t now = mono();
        sm_sensors_batch(p->sensors, h, recs, n, now);
        pipe_advance(p, now);
    }
    pipe_finish(p);
    fflush(p->out);
}

/* ---- driver -------------------------------------------------------------------------------- */

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static int64_t median(int64_t *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_i64);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static struct decoded *decode_all(const struct gen_result *g)
{
    struct decoded *d = calloc(g->nmsgs, sizeof *d);
    if (d == NULL) {
        fprintf(stderr, "out of memory\n");
        exit(9);
    }
    for (size_t i = 0; i < g->nmsgs; i++)
        if (sm_wire_decode(g->msgs[i].buf, g->msgs[i].len, &d[i].h, &d[i].recs, &d[i].n) !=
            SM_WIRE_OK) {
            fprintf(stderr, "decode failed\n");
            exit(1);
        }
    return d;
}

static void free_decoded(struct decoded *d, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(d[i].recs);
    free(d);
}

/* Prints the median, min and max of the runs' times t[0..runs-1] (reorders t). */
static void report(const char *stage, int64_t *t, int runs, uint64_t records, uint64_t items,
                   const char *item_name)
{
    int64_t lo = t[0], hi = t[0];
    for (int r = 0; r < runs; r++) {
        lo = t[r] < lo ? t[r] : lo;
        hi = t[r] > hi ? t[r] : hi;
    }
    int64_t med = median(t, runs);
    printf("%-7s median %8.3f s (min %.3f, max %.3f)  %7.1f ns/record  %6.2f M records/s",
           stage, (double)med / 1e9, (double)lo / 1e9, (double)hi / 1e9,
           (double)med / (double)records, (double)records / ((double)med / 1e9) / 1e6);
    if (items)
        printf("  (%" PRIu64 " %s, %.0f ns each)", items, item_name,
               (double)med / (double)items);
    printf("\n");
    fflush(stdout);
}

static int check_verdicts(const struct pipe *p, const struct gen_opts *o,
                          const struct gen_result *g)
{
    uint64_t want_matched = o->connections - g->missing;
    uint64_t other = 0;
    for (int k = 0; k < SM_V_COUNT; k++)
        if (k != SM_V_MATCHED && k != SM_V_MISSING && k != SM_V_SUSPECT && k != SM_V_AMBIGUOUS)
            other += p->verdicts[k];
    bool ok = p->verdicts[SM_V_MATCHED] == want_matched &&
              p->verdicts[SM_V_MISSING] == g->missing && p->verdicts[SM_V_SUSPECT] == g->missing &&
              p->verdicts[SM_V_AMBIGUOUS] == 0 && other == 0;
    printf("verdicts: matched %" PRIu64 " (want %" PRIu64 "), missing %" PRIu64
           " (want %" PRIu64 "), suspect %" PRIu64 ", ambiguous %" PRIu64 ", other %" PRIu64
           ": %s\n",
           p->verdicts[SM_V_MATCHED], want_matched, p->verdicts[SM_V_MISSING], g->missing,
           p->verdicts[SM_V_SUSPECT], p->verdicts[SM_V_AMBIGUOUS], other, ok ? "ok" : "WRONG");
    if (other) {
        printf("  other:");
        for (int k = 0; k < SM_V_COUNT; k++)
            if (k != SM_V_MATCHED && k != SM_V_MISSING && k != SM_V_SUSPECT &&
                k != SM_V_AMBIGUOUS && p->verdicts[k])
                printf(" %s %" PRIu64, sm_verdict_name((enum sm_verdict_kind)k), p->verdicts[k]);
        printf("\n");
    }
    return ok ? 0 : 1;
}

int main(int argc, char **argv)
{
    struct gen_opts o;
    gen_opts_default(&o);
    const char *only = NULL;
    int runs = 5;
    for (int i = 1; i < argc; i++) {
        int r = gen_opts_parse(&o, argc, argv, &i);
        if (r == 1)
            continue;
        if (r == 0 && strcmp(argv[i], "--stage") == 0 && i + 1 < argc) {
            only = argv[++i];
        } else if (r == 0 && strcmp(argv[i], "--runs") == 0 && i + 1 < argc) {
            runs = atoi(argv[++i]);
            if (runs < 1 || runs > 99)
                runs = 1;
        } else {
            fprintf(stderr,
                    "usage: sm_stages [--stage unpack|decode|join|write|all] [--runs N] "
                    "[options]\n" GEN_OPTS_USAGE);
            return 2;
        }
    }
    struct gen_result g;
    int64_t t0 = mono();
    if (gen_all(&o, &g) == -1) {
        fprintf(stderr, "out of memory generating\n");
        return 9;
    }
    printf("input: %" PRIu64 " connections, %" PRIu64 " records (%" PRIu64 " client, %" PRIu64
           " server), %zu messages, %.1f bytes/record, generated in %.2f s; %d runs per stage\n",
           o.connections, g.records, g.records_client, g.records_server, g.nmsgs,
           (double)g.bytes / (double)g.records, (double)(mono() - t0) / 1e9, runs);
    fflush(stdout);
    FILE *devnull = fopen("/dev/null", "w");
    if (devnull == NULL) {
        perror("/dev/null");
        return 3;
    }
    int64_t t[99];
    int rc = 0;
    struct sm_wire_header *h = malloc(sizeof *h); /* large (scope array) */
    if (h == NULL)
        return 9;

#define WANT(name) (only == NULL || strcmp(only, name) == 0)
    if (WANT("unpack")) {
        for (int r = 0; r < runs; r++) {
            int64_t a = mono();
            stage_unpack(&g);
            t[r] = mono() - a;
        }
        report("unpack", t, runs, g.records, g.nmsgs, "messages");
    }
    if (WANT("decode")) {
        for (int r = 0; r < runs; r++) {
            int64_t a = mono();
            stage_decode(&g, h);
            t[r] = mono() - a;
        }
        report("decode", t, runs, g.records, g.nmsgs, "messages");
    }
    struct sm_verdict *kept = NULL;
    size_t nkept = 0;
    if (WANT("join") || WANT("write")) {
        /* One untimed pass keeps the verdicts for `write` and checks them. */
        struct pipe p;
        pipe_open(&p);
        /* Sized up front: growing a 400 MB array mid-run stalls one batch for a second, and
         * the sensor books would call that silence a sensor going down. */
        p.capkeep = (size_t)o.connections + (size_t)g.missing + 1024;
        p.keep = malloc(p.capkeep * sizeof *p.keep);
        if (p.keep == NULL) {
            fprintf(stderr, "out of memory\n");
            return 9;
        }
        memset(p.keep, 0, p.capkeep * sizeof *p.keep); /* fault the pages in now */
        struct decoded *d = decode_all(&g);
        stage_join(&p, d, g.nmsgs);
        free_decoded(d, g.nmsgs);
        rc |= check_verdicts(&p, &o, &g);
        struct sm_join_stats js;
        sm_join_get_stats(p.join, &js);
        printf("join: peak pending %zu entries, late records %" PRIu64 ", evicted %" PRIu64
               ", out of scope %" PRIu64 "\n",
               js.peak_pending, js.late_records, js.evicted, js.out_of_scope);
        kept = p.keep;
        nkept = p.nkeep;
        pipe_close(&p);
    }
    if (WANT("join")) {
        for (int r = 0; r < runs; r++) {
            struct pipe p;
            pipe_open(&p);
            struct decoded *d = decode_all(&g);
            int64_t a = mono();
            stage_join(&p, d, g.nmsgs);
            t[r] = mono() - a;
            free_decoded(d, g.nmsgs);
            pipe_close(&p);
        }
        report("join", t, runs, g.records, g.nmsgs, "batches");
    }
    if (WANT("write")) {
        for (int r = 0; r < runs; r++) {
            int64_t a = mono();
            stage_write(kept, nkept, devnull);
            t[r] = mono() - a;
        }
        report("write", t, runs, g.records, nkept, "verdict lines");
    }
    free(kept);
    if (WANT("all")) {
        uint64_t bytes = 0;
        for (int r = 0; r < runs; r++) {
            struct pipe p;
            pipe_open(&p);
            p.out = devnull;
            int64_t a = mono();
            stage_all(&p, &g, h);
            t[r] = mono() - a;
            bytes = p.out_bytes;
            if (r == 0)
                rc |= check_verdicts(&p, &o, &g);
            pipe_close(&p);
        }
        report("all", t, runs, g.records, g.nmsgs, "messages");
        printf("all: %" PRIu64 " bytes of verdict lines\n", bytes);
    }
    free(h);
    fclose(devnull);
    gen_free(&g);
    return rc;
}
