/*
 * cmd_tail.c - `synmatch tail ENDPOINT`: follow a collector's alerts (its --alerts-pub socket)
 * and print them for a person, one line each. With --json the lines are passed through.
 *
 * Each line is parsed as JSON (cli/alerts.c: jansson, bounded, every value type-checked)
 * before anything is read from it; what is printed for a person is made printable first.
 * Lines are printed by kind: verdicts, events (a table of printers by event name, so a new
 * event such as the health lines gets its own by adding a row), and JSON objects of no known
 * kind as they came. Lines that are too long or not JSON objects are refused and counted by
 * reason (said once when first seen, the totals at exit).
 */
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "addr.h"
#include "alerts.h"
#include "cli.h"
#include "fmt.h"
#include "log.h"
#include "parse.h"
#include "synmatch/nats.h"
#include "tail_nats.h"
#include "synmatch/report.h"

#define MAX_SERVICES 64
#define MSGS_PER_FLUSH 1024 /* lines printed between two flushes when they come fast */

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
    (void)sig;
    stop = 1;
}

/* What to show (the options). */
struct tail_opts {
    bool json;
    bool filters; /* Wireshark display filters under each verdict */
    bool health;  /* only "event":"health" lines */
    const char *only; /* --verdict LIST, comma-separated; NULL: all */
    const char *sensor; /* --sensor ID: only lines naming this sensor */
    struct {
        struct sm_addr addr;
        uint16_t port;
    } services[MAX_SERVICES];
    size_t nservices;
};

/* ---- filters --------------------------------------------------------------------------- */

static bool in_list(const char *list, const char *name)
{
    size_t n = strlen(name);
    for (const char *p = list; *p;) {
        const char *e = strchr(p, ',');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        if (len == n && strncmp(p, name, n) == 0)
            return true;
        p += len + (e != NULL);
    }
    return false;
}

/* ADDR:PORT, [IPV6]:PORT. Returns 0 or -1. */
static int parse_service(const char *s, struct sm_addr *addr, uint16_t *port)
{
    char host[64];
    const char *colon = strrchr(s, ':');
    if (colon == NULL || colon == s)
        return -1;
    size_t n = (size_t)(colon - s);
    if (s[0] == '[') {
        if (n < 3 || s[n - 1] != ']')
            return -1;
        s++;
        n -= 2;
    }
    if (n >= sizeof host)
        return -1;
    memcpy(host, s, n);
    host[n] = '\0';
    uint64_t p;
    if (sm_addr_parse(host, addr) == -1 || sm_parse_u64(colon + 1, 0, 65535, &p) == -1)
        return -1;
    *port = (uint16_t)p;
    return 0;
}

/* The service of a verdict: where the client connected, or where the server was reached
 * (behind DNAT the two differ). */
static bool service_wanted(const struct tail_opts *o, const json_t *obj)
{
    if (o->nservices == 0)
        return true;
    struct sm_tuple t[2];
    bool have[2] = {sm_alert_tuple(obj, "client", &t[0]), sm_alert_tuple(obj, "server", &t[1])};
    for (size_t k = 0; k < o->nservices; k++)
        for (int s = 0; s < 2; s++)
            if (have[s] && t[s].dport == o->services[k].port &&
                sm_addr_eq(&t[s].dst, &o->services[k].addr))
                return true;
    return false;
}

/* Does the line name sensor id? Events name theirs ("sensor"); verdicts name none yet (the
 * join holds one view per role), unless a later collector adds one of these keys. */
static bool names_sensor(const json_t *obj, const char *id)
{
    static const char *const keys[] = {"sensor", "client_sensor", "server_sensor"};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        const char *s = sm_alert_str(obj, keys[i]);
        if (s && strcmp(s, id) == 0)
            return true;
    }
    return false;
}

static bool wanted(const struct tail_opts *o, const struct sm_alert *a)
{
    if (o->sensor && !names_sensor(a->obj, o->sensor))
        return false;
    if (o->health && !(a->kind == SM_ALERT_EVENT && strcmp(a->name, "health") == 0))
        return false;
    if (a->kind == SM_ALERT_EVENT && o->nservices > 0 && sm_alert_str(a->obj, "dst")) {
        /* a service's health line or alert: --service selects those of its services */
        struct sm_addr dst;
        int64_t port;
        const char *ds = sm_alert_str(a->obj, "dst");
        if (sm_addr_parse(ds, &dst) == -1 || !sm_alert_int(a->obj, "dport", &port))
            return false;
        for (size_t k = 0; k < o->nservices; k++)
            if (port == o->services[k].port && sm_addr_eq(&dst, &o->services[k].addr))
                return true;
        return false;
    }
    if (o->health || a->kind != SM_ALERT_VERDICT)
        return true; /* events and the rest: --verdict and --service select verdicts */
    return (o->only == NULL || in_list(o->only, a->name)) && service_wanted(o, a->obj);
}

