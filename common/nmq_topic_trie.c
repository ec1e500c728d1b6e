/* nmq_topic_trie — see nmq_topic_trie.h.
 *
 * The entries are reached four ways, each kept in O(1) per change:
 *  - `exact`, filter -> place, for filters without a wildcard: most
 *    subscriptions, found by one hash of the whole topic instead of a walk
 *    through cold nodes, one per level;
 *  - the level tree (nmq_topic_tree) for filters with '+' or '#', so the
 *    walk meets only the nodes wildcards need;
 *    a place (a filter with subscribers) holds its ordinary entries in an
 *    array and its share groups in a short list;
 *  - `entries`, identity (client, place, group) -> entry, for add and
 *    remove, so that a filter with 100k subscribers is no slower to change
 *    than one with a single subscriber;
 *  - `clients`, client id -> its entries, for remove_client and listing.
 * An entry remembers its index in the two arrays it sits in, so leaving
 * either is a swap with the last element.
 *
 * Match merges a client's several matching filters without a lookup: each
 * client record carries the number of the match that last met it and its
 * recipient index there.  Most clients hold one subscription; their entries
 * say so (multi), and match does not touch their client record at all. */
#include "nmq_topic_trie.h"

#include <string.h>

#include "nmq_alloc.h"
#include "nmq_hashmap.h"
#include "nmq_topic_tree.h"
#include "nmq_topic_validate.h"

typedef struct s_client s_client_t;
typedef struct s_group s_group_t;

/* Entries by address; each knows its index here (slot[at]).  Most filters
 * have one subscriber and most clients one subscription: the first entry
 * lives in `one` (v points at it), so those need no array and match no
 * extra cache miss.  The owner never moves, so v may point inside it. */
typedef struct {
    nmq_trie_entry_t **v;
    size_t n, cap;
    nmq_trie_entry_t *one;
} s_evec_t;

enum { AT_PLACE, AT_CLIENT };

typedef struct s_place s_place_t;

/* What identifies a subscription: the records of its client, filter and
 * group, which live as long as it does.  Its bytes are the key in
 * `entries`, borrowed from the entry itself: no copy of the strings. */
typedef struct {
    s_client_t *client;
    s_place_t *place;
    s_group_t *group;           /* NULL: an ordinary subscription */
} s_ident_t;

typedef struct {
    nmq_trie_entry_t pub;       /* first: the trie hands out &entry->pub */
    s_ident_t id;
    size_t slot[2];             /* index in the node's or group's array, in the client's */
    bool multi;                 /* its client has other subscriptions: match must merge */
} s_entry_t;

struct s_client {
    s_evec_t subs;
    uint64_t epoch;             /* the match that last met this client */
    size_t ridx;                /* and its recipient index there */
    size_t id_len;
    char id[];
};

struct s_group {
    s_group_t *next;
    s_evec_t members;
    uint64_t rr;                /* round robin: where the next pick starts */
    size_t name_len;
    char name[];
};

/* A filter that has subscribers: node->data in the tree for a wildcard
 * filter, a value of `exact` for the others. */
struct s_place {
    s_evec_t subs;
    s_group_t *groups;
    nmq_topic_node_t *node;     /* NULL: in `exact` */
    size_t filter_len;
    char filter[];
};

typedef struct {
    size_t ridx;
    uint32_t sub_id;
} s_hit_t;

struct nmq_trie {
    nmq_topic_node_t *root;     /* filters with a wildcard */
    nmq_hashmap_t *exact;       /* the others: filter (borrowed from the place) -> s_place_t */
    nmq_hashmap_t *entries;     /* s_ident_t (borrowed from the entry) -> s_entry_t */
    nmq_hashmap_t *clients;     /* client id (borrowed from the record) -> s_client_t */
    uint64_t epoch;
    /* match scratch, grown once */
    nmq_topic_frame_t *stack;
    size_t stack_cap;
    s_hit_t *hits;
    size_t hits_cap;
};

#define ENTRY(pub) ((s_entry_t *)(pub))

/* --- small pieces ---------------------------------------------------------- */

static void s_evec_push(s_evec_t *v, s_entry_t *e, int at)
{
    if (!v->cap) {
        v->v = &v->one;
        v->cap = 1;
    } else if (v->n == v->cap) {
        nmq_trie_entry_t **arr = nmq_xrealloc(v->v == &v->one ? NULL : v->v, 2 * v->cap * sizeof *arr);
        if (v->v == &v->one)
            arr[0] = v->one;
        v->v = arr;
        v->cap *= 2;
    }
    e->slot[at] = v->n;
    v->v[v->n++] = &e->pub;
}

