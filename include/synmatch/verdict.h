/*
 * verdict.h - the verdict vocabulary and the verdict object: what the engine decides for a
 * client SYN group, what the writers print (docs/VERDICTS.md).
 */
#ifndef SYNMATCH_VERDICT_H
#define SYNMATCH_VERDICT_H

#include <stdbool.h>
#include <stdint.h>

#include "synmatch/record.h"

/* The verdict vocabulary (docs/VERDICTS.md), in handshake order. Names: sm_verdict_name(). */
enum sm_verdict_kind {
    SM_V_SUSPECT,
    SM_V_MATCHED,    /* the server saw the SYN and its SYN/ACK reached the client */
    SM_V_MISSING,    /* no attempt reached the server */
    SM_V_REFUSED,    /* the server answered RST and the client received it */
    SM_V_REPLY_LOST, /* the server answered, the client never received an answer */
    SM_V_UNANSWERED, /* the server's capture saw the SYN; the server host sent nothing */
    SM_V_ANSWERED_BY_MIDDLEBOX,
    SM_V_SENSOR_CAPTURE_LOSS,
    SM_V_TRANSPORT_LOSS,
    SM_V_SENSOR_DOWN,
    SM_V_COLLECTOR_OVERLOAD,
    SM_V_UNKNOWN,
    SM_V_AMBIGUOUS,
    SM_V_COUNT
};

const char *sm_verdict_name(enum sm_verdict_kind k);

/* What answered a SYN. */
enum sm_answer {
    SM_ANSWER_NONE = 0,
    SM_ANSWER_SYNACK,
    SM_ANSWER_RST,
};

const char *sm_answer_name(enum sm_answer a);

struct sm_verdict {
    enum sm_verdict_kind kind;
    const char *reason; /* why, for the non-network verdicts and unanswered; static or NULL */
    uint32_t isn;
    uint32_t attempts;    /* client SYNs of the group */
    uint32_t lost_before; /* matched: attempts sent before the one the server saw first */
    struct sm_tuple client;
    int64_t client_stream; /* tcp.stream of the first attempt, or SM_STREAM_NONE */
    uint64_t client_frame; /* frame of the first attempt (files), or 0 */
    int64_t first_ns, last_ns;
    enum sm_answer client_answer; /* what the client sensor saw come back */
    uint32_t replies_received;    /* answers of that kind the client received */
    int64_t client_answer_ns;     /* when the client received the first of them */
    uint32_t attempts_inside;     /* unknown, partly_outside_server_capture: attempts the
                                   * server capture could have witnessed */

    bool has_server; /* the server side saw the SYN */
    struct sm_tuple server;
    int64_t server_stream;
    uint64_t server_frame;
    int64_t server_first_ns; /* server_* times are in the server's own clock */
    uint32_t server_seq;
    uint32_t server_attempts;
    int64_t delay_ns; /* server_first_ns minus the client attempt that got through, in one
                       * clock (minus clock_offset_ns) */
    enum sm_answer server_answer; /* what the server sent back, seen at the server */
    uint32_t reply_attempts;      /* answers of that kind the server sent */
    int64_t server_answer_ns;     /* when the server sent the first of them */
    bool syncookies;              /* the server host was sending SYN cookies as it answered */
    uint32_t candidates;          /* ambiguous: server SYNs that could be this one */
    bool fingerprint;             /* matched by fingerprint: a device rewrote the ISN */
    bool proxied;                 /* a SYN proxy answered the client before the server saw
                                   * the SYN (the server's SYN is the proxy's) */
    int64_t proxy_rtt_ns;         /* proxied: the client's SYN to the proxy's SYN/ACK */
    bool clock_corrected;         /* the server's times were translated by clock_offset_ns */
    int64_t clock_offset_ns;      /* server clock minus client clock, as corrected */
    bool suspected;               /* a final verdict whose group had a `suspect` before */
    /* Event time (the client's clock) at which the engine decided: the due time of the
     * decision (a suspect's first attempt + timeout, a group's last attempt + its quiet
     * time); for a decision forced early (eviction, a flooded ISN, a stop) the horizon then.
     * Not written in the lines; the collector's health lines count verdicts by it. */
    int64_t decided_ns;
};

/* The reply leg's one-way delay: the client receiving the server's first answer minus the
 * server sending it (in one clock when corrected; else two, and it may be negative). Only
 * when both sides saw an answer, and the client's was the server's (not a proxy's). */
static inline bool sm_verdict_reply_delay(const struct sm_verdict *v, int64_t *ns)
{
    if (!v->has_server || v->client_answer == SM_ANSWER_NONE ||
        v->server_answer == SM_ANSWER_NONE || v->proxied)
        return false;
    *ns = v->client_answer_ns - (v->server_answer_ns - v->clock_offset_ns);
    return true;
}

/* True for the final verdicts that mean a connection attempt broke on the network or at the
 * server host: compare's exit status 1. */
static inline bool sm_verdict_is_failure(enum sm_verdict_kind k)
{
    return k == SM_V_MISSING || k == SM_V_REPLY_LOST || k == SM_V_UNANSWERED ||
           k == SM_V_ANSWERED_BY_MIDDLEBOX;
}

typedef void (*sm_verdict_fn)(void *arg, const struct sm_verdict *v);

#endif
