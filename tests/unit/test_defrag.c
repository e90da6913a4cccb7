/*
 * test_defrag.c - IP reassembly: in order, out of order, duplicates, the end given twice,
 * datagrams past 64 KiB, the bounds (bytes and datagrams, oldest evicted first, counted), and
 * running out of memory (the datagram dropped and counted as evicted, never a crash).
 */
#include <stdint.h>
#include <string.h>

#include "alloc.h"
#include "check.h"
#include "defrag.h"

static struct sm_frag_key key(uint32_t id)
{
    struct sm_frag_key k;
    memset(&k, 0, sizeof k);
    k.src.family = k.dst.family = 4;
    k.src.bytes[0] = 198, k.src.bytes[1] = 18, k.src.bytes[3] = 1;
    k.dst.bytes[0] = 198, k.dst.bytes[1] = 18, k.dst.bytes[3] = 2;
    k.ident = id;
    return k;
}

static uint8_t data[4096];

static enum sm_defrag_result add(sm_defrag_t *df, uint32_t id, uint32_t off, uint32_t len,
                                 bool more, const uint8_t **out, uint32_t *outlen,
                                 uint64_t *evicted)
{
    struct sm_frag_key k = key(id);
    /* offsets past the buffer (the refused ones) carry bytes from its start */
    const uint8_t *p = off + len <= sizeof data ? data + off : data;
    return sm_defrag_add(df, &k, off, more, p, len, out, outlen, evicted);
}

static void test_orders(void)
{
    sm_defrag_t *df = sm_defrag_new(1 << 20, 64);
    const uint8_t *out;
    uint32_t outlen;
    uint64_t ev = 0;
    /* in order */
    CHECK(add(df, 1, 0, 1000, true, &out, &outlen, &ev) == SM_DEFRAG_HELD);
    CHECK(add(df, 1, 1000, 500, false, &out, &outlen, &ev) == SM_DEFRAG_COMPLETE);
    CHECK_EQ_U(outlen, 1500);
    CHECK(memcmp(out, data, 1500) == 0);
    /* last first, a duplicate in the middle */
    CHECK(add(df, 2, 1000, 24, false, &out, &outlen, &ev) == SM_DEFRAG_HELD);
    CHECK(add(df, 2, 0, 512, true, &out, &outlen, &ev) == SM_DEFRAG_HELD);
    CHECK(add(df, 2, 0, 512, true, &out, &outlen, &ev) == SM_DEFRAG_HELD);
    CHECK(add(df, 2, 512, 488, true, &out, &outlen, &ev) == SM_DEFRAG_COMPLETE);
    CHECK_EQ_U(outlen, 1024);
    CHECK(memcmp(out, data, 1024) == 0);
    /* the same id again later is a new datagram */
    CHECK(add(df, 2, 0, 8, true, &out, &outlen, &ev) == SM_DEFRAG_HELD);
    /* past 65535 bytes: cannot be valid */
    CHECK(add(df, 3, 65530, 8, false, &out, &outlen, &ev) == SM_DEFRAG_BAD);
    CHECK_EQ_U(ev, 0);
    sm_defrag_destroy(&df);
    CHECK(df == NULL);
}

static void test_bounds(void)
{
    const uint8_t *out;
    uint32_t outlen;
    uint64_t ev = 0;
    /* at most 4 incomplete datagrams: the oldest go first */
    sm_defrag_t *df = sm_defrag_new(1 << 20, 4);
    for (uint32_t id = 10; id < 20; id++)
        CHECK(add(df, id, 0, 8, true, &out, &outlen, &ev) == SM_DEFRAG_HELD);
    CHECK_EQ_U(ev, 6);
    /* the newest four are still there: each completes */
    for (uint32_t id = 16; id < 20; id++)
        CHECK(add(df, id, 8, 8, false, &out, &outlen, &ev) == SM_DEFRAG_COMPLETE);
    /* the oldest is gone: its end alone does not complete it */
    CHECK(add(df, 10, 8, 8, false, &out, &outlen, &ev) == SM_DEFRAG_HELD);
    sm_defrag_destroy(&df);
    /* a byte bound smaller than one datagram's buffer: dropped, counted */
    ev = 0;
    df = sm_defrag_new(1024, 16);
    CHECK(add(df, 1, 0, 1500, true, &out, &outlen, &ev) == SM_DEFRAG_BAD);
    CHECK_EQ_U(ev, 1);
    sm_defrag_destroy(&df);
}

static void test_out_of_memory(void)
{
    for (uint64_t k = 1; k < 12; k++) {
        sm_alloc_fail_at(k, false);
        sm_defrag_t *df = sm_defrag_new(1 << 20, 64);
        if (df) {
            const uint8_t *out;
            uint32_t outlen;
            uint64_t ev = 0;
            int complete = 0, bad = 0;
            for (uint32_t id = 0; id < 4; id++) {
                enum sm_defrag_result r1 = add(df, id, 0, 1000, true, &out, &outlen, &ev);
                enum sm_defrag_result r2 = add(df, id, 1000, 500, false, &out, &outlen, &ev);
                if (r2 == SM_DEFRAG_COMPLETE) {
                    complete++;
                    CHECK_EQ_U(outlen, 1500);
                    CHECK(memcmp(out, data, 1500) == 0);
                }
                bad += r1 == SM_DEFRAG_BAD || r2 == SM_DEFRAG_BAD;
            }
            /* what could not be held is counted as evicted: numbering marked inexact */
            if (complete < 4)
                CHECK(ev > 0 && bad > 0);
        }
        sm_alloc_fail_at(0, false);
        sm_defrag_destroy(&df);
    }
}

int main(void)
{
    for (size_t i = 0; i < sizeof data; i++)
        data[i] = (uint8_t)(i * 7 + 3);
    test_orders();
    test_bounds();
    test_out_of_memory();
    return check_done();
}
