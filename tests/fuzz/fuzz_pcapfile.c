/*
 * fuzz_pcapfile.c - libFuzzer target: a whole pcap or pcapng file through the reader, the
 * decoder and the tcp.stream numbering (what `synmatch streams` does). The input is written
 * to a memory file and opened by path, so the real read(2) path is exercised.
 */
#define _GNU_SOURCE
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/mman.h>
#include <unistd.h>

#include "synmatch/decode.h"
#include "synmatch/pcapfile.h"
#include "synmatch/stream.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static sm_streams_t *streams;

static void on_tcp(void *arg, const struct sm_tcp_view *v)
{
    (void)arg;
    sm_streams_assign(streams, v);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int fd = memfd_create("fuzz.pcap", 0);
    if (fd == -1)
        return 0;
    if (size > 0 && write(fd, data, size) != (ssize_t)size) {
        close(fd);
        return 0;
    }
    char path[64];
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    enum sm_pcap_err kind;
    char err[256];
    sm_pcapfile_t *f = sm_pcapfile_open(path, &kind, err, sizeof err);
    if (f != NULL) {
        struct sm_decoder_config cfg = {.frag_max_bytes = 1u << 20, .frag_max_datagrams = 64};
        sm_decoder_t *d = sm_decoder_new(&cfg);
        streams = sm_streams_new(4096);
        struct sm_frame fr;
        int rc;
        while ((rc = sm_pcapfile_next(f, &fr)) == 1) {
            if (fr.caplen > fr.wirelen)
                __builtin_trap(); /* the reader promises wirelen >= caplen */
            sm_decode_frame(d, &fr, on_tcp, NULL);
        }
        if (rc == -1 && sm_pcapfile_errkind(f) == SM_PCAP_ERR_NONE)
            __builtin_trap(); /* an error always has a kind */
        const struct sm_ifstats *st;
        sm_pcapfile_ifstats(f, &st);
        sm_streams_destroy(&streams);
        sm_decoder_destroy(&d);
        sm_pcapfile_close(&f);
    } else if (kind == SM_PCAP_ERR_NONE) {
        __builtin_trap();
    }
    close(fd);
    return 0;
}
