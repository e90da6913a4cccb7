/*
 * cmd_streams.c - `synmatch streams FILE`: the tcp.stream of every frame, in the format of
 * `tshark -r FILE -T fields -e frame.number -e tcp.stream`, so the two can be diffed.
 */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "synmatch/decode.h"
#include "log.h"
#include "synmatch/pcapfile.h"
#include "synmatch/stream.h"

struct frame_out {
    sm_streams_t *streams;
    char buf[256];
    size_t len;
};

static void on_tcp(void *arg, const struct sm_tcp_view *v)
{
    struct frame_out *fo = arg;
    int64_t st = sm_streams_assign(fo->streams, v);
    if (fo->len < sizeof fo->buf - 24)
        fo->len += (size_t)snprintf(fo->buf + fo->len, sizeof fo->buf - fo->len, "%s%" PRId64,
                                    fo->len ? "," : "", st);
}

static void usage(FILE *out)
{
    fprintf(out,
            "usage: synmatch streams [--max-conversations N] [--counters] FILE\n"
            "\n"
            "Prints every frame's number and Wireshark tcp.stream index (empty when the frame\n"
            "carries no TCP header), tab-separated, exactly as\n"
            "  tshark -r FILE -T fields -e frame.number -e tcp.stream\n"
            "prints them with default preferences. FILE may be - for standard input.\n"
            "\n"
            "  --max-conversations N  endpoint pairs remembered (default %u); past it the\n"
            "                         numbering is no longer exact and a warning says so\n"
            "  --counters             print decoder counters on stderr at the end\n",
            SM_STREAMS_DEFAULT_MAX);
}

int sm_cmd_streams(int argc, char **argv)
{
    size_t max_conv = 0;
    bool show_counters = false;
    static const struct option opts[] = {
        {"max-conversations", required_argument, NULL, 'm'},
        {"counters", no_argument, NULL, 'c'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int ch;
    while ((ch = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (ch) {
        case 'm':
            max_conv = sm_cli_size("--max-conversations", optarg, 1, SIZE_MAX / 64);
            break;
        case 'c':
            show_counters = true;
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return SM_EXIT_USAGE;
        }
    }
    if (argc - optind != 1) {
        usage(stderr);
        return SM_EXIT_USAGE;
    }
    const char *path = argv[optind];
    enum sm_pcap_err ek;
    char err[512];
    sm_pcapfile_t *pf = sm_pcapfile_open(path, &ek, err, sizeof err);
    if (pf == NULL) {
        sm_log_warnx("%s", err);
        return sm_cli_exit_for(ek);
    }
    sm_decoder_t *dec = sm_decoder_new(NULL);
    struct frame_out fo = {.streams = sm_streams_new(max_conv)};
    if (dec == NULL || fo.streams == NULL)
        sm_fatalx(SM_EXIT_INTERNAL, "out of memory");

    static char outbuf[1 << 16];
    setvbuf(stdout, outbuf, _IOFBF, sizeof outbuf);
    struct sm_frame fr;
    int rc;
    while ((rc = sm_pcapfile_next(pf, &fr)) == 1) {
        fo.len = 0;
        fo.buf[0] = '\0';
        sm_decode_frame(dec, &fr, on_tcp, &fo);
        printf("%" PRIu64 "\t%s\n", fr.number, fo.buf);
    }
    fflush(stdout);
    int status = 0;
    if (rc == -1) {
        sm_log_warnx("%s: %s", path, sm_pcapfile_error(pf));
        status = sm_cli_exit_for(sm_pcapfile_errkind(pf));
    }
    if (!sm_streams_exact(fo.streams))
        sm_log_warnx("%s: numbering is not exact from frame %" PRIu64
                     ": %" PRIu64 " endpoint pairs were forgotten (raise --max-conversations)",
                     path, sm_streams_first_inexact_frame(fo.streams),
                     sm_streams_evicted(fo.streams));
    const uint64_t *ctr = sm_decoder_counters(dec);
    if (sm_pcapfile_unaligned_blocks(pf))
        sm_log_warnx("%s: %" PRIu64 " pcapng blocks have a length that is not a multiple of 4; "
                     "read as padded to the next one, as tshark does",
                     path, sm_pcapfile_unaligned_blocks(pf));
    if (sm_decoder_bounded_frames(dec))
        sm_log_warnx("%s: numbering may differ from Wireshark's from frame %" PRIu64
                     ": %" PRIu64 " frames nest deeper than synmatch follows (%s)",
                     path, sm_decoder_first_bounded_frame(dec), sm_decoder_bounded_frames(dec),
                     SM_DECODE_BOUNDS);
    if (ctr[SM_DC_FRAG_EVICTED])
        sm_log_warnx("%s: numbering may not be exact: %" PRIu64
                     " incomplete IP datagrams were dropped to bound memory",
                     path, ctr[SM_DC_FRAG_EVICTED]);
    if (show_counters)
        sm_cli_print_counters(stderr, ctr);
    sm_streams_destroy(&fo.streams);
    sm_decoder_destroy(&dec);
    sm_pcapfile_close(&pf);
    return status;
}
