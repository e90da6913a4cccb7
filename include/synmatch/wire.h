/*
 * wire.h - the batch on the wire (proto/synmatch.proto): encoding for agents, decoding and
 * validation for the collector.
 *
 * Decoding treats every byte as hostile: a size limit, protobuf-c unpack through an
 * allocator with a hard budget, then semantic validation of every field. A rejected message
 * says why with one enum sm_wire_reject value; the collector counts them by name.
 */
#ifndef SYNMATCH_WIRE_H
#define SYNMATCH_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "synmatch/record.h"

#define SM_WIRE_SCHEMA 1
#define SM_WIRE_MAX_MESSAGE (4u * 1024u * 1024u) /* bytes in one batch message */
#define SM_WIRE_MAX_RECORDS 16384u              /* records in one batch */
#define SM_WIRE_MAX_SCOPE 256u                  /* scope entries in one batch */
#define SM_SENSOR_ID_MAX 64                     /* bytes, without the NUL */
#define SM_WIRE_MAX_PARTITIONS 1024u            /* partition_count at most */

struct sm_wire_counters {
    uint64_t pcap_received, pcap_dropped, pcap_ifdropped;
    uint64_t records_emitted, records_unsent, batches_unsent;
    uint64_t decode_errors;
};

/* The TCP counters of the agent's network namespace (TcpExt of /proc/net/netstat). */
struct sm_host_counters {
    bool present;
    int64_t sampled_ns; /* capture clock */
    uint64_t listen_overflows, listen_drops, reqq_full_drop, reqq_full_do_cookies;
    uint64_t syncookies_sent, syn_retrans;
};

/* Everything in a batch but its records. */
struct sm_wire_header {
    char sensor_id[SM_SENSOR_ID_MAX + 1];
    enum sm_role role;
    uint64_t boot_epoch;
    uint64_t seq;
    int64_t watermark_ns;
    struct sm_wire_counters counters;
    bool end_of_stream;
    int64_t unsent_from_ns, unsent_to_ns; /* both 0 when nothing was dropped */
    int64_t capture_start_ns;             /* 0 = not known yet */
    struct sm_host_counters host;
    /* Part partition of partition_count of the batch (a partitioned transport); 0 and 0:
     * the whole batch. */
    uint32_t partition, partition_count;
    size_t nscope;
    struct sm_scope_entry scope[SM_WIRE_MAX_SCOPE];
};

enum sm_wire_reject {
    SM_WIRE_OK = 0,
    SM_WIRE_TOO_BIG,          /* over SM_WIRE_MAX_MESSAGE */
    SM_WIRE_UNPACK,           /* not a valid protobuf Batch (or over the unpack budget) */
    SM_WIRE_UNKNOWN_FIELDS,   /* more unknown fields than a newer agent could send */
    SM_WIRE_SCHEMA_VERSION,   /* schema is not one this collector reads */
    SM_WIRE_BAD_SENSOR_ID,    /* empty, too long, or not printable ASCII */
    SM_WIRE_BAD_ROLE,
    SM_WIRE_BAD_COLUMNS,      /* record columns of different lengths, or too many records */
    SM_WIRE_BAD_FAMILY,       /* a family other than 4 or 6 */
    SM_WIRE_BAD_ADDRS,        /* the address blob does not match the families */
    SM_WIRE_BAD_PORT,         /* port 0 */
    SM_WIRE_BAD_FLAGS,        /* neither SYN nor RST set, or bits beyond the 12 TCP flags */
    SM_WIRE_BAD_TIME,         /* a record after the batch's own watermark, or before 1970 */
    SM_WIRE_BAD_SCOPE,        /* scope address length or prefix out of range, too many */
    SM_WIRE_BAD_PARTITION,    /* partition not below partition_count, or too many */
    SM_WIRE_REJECT_COUNT
};

/* Whether s is a valid sensor id: 1..SM_SENSOR_ID_MAX characters of A-Z a-z 0-9 - _ . : @
 * (the collector rejects a batch naming any other). */
bool sm_wire_sensor_id_ok(const char *s);

const char *sm_wire_reject_name(enum sm_wire_reject r);

/*
 * The partition key of a record: the client's ISN as the record shows it, which both sides of
 * a connection agree on (through NAT too): a SYN's seq; a SYN/ACK's or an RST's ack - 1 (an
 * RST answering a SYN has seq 0 and acknowledges the ISN).
 */
static inline uint32_t sm_partition_key(const struct sm_record *r)
{
    return sm_flags_is_syn(r->flags) ? r->seq : r->ack - 1;
}

/* The partition of key among count (count >= 1): a fixed multiplicative hash, the same in every
 * agent, so that both sides of a connection land in one partition (docs/WIRE.md). */
static inline uint32_t sm_partition_of(uint32_t key, uint32_t count)
{
    return (uint32_t)(((uint64_t)key * UINT64_C(0x9E3779B97F4A7C15)) >> 32) % count;
}

/*
 * Encodes a batch. Returns a malloc'd buffer (caller frees) and its length in *len, or NULL
 * when out of memory. frame/stream columns are written only when with_files is true.
 */
uint8_t *sm_wire_encode(const struct sm_wire_header *h, const struct sm_record *recs, size_t n,
                        bool with_files, size_t *len);

/*
 * Decodes and validates one message. On SM_WIRE_OK fills *h and *recs (malloc'd array of
 * *n records, caller frees; NULL when n == 0). On rejection nothing is allocated.
 */
enum sm_wire_reject sm_wire_decode(const uint8_t *buf, size_t len, struct sm_wire_header *h,
                                   struct sm_record **recs, size_t *n);

/*
 * The same through protobuf-c's unpack of the whole message (sm_wire_decode() decodes the
 * record columns itself): the oracle of the tests and the fuzzer. It gives the same result,
 * but for a message both malformed in a column (a varint over 10 bytes) and refused by a
 * header check: this one says unpack, sm_wire_decode() the header's reason.
 */
enum sm_wire_reject sm_wire_decode_reference(const uint8_t *buf, size_t len,
                                             struct sm_wire_header *h, struct sm_record **recs,
                                             size_t *n);

#endif
