/* nmq_vclock — see nmq_vclock.h.  Vectors hold one dot per writer node (a
 * handful), so a sorted array beats any map: lookups are a binary search,
 * and compare and merge are one zip over two sorted arrays (s_zip), which
 * hands each node of the union to a visitor with its dot on either side. */
#include "nmq_vclock.h"

#include <assert.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "nmq_alloc.h"

#define FNV_OFFSET 14695981039346656037ull
#define FNV_PRIME 1099511628211ull

static char *s_strdup(const char *s)
{
    size_t n = strlen(s) + 1;
    return memcpy(nmq_xmalloc(n), s, n);
}

static uint64_t s_counter(const nmq_dot_t *d)
{
    return d ? d->counter : 0;
}

/* Index of node in vc, or where it would be inserted; *found says which. */
static size_t s_find(const nmq_vclock_t *vc, const char *node, bool *found)
{
    assert(node);
    size_t lo = 0, hi = vc->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(vc->dots[mid].node, node);
        if (c == 0) {
            *found = true;
            return mid;
        }
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    *found = false;
    return lo;
}

/* --- the zip: every node of a ∪ b, in order, with its dot on each side ----- */

typedef void (*s_visit_fn)(void *ctx, const nmq_dot_t *da, const nmq_dot_t *db);

static void s_zip(const nmq_vclock_t *a, const nmq_vclock_t *b, s_visit_fn visit, void *ctx)
{
    size_t i = 0, j = 0;
    while (i < a->n || j < b->n) {
        int c = i == a->n ? 1 : j == b->n ? -1 : strcmp(a->dots[i].node, b->dots[j].node);
        const nmq_dot_t *da = c <= 0 ? &a->dots[i++] : NULL;
        const nmq_dot_t *db = c >= 0 ? &b->dots[j++] : NULL;
        visit(ctx, da, db);
    }
}

/* --- life cycle --------------------------------------------------------------- */

void nmq_vclock_init(nmq_vclock_t *vc)
{
    vc->dots = NULL;
    vc->n = vc->cap = 0;
}

void nmq_vclock_fini(nmq_vclock_t *vc)
{
    for (size_t i = 0; i < vc->n; i++)
        free(vc->dots[i].node);
    free(vc->dots);
    nmq_vclock_init(vc);
}

void nmq_vclock_copy(nmq_vclock_t *dst, const nmq_vclock_t *src)
{
    if (dst == src)
        return;
    nmq_vclock_fini(dst);
    NMQ_GROW(dst->dots, dst->cap, src->n);
    for (size_t i = 0; i < src->n; i++)
        dst->dots[i] = (nmq_dot_t){ s_strdup(src->dots[i].node), src->dots[i].counter };
    dst->n = src->n;
}

/* --- one node ------------------------------------------------------------------ */

uint64_t nmq_vclock_get(const nmq_vclock_t *vc, const char *node)
{
    bool found;
    size_t i = s_find(vc, node, &found);
    return found ? vc->dots[i].counter : 0;
}

static void s_remove_at(nmq_vclock_t *vc, size_t i)
{
    free(vc->dots[i].node);
    memmove(&vc->dots[i], &vc->dots[i + 1], (vc->n - i - 1) * sizeof *vc->dots);
    vc->n--;
}

static void s_insert_at(nmq_vclock_t *vc, size_t i, const char *node, uint64_t counter)
{
    NMQ_GROW(vc->dots, vc->cap, vc->n + 1);
    memmove(&vc->dots[i + 1], &vc->dots[i], (vc->n - i) * sizeof *vc->dots);
    vc->dots[i] = (nmq_dot_t){ s_strdup(node), counter };
    vc->n++;
}

void nmq_vclock_set(nmq_vclock_t *vc, const char *node, uint64_t counter)
{
    bool found;
    size_t i = s_find(vc, node, &found);
    if (found && counter)
        vc->dots[i].counter = counter;
    else if (found)
        s_remove_at(vc, i);
    else if (counter)
        s_insert_at(vc, i, node, counter);
}

void nmq_vclock_bump(nmq_vclock_t *vc, const char *node)
{
    uint64_t c = nmq_vclock_get(vc, node);
    assert(c < UINT64_MAX);     /* 2^64 writes at one node: a corrupt vector */
    nmq_vclock_set(vc, node, c + 1);
}

/* --- two vectors ------------------------------------------------------------------ */

/* Names already in dst move over to the merged array; only src's new nodes
 * are copied. */
static void s_merge_visit(void *ctx, const nmq_dot_t *da, const nmq_dot_t *db)
{
    nmq_vclock_t *out = ctx;
    uint64_t ca = s_counter(da), cb = s_counter(db);
    out->dots[out->n++] = (nmq_dot_t){ da ? da->node : s_strdup(db->node), ca > cb ? ca : cb };
}

