/* nmq_topic_index — see nmq_topic_index.h.  One walk serves match and
 * each: a stack of frames that either still match filter levels or (flag
 * set) take a whole subtree, which is what '#' and "everything" mean. */
#include "nmq_topic_index.h"

#include "nmq_alloc.h"
#include "nmq_topic_tree.h"

/* node->data of a stored topic. */
typedef struct {
    void *value;
    size_t len;
    char topic[];
} s_record_t;

struct nmq_tindex {
    nmq_topic_node_t *root;
    size_t count;
    nmq_topic_frame_t *stack;   /* scratch, grown once */
    size_t stack_cap;
};

enum { MATCH_LEVEL = 0, WHOLE_SUBTREE = 1 };

nmq_tindex_t *nmq_tindex_new(void)
{
    nmq_tindex_t *self = nmq_xcalloc(1, sizeof *self);
    self->root = nmq_topic_tree_new();
    return self;
}

void nmq_tindex_destroy(nmq_tindex_t **self_p)
{
    nmq_tindex_t *self = *self_p;
    if (!self)
        return;
    nmq_topic_tree_destroy(&self->root, free);
    free(self->stack);
    free(self);
    *self_p = NULL;
}

void *nmq_tindex_put(nmq_tindex_t *self, const char *topic, size_t len, void *value)
{
    if (!value)
        abort();    /* NULL means absent */
    nmq_topic_node_t *n = nmq_topic_tree_make(self->root, topic, len);
    s_record_t *r = n->data;
    if (r) {
        void *old = r->value;
        r->value = value;
        return old;
    }
    r = nmq_xmalloc(sizeof *r + len + 1);
    *r = (s_record_t){ value, len };
    memcpy(r->topic, topic, len);
    r->topic[len] = '\0';
    n->data = r;
    self->count++;
    return NULL;
}

void *nmq_tindex_remove(nmq_tindex_t *self, const char *topic, size_t len)
{
    nmq_topic_node_t *n = nmq_topic_tree_find(self->root, topic, len);
    s_record_t *r = n ? n->data : NULL;
    if (!r)
        return NULL;
    void *old = r->value;
    free(r);
    n->data = NULL;
    self->count--;
    nmq_topic_tree_prune(n);
    return old;
}

void *nmq_tindex_get(const nmq_tindex_t *self, const char *topic, size_t len)
{
    const nmq_topic_node_t *n = nmq_topic_tree_find(self->root, topic, len);
    const s_record_t *r = n ? n->data : NULL;
    return r ? r->value : NULL;
}

size_t nmq_tindex_count(const nmq_tindex_t *self) { return self->count; }

static void s_push(nmq_tindex_t *self, size_t *sp, nmq_topic_node_t *node, const char *p, int flag)
{
    NMQ_GROW(self->stack, self->stack_cap, *sp + 1);
    self->stack[(*sp)++] = (nmq_topic_frame_t){ node, p, flag };
}

/* Push the children of n; at the root not those whose level starts with
 * '$' when a wildcard is being expanded [MQTT-4.7.2-1]. */
static void s_push_children(nmq_tindex_t *self, size_t *sp, nmq_topic_node_t *n, int skip_dollar,
                            const char *p, int flag)
{
    const void *key;
    size_t klen;
    void *child;
    for (size_t c = 0; nmq_hashmap_next(&n->children, &c, &key, &klen, &child);)
        if (!(skip_dollar && nmq_topic_is_dollar(key, klen)))
            s_push(self, sp, child, p, flag);
}

/* Walk from the root: a filter when filter != NULL, everything otherwise. */
static size_t s_walk(nmq_tindex_t *self, const char *filter, size_t len, nmq_tindex_fn *fn, void *arg)
{
    size_t sp = 0, n_hits = 0;
    const char *end = filter ? filter + len : NULL;
    if (filter)
        s_push(self, &sp, self->root, filter, MATCH_LEVEL);
    else
        s_push_children(self, &sp, self->root, 0, NULL, WHOLE_SUBTREE);
    while (sp) {
        nmq_topic_frame_t f = self->stack[--sp];
        nmq_topic_node_t *n = f.node;
        /* a frame whose filter is used up: n is a match */
        if (f.flag == WHOLE_SUBTREE || f.p == NULL) {
            const s_record_t *r = n->data;
            if (r && (n_hits++, fn(r->topic, r->len, r->value, arg)))
                break;
            if (f.flag == WHOLE_SUBTREE)
                s_push_children(self, &sp, n, 0, NULL, WHOLE_SUBTREE);
            continue;
        }
        const char *q = nmq_topic_level_end(f.p, end);
        const char *next = q == end ? NULL : q + 1;
        size_t lvl = (size_t)(q - f.p);
        int at_root = n == self->root;
        if (lvl == 1 && *f.p == '#') {
            if (!at_root)       /* "a/#" matches "a" */
                s_push(self, &sp, n, NULL, MATCH_LEVEL);
            s_push_children(self, &sp, n, at_root, NULL, WHOLE_SUBTREE);
        } else if (lvl == 1 && *f.p == '+') {
            s_push_children(self, &sp, n, at_root, next, MATCH_LEVEL);
        } else {
            nmq_topic_node_t *c = nmq_hashmap_get(&n->children, f.p, lvl);
            if (c)
                s_push(self, &sp, c, next, MATCH_LEVEL);
        }
    }
    return n_hits;
}

size_t nmq_tindex_each(nmq_tindex_t *self, nmq_tindex_fn *fn, void *arg)
{
    return s_walk(self, NULL, 0, fn, arg);
}

size_t nmq_tindex_match(nmq_tindex_t *self, const char *filter, size_t len,
                        nmq_tindex_fn *fn, void *arg)
{
    return s_walk(self, filter, len, fn, arg);
}

static int s_collect(const char *topic, size_t len, void *value, void *arg)
{
    nmq_tindex_result_t *out = arg;
    NMQ_GROW(out->hits, out->cap_, out->n + 1);
    out->hits[out->n++] = (nmq_tindex_hit_t){ topic, len, value };
    return 0;
}

size_t nmq_tindex_match_into(nmq_tindex_t *self, const char *filter, size_t len,
                             nmq_tindex_result_t *out)
{
    out->n = 0;
    return s_walk(self, filter, len, s_collect, out);
}

void nmq_tindex_result_free(nmq_tindex_result_t *r)
{
    free(r->hits);
    *r = (nmq_tindex_result_t){ 0 };
}
