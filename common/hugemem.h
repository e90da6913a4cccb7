/*
 * hugemem.h - transparent huge pages for the tables and buffers that grow.
 *
 * The big tables (the tcp.stream tables, the join's pool and index, compare's rows) are
 * touched at random, and their first touch costs a page fault per 4 KiB: on the virtual
 * machines this runs on, faults were an eighth of compare's CPU time. Where the system offers
 * huge pages on request (transparent_hugepage = madvise, Debian's default), such a block is
 * mapped whole at a 2 MiB boundary and marked for them: one fault per 2 MiB, fewer TLB
 * misses. Without huge pages it is ordinary anonymous memory.
 */
#ifndef SYNMATCH_HUGEMEM_H
#define SYNMATCH_HUGEMEM_H

#include <stddef.h>
#include <stdint.h>
#include <sys/mman.h>

#define SM_HUGE_PAGE ((size_t)2 << 20)

/*
 * From this size on a growing block is worth a whole huge page. On the virtual machines
 * measured (docs/PERFORMANCE.md), the first touch of a 4 KiB page costs about 10 us; of a
 * 2 MiB page, 0.16 ms when the host already backs the memory (freed a moment before, as
 * between two runs) and about 2.8 ms when it does not. 64 KiB in small pages, 16 faults,
 * costs a warm huge page; on bare metal, where a fault is a microsecond, the huge page costs
 * a tenth of a millisecond more, once per table.
 */
#define SM_HUGE_FROM ((size_t)64 << 10)

/*
 * A zeroed block for a buffer or table that is touched whole: mapped at a 2 MiB boundary and
 * rounded up to 2 MiB, so that all of it (not only the aligned interior, which a malloc'd
 * block of a few MiB may not have at all) can be backed by huge pages. Freshly mapped memory
 * is zero without being written, and one fault backs 2 MiB instead of 4 KiB. For blocks of
 * SM_HUGE_FROM or more: the rounding costs at most 2 MiB, and on a system without huge pages
 * the block is ordinary anonymous memory. NULL when out of memory. Free with
 * sm_huge_free(p, len). (Not counted by alloc.h's failure hook: callers that replace an
 * sm_calloc() ask sm_alloc_should_fail() first, so the tests' allocation numbers stay.)
 */
static inline size_t sm_huge_round(size_t len)
{
    return (len + SM_HUGE_PAGE - 1) & ~(SM_HUGE_PAGE - 1);
}

/* len rounded up to 2 MiB, mapped at a 2 MiB boundary with extra mmap flags; NULL if not. */
static inline void *sm_huge_map(size_t len, int flags)
{
    size_t span = sm_huge_round(len);
    if (span == 0 || span < len)
        return NULL;
    /* Map one huge page more than needed, then unmap what lies outside the aligned span. */
    void *m = mmap(NULL, span + SM_HUGE_PAGE, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | flags, -1, 0);
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

static inline void *sm_huge_alloc(size_t len)
{
    return sm_huge_map(len, 0);
}

/*
 * Address space for a table that is reserved whole and backed only as it is first touched
 * (the join's pool and archive): like sm_huge_alloc(), but MAP_NORESERVE, so a large bound
 * costs nothing until used. Aligned, so that its first 2 MiB too are in a huge page: a
 * reservation from a plain mmap(2) starts anywhere, and the part before its first 2 MiB
 * boundary, which a small run never leaves, was backed 4 KiB at a time (at about 10 us a
 * fault on a virtual machine, against 0.2 ms for a whole huge page). Free with
 * sm_huge_free().
 */
static inline void *sm_huge_reserve(size_t len)
{
    return sm_huge_map(len, MAP_NORESERVE);
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

/*
 * A table that doubles as it fills, small or large: below SM_HUGE_FROM its block comes from
 * alloc.h's allocator, from there in huge pages. Each call is one allocation for alloc.h's
 * failure hook. The caller keeps the block's length and passes it back.
 *   sm_block_alloc(len): zeroed; NULL when out of memory.
 *   sm_block_grow(p, old_len, new_len): to a larger new_len (never to shrink); the first
 *     old_len bytes kept, the rest not cleared (zero when it came from the kernel); moved
 *     without a copy once large; NULL when out of memory (p is then unchanged).
 *   sm_block_free(p, len).
 */
void *sm_block_alloc(size_t len);
void *sm_block_grow(void *p, size_t old_len, size_t new_len);
void sm_block_free(void *p, size_t len);

#endif
