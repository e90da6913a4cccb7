/*
 * sm_feed.c - wire-level benchmark tools for the live pipeline (bench/README.md).
 *
 *   sm_feed send ENDPOINT [generator options] [--hwm N]
 *       (ENDPOINT nats://HOST:PORT,...: the parts published to JetStream as agents publish
 *       them, --partitions as the stream's; t_flushed_ns once all are acknowledged)
 *       Generates the batches of bench/sm_gen.h (a client and a server sensor, SYN + server SYN
 *       + SYN/ACK, ~1% missing, watermarks following event time, end_of_stream), encodes them
 *       all with sm_wire_encode() BEFORE timing, then sends them as fast as ZeroMQ takes them
 *       on a PUSH socket connected to ENDPOINT (zero-copy messages, blocking sends). Prints
 *       key=value lines on stdout: the counts, the expected verdicts, and
 *       t_first_ns / t_last_ns (CLOCK_REALTIME just before the first and after the last send).
 *
 *   sm_feed sink ENDPOINT [--eos N] [--quiet]
 *       A collector stand-in that discards: PULL bind, decode every message with
 *       sm_wire_decode() (to count records), until N end_of_stream batches (default 1) or
 *       SIGINT/SIGTERM. Prints messages, records, bytes and rejects.
 *
 *   sm_feed tap IN OUT LOG [--eos N]
 *       A timestamping relay: PULL bind on IN, PUSH connect to OUT. For every message, one
 *       line in LOG: `recv_ns sensor role seq watermark_ns nrecords eos` (recv_ns is
 *       CLOCK_REALTIME when the message was taken off the socket), then the message is
 *       forwarded unchanged. Exits after N end_of_stream batches (default 2) or a signal.
 *
 * Everything sent is generated here; only 198.18.0.0/15 and 2001:db8::/32 appear in it.
 */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <zmq.h>

#include <nats/nats.h>

#include "sm_gen.h"
#include "synmatch/nats.h"
#include "synmatch/wire.h"

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
    (void)sig;
    stop = 1;
}

