/*
 * hugemem.c - growing a huge-page block without copying it (hugemem.h). mremap(2) is a
 * GNU extension, hence a file of its own.
 */
#define _GNU_SOURCE
#include <sys/mman.h>

#include "hugemem.h"

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
