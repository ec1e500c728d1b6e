/* bench_track — which messages of each publisher a subscriber has heard.
 *
 * For every (tracking group, publisher) the tracker keeps a sliding window
 * of BENCH_TRACK_WINDOW bits over sequence numbers: [base, base + window).
 * A sequence number above the window slides it forward, and what falls off
 * is settled; a number below the window counts as a duplicate.  So memory is
 * a fixed 2 KiB per pair (allocated on the first message), whatever the run
 * length, and the verdicts are exact as long as the broker does not reorder
 * one publisher's messages by more than the window — brokers keep them in
 * order, and a reordering that large is reported as duplicates, which a
 * reader would investigate anyway.
 */
#include "bench.h"

#include <stdlib.h>
#include <string.h>

#define BENCH_TRACK_WINDOW 16384u
#define WORDS (BENCH_TRACK_WINDOW / 64)

typedef struct {
    uint64_t base;              /* every sequence below is settled */
    uint64_t high;              /* one past the highest seen */
    uint64_t *bits;             /* ring: bit (seq % window) for seq in the window */
} s_seq_t;

struct bench_tracker {
    int first, n;
    s_seq_t seqs[];
};

bench_tracker_t *bench_tracker_new(int first_pub, int n_pubs)
{
    bench_tracker_t *t = calloc(1, sizeof *t + (size_t)n_pubs * sizeof(s_seq_t));
    if (!t)
        return NULL;
    t->first = first_pub;
    t->n = n_pubs;
    return t;
}

void bench_tracker_destroy(bench_tracker_t **tp)
{
    bench_tracker_t *t = *tp;
    if (!t)
        return;
    for (int i = 0; i < t->n; i++)
        free(t->seqs[i].bits);
    free(t);
    *tp = NULL;
}

static void s_clear(uint64_t *bits, uint64_t from, uint64_t to)
{
    if (to - from >= BENCH_TRACK_WINDOW) {
        memset(bits, 0, WORDS * sizeof *bits);
        return;
    }
    for (uint64_t s = from; s < to; s++)
        bits[(s % BENCH_TRACK_WINDOW) / 64] &= ~(1ull << (s % 64));
}

bench_seq_verdict_t bench_tracker_see(bench_tracker_t *t, uint32_t pub, uint64_t seq)
{
    if (pub < (uint32_t)t->first || pub - (uint32_t)t->first >= (uint32_t)t->n)
        return BENCH_SEQ_STRAY;
    s_seq_t *q = &t->seqs[pub - (uint32_t)t->first];
    if (!q->bits && !(q->bits = calloc(WORDS, sizeof *q->bits)))
        abort();
    if (seq < q->base)
        return BENCH_SEQ_DUP;
    if (seq >= q->base + BENCH_TRACK_WINDOW) {
        uint64_t nbase = seq - BENCH_TRACK_WINDOW + 1;
        s_clear(q->bits, q->base, nbase);
        q->base = nbase;
    }
    uint64_t *w = &q->bits[(seq % BENCH_TRACK_WINDOW) / 64];
    uint64_t bit = 1ull << (seq % 64);
    if (*w & bit)
        return BENCH_SEQ_DUP;
    *w |= bit;
    if (seq + 1 < q->high)
        return BENCH_SEQ_LATE;
    q->high = seq + 1;
    return BENCH_SEQ_NEW;
}
