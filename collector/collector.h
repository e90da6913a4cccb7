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

struct sm_collector_config {
    const char *listen;     /* endpoint to bind: tcp://ADDR:PORT or ipc://PATH */
    const char *alerts_pub; /* optional PUB endpoint to bind */
    FILE *out;              /* verdict and event lines */
    int64_t timeout_ns;     /* 0 = 3 s */
    int64_t max_skew_ns;    /* 0 = 1 s */
    int64_t down_after_ns;  /* sensor silence that makes it down; 0 = 1 s */
    size_t max_pending;     /* join entries; 0 = 1,000,000 */
    int64_t stats_every_ns; /* stats line on stderr; 0 = 10 s, negative = never */
    bool exit_when_done;    /* exit once every sensor sent end-of-stream */
    const char *key_file;   /* CURVE: the collector's secret key file; NULL = no keys */
    const char *allow_file; /* CURVE: "SENSOR-ID PUBLIC-KEY" lines; required with key_file */
    bool insecure;          /* without keys, allow endpoints other than loopback and ipc:// */
    volatile sig_atomic_t *stop;   /* set by a signal handler to stop */
    volatile sig_atomic_t *reload; /* set by SIGHUP: reload the allow-list */
};

/* Runs until stopped or done. Returns an exit status (0, or 2 and above with a message). */
int sm_collector_run(const struct sm_collector_config *cfg);

#endif
