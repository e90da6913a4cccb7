/*
 * scope.c - a growable open-addressing set of addresses (SipHash-keyed: the addresses can
 * come from a hostile capture or peer).
 */
#include "synmatch/scope.h"

#include <stdlib.h>
#include <string.h>

#include "siphash.h"
#include "addr.h"

struct sm_scope {
    struct sm_addr *slots; /* family 0 = empty */
    size_t nslots, used;
    struct sm_sipkey key;
};

sm_scope_t *sm_scope_new(void)
{
    sm_scope_t *s = calloc(1, sizeof *s);
    if (s == NULL)
        return NULL;
    s->nslots = 64;
    s->slots = calloc(s->nslots, sizeof *s->slots);
    if (s->slots == NULL) {
        free(s);
        return NULL;
    }
    sm_sipkey_random(&s->key);
    return s;
}

void sm_scope_destroy(sm_scope_t **self_p)
{
    if (self_p == NULL || *self_p == NULL)
        return;
    free((*self_p)->slots);
    free(*self_p);
    *self_p = NULL;
}

static size_t home(const sm_scope_t *s, const struct sm_addr *a)
{
    return (size_t)sm_siphash(&s->key, a, sizeof *a) & (s->nslots - 1);
}

static void normalise(struct sm_addr *a)
{
    if (a->family == SM_AF_INET)
        memset(a->bytes + 4, 0, 12);
}

bool sm_scope_contains(const sm_scope_t *s, const struct sm_addr *a)
{
    struct sm_addr k = *a;
    normalise(&k);
    for (size_t i = home(s, &k);; i = (i + 1) & (s->nslots - 1)) {
        if (s->slots[i].family == SM_AF_NONE)
            return false;
        if (sm_addr_eq(&s->slots[i], &k))
            return true;
    }
}

int sm_scope_add(sm_scope_t *s, const struct sm_addr *a)
{
    if (a->family == SM_AF_NONE || sm_scope_contains(s, a))
        return 0;
    if ((s->used + 1) * 2 > s->nslots) {
        size_t n = s->nslots * 2;
        struct sm_addr *ns = calloc(n, sizeof *ns);
        if (ns == NULL)
            return -1;
        struct sm_addr *old = s->slots;
        size_t oldn = s->nslots;
        s->slots = ns;
        s->nslots = n;
        for (size_t i = 0; i < oldn; i++) {
            if (old[i].family == SM_AF_NONE)
                continue;
            size_t j = home(s, &old[i]);
            while (s->slots[j].family != SM_AF_NONE)
                j = (j + 1) & (n - 1);
            s->slots[j] = old[i];
        }
        free(old);
    }
    struct sm_addr k = *a;
    normalise(&k);
    size_t j = home(s, &k);
    while (s->slots[j].family != SM_AF_NONE)
        j = (j + 1) & (s->nslots - 1);
    s->slots[j] = k;
    s->used++;
    return 0;
}

size_t sm_scope_count(const sm_scope_t *s)
{
    return s->used;
}

static int cmp_addr(const void *pa, const void *pb)
{
    const struct sm_addr *a = pa, *b = pb;
    if (a->family != b->family)
        return a->family < b->family ? -1 : 1;
    return memcmp(a->bytes, b->bytes, 16);
}

size_t sm_scope_list(const sm_scope_t *s, struct sm_addr *out, size_t max)
{
    struct sm_addr *all = malloc((s->used ? s->used : 1) * sizeof *all);
    if (all == NULL)
        return 0;
    size_t n = 0;
    for (size_t i = 0; i < s->nslots; i++)
        if (s->slots[i].family != SM_AF_NONE)
            all[n++] = s->slots[i];
    qsort(all, n, sizeof *all, cmp_addr);
    size_t k = n < max ? n : max;
    memcpy(out, all, k * sizeof *all);
    free(all);
    return k;
}

bool sm_scope_entry_covers(const struct sm_scope_entry *e, const struct sm_addr *addr,
                           uint16_t port)
{
    if (e->addr.family != addr->family || (e->port != 0 && e->port != port))
        return false;
    unsigned bits = e->prefix_len, full = bits / 8, rest = bits % 8;
    if (memcmp(e->addr.bytes, addr->bytes, full) != 0)
        return false;
    if (rest == 0)
        return true;
    uint8_t mask = (uint8_t)(0xff << (8 - rest));
    return (e->addr.bytes[full] & mask) == (addr->bytes[full] & mask);
}
