/* queue_session — the in-memory queues of one queue worker and their delivery
 * logic: what goes out next to which client, under which packet id, and what
 * an acknowledgement releases.  Pure: no sockets, no clock (time is passed in,
 * ms since the epoch), so every rule is unit-tested.
 *
 * A shard holds the sessions of the client ids that hash to this worker.  A
 * session is online (attached to a connection) or offline; it is durable when
 * it has to outlive its connection, and then every QoS 1/2 entry, packet id and
 * PUBREL-pending id is also written to queue_store in the turn that changed it.
 * Clean sessions live in memory only.
 *
 * Messages are shared: one queue_msg_t per published message and worker,
 * referenced by the entries of every client it went to, like their store
 * record.  An offline durable session keeps only message ids ("compressed",
 * as VerneMQ does); bodies are read back from the store on delivery.
 *
 * The rules, VerneMQ's unless said otherwise:
 * - Delivered QoS = min(published, granted), or granted with upgrade_outgoing_qos.
 * - QoS 0 is never kept for an offline client: appended while offline it is
 *   counted as unhandled, queued at disconnect it is dropped.
 * - max_online_messages counts the entries waiting behind the window (any QoS);
 *   max_offline_messages counts an offline queue's entries, all QoS 1/2 (-1 no
 *   limit, 0 keep none).  Over the limit fifo drops the new message, lifo the
 *   oldest not yet sent.  A backlog larger than the online limit is not cut at
 *   reconnect: new messages are dropped until it drains below the limit.
 * - The window is min(max_inflight_messages (0 = none), and for MQTT 5 the
 *   client's Receive Maximum and receive_max_broker), and counts QoS 1/2 sent and
 *   not yet PUBACKed or PUBCOMPed (PUBREL-pending ids count, as in MQTT 5).
 *   Delivery keeps queue order: a QoS 0 message waits behind a QoS 1 one the
 *   window holds back.  lifo delivers newest first.
 * - Packet ids run 1..65535 and wrap, skipping ids in use; an id stays with its
 *   message across reconnects and worker restarts.
 * - At attach: every message in flight again, in order, DUP=1, same ids; then
 *   the PUBRELs pending; then the queue.
 * - Message expiry: an entry whose message expired before its first send is
 *   dropped when its turn comes (queue_message_expired); once sent it is sent
 *   again on reconnect whatever its age (MQTT 5: delivery has started).
 *
 * The worker's loop around it: feed a turn's appends, acks, connects and
 * disconnects; call queue_session_next() for the online sessions that changed;
 * queue_store_commit(); and only then send the PUBLISH/PUBREL packets and the
 * publishers' confirmations, so nothing leaves the worker that a crash could
 * take back.
 */
#ifndef QUEUE_SESSION_H
#define QUEUE_SESSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "nmq_config.h"
#include "queue_store.h"

typedef struct queue_shard queue_shard_t;
typedef struct queue_session queue_session_t;

/* The limits of nmq_config_t that concern queues; all live (set_limits). */
typedef struct {
    int max_inflight;                     /* max_inflight_messages: 0 = unlimited */
    int receive_max_broker;               /* cap on an MQTT 5 window */
    int max_online;                       /* max_online_messages: -1 = unlimited */
    int max_offline;                      /* max_offline_messages: -1 = unlimited, 0 = none */
    bool lifo;                            /* queue_type = lifo */
    bool upgrade_qos;                     /* upgrade_outgoing_qos */
    int64_t persistent_client_expiration; /* seconds; 0 = never (MQTT 3.1.x sessions) */
} queue_limits_t;

void queue_limits_from_config(queue_limits_t *lim, const nmq_config_t *cfg);

/* The queue metrics, VerneMQ's names without the prefix. */
typedef struct {
    uint64_t message_in;          /* entries appended (one per client) */
    uint64_t message_out;         /* entries sent the first time */
    uint64_t message_drop;        /* over a limit, or QoS 0 left at disconnect */
    uint64_t message_expired;     /* expired before their first send */
    uint64_t message_unhandled;   /* QoS 0 for an offline client */
} queue_counters_t;

