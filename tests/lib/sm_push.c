/*
 * sm_push.c - a test peer: sends each FILE's bytes as one ZeroMQ message to ENDPOINT from a
 * PUSH socket, with the NULL mechanism or, with --key and --server-key, CURVE. Used to play
 * unauthenticated, unknown and impostor agents against the collector.
 *   sm_push [--key FILE --server-key KEY] [--repeat N] ENDPOINT FILE...
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zmq.h>

#include "synmatch/keys.h"

int main(int argc, char **argv)
{
    const char *key = NULL, *server = NULL;
    int repeat = 1;
    static const struct option opts[] = {{"key", required_argument, NULL, 'k'},
                                         {"server-key", required_argument, NULL, 's'},
                                         {"repeat", required_argument, NULL, 'r'},
                                         {NULL, 0, NULL, 0}};
    int ch;
    while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        if (ch == 'k')
            key = optarg;
        else if (ch == 's')
            server = optarg;
        else if (ch == 'r')
            repeat = atoi(optarg);
        else
            return 2;
    }
    if (argc - optind < 2)
        return 2;
    void *ctx = zmq_ctx_new();
    void *push = zmq_socket(ctx, ZMQ_PUSH);
    int linger = 1500;
    zmq_setsockopt(push, ZMQ_LINGER, &linger, sizeof linger);
    if (key && server) {
        struct sm_keypair kp;
        char sk[SM_KEY_Z85_LEN + 1], err[512];
        if (sm_keys_load_secret(key, &kp, err, sizeof err) == -1 ||
            sm_keys_load_public(server, sk, err, sizeof err) == -1) {
            fprintf(stderr, "%s\n", err);
            return 3;
        }
        zmq_setsockopt(push, ZMQ_CURVE_SERVERKEY, sk, 41);
        zmq_setsockopt(push, ZMQ_CURVE_PUBLICKEY, kp.public_z85, 41);
        zmq_setsockopt(push, ZMQ_CURVE_SECRETKEY, kp.secret_z85, 41);
    }
    if (zmq_connect(push, argv[optind]) == -1)
        return 3;
    for (int r = 0; r < repeat; r++) {
        for (int i = optind + 1; i < argc; i++) {
            FILE *f = fopen(argv[i], "rb");
            if (f == NULL)
                return 3;
            static char buf[1 << 20];
            size_t n = fread(buf, 1, sizeof buf, f);
            fclose(f);
            zmq_send(push, buf, n, ZMQ_DONTWAIT);
        }
        usleep(20000);
    }
    zmq_close(push);
    zmq_ctx_term(ctx);
    return 0;
}
