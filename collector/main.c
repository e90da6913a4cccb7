/*
 * main.c - `synmatch-collector`: options (from the command line and a --config file,
 * common/config.h), signals, output file; the work is in collector.c.
 */
#include <getopt.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "collector.h"
#include "config.h"
#include "nats_source.h"
#include "exit.h"
#include "log.h"
#include "parse.h"
#include "synmatch/wire.h"

#define SM_NS_PER_SEC_MAIN INT64_C(1000000000)

static volatile sig_atomic_t stop, reload;
/* The options as parsed; file-scope and freed at exit, since optarg strings point into it. */
static sm_config_t *conf;

static void free_config(void)
{
    sm_config_destroy(&conf);
}

static void on_signal(int sig)
{
    if (sig == SIGHUP)
        reload = 1;
    else
        stop = 1;
}

static void usage(FILE *out)
{
    fprintf(out,
"usage: synmatch-collector --listen ENDPOINT [options]\n"
"       synmatch-collector --config FILE [--check-config] [options]\n"
"\n"
"Receives SYN records from synmatch-agent processes (ZeroMQ PULL, bound on ENDPOINT, or\n"
"NATS JetStream consumers), joins each client SYN to the server's by ISN on event time,\n"
"and writes one JSON line per verdict (docs/VERDICTS.md) and per sensor event: `suspect`\n"
"early, then exactly one final verdict per client SYN, in handshake order (matched,\n"
"missing, refused, reply_lost, unanswered, answered_by_middlebox), or what the evidence\n"
"cannot decide (sensor_capture_loss, transport_loss, sensor_down, collector_overload,\n"
"unknown, ambiguous).\n"
"\n"
"options:\n"
"  --listen ENDPOINT     tcp://ADDR:PORT or ipc:///path (required), or the NATS servers\n"
"                        nats://HOST:PORT[,HOST:PORT...] to consume from (docs/DEPLOY.md)\n"
"  --shard K/N           nats://: own the partitions p with p %% N == K (default 0/1)\n"
"  --partitions N        --nats-setup: how many partitions the records stream has\n"
"                        (default %u; fixed once made); otherwise checked against it\n"
"  --nats-setup          nats://: create or update the streams (records, verdicts) and one\n"
"                        durable consumer per partition, then exit (idempotent)\n"
"  --nats-replicas N     --nats-setup: the streams' replicas, 1 or 3 (default 1)\n"
"  --nats-max-age SECONDS  --nats-setup: how long the records stream keeps records\n"
"                        (default 3600: longer than a shard may stay down)\n"
"  --nats-max-bytes N    --nats-setup: and at most N bytes of them (default: no bound)\n"
"  --nats-replay SECONDS nats://: after a restart, replay each partition this far back\n"
"                        from where the last shard stopped (default 180: longer than a\n"
"                        client SYN group lives: its retries, then 120 s of quiet at most)\n"
"  --nats-creds FILE     nats://: NATS credentials (user JWT and nkey seed)\n"
"  --nats-ca FILE        nats://: TLS, the servers' CA (--nats-cert, --nats-key: a client\n"
"                        certificate)\n"
"  --output FILE         verdict lines to FILE (appended) instead of standard output;\n"
"                        SIGHUP reopens it (log rotation: move it away, then SIGHUP)\n"
"  --alerts-pub ENDPOINT also publish the lines on a ZeroMQ PUB socket (synmatch tail);\n"
"                        with --key it is encrypted too and only --alerts-allow may read it\n"
"  --timeout SECONDS     time for a SYN to reach the server and for the next\n"
"                        retransmission, in event time (default 3)\n"
"  --max-skew SECONDS    error allowed in the hosts' clocks agreeing (default 1): their\n"
"                        offset is measured from connections both sensors saw and\n"
"                        corrected (a clock_offset event says so); this allows for the rest\n"
"  --no-clock-correction measure and report the offset, but leave the server's times\n"
"  --sensor-timeout SECONDS  silence after which a sensor is down (default 1; over\n"
"                        nats:// 15: a cluster electing leaders is seconds late)\n"
"  --max-pending N       SYN entries held at once (default 1000000); past it the oldest\n"
"                        end as collector_overload\n"
"  --stats SECONDS       stats line on stderr every SECONDS (default 10, 0 = never)\n"
"  --community-id-seed N seed of the Community ID flow hashes in the verdicts\n"
"                        (community_id, server_community_id; 0 to 65535, default 0: use\n"
"                        the seed the Zeek, Suricata or Wireshark you pivot into uses)\n"
"  --key FILE            CURVE: the collector's secret key file (synmatch keygen)\n"
"  --allow FILE          CURVE: the agents allowed, one 'SENSOR-ID PUBLIC-KEY' per line;\n"
"                        a batch must come from the key of the sensor it names. SIGHUP\n"
"                        reloads it. Without --key, only loopback and ipc:// endpoints\n"
"                        (for --listen and --alerts-pub alike)\n"
"  --alerts-allow FILE   CURVE: who may read the alerts, one 'NAME PUBLIC-KEY' per line\n"
"                        (synmatch tail --key); agents' keys do not count. SIGHUP reloads\n"
"                        it and makes every subscriber reconnect. With --key and without\n"
"                        it, nobody may read the alerts\n"
"  --insecure            without keys, listen and publish on any endpoint anyway (trusted\n"
"                        networks only)\n"
"  --exit-when-done      exit once client and server sensors have been seen and every\n"
"                        sensor has sent end-of-stream (or was closed after 10 minutes of\n"
"                        silence: its end will not come)\n"
"  --health-interval SECONDS  one health line per service every SECONDS of event time\n"
"                        (default 10, at least 1; 0 = no health lines and no alerts)\n"
"  --health-services N   health lines for the N busiest services, the rest summed in\n"
"                        one 'other' line (default 100, at most 1000)\n"
"  --degraded-share PERCENT  a service is degraded when this share of its connection\n"
"                        attempts is in trouble over --degraded-window (default 5)\n"
"  --degraded-window SECONDS  (default 30; at most 64 health intervals)\n"
"  --degraded-min N      connection attempts in the window at least (default 20)\n"
"  --flood-floor RATE    syn_flood needs at least RATE SYN/s from unmonitored sources\n"
"                        (and 5x their 60 s average; default 1000)\n"
"  --pub-limit N         at most N verdict lines a second per service on --alerts-pub\n"
"                        (event time; the rest counted in the health lines' not_shown;\n"
"                        --output gets every line; default 100, 0 = no limit)\n"
"  --metrics-listen ADDR:PORT  serve Prometheus metrics on http://ADDR:PORT/metrics\n"
"                        (PORT alone: 127.0.0.1; [::1]:PORT for IPv6; docs/METRICS.md)\n"
"  --config FILE         read options from FILE first: 'key = value' lines, keys are\n"
"                        the long options here (a flag takes true or false); the\n"
"                        command line wins\n"
"  --check-config        check the options, print them as a --config file, and exit\n"
"  --version             print the version and exit\n"
"  -h, --help            this text\n"
"\n"
SM_EXIT_HELP
"\n"
"examples:\n"
"  synmatch-collector --listen tcp://0.0.0.0:7400 --key collector.key --allow agents.allow \\\n"
"      --alerts-pub tcp://127.0.0.1:7401\n"
"  synmatch-collector --listen ipc:///run/synmatch.sock --output /var/log/synmatch.jsonl\n"
"  synmatch-collector --listen nats://198.18.0.21:4222,198.18.0.22:4222 --nats-setup \\\n"
"      --nats-replicas 3\n"
"  synmatch-collector --listen nats://198.18.0.21:4222,198.18.0.22:4222 --shard 0/2 \\\n"
"      --output /var/log/synmatch/shard0.jsonl\n",
            SM_NATS_DEFAULT_PARTITIONS);
}

