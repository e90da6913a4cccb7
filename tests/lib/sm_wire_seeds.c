/*
 * sm_wire_seeds.c - writes fuzz_wire seeds: real batches (as agents encode them) built from a
 * capture, in several batch sizes, plus heartbeats with scope and counters.
 *   sm_wire_seeds CAPTURE OUTDIR
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "addr.h"
#include "synmatch/filesrc.h"
#include "synmatch/wire.h"

struct ctx {
    const char *dir;
    struct sm_wire_header h;
    int n;
};

static void put(struct ctx *c, const struct sm_record *recs, size_t n, bool files)
{
    size_t len;
    uint8_t *buf = sm_wire_encode(&c->h, recs, n, files, &len);
    char path[512];
    snprintf(path, sizeof path, "%s/batch-%03d", c->dir, c->n++);
    FILE *f = fopen(path, "wb");
    if (f == NULL || buf == NULL)
        exit(3);
    fwrite(buf, 1, len, f);
    fclose(f);
    free(buf);
    c->h.seq++;
}

static int on_batch(void *arg, const struct sm_batch *b)
{
    struct ctx *c = arg;
    c->h.watermark_ns = b->wm;
    size_t sizes[] = {1, 4, 16};
    for (size_t k = 0; k < 3 && c->n < 60; k++)
        for (size_t i = 0; i + sizes[k] <= b->n && c->n < 60; i += sizes[k] * 7)
            put(c, b->recs + i, sizes[k], k == 1);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc != 3)
        return 2;
    struct ctx c = {.dir = argv[2]};
    strcpy(c.h.sensor_id, "seed-sensor");
    c.h.role = SM_ROLE_SERVER;
    c.h.boot_epoch = 1;
    c.h.counters.pcap_received = 100;
    c.h.counters.pcap_dropped = 2;
    c.h.nscope = 2;
    sm_addr_parse("198.18.2.2", &c.h.scope[0].addr);
    c.h.scope[0].prefix_len = 32;
    sm_addr_parse("2001:db8:2::", &c.h.scope[1].addr);
    c.h.scope[1].prefix_len = 64;
    c.h.scope[1].port = 443;
    struct sm_filesrc_summary sum;
    if (sm_filesrc_run(argv[1], NULL, on_batch, &c, &sum) == -1)
        return 3;
    c.h.end_of_stream = true;
    put(&c, NULL, 0, false); /* a heartbeat that ends the stream */
    printf("%d seeds in %s\n", c.n, c.dir);
    return 0;
}
