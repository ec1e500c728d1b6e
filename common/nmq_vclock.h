/* nmq_vclock — version vectors for the replicated metadata (the Clone-style
 * replicas under workers/metadata).  Each replica stamps a write with the
 * vector it saw plus its own bump; comparing two stamps tells whether one
 * write supersedes the other or whether they raced, and a_wins() settles a
 * race the same way on every node so that replicas converge without talking.
 *
 * Pure: no I/O, no globals.  A vector holds one dot per node that ever wrote,
 * sorted by node name (strcmp) so that walks over two vectors are merges and
 * the hash does not depend on insertion order; a counter of 0 is never
 * stored (absent and 0 mean the same).  Node names are owned copies.
 * Allocation failure aborts (nmq_alloc.h).  NULL node names are a caller's
 * bug and are asserted. */
#ifndef NMQ_VCLOCK_H
#define NMQ_VCLOCK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* a dot: one node's counter */
typedef struct { char *node; uint64_t counter; } nmq_dot_t;
/* a version vector: dots kept sorted by node name (strcmp), no counter 0,
 * node names owned (malloc'ed copies) */
typedef struct { nmq_dot_t *dots; size_t n, cap; } nmq_vclock_t;
typedef enum { NMQ_VC_EQUAL = 0, NMQ_VC_BEFORE, NMQ_VC_AFTER, NMQ_VC_CONCURRENT } nmq_vc_order_t;

void nmq_vclock_init(nmq_vclock_t *vc);           /* empty */
void nmq_vclock_fini(nmq_vclock_t *vc);           /* frees, leaves it empty and reusable */
void nmq_vclock_copy(nmq_vclock_t *dst, const nmq_vclock_t *src);  /* dst is replaced */
uint64_t nmq_vclock_get(const nmq_vclock_t *vc, const char *node);  /* 0 when absent */
void nmq_vclock_set(nmq_vclock_t *vc, const char *node, uint64_t counter);   /* counter 0 removes */
/* a write at node: its counter becomes 1 + its current counter */
void nmq_vclock_bump(nmq_vclock_t *vc, const char *node);
/* dst = pointwise max(dst, src) */
void nmq_vclock_merge(nmq_vclock_t *dst, const nmq_vclock_t *src);
/* BEFORE: a < b (b dominates a); AFTER: a > b; EQUAL; CONCURRENT */
nmq_vc_order_t nmq_vclock_compare(const nmq_vclock_t *a, const nmq_vclock_t *b);
/* A 64-bit hash of the vector's contents, independent of insertion order
 * (dots are sorted): FNV-1a over, for each dot, the node's bytes, a 0
 * separator and the 8 counter bytes little endian.  The FNV state starts at
 * the offset basis XOR seed, so seed 0 is plain FNV-1a. */
uint64_t nmq_vclock_hash(const nmq_vclock_t *vc, uint64_t seed);
/* Deterministic winner between two concurrent writes, identical on every
 * node: the write with the later wall-clock time (ms) wins; on a tie the
 * write whose writer node name is greater (strcmp) wins; on a further tie the
 * one whose vector hash (seed 0) is greater; should even the hashes collide,
 * the vector whose dots sort later (node name, then counter, then length)
 * wins.  Returns true when write a wins; false for two identical writes. */
bool nmq_vclock_a_wins(const nmq_vclock_t *a, uint64_t a_time_ms, const char *a_writer,
                       const nmq_vclock_t *b, uint64_t b_time_ms, const char *b_writer);
/* "a:3,b:1" into buf (for logs and admin output; "" for the empty vector),
 * cut short and still NUL-terminated when len is too small; returns buf */
char *nmq_vclock_str(const nmq_vclock_t *vc, char *buf, size_t len);

#endif
