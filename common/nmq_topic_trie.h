/* nmq_topic_trie — the subscription table: topic filter -> subscribers.
 *
 * The metadata worker owns the authoritative copy; every acceptor keeps a
 * replica fed by deltas and matches each PUBLISH topic against it locally,
 * so matching is the hot path.  Filters without wildcards (most of them)
 * sit in one hash map keyed by the whole filter: one lookup per PUBLISH.
 * Filters with '+' or '#' sit in a tree of levels walked with one hash
 * lookup per level.  No allocation once the caller's result buffer and the
 * trie's scratch have grown to the fan-out they see.
 *
 * A subscription is identified by (client id, share group, filter): the
 * same client may hold "a/b", "$share/g1/a/b" and "$share/g2/a/b" at once.
 * Shared subscriptions are keyed by their filter without the
 * "$share/{group}/" prefix; the entry carries the group.
 *
 * Matching follows MQTT 3.1.1 / 5.0 section 4.7 and 3.3.4:
 *  - '#' also matches the parent level ("a/#" matches "a"); empty levels are
 *    levels ("a//b"); a topic starting with '$' is matched by no filter
 *    whose first level is '+' or '#' [MQTT-4.7.2-1].
 *  - Ordinary subscriptions give one recipient per client even when several
 *    of its filters match (one copy, [MQTT-3.3.4-2]): QoS is the maximum of
 *    the matching subscriptions', the subscription identifiers are all of
 *    theirs, ascending and without repeats [MQTT-3.3.4-3] [MQTT-3.3.4-4],
 *    and retain_as_published is set if any matching subscription has it
 *    (one of them asked to see the flag as published; clearing it would
 *    deny that, keeping it costs the others nothing on a live message).
 *    A subscription with no_local matches nothing published by its own
 *    client id [MQTT-3.8.3-3]; the client's other subscriptions still do.
 *  - Shared subscriptions are reported per (group, filter) with the list of
 *    members; the caller picks one (nmq_trie_share_pick) by its policy.  A
 *    client that holds a matching ordinary and shared subscription may get
 *    the message twice, as the spec allows.
 *
 * Strings come as (pointer, length) without a NUL, as the codec hands them;
 * the trie keeps NUL-terminated copies.  Filters and client ids are assumed
 * valid (nmq_topic_validate): garbage from inside is a bug, not an error.
 * Not thread-safe, not even match(): it keeps per-call marks and scratch in
 * the trie.  One trie per thread (each acceptor process has its own).
 */
#ifndef NMQ_TOPIC_TRIE_H
#define NMQ_TOPIC_TRIE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct nmq_trie nmq_trie_t;

typedef struct {
    uint8_t qos;                    /* maximum QoS, 0..2 */
    uint8_t no_local;               /* 5.0 options; 0 for 3.x */
    uint8_t retain_as_published;
    uint8_t retain_handling;        /* 0..2; used at subscribe time, stored for snapshots */
    uint32_t sub_id;                /* subscription identifier, 0 = none */
} nmq_trie_opts_t;

/* A subscription.  As an argument it names one (opts ignored by remove);
 * as an answer it points into the trie and is valid until the trie next
 * changes.  The trie's strings are NUL-terminated. */
typedef struct {
    const char *client_id;
    size_t client_id_len;
    const char *group;              /* share group, NULL for an ordinary subscription */
    size_t group_len;
    const char *filter;             /* without "$share/{group}/" */
    size_t filter_len;
    nmq_trie_opts_t opts;
} nmq_trie_entry_t;

/* One client to deliver to. */
typedef struct {
    const char *client_id;          /* the trie's copy */
    size_t client_id_len;
    uint8_t qos;                    /* max over the matching subscriptions */
    uint8_t retain_as_published;    /* any of them */
    uint32_t n_sub_ids;
    const uint32_t *sub_ids;        /* ascending, no 0; into the result */
} nmq_trie_recipient_t;

/* One (group, filter) that matched, with every member: deliver to one. */
typedef struct {
    const char *group;
    size_t group_len;
    const char *filter;
    size_t filter_len;
    const nmq_trie_entry_t *const *members;     /* into the trie */
    size_t n_members;
    void *priv_;                                /* the group, for share_pick */
} nmq_trie_share_t;

