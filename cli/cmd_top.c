/*
 * cmd_top.c - `synmatch top ENDPOINT`: a live full-screen view of a collector's alerts
 * (ncurses): services by failures, sensors with their state, the latest alerts.
 *
 * One thread: a poll over the alerts socket and the terminal, at most 50 ms; each turn
 * takes at most TURN_LINES lines off the socket (counted in cli/topmodel.c), reads the keys,
 * and redraws when something changed, at most every REDRAW_MS. So a feed of 50,000 verdicts
 * a second costs the counting, not the drawing, and keys are read between bounded turns.
 * Pause freezes the screen, not the counting. The terminal is restored on q, on SIGINT and
 * SIGTERM, and on every exit path after it was set up.
 */
#include <curses.h>
#include <getopt.h>
#include <inttypes.h>
#include <langinfo.h>
#include <locale.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "alerts.h"
#include "cli.h"
#include "clock.h"
#include "log.h"
#include "topmodel.h"

#define TURN_LINES 4096
#define REDRAW_MS 250
#define POLL_MS 50
#define LINE_MAX_COLS 512
#define FILTER_MAX 64

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
    (void)sig;
    stop = 1;
}

struct view {
    const char *endpoint;
    enum sm_top_sort sort;
    bool paused, prompting, utf8;
    char filter[FILTER_MAX], typed[FILTER_MAX];
    size_t ntyped;
};

/* Writes text at row y, cut to the screen's width, the rest of the row cleared. */
static void row(int y, int attr, const char *text)
{
    if (y < 0 || y >= LINES)
        return;
    attrset(attr);
    mvaddnstr(y, 0, text, COLS);
    clrtoeol();
    attrset(A_NORMAL);
}

static void sparkline(char *out, size_t outlen, const uint32_t *v, int n, bool utf8)
{
    static const char *const blocks[8] = {"\xe2\x96\x81", "\xe2\x96\x82", "\xe2\x96\x83",
                                          "\xe2\x96\x84", "\xe2\x96\x85", "\xe2\x96\x86",
                                          "\xe2\x96\x87", "\xe2\x96\x88"};
    static const char ascii[] = "_.-=+*#@";
    uint32_t top = 0;
    for (int i = 0; i < n; i++)
        top = v[i] > top ? v[i] : top;
    size_t o = 0;
    for (int i = 0; i < n && o + 4 < outlen; i++) {
        if (v[i] == 0) {
            out[o++] = ' ';
            continue;
        }
        int level = (int)((uint64_t)(v[i] - 1) * 8 / top); /* 1..top -> 0..7 */
        if (utf8) {
            memcpy(out + o, blocks[level], 3);
            o += 3;
        } else {
            out[o++] = ascii[level];
        }
    }
    out[o] = '\0';
}

static const char *state_name(enum sm_sensor_state s)
{
    switch (s) {
    case SM_TOP_UP:
        return "up";
    case SM_TOP_DOWN:
        return "DOWN";
    case SM_TOP_ENDED:
        return "ended";
    default:
        return "closed";
    }
}

