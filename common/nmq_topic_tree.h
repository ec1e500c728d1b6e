/* nmq_topic_tree — a tree with one node per topic level, the shape shared by
 * the subscription trie (nmq_topic_trie: nodes are filters) and the retained
 * index (nmq_topic_index: nodes are topics).  The owner hangs its payload on
 * node->data; this module only grows, finds and prunes the levels.
 *
 * A node's literal children sit in a hash map (embedded in the node: one
 * cache miss less per level) keyed by their level, whose bytes live in the
 * child itself.  Nodes do not keep their whole path: the owner stores it
 * with its payload, once per filter or topic that has one (a 64 KiB filter
 * of 32k levels would otherwise cost 1 GiB in prefixes).  '+' and '#'
 * levels have their own pointers, so the matcher reaches them without
 * hashing.  A topic never holds them (the codec refuses wildcards in
 * names), so the index never has them.
 *
 * Paths are validated by the caller; levels may be empty ("a//b" has three).
 * Walks are loops, never recursion: a 64 KiB topic can have 32k levels. */
#ifndef NMQ_TOPIC_TREE_H
#define NMQ_TOPIC_TREE_H

#include <stddef.h>
#include <string.h>

#include "nmq_hashmap.h"

typedef struct nmq_topic_node nmq_topic_node_t;
struct nmq_topic_node {
    nmq_topic_node_t *parent;       /* NULL at the root */
    nmq_hashmap_t children;         /* literal levels, keys borrowed from the children */
    nmq_topic_node_t *plus, *hash;  /* the '+' and '#' levels of filters */
    void *data;                     /* the owner's payload; NULL: nothing here */
    size_t level_len;
    char level[];                   /* this node's level (NUL-terminated) */
};

/* One pending step of a walk that branches on wildcards: at node, the
 * level starting at p is next; flag is the walker's (trie: every level
 * consumed; index: take the whole subtree). */
typedef struct {
    nmq_topic_node_t *node;
    const char *p;
    int flag;
} nmq_topic_frame_t;

/* Where the level starting at p ends: the next '/' or end. */
static inline const char *nmq_topic_level_end(const char *p, const char *end)
{
    const char *q = memchr(p, '/', (size_t)(end - p));
    return q ? q : end;
}

/* The child of n for one level ("+" and "#" are the wildcard children). */
static inline nmq_topic_node_t *nmq_topic_node_child(const nmq_topic_node_t *n, const char *level, size_t len)
{
    if (len == 1 && level[0] == '+')
        return n->plus;
    if (len == 1 && level[0] == '#')
        return n->hash;
    return nmq_hashmap_get(&n->children, level, len);
}

nmq_topic_node_t *nmq_topic_tree_new(void);
/* Frees every node; free_data (may be NULL) gets each non-NULL data. */
void nmq_topic_tree_destroy(nmq_topic_node_t **root_p, void (*free_data)(void *data));

/* The node for path, NULL if it was never made (len > 0). */
nmq_topic_node_t *nmq_topic_tree_find(const nmq_topic_node_t *root, const char *path, size_t len);
/* The node for path, made with its missing ancestors. */
nmq_topic_node_t *nmq_topic_tree_make(nmq_topic_node_t *root, const char *path, size_t len);
/* After its owner cleared n->data: free n and every ancestor left with no
 * data and no children, up to (not including) the root. */
void nmq_topic_tree_prune(nmq_topic_node_t *n);

/* Whether the level is one of the '$' topics that a filter starting with a
 * wildcard must not match [MQTT-4.7.2-1]; only the first level counts. */
static inline int nmq_topic_is_dollar(const char *topic, size_t len) { return len && topic[0] == '$'; }

#endif
