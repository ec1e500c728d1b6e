/* queue_store — the durable half of a queue worker: one LMDB environment per
 * worker ("nemomq: queue N"), written by that worker alone.
 *
 * What it keeps: sessions (client id -> record), messages stored once per
 * worker however many of its clients they fan out to (VerneMQ's msg_ref: a
 * body plus a reference count), per-client queue entries (session, sequence)
 * -> (message, QoS, subscription ids, packet id once sent), and the QoS 2
 * packet ids waiting for PUBCOMP.
 *
 * Group commit: every call joins the current turn's write transaction, opened
 * on first use; queue_store_commit() ends it, once per loop turn, and only
 * then may the worker confirm anything to anyone.  Sync on: a commit survives
 * power loss (fsync).  Sync off (MDB_NOSYNC): a commit still survives kill -9
 * of the process, because LMDB writes through the page cache, not a private
 * buffer; only the kernel going down can lose it.
 *
 * The map grows (doubling up to a caller's bound) instead of failing: each
 * turn's writes are also kept in an op log, so MDB_MAP_FULL aborts, grows and
 * replays the turn.  The same log gives savepoints (mark/rollback) so that a
 * batch that does not fit leaves the turn as it was before the batch.
 *
 * No I/O besides LMDB, no sockets: the queue worker process wires it in.
 */
#ifndef QUEUE_STORE_H
#define QUEUE_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define QUEUE_STORE_MAP_DEFAULT  ((size_t)64 << 20)   /* first map size: 64 MiB */
#define QUEUE_STORE_MAP_MAX      ((size_t)64 << 30)   /* growth bound by default: 64 GiB */
#define QUEUE_STORE_NEVER        UINT32_MAX           /* MQTT 5 session expiry "never" */

typedef struct queue_store queue_store_t;

typedef struct {
    const char *path;     /* directory (created 0700 if missing): data.mdb, lock.mdb */
    bool sync;            /* message_store.sync */
    bool readonly;        /* inspect a store another process writes (tools, tests) */
    size_t map_size;      /* first map size; 0 = QUEUE_STORE_MAP_DEFAULT */
    size_t map_max;       /* growth bound; 0 = QUEUE_STORE_MAP_MAX */
} queue_store_opts_t;

/* One session's record.  disconnected_at is 0 while the client is online, so
 * a record found with 0 after a crash means "online when the worker died". */
typedef struct {
    uint64_t sid;                 /* the session's number: the key of its entries */
    bool persistent;              /* outlives its connection */
    uint8_t proto;                /* 3, 4, 5 */
    uint32_t expiry_interval;     /* MQTT 5 seconds; QUEUE_STORE_NEVER */
    int64_t disconnected_at;      /* ms since the epoch; 0 = online */
    uint16_t next_pid;            /* where packet id allocation resumes */
} queue_store_session_t;

/* One message body.  props is the MQTT 5 property blob, opaque here (the
 * acceptor encodes and decodes it); expiry_at is its Message Expiry Interval
 * made absolute, 0 for none.  Read back, the pointers point into the map
 * and stay valid until the next call on the store. */
typedef struct {
    const char *topic;
    size_t topic_len;
    const void *payload;
    size_t payload_len;
    const void *props;
    size_t props_len;
    uint8_t qos;                  /* as published */
    bool retain;                  /* as published */
    int64_t published_at;         /* ms since the epoch */
    int64_t expiry_at;            /* ms since the epoch; 0 = never */
} queue_store_msg_t;

/* One client's queue entry. */
typedef struct {
    uint64_t msg_id;
    uint8_t qos;                  /* QoS it is delivered with */
    bool retain;                  /* retain flag it is delivered with */
    uint16_t packet_id;           /* 0 until first sent; kept for redelivery */
    uint16_t n_sub_ids;
    const uint32_t *sub_ids;      /* MQTT 5 subscription identifiers */
} queue_store_entry_t;

typedef struct {
    uint64_t sessions, messages, entries, pubrels;
    uint64_t problems;            /* queue_store_check: inconsistencies found */
    size_t map_size;              /* bytes mapped now */
    size_t map_used;              /* bytes in the pages the data holds now */
    uint64_t txn_id;              /* last committed transaction */
    uint64_t grows;               /* map growths since open */
} queue_store_stats_t;

