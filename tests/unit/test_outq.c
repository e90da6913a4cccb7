/*
 * test_outq.c - the collector's output thread: lines come out in the order they were handed
 * over, verdicts formatted as sm_report_verdict_line() formats them, across many more batches
 * than the ring holds (the producer waits, nothing is lost); many lines handed over at once,
 * more than a batch holds, come out whole; a sync leaves everything written and flushed; a
 * stream that cannot be written counts errors; a verdict over the alerts limit reaches the
 * output and not the PUB socket; lines handed over as LZ4 blocks come out unpacked, in order.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <zmq.h>

#include "addr.h"
#include "check.h"
#include "outq.h"
#include "synmatch/nats.h"
#include "synmatch/report.h"

#define N 60000 /* items: about 12 MB of lines, many times the ring */

static void make_verdict(struct sm_verdict *v, uint32_t i)
{
    memset(v, 0, sizeof *v);
    v->kind = i % 3 ? SM_V_MATCHED : SM_V_MISSING;
    v->isn = i;
    v->attempts = 1;
    v->client_stream = i;
    v->first_ns = v->last_ns = INT64_C(1700000000000000000) + i;
    sm_addr_parse("198.18.1.2", &v->client.src);
    sm_addr_parse("198.18.2.2", &v->client.dst);
    v->client.sport = (uint16_t)(1024 + i % 60000);
    v->client.dport = 443;
    if (v->kind == SM_V_MATCHED) {
        v->has_server = true;
        v->server = v->client;
        sm_addr_parse("198.18.2.1", &v->server.src);
        v->server_seq = i;
    }
}

