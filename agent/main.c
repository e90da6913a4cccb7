/*
 * main.c - `synmatch-agent`: the command line over sm_agent (agent/agent.h).
 *
 * Parses and checks options (from the command line and a --config file, common/config.h),
 * creates the agent (everything privileged happens there), installs SIGINT/SIGTERM handlers
 * that ask the loop to finish, runs it, and prints one summary line. Exit statuses are
 * documented in docs/AGENT.md and in --help.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent.h"
#include "config.h"
#include "synmatch/nats.h"
#include "exit.h"
#include "log.h"
#include "agent_metrics.h"
#include "parse.h"
#include "privdrop.h"

static sm_agent_t *running;
/* The options as parsed; file-scope and freed at exit, since optarg strings point into it. */
static sm_config_t *conf;

static void free_config(void)
{
    sm_config_destroy(&conf);
}

static void on_signal(int sig)
{
    (void)sig;
    if (running != NULL)
        sm_agent_stop(running);
}

static void usage(FILE *out)
{
    fprintf(out,
            "usage: synmatch-agent (-i IFACE | -r FILE) --role client|server --sensor-id NAME\n"
            "                      --collector ENDPOINT [--serve ADDR[/PREFIX][:PORT]]...\n"
            "                      [--realtime] [--batch-records N] [--heartbeat-ms N]\n"
            "                      [--buffer-size MiB] [--snaplen N] [--no-promisc] [--queue N]\n"
            "                      [--linger-ms N] [--partitions N] [--nats-creds FILE]\n"
            "                      [--nats-ca FILE [--nats-cert FILE --nats-key FILE]]\n"
            "                      [--quiet] [EXPRESSION]\n"
            "       synmatch-agent --config FILE [--check-config] [options] [EXPRESSION]\n"
            "\n"
            "Captures TCP SYN, SYN/ACK and RST headers and sends them in batches to a\n"
            "synmatch collector (ZeroMQ PUSH; the agent connects), or publishes them to NATS\n"
            "JetStream. An idle agent still sends a batch every heartbeat. See docs/AGENT.md.\n"
            "\n"
            "  -i, --interface IFACE  capture live on IFACE (needs root or CAP_NET_RAW)\n"
            "  -r, --read FILE      replay a pcap/pcapng file (- = standard input), with frame\n"
            "                       numbers and Wireshark tcp.stream; ends with end of stream\n"
            "  --role client|server which end of the connections this sensor watches\n"
            "  --sensor-id NAME     1-64 characters of A-Z a-z 0-9 - _ . : @\n"
            "  --collector ENDPOINT tcp://HOST:PORT or ipc://PATH (ZeroMQ), or\n"
            "                       nats://HOST:PORT[,HOST:PORT...] (JetStream: docs/DEPLOY.md)\n"
            "  --serve SPEC         server: also announce SPEC as served, beyond the\n"
            "                       interface's addresses (virtual IPs, DNAT front ends):\n"
            "                       198.18.0.10, 198.18.0.0/24:443, [2001:db8::1]:443,\n"
            "                       2001:db8::/48; repeatable\n"
            "  --realtime           -r: replay at the capture's pace, dropping (and declaring)\n"
            "                       batches the collector cannot take in time, as live; by\n"
            "                       default: as fast as the collector takes them, none dropped\n"
            "  --batch-records N    records per batch at most (default %d; %d over NATS;\n"
            "                       max %u)\n"
            "  --heartbeat-ms N     a batch at least this often (default %d)\n"
            "  --buffer-size MiB    kernel capture buffer (default 32)\n"
            "  --snaplen N          bytes kept per packet (default 262: headers only)\n"
            "  --no-promisc         do not put the interface in promiscuous mode\n"
            "  --queue N            batches held while the collector is away (default 1000;\n"
            "                       %d over NATS: as many records at the default batch size);\n"
            "                       beyond it the oldest are dropped and declared\n"
            "  --linger-ms N        at the end, wait at most this long for delivery (default 2000;\n"
            "                       60000 for -r without --realtime)\n"
            "  --key FILE           CURVE: this agent's secret key file (synmatch keygen)\n"
            "  --server-key KEY     CURVE: the collector's public key (a .pub file or its 40\n"
            "                       characters); with --key, the transport is encrypted and\n"
            "                       the collector knows this agent by its key\n"
            "  --user NAME          -i: once the capture is open, run as NAME (default nobody)\n"
            "                       with no capabilities; an ipc:// collector socket must be\n"
            "                       reachable for that user (docs/DEPLOY.md)\n"
            "  --partitions N       nats://: parts per batch, by ISN (default %u; as the\n"
            "                       collectors' --partitions)\n"
            "  --nats-creds FILE    nats://: NATS credentials (user JWT and nkey seed)\n"
            "  --nats-ca FILE       nats://: TLS, the servers' CA; --nats-cert and --nats-key\n"
            "                       give a client certificate\n"
            "  --metrics-listen ADDR:PORT  serve Prometheus metrics on http://ADDR:PORT/metrics\n"
            "                       (PORT alone: 127.0.0.1; [::1]:PORT for IPv6; opened\n"
            "                       before --user takes effect; docs/METRICS.md)\n"
            "  --quiet              no start-up line\n"
            "  EXPRESSION           tcpdump filter narrowing the live capture, e.g. 'port 443'\n"
            "                       (it applies to the packet inside any VLAN tags; vlan, mpls,\n"
            "                       pppoes and geneve are not allowed in it)\n"
            "  --filter EXPRESSION  the same as one option (for --config files); an EXPRESSION\n"
            "                       after the options replaces it\n"
            "  --config FILE        read options from FILE first: 'key = value' lines, keys are\n"
            "                       the long options above (repeat a key to repeat an option, a\n"
            "                       flag takes true or false); the command line wins\n"
            "  --check-config       check the options, print them as a --config file, and exit\n"
            "  --version            print the version and exit\n"
            "  -h, --help           this text\n"
            "\n"
            "examples:\n"
            "  synmatch-agent -i eth0 --role client --sensor-id web1 \\\n"
            "      --collector tcp://198.18.0.100:7011 'dst port 443 or src port 443'\n"
            "  synmatch-agent -i eth0 --role server --sensor-id db1 \\\n"
            "      --collector tcp://198.18.0.100:7011 --serve 198.18.10.5:5432\n"
            "  synmatch-agent -r client.pcap --role client --sensor-id lab-client \\\n"
            "      --collector ipc:///run/synmatch/collector.sock --realtime\n"
            "\n"
            SM_EXIT_HELP,
            SM_AGENT_DEFAULT_BATCH_RECORDS, SM_AGENT_NATS_BATCH_RECORDS, SM_WIRE_MAX_RECORDS,
            SM_AGENT_DEFAULT_HEARTBEAT_MS, SM_AGENT_NATS_QUEUE,
            SM_NATS_DEFAULT_PARTITIONS);
}