/* One published message, shared by every entry that delivers it; read-only
 * to callers. */
typedef struct queue_msg {
    uint64_t id;
    uint32_t refs;                /* in memory: entries holding it */
    uint8_t qos;                  /* as published */
    bool retain;                  /* as published */
    int64_t published_at, expiry_at;
    const char *topic;
    size_t topic_len;
    const void *payload;
    size_t payload_len;
    const void *props;            /* MQTT 5 property blob, opaque */
    size_t props_len;
} queue_msg_t;

/* One client of a PUBLISH, as the acceptor's match found it. */
typedef struct {
    const char *client_id;
    uint8_t qos;                  /* granted by the subscription(s) */
    bool retain;                  /* the retain flag to deliver with */
    uint16_t n_sub_ids;
    const uint32_t *sub_ids;      /* MQTT 5 subscription identifiers */
    int result;                   /* out: queue_append_result_t */
    size_t queued;                /* out: APPENDED: entries now waiting behind its window */
} queue_target_t;

typedef enum {
    QUEUE_APPENDED = 0,
    QUEUE_DROPPED,                /* over max_online/max_offline (fifo), or max_offline 0 */
    QUEUE_UNHANDLED,              /* QoS 0 for an offline client */
    QUEUE_NO_SESSION              /* no such client in this worker */
} queue_append_result_t;

/* CONNECT as the queue sees it. */
typedef struct {
    uint8_t proto;                /* 3, 4, 5 */
    bool clean_start;             /* discard any previous session */
    bool persistent;              /* outlives the connection: 3.1.x clean_session=0,
                                     5.0 session expiry interval > 0 */
    uint32_t expiry_interval;     /* 5.0 seconds; QUEUE_STORE_NEVER */
    uint16_t receive_max;         /* 5.0 Receive Maximum; 0 = absent (65535) */
} queue_connect_t;

typedef enum { QUEUE_OUT_PUBLISH = 1, QUEUE_OUT_PUBREL } queue_out_kind_t;

/* One packet to send.  Its pointers stay valid until the next call into the
 * shard. */
typedef struct {
    queue_out_kind_t kind;
    uint16_t packet_id;           /* 0 for QoS 0 */
    uint8_t qos;
    bool dup;
    bool retain;
    const queue_msg_t *msg;       /* PUBLISH: topic, payload, properties */
    uint16_t n_sub_ids;
    const uint32_t *sub_ids;
    int64_t expiry_left;          /* seconds for Message Expiry Interval (rounded
                                     up, 0 if past); -1: the message has none */
} queue_out_t;

typedef enum {
    QUEUE_ACK_OK = 0,
    QUEUE_ACK_UNKNOWN = 1         /* no such id in that state: count *_invalid_error */
} queue_ack_result_t;

typedef struct {
    bool online, persistent, durable;
    uint8_t proto;
    size_t queued;                /* waiting to be sent */
    size_t inflight;              /* sent, not acknowledged */
    size_t pubrels;               /* PUBREC received, PUBCOMP not yet */
    int64_t disconnected_at;
    uint32_t expiry_interval;     /* 5.0 seconds */
} queue_session_info_t;

/* A shard over store (NULL: memory only).  Every session found in the store is
 * loaded offline, its entries in order, its in-flight ids kept.  NULL with
 * err set if the store cannot be read. */
queue_shard_t *queue_shard_new(const queue_limits_t *lim, queue_store_t *store, int64_t now,
                               char *err, size_t errlen);
/* Frees the memory; the store is the caller's. */
void queue_shard_destroy(queue_shard_t **self_p);
void queue_shard_set_limits(queue_shard_t *self, const queue_limits_t *lim);
const queue_counters_t *queue_shard_counters(const queue_shard_t *self);
size_t queue_shard_size(const queue_shard_t *self);
/* Messages held in memory (bodies), for tests and `metrics`. */
size_t queue_shard_messages(const queue_shard_t *self);
queue_session_t *queue_shard_find(queue_shard_t *self, const char *client_id);
/* Every session; fn may not add or delete sessions. */
void queue_shard_each(queue_shard_t *self, void (*fn)(queue_session_t *s, void *arg), void *arg);