static void s_evec_free(s_evec_t *v)
{
    if (v->v != &v->one)
        free(v->v);
}

static void s_evec_del(s_evec_t *v, s_entry_t *e, int at)
{
    size_t i = e->slot[at];
    nmq_trie_entry_t *last = v->v[--v->n];
    v->v[i] = last;
    ENTRY(last)->slot[at] = i;
}

static bool s_same(const char *a, size_t alen, const char *b, size_t blen)
{
    return alen == blen && !memcmp(a, b, alen);
}

/* A copy of len bytes after a header of size bytes, NUL-terminated. */
static void *s_new_with_name(size_t size, const char *name, size_t len)
{
    char *p = nmq_xcalloc(1, size + len + 1);
    memcpy(p + size, name, len);
    return p;
}

/* --- life ------------------------------------------------------------------ */

nmq_trie_t *nmq_trie_new(void)
{
    nmq_trie_t *self = nmq_xcalloc(1, sizeof *self);
    self->root = nmq_topic_tree_new();
    self->exact = nmq_hashmap_new(NMQ_HASHMAP_BORROW_KEYS);
    self->entries = nmq_hashmap_new(NMQ_HASHMAP_BORROW_KEYS);
    self->clients = nmq_hashmap_new(NMQ_HASHMAP_BORROW_KEYS);
    return self;
}

static void s_place_free(void *data)
{
    s_place_t *place = data;
    while (place->groups) {
        s_group_t *g = place->groups;
        place->groups = g->next;
        s_evec_free(&g->members);
        free(g);
    }
    s_evec_free(&place->subs);
    free(place);
}

void nmq_trie_destroy(nmq_trie_t **self_p)
{
    nmq_trie_t *self = *self_p;
    if (!self)
        return;
    void *v;
    for (size_t c = 0; nmq_hashmap_next(self->entries, &c, NULL, NULL, &v);)
        free(v);
    for (size_t c = 0; nmq_hashmap_next(self->clients, &c, NULL, NULL, &v);) {
        s_evec_free(&((s_client_t *)v)->subs);
        free(v);
    }
    for (size_t c = 0; nmq_hashmap_next(self->exact, &c, NULL, NULL, &v);)
        s_place_free(v);
    nmq_hashmap_destroy(&self->exact);
    nmq_hashmap_destroy(&self->entries);
    nmq_hashmap_destroy(&self->clients);
    nmq_topic_tree_destroy(&self->root, s_place_free);
    free(self->stack);
    free(self->hits);
    free(self);
    *self_p = NULL;
}

/* --- changes --------------------------------------------------------------- */

static s_client_t *s_client(nmq_trie_t *self, const char *id, size_t len)
{
    s_client_t *c = nmq_hashmap_get(self->clients, id, len);
    if (!c) {
        c = s_new_with_name(sizeof *c, id, len);
        c->id_len = len;
        nmq_hashmap_put(self->clients, c->id, len, c);
    }
    return c;
}

static bool s_wild(const char *filter, size_t len)
{
    return memchr(filter, '+', len) || memchr(filter, '#', len);
}

/* The place of a filter; made if make, else NULL when it has none. */
static s_place_t *s_place(const nmq_trie_t *self, const char *filter, size_t len, bool make)
{
    bool wild = s_wild(filter, len);
    nmq_topic_node_t *node = NULL;
    s_place_t *place;
    if (wild) {
        node = make ? nmq_topic_tree_make(self->root, filter, len) : nmq_topic_tree_find(self->root, filter, len);
        place = node ? node->data : NULL;
    } else {
        place = nmq_hashmap_get(self->exact, filter, len);
    }
    if (place || !make)
        return place;
    place = s_new_with_name(sizeof *place, filter, len);
    place->filter_len = len;
    place->node = node;
    if (wild)
        node->data = place;
    else
        nmq_hashmap_put(self->exact, place->filter, len, place);
    return place;
}

static s_group_t *s_group_find(const s_place_t *place, const char *name, size_t len)
{
    s_group_t *g = place->groups;
    while (g && !s_same(g->name, g->name_len, name, len))
        g = g->next;
    return g;
}

