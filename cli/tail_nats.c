/*
 * tail_nats.c - `synmatch tail nats://...`: the lines the collector shards stored in the
 * SYNMATCH_OUT stream (verdicts of every partition, every shard's events), through an ordered
 * consumer of the tail's own: new ones as they come, or all the stream holds (--from-start).
 * Nothing is acknowledged and nothing stays behind on the servers when it ends.
 */
#include <inttypes.h>
#include <nats/nats.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alerts.h"
#include "tail_nats.h"
#include "log.h"
#include "synmatch/nats.h"

#define WAIT_STEP_MS 200
#define SUBSCRIBE_TRIES 10
#define PENDING_BYTES (64 << 20)
#define DROPS_TOLD 10 /* messages that are not a shard's lines: the first ones are told */

int sm_tail_nats(const struct sm_nats_conn_opts *conn, bool from_start, int64_t idle_ms,
                 sm_tail_line_fn fn, void *arg, volatile sig_atomic_t *stop)
{
    char err[512];
    natsConnection *nc = sm_nats_connect(conn, false, err, sizeof err);
    if (nc == NULL) {
        sm_log_warnx("%s", err);
        return -1;
    }
    int rc = -1;
    jsCtx *js = NULL;
    natsSubscription *sub = NULL;
    jsErrCode je = 0;
    natsStatus s = natsConnection_JetStream(&js, nc, NULL);
    /* A cluster that just lost a server may not place a new consumer at the first ask. */
    for (int tries = 1; s == NATS_OK; tries++) {
        jsSubOptions so;
        jsSubOptions_Init(&so);
        so.Stream = SM_NATS_OUT_STREAM;
        so.Ordered = true;
        so.Config.DeliverPolicy = from_start ? js_DeliverAll : js_DeliverNew;
        je = 0;
        s = js_SubscribeSync(&sub, js, SM_NATS_OUT_SUBJECTS, NULL, &so, &je);
        if (s != NATS_TIMEOUT || tries == SUBSCRIBE_TRIES || (stop && *stop))
            break;
        s = NATS_OK;
    }
    if (s != NATS_OK) {
        sm_log_warnx("%s: stream %s: %s%s", conn->endpoint, SM_NATS_OUT_STREAM,
                     natsStatus_GetText(s),
                     je ? " (is it made? synmatch-collector --nats-setup)" : "");
        goto out;
    }
    natsSubscription_SetPendingLimits(sub, -1, PENDING_BYTES);
    int64_t quiet = 0;
    uint64_t dropped = 0;
    rc = 0;
    while (!(stop && *stop)) {
        natsMsg *m = NULL;
        s = natsSubscription_NextMsg(&m, sub, WAIT_STEP_MS);
        if (s == NATS_TIMEOUT) {
            quiet += WAIT_STEP_MS;
            if (idle_ms > 0 && quiet >= idle_ms)
                break;
            continue;
        }
        if (s != NATS_OK) {
            sm_log_warnx("%s: %s", conn->endpoint, natsStatus_GetText(s));
            rc = -1;
            break;
        }
        quiet = 0;
        /* one message holds whole lines, packed or not (nats.h); each is handed over
         * without its newline */
        const char *enc = NULL, *size = NULL;
        natsMsgHeader_Get(m, SM_NATS_ENCODING_HEADER, &enc);
        natsMsgHeader_Get(m, SM_NATS_SIZE_HEADER, &size);
        char *copy = NULL, why[160];
        size_t n = 0;
        if (sm_nats_out_unpack(natsMsg_GetData(m), (size_t)natsMsg_GetDataLength(m), enc, size,
                               &copy, &n, why, sizeof why) == -1) {
            if (dropped++ < DROPS_TOLD) { /* subject and headers: anyone who may publish */
                const char *subj = natsMsg_GetSubject(m);
                char ps[96], pw[sizeof why];
                sm_log_warnx("%s: a message on %s dropped: %s", conn->endpoint,
                             sm_alert_printable(ps, sizeof ps, subj, strlen(subj)),
                             sm_alert_printable(pw, sizeof pw, why, strlen(why)));
            }
        } else {
            for (char *line = copy, *nl; *line; line = nl + 1) {
                nl = strchr(line, '\n');
                if (nl == NULL) {
                    fn(arg, line);
                    break;
                }
                *nl = '\0';
                fn(arg, line);
            }
            free(copy);
        }
        natsMsg_Destroy(m);
    }
    if (dropped > DROPS_TOLD)
        sm_log_warnx("%s: %" PRIu64 " messages in all were not a shard's lines and were dropped",
                     conn->endpoint, dropped);
out:
    if (sub) {
        natsSubscription_Unsubscribe(sub);
        natsSubscription_Destroy(sub);
    }
    jsCtx_Destroy(js);
    natsConnection_Close(nc);
    natsConnection_Destroy(nc);
    return rc;
}
