/*
 * synmatch.c - the `synmatch` command: a dispatcher over subcommands, each a thin front over
 * the synmatch_core library.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "synmatch/decode.h"
#include "log.h"
#include "parse.h"

static void usage(FILE *out)
{
    fprintf(out,
            "usage: synmatch COMMAND [ARGS]\n"
            "\n"
            "commands:\n"
            "  compare CLIENT SERVER  map tcp.stream between two captures, list missing SYNs\n"
            "  streams FILE           print the Wireshark tcp.stream of every frame\n"
            "  tail ENDPOINT          follow a collector's alerts, readably\n"
            "  top ENDPOINT           a live full-screen view of a collector's alerts\n"
            "  keygen PREFIX          write a CURVE key pair for an agent or the collector\n"
            "\n"
            "`synmatch COMMAND --help` describes each command.\n");
}

int sm_cli_exit_for(enum sm_pcap_err kind)
{
    switch (kind) {
    case SM_PCAP_ERR_NONE:
        return SM_EXIT_OK;
    case SM_PCAP_ERR_OPEN:
        return SM_EXIT_OPEN;
    case SM_PCAP_ERR_EMPTY:
        return SM_EXIT_EMPTY;
    case SM_PCAP_ERR_NOT_CAPTURE:
        return SM_EXIT_NOT_CAPTURE;
    case SM_PCAP_ERR_TRUNCATED:
    case SM_PCAP_ERR_CORRUPT:
        return SM_EXIT_TRUNCATED;
    }
    return SM_EXIT_INTERNAL;
}

size_t sm_cli_size(const char *opt, const char *s, size_t min, size_t max)
{
    uint64_t v;
    if (sm_parse_u64(s, min, max, &v) == -1)
        sm_fatalx(SM_EXIT_USAGE, "%s: not a number from %zu to %zu: '%s'", opt, min, max, s);
    return (size_t)v;
}

int64_t sm_cli_seconds(const char *opt, const char *s, bool positive)
{
    int64_t ns;
    if (sm_parse_seconds(s, 1000000, 0, &ns) == -1 || (positive && ns == 0))
        sm_fatalx(SM_EXIT_USAGE, "%s: not a %snumber of seconds: '%s'", opt,
                  positive ? "positive " : "", s);
    return ns;
}

void sm_cli_print_counters(FILE *out, const uint64_t *c)
{
    for (int i = 0; i < SM_DC_COUNT; i++)
        if (c[i] != 0)
            fprintf(out, "%s: %-22s %llu\n", sm_log_progname(),
                    sm_decode_counter_name((enum sm_decode_counter)i), (unsigned long long)c[i]);
}

int main(int argc, char **argv)
{
    sm_log_init("synmatch");
    if (argc < 2) {
        usage(stderr);
        return SM_EXIT_USAGE;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "-h") == 0 || strcmp(cmd, "--help") == 0 || strcmp(cmd, "help") == 0) {
        usage(stdout);
        return 0;
    }
    if (strcmp(cmd, "--version") == 0) {
        printf("synmatch %s\n", SM_VERSION);
        return 0;
    }
    if (strcmp(cmd, "streams") == 0)
        return sm_cmd_streams(argc - 1, argv + 1);
    if (strcmp(cmd, "compare") == 0)
        return sm_cmd_compare(argc - 1, argv + 1);
    if (strcmp(cmd, "tail") == 0)
        return sm_cmd_tail(argc - 1, argv + 1);
    if (strcmp(cmd, "top") == 0)
        return sm_cmd_top(argc - 1, argv + 1);
    if (strcmp(cmd, "keygen") == 0)
        return sm_cmd_keygen(argc - 1, argv + 1);
    sm_log_warnx("unknown command '%s'", cmd);
    usage(stderr);
    return SM_EXIT_USAGE;
}