/* CONNECT: the session for client_id, created or resumed (present says which),
 * attached to the new connection; a previous connection's packets in flight
 * are to be sent again.  NULL only on a store error. */
queue_session_t *queue_shard_connect(queue_shard_t *self, const char *client_id,
                                     const queue_connect_t *c, int64_t now, bool *present);
/* The connection is gone.  expiry_interval: the MQTT 5 DISCONNECT's new value,
 * or -1.  A session that does not persist is deleted: 1 (the pointer is dead),
 * else 0; -1 on a store error. */
int queue_shard_disconnect(queue_shard_t *self, queue_session_t *s, int64_t now,
                           int64_t expiry_interval);
/* Delete a session (admin cleanup, expiry): store and memory.  0 or -1. */
int queue_shard_delete(queue_shard_t *self, queue_session_t *s);

/* Append one message for the targets (distinct client ids of this worker).
 * Each target's result is set.  Returns how many were appended, or -1 on a
 * store error, in which case nothing of the call was applied. */
int queue_shard_append(queue_shard_t *self, const queue_store_msg_t *msg, queue_target_t *targets,
                       int n, int64_t now);

/* The next packet for an online session: 1 and out filled, 0 nothing to send
 * now (empty, or the window is full), -1 on a store error. */
int queue_session_next(queue_shard_t *self, queue_session_t *s, int64_t now, queue_out_t *out);
/* Entries waiting to be sent (beyond the in-flight window). */
size_t queue_session_queued(const queue_session_t *s);
/* Send every message in flight and every PUBREL again (MQTT 3.1.x retry after
 * retry_interval); attach does this itself. */
void queue_session_resend(queue_shard_t *self, queue_session_t *s);

/* Acknowledgements from the client.  PUBREC with a reason code of 0x80 or more
 * ends the exchange (no PUBREL).  QUEUE_ACK_OK, QUEUE_ACK_UNKNOWN, or -1. */
int queue_session_puback(queue_shard_t *self, queue_session_t *s, uint16_t packet_id);
int queue_session_pubrec(queue_shard_t *self, queue_session_t *s, uint16_t packet_id, uint8_t reason);
int queue_session_pubcomp(queue_shard_t *self, queue_session_t *s, uint16_t packet_id);

/* Session expiry: 3.1.x by persistent_client_expiration, 5.0 by the session's
 * interval.  An online session never expires; an offline one that does not
 * persist has. */
bool queue_session_expired(const queue_shard_t *self, const queue_session_t *s, int64_t now);
/* Delete every session expired at now, calling fn first for each (to drop its
 * subscriptions).  The number deleted, or -1 on a store error. */
int queue_shard_expire(queue_shard_t *self, int64_t now,
                       void (*fn)(const char *client_id, void *arg), void *arg);

/* Moving a session to another node (takeover, leave): every message it holds,
 * in flight first (sent on this node: inflight is true), then the queue, in
 * order.  The caller deletes the session afterwards.  0 or -1. */
typedef void (*queue_export_fn)(void *arg, const queue_store_msg_t *msg, uint8_t qos, bool retain,
                                uint16_t n_sub_ids, const uint32_t *sub_ids, bool inflight);
int queue_session_export(queue_shard_t *self, queue_session_t *s, queue_export_fn fn, void *arg);
/* One message of a moved session into s (queue_shard_connect made it): as
 * appended, or, when it was in flight on the old node, in flight here with an
 * id of its own, so that it goes out again with DUP (call
 * queue_session_resend once all are in).  1 taken, 0 dropped (limits), -1. */
int queue_session_import(queue_shard_t *self, queue_session_t *s, const queue_store_msg_t *msg, uint8_t qos,
                         bool retain, uint16_t n_sub_ids, const uint32_t *sub_ids, bool inflight, int64_t now);

const char *queue_session_client_id(const queue_session_t *s);
void queue_session_info(const queue_session_t *s, queue_session_info_t *info);

#endif