/* Seconds for option opt (at most 10^6), or a usage error naming it. */
static int64_t seconds(const char *opt, const char *s, bool positive)
{
    int64_t ns;
    if (sm_parse_seconds(s, 1000000, 0, &ns) == -1 || (positive && ns == 0))
        sm_fatalx(SM_EXIT_USAGE, "%s: not a %snumber of seconds: '%s'", opt,
                  positive ? "positive " : "", s);
    return ns;
}

/* A positive decimal number (at most nine decimals) up to max for option opt. */
static double decimal(const char *opt, const char *s, int64_t max)
{
    int64_t v;
    if (sm_parse_seconds(s, max, 0, &v) == -1 || v == 0)
        sm_fatalx(SM_EXIT_USAGE, "%s: not a positive number up to %lld: '%s'", opt,
                  (long long)max, s);
    return (double)v / 1e9;
}

static int exit_for(enum sm_collector_err e)
{
    switch (e) {
    case SM_COLLECTOR_OK:
        return SM_EXIT_OK;
    case SM_COLLECTOR_ERR_USAGE:
        return SM_EXIT_USAGE;
    case SM_COLLECTOR_ERR_CONFIG:
        return SM_EXIT_CONFIG;
    case SM_COLLECTOR_ERR_TRANSPORT:
        return SM_EXIT_TRANSPORT;
    case SM_COLLECTOR_ERR_OUTPUT:
        return SM_EXIT_OPEN;
    case SM_COLLECTOR_ERR_NOMEM:
    case SM_COLLECTOR_ERR_INTERNAL:
        return SM_EXIT_INTERNAL;
    }
    return SM_EXIT_INTERNAL;
}