void nmq_vclock_merge(nmq_vclock_t *dst, const nmq_vclock_t *src)
{
    if (dst == src)
        return;
    nmq_vclock_t out;
    nmq_vclock_init(&out);
    NMQ_GROW(out.dots, out.cap, dst->n + src->n);
    s_zip(dst, src, s_merge_visit, &out);
    free(dst->dots);            /* the names now belong to out */
    *dst = out;
}

typedef struct {
    bool a_ahead, b_ahead;      /* some node where a (b) has the larger counter */
} s_order_t;

static void s_compare_visit(void *ctx, const nmq_dot_t *da, const nmq_dot_t *db)
{
    s_order_t *o = ctx;
    uint64_t ca = s_counter(da), cb = s_counter(db);
    o->a_ahead |= ca > cb;
    o->b_ahead |= cb > ca;
}

nmq_vc_order_t nmq_vclock_compare(const nmq_vclock_t *a, const nmq_vclock_t *b)
{
    static const nmq_vc_order_t order[2][2] = {
        /* b_ahead:  no            yes */
        { NMQ_VC_EQUAL, NMQ_VC_BEFORE },        /* a not ahead */
        { NMQ_VC_AFTER, NMQ_VC_CONCURRENT },    /* a ahead */
    };
    s_order_t o = { false, false };
    s_zip(a, b, s_compare_visit, &o);
    return order[o.a_ahead][o.b_ahead];
}

/* --- hash ---------------------------------------------------------------------------- */

static uint64_t s_fnv_byte(uint64_t h, uint8_t byte)
{
    return (h ^ byte) * FNV_PRIME;
}

uint64_t nmq_vclock_hash(const nmq_vclock_t *vc, uint64_t seed)
{
    uint64_t h = FNV_OFFSET ^ seed;
    for (size_t i = 0; i < vc->n; i++) {
        for (const char *p = vc->dots[i].node; *p; p++)
            h = s_fnv_byte(h, (uint8_t)*p);
        h = s_fnv_byte(h, 0);
        for (int k = 0; k < 8; k++)
            h = s_fnv_byte(h, (uint8_t)(vc->dots[i].counter >> (8 * k)));
    }
    return h;
}

/* --- conflict resolution -------------------------------------------------------------- */

typedef struct {
    const nmq_vclock_t *vc;
    uint64_t time_ms;
    const char *writer;
} s_write_t;

/* A tie-break tier: > 0 when a wins, < 0 when b wins, 0 for a tie. */
typedef int (*s_tier_fn)(const s_write_t *a, const s_write_t *b);

static int s_cmp_u64(uint64_t x, uint64_t y)
{
    return (x > y) - (x < y);
}

static int s_by_time(const s_write_t *a, const s_write_t *b)
{
    return s_cmp_u64(a->time_ms, b->time_ms);
}

static int s_by_writer(const s_write_t *a, const s_write_t *b)
{
    return strcmp(a->writer, b->writer);
}

static int s_by_hash(const s_write_t *a, const s_write_t *b)
{
    return s_cmp_u64(nmq_vclock_hash(a->vc, 0), nmq_vclock_hash(b->vc, 0));
}

/* Only reached on a 64-bit hash collision; makes the order total, so that
 * two distinct writes never both lose. */
static int s_by_dots(const s_write_t *a, const s_write_t *b)
{
    const nmq_vclock_t *x = a->vc, *y = b->vc;
    for (size_t i = 0; i < x->n && i < y->n; i++) {
        int c = strcmp(x->dots[i].node, y->dots[i].node);
        if (!c)
            c = s_cmp_u64(x->dots[i].counter, y->dots[i].counter);
        if (c)
            return c;
    }
    return s_cmp_u64(x->n, y->n);
}

static const s_tier_fn s_tiers[] = { s_by_time, s_by_writer, s_by_hash, s_by_dots };

bool nmq_vclock_a_wins(const nmq_vclock_t *a, uint64_t a_time_ms, const char *a_writer,
                       const nmq_vclock_t *b, uint64_t b_time_ms, const char *b_writer)
{
    assert(a_writer && b_writer);
    s_write_t wa = { a, a_time_ms, a_writer }, wb = { b, b_time_ms, b_writer };
    for (size_t t = 0; t < sizeof s_tiers / sizeof *s_tiers; t++) {
        int c = s_tiers[t](&wa, &wb);
        if (c)
            return c > 0;
    }
    return false;
}

/* --- text ------------------------------------------------------------------------------ */

char *nmq_vclock_str(const nmq_vclock_t *vc, char *buf, size_t len)
{
    if (!len)
        return buf;
    buf[0] = '\0';
    size_t off = 0;
    for (size_t i = 0; i < vc->n && off < len - 1; i++) {
        int w = snprintf(buf + off, len - off, "%s%s:%" PRIu64, i ? "," : "",
                         vc->dots[i].node, vc->dots[i].counter);
        off += w > 0 ? (size_t)w : 0;
    }
    return buf;
}
