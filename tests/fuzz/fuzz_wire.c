/*
 * fuzz_wire.c - libFuzzer target: bytes from the network through protobuf-c unpack and the
 * collector's validation (sm_wire_decode). It must agree with sm_wire_decode_reference()
 * (the whole message through protobuf-c): the same verdict (the reference may say unpack where
 * a header check refused first, wire.h), header and records. A batch it accepts must re-encode
 * and decode to the same records (validation must not let through what the encoder cannot
 * represent).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "synmatch/wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct sm_wire_header h, h2, href;
    struct sm_record *recs = NULL, *recs2 = NULL, *rref = NULL;
    size_t n = 0, n2 = 0, nref = 0;
    memset(&h, 0, sizeof h);
    memset(&href, 0, sizeof href);
    enum sm_wire_reject why = sm_wire_decode(data, size, &h, &recs, &n);
    enum sm_wire_reject ref = sm_wire_decode_reference(data, size, &href, &rref, &nref);
    if (why != ref && !(ref == SM_WIRE_UNPACK && why != SM_WIRE_OK))
        __builtin_trap();
    if (why == SM_WIRE_OK && (n != nref || memcmp(&h, &href, sizeof h) != 0 ||
                              (n > 0 && memcmp(recs, rref, n * sizeof *recs) != 0)))
        __builtin_trap();
    free(rref);
    if (why != SM_WIRE_OK)
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
