/*
 * pcap_floor.c - the floor for reading a capture pair: two threads, one per file, each a bare
 * pcap_next_ex() loop that only counts packets and bytes. Nothing is decoded. Built with
 * -DSM_BENCH=ON (bench/CMakeLists.txt).
 *
 *   pcap_floor CLIENT.pcap SERVER.pcap [MORE.pcap ...]
 */
#define _DEFAULT_SOURCE /* u_char and friends in <pcap/pcap.h> */
#include <inttypes.h>
#include <pcap/pcap.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

struct job {
    const char *path;
    uint64_t pkts, bytes;
    double secs;
    int rc;
    char err[PCAP_ERRBUF_SIZE];
};

static double now_secs(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void *reader(void *arg)
{
    struct job *j = arg;
    double t0 = now_secs();
    pcap_t *p = pcap_open_offline_with_tstamp_precision(j->path, PCAP_TSTAMP_PRECISION_NANO,
                                                        j->err);
    if (!p) {
        j->rc = 1;
        return NULL;
    }
    struct pcap_pkthdr *h;
    const u_char *data;
    int r;
    while ((r = pcap_next_ex(p, &h, &data)) == 1) {
        j->pkts++;
        j->bytes += h->caplen;
    }
    if (r == PCAP_ERROR) {
        snprintf(j->err, sizeof j->err, "%s", pcap_geterr(p));
        j->rc = 1;
    }
    pcap_close(p);
    j->secs = now_secs() - t0;
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: pcap_floor FILE.pcap [FILE.pcap ...]\n");
        return 2;
    }
    int n = argc - 1;
    struct job *jobs = calloc((size_t)n, sizeof *jobs);
    pthread_t *th = calloc((size_t)n, sizeof *th);
    if (!jobs || !th)
        return 1;
    double t0 = now_secs();
    for (int i = 0; i < n; i++) {
        jobs[i].path = argv[i + 1];
        if (pthread_create(&th[i], NULL, reader, &jobs[i]) != 0) {
            fprintf(stderr, "pcap_floor: pthread_create failed\n");
            return 1;
        }
    }
    int rc = 0;
    for (int i = 0; i < n; i++) {
        pthread_join(th[i], NULL);
        if (jobs[i].rc) {
            fprintf(stderr, "pcap_floor: %s: %s\n", jobs[i].path, jobs[i].err);
            rc = 1;
            continue;
        }
        printf("%s packets=%" PRIu64 " bytes=%" PRIu64 " seconds=%.3f\n", jobs[i].path,
               jobs[i].pkts, jobs[i].bytes, jobs[i].secs);
    }
    printf("wall_seconds=%.3f\n", now_secs() - t0);
    free(jobs);
    free(th);
    return rc;
}
