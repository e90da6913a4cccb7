/*
 * nats.h - what agents, collectors and `synmatch tail` share about the JetStream transport
 * (docs/WIRE.md, "JetStream"; docs/DEPLOY.md, "NATS JetStream"): endpoints, subjects, the
 * streams' and consumers' names, and the connection options.
 *
 * Two streams. SYNMATCH_RECORDS holds the agents' batches, one message per part:
 * synmatch.rec.<partition>.<client|server>.<sensor>, each part the records whose key (the
 * client's ISN as the record shows it, sm_partition_key) hashes to the partition. Its
 * description says how many partitions it was made with. SYNMATCH_OUT holds what collector
 * shards decide: synmatch.out.v.<partition> (verdict lines of that partition's client SYN
 * groups) and synmatch.out.e.<shard>.<shards> (a shard's event lines).
 */
#ifndef SYNMATCH_NATS_H
#define SYNMATCH_NATS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "synmatch/record.h"

#define SM_NATS_DEFAULT_PARTITIONS 64u
#define SM_NATS_STREAM "SYNMATCH_RECORDS"    /* the records stream */
#define SM_NATS_SUBJECTS "synmatch.rec.>"    /* its subjects */
#define SM_NATS_OUT_STREAM "SYNMATCH_OUT"    /* the collectors' verdicts and events */
#define SM_NATS_OUT_SUBJECTS "synmatch.out.>"
#define SM_NATS_CONSUMER_PREFIX "synmatch-p" /* durable consumer of partition p: ...<p> */
#define SM_NATS_DELIVER_PREFIX "synmatch.deliver.p" /* its delivery subject: ...<p> */
#define SM_NATS_REPLAY_PREFIX "synmatch-replay-" /* a restarted shard K/N's replay: ...K-N */
#define SM_NATS_SUBJECT_MAX 160

/* True when endpoint names a NATS server list (nats:// or tls://). */
bool sm_nats_is_url(const char *endpoint);

/*
 * Splits nats://HOST:PORT[,HOST:PORT...] into *n server URLs (malloc'd, each with the scheme;
 * a port is required). -1 with one line in errbuf when malformed. Free with
 * sm_nats_free_servers().
 */
int sm_nats_servers(const char *endpoint, char ***servers, int *n, char *errbuf, size_t errlen);
void sm_nats_free_servers(char **servers, int n);

/* A sensor id is a subject token: none of . * > or space (the wire allows '.'). */
bool sm_nats_sensor_ok(const char *sensor_id);

/* synmatch.rec.<partition>.<client|server>.<sensor>; -1 if it does not fit. */
int sm_nats_subject(char *buf, size_t len, uint32_t partition, enum sm_role role,
                    const char *sensor_id);

/* The records of partition p: synmatch.rec.<p>.> */
int sm_nats_filter(char *buf, size_t len, uint32_t partition);

/* The records stream's description, which carries its partition count, and back. */
int sm_nats_describe(char *buf, size_t len, uint32_t partitions);
uint32_t sm_nats_described_partitions(const char *description); /* 0: none said */

/* Connection options: the servers and, optionally, credentials and TLS. */
struct sm_nats_conn_opts {
    const char *endpoint;   /* nats://HOST:PORT[,HOST:PORT...] or tls://... */
    const char *creds_file; /* NATS credentials (user JWT and nkey seed), or NULL */
    const char *ca_file;    /* TLS: the servers' CA file, or NULL */
    const char *cert_file, *key_file; /* TLS client certificate and key, or NULL */
    const char *name;       /* the connection's name, shown by the server */
    const char *inbox_prefix; /* replies come to <prefix>.> (what permissions allow), or NULL */
};

/*
 * Connects: a natsConnection * (as void *, so that users of this header need not include
 * nats.h). With retry true, a server that does not answer yet is retried in the background
 * (publishes buffer meanwhile). NULL with one line in errbuf.
 */
void *sm_nats_connect(const struct sm_nats_conn_opts *o, bool retry, char *errbuf,
                      size_t errlen);

/*
 * The partition count the records stream was made with (its description), reading it over
 * connection nc. 0 with one line in errbuf when the stream is not there or cannot be read.
 */
uint32_t sm_nats_stream_partitions(void *nc, char *errbuf, size_t errlen);

/*
 * SYNMATCH_OUT's messages: whole lines, each ending in a newline, at most SM_NATS_OUT_MAX_LINES
 * bytes of them. A shard sends them as one LZ4 block when that is smaller (verdict lines shrink
 * four to five times, and the stream then stores and replicates a fifth of the bytes), with the
 * headers Synmatch-Encoding: lz4 and Synmatch-Size: the lines' length; else as they are,
 * without those headers.
 */
#define SM_NATS_OUT_MAX_LINES (512u * 1024)
#define SM_NATS_ENCODING_HEADER "Synmatch-Encoding"
#define SM_NATS_SIZE_HEADER "Synmatch-Size"
#define SM_NATS_ENCODING_LZ4 "lz4"

/* The room sm_nats_out_pack() needs for len bytes of lines. */
size_t sm_nats_out_pack_bound(size_t len);

/* Compresses len bytes of lines into out (cap bytes, sm_nats_out_pack_bound(len) or more):
 * the block's length, or 0 when it would not be smaller (send the lines as they are). */
size_t sm_nats_out_pack(const char *lines, size_t len, char *out, size_t cap);

/* Unpacks an LZ4 block of want bytes of lines into out (want bytes or more): want, or 0 when
 * the block is broken or holds another length. */
size_t sm_nats_out_unpack_block(const char *block, size_t len, char *out, size_t want);

/*
 * The lines of a message, from its data and its two headers (NULL when absent): *lines is
 * malloc'd, *nlines bytes and a NUL after them. -1 with one line in errbuf for a message that
 * is not whole lines as a shard sends them (an unknown encoding, a size over
 * SM_NATS_OUT_MAX_LINES or not what the block holds, a broken block).
 */
int sm_nats_out_unpack(const char *data, size_t len, const char *encoding, const char *size,
                       char **lines, size_t *nlines, char *errbuf, size_t errlen);

#endif
