/*
 * hugemem.h - asking for transparent huge pages on a large table.
 *
 * The big tables (the tcp.stream tables, the join's pool and index, compare's rows) are
 * touched at random, and their first touch costs a page fault per 4 KiB: on the virtual
 * machines this runs on, faults were an eighth of compare's CPU time. Where the system offers
 * huge pages on request (transparent_hugepage = madvise, Debian's default), the 2 MiB-aligned
 * interior of the block is marked for them: one fault per 2 MiB, fewer TLB misses. A hint;
 * failure changes nothing. Small blocks are left alone.
 */
#ifndef SYNMATCH_HUGEMEM_H
#define SYNMATCH_HUGEMEM_H

#include <stddef.h>
#include <stdint.h>
#include <sys/mman.h>

#define SM_HUGE_PAGE ((size_t)2 << 20)

static inline void sm_advise_huge(void *p, size_t len)
{
#ifdef MADV_HUGEPAGE
    const uintptr_t huge = (uintptr_t)2 << 20;
    uintptr_t from = ((uintptr_t)p + huge - 1) & ~(huge - 1);
    uintptr_t to = ((uintptr_t)p + len) & ~(huge - 1);
    if (to > from)
        (void)madvise((void *)from, to - from, MADV_HUGEPAGE);
#else
    (void)p;
    (void)len;
#endif
}

/*
 * A zeroed block for a buffer or table that is touched whole: mapped at a 2 MiB boundary and
 * rounded up to 2 MiB, so that all of it (not only the aligned interior, which a malloc'd
 * block of a few MiB may not have at all) can be backed by huge pages. Freshly mapped memory
 * is zero without being written, and one fault backs 2 MiB instead of 4 KiB. For blocks of a
 * MiB or more: the rounding costs at most 2 MiB of address space, and on a system without
 * huge pages the block is ordinary anonymous memory. NULL when out of memory. Free with
 * sm_huge_free(p, len). (Not counted by alloc.h's failure hook: callers that replace an
 * sm_calloc() ask sm_alloc_should_fail() first, so the tests' allocation numbers stay.)
 */
static inline size_t sm_huge_round(size_t len)
{
    return (len + SM_HUGE_PAGE - 1) & ~(SM_HUGE_PAGE - 1);
}

static inline void *sm_huge_alloc(size_t len)
{
    size_t span = sm_huge_round(len);
    if (span == 0 || span < len)
        return NULL;
    /* Map one huge page more than needed, then unmap what lies outside the aligned span. */
    void *m = mmap(NULL, span + SM_HUGE_PAGE, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED)
        return NULL;
    uintptr_t lo = (uintptr_t)m, a = (lo + SM_HUGE_PAGE - 1) & ~(uintptr_t)(SM_HUGE_PAGE - 1);
    uintptr_t end = lo + span + SM_HUGE_PAGE;
    if (a > lo)
        (void)munmap(m, a - lo);
    if (end > a + span)
        (void)munmap((void *)(a + span), end - (a + span));
#ifdef MADV_HUGEPAGE
    (void)madvise((void *)a, span, MADV_HUGEPAGE);
#endif
    return (void *)a;
}

/*
 * Grows a block from sm_huge_alloc(p, old_len) to new_len without copying it: the kernel
 * moves its pages (mremap), in place when the addresses after it are free, else to a new
 * 2 MiB boundary, so its huge pages stay whole. The pages already written are neither copied
 * nor cleared again; doubling a table by allocating anew and copying cleared every page of
 * every size it went through (a tenth of compare's time on a 1 GB pair, in a virtual machine
 * where clearing a page is dear). NULL when it cannot (p is then unchanged).
 */
void *sm_huge_grow(void *p, size_t old_len, size_t new_len); /* hugemem.c */

static inline void sm_huge_free(void *p, size_t len)
{
    if (p != NULL)
        (void)munmap(p, sm_huge_round(len));
}

#endif
