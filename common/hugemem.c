/*
 * hugemem.c - growing a huge-page block without copying it, and blocks that start small
 * (hugemem.h). mremap(2) is a GNU extension, hence a file of its own.
 */
#define _GNU_SOURCE
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "hugemem.h"

#include "alloc.h"

void *sm_huge_grow(void *p, size_t old_len, size_t new_len)
{
    size_t old_span = sm_huge_round(old_len), span = sm_huge_round(new_len);
    if (span == 0 || span < new_len)
        return NULL;
    if (span <= old_span)
        return p;
    if (mremap(p, old_span, span, 0) != MAP_FAILED)
        return p; /* grown in place */
    void *m = mmap(NULL, span + SM_HUGE_PAGE, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED)
        return NULL;
    uintptr_t lo = (uintptr_t)m, a = (lo + SM_HUGE_PAGE - 1) & ~(uintptr_t)(SM_HUGE_PAGE - 1);
    uintptr_t end = lo + span + SM_HUGE_PAGE;
    void *q = mremap(p, old_span, span, MREMAP_MAYMOVE | MREMAP_FIXED, (void *)a);
    if (q == MAP_FAILED) {
        (void)munmap(m, span + SM_HUGE_PAGE);
        return NULL;
    }
    if (a > lo)
        (void)munmap(m, a - lo);
    if (end > a + span)
        (void)munmap((void *)(a + span), end - (a + span));
#ifdef MADV_HUGEPAGE
    (void)madvise(q, span, MADV_HUGEPAGE);
#endif
    return q;
}

void *sm_block_alloc(size_t len)
{
    if (len < SM_HUGE_FROM)
        return sm_calloc(1, len);
    return sm_alloc_should_fail() ? NULL : sm_huge_alloc(len);
}

void *sm_block_grow(void *p, size_t old_len, size_t new_len)
{
    if (new_len < SM_HUGE_FROM)
        return sm_realloc(p, new_len);
    if (sm_alloc_should_fail())
        return NULL;
    if (old_len >= SM_HUGE_FROM)
        return sm_huge_grow(p, old_len, new_len);
    void *q = sm_huge_alloc(new_len);
    if (q != NULL && p != NULL) {
        memcpy(q, p, old_len);
        free(p);
    }
    return q;
}

void sm_block_free(void *p, size_t len)
{
    if (len < SM_HUGE_FROM)
        free(p);
    else
        sm_huge_free(p, len);
}