/* A decimal number in [min, max], or a usage error naming the option. */
static unsigned long long number(const char *opt, const char *s, unsigned long long min,
                                 unsigned long long max)
{
    uint64_t v;
    if (sm_parse_u64(s, min, max, &v) == -1)
        sm_fatalx(SM_EXIT_USAGE, "%s: not a number from %llu to %llu: %s", opt, min, max, s);
    return v;
}

static int exit_for(enum sm_agent_err e)
{
    switch (e) {
    case SM_AGENT_OK:
        return SM_EXIT_OK;
    case SM_AGENT_ERR_USAGE:
        return SM_EXIT_USAGE;
    case SM_AGENT_ERR_CONFIG:
        return SM_EXIT_CONFIG;
    case SM_AGENT_ERR_CAPTURE:
    case SM_AGENT_ERR_RUNTIME:
        return SM_EXIT_CAPTURE;
    case SM_AGENT_ERR_TRANSPORT:
        return SM_EXIT_TRANSPORT;
    case SM_AGENT_ERR_FILE:
        return SM_EXIT_OPEN;
    case SM_AGENT_ERR_NOT_CAPTURE:
        return SM_EXIT_NOT_CAPTURE;
    case SM_AGENT_ERR_EMPTY:
        return SM_EXIT_EMPTY;
    case SM_AGENT_ERR_TRUNCATED:
        return SM_EXIT_TRUNCATED;
    case SM_AGENT_ERR_NOMEM:
        return SM_EXIT_INTERNAL;
    }
    return SM_EXIT_INTERNAL;
}

