/*
 * fuzz_wire.c - libFuzzer target: bytes from the network through protobuf-c unpack and the
 * collector's validation (sm_wire_decode). A batch it accepts must re-encode and decode to
 * the same records (validation must not let through what the encoder cannot represent).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "synmatch/wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct sm_wire_header h, h2;
    struct sm_record *recs = NULL, *recs2 = NULL;
    size_t n = 0, n2 = 0;
    if (sm_wire_decode(data, size, &h, &recs, &n) != SM_WIRE_OK)
        return 0;
    bool files = n > 0 && recs[0].stream != SM_STREAM_NONE;
    size_t len;
    uint8_t *buf = sm_wire_encode(&h, recs, n, files, &len);
    if (buf == NULL)
        __builtin_trap();
    if (sm_wire_decode(buf, len, &h2, &recs2, &n2) != SM_WIRE_OK || n2 != n)
        __builtin_trap();
    for (size_t i = 0; i < n; i++)
        if (recs[i].seq != recs2[i].seq || recs[i].ts_ns != recs2[i].ts_ns ||
            recs[i].tuple.sport != recs2[i].tuple.sport)
            __builtin_trap();
    free(buf);
    free(recs);
    free(recs2);
    return 0;
}