int main(int argc, char **argv)
{
    sm_log_init("synmatch-collector");
    struct sm_collector_config cfg = {.out = stdout, .stop = &stop, .reload = &reload};
    const char *output = NULL;
    bool setup = false;
    int replicas = 1;
    int64_t max_age_ns = 3600 * INT64_C(1000000000), max_bytes = 0;
    static const struct option opts[] = {
        {"listen", required_argument, NULL, 'l'},
        {"output", required_argument, NULL, 'o'},
        {"alerts-pub", required_argument, NULL, 'p'},
        {"timeout", required_argument, NULL, 't'},
        {"max-skew", required_argument, NULL, 'k'},
        {"no-clock-correction", no_argument, NULL, 'C'},
        {"sensor-timeout", required_argument, NULL, 'd'},
        {"max-pending", required_argument, NULL, 'm'},
        {"stats", required_argument, NULL, 's'},
        {"community-id-seed", required_argument, NULL, 'i'},
        {"exit-when-done", no_argument, NULL, 'x'},
        {"key", required_argument, NULL, 'K'},
        {"allow", required_argument, NULL, 'A'},
        {"alerts-allow", required_argument, NULL, 'S'},
        {"insecure", no_argument, NULL, 'I'},
        {"shard", required_argument, NULL, 'H'},
        {"partitions", required_argument, NULL, 'P'},
        {"nats-setup", no_argument, NULL, 'N'},
        {"nats-replicas", required_argument, NULL, 'R'},
        {"nats-max-age", required_argument, NULL, 'M'},
        {"nats-max-bytes", required_argument, NULL, 'B'},
        {"nats-replay", required_argument, NULL, 'Y'},
        {"nats-creds", required_argument, NULL, 'c'},
        {"nats-ca", required_argument, NULL, 'a'},
        {"nats-cert", required_argument, NULL, 'e'},
        {"nats-key", required_argument, NULL, 'y'},
        {"health-interval", required_argument, NULL, 258},
        {"health-services", required_argument, NULL, 259},
        {"degraded-share", required_argument, NULL, 260},
        {"degraded-window", required_argument, NULL, 261},
        {"degraded-min", required_argument, NULL, 262},
        {"flood-floor", required_argument, NULL, 263},
        {"pub-limit", required_argument, NULL, 264},
        {"metrics-listen", required_argument, NULL, 265},
        {"config", required_argument, NULL, 256},
        {"check-config", no_argument, NULL, 257},
        {"version", no_argument, NULL, 'V'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int ch;
    char err[512];
    enum sm_config_err cerr;
    conf = sm_config_new(argc, argv, "h", opts, &cerr, err, sizeof err);
    if (conf == NULL)
        sm_fatalx(cerr == SM_CONFIG_ERR_FILE    ? SM_EXIT_CONFIG
                  : cerr == SM_CONFIG_ERR_USAGE ? SM_EXIT_USAGE
                                                : SM_EXIT_INTERNAL,
                  "%s", err);
    atexit(free_config);
    while ((ch = sm_config_getopt(conf)) != -1) {
        int64_t ns;
        uint64_t n;
        switch (ch) {
        case 'l':
            cfg.listen = optarg;
            break;
        case 'o':
            output = optarg;
            break;
        case 'p':
            cfg.alerts_pub = optarg;
            break;
        case 't':
            cfg.timeout_ns = seconds("--timeout", optarg, true);
            break;
        case 'k':
            cfg.max_skew_ns = seconds("--max-skew", optarg, false);
            if (cfg.max_skew_ns == 0)
                cfg.max_skew_ns = -1; /* exactly zero */
            break;
        case 'C':
            cfg.no_clock_correction = true;
            break;
        case 'd':
            cfg.down_after_ns = seconds("--sensor-timeout", optarg, true);
            break;
        case 'i':
            if (sm_parse_u64(optarg, 0, UINT16_MAX, &n) == -1)
                sm_fatalx(SM_EXIT_USAGE, "--community-id-seed: not a number from 0 to %u: '%s'",
                          UINT16_MAX, optarg);
            cfg.community_id_seed = (uint16_t)n;
            break;
        case 'm':
            if (sm_parse_u64(optarg, 1, UINT32_MAX - 2, &n) == -1)
                sm_fatalx(SM_EXIT_USAGE, "--max-pending: not a number from 1 to %u: '%s'",
                          UINT32_MAX - 2, optarg);
            cfg.max_pending = (size_t)n;
            break;
        case 's':
            ns = seconds("--stats", optarg, false);
            cfg.stats_every_ns = ns == 0 ? -1 : ns;
            break;
        case 'x':
            cfg.exit_when_done = true;
            break;
        case 'K':
            cfg.key_file = optarg;
            break;
        case 'S':
            cfg.alerts_allow_file = optarg;
            break;
        case 'A':
            cfg.allow_file = optarg;
            break;
        case 'I':
            cfg.insecure = true;
            break;
        case 'H': {
            unsigned k, nsh;
            char extra;
            if (sscanf(optarg, "%u/%u%c", &k, &nsh, &extra) != 2 || nsh == 0 ||
                nsh > SM_WIRE_MAX_PARTITIONS || k >= nsh)
                sm_fatalx(SM_EXIT_USAGE, "--shard: K/N with 0 <= K < N <= %u, not '%s'",
                          SM_WIRE_MAX_PARTITIONS, optarg);
            cfg.shard = k;
            cfg.shards = nsh;
            break;
        }
        case 'P':
            if (sm_parse_u64(optarg, 1, SM_WIRE_MAX_PARTITIONS, &n) == -1)
                sm_fatalx(SM_EXIT_USAGE, "--partitions: not a number from 1 to %u: '%s'",
                          SM_WIRE_MAX_PARTITIONS, optarg);
            cfg.partitions = (uint32_t)n;
            break;
        case 'N':
            setup = true;
            break;
        case 'R':
            if (sm_parse_u64(optarg, 1, 5, &n) == -1)
                sm_fatalx(SM_EXIT_USAGE, "--nats-replicas: 1 to 5, not '%s'", optarg);
            replicas = (int)n;
            break;
        case 'M':
            max_age_ns = seconds("--nats-max-age", optarg, true);
            break;
        case 'B':
            if (sm_parse_u64(optarg, 1, INT64_MAX, &n) == -1)
                sm_fatalx(SM_EXIT_USAGE, "--nats-max-bytes: not a positive number: '%s'",
                          optarg);
            max_bytes = (int64_t)n;
            break;
        case 'Y':
            cfg.replay_ns = seconds("--nats-replay", optarg, true);
            break;
        case 'c':
            cfg.nats.creds_file = optarg;
            break;
        case 'a':
            cfg.nats.ca_file = optarg;
            break;
        case 'e':
            cfg.nats.cert_file = optarg;
            break;
        case 'y':
            cfg.nats.key_file = optarg;
            break;
        case 258:
            ns = seconds("--health-interval", optarg, false);
            if (ns != 0 && (ns < SM_NS_PER_SEC_MAIN || ns > 3600 * SM_NS_PER_SEC_MAIN))
                sm_fatalx(SM_EXIT_USAGE, "--health-interval: 0 (off), or 1 to 3600 seconds, "
                          "not '%s'", optarg);
            cfg.health_interval_ns = ns == 0 ? -1 : ns;
            break;
        case 259:
            if (sm_parse_u64(optarg, 1, 1000, &n) == -1)
                sm_fatalx(SM_EXIT_USAGE, "--health-services: not a number from 1 to 1000: '%s'",
                          optarg);
            cfg.health_services = (unsigned)n;
            break;
        case 260:
            cfg.degraded_share = decimal("--degraded-share", optarg, 100) / 100;
            break;
        case 261:
            cfg.degraded_window_ns = seconds("--degraded-window", optarg, true);
            break;
        case 262:
            if (sm_parse_u64(optarg, 1, 1000000000, &n) == -1)
                sm_fatalx(SM_EXIT_USAGE, "--degraded-min: not a positive number: '%s'", optarg);
            cfg.degraded_min = (unsigned)n;
            break;
        case 263:
            cfg.flood_floor = decimal("--flood-floor", optarg, 1000000000);
            break;
        case 264:
            if (sm_parse_u64(optarg, 0, 1000000000, &n) == -1)
                sm_fatalx(SM_EXIT_USAGE, "--pub-limit: not a number: '%s'", optarg);
            cfg.pub_limit = n == 0 ? -1 : (double)n;
            break;
        case 265:
            cfg.metrics_listen = optarg;
            break;
        case 'V':
            printf("synmatch-collector %s\n", SM_VERSION);
            return 0;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return SM_EXIT_USAGE;
        }
    }
    if (cfg.listen == NULL) {
        sm_log_warnx("--listen ENDPOINT is required");
        usage(stderr);
        return SM_EXIT_USAGE;
    }
    if (optind != sm_config_argc(conf)) {
        sm_log_warnx("unexpected argument '%s'", sm_config_argv(conf)[optind]);
        usage(stderr);
        return SM_EXIT_USAGE;
    }
    bool nats = sm_nats_is_url(cfg.listen);
    if (!nats && (setup || cfg.shards || cfg.partitions || cfg.replay_ns || cfg.nats.creds_file ||
                  cfg.nats.ca_file || cfg.nats.cert_file)) {
        sm_log_warnx("--shard, --partitions and --nats-* are for a nats:// --listen");
        return SM_EXIT_USAGE;
    }
    {
        /* the degraded window and the flood's 60 s baseline are rings of at most 64
         * intervals */
        int64_t iv = cfg.health_interval_ns > 0 ? cfg.health_interval_ns
                                                 : 10 * SM_NS_PER_SEC_MAIN;
        int64_t win = cfg.degraded_window_ns ? cfg.degraded_window_ns : 30 * SM_NS_PER_SEC_MAIN;
        if (cfg.health_interval_ns >= 0 && (win < iv || win / iv > 64)) {
            sm_log_warnx("--degraded-window: from one to 64 health intervals (of %.3f s)",
                         (double)iv / 1e9);
            return SM_EXIT_USAGE;
        }
    }
    if ((cfg.nats.cert_file == NULL) != (cfg.nats.key_file == NULL)) {
        sm_log_warnx("--nats-cert and --nats-key go together");
        return SM_EXIT_USAGE;
    }
    if (sm_config_checking(conf)) {
        if (sm_config_print(conf, stdout, err, sizeof err) == -1)
            sm_fatalx(SM_EXIT_USAGE, "%s", err);
        sm_config_destroy(&conf);
        return fflush(stdout) == EOF ? SM_EXIT_OPEN : SM_EXIT_OK;
    }
    if (setup) {
        struct sm_nats_setup_opts so = {
            .conn = cfg.nats,
            .partitions = cfg.partitions ? cfg.partitions : SM_NATS_DEFAULT_PARTITIONS,
            .replicas = replicas,
            .max_age_ns = max_age_ns,
            .max_bytes = max_bytes,
            .out_max_age_ns = 24 * 3600 * INT64_C(1000000000),
            .duplicates_ns = 120 * INT64_C(1000000000),
        };
        so.conn.endpoint = cfg.listen;
        so.conn.name = "synmatch-collector --nats-setup";
        if (sm_nats_setup(&so, err, sizeof err) == -1) {
            sm_log_warnx("%s", err);
            return SM_EXIT_TRANSPORT;
        }
        return SM_EXIT_OK;
    }
    cfg.nats.name = "synmatch-collector";
    cfg.nats.inbox_prefix = "_SM_INBOX.shards"; /* what permissions let shards read */
    if (output) {
        cfg.out = fopen(output, "a");
        if (cfg.out == NULL)
            sm_fatal(SM_EXIT_OPEN, "%s", output);
        cfg.output_path = output; /* the collector reopens it on SIGHUP, and closes it */
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    int status = exit_for(sm_collector_run(&cfg));
    sm_config_destroy(&conf);
    return status;
}
