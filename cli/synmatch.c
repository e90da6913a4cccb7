/*
 * synmatch.c - the `synmatch` command: a dispatcher over subcommands, each a thin front over
 * the synmatch_core library.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <unistd.h>

#include "cli.h"
#include "log.h"

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

/*
 * tail, top and keygen live in a second program, synmatch-live (next to this one in a build
 * tree, else in SM_LIBEXECDIR/synmatch), so that this one loads no ZeroMQ, NATS, jansson or
 * ncurses: with them and what they pull in (libstdc++, OpenSSL, libsodium, Kerberos: 27
 * shared objects) every compare spent 14 ms of CPU starting, a seventh of the floor's time on
 * a 100 MB pair. The helper gets the same arguments.
 */
static int run_live(char **argv)
{
    char self[4096], path[4096 + 32];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n > 0) {
        self[n] = '\0';
        char *slash = strrchr(self, '/');
        if (slash != NULL) {
            *slash = '\0';
            snprintf(path, sizeof path, "%s/synmatch-live", self);
            if (access(path, X_OK) == 0)
                execv(path, argv);
        }
    }
    snprintf(path, sizeof path, "%s/synmatch/synmatch-live", SM_LIBEXECDIR);
    execv(path, argv);
    sm_log_warn("%s needs %s", argv[1], path); /* with errno's text */
    return SM_EXIT_INTERNAL;
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
    if (strcmp(cmd, "tail") == 0 || strcmp(cmd, "top") == 0 || strcmp(cmd, "keygen") == 0)
        return run_live(argv);
    sm_log_warnx("unknown command '%s'", cmd);
    usage(stderr);
    return SM_EXIT_USAGE;
}