static int64_t now_ns(clockid_t clk)
{
    struct timespec ts;
    clock_gettime(clk, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void usage(FILE *out)
{
    fprintf(out, "usage:\n"
                 "  sm_feed send ENDPOINT [options] [--hwm N]\n"
                 "  sm_feed sink ENDPOINT [--eos N] [--quiet]\n"
                 "  sm_feed tap IN OUT LOG [--eos N]\n"
                 "generator options (send):\n" GEN_OPTS_USAGE);
}

static void no_free(void *data, void *hint)
{
    (void)data;
    (void)hint;
}

/* What `send` prints: the counts, the expected verdicts, the times. */
static void report(const struct gen_opts *o, const struct gen_result *res, double gen_s,
                   int64_t t_first, int64_t t_last, int64_t t_done)
{
    uint64_t conns = o->connections;
    printf("connections=%" PRIu64 "\n", conns);
    printf("expected_matched=%" PRIu64 "\n", conns - res->missing);
    printf("expected_missing=%" PRIu64 "\n", res->missing);
    printf("records=%" PRIu64 "\n", res->records);
    printf("records_client=%" PRIu64 "\n", res->records_client);
    printf("records_server=%" PRIu64 "\n", res->records_server);
    printf("messages=%zu\n", res->nmsgs);
    printf("bytes=%" PRIu64 "\n", res->bytes);
    printf("bytes_per_record=%.1f\n", (double)res->bytes / (double)res->records);
    printf("generate_encode_s=%.3f\n", gen_s);
    printf("t_first_ns=%" PRId64 "\n", t_first);
    printf("t_last_ns=%" PRId64 "\n", t_last);
    printf("t_flushed_ns=%" PRId64 "\n", t_done);
    fflush(stdout);
}

/*
 * send nats://...: every part published to JetStream as an agent publishes it (its subject,
 * a message id), asynchronously with a bounded window, as fast as the stream acknowledges;
 * the partition count must be the stream's (--partitions).
 */
static int send_nats(const char *url, const struct gen_opts *o, struct gen_result *res,
                     double gen_s)
{
    char err[512];
    struct sm_nats_conn_opts co = {.endpoint = url, .name = "sm_feed"};
    natsConnection *nc = sm_nats_connect(&co, false, err, sizeof err);
    if (nc == NULL) {
        fprintf(stderr, "sm_feed: %s\n", err);
        return 5;
    }
    jsOptions jo;
    jsOptions_Init(&jo);
    jo.PublishAsync.MaxPending = 4096;
    jsCtx *js = NULL;
    if (natsConnection_JetStream(&js, nc, &jo) != NATS_OK) {
        fprintf(stderr, "sm_feed: JetStream\n");
        return 5;
    }
    int64_t t_first = now_ns(CLOCK_REALTIME);
    for (size_t i = 0; i < res->nmsgs; i++) {
        const struct gen_msg *m = &res->msgs[i];
        const char *sensor = m->role == SM_ROLE_SERVER ? "bench-server" : "bench-client";
        char subj[SM_NATS_SUBJECT_MAX], id[128];
        sm_nats_subject(subj, sizeof subj, m->partition, (enum sm_role)m->role, sensor);
        snprintf(id, sizeof id, "%s:%d:%" PRIu64 ":%u", sensor, 0, m->seq, m->partition);
        natsMsg *msg = NULL;
        natsStatus st = natsMsg_Create(&msg, subj, NULL, (const char *)m->buf, (int)m->len);
        if (st == NATS_OK)
            st = natsMsgHeader_Set(msg, "Nats-Msg-Id", id);
        while (st == NATS_OK && (st = js_PublishMsgAsync(js, &msg, NULL)) == NATS_TIMEOUT)
            st = NATS_OK; /* the window is full: wait for acknowledgements */
        natsMsg_Destroy(msg);
        if (st != NATS_OK) {
            fprintf(stderr, "sm_feed: publish: %s\n", natsStatus_GetText(st));
            return 5;
        }
    }
    int64_t t_last = now_ns(CLOCK_REALTIME);
    jsPubOptions po;
    jsPubOptions_Init(&po);
    po.MaxWait = 120000;
    if (js_PublishAsyncComplete(js, &po) != NATS_OK) {
        fprintf(stderr, "sm_feed: not every part was acknowledged\n");
        return 5;
    }
    int64_t t_done = now_ns(CLOCK_REALTIME);
    report(o, res, gen_s, t_first, t_last, t_done);
    jsCtx_Destroy(js);
    natsConnection_Destroy(nc);
    gen_free(res);
    return 0;
}

static int cmd_send(int argc, char **argv)
{
    if (argc < 3) {
        usage(stderr);
        return 2;
    }
    const char *endpoint = argv[2];
    struct gen_opts o;
    gen_opts_default(&o);
    int hwm = 0; /* 0 = no limit: the feeder never waits on its own queue */
    for (int i = 3; i < argc; i++) {
        int r = gen_opts_parse(&o, argc, argv, &i);
        if (r == 1)
            continue;
        if (r == 0 && strcmp(argv[i], "--hwm") == 0 && i + 1 < argc) {
            hwm = atoi(argv[++i]);
            continue;
        }
        fprintf(stderr, "sm_feed send: bad option '%s'\n", argv[i]);
        usage(stderr);
        return 2;
    }

    int64_t g0 = now_ns(CLOCK_MONOTONIC);
    struct gen_result res;
    if (gen_all(&o, &res) == -1) {
        fprintf(stderr, "sm_feed: out of memory generating\n");
        return 9;
    }
    double gen_s = (double)(now_ns(CLOCK_MONOTONIC) - g0) / 1e9;

    if (sm_nats_is_url(endpoint))
        return send_nats(endpoint, &o, &res, gen_s);
    void *ctx = zmq_ctx_new();
    void *sock = zmq_socket(ctx, ZMQ_PUSH);
    int linger = -1;
    zmq_setsockopt(sock, ZMQ_SNDHWM, &hwm, sizeof hwm);
    zmq_setsockopt(sock, ZMQ_LINGER, &linger, sizeof linger);
    if (zmq_connect(sock, endpoint) == -1) {
        fprintf(stderr, "sm_feed: connect %s: %s\n", endpoint, zmq_strerror(zmq_errno()));
        return 5;
    }
    int64_t t_first = now_ns(CLOCK_REALTIME);
    for (size_t i = 0; i < res.nmsgs; i++) {
        zmq_msg_t msg;
        zmq_msg_init_data(&msg, res.msgs[i].buf, res.msgs[i].len, no_free, NULL);
        while (zmq_msg_send(&msg, sock, 0) == -1) {
            if (zmq_errno() != EINTR) {
                fprintf(stderr, "sm_feed: send: %s\n", zmq_strerror(zmq_errno()));
                return 5;
            }
        }
    }
    int64_t t_last = now_ns(CLOCK_REALTIME);
    zmq_close(sock); /* linger -1: waits until everything is handed to the peer */
    zmq_ctx_term(ctx);
    int64_t t_done = now_ns(CLOCK_REALTIME);
    report(&o, &res, gen_s, t_first, t_last, t_done);
    gen_free(&res);
    return 0;
}

static void *bind_pull(void *ctx, const char *endpoint)
{
    void *s = zmq_socket(ctx, ZMQ_PULL);
    int64_t max = SM_WIRE_MAX_MESSAGE;
    int hwm = 64, linger = 0; /* as the collector */
    zmq_setsockopt(s, ZMQ_MAXMSGSIZE, &max, sizeof max);
    zmq_setsockopt(s, ZMQ_RCVHWM, &hwm, sizeof hwm);
    zmq_setsockopt(s, ZMQ_LINGER, &linger, sizeof linger);
    if (zmq_bind(s, endpoint) == -1) {
        fprintf(stderr, "sm_feed: bind %s: %s\n", endpoint, zmq_strerror(zmq_errno()));
        return NULL;
    }
    /* As the collector does: a live agent sends as `nobody` once its capture is open. */
    if (strncmp(endpoint, "ipc://", 6) == 0 && endpoint[6] != '@' && chmod(endpoint + 6, 0666) == -1)
        fprintf(stderr, "sm_feed: chmod %s: %s\n", endpoint + 6, strerror(errno));
    return s;
}

static int cmd_sink(int argc, char **argv)
{
    if (argc < 3) {
        usage(stderr);
        return 2;
    }
    int eos_want = 1;
    bool quiet = false;
    for (int i = 3; i < argc; i++) {
        if (strcmp(argv[i], "--eos") == 0 && i + 1 < argc)
            eos_want = atoi(argv[++i]);
        else if (strcmp(argv[i], "--quiet") == 0)
            quiet = true;
        else {
            usage(stderr);
            return 2;
        }
    }
    void *ctx = zmq_ctx_new();
    void *s = bind_pull(ctx, argv[2]);
    if (s == NULL)
        return 3;
    if (!quiet)
        fprintf(stderr, "sm_feed sink: listening on %s\n", argv[2]);
    uint64_t msgs = 0, recs = 0, bytes = 0, rejected = 0;
    int eos = 0;
    while (!stop && eos < eos_want) {
        zmq_msg_t m;
        zmq_msg_init(&m);
        if (zmq_msg_recv(&m, s, 0) == -1) {
            zmq_msg_close(&m);
            continue; /* EINTR: check stop */
        }
        msgs++;
        bytes += zmq_msg_size(&m);
        struct sm_wire_header h;
        struct sm_record *r;
        size_t n;
        if (sm_wire_decode(zmq_msg_data(&m), zmq_msg_size(&m), &h, &r, &n) == SM_WIRE_OK) {
            recs += n;
            eos += h.end_of_stream;
            free(r);
        } else {
            rejected++;
        }
        zmq_msg_close(&m);
    }
    printf("messages=%" PRIu64 " records=%" PRIu64 " bytes=%" PRIu64 " rejected=%" PRIu64
           " eos=%d\n",
           msgs, recs, bytes, rejected, eos);
    zmq_close(s);
    zmq_ctx_term(ctx);
    return 0;
}

static int cmd_tap(int argc, char **argv)
{
    if (argc < 5) {
        usage(stderr);
        return 2;
    }
    int eos_want = 2;
    for (int i = 5; i < argc; i++) {
        if (strcmp(argv[i], "--eos") == 0 && i + 1 < argc)
            eos_want = atoi(argv[++i]);
        else {
            usage(stderr);
            return 2;
        }
    }
    FILE *log = fopen(argv[4], "w");
    if (log == NULL) {
        perror(argv[4]);
        return 3;
    }
    void *ctx = zmq_ctx_new();
    void *in = bind_pull(ctx, argv[2]);
    if (in == NULL)
        return 3;
    void *out = zmq_socket(ctx, ZMQ_PUSH);
    int linger = 2000, hwm = 0;
    zmq_setsockopt(out, ZMQ_LINGER, &linger, sizeof linger);
    zmq_setsockopt(out, ZMQ_SNDHWM, &hwm, sizeof hwm);
    if (zmq_connect(out, argv[3]) == -1) {
        fprintf(stderr, "sm_feed tap: connect %s: %s\n", argv[3], zmq_strerror(zmq_errno()));
        return 5;
    }
    fprintf(stderr, "sm_feed tap: listening on %s, relaying to %s\n", argv[2], argv[3]);
    int eos = 0;
    while (!stop && eos < eos_want) {
        zmq_msg_t m;
        zmq_msg_init(&m);
        if (zmq_msg_recv(&m, in, 0) == -1) {
            zmq_msg_close(&m);
            continue;
        }
        int64_t t = now_ns(CLOCK_REALTIME);
        struct sm_wire_header h;
        struct sm_record *r;
        size_t n;
        if (sm_wire_decode(zmq_msg_data(&m), zmq_msg_size(&m), &h, &r, &n) == SM_WIRE_OK) {
            free(r);
            eos += h.end_of_stream;
            fprintf(log, "%" PRId64 " %s %s %" PRIu64 " %" PRId64 " %zu %d\n", t, h.sensor_id,
                    h.role == SM_ROLE_SERVER ? "server" : "client", h.seq, h.watermark_ns, n,
                    h.end_of_stream);
        } else {
            fprintf(log, "%" PRId64 " ? ? 0 0 0 0\n", t);
        }
        zmq_msg_send(&m, out, 0);
        zmq_msg_close(&m);
    }
    fclose(log);
    zmq_close(out);
    zmq_close(in);
    zmq_ctx_term(ctx);
    return 0;
}

int main(int argc, char **argv)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (strcmp(argv[1], "send") == 0)
        return cmd_send(argc, argv);
    if (strcmp(argv[1], "sink") == 0)
        return cmd_sink(argc, argv);
    if (strcmp(argv[1], "tap") == 0)
        return cmd_tap(argc, argv);
    usage(argc > 1 && strcmp(argv[1], "-h") == 0 ? stdout : stderr);
    return 2;
}
