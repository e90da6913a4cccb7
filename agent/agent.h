/*
 * agent.h - the capture agent's loop: packets (live) or a capture file (-r) in, batches of
 * SYN, SYN/ACK and RST records out to the collector over ZeroMQ (docs/ARCHITECTURE.md,
 * "Records and the wire"; docs/AGENT.md).
 *
 * sm_agent_new() does everything that can fail for reasons of configuration or privilege
 * (opening the interface, installing the kernel filter, reading interface addresses,
 * connecting the socket, checking the batch envelope against the wire's own validation), so a
 * caller can drop privileges between sm_agent_new() and sm_agent_run(). sm_agent_run() then
 * never blocks on the network: a batch goes out at least every heartbeat, and what cannot be
 * sent is queued, and past the queue's bound dropped, counted and declared.
 */
#ifndef SYNMATCH_AGENT_H
#define SYNMATCH_AGENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "synmatch/wire.h"

typedef struct sm_agent sm_agent_t;

#define SM_AGENT_DEFAULT_BATCH_RECORDS 4096
/* Over NATS (nats:// or tls://): each batch is split into the stream's partitions, one message
 * per part, and JetStream's cost goes by messages: batches four times larger make a quarter of
 * them (under load; a heartbeat sends what there is). At that batch size the queue holds as
 * many records as the default queue of default batches. */
#define SM_AGENT_NATS_BATCH_RECORDS 16384
#define SM_AGENT_NATS_QUEUE 250
#define SM_AGENT_DEFAULT_HEARTBEAT_MS 100
#define SM_AGENT_MAX_SERVE 64

struct sm_agent_opts {
    const char *iface;      /* live capture on this interface, or NULL */
    const char *file;       /* replay this capture file ("-" = standard input), or NULL */
    enum sm_role role;
    const char *sensor_id;  /* 1..SM_SENSOR_ID_MAX of [A-Za-z0-9-_.:@] */
    const char *collector;  /* tcp://HOST:PORT, ipc://PATH or nats://HOST:PORT[,...] */
    const struct sm_scope_entry *serve; /* --serve entries (copied), nserve of them */
    size_t nserve;
    bool realtime;          /* -r: replay at the capture's pace */
    size_t batch_records;   /* 0 = SM_AGENT_DEFAULT_BATCH_RECORDS; at most SM_WIRE_MAX_RECORDS */
    unsigned heartbeat_ms;  /* 0 = SM_AGENT_DEFAULT_HEARTBEAT_MS */
    unsigned buffer_mib;    /* live: kernel buffer; 0 = 32 */
    unsigned snaplen;       /* live: 0 = 262 */
    bool no_promisc;        /* live: promiscuous mode is on unless set */
    size_t queue;           /* batches the sender queues; 0 = 1000 */
    unsigned linger_ms;     /* bound on the drain at the end; 0 = 2000 */
    const char *expression; /* live: tcpdump expression narrowing the kernel filter, or NULL */
    const char *key_file;   /* CURVE: this agent's secret key file (synmatch keygen), or NULL */
    const char *server_key; /* CURVE: the collector's public key (file or Z85), or NULL */
    /* --collector nats://...: JetStream (synmatch/nats.h) */
    unsigned partitions;    /* parts per batch; 0 = SM_NATS_DEFAULT_PARTITIONS */
    const char *nats_creds, *nats_ca, *nats_cert, *nats_key;
    /* /metrics (agent/agent_metrics.h), or NULL: the loop publishes its counters there at every
     * heartbeat and when a scrape asks. Not owned; must outlive the agent. */
    struct sm_agent_mx *metrics;
};

/* Why sm_agent_new() or sm_agent_run() failed; the program maps these to exit statuses. */
enum sm_agent_err {
    SM_AGENT_OK = 0,
    SM_AGENT_ERR_USAGE,       /* inconsistent options, a bad sensor id, scope or expression */
    SM_AGENT_ERR_CONFIG,      /* a key file cannot be read or is not a key */
    SM_AGENT_ERR_CAPTURE,     /* the interface cannot be opened: missing, permission, down */
    SM_AGENT_ERR_TRANSPORT,   /* a malformed collector endpoint or a ZeroMQ failure */
    SM_AGENT_ERR_FILE,        /* -r: the file cannot be opened or read */
    SM_AGENT_ERR_NOT_CAPTURE, /* -r: not a pcap or pcapng file */
    SM_AGENT_ERR_EMPTY,       /* -r: the file is empty */
    SM_AGENT_ERR_TRUNCATED,   /* -r: the file ends early or is corrupt inside (what came
                               * before was sent, and the end of stream) */
    SM_AGENT_ERR_RUNTIME,     /* the capture failed while running (end of stream sent) */
    SM_AGENT_ERR_NOMEM,
};

/* What the agent did, for the summary line. */
struct sm_agent_summary {
    uint64_t pcap_received, pcap_dropped, pcap_ifdropped; /* live; -r: frames read, 0, 0 */
    uint64_t records_emitted;  /* records put into batches */
    uint64_t records_sent;     /* of which handed to ZeroMQ */
    uint64_t records_unsent;   /* dropped from the queue or left in it at the end */
    uint64_t batches;          /* batches built (seq of the next one) */
    uint64_t batches_unsent;
    uint64_t decode_errors;
    bool drained;              /* everything was handed over within the linger */
};

/*
 * Parses a --serve argument: ADDR, ADDR/PREFIX, ADDR:PORT, ADDR/PREFIX:PORT for IPv4;
 * ADDR, ADDR/PREFIX, [ADDR]:PORT, [ADDR]/PREFIX:PORT or [ADDR/PREFIX]:PORT for IPv6. No
 * prefix means a single address, no port means any port. Host bits past the prefix are an
 * error. Returns 0, or -1 with one line in errbuf.
 */
int sm_agent_parse_serve(const char *text, struct sm_scope_entry *out, char *errbuf,
                         size_t errlen);

/*
 * Validates opts, opens the capture (live) and the sender, builds the scope, and checks the
 * envelope with the wire's validation. Returns the agent, or NULL with *why and one line in
 * errbuf naming the object at fault. opts and the strings it points to must outlive the agent.
 */
sm_agent_t *sm_agent_new(const struct sm_agent_opts *opts, enum sm_agent_err *why, char *errbuf,
                         size_t errlen);

/*
 * Runs until sm_agent_stop(), the end of the file (-r), or a capture failure; then sends what
 * is pending and an end_of_stream batch and drains the sender (bounded by linger_ms). Returns
 * SM_AGENT_OK, or the error kind (its message was logged).
 */
enum sm_agent_err sm_agent_run(sm_agent_t *a);

/* Asks sm_agent_run() to finish. Async-signal-safe: call it from a SIGINT/SIGTERM handler. */
void sm_agent_stop(sm_agent_t *a);

void sm_agent_summary(const sm_agent_t *a, struct sm_agent_summary *out);

void sm_agent_destroy(sm_agent_t **self_p);

#endif
