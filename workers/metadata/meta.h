/* meta — the metadata worker ("nemomq: metadata"): the node's subscriptions
 * and retained messages, authoritative, in LMDB, and the source of every
 * acceptor's routing replica.
 *
 *   metadata_main.c  the role: sockets, the op table, the loop turn
 *   meta_store.c     LMDB: subscriptions, retained messages, the delta sequence
 *   meta_ops.c       SUBSCRIBE / UNSUBSCRIBE / RETAIN / SNAPSHOT / APPLIED
 *   meta_repl.c      the same metadata on every node of the cluster: records
 *                    with version vectors, anti-entropy, takeover hand-offs
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
#define META_MAX_PEERS 64
#define META_REPL_BUCKETS 256
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

/* Another node, as the cluster worker reports it (NODES). */
typedef struct meta_peer {
    char name[NMQ_CONF_STR_MAX];
    bool running, member;
    int64_t matched_ms[META_REPL_BUCKETS];   /* when its digest last matched ours, per bucket */
} meta_peer_t;

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
    MDB_dbi db_subs, db_retain, db_info, db_repl;
    MDB_txn *txn;                /* this turn's write transaction, NULL if none */
    /* the cluster (meta_repl.c) */
    const char *self;            /* nodename */
    void *cluster;               /* DEALER to cluster.sock */
    struct nmq_hashmap *recs;    /* kind + key -> meta_rec_t */
    uint64_t buckets[META_REPL_BUCKETS];
    nmq_batch_t *repl_out;       /* this turn's REPL ops for every running peer */
    struct Nmq__Record **owned;  /* what repl_out's ops point to, freed once sent */
    size_t nowned, cap_owned;
    meta_peer_t peers[META_MAX_PEERS];
    int npeers;
    char queues[64][64];         /* queue workers' routing ids, by slot (HANDOFF) */
    int64_t next_ae_ms, next_hello_ms;
    uint64_t repl_in, repl_applied, handoffs;
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

void meta_store_put_record(meta_t *m, const char *key, const uint8_t *data, size_t len);
void meta_store_del_record(meta_t *m, const char *key);
/* fn for every stored record; how many it took (returned 0). */
int meta_store_records(meta_t *m, int (*fn)(meta_t *m, const uint8_t *data, size_t len));

/* meta_ops.c */
/* A delta for the acceptors' feed (node: a remote subscriber's node, NULL here). */
Nmq__Op *meta_delta(meta_t *m, const char *client, bool remove, size_t nsubs, const char *node);
Nmq__Subscription *meta_sub_copy(nmq_batch_t *b, const Nmq__Subscription *from);
nmq_trie_entry_t meta_entry(const char *client, const Nmq__Subscription *s);
void meta_dispatch(meta_t *m, const nmq_batch_in_t *in);
void meta_release_replies(meta_t *m, int64_t now_ms, bool force);
int64_t meta_now_ms(void);

/* meta_repl.c */
int meta_repl_start(meta_t *m);
void meta_repl_stop(meta_t *m);
/* The client's subscriptions here changed: its record follows. */
void meta_repl_local_subs(meta_t *m, const char *client);
/* The client's session here is gone (clean start, expiry, cleanup). */
void meta_repl_session_gone(meta_t *m, const char *client);
/* A retained message set (r) or cleared (NULL) here. */
void meta_repl_local_retained(meta_t *m, const char *topic, const meta_retained_t *r);
/* Remote subscribers for a snapshot, with their nodes. */
void meta_repl_snapshot(meta_t *m, nmq_batch_t *b);
/* Op handlers: REPL, DIGEST, NODES, CLAIM. */
void meta_repl_op(meta_t *m, const nmq_batch_in_t *in, const Nmq__Op *op);
/* Send the turn's replication; anti-entropy and tombstones on their timers.
 * ms until it wants to run again. */
int meta_repl_tick(meta_t *m, int64_t now);
/* by_client (client id -> nmq_strbuf_t of "filter:qos,..."): add the clients
 * whose session is on another node; remote: client id -> that node (ours). */
void meta_repl_remote_sessions(meta_t *m, struct nmq_hashmap *by_client, struct nmq_hashmap *remote);
/* One subscription into by_client's strbuf of its client (metadata_main.c). */
int meta_subs_row(const nmq_trie_entry_t *e, void *arg);
/* A queue worker spoke: remember its routing id. */
void meta_repl_queue_seen(meta_t *m, const nmq_batch_in_t *in);

#endif