static s_group_t *s_group(s_place_t *place, const char *name, size_t len)
{
    s_group_t *g = s_group_find(place, name, len);
    if (!g) {
        g = s_new_with_name(sizeof *g, name, len);
        g->name_len = len;
        g->next = place->groups;
        place->groups = g;
    }
    return g;
}

/* The entry for sub, or NULL; creates nothing. */
static s_entry_t *s_lookup(const nmq_trie_t *self, const nmq_trie_entry_t *sub)
{
    s_ident_t id = { nmq_hashmap_get(self->clients, sub->client_id, sub->client_id_len), NULL, NULL };
    if (id.client)
        id.place = s_place(self, sub->filter, sub->filter_len, false);
    if (!id.place || (sub->group && !(id.group = s_group_find(id.place, sub->group, sub->group_len))))
        return NULL;
    return nmq_hashmap_get(self->entries, &id, sizeof id);
}

nmq_trie_add_t nmq_trie_add(nmq_trie_t *self, const nmq_trie_entry_t *sub)
{
    /* What this makes is used at once: either the entry exists (then all of
     * it existed) or the new entry takes it. */
    s_ident_t id = { s_client(self, sub->client_id, sub->client_id_len),
                     s_place(self, sub->filter, sub->filter_len, true), NULL };
    s_place_t *place = id.place;
    if (sub->group)
        id.group = s_group(place, sub->group, sub->group_len);
    s_entry_t *e = nmq_hashmap_get(self->entries, &id, sizeof id);
    if (e) {
        e->pub.opts = sub->opts;
        return NMQ_TRIE_REPLACED;
    }
    e = nmq_xcalloc(1, sizeof *e);
    e->id = id;
    s_client_t *c = id.client;
    e->pub = (nmq_trie_entry_t){
        .client_id = c->id, .client_id_len = c->id_len,
        .group = id.group ? id.group->name : NULL, .group_len = id.group ? id.group->name_len : 0,
        .filter = place->filter, .filter_len = place->filter_len, .opts = sub->opts,
    };
    s_evec_push(id.group ? &id.group->members : &place->subs, e, AT_PLACE);
    s_evec_push(&c->subs, e, AT_CLIENT);
    for (size_t i = c->subs.n == 2 ? 0 : c->subs.n - 1; c->subs.n > 1 && i < c->subs.n; i++)
        ENTRY(c->subs.v[i])->multi = true;
    nmq_hashmap_put(self->entries, &e->id, sizeof e->id, e);
    return NMQ_TRIE_ADDED;
}

/* Take e out of every view and free it with what it leaves empty. */
static void s_unlink(nmq_trie_t *self, s_entry_t *e)
{
    nmq_hashmap_remove(self->entries, &e->id, sizeof e->id);
    s_place_t *place = e->id.place;
    s_group_t *g = e->id.group;
    s_evec_del(g ? &g->members : &place->subs, e, AT_PLACE);
    if (g && !g->members.n) {
        s_group_t **pp = &place->groups;
        while (*pp != g)
            pp = &(*pp)->next;
        *pp = g->next;
        s_evec_free(&g->members);
        free(g);
    }
    if (!place->subs.n && !place->groups) {
        nmq_topic_node_t *node = place->node;
        if (node)
            node->data = NULL;
        else
            nmq_hashmap_remove(self->exact, place->filter, place->filter_len);
        s_place_free(place);
        if (node)
            nmq_topic_tree_prune(node);
    }
    s_client_t *c = e->id.client;
    s_evec_del(&c->subs, e, AT_CLIENT);
    if (c->subs.n == 1)
        ENTRY(c->subs.v[0])->multi = false;
    if (!c->subs.n) {
        nmq_hashmap_remove(self->clients, c->id, c->id_len);
        s_evec_free(&c->subs);
        free(c);
    }
    free(e);
}

bool nmq_trie_remove(nmq_trie_t *self, const nmq_trie_entry_t *sub)
{
    s_entry_t *e = s_lookup(self, sub);
    if (e)
        s_unlink(self, e);
    return e != NULL;
}

size_t nmq_trie_remove_client(nmq_trie_t *self, const char *client_id, size_t len)
{
    s_client_t *c = nmq_hashmap_get(self->clients, client_id, len);
    size_t n = c ? c->subs.n : 0;
    /* Always the last entry: s_unlink frees c with the final one. */
    for (size_t k = n; k > 0; k--)
        s_unlink(self, ENTRY(c->subs.v[k - 1]));
    return n;
}

