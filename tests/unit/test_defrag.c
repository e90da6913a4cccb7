/*
 * test_defrag.c - IP reassembly: in order, out of order, duplicates, the end given twice,
 * datagrams past 64 KiB, the bounds (bytes and datagrams, oldest evicted first, counted), and
 * running out of memory (the datagram dropped and counted as evicted, never a crash); which
 * bytes overlapping fragments leave, which of two ends counts, and fragments past the end.
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

/* A fragment of n bytes all equal to c. */
static enum sm_defrag_result addc(sm_defrag_t *df, uint32_t id, uint32_t off, uint32_t n, bool more,
                                  uint8_t c, const uint8_t **out, uint32_t *outlen, uint64_t *ev)
{
    uint8_t b[64];
    memset(b, c, sizeof b);
    struct sm_frag_key k = key(id);
    return sm_defrag_add(df, &k, off, more, b, n, out, outlen, ev);
}

static bool all(const uint8_t *p, uint32_t from, uint32_t to, uint8_t c)
{
    for (uint32_t i = from; i < to; i++)
        if (p[i] != c)
            return false;
    return true;
}

/*
 * As Wireshark's reassemble.c decides (docs/tcp-stream-numbering.md, R11): overlapping bytes
 * are the lowest offset's, of equal offsets the first's, in either arrival order; the first
 * last fragment gives the length; fragments past the end do not keep it from completing.
 */
static void test_overlaps(void)
{
    sm_defrag_t *df = sm_defrag_new(1 << 20, 64);
    const uint8_t *out;
    uint32_t outlen;
    uint64_t ev = 0;
    /* lower offset first, then one overlapping it from above */
    CHECK(addc(df, 20, 0, 16, true, 'A', &out, &outlen, &ev) == SM_DEFRAG_HELD);
    CHECK(addc(df, 20, 8, 16, false, 'B', &out, &outlen, &ev) == SM_DEFRAG_COMPLETE);
    CHECK(outlen == 24 && all(out, 0, 16, 'A') && all(out, 16, 24, 'B'));
    /* the same two the other way round: the lower offset still wins */
    CHECK(addc(df, 21, 8, 16, false, 'B', &out, &outlen, &ev) == SM_DEFRAG_HELD);
    CHECK(addc(df, 21, 0, 16, true, 'A', &out, &outlen, &ev) == SM_DEFRAG_COMPLETE);
    CHECK(outlen == 24 && all(out, 0, 16, 'A') && all(out, 16, 24, 'B'));
    /* equal offsets: the first */
    CHECK(addc(df, 22, 0, 8, true, 'A', &out, &outlen, &ev) == SM_DEFRAG_HELD);
    CHECK(addc(df, 22, 0, 8, true, 'B', &out, &outlen, &ev) == SM_DEFRAG_HELD);
    CHECK(addc(df, 22, 8, 8, false, 'C', &out, &outlen, &ev) == SM_DEFRAG_COMPLETE);
    CHECK(outlen == 16 && all(out, 0, 8, 'A') && all(out, 8, 16, 'C'));
    /* two ends: the first counts */
    CHECK(addc(df, 23, 8, 8, false, 'A', &out, &outlen, &ev) == SM_DEFRAG_HELD);
    CHECK(addc(df, 23, 16, 8, false, 'B', &out, &outlen, &ev) == SM_DEFRAG_HELD);
    CHECK(addc(df, 23, 0, 8, true, 'C', &out, &outlen, &ev) == SM_DEFRAG_COMPLETE);
    CHECK_EQ_U(outlen, 16);
    /* a fragment past the end does not hold it back */
    CHECK(addc(df, 24, 0, 8, true, 'A', &out, &outlen, &ev) == SM_DEFRAG_HELD);
    CHECK(addc(df, 24, 40, 8, true, 'B', &out, &outlen, &ev) == SM_DEFRAG_HELD);
    CHECK(addc(df, 24, 8, 8, false, 'C', &out, &outlen, &ev) == SM_DEFRAG_COMPLETE);
    CHECK(outlen == 16 && all(out, 0, 8, 'A') && all(out, 8, 16, 'C'));
    /* a hole below the end keeps it open, however many fragments lie around it */
    for (uint32_t k = 0; k < 200; k++)
        CHECK(addc(df, 25, 16 + 8 * k, 8, k + 1 < 200, 'D', &out, &outlen, &ev) == SM_DEFRAG_HELD);
    CHECK(addc(df, 25, 0, 8, true, 'E', &out, &outlen, &ev) == SM_DEFRAG_HELD);
    CHECK(addc(df, 25, 8, 8, true, 'F', &out, &outlen, &ev) == SM_DEFRAG_COMPLETE);
    CHECK(outlen == 16 + 8 * 200 && all(out, 8, 16, 'F') && all(out, 16, outlen, 'D'));
    CHECK_EQ_U(ev, 0);
    /* past 4,096 fragments in one datagram: dropped and said to be a bound of ours */
    enum sm_defrag_result r = SM_DEFRAG_HELD;
    for (uint32_t k = 0; k <= 4096 && r == SM_DEFRAG_HELD; k++)
        r = addc(df, 26, 16 + 8 * (k % 1000), 8, true, 'G', &out, &outlen, &ev);
    CHECK(r == SM_DEFRAG_TOO_MANY);
    CHECK(addc(df, 26, 0, 8, false, 'G', &out, &outlen, &ev) == SM_DEFRAG_COMPLETE); /* a new one */
    sm_defrag_destroy(&df);
}

int main(void)
{
    for (size_t i = 0; i < sizeof data; i++)
        data[i] = (uint8_t)(i * 7 + 3);
    test_orders();
    test_bounds();
    test_out_of_memory();
    test_overlaps();
    return check_done();
}