/* The remaining arguments joined by spaces, as tcpdump takes its expression. */
static char *join_args(int argc, char **argv)
{
    size_t len = 1;
    for (int i = 0; i < argc; i++)
        len += strlen(argv[i]) + 1;
    char *s = calloc(1, len);
    if (s == NULL)
        sm_fatalx(SM_EXIT_INTERNAL, "out of memory");
    for (int i = 0; i < argc; i++) {
        if (i > 0)
            strcat(s, " ");
        strcat(s, argv[i]);
    }
    return s;
}

int main(int argc, char **argv)
{
    sm_log_init(argv[0]);
    struct sm_agent_opts o = {.role = SM_ROLE_CLIENT};
    static struct sm_scope_entry serve[SM_AGENT_MAX_SERVE];
    bool have_role = false, quiet = false;
    const char *user = "nobody";
    const char *metrics_listen = NULL;
    enum {
        OPT_ROLE = 256,
        OPT_FILTER,
        OPT_METRICS,
        OPT_CONFIG,
        OPT_CHECK_CONFIG,
        OPT_VERSION,
        OPT_SENSOR,
        OPT_COLLECTOR,
        OPT_SERVE,
        OPT_REALTIME,
        OPT_BATCH,
        OPT_HEARTBEAT,
        OPT_BUFFER,
        OPT_SNAPLEN,
        OPT_NOPROMISC,
        OPT_QUEUE,
        OPT_LINGER,
        OPT_KEY,
        OPT_USER,
        OPT_SERVER_KEY,
        OPT_QUIET,
        OPT_PARTITIONS,
        OPT_NATS_CREDS,
        OPT_NATS_CA,
        OPT_NATS_CERT,
        OPT_NATS_KEY,
    };
    static const struct option longopts[] = {
        {"interface", required_argument, NULL, 'i'},
        {"read", required_argument, NULL, 'r'},
        {"role", required_argument, NULL, OPT_ROLE},
        {"sensor-id", required_argument, NULL, OPT_SENSOR},
        {"collector", required_argument, NULL, OPT_COLLECTOR},
        {"serve", required_argument, NULL, OPT_SERVE},
        {"realtime", no_argument, NULL, OPT_REALTIME},
        {"batch-records", required_argument, NULL, OPT_BATCH},
        {"heartbeat-ms", required_argument, NULL, OPT_HEARTBEAT},
        {"buffer-size", required_argument, NULL, OPT_BUFFER},
        {"snaplen", required_argument, NULL, OPT_SNAPLEN},
        {"no-promisc", no_argument, NULL, OPT_NOPROMISC},
        {"queue", required_argument, NULL, OPT_QUEUE},
        {"linger-ms", required_argument, NULL, OPT_LINGER},
        {"key", required_argument, NULL, OPT_KEY},
        {"user", required_argument, NULL, OPT_USER},
        {"server-key", required_argument, NULL, OPT_SERVER_KEY},
        {"quiet", no_argument, NULL, OPT_QUIET},
        {"partitions", required_argument, NULL, OPT_PARTITIONS},
        {"nats-creds", required_argument, NULL, OPT_NATS_CREDS},
        {"nats-ca", required_argument, NULL, OPT_NATS_CA},
        {"nats-cert", required_argument, NULL, OPT_NATS_CERT},
        {"nats-key", required_argument, NULL, OPT_NATS_KEY},
        {"filter", required_argument, NULL, OPT_FILTER},
        {"metrics-listen", required_argument, NULL, OPT_METRICS},
        {"config", required_argument, NULL, OPT_CONFIG},
        {"check-config", no_argument, NULL, OPT_CHECK_CONFIG},
        {"version", no_argument, NULL, OPT_VERSION},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int ch;
    char err[512];
    const char *filter = NULL;
    enum sm_config_err cerr;
    /* '+': stop at the first non-option, so an EXPRESSION like "not port 22" stays whole. */
    conf = sm_config_new(argc, argv, "+i:r:h", longopts, &cerr, err, sizeof err);
    if (conf == NULL)
        sm_fatalx(cerr == SM_CONFIG_ERR_FILE    ? SM_EXIT_CONFIG
                  : cerr == SM_CONFIG_ERR_USAGE ? SM_EXIT_USAGE
                                                : SM_EXIT_INTERNAL,
                  "%s", err);
    atexit(free_config);
    while ((ch = sm_config_getopt(conf)) != -1) {
        switch (ch) {
        case 'i':
            o.iface = optarg;
            break;
        case 'r':
            o.file = optarg;
            break;
        case OPT_ROLE:
            if (strcmp(optarg, "client") == 0)
                o.role = SM_ROLE_CLIENT;
            else if (strcmp(optarg, "server") == 0)
                o.role = SM_ROLE_SERVER;
            else
                sm_fatalx(SM_EXIT_USAGE, "--role: client or server, not %s", optarg);
            have_role = true;
            break;
        case OPT_SENSOR:
            if (!sm_wire_sensor_id_ok(optarg))
                sm_fatalx(SM_EXIT_USAGE,
                          "--sensor-id: sensor id '%s': must be 1-%d characters of A-Z a-z 0-9 "
                          "- _ . : @", optarg, SM_SENSOR_ID_MAX);
            o.sensor_id = optarg;
            break;
        case OPT_COLLECTOR:
            o.collector = optarg;
            break;
        case OPT_SERVE:
            if (o.nserve == SM_AGENT_MAX_SERVE)
                sm_fatalx(SM_EXIT_USAGE, "--serve: at most %d of them", SM_AGENT_MAX_SERVE);
            if (sm_agent_parse_serve(optarg, &serve[o.nserve], err, sizeof err) == -1)
                sm_fatalx(SM_EXIT_USAGE, "%s", err);
            o.nserve++;
            break;
        case OPT_REALTIME:
            o.realtime = true;
            break;
        case OPT_BATCH:
            o.batch_records = number("--batch-records", optarg, 1, SM_WIRE_MAX_RECORDS);
            break;
        case OPT_HEARTBEAT:
            o.heartbeat_ms = (unsigned)number("--heartbeat-ms", optarg, 1, 60000);
            break;
        case OPT_BUFFER:
            o.buffer_mib = (unsigned)number("--buffer-size", optarg, 1, 2047);
            break;
        case OPT_SNAPLEN:
            o.snaplen = (unsigned)number("--snaplen", optarg, 64, 262144);
            break;
        case OPT_NOPROMISC:
            o.no_promisc = true;
            break;
        case OPT_QUEUE:
            o.queue = number("--queue", optarg, 1, 1000000);
            break;
        case OPT_LINGER:
            o.linger_ms = (unsigned)number("--linger-ms", optarg, 1, 600000);
            break;
        case OPT_KEY:
            o.key_file = optarg;
            break;
        case OPT_USER:
            user = optarg;
            break;
        case OPT_SERVER_KEY:
            o.server_key = optarg;
            break;
        case OPT_QUIET:
            quiet = true;
            break;
        case OPT_PARTITIONS:
            o.partitions = (unsigned)number("--partitions", optarg, 1, SM_WIRE_MAX_PARTITIONS);
            break;
        case OPT_NATS_CREDS:
            o.nats_creds = optarg;
            break;
        case OPT_NATS_CA:
            o.nats_ca = optarg;
            break;
        case OPT_NATS_CERT:
            o.nats_cert = optarg;
            break;
        case OPT_NATS_KEY:
            o.nats_key = optarg;
            break;
        case OPT_METRICS:
            metrics_listen = optarg;
            break;
        case OPT_FILTER:
            filter = optarg;
            break;
        case OPT_VERSION:
            printf("synmatch-agent %s\n", SM_VERSION);
            return 0;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return SM_EXIT_USAGE;
        }
    }
    if (!have_role || o.sensor_id == NULL || o.collector == NULL ||
        (o.iface == NULL) == (o.file == NULL)) {
        sm_log_warnx("needs (-i IFACE | -r FILE), --role, --sensor-id and --collector");
        usage(stderr);
        return SM_EXIT_USAGE;
    }
    o.serve = serve;
    char *expression = NULL;
    argc = sm_config_argc(conf);
    argv = sm_config_argv(conf);
    o.expression = filter;
    if (optind < argc) {
        expression = join_args(argc - optind, argv + optind);
        o.expression = expression;
        if (sm_config_set(conf, "filter", expression) == -1)
            sm_fatalx(SM_EXIT_INTERNAL, "out of memory");
    }
    if (o.file != NULL && (o.buffer_mib || o.snaplen || o.no_promisc))
        sm_fatalx(SM_EXIT_USAGE, "--buffer-size, --snaplen and --no-promisc apply to -i only");
    if (sm_config_checking(conf)) {
        if (sm_config_print(conf, stdout, err, sizeof err) == -1)
            sm_fatalx(SM_EXIT_USAGE, "%s", err);
        free(expression);
        sm_config_destroy(&conf);
        return fflush(stdout) == EOF ? SM_EXIT_OPEN : SM_EXIT_OK;
    }

    sm_agent_mx_t *mx = NULL;
    if (metrics_listen) {
        /* before the privileges go: a port below 1024 can be bound */
        if ((mx = sm_agent_mx_new(metrics_listen, err, sizeof err)) == NULL) {
            sm_log_warnx("%s", err);
            free(expression);
            return SM_EXIT_TRANSPORT;
        }
        if (!sm_agent_mx_loopback(mx))
            sm_log_warnx("metrics on %s can be read by anyone who can connect (plain HTTP, no "
                         "authentication); restrict it with a firewall (docs/SECURITY.md)",
                         metrics_listen);
        o.metrics = mx;
    }
    enum sm_agent_err why;
    sm_agent_t *agent = sm_agent_new(&o, &why, err, sizeof err);
    if (agent == NULL) {
        sm_log_warnx("%s", err);
        sm_agent_mx_destroy(&mx);
        free(expression);
        return exit_for(why);
    }
    sm_log_set_quiet(quiet);
    /* Everything privileged is done (capture open, filter set, keys read): give it all up
     * before the first packet. A replayed file needs no privilege in the first place. */
    if (o.iface != NULL && sm_privdrop(user, err, sizeof err) == -1) {
        sm_log_warnx("%s", err);
        sm_agent_destroy(&agent);
        sm_agent_mx_destroy(&mx);
        free(expression);
        return SM_EXIT_USAGE;
    }
    if (o.iface != NULL)
        sm_log_info("sensor %s (%s) capturing on %s, sending to %s", o.sensor_id,
                    o.role == SM_ROLE_SERVER ? "server" : "client", o.iface, o.collector);
    else
        sm_log_info("sensor %s (%s) replaying %s%s, sending to %s", o.sensor_id,
                    o.role == SM_ROLE_SERVER ? "server" : "client", o.file,
                    o.realtime ? " in real time" : "", o.collector);

    running = agent;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0; /* no SA_RESTART: poll() returns at once */
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    enum sm_agent_err rc = sm_agent_run(agent);

    struct sm_agent_summary s;
    sm_agent_summary(agent, &s);
    sm_log_notice(
            "sensor %s: packets received %llu, dropped by kernel %llu, by interface %llu; "
            "records sent %llu, unsent %llu; batches %llu, unsent %llu; decode errors %llu%s",
            o.sensor_id, (unsigned long long)s.pcap_received,
            (unsigned long long)s.pcap_dropped, (unsigned long long)s.pcap_ifdropped,
            (unsigned long long)s.records_sent, (unsigned long long)s.records_unsent,
            (unsigned long long)s.batches, (unsigned long long)s.batches_unsent,
            (unsigned long long)s.decode_errors, s.drained ? "" : " (collector not reachable)");
    running = NULL;
    sm_agent_destroy(&agent);
    sm_agent_mx_destroy(&mx);
    free(expression);
    sm_config_destroy(&conf);
    return exit_for(rc);
}