int main(void)
{
    FILE *f = tmpfile();
    CHECK(f != NULL);
    if (f == NULL)
        return check_done();
    sm_outq_t *q = sm_outq_new(f, NULL, 3);
    CHECK(q != NULL);
    if (q == NULL)
        return check_done();
    for (uint32_t i = 0; i < N; i++) {
        if (i % 7 == 0) {
            char line[64];
            int n = snprintf(line, sizeof line, "{\"event\":\"e\",\"n\":%" PRIu32 "}\n", i);
            sm_outq_line(q, line, (size_t)n);
        } else {
            struct sm_verdict v;
            make_verdict(&v, i);
            sm_outq_verdict(q, &v, true);
        }
        if (i % 5000 == 0)
            sm_outq_flush(q);
    }
    sm_outq_sync(q, f, NULL);
    long written = ftell(f); /* all of it is in the file now, not in a buffer */
    CHECK(written > 10 * 1000 * 1000);
    CHECK_EQ_U(sm_outq_errors(q), 0);
    sm_outq_destroy(&q);
    CHECK(q == NULL);
    sm_outq_destroy(&q); /* NULL-safe */

    rewind(f);
    char *got = NULL;
    size_t cap = 0;
    uint32_t i = 0, wrong = 0;
    while (getline(&got, &cap, f) != -1) {
        char want[SM_REPORT_LINE_MAX + 1];
        if (i % 7 == 0) {
            snprintf(want, sizeof want, "{\"event\":\"e\",\"n\":%" PRIu32 "}\n", i);
        } else {
            struct sm_verdict v;
            make_verdict(&v, i);
            want[sm_report_verdict_line(want, &v, 3)] = '\0';
        }
        if (strcmp(got, want) != 0 && wrong++ < 3)
            fprintf(stderr, "line %" PRIu32 ": %s   want %s", i, got, want);
        i++;
    }
    free(got);
    CHECK_EQ_U(i, N);
    CHECK_EQ_U(wrong, 0);
    fclose(f);

    /* Many lines in one hand-over, longer than a batch (as JetStream hands back what was
     * stored): cut after newlines, written whole and in order. */
    f = tmpfile();
    CHECK(f != NULL);
    if (f) {
        size_t n = 0, room = 600 * 1000;
        char *blob = malloc(room);
        CHECK(blob != NULL);
        for (uint32_t k = 0; blob && n + 64 < room; k++)
            n += (size_t)snprintf(blob + n, room - n, "{\"event\":\"e\",\"n\":%" PRIu32 "}\n", k);
        q = sm_outq_new(f, NULL, 0);
        CHECK(q != NULL);
        if (q && blob) {
            sm_outq_line(q, "first\n", 6);
            sm_outq_line(q, blob, n);
            sm_outq_line(q, "last\n", 5);
            sm_outq_sync(q, f, NULL);
            sm_outq_destroy(&q);
            long size = ftell(f);
            CHECK_EQ_U(size, n + 11);
            char *back = malloc((size_t)size);
            rewind(f);
            CHECK(back && fread(back, 1, (size_t)size, f) == (size_t)size);
            CHECK(back && memcmp(back, "first\n", 6) == 0 && memcmp(back + 6, blob, n) == 0 &&
                  memcmp(back + 6 + n, "last\n", 5) == 0);
            free(back);
        }
        free(blob);
        fclose(f);
    }

    /* Lines as LZ4 blocks (a shard's stored verdicts, synmatch/nats.h), between plain lines:
     * unpacked by the thread, in order; a block too big for a batch is refused (the caller
     * unpacks it); a broken block is counted as an error and writes nothing. */
    f = tmpfile();
    CHECK(f != NULL);
    if (f) {
        size_t n = 0, room = 200 * 1000;
        char *blob = malloc(room);
        for (uint32_t k = 0; blob && n + 64 < room; k++)
            n += (size_t)snprintf(blob + n, room - n, "{\"verdict\":\"matched\",\"n\":%" PRIu32
                                  "}\n", k);
        size_t bcap = sm_nats_out_pack_bound(n);
        char *block = malloc(bcap), *noise = malloc(SM_NATS_OUT_MAX_LINES);
        size_t packed = blob && block ? sm_nats_out_pack(blob, n, block, bcap) : 0;
        CHECK(packed > 0 && packed < 64 * 1024);
        q = sm_outq_new(f, NULL, 0);
        CHECK(q != NULL);
        if (q && packed && noise) {
            memset(noise, 'x', SM_NATS_OUT_MAX_LINES);
            CHECK(!sm_outq_packed(q, noise, SM_NATS_OUT_MAX_LINES / 2,
                                  SM_NATS_OUT_MAX_LINES)); /* a block over a batch */
            CHECK(!sm_outq_packed(q, block, packed, SM_NATS_OUT_MAX_LINES + 1));
            CHECK(!sm_outq_packed(q, block, packed, 0));
            sm_outq_line(q, "first\n", 6);
            CHECK(sm_outq_packed(q, block, packed, n));
            sm_outq_line(q, "middle\n", 7);
            CHECK(sm_outq_packed(q, block, packed, n));
            CHECK(sm_outq_packed(q, block, packed / 2, n)); /* broken: an error, no lines */
            sm_outq_line(q, "last\n", 5);
            sm_outq_sync(q, f, NULL);
            CHECK_EQ_U(sm_outq_errors(q), 1);
            sm_outq_destroy(&q);
            long size = ftell(f);
            CHECK_EQ_U(size, 2 * n + 18);
            char *back = malloc((size_t)size);
            rewind(f);
            CHECK(back && fread(back, 1, (size_t)size, f) == (size_t)size);
            CHECK(back && memcmp(back, "first\n", 6) == 0 && memcmp(back + 6, blob, n) == 0 &&
                  memcmp(back + 6 + n, "middle\n", 7) == 0 &&
                  memcmp(back + 13 + n, blob, n) == 0 &&
                  memcmp(back + 13 + 2 * n, "last\n", 5) == 0);
            free(back);
        }
        free(noise);
        free(block);
        free(blob);
        fclose(f);
    }

    /* A stream that refuses every write: counted, and the thread still ends. */
    FILE *full = fopen("/dev/full", "w");
    CHECK(full != NULL);
    if (full) {
        setvbuf(full, NULL, _IONBF, 0);
        q = sm_outq_new(full, NULL, 0);
        CHECK(q != NULL);
        if (q) {
            sm_outq_line(q, "x\n", 2);
            sm_outq_line(q, "y\n", 2);
            sm_outq_sync(q, full, NULL);
            CHECK(sm_outq_errors(q) >= 2);
            sm_outq_destroy(&q);
        }
        fclose(full);
    }

    /* Verdicts kept off the alerts socket (their service is over the limit) still go to the
     * output; the others go to both, in order. */
    f = tmpfile();
    void *ctx = zmq_ctx_new();
    void *pub = zmq_socket(ctx, ZMQ_PUB), *sub = zmq_socket(ctx, ZMQ_SUB);
    CHECK(f && pub && sub && zmq_bind(pub, "inproc://outq-test") == 0 &&
          zmq_connect(sub, "inproc://outq-test") == 0 &&
          zmq_setsockopt(sub, ZMQ_SUBSCRIBE, "", 0) == 0);
    q = f ? sm_outq_new(f, pub, 0) : NULL;
    CHECK(q != NULL);
    if (q) {
        for (uint32_t k = 0; k < 100; k++) {
            struct sm_verdict v;
            make_verdict(&v, k);
            sm_outq_verdict(q, &v, k % 10 == 0);
        }
        sm_outq_sync(q, f, pub);
        sm_outq_destroy(&q);
        rewind(f);
        char *l = NULL;
        size_t lcap = 0;
        unsigned lines = 0;
        while (getline(&l, &lcap, f) != -1)
            lines++;
        free(l);
        CHECK_EQ_U(lines, 100);
        unsigned got_pub = 0, in_order = 1;
        char msg[SM_REPORT_LINE_MAX];
        int n;
        while ((n = zmq_recv(sub, msg, sizeof msg - 1, ZMQ_DONTWAIT)) > 0) {
            msg[n] = '\0';
            char want[SM_REPORT_LINE_MAX];
            struct sm_verdict v;
            make_verdict(&v, got_pub * 10);
            want[sm_report_verdict_line(want, &v, 0)] = '\0';
            in_order &= strcmp(msg, want) == 0;
            got_pub++;
        }
        CHECK_EQ_U(got_pub, 10);
        CHECK(in_order);
    }
    zmq_close(sub);
    zmq_close(pub);
    zmq_ctx_term(ctx);
    if (f)
        fclose(f);
    return check_done();
}