static void draw(sm_top_t *t, const struct view *v, int64_t now)
{
    char line[LINE_MAX_COLS + 64];
    struct sm_top_totals tt;
    sm_top_totals(t, now, &tt);
    uint64_t refused = 0;
    for (int r = 0; r < SM_ALERT_REFUSAL_COUNT; r++)
        refused += tt.refused[r];
    char offset[48] = "clock offset -";
    if (tt.have_offset)
        snprintf(offset, sizeof offset, "clock offset %.3f ms%s", tt.offset_s * 1e3,
                 tt.corrected ? " (corrected)" : "");
    /* what changes with the keys first: a narrow terminal still shows it */
    snprintf(line, sizeof line,
             " synmatch top%s | sort %s%s%s | verdicts %" PRIu64 " %.0f/s | failures %" PRIu64
             " %.1f/s | lines %" PRIu64 " refused %" PRIu64 " | %s | %s",
             v->paused ? " PAUSED" : "", sm_top_sort_name(v->sort),
             v->filter[0] ? " | filter " : "", v->filter, tt.verdicts, tt.rate, tt.failures,
             tt.failure_rate, tt.lines, refused, offset, v->endpoint);
    row(0, A_REVERSE, line);

    /* the panes: services get what sensors and alerts leave, at least a few rows each */
    const struct sm_top_sensor *sensors[SM_TOP_MAX_SENSORS];
    size_t nsens = sm_top_sensors(t, sensors, SM_TOP_MAX_SENSORS);
    int body = LINES - 2; /* header, footer */
    int sens_rows = (int)nsens + 2 < body / 4 ? (int)nsens + 2 : body / 4;
    int alert_rows = body / 4;
    int svc_rows = body - sens_rows - alert_rows;
    int y = 1;

    const struct sm_top_service *svc[256];
    int want = svc_rows - 2 > 0 ? svc_rows - 2 : 0;
    if (want > 256)
        want = 256;
    size_t nsvc = sm_top_services(t, v->sort, v->filter, now, svc, (size_t)want);
    snprintf(line, sizeof line, "SERVICES (%zu)", nsvc);
    row(y++, A_BOLD, line);
    snprintf(line, sizeof line, "%-30s %9s %7s %9s %7s %6s %7s %7s %7s %7s %6s  %s",
             "SERVICE", "VERDICTS", "/s", "FAILURES", "/s", "FAIL%", "missing", "rep_lost",
             "unansw", "mbox", "other", "FAILURES, LAST 5 MIN");
    row(y++, A_UNDERLINE, line);
    for (int i = 0; i < want && (size_t)i < nsvc; i++) {
        const struct sm_top_service *s = svc[i];
        uint64_t other = s->total - s->verdicts[SM_V_MATCHED] - s->verdicts[SM_V_REFUSED] -
                         s->failures;
        uint32_t sp[SM_TOP_SPARK];
        char spark[SM_TOP_SPARK * 3 + 1];
        sm_top_spark(s, now, sp);
        sparkline(spark, sizeof spark, sp, SM_TOP_SPARK, v->utf8);
        snprintf(line, sizeof line,
                 "%-30s %9" PRIu64 " %7.1f %9" PRIu64 " %7.1f %5.1f%% %7" PRIu64 " %7" PRIu64
                 " %7" PRIu64 " %7" PRIu64 " %6" PRIu64 "  %s",
                 s->name, s->total, sm_top_rate(s, now, false), s->failures,
                 sm_top_rate(s, now, true),
                 s->total ? 100.0 * (double)s->failures / (double)s->total : 0.0,
                 s->verdicts[SM_V_MISSING], s->verdicts[SM_V_REPLY_LOST],
                 s->verdicts[SM_V_UNANSWERED], s->verdicts[SM_V_ANSWERED_BY_MIDDLEBOX], other,
                 spark);
        row(y++, s->failures ? A_BOLD : A_NORMAL, line);
    }
    while (y < 1 + svc_rows)
        row(y++, A_NORMAL, "");

    snprintf(line, sizeof line, "SENSORS (%zu)", nsens);
    row(y++, A_BOLD, line);
    snprintf(line, sizeof line, "%-24s %-8s %-7s %-26s %-14s %10s %12s", "SENSOR", "ROLE",
             "STATE", "SINCE", "LAST EVENT", "DROPS", "OFFSET");
    row(y++, A_UNDERLINE, line);
    for (size_t i = 0; i + 2 < (size_t)sens_rows && i < nsens; i++) {
        const struct sm_top_sensor *s = sensors[i];
        char drops[24] = "-", off[24] = "-";
        if (s->have_drops)
            snprintf(drops, sizeof drops, "%" PRIu64, s->drops);
        if (s->have_offset)
            snprintf(off, sizeof off, "%.3f ms", s->offset_s * 1e3);
        snprintf(line, sizeof line, "%-24s %-8s %-7s %-26s %-14s %10s %12s", s->name, s->role,
                 state_name(s->state), s->since, s->last, drops, off);
        row(y++, s->state == SM_TOP_DOWN ? A_BOLD : A_NORMAL, line);
    }
    while (y < 1 + svc_rows + sens_rows)
        row(y++, A_NORMAL, "");

    row(y++, A_BOLD, "LATEST ALERTS");
    const struct sm_top_alert *al[SM_TOP_ALERTS];
    size_t nal = sm_top_alerts(t, v->filter, al, (size_t)(alert_rows > 1 ? alert_rows - 1 : 0));
    for (size_t i = 0; i < nal; i++)
        row(y++, al[i]->failure ? A_BOLD : A_NORMAL, al[i]->text);
    while (y < LINES - 1)
        row(y++, A_NORMAL, "");

    if (v->prompting) {
        snprintf(line, sizeof line, " filter services (Enter applies, Esc cancels): %s", v->typed);
        row(LINES - 1, A_REVERSE, line);
    } else {
        row(LINES - 1, A_REVERSE,
            " q quit   p pause   s sort   f filter by service   c clear the filter");
    }
    refresh();
}

