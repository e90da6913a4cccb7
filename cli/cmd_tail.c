/*
 * cmd_tail.c - `synmatch tail ENDPOINT`: follow a collector's alerts (its --alerts-pub socket)
 * and print them for a person, one line each. With --json the lines are passed through.
 *
 * The lines are the collector's own JSON; they are still read defensively (bounded, field by
 * field), and anything that is not a known verdict or event is printed as it came.
 */
#include <getopt.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "cli.h"
#include "log.h"
#include "synmatch/keys.h"
#include "synmatch/nats.h"
#include "tail_nats.h"

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
    (void)sig;
    stop = 1;
}

/* Copies the value of "key" (a string without its quotes, or a bare number/literal) from a
 * one-line JSON object into out. Returns false when the key is absent. */
static bool field(const char *line, const char *key, char *out, size_t outlen)
{
    char pat[64];
    snprintf(pat, sizeof pat, "\"%s\":", key);
    const char *p = strstr(line, pat);
    if (p == NULL || outlen == 0)
        return false;
    p += strlen(pat);
    bool quoted = *p == '"';
    if (quoted)
        p++;
    size_t n = 0;
    while (*p && n + 1 < outlen && (quoted ? *p != '"' : (*p != ',' && *p != '}')))
        out[n++] = *p++;
    out[n] = '\0';
    return true;
}

/* The object after "key": e.g. {"src":"..","sport":1,...} as "src:sport -> dst:dport". */
static void tuple_of(const char *line, const char *key, char *out, size_t outlen)
{
    char pat[64];
    snprintf(pat, sizeof pat, "\"%s\":{", key);
    const char *p = strstr(line, pat);
    if (p == NULL) {
        snprintf(out, outlen, "-");
        return;
    }
    char obj[256];
    size_t n = 0;
    p += strlen(pat) - 1;
    while (*p && *p != '}' && n + 2 < sizeof obj)
        obj[n++] = *p++;
    obj[n++] = '}';
    obj[n] = '\0';
    char src[48] = "?", sport[8] = "?", dst[48] = "?", dport[8] = "?";
    field(obj, "src", src, sizeof src);
    field(obj, "sport", sport, sizeof sport);
    field(obj, "dst", dst, sizeof dst);
    field(obj, "dport", dport, sizeof dport);
    bool v6 = strchr(src, ':') != NULL;
    snprintf(out, outlen, v6 ? "[%s]:%s -> [%s]:%s" : "%s:%s -> %s:%s", src, sport, dst, dport);
}

/* The words a person scans for: every failure (and its early warning) in capitals, the
 * rest as the collector names them. */
static const char *display_name(const char *verdict)
{
    static const char *const loud[][2] = {
        {"suspect", "SUSPECT"},       {"missing", "MISSING"},
        {"unanswered", "UNANSWERED"}, {"reply_lost", "REPLY_LOST"},
        {"answered_by_middlebox", "MIDDLEBOX"},
    };
    for (size_t i = 0; i < sizeof loud / sizeof loud[0]; i++)
        if (strcmp(verdict, loud[i][0]) == 0)
            return loud[i][1];
    return verdict;
}

/* --verdict LIST: the verdicts shown, comma-separated; NULL shows all. */
static const char *only;

static bool wanted(const char *verdict)
{
    if (only == NULL)
        return true;
    size_t n = strlen(verdict);
    for (const char *p = only; *p;) {
        const char *e = strchr(p, ',');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        if (len == n && strncmp(p, verdict, n) == 0)
            return true;
        p += len + (e != NULL);
    }
    return false;
}

