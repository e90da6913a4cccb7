/*
 * synmatch_live.c - synmatch-live, the commands of `synmatch` that follow a collector or make
 * its keys (tail, top, keygen), with the libraries they need. `synmatch` runs it with its own
 * arguments (synmatch.c), so that a compare loads none of them.
 */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "log.h"

int main(int argc, char **argv)
{
    sm_log_init("synmatch");
    const char *cmd = argc >= 2 ? argv[1] : "";
    if (strcmp(cmd, "tail") == 0)
        return sm_cmd_tail(argc - 1, argv + 1);
    if (strcmp(cmd, "top") == 0)
        return sm_cmd_top(argc - 1, argv + 1);
    if (strcmp(cmd, "keygen") == 0)
        return sm_cmd_keygen(argc - 1, argv + 1);
    fprintf(stderr, "usage: synmatch tail|top|keygen ARGS (synmatch-live is run by synmatch)\n");
    return SM_EXIT_USAGE;
}