const nmq_trie_entry_t *nmq_trie_get(const nmq_trie_t *self, const nmq_trie_entry_t *sub)
{
    s_entry_t *e = s_lookup(self, sub);
    return e ? &e->pub : NULL;
}

bool nmq_trie_entry_set_filter(nmq_trie_entry_t *sub, const char *filter, size_t len)
{
    nmq_topic_share_t sh;
    if (nmq_topic_filter_check((const uint8_t *)filter, len, &sh) != NMQ_TOPIC_OK)
        return false;
    sub->group = sh.group_len ? (const char *)sh.group : NULL;
    sub->group_len = sh.group_len;
    sub->filter = (const char *)sh.filter;
    sub->filter_len = sh.filter_len;
    return true;
}

/* --- reading --------------------------------------------------------------- */

size_t nmq_trie_count(const nmq_trie_t *self) { return nmq_hashmap_size(self->entries); }

size_t nmq_trie_clients(const nmq_trie_t *self) { return nmq_hashmap_size(self->clients); }

size_t nmq_trie_each(const nmq_trie_t *self, nmq_trie_each_fn *fn, void *arg)
{
    size_t n = 0;
    void *v;
    for (size_t c = 0; nmq_hashmap_next(self->entries, &c, NULL, NULL, &v);) {
        n++;
        if (fn(&((s_entry_t *)v)->pub, arg))
            break;
    }
    return n;
}

size_t nmq_trie_client_each(const nmq_trie_t *self, const char *client_id, size_t len,
                            nmq_trie_each_fn *fn, void *arg)
{
    const s_client_t *c = nmq_hashmap_get(self->clients, client_id, len);
    size_t n = 0;
    while (c && n < c->subs.n)
        if (fn(c->subs.v[n++], arg))
            break;
    return n;
}

/* --- match ----------------------------------------------------------------- */

typedef struct {
    const char *publisher;
    size_t publisher_len;
    size_t n_hits;
    nmq_trie_result_t *out;
} s_match_t;

static void s_recipient(nmq_trie_t *self, s_match_t *m, const nmq_trie_entry_t *sub)
{
    if (sub->opts.no_local && m->publisher &&
        s_same(sub->client_id, sub->client_id_len, m->publisher, m->publisher_len))
        return;
    nmq_trie_result_t *out = m->out;
    s_client_t *c = ENTRY(sub)->multi ? ENTRY(sub)->id.client : NULL;
    size_t ridx = out->n_recipients;
    if (c && c->epoch == self->epoch) {
        ridx = c->ridx;
        nmq_trie_recipient_t *r = &out->recipients[ridx];
        if (sub->opts.qos > r->qos)
            r->qos = sub->opts.qos;
        r->retain_as_published |= sub->opts.retain_as_published;
    } else {
        if (c) {
            c->epoch = self->epoch;
            c->ridx = ridx;
        }
        NMQ_GROW(out->recipients, out->cap_recipients_, out->n_recipients + 1);
        out->recipients[out->n_recipients++] = (nmq_trie_recipient_t){
            .client_id = sub->client_id, .client_id_len = sub->client_id_len,
            .qos = sub->opts.qos, .retain_as_published = sub->opts.retain_as_published,
        };
    }
    if (sub->opts.sub_id) {
        out->recipients[ridx].n_sub_ids++;
        NMQ_GROW(self->hits, self->hits_cap, m->n_hits + 1);
        self->hits[m->n_hits++] = (s_hit_t){ ridx, sub->opts.sub_id };
    }
}

/* Everything subscribed to a filter that matched. */
static void s_collect(nmq_trie_t *self, s_match_t *m, const s_place_t *place)
{
    if (!place)
        return;
    for (size_t i = 0; i < place->subs.n; i++)
        s_recipient(self, m, place->subs.v[i]);
    nmq_trie_result_t *out = m->out;
    for (s_group_t *g = place->groups; g; g = g->next) {
        NMQ_GROW(out->shares, out->cap_shares_, out->n_shares + 1);
        out->shares[out->n_shares++] = (nmq_trie_share_t){
            .group = g->name, .group_len = g->name_len,
            .filter = place->filter, .filter_len = place->filter_len,
            .members = (const nmq_trie_entry_t *const *)g->members.v,
            .n_members = g->members.n, .priv_ = g,
        };
    }
}

/* Lay the collected subscription identifiers out per recipient, ascending
 * and without repeats (two filters of one client may carry the same id). */
