/* queue_worker — the process "nemomq: queue N" around queue_session (the
 * in-memory queues and their rules) and queue_store (LMDB).
 *
 *   queue_main.c   the role: store, shard, sockets, the loop turn
 *   queue_ops.c    ATTACH / DETACH / APPEND / ACK, and what a turn sends
 *   queue_move.c   sessions moving between nodes: CLAIM, HANDOFF, SESSION
 *
 * A loop turn: apply what the acceptors sent (attaches, appends, acks) to the
 * shard, noting which online sessions changed; then in tick take the packets
 * those sessions may send now, commit the store once (group commit), and only
 * then send DELIVER/PUBREL ops and the publishers' APPENDED, so nothing leaves
 * the worker that a crash could take back.
 */
#ifndef QUEUE_WORKER_H
#define QUEUE_WORKER_H

#include <stdbool.h>
#include <stdint.h>

#include "broker.pb-c.h"
#include "control.pb-c.h"
#include "nmq_batch.h"
#include "nmq_config.h"
#include "nmq_hashmap.h"
#include "nmq_worker.h"
#include "queue_session.h"
#include "queue_store.h"

#define QUEUE_MAX_PEERS 256

/* An acceptor we talk to, and the batch of this turn for it. */
typedef struct queue_peer {
    char id[64];
    size_t id_len;
    int64_t last_seen_ms;
    nmq_batch_t *out;
    bool gone;                 /* its process exited: what is for it is dropped */
    uint32_t gen;              /* bumped when the slot is given to another acceptor */
} queue_peer_t;

/* An MQTT 5 will held for its delay; dropped when its session resumes. */
typedef struct queue_will {
    int64_t due_ms;
    uint8_t *msg;              /* packed nmq.Msg */
    size_t msg_len;
    uint8_t *payload;
    size_t payload_len;
    struct queue_will *next;
    char client_id[];
} queue_will_t;

/* Where an online client is: its acceptor and connection. */
typedef struct queue_attach {
    queue_peer_t *peer;
    uint64_t conn;
    bool dirty;                /* on the dirty list */
    char *username;            /* for session show */
    char *peer_addr;           /* in the same block, after client_id */
    uint8_t level;
    int64_t last_ack_ms;       /* 3.1.x retry: no ack for retry_interval -> resend */
    char client_id[];
} queue_attach_t;

typedef struct queue_worker {
    nmq_worker_t *w;
    const nmq_config_t *cfg;
    int slot;
    queue_store_t *store;
    queue_shard_t *shard;
    void *router;
    bool blocked;              /* an acceptor's pipe is full: the ROUTER is not read */
    size_t backlog;            /* packets to send: what the last flush left, plus
                                * entries appended since (queue_ops_backlogged) */
    void *meta;
    nmq_batch_t *meta_out;
    nmq_batch_in_t *in;
    queue_peer_t peers[QUEUE_MAX_PEERS];
    int npeers;
    nmq_hashmap_t *attached;   /* client id -> queue_attach_t */
    queue_attach_t **dirty;
    size_t ndirty, cap_dirty;
    int64_t next_expiry_ms;
    queue_will_t *wills;
    void *cluster;             /* DEALER to cluster.sock: sessions to and from other nodes */
    nmq_batch_t *cluster_out;  /* APPENDED for other nodes' publishers, after the commit */
    struct queue_claim *claims;   /* ATTACHes waiting for a session from elsewhere */
    uint64_t moved_in, moved_out;
    struct queue_pace *paced;  /* sessions with publishers' APPENDED parked (queue_pace.c) */
    size_t npaced, cap_paced;
    uint64_t c_paced;          /* APPENDED answers that were parked */
} queue_worker_t;

int64_t queue_now_ms(void);
/* queue_main.c: stop (or resume) reading what acceptors send, while a batch
 * for one of them waits for room. */
void queue_block(queue_worker_t *q, bool blocked);
queue_peer_t *queue_ops_peer(queue_worker_t *q, const char *id, size_t len);
/* ATTACH: the session, created or resumed, is the connection's. */
void queue_ops_attach(queue_worker_t *q, queue_peer_t *peer, const Nmq__Op *op);
void queue_ops_detach(queue_worker_t *q, const char *client);
Nmq__ConnRef *queue_ops_conn(nmq_batch_t *b, const queue_attach_t *at);
/* An APPEND's message as the store takes it (the payload stays in its frame). */
queue_store_msg_t queue_ops_store_msg(const nmq_batch_in_t *in, const Nmq__Msg *m);

/* queue_pace.c */
/* The APPENDED of publisher conn's request req, into peer's batch (NULL: the
 * cluster worker's, for a publisher on another node). */
void queue_pace_appended(queue_worker_t *q, queue_peer_t *peer, uint64_t req, uint64_t conn);
/* After an append: park that APPENDED on target t's session (online as at)
 * if it is too far behind and keeps up; true if parked. */
bool queue_pace_park(queue_worker_t *q, const queue_target_t *t, queue_attach_t *at, queue_peer_t *peer,
                     uint64_t req, uint64_t conn);
/* Each turn, after the deliveries: release what waits on sessions that
 * caught up or stalled. */
void queue_pace_turn(queue_worker_t *q, int64_t now_ms);
/* The session goes offline: its publishers go free. */
void queue_pace_detach(queue_worker_t *q, const queue_attach_t *at);
/* The worker stops: everything parked is answered, the table freed. */
void queue_pace_stop(queue_worker_t *q);

/* queue_move.c */
/* An ATTACH with no session here: ask meta whether it lives elsewhere and
 * hold the ATTACH; false when there is no asking (the caller attaches). */
bool queue_move_claim(queue_worker_t *q, queue_peer_t *peer, const Nmq__Op *op);
void queue_move_claimed(queue_worker_t *q, const nmq_batch_in_t *in, const Nmq__Op *op);
void queue_move_handoff(queue_worker_t *q, const nmq_batch_in_t *in, const Nmq__Op *op);
void queue_move_session_msg(queue_worker_t *q, const nmq_batch_in_t *in, const Nmq__Op *op);
void queue_move_session(queue_worker_t *q, const nmq_batch_in_t *in, const Nmq__Op *op);
void queue_move_migrate(queue_worker_t *q, const nmq_batch_in_t *in, const Nmq__Op *op);
/* Held ATTACHes whose answer is late go ahead without; HELLO to the cluster
 * worker; a leave's next sessions.  ms until it wants to run again. */
int queue_move_tick(queue_worker_t *q, int64_t now);
void queue_move_stop(queue_worker_t *q);
void queue_ops_dispatch(queue_worker_t *q, const nmq_batch_in_t *in);
/* The turn's end: deliveries, commit, send.  True when sessions still have
 * packets to send (their budget ran out): call again soon. */
bool queue_ops_flush(queue_worker_t *q);
/* Too much to send to take more from acceptors (QUEUE_BACKLOG_MAX). */
bool queue_ops_backlogged(const queue_worker_t *q);
void queue_ops_expire(queue_worker_t *q, int64_t now_ms);
/* MQTT 3.1.x: resend what a client left unacknowledged for retry_interval. */
void queue_ops_retry(queue_worker_t *q, int64_t now_ms);
/* Send the delayed wills that are due (ROUTE to the most recent acceptor). */
void queue_ops_wills(queue_worker_t *q, int64_t now_ms, bool all);
/* A QUERY from the supervisor: "sessions", "disconnect CLIENT [cleanup]". */
void queue_ops_query(queue_worker_t *q, const struct Nmq__Ctl *msg);

#endif
