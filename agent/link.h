/*
 * link.h - the one small interface between the agent's sender and a transport (private to
 * the agent): hand over an encoded batch, wait for room, close in bounded time.
 *
 * The endpoint's scheme chooses the transport: tcp:// and ipc:// are ZeroMQ PUSH to one
 * collector (link_zmq.c, the default and the demo); nats://HOST:PORT[,HOST:PORT...] (or
 * tls://) is NATS JetStream, durable and partitioned (link_nats.c, docs/DEPLOY.md). Both
 * take a message or say "would block" at once: the capture loop never waits on the network,
 * and what a link cannot take stays in the sender's own accounted queue (sender.c).
 */
#ifndef SYNMATCH_AGENT_LINK_H
#define SYNMATCH_AGENT_LINK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "synmatch/nats.h"
#include "synmatch/record.h"

typedef struct sm_link sm_link_t;

struct sm_link_opts {
    const char *endpoint;
    /* ZeroMQ CURVE, all three or none (Z85 text): the collector's public key, this agent's
     * pair. */
    const char *server_key, *public_key, *secret_key;
    /* JetStream: who publishes (subjects and message ids), into how many partitions, and the
     * connection's credentials and TLS (conn.endpoint is taken from endpoint). */
    const char *sensor_id;
    enum sm_role role;
    uint64_t epoch;
    uint32_t partitions; /* 0 = SM_NATS_DEFAULT_PARTITIONS */
    struct sm_nats_conn_opts nats;
};

/* True when endpoint's scheme names a transport the agent has. */
bool sm_link_endpoint_ok(const char *endpoint);

/*
 * Opens the link the endpoint's scheme names. A collector or server that is not there yet is
 * not an error: messages wait until it appears. NULL with one line in errbuf naming the
 * endpoint when it is malformed or its options are wrong.
 */
sm_link_t *sm_link_open(const struct sm_link_opts *o, char *errbuf, size_t errlen);

/*
 * Hands over one encoded part (the whole batch when the link has one partition) of batch seq.
 * The link copies what it keeps. 1 taken, 0 would block (try again later), -1 failed (logged
 * once).
 */
int sm_link_send(sm_link_t *l, const uint8_t *buf, size_t len, uint32_t partition, uint64_t seq);

/* Waits at most timeout_ms for room to send. */
void sm_link_wait(sm_link_t *l, int timeout_ms);

/*
 * Closes the link, giving it at most linger_ms to deliver what it took, and frees it.
 * Returns 0 when, as far as the transport can tell, everything was delivered; -1 otherwise.
 * NULL-safe.
 */
int sm_link_close(sm_link_t **self_p, int linger_ms);

/* How many partitions a batch is split into: 1 on ZeroMQ. */
uint32_t sm_link_partitions(const sm_link_t *l);

/* Parts the link took and then gave up on (JetStream: never stored after its tries); the
 * collector sees their seq gaps. */
uint64_t sm_link_failed(const sm_link_t *l);

/* The operations behind a link, one set per transport (link.c dispatches). */
struct sm_link_ops {
    int (*send)(sm_link_t *l, const uint8_t *buf, size_t len, uint32_t partition, uint64_t seq);
    void (*wait)(sm_link_t *l, int timeout_ms);
    int (*close)(sm_link_t *l, int linger_ms); /* and free */
    uint64_t (*failed)(const sm_link_t *l);
};

/* Every link's struct starts with this. */
struct sm_link {
    const struct sm_link_ops *ops;
    uint32_t partitions;
};

sm_link_t *sm_link_zmq_open(const struct sm_link_opts *o, char *errbuf, size_t errlen);
sm_link_t *sm_link_nats_open(const struct sm_link_opts *o, char *errbuf, size_t errlen);

#endif