/* ---- printers ---------------------------------------------------------------------------- */

/* A string value made printable ("?" when absent or not a string). */
static const char *text(char *buf, size_t n, const json_t *obj, const char *key)
{
    const char *s = sm_alert_str(obj, key);
    if (s == NULL)
        return strcpy(buf, "?");
    return sm_alert_printable(buf, n, s, strlen(s));
}

/* An integer value as text ("?" when absent or not an integer). */
static const char *integer(char *buf, const json_t *obj, const char *key)
{
    int64_t v;
    if (!sm_alert_int(obj, key, &v))
        return strcpy(buf, "?");
    *sm_fmt_i64(buf, v) = '\0';
    return buf;
}

/* "src:sport -> dst:dport" (IPv6 in brackets), or "?" when the object is not a tuple. */
static const char *tuple_text(char *buf, const json_t *obj, const char *key)
{
    struct sm_tuple t;
    if (!sm_alert_tuple(obj, key, &t))
        return strcpy(buf, "?");
    char *p = sm_fmt_endpoint(buf, &t.src, t.sport);
    p = sm_fmt_str(p, " -> ");
    p = sm_fmt_endpoint(p, &t.dst, t.dport);
    *p = '\0';
    return buf;
}

/* Under a verdict: one filter per side that saw the connection (docs/VERDICTS.md). */
static void print_filters(const json_t *obj)
{
    static const struct {
        const char *tuple, *seq, *stream, *label;
    } sides[2] = {{"client", "seq", "client_stream", "client"},
                  {"server", "server_seq", "server_stream", "server"}};
    for (int s = 0; s < 2; s++) {
        struct sm_tuple t;
        int64_t seq, stream;
        if (!sm_alert_tuple(obj, sides[s].tuple, &t) || !sm_alert_int(obj, sides[s].seq, &seq) ||
            seq < 0 || seq > UINT32_MAX)
            continue;
        char f[SM_REPORT_FILTER_MAX];
        printf("    %s: %s", sides[s].label, sm_report_filter(f, &t, (uint32_t)seq));
        if (sm_alert_int(obj, sides[s].stream, &stream))
            printf("   or   tcp.stream eq %" PRId64, stream);
        printf("\n");
    }
}

static void print_verdict(const struct tail_opts *o, const struct sm_alert *a)
{
    const json_t *obj = a->obj;
    char name[64], t[64], seq[24], attempts[24], client[160], server[160], sent[32], got[32],
        lost[24], reason[64];
    sm_alert_printable(name, sizeof name, a->name, strlen(a->name));
    printf("%.23s  %-22s %s  seq %s  attempts %s", text(t, sizeof t, obj, "last"),
           sm_alert_display_name(name), tuple_text(client, obj, "client"), integer(seq, obj, "seq"),
           integer(attempts, obj, "attempts"));
    double delay;
    if (sm_alert_str(obj, "answer")) {
        printf("  server %s sent %s, client got %s, delay ", tuple_text(server, obj, "server"),
               text(sent, sizeof sent, obj, "answer"), text(got, sizeof got, obj, "client_answer"));
        if (sm_alert_num(obj, "delay", &delay))
            printf("%.9f s", delay);
        else
            printf("? s");
        integer(lost, obj, "lost_before");
        if (strcmp(lost, "0") != 0)
            printf(", %s lost first", lost);
        if (sm_alert_true(obj, "syncookies"))
            printf(", SYN cookies");
    } else {
        const char *ca = sm_alert_str(obj, "client_answer");
        if (ca && strcmp(ca, "none") != 0)
            printf("  client got %s", text(got, sizeof got, obj, "client_answer"));
    }
    if (sm_alert_str(obj, "reason"))
        printf("  (%s)", text(reason, sizeof reason, obj, "reason"));
    printf("\n");
    if (o->filters)
        print_filters(obj);
}

