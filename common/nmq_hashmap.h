/* nmq_hashmap — a map from byte-string keys to pointers, for the routing
 * tables (one per trie level, client ids, subscription identities) and for
 * anyone else who needs one.  Open addressing with linear probing and
 * backward-shift deletion: no tombstones, so a table that churns (subscribe,
 * unsubscribe, all day) keeps its probe lengths short.  Each slot keeps the
 * full hash, so a probe compares a key's bytes only when the hashes agree.
 *
 * Keys are copied unless the map is made with NMQ_HASHMAP_BORROW_KEYS, in
 * which case the caller keeps each key's bytes alive and unchanged while it
 * is in the map (the tries use it: a node's name lives in the node).
 * Values are non-NULL pointers; NULL means "absent" in every answer.
 * Not thread-safe; an empty map allocates no slots. */
#ifndef NMQ_HASHMAP_H
#define NMQ_HASHMAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Public so that it can be embedded in a larger struct (a trie node holds
 * its children's map: one cache miss less per level); the fields are
 * private.  A zeroed struct is not enough: use init(). */
typedef struct nmq_hashmap {
    struct nmq_hashmap_slot *slots_;
    size_t cap_;                /* 0 or a power of two */
    size_t count_;
    unsigned flags_;
} nmq_hashmap_t;

#define NMQ_HASHMAP_BORROW_KEYS 0x1u

/* A 64-bit hash of len bytes (wyhash-style multiply-mix; not keyed, so
 * not for maps whose keys an attacker chooses in bulk and then times). */
uint64_t nmq_hash(const void *key, size_t len);

nmq_hashmap_t *nmq_hashmap_new(unsigned flags);
/* Frees the map and its key copies, never the values. */
void nmq_hashmap_destroy(nmq_hashmap_t **self_p);
/* The same for an embedded map: init, and fini (which leaves it empty and
 * ready for use again). */
void nmq_hashmap_init(nmq_hashmap_t *self, unsigned flags);
void nmq_hashmap_fini(nmq_hashmap_t *self);

void *nmq_hashmap_get(const nmq_hashmap_t *self, const void *key, size_t len);
/* Insert or replace; returns the value it replaced, NULL if the key is new. */
void *nmq_hashmap_put(nmq_hashmap_t *self, const void *key, size_t len, void *value);
/* Returns the value removed, NULL if the key was absent. */
void *nmq_hashmap_remove(nmq_hashmap_t *self, const void *key, size_t len);
size_t nmq_hashmap_size(const nmq_hashmap_t *self);

/* Walk every pair in no particular order: start with *cursor = 0, call until
 * it returns false.  The map must not change during the walk.  key and len
 * may be NULL. */
bool nmq_hashmap_next(const nmq_hashmap_t *self, size_t *cursor,
                      const void **key, size_t *len, void **value);

#endif
