/* nmq_topic_tree — see nmq_topic_tree.h. */
#include "nmq_topic_tree.h"

#include "nmq_alloc.h"

static nmq_topic_node_t *s_node_new(nmq_topic_node_t *parent, const char *level, size_t len)
{
    nmq_topic_node_t *n = nmq_xcalloc(1, sizeof *n + len + 1);
    n->parent = parent;
    nmq_hashmap_init(&n->children, NMQ_HASHMAP_BORROW_KEYS);
    n->level_len = len;
    memcpy(n->level, level, len);
    return n;
}

nmq_topic_node_t *nmq_topic_tree_new(void) { return s_node_new(NULL, "", 0); }

static void s_node_free(nmq_topic_node_t *n)
{
    nmq_hashmap_fini(&n->children);
    free(n);
}

void nmq_topic_tree_destroy(nmq_topic_node_t **root_p, void (*free_data)(void *data))
{
    nmq_topic_node_t **stack = NULL;
    size_t n = 0, cap = 0;
    if (*root_p) {
        NMQ_GROW(stack, cap, 1);
        stack[n++] = *root_p;
    }
    while (n) {
        nmq_topic_node_t *node = stack[--n];
        NMQ_GROW(stack, cap, n + 2 + nmq_hashmap_size(&node->children));
        if (node->plus)
            stack[n++] = node->plus;
        if (node->hash)
            stack[n++] = node->hash;
        void *child;
        for (size_t c = 0; nmq_hashmap_next(&node->children, &c, NULL, NULL, &child);)
            stack[n++] = child;
        if (node->data && free_data)
            free_data(node->data);
        s_node_free(node);
    }
    free(stack);
    *root_p = NULL;
}

/* Walk (and with make, grow) the levels of path from root. */
static nmq_topic_node_t *s_walk(nmq_topic_node_t *root, const char *path, size_t len, int make)
{
    nmq_topic_node_t *n = root;
    const char *end = path + len, *p = path;
    for (;;) {
        const char *q = nmq_topic_level_end(p, end);
        size_t lvl = (size_t)(q - p);
        nmq_topic_node_t *c = nmq_topic_node_child(n, p, lvl);
        if (!c) {
            if (!make)
                return NULL;
            c = s_node_new(n, p, lvl);
            if (lvl == 1 && *p == '+')
                n->plus = c;
            else if (lvl == 1 && *p == '#')
                n->hash = c;
            else
                nmq_hashmap_put(&n->children, c->level, lvl, c);
        }
        n = c;
        if (q == end)
            return n;
        p = q + 1;
    }
}

nmq_topic_node_t *nmq_topic_tree_find(const nmq_topic_node_t *root, const char *path, size_t len)
{
    return s_walk((nmq_topic_node_t *)root, path, len, 0);
}

nmq_topic_node_t *nmq_topic_tree_make(nmq_topic_node_t *root, const char *path, size_t len)
{
    return s_walk(root, path, len, 1);
}

void nmq_topic_tree_prune(nmq_topic_node_t *n)
{
    while (n->parent && !n->data && !n->plus && !n->hash && !nmq_hashmap_size(&n->children)) {
        nmq_topic_node_t *parent = n->parent;
        if (parent->plus == n)
            parent->plus = NULL;
        else if (parent->hash == n)
            parent->hash = NULL;
        else {
            nmq_hashmap_remove(&parent->children, n->level, n->level_len);
            if (!nmq_hashmap_size(&parent->children))
                nmq_hashmap_fini(&parent->children);    /* its slots too */
        }
        s_node_free(n);
        n = parent;
    }
}
