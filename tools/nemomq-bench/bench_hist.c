/* bench_hist — latency histograms that merge by addition.
 *
 * An HDR-style log-linear layout: values below 2^BENCH_HIST_SUB have a bucket
 * each; above, every power of two is cut into 2^BENCH_HIST_SUB equal buckets.
 * So the relative error is at most 1/64 at any scale, from nanoseconds to
 * minutes, and recording is a count-leading-zeros and an increment — cheap
 * enough to do for every message.  The layout is fixed, so the load
 * processes send their arrays and the coordinator adds them up.
 */
#include "bench.h"

#include <string.h>

void bench_hist_init(bench_hist_t *h)
{
    memset(h, 0, sizeof *h);
    h->min = UINT64_MAX;
}

static unsigned s_index(uint64_t v)
{
    if (v < (1u << BENCH_HIST_SUB))
        return (unsigned)v;
    unsigned e = 63u - (unsigned)__builtin_clzll(v);          /* >= BENCH_HIST_SUB */
    unsigned sub = (unsigned)(v >> (e - BENCH_HIST_SUB)) & ((1u << BENCH_HIST_SUB) - 1);
    return ((e - BENCH_HIST_SUB + 1) << BENCH_HIST_SUB) | sub;
}

/* The largest value that falls in bucket i. */
static uint64_t s_upper(unsigned i)
{
    if (i < (1u << BENCH_HIST_SUB))
        return i;
    unsigned e = (i >> BENCH_HIST_SUB) + BENCH_HIST_SUB - 1;
    uint64_t sub = i & ((1u << BENCH_HIST_SUB) - 1);
    uint64_t lo = (1ull << e) | (sub << (e - BENCH_HIST_SUB));
    return lo + (1ull << (e - BENCH_HIST_SUB)) - 1;
}

void bench_hist_record(bench_hist_t *h, uint64_t v)
{
    h->b[s_index(v)]++;
    h->count++;
    h->sum += v;
    if (v < h->min)
        h->min = v;
    if (v > h->max)
        h->max = v;
}

void bench_hist_merge(bench_hist_t *into, const bench_hist_t *from)
{
    for (unsigned i = 0; i < BENCH_HIST_BUCKETS; i++)
        into->b[i] += from->b[i];
    into->count += from->count;
    into->sum += from->sum;
    if (from->min < into->min)
        into->min = from->min;
    if (from->max > into->max)
        into->max = from->max;
}

uint64_t bench_hist_quantile(const bench_hist_t *h, double q)
{
    if (!h->count)
        return 0;
    /* the rank of the value asked for, 1-based: q = 0.5 of 4 values is the 2nd */
    uint64_t rank = (uint64_t)(q * (double)h->count + 0.999999);
    if (rank < 1)
        rank = 1;
    if (rank > h->count)
        rank = h->count;
    uint64_t seen = 0;
    for (unsigned i = 0; i < BENCH_HIST_BUCKETS; i++) {
        seen += h->b[i];
        if (seen >= rank) {
            uint64_t v = s_upper(i);
            return v > h->max ? h->max : v;
        }
    }
    return h->max;
}
