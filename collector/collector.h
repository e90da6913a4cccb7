/*
 * collector.h - the live collector: a ZeroMQ PULL socket in, verdict JSON lines out.
 *
 * Batches from agents are size-limited by the socket, unpacked and validated (wire.h), put
 * in order per sensor (collector/sensors.c), joined (join.h) on event time, and every verdict
 * and sensor event is written as one JSON line to the output and, optionally, published on a
 * ZeroMQ PUB socket for `synmatch tail`.
 */
#ifndef SYNMATCH_COLLECTOR_H
#define SYNMATCH_COLLECTOR_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "synmatch/nats.h"

struct sm_collector_config {
    const char *listen;     /* endpoint to bind: tcp://ADDR:PORT or ipc://PATH; or the NATS
                             * servers to consume from: nats://HOST:PORT[,HOST:PORT...] */
    const char *alerts_pub; /* optional PUB endpoint to bind */
    FILE *out;              /* verdict and event lines */
    const char *output_path; /* the file out was opened from ("a"), or NULL: then the
                              * collector owns out, reopens the path on SIGHUP (log
                              * rotation) and closes the current one before returning */
    int64_t timeout_ns;     /* 0 = 3 s */
    int64_t max_skew_ns;    /* 0 = 1 s */
    bool no_clock_correction; /* measure the clocks' offset, never translate */
    int64_t down_after_ns;  /* sensor silence that makes it down; 0 = 1 s */
    size_t max_pending;     /* join entries; 0 = 1,000,000 */
    int64_t stats_every_ns; /* stats line on stderr; 0 = 10 s, negative = never */
    bool exit_when_done;    /* exit once every sensor sent end-of-stream */
    uint16_t community_id_seed; /* of the verdicts' Community IDs (communityid.h) */
    const char *key_file;   /* CURVE: the collector's secret key file; NULL = no keys */
    const char *allow_file; /* CURVE: "SENSOR-ID PUBLIC-KEY" lines; required with key_file */
    const char *alerts_allow_file; /* CURVE: "NAME PUBLIC-KEY" lines: who may read alerts */
    bool insecure;          /* without keys, allow endpoints other than loopback and ipc:// */
    /* listen nats://...: a shard of the JetStream deployment (docs/DEPLOY.md) */
    uint32_t partitions;    /* expected partition count; 0 = the stream's */
    uint32_t shard, shards; /* --shard K/N: owns the partitions p % N == K; 0/0 = 0/1 */
    int64_t replay_ns;      /* the replay horizon after a restart; 0 = 180 s */
    struct sm_nats_conn_opts nats; /* credentials and TLS (endpoint: listen) */
    /* Service health (collector/health.h; docs/VERDICTS.md, "Service health") */
    int64_t health_interval_ns; /* 0 = 10 s; negative = no health lines and no alerts */
    unsigned health_services;   /* lines per interval; 0 = 100 */
    double degraded_share;      /* 0 = 5% */
    int64_t degraded_window_ns; /* 0 = 30 s */
    unsigned degraded_min;      /* 0 = 20 groups */
    double flood_floor;         /* 0 = 1,000 SYN/s */
    double pub_limit;           /* verdict lines a second per service on the alerts socket;
                                 * 0 = 100, negative = no limit */
    const char *metrics_listen; /* ADDR:PORT serving /metrics (docs/METRICS.md), or NULL */
    volatile sig_atomic_t *stop;   /* set by a signal handler to stop */
    volatile sig_atomic_t *reload; /* set by SIGHUP: reopen the output, reload the
                                    * allow-lists */
};

/* The output's stdio buffer: flushed after every pass of the loop, so size costs no latency. */
#define SM_COLLECTOR_OUT_BUFFER ((size_t)1 << 20)

/* Why sm_collector_run() stopped; the program maps these to exit statuses. */
enum sm_collector_err {
    SM_COLLECTOR_OK = 0,
    SM_COLLECTOR_ERR_USAGE,     /* options that do not go together, an endpoint refused */
    SM_COLLECTOR_ERR_CONFIG,    /* the key or the allow-list cannot be read or is wrong */
    SM_COLLECTOR_ERR_TRANSPORT, /* a socket cannot be bound or set up */
    SM_COLLECTOR_ERR_OUTPUT,    /* writing the verdict lines failed */
    SM_COLLECTOR_ERR_NOMEM,     /* the join table cannot be reserved, or out of memory */
    SM_COLLECTOR_ERR_INTERNAL,  /* polling failed */
};

/*
 * Runs until stopped or done. On failure, one line was logged naming what failed. A SIGHUP
 * (*cfg->reload) is taken between two passes over the socket, after the lines of the last
 * pass were flushed: a reopened output starts with the next line, none lost or written twice;
 * when the path cannot be opened, the lines keep going to the file open until then.
 */
enum sm_collector_err sm_collector_run(const struct sm_collector_config *cfg);

#endif
