/*
 * sm_pub_lines.c - a test peer playing a collector's alerts socket: binds an XPUB socket on
 * ENDPOINT, waits until N subscribers have joined (at most --wait seconds; exit 3 if they
 * did not), then publishes each line of FILE (split at '\n', the newline kept, any bytes)
 * as one message, the whole file --repeat times, at most --rate lines a second (0: as fast
 * as it goes), and lingers a second for the last ones to leave.
 *   sm_pub_lines [--subscribers N] [--wait S] [--repeat R] [--rate L] ENDPOINT FILE
 * Prints "sent N" on stdout.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zmq.h>

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
    int subscribers = 1, repeat = 1;
    double wait_s = 10, rate = 0;
    static const struct option opts[] = {{"subscribers", required_argument, NULL, 'n'},
                                         {"wait", required_argument, NULL, 'w'},
                                         {"repeat", required_argument, NULL, 'r'},
                                         {"rate", required_argument, NULL, 'l'},
                                         {NULL, 0, NULL, 0}};
    int ch;
    while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        if (ch == 'n')
            subscribers = atoi(optarg);
        else if (ch == 'w')
            wait_s = atof(optarg);
        else if (ch == 'r')
            repeat = atoi(optarg);
        else if (ch == 'l')
            rate = atof(optarg);
        else
            return 2;
    }
    if (argc - optind != 2)
        return 2;
    FILE *f = fopen(argv[optind + 1], "rb");
    if (f == NULL) {
        perror(argv[optind + 1]);
        return 2;
    }
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    rewind(f);
    char *data = malloc((size_t)size + 1);
    if (data == NULL || fread(data, 1, (size_t)size, f) != (size_t)size)
        return 2;
    fclose(f);

    void *ctx = zmq_ctx_new();
    void *pub = zmq_socket(ctx, ZMQ_XPUB);
    int linger = 1000, hwm = 0, verbose = 1;
    zmq_setsockopt(pub, ZMQ_LINGER, &linger, sizeof linger);
    /* every subscriber's subscription, not only the first of a topic: they are counted */
    zmq_setsockopt(pub, ZMQ_XPUB_VERBOSE, &verbose, sizeof verbose);
    zmq_setsockopt(pub, ZMQ_SNDHWM, &hwm, sizeof hwm); /* no drops: the test counts */
    if (zmq_bind(pub, argv[optind]) == -1) {
        fprintf(stderr, "sm_pub_lines: bind %s: %s\n", argv[optind], zmq_strerror(zmq_errno()));
        return 2;
    }
    double deadline = now() + wait_s;
    for (int joined = 0; joined < subscribers;) {
        zmq_pollitem_t it = {pub, 0, ZMQ_POLLIN, 0};
        if (now() > deadline) {
            fprintf(stderr, "sm_pub_lines: %d of %d subscribers after %.0f s\n", joined,
                    subscribers, wait_s);
            return 3;
        }
        if (zmq_poll(&it, 1, 100) > 0) {
            char sub[256];
            int n = zmq_recv(pub, sub, sizeof sub, 0);
            if (n > 0 && sub[0] == 1)
                joined++;
        }
    }
    long sent = 0;
    double t0 = now();
    for (int r = 0; r < repeat; r++) {
        for (long off = 0; off < size;) {
            char *nl = memchr(data + off, '\n', (size_t)(size - off));
            long end = nl ? nl - data + 1 : size;
            zmq_send(pub, data + off, (size_t)(end - off), 0);
            off = end;
            sent++;
            if (rate > 0 && sent % 64 == 0) {
                double ahead = t0 + (double)sent / rate - now();
                if (ahead > 0) {
                    struct timespec ts = {(time_t)ahead, (long)((ahead - (time_t)ahead) * 1e9)};
                    nanosleep(&ts, NULL);
                }
            }
        }
    }
    printf("sent %ld\n", sent);
    fflush(stdout);
    zmq_close(pub);
    zmq_ctx_term(ctx);
    free(data);
    return 0;
}
