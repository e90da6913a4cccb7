/*
 * alloc.c - allocation with a failure hook (see alloc.h). The counters are atomics: compare
 * allocates on its reader threads too.
 */
#include "alloc.h"

#include <stdlib.h>

static uint64_t fail_at;  /* 0 = disarmed */
static bool fail_persist;
static uint64_t counted, failed;

bool sm_alloc_should_fail(void)
{
    if (__builtin_expect(__atomic_load_n(&fail_at, __ATOMIC_RELAXED) == 0, 1))
        return false;
    uint64_t n = __atomic_add_fetch(&counted, 1, __ATOMIC_RELAXED);
    uint64_t at = __atomic_load_n(&fail_at, __ATOMIC_RELAXED);
    if (at != 0 && (n == at || (fail_persist && n > at))) {
        __atomic_add_fetch(&failed, 1, __ATOMIC_RELAXED);
        return true;
    }
    return false;
}

void *sm_malloc(size_t n)
{
    return sm_alloc_should_fail() ? NULL : malloc(n);
}

void *sm_calloc(size_t count, size_t size)
{
    return sm_alloc_should_fail() ? NULL : calloc(count, size);
}

void *sm_realloc(void *p, size_t n)
{
    return sm_alloc_should_fail() ? NULL : realloc(p, n);
}

void sm_alloc_fail_at(uint64_t n, bool persist)
{
    __atomic_store_n(&counted, 0, __ATOMIC_RELAXED);
    __atomic_store_n(&failed, 0, __ATOMIC_RELAXED);
    fail_persist = persist;
    __atomic_store_n(&fail_at, n, __ATOMIC_RELAXED);
}

uint64_t sm_alloc_count(void)
{
    return __atomic_load_n(&counted, __ATOMIC_RELAXED);
}

uint64_t sm_alloc_failed(void)
{
    return __atomic_load_n(&failed, __ATOMIC_RELAXED);
}