/* A key. Returns false to quit. */
static bool key(struct view *v, int ch)
{
    if (v->prompting) {
        if (ch == '\n' || ch == KEY_ENTER || ch == '\r') {
            memcpy(v->filter, v->typed, v->ntyped + 1);
            v->prompting = false;
        } else if (ch == 27) {
            v->prompting = false;
        } else if ((ch == KEY_BACKSPACE || ch == 127 || ch == 8) && v->ntyped > 0) {
            v->typed[--v->ntyped] = '\0';
        } else if (ch >= 0x20 && ch < 0x7f && v->ntyped + 1 < FILTER_MAX) {
            v->typed[v->ntyped++] = (char)ch;
            v->typed[v->ntyped] = '\0';
        }
        return true;
    }
    switch (ch) {
    case 'q':
    case 'Q':
        return false;
    case 'p':
    case ' ':
        v->paused = !v->paused;
        break;
    case 's':
        v->sort = (enum sm_top_sort)((v->sort + 1) % SM_TOP_SORT_COUNT);
        break;
    case 'f':
    case '/':
        v->prompting = true;
        v->ntyped = 0;
        v->typed[0] = '\0';
        break;
    case 'c':
        v->filter[0] = '\0';
        break;
    default:
        break;
    }
    return true;
}

static void usage(FILE *out)
{
    fprintf(out,
"usage: synmatch top [--key FILE --server-key KEY] ENDPOINT\n"
"\n"
"A live full-screen view of a collector's alerts (synmatch-collector --alerts-pub\n"
"ENDPOINT): services sorted by failures, with verdicts and failures per second over the\n"
"last ten seconds, the share of each failing verdict and a sparkline of failures over\n"
"the last five minutes; the sensors with their state (from sensor events and health\n"
"lines); the latest alerts. Redrawn at most four times a second.\n"
"\n"
"keys: q quit, p (or space) pause the screen (counting goes on), s next sort order\n"
"(failures, rate, failure share, name), f (or /) filter services by text, c clear it\n"
"\n"
"  --key FILE        CURVE: this subscriber's secret key file (on the collector's\n"
"                    --alerts-allow list)\n"
"  --server-key KEY  CURVE: the collector's public key; needed with --key\n"
"\n"
"example:\n"
"  synmatch top --key me.key --server-key collector.pub tcp://collector.example:7401\n");
}