/* Sensor and other events: time, name, and the sensor with its role when it names one. */
static void print_event(const struct sm_alert *a)
{
    char t[64], name[64], sensor[96], role[32];
    sm_alert_printable(name, sizeof name, a->name, strlen(a->name));
    text(t, sizeof t, a->obj, "time");
    if (sm_alert_str(a->obj, "sensor"))
        printf("%.23s  %-22s %s (%s)\n", t, name, text(sensor, sizeof sensor, a->obj, "sensor"),
               text(role, sizeof role, a->obj, "role"));
    else
        printf("%.23s  %s\n", t, name);
}

/* A service's health line, compactly: the service and its sensor, the verdicts of the
 * interval by kind (failures in capitals), suspects, retransmissions, delays, the SYNs from
 * unmonitored sources with their distinct sources, the lines not shown, the alarms. */
static void print_service_health(const struct sm_alert *a)
{
    const json_t *o = a->obj;
    char t[64], svc[96], sensor[96], name[64];
    printf("%.23s  %-22s %s", text(t, sizeof t, o, "time"), "health",
           text(svc, sizeof svc, o, "service"));
    if (sm_alert_str(o, "sensor"))
        printf(" (%s)", text(sensor, sizeof sensor, o, "sensor"));
    int64_t n;
    double d;
    const json_t *vs = json_object_get(o, "verdicts");
    const char *k;
    json_t *v;
    int shown = 0;
    if (json_is_object(vs)) {
        json_object_foreach((json_t *)vs, k, v) {
            if (!json_is_integer(v))
                continue;
            sm_alert_printable(name, sizeof name, k, strlen(k));
            printf("%s%s=%" JSON_INTEGER_FORMAT, shown++ ? " " : "  verdicts ",
                   sm_alert_display_name(name), json_integer_value(v));
        }
    }
    if (shown == 0)
        printf("  no verdicts");
    if (sm_alert_int(o, "suspects", &n) && n > 0)
        printf(" SUSPECT=%" PRId64, n);
    if (sm_alert_num(o, "retransmitted", &d) && d > 0)
        printf("  retransmitted %.1f%%", 100 * d);
    if (sm_alert_num(o, "delay_p50", &d)) {
        double p99 = 0;
        sm_alert_num(o, "delay_p99", &p99);
        printf("  delay p50 %.3f ms p99 %.3f ms", d * 1e3, p99 * 1e3);
    }
    if (sm_alert_int(o, "unmonitored_syns", &n) && n > 0) {
        double rate = 0;
        int64_t src = 0;
        sm_alert_num(o, "unmonitored_rate", &rate);
        printf("  unmonitored %.0f SYN/s", rate);
        if (sm_alert_int(o, "unmonitored_sources", &src))
            printf(" from ~%" PRId64 " sources", src);
    }
    if (sm_alert_int(o, "not_shown", &n) && n > 0)
        printf("  (%" PRId64 " lines not shown)", n);
    if (sm_alert_true(o, "degraded"))
        printf("  DEGRADED");
    if (sm_alert_true(o, "syn_flood"))
        printf("  SYN_FLOOD");
    if (sm_alert_true(o, "partial"))
        printf("  (partial)");
    printf("\n");
}

/* degraded, recovered, syn_flood, syn_flood_end: the service and the evidence. */
static void print_service_alert(const struct sm_alert *a)
{
    const json_t *o = a->obj;
    char t[64], svc[96], sensor[96], name[64];
    sm_alert_printable(name, sizeof name, a->name, strlen(a->name));
    bool bad = strcmp(name, "degraded") == 0 || strcmp(name, "syn_flood") == 0;
    if (bad)
        for (char *c = name; *c; c++)
            *c = (char)(*c >= 'a' && *c <= 'z' ? *c - 'a' + 'A' : *c);
    printf("%.23s  %-22s %s", text(t, sizeof t, o, "time"), name,
           text(svc, sizeof svc, o, "service"));
    if (sm_alert_str(o, "sensor"))
        printf(" (%s)", text(sensor, sizeof sensor, o, "sensor"));
    int64_t n, m;
    double d, e;
    if (sm_alert_num(o, "share", &d) && sm_alert_int(o, "groups", &n)) {
        printf("  %.1f%% of %" PRId64 " attempts in trouble", 100 * d, n);
        if (sm_alert_int(o, "suspects", &m))
            printf(" (suspects %" PRId64, m);
        if (sm_alert_int(o, "lost_attempts", &m))
            printf(", lost attempts %" PRId64, m);
        if (sm_alert_int(o, "failures", &m))
            printf(", failures %" PRId64 ")", m);
        if (sm_alert_num(o, "window", &e))
            printf(" over %.0f s", e);
    }
    if (sm_alert_num(o, "rate", &d) && !sm_alert_int(o, "groups", &n)) {
        printf("  %.0f SYN/s from unmonitored sources", d);
        if (sm_alert_num(o, "baseline", &e))
            printf(" (baseline %.1f/s)", e);
        if (sm_alert_num(o, "peak_rate", &e))
            printf(" (peak %.0f/s)", e);
        if (sm_alert_int(o, "sources", &m))
            printf(", ~%" PRId64 " sources", m);
        if (sm_alert_num(o, "unanswered", &e))
            printf(", %.0f%% unanswered", 100 * e);
        if (sm_alert_num(o, "answered_with_cookies", &e))
            printf(", %.0f%% with SYN cookies", 100 * e);
    }
    if (sm_alert_num(o, "duration", &d))
        printf("  after %.0f s", d);
    printf("\n");
}

