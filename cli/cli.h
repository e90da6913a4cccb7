/*
 * cli.h - what the synmatch subcommands share: the exit status of a file error, argument
 * helpers.
 */
#ifndef SYNMATCH_CLI_H
#define SYNMATCH_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "exit.h"
#include "synmatch/pcapfile.h"

int sm_cli_exit_for(enum sm_pcap_err kind);
/* Option values, or a usage error (exit status 2) naming the option. */
size_t sm_cli_size(const char *opt, const char *s, size_t min, size_t max);
int64_t sm_cli_seconds(const char *opt, const char *s, bool positive);
void sm_cli_print_counters(FILE *out, const uint64_t *decode_counters);

int sm_cmd_streams(int argc, char **argv);
int sm_cmd_compare(int argc, char **argv);
int sm_cmd_tail(int argc, char **argv);
int sm_cmd_top(int argc, char **argv);
int sm_cmd_keygen(int argc, char **argv);

#endif
