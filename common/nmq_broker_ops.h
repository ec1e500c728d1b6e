/* nmq_broker_ops — the operations of proto/broker.proto and who sends them.
 *
 * Every Op in a Batch names one of these.  A receiver looks the op up in its
 * own handler table; an op that does not belong on its socket is logged and
 * dropped (garbage from inside is a bug to see, not to obey).
 *
 * Endpoints (all in the node's run directory, see broker_endpoint()):
 *   queue.<N>.sock  queue worker N: ROUTER.  Acceptors connect a DEALER with
 *                   routing id "a<slot>.<pid>"; the metadata worker "m.<pid>".
 *   meta.sock       metadata worker: ROUTER.  Acceptors and queue workers
 *                   connect a DEALER ("a<slot>.<pid>", "q<slot>.<pid>").
 *   meta-pub.sock   metadata worker: PUB of routing-table deltas.
 *
 * The flows (client X, its queue in shard hash(X) % queue_shards):
 *
 * CONNECT   acceptor -> queue(X)  ATTACH {client_id, conn, clean_start,
 *           session_expiry, receive_max, level, username, peer}
 *           queue(X) -> acceptor  ATTACHED {conn, session_present}, then
 *           (not for a clean start: it had its CONNACK at once)
 *           DELIVER/PUBREL for what is pending.  If X was attached to another
 *           connection: queue(X) -> that acceptor KICK {conn, reason 0x8E} first.
 *           clean_start: the old session and its queue are dropped, and
 *           queue(X) -> meta UNSUBSCRIBE_ALL {client_id}.
 * PUBLISH   acceptor matches its routing replica, then per shard:
 *           acceptor -> queue(S)  APPEND {msg, recipients[]} + payload frame
 *           queue(S) -> acceptor  APPENDED {req} after its group commit; a QoS 1/2
 *           publisher gets PUBACK/PUBREC once every shard it went to answered.
 *           retain flag: acceptor -> meta RETAIN {msg} (+ payload; empty = clear).
 * DELIVERY  queue(X) -> acceptor  DELIVER {conn, msg, packet_id, dup, qos,
 *           sub_ids, remaining_expiry} + payload;  PUBREL {conn, packet_id}
 *           acceptor -> queue(X)  ACK {client_id, packet_id, ack_type}; a
 *           PUBACK/PUBCOMP that frees no window the queue worker may wait on
 *           (broker_delivery_window) waits up to ACC_ACK_DELAY_MS for other
 *           ops to queue(X), so acks do not make a batch of their own each.
 * SUBSCRIBE acceptor -> meta  SUBSCRIBE {req, client_id, subs[]}
 *           meta -> every acceptor (PUB)  DELTA {seq, client_id, subs[], remove}
 *           meta -> acceptor  RETAINED {req, msg} + payload for each retained
 *           message to deliver, then SUBSCRIBED {req, codes[]}, once every live
 *           acceptor has APPLIED seq (so a PUBLISH on any acceptor after the
 *           SUBACK is routed to the new subscriber).
 *           The acceptor sends SUBACK, then APPENDs the retained messages to
 *           queue(X) for X alone.
 * UNSUBSCRIBE  the same with UNSUBSCRIBE / UNSUBSCRIBED.
 * DISCONNECT / close  acceptor -> queue(X)  DETACH {client_id, conn, session_expiry}
 *           An MQTT 5 will with a delay rides on the DETACH {msg, will_delay} +
 *           payload: the queue worker holds it, drops it if the session resumes
 *           first, and when it is due sends ROUTE {client_id, msg} + payload to
 *           an acceptor, which routes it like a PUBLISH.
 * LIVENESS  acceptor -> queue(N)  HELLO {} every second; the answer HELLO {seq}
 *           carries the queue worker's epoch (its pid).  A new epoch means the
 *           worker restarted and knows none of this acceptor's connections: the
 *           acceptor disconnects the clients of that shard (0x89, no will), and
 *           the publishers still waiting for it, and they come back and resume.
 *           Every APPEND carries the epoch its acceptor knows: a restarted worker
 *           refuses an APPEND routed in its predecessor's time (answering HELLO
 *           at once instead), so nothing a publisher is about to resend can be
 *           overtaken by what it sent after it: per-publisher order survives.
 * PRESENCE  queue(X) -> meta  PRESENCE {client_id, online} on attach and detach,
 *           PRESENCE_RESET {shard, shards} when a queue worker starts.  The
 *           metadata worker keeps who is online and tells the acceptors (as
 *           sequenced deltas, and in snapshots) about the members of shared
 *           subscriptions only: what a $share pick needs to prefer online members.
 * CLUSTER   every batch a worker sends to the cluster worker (cluster.sock,
 *           ROUTER; DEALERs "a<slot>.<pid>", "m.<pid>", "q<slot>.<pid>") is for
 *           one node, named in its first op's `node` ("" = every running peer),
 *           and travels as one ClusterMsg BROKER (cluster_bridge.c):
 *           FORWARD   a PUBLISH with its recipients on that node: its cluster
 *                     worker APPENDs to its own queue workers;
 *           REPL, DIGEST  metadata replication and anti-entropy between
 *                     metadata workers (meta_repl.c); NODES tells the metadata
 *                     worker who is up;
 *           SESSION_MSG.., SESSION  a session moving to another node
 *                     (takeover: meta HANDOFF -> queue -> new node's queue).
 *           A queue worker ATTACHing a client with no session here CLAIMs it
 *           from meta first; CLAIMED names the node that held it, whose
 *           session the queue worker waits for before ATTACHED.
 * LEAVE     `cluster leave` of a live node (seed 000 case A): its cluster
 *           worker says LEAVE to its acceptors (stop listening; -k: disconnect
 *           the clients) and to the migration worker, which has the queue
 *           workers MIGRATE their sessions to the other nodes round robin,
 *           logs their PROGRESS every -i seconds, forces the online ones after
 *           -t, and says LEFT: the node leaves the membership and stops.
 * REPLICA   acceptor -> meta  SNAPSHOT {}; meta -> acceptor SNAPSHOT {seq, ...}
 *           in as many Batches as it takes, the last with SNAPSHOT_END; the
 *           acceptor applies DELTAs with a higher seq, and asks again on a gap.
 *           acceptor -> meta  APPLIED {seq} after each batch of deltas.
 */