/* A health line: the event line, then its other scalar values as key=value, in the order the
 * collector wrote them (whatever the health lines come to carry). A service's health line
 * (it names a "service") is printed compactly. */
static void print_health(const struct sm_alert *a)
{
    if (sm_alert_str(a->obj, "service")) {
        print_service_health(a);
        return;
    }
    char t[64], buf[160], key[64];
    printf("%.23s  %-22s", text(t, sizeof t, a->obj, "time"), "health");
    if (sm_alert_str(a->obj, "sensor"))
        printf(" %s", text(buf, sizeof buf, a->obj, "sensor"));
    const char *k;
    json_t *v;
    json_object_foreach(a->obj, k, v) {
        if (strcmp(k, "schema") == 0 || strcmp(k, "event") == 0 || strcmp(k, "time") == 0 ||
            strcmp(k, "sensor") == 0)
            continue;
        sm_alert_printable(key, sizeof key, k, strlen(k));
        if (json_is_string(v))
            printf("  %s=%s", key,
                   sm_alert_printable(buf, sizeof buf, json_string_value(v),
                                      json_string_length(v)));
        else if (json_is_integer(v))
            printf("  %s=%" JSON_INTEGER_FORMAT, key, json_integer_value(v));
        else if (json_is_real(v))
            printf("  %s=%g", key, json_real_value(v));
        else if (json_is_boolean(v))
            printf("  %s=%s", key, json_is_true(v) ? "true" : "false");
    }
    printf("\n");
}

/* Event printers by name; any other event gets print_event. */
static const struct {
    const char *event;
    void (*print)(const struct sm_alert *a);
} event_printers[] = {
    {"health", print_health},
    {"degraded", print_service_alert},
    {"recovered", print_service_alert},
    {"syn_flood", print_service_alert},
    {"syn_flood_end", print_service_alert},
};

static void print_human(const struct tail_opts *o, const struct sm_alert *a, const char *line,
                        size_t len)
{
    if (a->kind == SM_ALERT_VERDICT) {
        print_verdict(o, a);
        return;
    }
    if (a->kind == SM_ALERT_EVENT) {
        for (size_t i = 0; i < sizeof event_printers / sizeof event_printers[0]; i++) {
            if (strcmp(a->name, event_printers[i].event) == 0) {
                event_printers[i].print(a);
                return;
            }
        }
        print_event(a);
        return;
    }
    /* a JSON object of no known kind: as it came, made printable */
    static char raw[SM_ALERT_LINE_MAX + 1];
    while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
        len--;
    printf("%s\n", sm_alert_printable(raw, sizeof raw, line, len));
}

/* ---- the loop ------------------------------------------------------------------------------ */

