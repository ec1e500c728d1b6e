/* nmq_alloc — allocation that aborts on failure, for in-memory structures
 * (routing tables, maps, scratch buffers) where a process that cannot
 * allocate has nothing sensible left to do; the supervisor restarts it.
 * Header-only so that every pure module can use it without a link order. */
#ifndef NMQ_ALLOC_H
#define NMQ_ALLOC_H

#include <stdlib.h>

static inline void *nmq_xrealloc(void *p, size_t n)
{
    p = realloc(p, n ? n : 1);
    if (!p)
        abort();
    return p;
}

static inline void *nmq_xmalloc(size_t n) { return nmq_xrealloc(NULL, n); }

static inline void *nmq_xcalloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (!p)
        abort();
    return p;
}

/* Make room for `need` elements in the array `arr` of capacity `cap`,
 * doubling (from 2: most of the routing arrays hold one or two) so that a
 * reused buffer stops allocating. */
#define NMQ_GROW(arr, cap, need)                                          \
    do {                                                                  \
        if ((need) > (cap)) {                                             \
            size_t nmq_c_ = (cap) ? (cap) : 2;                            \
            while (nmq_c_ < (need))                                       \
                nmq_c_ *= 2;                                              \
            (arr) = nmq_xrealloc((arr), nmq_c_ * sizeof *(arr));          \
            (cap) = nmq_c_;                                               \
        }                                                                 \
    } while (0)

#endif