/* Caller-owned and reused across matches: zero it once ({0}), free it at
 * the end.  The arrays grow to the largest fan-out seen and stay. */
typedef struct {
    nmq_trie_recipient_t *recipients;
    size_t n_recipients;
    nmq_trie_share_t *shares;
    size_t n_shares;
    /* private storage */
    size_t cap_recipients_, cap_shares_;
    uint32_t *sub_ids_;
    size_t cap_sub_ids_;
} nmq_trie_result_t;

typedef enum { NMQ_TRIE_ADDED = 1, NMQ_TRIE_REPLACED = 2 } nmq_trie_add_t;

/* Return non-zero to stop a walk early. */
typedef int (nmq_trie_each_fn)(const nmq_trie_entry_t *entry, void *arg);

nmq_trie_t *nmq_trie_new(void);
void nmq_trie_destroy(nmq_trie_t **self_p);

/* Add the subscription, or replace the options of the one with the same
 * (client, group, filter) [MQTT-3.8.4-3]. */
nmq_trie_add_t nmq_trie_add(nmq_trie_t *self, const nmq_trie_entry_t *sub);
/* Remove (client, group, filter); whether it was there. */
bool nmq_trie_remove(nmq_trie_t *self, const nmq_trie_entry_t *sub);
/* Remove every subscription of the client; how many there were. */
size_t nmq_trie_remove_client(nmq_trie_t *self, const char *client_id, size_t len);
/* The subscription (client, group, filter), or NULL. */
const nmq_trie_entry_t *nmq_trie_get(const nmq_trie_t *self, const nmq_trie_entry_t *sub);

size_t nmq_trie_count(const nmq_trie_t *self);
/* Clients holding at least one subscription. */
size_t nmq_trie_clients(const nmq_trie_t *self);
/* Every subscription, in no particular order (snapshots); the callback must
 * not change the trie.  Returns the number visited. */
size_t nmq_trie_each(const nmq_trie_t *self, nmq_trie_each_fn *fn, void *arg);
/* Every subscription of one client (session show, takeover). */
size_t nmq_trie_client_each(const nmq_trie_t *self, const char *client_id, size_t len,
                            nmq_trie_each_fn *fn, void *arg);

/* Fill *out with who receives a PUBLISH on topic from the client
 * publisher (NULL / 0 for a message from the broker itself, e.g. a will of
 * a session that is gone: then no_local never applies).  Returns
 * n_recipients + n_shares.  The answer is valid until the trie changes. */
size_t nmq_trie_match(nmq_trie_t *self, const char *topic, size_t len,
                      const char *publisher, size_t publisher_len, nmq_trie_result_t *out);
void nmq_trie_result_free(nmq_trie_result_t *r);

/* Split a SUBSCRIBE filter into sub->group / sub->filter ("$share/g/a/+"
 * -> "g", "a/+"); false if it is not a valid filter. */
bool nmq_trie_entry_set_filter(nmq_trie_entry_t *sub, const char *filter, size_t len);

/* --- shared subscriptions: choosing the member ------------------------------ */

/* How much the caller wants this member: 0 = not eligible, and among the
 * eligible the highest rank wins.  VerneMQ's policies as ranks:
 *   random                      online 2, offline 1 (online first, as VerneMQ)
 *   prefer_local                local online 4, local offline 3, remote online 2, remote offline 1
 *   prefer_online_before_local  local online 4, remote online 3, local offline 2, remote offline 1
 *   local_only                  local online 2, local offline 1, remote 0
 * The trie knows neither nodes nor sessions; the caller does. */
typedef unsigned (nmq_trie_rank_fn)(const nmq_trie_entry_t *member, void *arg);

typedef enum {
    NMQ_TRIE_PICK_RANDOM,       /* uniform among the best-ranked members */
    NMQ_TRIE_PICK_ROUND_ROBIN,  /* the next best-ranked member after the last pick */
} nmq_trie_pick_t;

/* One member of the share, or NULL if none is eligible.  rng is the caller's
 * xorshift state (any non-zero seed; deterministic for tests); round robin
 * keeps its position in the group, so it needs the share of a match whose
 * trie has not changed since. */
const nmq_trie_entry_t *nmq_trie_share_pick(const nmq_trie_share_t *share, nmq_trie_pick_t how,
                                            nmq_trie_rank_fn *rank, void *arg, uint64_t *rng);

#endif