static void usage(FILE *out)
{
    fprintf(out,
"usage: synmatch tail [--json] [--verdict LIST] [--service ADDR:PORT]... [--sensor ID]\n"
"                     [--health] [--filters] [--key FILE --server-key KEY] ENDPOINT\n"
"       synmatch tail [those options but --key] [--from-start] [--exit-idle SECONDS]\n"
"                     [--nats-ca FILE [--nats-cert FILE --nats-key FILE]]\n"
"                     [--nats-creds FILE] nats://HOST:PORT[,HOST:PORT...]\n"
"\n"
"Follows the alerts a collector publishes (synmatch-collector --alerts-pub ENDPOINT), or\n"
"the verdict stream the collector shards of a JetStream deployment store (nats://), and\n"
"prints one readable line per verdict or sensor event, until interrupted.\n"
"Failures are in capitals: SUSPECT (the early warning), MISSING, UNANSWERED,\n"
"REPLY_LOST, MIDDLEBOX; refused and the healthy ones are not.\n"
"\n"
"  --json          print the lines as they come (valid JSON objects only)\n"
"  --verdict LIST  show only these verdicts (comma-separated names, as in\n"
"                  docs/VERDICTS.md, e.g. suspect,missing,reply_lost); events still show\n"
"  --service ADDR:PORT  show only verdicts of connections to this service (the client's\n"
"                  destination, or the server's behind DNAT; [IPV6]:PORT; repeatable);\n"
"                  events still show\n"
"  --sensor ID     show only lines that name this sensor (its events; verdicts do not\n"
"                  name sensors)\n"
"  --health        show only health lines (\"event\":\"health\"): one compact line per\n"
"                  service and interval (with --service, those services only)\n"
"  --filters       under each verdict, a Wireshark display filter per side that saw it\n"
"                  (its SYNs and the answers to them), to paste into that side's capture\n"
"  --key FILE      CURVE: this subscriber's secret key file (synmatch keygen); its\n"
"                  public key must be on the collector's --alerts-allow list\n"
"  --server-key KEY  CURVE: the collector's public key (a .pub file or its 40\n"
"                  characters); needed with --key\n"
"  --from-start    nats://: every line the stream holds first, then new ones\n"
"  --exit-idle SECONDS  nats://: end once nothing new came for SECONDS\n"
"  --nats-ca FILE, --nats-cert FILE, --nats-key FILE, --nats-creds FILE\n"
"                  nats://: TLS and credentials, as the collector's\n"
"\n"
"Lines longer than %d bytes or that are not JSON objects are not shown; they are counted\n"
"by reason, said once when first seen and in total at exit. Nothing from a line reaches\n"
"the terminal unless printable.\n"
"\n"
"A collector with --key publishes only to listed keys: a tail without one, or with\n"
"a key not on the list, connects and receives nothing (the collector counts it).\n"
"\n"
"examples:\n"
"  synmatch tail --verdict missing,unanswered,reply_lost tcp://collector.example:7401\n"
"  synmatch tail --service 198.51.100.10:443 --filters tcp://collector.example:7401\n"
"  synmatch tail --key me.key --server-key collector.pub tcp://collector.example:7401\n"
"  synmatch tail --verdict missing nats://198.18.0.21:4222,198.18.0.22:4222\n",
            SM_ALERT_LINE_MAX);
}

/* What one tail has seen: lines, and those refused by reason. */
struct tail_state {
    const struct tail_opts *o;
    uint64_t refused[SM_ALERT_REFUSAL_COUNT], lines;
};

/* One line as it came (len bytes, a newline at its end or not): shown, or refused and
 * counted. */
static void take_line(struct tail_state *t, const char *line, size_t len)
{
    t->lines++;
    struct sm_alert a;
    enum sm_alert_refusal why;
    if (sm_alert_parse(&a, line, len, &why) == -1) {
        if (t->refused[why]++ == 0)
            sm_log_warnx("refusing lines that are %s (counted; the totals at exit)",
                         why == SM_ALERT_TOO_LONG ? "too long"
                         : why == SM_ALERT_NOT_JSON ? "not JSON"
                                                    : "not JSON objects");
        return;
    }
    if (wanted(t->o, &a)) {
        if (t->o->json) {
            fwrite(line, 1, len, stdout);
            if (len == 0 || line[len - 1] != '\n')
                putchar('\n');
        } else {
            print_human(t->o, &a, line, len);
        }
    }
    sm_alert_free(&a);
}

/* A line of the verdict stream (nats://), without its newline. */
static void take_nats_line(void *arg, const char *line)
{
    take_line(arg, line, strlen(line));
    fflush(stdout);
}