static void s_sub_ids(nmq_trie_t *self, s_match_t *m)
{
    nmq_trie_result_t *out = m->out;
    NMQ_GROW(out->sub_ids_, out->cap_sub_ids_, m->n_hits);
    size_t off = 0;
    for (size_t i = 0; i < out->n_recipients; i++) {
        nmq_trie_recipient_t *r = &out->recipients[i];
        r->sub_ids = r->n_sub_ids ? out->sub_ids_ + off : NULL;
        off += r->n_sub_ids;
        r->n_sub_ids = 0;
    }
    for (size_t h = 0; h < m->n_hits; h++) {
        nmq_trie_recipient_t *r = &out->recipients[self->hits[h].ridx];
        uint32_t *ids = (uint32_t *)r->sub_ids, id = self->hits[h].sub_id;
        size_t j = r->n_sub_ids;
        while (j > 0 && ids[j - 1] > id) {
            ids[j] = ids[j - 1];
            j--;
        }
        if (j > 0 && ids[j - 1] == id) {
            memmove(ids + j, ids + j + 1, (r->n_sub_ids - j) * sizeof *ids);
            continue;
        }
        ids[j] = id;
        r->n_sub_ids++;
    }
}

size_t nmq_trie_match(nmq_trie_t *self, const char *topic, size_t len,
                      const char *publisher, size_t publisher_len, nmq_trie_result_t *out)
{
    s_match_t m = { publisher, publisher_len, 0, out };
    out->n_recipients = out->n_shares = 0;
    self->epoch++;
    const char *end = topic + len;
    /* [MQTT-4.7.2-1]: no wildcard at the first level for "$..." topics */
    const nmq_topic_node_t *no_wild = nmq_topic_is_dollar(topic, len) ? self->root : NULL;
    s_collect(self, &m, nmq_hashmap_get(self->exact, topic, len));
    size_t sp = 0;
    NMQ_GROW(self->stack, self->stack_cap, 1);
    self->stack[sp++] = (nmq_topic_frame_t){ self->root, topic, 0 };
    while (sp) {
        nmq_topic_frame_t f = self->stack[--sp];
        const nmq_topic_node_t *n = f.node;
        int wild = n != no_wild;
        if (n->hash && wild)
            s_collect(self, &m, n->hash->data);       /* "a/#" matches "a" and below */
        if (f.flag) {
            s_collect(self, &m, n->data);
            continue;
        }
        const char *q = nmq_topic_level_end(f.p, end);
        nmq_topic_frame_t next = { NULL, q == end ? q : q + 1, q == end };
        NMQ_GROW(self->stack, self->stack_cap, sp + 2);
        if (n->plus && wild) {
            next.node = n->plus;
            self->stack[sp++] = next;
        }
        if ((next.node = nmq_hashmap_get(&n->children, f.p, (size_t)(q - f.p))))
            self->stack[sp++] = next;
    }
    s_sub_ids(self, &m);
    return out->n_recipients + out->n_shares;
}

void nmq_trie_result_free(nmq_trie_result_t *r)
{
    free(r->recipients);
    free(r->shares);
    free(r->sub_ids_);
    *r = (nmq_trie_result_t){ 0 };
}

/* --- shared subscriptions -------------------------------------------------- */

static uint64_t s_rand(uint64_t *state)
{
    uint64_t x = *state ? *state : 0x9E3779B97F4A7C15ull;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    *state = x;
    return x;
}

const nmq_trie_entry_t *nmq_trie_share_pick(const nmq_trie_share_t *share, nmq_trie_pick_t how,
                                            nmq_trie_rank_fn *rank, void *arg, uint64_t *rng)
{
    s_group_t *g = share->priv_;
    size_t n = share->n_members, start = how == NMQ_TRIE_PICK_ROUND_ROBIN && n ? g->rr % n : 0;
    size_t chosen = n, ties = 0;
    unsigned best = 0;
    for (size_t k = 0; k < n; k++) {
        size_t i = (start + k) % n;
        unsigned r = rank(share->members[i], arg);
        if (r > best) {
            best = r;
            chosen = i;
            ties = 1;
        } else if (r && r == best && how == NMQ_TRIE_PICK_RANDOM && s_rand(rng) % ++ties == 0) {
            chosen = i;     /* reservoir sampling: uniform among the best */
        }
    }
    if (chosen == n)
        return NULL;
    if (how == NMQ_TRIE_PICK_ROUND_ROBIN)
        g->rr = chosen + 1;
    return share->members[chosen];
}