int sm_cmd_top(int argc, char **argv)
{
    const char *key_file = NULL, *server_key = NULL;
    static const struct option opts[] = {
        {"key", required_argument, NULL, 'k'},
        {"server-key", required_argument, NULL, 's'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int ch;
    while ((ch = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        if (ch == 'k') {
            key_file = optarg;
        } else if (ch == 's') {
            server_key = optarg;
        } else if (ch == 'h') {
            usage(stdout);
            return 0;
        } else {
            usage(stderr);
            return SM_EXIT_USAGE;
        }
    }
    if (argc - optind != 1) {
        usage(stderr);
        return SM_EXIT_USAGE;
    }
    setlocale(LC_ALL, "");
    struct view v = {.sort = SM_TOP_BY_FAILURES};
    char endpoint[128];
    v.endpoint = sm_alert_printable(endpoint, sizeof endpoint, argv[optind], strlen(argv[optind]));
    v.utf8 = strcmp(nl_langinfo(CODESET), "UTF-8") == 0;
    void *ctx = zmq_ctx_new();
    void *sub = sm_alerts_subscribe(ctx, argv[optind], key_file, server_key);
    sm_top_t *t = sm_top_new();
    if (t == NULL)
        sm_fatalx(SM_EXIT_INTERNAL, "out of memory");
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);

    if (initscr() == NULL)
        sm_fatalx(SM_EXIT_USAGE, "cannot set up the terminal");
    cbreak();
    noecho();
    nodelay(stdscr, TRUE);
    keypad(stdscr, TRUE);
    curs_set(0);
    set_escdelay(25);

    int64_t next_draw = 0, drawn_at = 0;
    uint64_t drawn_gen = UINT64_MAX;
    bool dirty = true, quit = false;
    while (!quit && !stop) {
        zmq_pollitem_t items[2] = {{sub, 0, ZMQ_POLLIN, 0}, {NULL, 0, ZMQ_POLLIN, 0}};
        zmq_poll(items, 2, POLL_MS);
        int64_t now = sm_clock_mono_ns();
        for (int k = 0; k < TURN_LINES; k++) {
            zmq_msg_t msg;
            zmq_msg_init(&msg);
            if (zmq_msg_recv(&msg, sub, ZMQ_DONTWAIT) == -1) {
                zmq_msg_close(&msg);
                break;
            }
            sm_top_line(t, zmq_msg_data(&msg), zmq_msg_size(&msg), now);
            zmq_msg_close(&msg);
        }
        while ((ch = getch()) != ERR) {
            if (ch == KEY_RESIZE) {
                clear();
                dirty = true;
                continue;
            }
            bool was_paused = v.paused;
            if (!key(&v, ch)) {
                quit = true;
                break;
            }
            dirty = true;
            if (v.paused && !was_paused)
                next_draw = 0; /* show PAUSED at once */
        }
        /* new lines, a key, or a second gone by (rates and sparklines move with time) */
        bool changed = dirty || sm_top_generation(t) != drawn_gen || now >= drawn_at + SM_NS_PER_SEC;
        if (!quit && changed && now >= next_draw && (!v.paused || dirty)) {
            draw(t, &v, now);
            drawn_gen = sm_top_generation(t);
            drawn_at = now;
            dirty = false;
            next_draw = now + REDRAW_MS * SM_NS_PER_MS;
        }
    }
    endwin();
    struct sm_top_totals tt;
    sm_top_totals(t, sm_clock_mono_ns(), &tt);
    uint64_t refused = 0;
    for (int r = 0; r < SM_ALERT_REFUSAL_COUNT; r++)
        refused += tt.refused[r];
    sm_log_info("%" PRIu64 " lines: %" PRIu64 " verdicts, %" PRIu64 " failures, %" PRIu64
                " events, %" PRIu64 " refused (too_long %" PRIu64 ", not_json %" PRIu64
                ", not_object %" PRIu64 ")",
                tt.lines, tt.verdicts, tt.failures, tt.events, refused,
                tt.refused[SM_ALERT_TOO_LONG], tt.refused[SM_ALERT_NOT_JSON],
                tt.refused[SM_ALERT_NOT_OBJECT]);
    sm_top_destroy(&t);
    zmq_close(sub);
    zmq_ctx_term(ctx);
    return 0;
}