int sm_cmd_tail(int argc, char **argv)
{
    static struct tail_opts o;
    const char *key_file = NULL, *server_key = NULL;
    bool from_start = false;
    int64_t idle_ns = 0;
    struct sm_nats_conn_opts nc = {.name = "synmatch tail", .inbox_prefix = "_SM_INBOX.readers"};
    static const struct option opts[] = {
        {"json", no_argument, NULL, 'j'},
        {"verdict", required_argument, NULL, 'v'},
        {"service", required_argument, NULL, 'S'},
        {"sensor", required_argument, NULL, 'n'},
        {"health", no_argument, NULL, 'H'},
        {"filters", no_argument, NULL, 'F'},
        {"key", required_argument, NULL, 'k'},
        {"server-key", required_argument, NULL, 's'},
        {"from-start", no_argument, NULL, 'A'},
        {"exit-idle", required_argument, NULL, 'I'},
        {"nats-ca", required_argument, NULL, 'a'},
        {"nats-cert", required_argument, NULL, 'c'},
        {"nats-key", required_argument, NULL, 'y'},
        {"nats-creds", required_argument, NULL, 'r'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int ch;
    while ((ch = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (ch) {
        case 'j':
            o.json = true;
            break;
        case 'v':
            o.only = optarg;
            break;
        case 'S':
            if (o.nservices == MAX_SERVICES)
                sm_fatalx(SM_EXIT_USAGE, "--service: at most %d", MAX_SERVICES);
            if (parse_service(optarg, &o.services[o.nservices].addr,
                              &o.services[o.nservices].port) == -1)
                sm_fatalx(SM_EXIT_USAGE, "--service: expected ADDR:PORT or [IPV6]:PORT, not '%s'",
                          optarg);
            o.nservices++;
            break;
        case 'n':
            o.sensor = optarg;
            break;
        case 'H':
            o.health = true;
            break;
        case 'F':
            o.filters = true;
            break;
        case 'k':
            key_file = optarg;
            break;
        case 's':
            server_key = optarg;
            break;
        case 'A':
            from_start = true;
            break;
        case 'I':
            idle_ns = sm_cli_seconds("--exit-idle", optarg, true);
            break;
        case 'a':
            nc.ca_file = optarg;
            break;
        case 'c':
            nc.cert_file = optarg;
            break;
        case 'y':
            nc.key_file = optarg;
            break;
        case 'r':
            nc.creds_file = optarg;
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return SM_EXIT_USAGE;
        }
    }
    if (argc - optind != 1) {
        usage(stderr);
        return SM_EXIT_USAGE;
    }
    if (o.json && o.filters)
        sm_fatalx(SM_EXIT_USAGE, "--filters prints for a person: not with --json");
    const char *endpoint = argv[optind];
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    struct tail_state t = {.o = &o};
    int rc = 0;
    if (sm_nats_is_url(endpoint)) {
        if (key_file || server_key)
            sm_fatalx(SM_EXIT_USAGE, "--key and --server-key are for a collector's ZeroMQ "
                      "alerts socket; over NATS use --nats-cert/--nats-key or --nats-creds");
        if ((nc.cert_file == NULL) != (nc.key_file == NULL))
            sm_fatalx(SM_EXIT_USAGE, "--nats-cert and --nats-key go together");
        nc.endpoint = endpoint;
        if (sm_tail_nats(&nc, from_start, idle_ns / 1000000, take_nats_line, &t, &stop) == -1)
            rc = SM_EXIT_TRANSPORT;
    } else {
        if (from_start || idle_ns || nc.ca_file || nc.cert_file || nc.creds_file)
            sm_fatalx(SM_EXIT_USAGE, "--from-start, --exit-idle and --nats-* are for a nats:// "
                      "endpoint");
        void *ctx = zmq_ctx_new();
        void *sub = sm_alerts_subscribe(ctx, endpoint, key_file, server_key);
        while (!stop) {
            zmq_pollitem_t item = {sub, 0, ZMQ_POLLIN, 0};
            if (zmq_poll(&item, 1, 200) <= 0)
                continue;
            for (int k = 0; k < MSGS_PER_FLUSH && !stop; k++) {
                zmq_msg_t msg;
                zmq_msg_init(&msg);
                if (zmq_msg_recv(&msg, sub, ZMQ_DONTWAIT) == -1) {
                    zmq_msg_close(&msg);
                    break;
                }
                take_line(&t, zmq_msg_data(&msg), zmq_msg_size(&msg));
                zmq_msg_close(&msg);
            }
            fflush(stdout);
        }
        zmq_close(sub);
        zmq_ctx_term(ctx);
    }
    uint64_t total = 0;
    for (int r = 0; r < SM_ALERT_REFUSAL_COUNT; r++)
        total += t.refused[r];
    if (total)
        sm_log_warnx("%" PRIu64 " of %" PRIu64 " lines refused: too_long %" PRIu64
                     ", not_json %" PRIu64 ", not_object %" PRIu64,
                     total, t.lines, t.refused[SM_ALERT_TOO_LONG], t.refused[SM_ALERT_NOT_JSON],
                     t.refused[SM_ALERT_NOT_OBJECT]);
    return rc;
}
