/*
 * verdict.h - the verdict vocabulary and the verdict object: what the engine decides for a
 * client SYN group, what the writers print (docs/VERDICTS.md).
 */
#ifndef SYNMATCH_VERDICT_H
#define SYNMATCH_VERDICT_H

#include <stdbool.h>
#include <stdint.h>

#include "synmatch/record.h"

/* The verdict vocabulary (DESIGN.md). Names: sm_verdict_name(). */
enum sm_verdict_kind {
    SM_V_SUSPECT,
    SM_V_MATCHED,
    SM_V_MISSING,
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
    const char *reason; /* why, for the non-network verdicts; a static string or NULL */
    uint32_t isn;
    uint32_t attempts;    /* client SYNs of the group */
    uint32_t lost_before; /* matched: attempts sent before the one the server saw first */
    struct sm_tuple client;
    int64_t client_stream; /* tcp.stream of the first attempt, or SM_STREAM_NONE */
    uint64_t client_frame; /* frame of the first attempt (files), or 0 */
    int64_t first_ns, last_ns;
    enum sm_answer client_answer; /* what the client sensor saw come back */

    bool has_server; /* the server side saw the SYN */
    struct sm_tuple server;
    int64_t server_stream;
    uint64_t server_frame;
    int64_t server_first_ns;
    uint32_t server_seq;
    uint32_t server_attempts;
    int64_t delay_ns; /* server_first_ns minus the client attempt that got through */
    enum sm_answer server_answer; /* what the server sent back, seen at the server */
    uint32_t candidates;          /* ambiguous: server SYNs that could be this one */
};

typedef void (*sm_verdict_fn)(void *arg, const struct sm_verdict *v);

#endif
