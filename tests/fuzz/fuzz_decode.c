/*
 * fuzz_decode.c - libFuzzer target: one frame of any supported link type through the decoder
 * and the tcp.stream numbering. The first input byte picks the link type, the second and
 * third set how much of the frame was "on the wire" beyond what was captured; the rest is the
 * frame. Decoder and numbering state persist across inputs, so reassembly and the stream
 * table see long, hostile sequences too.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "synmatch/decode.h"
#include "synmatch/stream.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const uint32_t linktypes[] = {0, 1, 12, 14, 101, 108, 113, 228, 229, 276, 147};

static sm_decoder_t *dec;
static sm_streams_t *streams;
static uint64_t frame_no;

static void on_tcp(void *arg, const struct sm_tcp_view *v)
{
    (void)arg;
    int64_t s = sm_streams_assign(streams, v);
    if (s < 0 || (uint64_t)s > sm_streams_count(streams))
        __builtin_trap();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (dec == NULL) {
        struct sm_decoder_config cfg = {.frag_max_bytes = 1u << 20, .frag_max_datagrams = 64};
        dec = sm_decoder_new(&cfg);
        streams = sm_streams_new(1024); /* small: eviction paths run too */
    }
    if (size < 3)
        return 0;
    struct sm_frame fr;
    memset(&fr, 0, sizeof fr);
    fr.linktype = linktypes[data[0] % (sizeof linktypes / sizeof linktypes[0])];
    uint32_t extra = (uint32_t)data[1] << 8 | data[2];
    fr.data = data + 3;
    fr.caplen = (uint32_t)(size - 3);
    fr.wirelen = fr.caplen + (extra & 0x8000 ? extra & 0x7fff : 0);
    fr.number = ++frame_no;
    fr.ts_ns = (int64_t)frame_no * 1000;
    sm_decode_frame(dec, &fr, on_tcp, NULL);
    return 0;
}