#ifndef NMQ_BROKER_OPS_H
#define NMQ_BROKER_OPS_H

#include <stddef.h>
#include <stdint.h>

typedef enum {
    BROKER_OP_ATTACH = 1,
    BROKER_OP_ATTACHED,
    BROKER_OP_KICK,
    BROKER_OP_DETACH,
    BROKER_OP_APPEND,
    BROKER_OP_APPENDED,
    BROKER_OP_DELIVER,
    BROKER_OP_PUBREL,
    BROKER_OP_ACK,
    BROKER_OP_RETAIN,
    BROKER_OP_SUBSCRIBE,
    BROKER_OP_SUBSCRIBED,
    BROKER_OP_UNSUBSCRIBE,
    BROKER_OP_UNSUBSCRIBED,
    BROKER_OP_UNSUBSCRIBE_ALL,
    BROKER_OP_DELTA,
    BROKER_OP_SNAPSHOT,
    BROKER_OP_SNAPSHOT_END,
    BROKER_OP_APPLIED,
    BROKER_OP_RETAINED,        /* meta -> acceptor, before SUBSCRIBED: a retained msg to deliver */
    BROKER_OP_HELLO,           /* acceptor -> queue every second; queue -> acceptor {seq: its epoch} */
    BROKER_OP_ROUTE,           /* queue -> acceptor: a delayed will that is due, to route {client_id, msg} */
    BROKER_OP_PRESENCE,        /* queue -> meta, meta -> acceptors (delta): {client_id, online} */
    BROKER_OP_PRESENCE_RESET,  /* queue -> meta at start: {shard, shards}: its clients are offline */
    BROKER_OP_FORWARD,         /* acceptor -> cluster -> node: {node, msg, recipients} */
    BROKER_OP_REPL,            /* meta -> cluster -> meta of node(s): {node, origin, rec} */
    BROKER_OP_DIGEST,          /* meta -> cluster -> meta of node: {node, origin, digest} */
    BROKER_OP_NODES,           /* cluster -> meta: {nodes running, members} */
    BROKER_OP_CLAIM,           /* queue -> meta: {client_id}: does its session live elsewhere? */
    BROKER_OP_CLAIMED,         /* meta -> queue: {client_id, node: where it was, "" nowhere else} */
    BROKER_OP_HANDOFF,         /* meta -> queue: {client_id, node}: the session moved there */
    BROKER_OP_SESSION_MSG,     /* queue -> cluster -> queue of node: one message of a moved session */
    BROKER_OP_SESSION,         /* ... its end: {node, origin, client_id, level, session_expiry, remove: none} */
    BROKER_OP_LEAVE,           /* cluster -> migration, acceptors: this node leaves {kill, interval, timeout, nodes} */
    BROKER_OP_MIGRATE,         /* migration -> queue: send every session to {nodes} round robin {force} */
    BROKER_OP_PROGRESS,        /* queue -> migration: {shard, moved, left} */
    BROKER_OP_LEFT,            /* migration -> cluster: every queue moved: leave the cluster, stop */
    BROKER_OP_MAX
} broker_op_t;

#define BROKER_SESSION_NEVER_EXPIRES 0xFFFFFFFFu

/* The queue shard of a client id: FNV-1a, the same in every process. */
static inline int broker_shard_of(const char *client_id, size_t len, int nshards)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < len; i++)
        h = (h ^ (uint8_t)client_id[i]) * 1099511628211ull;
    return nshards > 0 ? (int)(h % (uint64_t)nshards) : 0;
}

/* QoS 1/2 deliveries a client may have unacknowledged: its receive maximum
 * (0: none given), max_inflight_messages (0: no limit) and, for 5.0,
 * receive_max_broker.  The queue worker sends no more; the acceptor sends
 * an ack at once only when its client's window may be what holds it back. */
static inline size_t broker_delivery_window(uint32_t receive_max, int max_inflight, int receive_max_broker,
                                            int level)
{
    size_t w = receive_max ? receive_max : 65535;
    if (max_inflight > 0 && (size_t)max_inflight < w)
        w = (size_t)max_inflight;
    if (level == 5 && receive_max_broker > 0 && (size_t)receive_max_broker < w)
        w = (size_t)receive_max_broker;
    return w;
}

#endif
