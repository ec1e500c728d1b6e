/* meta — the metadata worker ("nemomq: metadata"): the node's subscriptions
 * and retained messages, authoritative, in LMDB, and the source of every
 * acceptor's routing replica.
 *
 *   metadata_main.c  the role: sockets, the op table, the loop turn
 *   meta_store.c     LMDB: subscriptions, retained messages, the delta sequence
 *   meta_ops.c       SUBSCRIBE / UNSUBSCRIBE / RETAIN / SNAPSHOT / APPLIED
 *
 * A loop turn: handle incoming ops (changes go into one LMDB write
 * transaction and onto the delta batch), then in tick commit once, publish the
 * deltas, and release the replies whose deltas every live acceptor applied.
 */
#ifndef META_H
#define META_H

#include <stdbool.h>
#include <stdint.h>
#include <lmdb.h>

#include "broker.pb-c.h"
#include "nmq_batch.h"
#include "nmq_config.h"
#include "nmq_topic_index.h"
#include "nmq_topic_trie.h"
#include "nmq_worker.h"

#define META_MAX_ACCEPTORS 256
#define META_REPLY_WAIT_MS 1000

typedef struct meta_acceptor {
    char id[64];
    size_t id_len;
    uint64_t applied;
    int64_t last_seen_ms;
} meta_acceptor_t;

/* A reply held until every live acceptor has applied its delta. */
typedef struct meta_reply {
    char id[64];
    size_t id_len;
    uint64_t seq;
    int64_t deadline_ms;
    nmq_batch_t *batch;
    struct meta_reply *next;
} meta_reply_t;

typedef struct meta {
    nmq_worker_t *w;
    const nmq_config_t *cfg;
    void *router, *pub;
    nmq_batch_in_t *in;
    nmq_batch_t *deltas;
    nmq_batch_t *direct;         /* replies that wait for nothing (SNAPSHOT) */
    char direct_to[64];
    size_t direct_to_len;
    nmq_trie_t *subs;
    nmq_tindex_t *retained;      /* topic -> meta_retained_t* */
    struct nmq_hashmap *online;  /* client id -> (void *)1 while attached somewhere */
    uint64_t seq;
    meta_acceptor_t acceptors[META_MAX_ACCEPTORS];
    int nacceptors;
    meta_reply_t *replies, **replies_tail;
    /* LMDB */
    MDB_env *env;
    MDB_dbi db_subs, db_retain, db_info;
    MDB_txn *txn;                /* this turn's write transaction, NULL if none */
} meta_t;

/* A retained message as kept in memory: the packed Msg, then the payload. */
typedef struct meta_retained {
    uint32_t msg_len;
    uint32_t payload_len;
    uint8_t data[];
} meta_retained_t;

/* meta_store.c */
int meta_store_open(meta_t *m);
void meta_store_close(meta_t *m);
MDB_txn *meta_store_txn(meta_t *m);
void meta_store_commit(meta_t *m);
void meta_store_put_sub(meta_t *m, const char *client, const nmq_trie_entry_t *e);
void meta_store_del_sub(meta_t *m, const char *client, const nmq_trie_entry_t *e);
void meta_store_put_retained(meta_t *m, const char *topic, const meta_retained_t *r);
void meta_store_del_retained(meta_t *m, const char *topic);
void meta_store_put_seq(meta_t *m);
/* Fill m->subs, m->retained and m->seq from disk. */
int meta_store_load(meta_t *m);
meta_retained_t *meta_retained_new(const uint8_t *msg, uint32_t msg_len, const uint8_t *payload,
                                   uint32_t payload_len);

/* meta_ops.c */
void meta_dispatch(meta_t *m, const nmq_batch_in_t *in);
void meta_release_replies(meta_t *m, int64_t now_ms, bool force);
int64_t meta_now_ms(void);

#endif
