/*
 * test_nats_lines.c - SYNMATCH_OUT's messages (synmatch/nats.h): lines packed into an LZ4
 * block and back, byte for byte, at every size up to the largest a shard sends; lines that
 * would not shrink sent as they are; and every message that is not a shard's lines refused
 * with a reason (unknown encoding, a missing, malformed, zero or oversized size, a size the
 * block does not hold, a broken or truncated block), never read past its end.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "synmatch/nats.h"

/* n bytes of verdict-like lines (repetitive JSON with varying numbers), ending in '\n'. */
static char *lines_of(size_t n, unsigned seed)
{
    char *b = malloc(n + 1);
    size_t at = 0;
    while (at < n) {
        char line[256];
        int k = snprintf(line, sizeof line,
                         "{\"schema\":2,\"verdict\":\"matched\",\"seq\":%u,\"client\":{\"src\":"
                         "\"198.18.%u.%u\",\"sport\":%u}}\n",
                         seed * 2654435761u, seed % 256, (seed >> 8) % 256, seed % 65536);
        seed = seed * 1103515245u + 12345u;
        size_t take = (size_t)k < n - at ? (size_t)k : n - at;
        memcpy(b + at, line, take);
        at += take;
    }
    b[n - 1] = '\n';
    b[n] = '\0';
    return b;
}

static void round_trip(size_t n)
{
    char *in = lines_of(n, (unsigned)n);
    size_t cap = sm_nats_out_pack_bound(n);
    char *block = malloc(cap);
    size_t packed = sm_nats_out_pack(in, n, block, cap);
    CHECK(packed > 0 && packed < n); /* such lines always shrink */
    char size[24], err[160];
    snprintf(size, sizeof size, "%zu", n);
    char *out = NULL;
    size_t nout = 0;
    CHECK(sm_nats_out_unpack(block, packed, SM_NATS_ENCODING_LZ4, size, &out, &nout, err,
                             sizeof err) == 0);
    CHECK_EQ_U(nout, n);
    CHECK(out != NULL && memcmp(out, in, n) == 0 && out[n] == '\0');
    free(out);
    char *direct = malloc(n);
    CHECK_EQ_U(sm_nats_out_unpack_block(block, packed, direct, n), n);
    CHECK(memcmp(direct, in, n) == 0);
    /* one byte less room than the block holds: refused, nothing written past it */
    if (n > 1)
        CHECK_EQ_U(sm_nats_out_unpack_block(block, packed, direct, n - 1), 0);
    /* every truncation of the block is refused */
    for (size_t cut = 0; cut < packed; cut += packed / 7 + 1) {
        out = NULL;
        CHECK(sm_nats_out_unpack(block, cut, SM_NATS_ENCODING_LZ4, size, &out, &nout, err,
                                 sizeof err) == -1);
        CHECK(out == NULL);
    }
    free(direct);
    free(block);
    free(in);
}

static void test_sizes(void)
{
    const size_t sizes[] = {700, 1500, 4096, 32768, 200000, SM_NATS_OUT_MAX_LINES};
    for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++)
        round_trip(sizes[i]);
}

static void test_plain(void)
{
    /* too short to shrink, empty, or over the limit: 0, sent as lines */
    char tiny[] = "x\n", block[64];
    CHECK_EQ_U(sm_nats_out_pack(tiny, 2, block, sizeof block), 0);
    CHECK_EQ_U(sm_nats_out_pack(tiny, 0, block, sizeof block), 0);
    char *big = malloc(SM_NATS_OUT_MAX_LINES + 1);
    memset(big, 'a', SM_NATS_OUT_MAX_LINES + 1);
    char *bb = malloc(sm_nats_out_pack_bound(SM_NATS_OUT_MAX_LINES + 1));
    CHECK_EQ_U(sm_nats_out_pack(big, SM_NATS_OUT_MAX_LINES + 1, bb,
                                sm_nats_out_pack_bound(SM_NATS_OUT_MAX_LINES + 1)), 0);
    free(bb);
    free(big);
    /* a message without the headers is its lines */
    char *out = NULL, err[160];
    size_t n = 0;
    CHECK(sm_nats_out_unpack("a\nb\n", 4, NULL, NULL, &out, &n, err, sizeof err) == 0);
    CHECK_EQ_U(n, 4);
    CHECK(out && strcmp(out, "a\nb\n") == 0);
    free(out);
    CHECK(sm_nats_out_unpack("", 0, NULL, NULL, &out, &n, err, sizeof err) == 0);
    CHECK_EQ_U(n, 0);
    free(out);
}

static void refused(const char *data, size_t len, const char *enc, const char *size,
                    const char *why)
{
    char *out = (char *)1, err[160] = "";
    size_t n = 99;
    CHECK(sm_nats_out_unpack(data, len, enc, size, &out, &n, err, sizeof err) == -1);
    CHECK(out == NULL && n == 0);
    if (strstr(err, why) == NULL) {
        fprintf(stderr, "reason \"%s\" lacks \"%s\"\n", err, why);
        CHECK(0);
    }
}

static void test_hostile(void)
{
    char *in = lines_of(5000, 7);
    char block[8192];
    size_t packed = sm_nats_out_pack(in, 5000, block, sizeof block);
    CHECK(packed > 0);
    refused(block, packed, "zstd", "5000", "unknown encoding");
    refused(block, packed, "", "5000", "unknown encoding");
    refused(block, packed, SM_NATS_ENCODING_LZ4, NULL, "without a");
    refused(block, packed, SM_NATS_ENCODING_LZ4, "", "not a size");
    refused(block, packed, SM_NATS_ENCODING_LZ4, "0", "not a size");
    refused(block, packed, SM_NATS_ENCODING_LZ4, "-5", "not a size");
    refused(block, packed, SM_NATS_ENCODING_LZ4, "5000x", "not a size");
    refused(block, packed, SM_NATS_ENCODING_LZ4, "99999999999999999999999", "not a size");
    char over[24];
    snprintf(over, sizeof over, "%u", SM_NATS_OUT_MAX_LINES + 1);
    refused(block, packed, SM_NATS_ENCODING_LZ4, over, "not a size");
    refused(block, packed, SM_NATS_ENCODING_LZ4, "4999", "broken");
    refused(block, packed, SM_NATS_ENCODING_LZ4, "5001", "broken");
    /* a block with garbage in it, at every byte: refused or (rarely) other lines of the
     * stated size, never a crash or a read outside it (the sanitizer build runs this) */
    for (size_t at = 0; at < packed; at++) {
        char bad[8192];
        memcpy(bad, block, packed);
        bad[at] ^= 0x5a;
        char *out = NULL, err[160];
        size_t n = 0;
        if (sm_nats_out_unpack(bad, packed, SM_NATS_ENCODING_LZ4, "5000", &out, &n, err,
                               sizeof err) == 0)
            CHECK_EQ_U(n, 5000);
        free(out);
    }
    /* lines over the limit unpacked as they are: refused too */
    char *big = calloc(1, SM_NATS_OUT_MAX_LINES + 1);
    refused(big, SM_NATS_OUT_MAX_LINES + 1, NULL, NULL, "more than a shard sends");
    free(big);
    free(in);
}

int main(void)
{
    test_sizes();
    test_plain();
    test_hostile();
    return check_done();
}
