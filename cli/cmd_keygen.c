/*
 * cmd_keygen.c - `synmatch keygen PREFIX`: a CURVE key pair for an agent or the collector.
 */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "synmatch/keys.h"
#include "log.h"

static void usage(FILE *out)
{
    fprintf(out,
            "usage: synmatch keygen PREFIX\n"
            "\n"
            "Writes a CURVE key pair: PREFIX.key (secret, mode 0600) and PREFIX.pub (public).\n"
            "Existing files are never overwritten.\n"
            "\n"
            "  collector:  synmatch keygen collector\n"
            "              synmatch-collector --key collector.key --allow agents.allow ...\n"
            "  each agent: synmatch keygen web1\n"
            "              synmatch-agent --key web1.key --server-key collector.pub ...\n"
            "              and on the collector, a line in agents.allow:\n"
            "              web1 <the contents of web1.pub>\n");
}

int sm_cmd_keygen(int argc, char **argv)
{
    if (argc == 2 && (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0)) {
        usage(stdout);
        return 0;
    }
    if (argc != 2 || argv[1][0] == '-') {
        usage(stderr);
        return SM_EXIT_USAGE;
    }
    struct sm_keypair kp;
    char err[512];
    if (sm_keys_generate(&kp) == -1)
        sm_fatalx(SM_EXIT_INTERNAL, "cannot generate a key pair (libzmq without CURVE?)");
    if (sm_keys_write(argv[1], &kp, err, sizeof err) == -1)
        sm_fatalx(SM_EXIT_OPEN, "%s", err);
    printf("%s.key (secret) and %s.pub written; public key: %s\n", argv[1], argv[1],
           kp.public_z85);
    return 0;
}