static void print_human(const char *line)
{
    char verdict[32], event[32], t[40], seq[16], attempts[12], reason[48], answer[16],
        delay[32], lost[12], sensor[80], role[12], got[16], flag[8];
    char client[160], server[160];
    if (field(line, "verdict", verdict, sizeof verdict)) {
        if (!wanted(verdict))
            return;
        field(line, "last", t, sizeof t);
        field(line, "seq", seq, sizeof seq);
        field(line, "attempts", attempts, sizeof attempts);
        tuple_of(line, "client", client, sizeof client);
        printf("%.23s  %-22s %s  seq %s  attempts %s", t, display_name(verdict), client, seq,
               attempts);
        if (field(line, "answer", answer, sizeof answer)) {
            tuple_of(line, "server", server, sizeof server);
            field(line, "delay", delay, sizeof delay);
            field(line, "lost_before", lost, sizeof lost);
            if (!field(line, "client_answer", got, sizeof got))
                snprintf(got, sizeof got, "?");
            printf("  server %s sent %s, client got %s, delay %s s", server, answer, got, delay);
            if (strcmp(lost, "0") != 0)
                printf(", %s lost first", lost);
            if (field(line, "syncookies", flag, sizeof flag))
                printf(", SYN cookies");
        } else if (field(line, "client_answer", answer, sizeof answer) &&
                   strcmp(answer, "none") != 0) {
            printf("  client got %s", answer);
        }
        if (field(line, "reason", reason, sizeof reason))
            printf("  (%s)", reason);
        printf("\n");
    } else if (field(line, "event", event, sizeof event)) {
        field(line, "time", t, sizeof t);
        if (field(line, "sensor", sensor, sizeof sensor)) {
            field(line, "role", role, sizeof role);
            printf("%.23s  %-22s %s (%s)\n", t, event, sensor, role);
        } else {
            printf("%.23s  %s\n", t, event);
        }
    } else {
        fputs(line, stdout);
    }
    fflush(stdout);
}

static void usage(FILE *out)
{
    fprintf(out,
            "usage: synmatch tail [--json] [--verdict LIST] [--key FILE --server-key KEY] ENDPOINT\n"
            "       synmatch tail [--json] [--verdict LIST] [--from-start] [--exit-idle SECONDS]\n"
            "                     [--nats-ca FILE [--nats-cert FILE --nats-key FILE]]\n"
            "                     [--nats-creds FILE] nats://HOST:PORT[,HOST:PORT...]\n"
            "\n"
            "Follows the alerts a collector publishes (synmatch-collector --alerts-pub ENDPOINT),\n"
            "or the verdict stream the collector shards of a JetStream deployment store (nats://),\n"
            "and prints one readable line per verdict or sensor event, until interrupted.\n"
            "Failures are in capitals: SUSPECT (the early warning), MISSING, UNANSWERED,\n"
            "REPLY_LOST, MIDDLEBOX; refused and the healthy ones are not.\n"
            "\n"
            "  --json          print the lines as they come\n"
            "  --verdict LIST  show only these verdicts (comma-separated names, as in\n"
            "                  docs/VERDICTS.md, e.g. suspect,missing,reply_lost); events still show\n"
            "  --key FILE      CURVE: this subscriber's secret key file (synmatch keygen); its\n"
            "                  public key must be on the collector's --alerts-allow list\n"
            "  --server-key KEY  CURVE: the collector's public key (a .pub file or its 40\n"
            "                  characters); needed with --key\n"
            "  --from-start    nats://: every line the stream holds first, then new ones\n"
            "  --exit-idle SECONDS  nats://: end once nothing new came for SECONDS\n"
            "  --nats-ca FILE, --nats-cert FILE, --nats-key FILE, --nats-creds FILE\n"
            "                  nats://: TLS and credentials, as the collector's\n"
            "\n"
            "A collector with --key publishes only to listed keys: a tail without one, or with\n"
            "a key not on the list, connects and receives nothing (the collector counts it).\n"
            "\n"
            "example:\n"
            "  synmatch tail --verdict missing,unanswered,reply_lost tcp://collector.example:7401\n"
            "  synmatch tail --key me.key --server-key collector.pub tcp://collector.example:7401\n"
            "  synmatch tail --verdict missing nats://198.18.0.21:4222,198.18.0.22:4222\n");
}

/* One line as it came: passed through (--json), or made readable. */
static void show_line(void *arg, const char *line)
{
    bool json = *(const bool *)arg;
    char verdict[32];
    if (json) {
        if (field(line, "verdict", verdict, sizeof verdict) && !wanted(verdict))
            return;
        fputs(line, stdout);
        if (line[0] && line[strlen(line) - 1] != '\n')
            fputc('\n', stdout);
        fflush(stdout);
    } else {
        print_human(line);
    }
}