/* Walk callbacks: what they are given is valid during the call only; they may
 * read the store but not write it (a write may move the cursor's pages). */
typedef int (*queue_store_session_fn)(const char *client_id, const queue_store_session_t *rec,
                                      void *arg);
typedef int (*queue_store_entry_fn)(uint64_t seq, const queue_store_entry_t *entry, void *arg);
typedef int (*queue_store_pubrel_fn)(uint16_t packet_id, uint64_t order, void *arg);

/* Open (creating) the environment.  NULL with err set when it cannot. */
queue_store_t *queue_store_open(const queue_store_opts_t *opts, char *err, size_t errlen);
/* Abort an uncommitted turn, close, NULL the pointer. */
void queue_store_close(queue_store_t **self_p);

/* End the turn: 0 when durable as configured; -1 and the turn is lost. */
int queue_store_commit(queue_store_t *self);
/* Drop the turn's changes. */
void queue_store_abort(queue_store_t *self);
/* Changes made in this turn so far (0: commit has nothing to do). */
size_t queue_store_pending(const queue_store_t *self);

/* Savepoints inside a turn: rollback undoes every change made since mark. */
size_t queue_store_mark(const queue_store_t *self);
int queue_store_rollback(queue_store_t *self, size_t mark);

/* Highest message id stored (0 if none); ids are the caller's to give. */
uint64_t queue_store_last_msg_id(queue_store_t *self);

/* Mutations return 0, or -1 when the store cannot take it (map at its bound,
 * I/O error): the change is then not made, the rest of the turn is intact. */
int queue_store_session_put(queue_store_t *self, const char *client_id,
                            const queue_store_session_t *rec);
/* 0 found, 1 not found, -1 error. */
int queue_store_session_get(queue_store_t *self, const char *client_id, queue_store_session_t *rec);
/* The session, its entries (releasing their messages) and its PUBREL ids.
 * 0, also when there was no such session. */
int queue_store_session_del(queue_store_t *self, const char *client_id);
/* Every session; fn returning non-zero stops the walk and is returned. */
int queue_store_sessions(queue_store_t *self, queue_store_session_fn fn, void *arg);

/* Store a body with `refs` references (the entries about to point at it).
 * Refused (-1) once the store is near its bound: the last sixteenth of
 * map_max is kept for acks and deletes, which need pages too. */
int queue_store_msg_put(queue_store_t *self, uint64_t id, const queue_store_msg_t *msg,
                        uint32_t refs);
/* Add delta references; at 0 the body is deleted.  The count left, or -1. */
int64_t queue_store_msg_ref(queue_store_t *self, uint64_t id, int64_t delta);
/* 0 found, 1 not found, -1 error; refs may be NULL. */
int queue_store_msg_get(queue_store_t *self, uint64_t id, queue_store_msg_t *msg, uint32_t *refs);

int queue_store_entry_put(queue_store_t *self, uint64_t sid, uint64_t seq,
                          const queue_store_entry_t *entry);
/* The entry only; the caller releases its message (queue_store_msg_ref -1). */
int queue_store_entry_del(queue_store_t *self, uint64_t sid, uint64_t seq);
/* A session's entries in sequence order. */
int queue_store_entries(queue_store_t *self, uint64_t sid, queue_store_entry_fn fn, void *arg);

/* QoS 2 packet ids waiting for PUBCOMP; order sorts them for redelivery. */
int queue_store_pubrel_put(queue_store_t *self, uint64_t sid, uint16_t packet_id, uint64_t order);
int queue_store_pubrel_del(queue_store_t *self, uint64_t sid, uint16_t packet_id);
/* In packet id order; the caller sorts by order. */
int queue_store_pubrels(queue_store_t *self, uint64_t sid, queue_store_pubrel_fn fn, void *arg);

/* Recount every message's references from the entries and compare: counts
 * that differ, bodies nobody points at, entries without a body or a session.
 * With repair, fix them (counts rewritten, orphans deleted) in this turn.
 * Fills st (counts, problems); -1 on error. */
int queue_store_check(queue_store_t *self, bool repair, queue_store_stats_t *st);
/* Sizes and counters, cheap (no scan). */
void queue_store_stats(queue_store_t *self, queue_store_stats_t *st);

#endif
