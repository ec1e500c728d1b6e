/* nmq_topic_index — the retained messages' side of routing: a set of
 * concrete topics, each with the caller's value, searched by FILTER.  When
 * a client subscribes, the metadata worker asks it for every retained topic
 * the new filter matches (the reverse of nmq_topic_trie, which searches
 * filters by topic).
 *
 * Stored as a level tree (nmq_topic_tree), so a filter costs what it
 * matches: a literal level is one hash lookup, '+' visits the children of
 * one node, '#' a subtree.  A topic starting with '$' is matched by no
 * filter whose first level is '+' or '#' [MQTT-4.7.2-1]; '#' also matches
 * the parent level ("a/#" finds "a").
 *
 * Values are the caller's non-NULL pointers (a numeric handle fits as
 * (void *)(uintptr_t)h with h != 0); the index never frees them.  Topics
 * and filters are assumed valid (nmq_topic_validate).  Not thread-safe, and
 * callbacks must not change the index they are called from.
 */
#ifndef NMQ_TOPIC_INDEX_H
#define NMQ_TOPIC_INDEX_H

#include <stddef.h>

typedef struct nmq_tindex nmq_tindex_t;

/* Return non-zero to stop a walk early.  topic is NUL-terminated. */
typedef int (nmq_tindex_fn)(const char *topic, size_t len, void *value, void *arg);

typedef struct {
    const char *topic;          /* the index's copy, valid until it changes */
    size_t topic_len;
    void *value;
} nmq_tindex_hit_t;

/* Caller-owned, reused: zero it once ({0}), free it at the end. */
typedef struct {
    nmq_tindex_hit_t *hits;
    size_t n;
    size_t cap_;
} nmq_tindex_result_t;

nmq_tindex_t *nmq_tindex_new(void);
/* Frees the index, not the values: walk it first if they need freeing. */
void nmq_tindex_destroy(nmq_tindex_t **self_p);

/* Insert or replace; returns the value replaced, NULL if the topic is new. */
void *nmq_tindex_put(nmq_tindex_t *self, const char *topic, size_t len, void *value);
/* Returns the value removed, NULL if the topic was absent. */
void *nmq_tindex_remove(nmq_tindex_t *self, const char *topic, size_t len);
void *nmq_tindex_get(const nmq_tindex_t *self, const char *topic, size_t len);
size_t nmq_tindex_count(const nmq_tindex_t *self);

/* Every topic, in no particular order; returns how many were visited. */
size_t nmq_tindex_each(nmq_tindex_t *self, nmq_tindex_fn *fn, void *arg);
/* Every topic the filter matches (no "$share/" prefix: strip it first);
 * returns how many were visited. */
size_t nmq_tindex_match(nmq_tindex_t *self, const char *filter, size_t len,
                        nmq_tindex_fn *fn, void *arg);
/* The same into a result buffer (emptied first); returns out->n. */
size_t nmq_tindex_match_into(nmq_tindex_t *self, const char *filter, size_t len,
                             nmq_tindex_result_t *out);
void nmq_tindex_result_free(nmq_tindex_result_t *r);

#endif
