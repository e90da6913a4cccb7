/*
 * cli.h - what the synmatch subcommands share: exit statuses and argument helpers.
 */
#ifndef SYNMATCH_CLI_H
#define SYNMATCH_CLI_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "synmatch/pcapfile.h"

/* Exit statuses, like diff(1) for the first two. Documented in README.md. */
enum {
    SM_EXIT_OK = 0,          /* no missing SYNs */
    SM_EXIT_MISSING = 1,     /* missing SYNs found */
    SM_EXIT_USAGE = 2,       /* bad command line */
    SM_EXIT_OPEN = 3,        /* a file cannot be opened or read */
    SM_EXIT_NOT_CAPTURE = 4, /* not a pcap/pcapng file, or a corrupt file header */
    SM_EXIT_LINKTYPE = 5,    /* no interface with a supported link type */
    SM_EXIT_EMPTY = 6,       /* a file is empty (0 bytes) */
    SM_EXIT_TRUNCATED = 7,   /* a file ends early or is corrupt inside: output is partial */
    SM_EXIT_NO_SCOPE = 8,    /* no server address known: use --server-ip */
    SM_EXIT_INTERNAL = 9,    /* out of memory or another internal failure */
};

int sm_cli_exit_for(enum sm_pcap_err kind);
int sm_cli_parse_size(const char *s, size_t *out);
int sm_cli_parse_seconds(const char *s, int64_t *ns_out);
void sm_cli_print_counters(FILE *out, const uint64_t *decode_counters);

int sm_cmd_streams(int argc, char **argv);
int sm_cmd_compare(int argc, char **argv);
int sm_cmd_tail(int argc, char **argv);
int sm_cmd_keygen(int argc, char **argv);

#endif