int sm_cmd_tail(int argc, char **argv)
{
    bool json = false, from_start = false;
    int64_t idle_ns = 0;
    const char *key_file = NULL, *server_key = NULL;
    struct sm_nats_conn_opts nc = {.name = "synmatch tail"};
    static const struct option opts[] = {
        {"json", no_argument, NULL, 'j'},
        {"verdict", required_argument, NULL, 'v'},
        {"key", required_argument, NULL, 'k'},
        {"server-key", required_argument, NULL, 's'},
        {"from-start", no_argument, NULL, 'F'},
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
        if (ch == 'j') {
            json = true;
        } else if (ch == 'v') {
            only = optarg;
        } else if (ch == 'k') {
            key_file = optarg;
        } else if (ch == 's') {
            server_key = optarg;
        } else if (ch == 'F') {
            from_start = true;
        } else if (ch == 'I') {
            idle_ns = sm_cli_seconds("--exit-idle", optarg, true);
        } else if (ch == 'a') {
            nc.ca_file = optarg;
        } else if (ch == 'c') {
            nc.cert_file = optarg;
        } else if (ch == 'y') {
            nc.key_file = optarg;
        } else if (ch == 'r') {
            nc.creds_file = optarg;
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
    const char *endpoint = argv[optind];
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    if (sm_nats_is_url(endpoint)) {
        if (key_file || server_key)
            sm_fatalx(SM_EXIT_USAGE, "--key and --server-key are for a collector's ZeroMQ "
                      "alerts socket; over NATS use --nats-cert/--nats-key or --nats-creds");
        if ((nc.cert_file == NULL) != (nc.key_file == NULL))
            sm_fatalx(SM_EXIT_USAGE, "--nats-cert and --nats-key go together");
        nc.endpoint = endpoint;
        return sm_tail_nats(&nc, from_start, idle_ns / 1000000, show_line, &json, &stop) == 0
                   ? 0
                   : SM_EXIT_TRANSPORT;
    }
    if (from_start || idle_ns || nc.ca_file || nc.cert_file || nc.creds_file)
        sm_fatalx(SM_EXIT_USAGE, "--from-start, --exit-idle and --nats-* are for a nats:// "
                  "endpoint");
    if ((key_file == NULL) != (server_key == NULL))
        sm_fatalx(SM_EXIT_USAGE, "--key and --server-key go together");
    struct sm_keypair kp;
    char server_z85[SM_KEY_Z85_LEN + 1], err[512];
    if (key_file && (sm_keys_load_secret(key_file, &kp, err, sizeof err) == -1 ||
                     sm_keys_load_public(server_key, server_z85, err, sizeof err) == -1))
        sm_fatalx(SM_EXIT_CONFIG, "%s", err);
    void *ctx = zmq_ctx_new();
    void *sub = ctx ? zmq_socket(ctx, ZMQ_SUB) : NULL;
    if (sub == NULL)
        sm_fatalx(SM_EXIT_INTERNAL, "cannot create a ZeroMQ socket");
    int64_t maxmsg = 65536;
    int linger = 0;
    zmq_setsockopt(sub, ZMQ_MAXMSGSIZE, &maxmsg, sizeof maxmsg);
    zmq_setsockopt(sub, ZMQ_LINGER, &linger, sizeof linger);
    zmq_setsockopt(sub, ZMQ_SUBSCRIBE, "", 0);
    if (key_file && (zmq_setsockopt(sub, ZMQ_CURVE_SERVERKEY, server_z85, 41) == -1 ||
                     zmq_setsockopt(sub, ZMQ_CURVE_PUBLICKEY, kp.public_z85, 41) == -1 ||
                     zmq_setsockopt(sub, ZMQ_CURVE_SECRETKEY, kp.secret_z85, 41) == -1))
        sm_fatalx(SM_EXIT_INTERNAL, "cannot set the CURVE keys: %s", zmq_strerror(zmq_errno()));
    if (zmq_connect(sub, endpoint) == -1)
        sm_fatalx(SM_EXIT_USAGE, "cannot connect to %s: %s", endpoint, zmq_strerror(zmq_errno()));
    char buf[4097];
    while (!stop) {
        zmq_pollitem_t item = {sub, 0, ZMQ_POLLIN, 0};
        if (zmq_poll(&item, 1, 200) <= 0)
            continue;
        int n = zmq_recv(sub, buf, sizeof buf - 1, ZMQ_DONTWAIT);
        if (n < 0)
            continue;
        if ((size_t)n > sizeof buf - 1)
            n = (int)(sizeof buf - 1);
        buf[n] = '\0';
        show_line(&json, buf);
    }
    zmq_close(sub);
    zmq_ctx_term(ctx);
    return 0;
}
