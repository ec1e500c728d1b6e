/* acceptor — the state one acceptor process shares between its files.
 *
 *   acceptor_main.c     the role: start, reload, stop, tick
 *   acceptor_net.c      epoll, accept, read, batched writes, backpressure, close
 *   acceptor_session.c  the MQTT session state machine, one handler per packet type
 *   acceptor_links.c    DEALERs to the queue workers and the metadata worker,
 *                       batched per destination per loop turn; incoming ops
 *   acceptor_routes.c   the routing replica (snapshot + deltas) and PUBLISH fan-out
 *   acceptor_remote.c   subscribers on other nodes: their tries, FORWARD, $share picks
 *   acceptor_auth.c     allow_anonymous, vmq_passwd, vmq_acl
 *
 * A connection's memory is kept small while it is idle (read and write buffers
 * are allocated while there is something in them), so an acceptor holds tens
 * of thousands of idle clients cheaply.
 */
#ifndef ACCEPTOR_H
#define ACCEPTOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "broker.pb-c.h"
#include "control.pb-c.h"
#include "nmq_batch.h"
#include "nmq_config.h"
#include "nmq_mqtt.h"
#include "nmq_topic_trie.h"
#include "nmq_worker.h"

#define ACC_MAX_LISTEN 16
#define ACC_MAX_SHARDS 64
#define ACC_READ_CHUNK 16384
#define ACC_WBUF_HIGH (4u << 20)     /* stop reading a client whose output backs up */
/* Batches that may wait in each direction of the pipe to one queue worker
 * (with QUEUE_SEND_HWM / QUEUE_RECV_HWM on its side).  A full pipe holds this
 * acceptor's batch and stops it reading clients (acc_links_flush): a QoS 0
 * flood then waits in TCP, not in memory (fan-in 100 -> 1 QoS 0 grew to
 * 1 GiB and seconds of latency unbounded).  Subscribers' acks share the pipe
 * with the appends; a batch is at most ACC_BATCH_OPS, so an ack waits behind
 * at most 32 batches (fan-in 100 -> 1 QoS 1 measured 111k msg/s bounded). */
#define ACC_QUEUE_HWM 16
#define ACC_BATCH_OPS 1024           /* ops in one batch before it is sent mid-turn */
/* Recipients routed in one loop turn before the connections' input waits for
 * the next: a fan-out to thousands makes each PUBLISH thousands of times the
 * work of its bytes, and a turn must stay short (heartbeats, other clients). */
#define ACC_TURN_ROUTES 8192
/* A subscriber's PUBACK/PUBCOMP that frees no window the queue worker may
 * be waiting on goes out with the next batch to that worker, or after this
 * long: at 10,000 msg/s every ack made a batch, and a ZeroMQ hop through
 * four threads, of its own (a third of the broker's system calls). */
#define ACC_ACK_DELAY_MS 5
/* What a client sends behind a SUBSCRIBE or UNSUBSCRIBE waits for its
 * answer (as in VerneMQ and Mosquitto, a PUBLISH right after a SUBSCRIBE
 * is routed to the new subscription); an answer lost with a restarting
 * metadata worker holds it this long at most. */
#define ACC_SUB_WAIT_S 10

typedef enum {
    ACC_CONN_NEW,         /* waiting for CONNECT */
    ACC_CONN_ATTACHING,   /* CONNECT accepted, waiting for the queue worker */
    ACC_CONN_ONLINE,      /* CONNACK sent */
    ACC_CONN_CLOSING      /* flushing the last bytes, then close */
} acc_conn_state_t;

/* An inbound QoS 1/2 PUBLISH waiting for the queue workers' APPENDED. */
typedef struct acc_pending {
    uint64_t req;
    uint16_t packet_id;
    uint8_t qos;
    uint16_t shards_left;
    struct acc_pending *next;
} acc_pending_t;

typedef struct acc_will {
    char *topic;
    uint8_t *payload;
    uint32_t payload_len;
    uint8_t *props;
    uint32_t props_len;
    uint8_t qos, retain;
    uint32_t delay;
} acc_will_t;

/* A peer's address, compact; acc_conn_peer() spells it. */
typedef struct {
    uint8_t family;              /* AF_INET, AF_INET6, 0 unknown */
    uint16_t port;
    uint8_t addr[16];
} acc_peer_t;

typedef struct acc_conn {
    uint64_t id;                 /* (generation << 32) | fd */
    int fd;
    uint32_t ev_mask;            /* what epoll watches for it now */
    uint8_t state;               /* acc_conn_state_t */
    uint8_t level;
    bool in_dirty;               /* on the flush list */
    bool reading_paused;
    bool input_held;             /* unread packets wait in rbuf for the next turn (ACC_TURN_ROUTES) */
    bool clean_disconnect;       /* DISCONNECT 0x00: no will */
    bool attach_sent;            /* the queue worker knows this connection */
    bool assigned_id;            /* we chose the client id (5.0: say so in CONNACK) */
    bool kicked;                 /* taken over by a newer connection */
    uint16_t keep_alive;         /* seconds, as granted */
    uint16_t receive_max;        /* the client's, for the queue worker */
    uint16_t alias_max_in;       /* topic aliases the client may use towards us */
    uint16_t inflight_out;       /* QoS 1/2 deliveries not yet acked (an estimate that
                                  * errs high: resends count again) */
    uint32_t max_packet_out;     /* the client's maximum packet size, 0 none */
    uint32_t session_expiry;
    uint8_t request_problem_info;
    int64_t last_rx_ms;
    int64_t deadline_ms;         /* CONNECT timeout or keep-alive expiry */
    char *client_id;
    char *username;
    acc_peer_t peer;
    nmq_mqtt_decoder_t dec;
    uint8_t *rbuf;
    uint32_t rlen, rcap;         /* bounded by max_message_size (< 4 GiB) */
    uint8_t *wbuf;
    uint32_t wlen, wcap, woff;   /* bounded by ACC_WBUF_HIGH and one packet */
    acc_will_t *will;
    char **aliases_in;           /* [alias_max_in + 1], topic per alias */
    uint16_t alias_max_out;      /* aliases we may use towards the client */
    uint16_t alias_next;
    char **aliases_out;          /* [alias_max_out + 1] */
    struct nmq_hashmap *alias_out_map;   /* topic -> alias */
    uint16_t *qos2_in;           /* inbound QoS 2 ids between PUBREC and PUBREL */
    uint16_t nqos2_in, cap_qos2_in;
    uint32_t inflight_in;        /* QoS 1/2 PUBLISHes not yet PUBACKed / PUBCOMPed (receive maximum) */
    acc_pending_t *pending;
    uint32_t sub_wait_req;       /* SUBSCRIBE/UNSUBSCRIBE whose answer holds the input, 0 none */
    uint32_t sub_wait_s;         /* since when (acc_now_ms() / 1000) */
    struct acc_conn *next_dirty;
} acc_conn_t;

typedef struct acc_counters {
    uint64_t socket_open, socket_close, bytes_received, bytes_sent;
    uint64_t mqtt_connect_received, mqtt_connack_sent;
    uint64_t mqtt_publish_received, mqtt_publish_sent;
    uint64_t mqtt_puback_received, mqtt_puback_sent;
    uint64_t mqtt_pubrec_received, mqtt_pubrec_sent;
    uint64_t mqtt_pubrel_received, mqtt_pubrel_sent;
    uint64_t mqtt_pubcomp_received, mqtt_pubcomp_sent;
    uint64_t mqtt_subscribe_received, mqtt_suback_sent;
    uint64_t mqtt_unsubscribe_received, mqtt_unsuback_sent;
    uint64_t mqtt_pingreq_received, mqtt_pingresp_sent;
    uint64_t mqtt_disconnect_received, mqtt_disconnect_sent;
    uint64_t mqtt_invalid_msg_size_error, mqtt_publish_auth_error, mqtt_subscribe_auth_error;
    uint64_t client_keepalive_expired, router_matches_local, router_matches_remote;
    uint64_t queue_message_drop;     /* QoS 0 dropped for a client whose output backs up */
    uint64_t netsplit_refused;       /* CONNECT/PUBLISH/SUBSCRIBE/UNSUBSCRIBE refused in a netsplit */
} acc_counters_t;

typedef struct acceptor {
    nmq_worker_t *w;
    const nmq_config_t *cfg;
    char id[48];                 /* routing id "a<slot>.<pid>" */
    int slot;
    int epfd;
    int listen_fds[ACC_MAX_LISTEN];
    int nlisten;
    bool accepting;
    bool leaving;                /* cluster leave: never listen again */
    bool netsplit;               /* a member of the cluster is unreachable (NODES) */
    acc_conn_t **conns;          /* by fd */
    uint32_t *gens;              /* by fd */
    int max_fds;
    int nconns;
    acc_conn_t *dirty;           /* connections with output to flush */
    /* links */
    void *zctx;
    void *queues[ACC_MAX_SHARDS];
    nmq_batch_t *queue_out[ACC_MAX_SHARDS];
    bool queue_eager[ACC_MAX_SHARDS];        /* queue_out[i] must go this turn */
    int64_t queue_lazy_since[ACC_MAX_SHARDS];/* its first deferred ack (ms), 0 none */
    int nshards;
    uint64_t queue_epoch[ACC_MAX_SHARDS];   /* each queue worker's pid, from HELLO */
    void *meta;
    nmq_batch_t *meta_out;
    void *meta_sub;
    void *cluster;               /* DEALER to cluster.sock: FORWARD to other nodes */
    bool congested;              /* a queue worker's pipe is full: clients are not read */
    uint32_t turn_routed;        /* recipients routed this turn */
    uint64_t *held;              /* connections with input_held, by id */
    size_t nheld, cap_held;
    nmq_batch_in_t *in;          /* scratch for receiving */
    /* routing replica */
    struct nmq_trie *routes;     /* nmq_topic_trie.h */
    uint64_t routes_seq;
    bool routes_synced;
    bool snapshot_asked;
    uint64_t next_msg;
    uint64_t next_req;
    int64_t next_timer_ms;
    acc_counters_t c;
} acceptor_t;

/* acceptor_net.c */
int acc_net_start(acceptor_t *a);
void acc_net_stop(acceptor_t *a);
void acc_net_listen(acceptor_t *a);
void acc_net_on_events(nmq_worker_t *w, void *arg, short revents);
/* Queue bytes for a connection; written at the end of the loop turn. */
void acc_conn_write(acceptor_t *a, acc_conn_t *c, const void *data, size_t len);
/* Space for an encoder to write up to len bytes; commit what it wrote. */
uint8_t *acc_conn_reserve(acceptor_t *a, acc_conn_t *c, size_t len);
void acc_conn_commit(acceptor_t *a, acc_conn_t *c, size_t len);
void acc_conn_close(acceptor_t *a, acc_conn_t *c, const char *why);
/* "ip:port" of the client (a static buffer: one at a time). */
const char *acc_conn_peer(const acc_conn_t *c);
/* Close after what is queued has been written. */
void acc_conn_close_after_flush(acceptor_t *a, acc_conn_t *c);
acc_conn_t *acc_conn_find(acceptor_t *a, uint64_t id);
/* The turn's routing budget is spent: c's remaining input waits. */
void acc_net_hold_input(acceptor_t *a, acc_conn_t *c);
/* A new turn: the held input first.  True while some is still held. */
bool acc_net_resume_held(acceptor_t *a);
void acc_net_flush(acceptor_t *a);
int acc_net_timers(acceptor_t *a, int64_t now_ms);

/* acceptor_session.c */
void acc_session_input(acceptor_t *a, acc_conn_t *c);
void acc_session_closed(acceptor_t *a, acc_conn_t *c);
void acc_session_attached(acceptor_t *a, acc_conn_t *c, bool session_present);
/* The input held behind a SUBSCRIBE/UNSUBSCRIBE goes on. */
void acc_session_resume(acceptor_t *a, acc_conn_t *c);
void acc_session_kick(acceptor_t *a, acc_conn_t *c, unsigned reason);
void acc_session_deliver(acceptor_t *a, acc_conn_t *c, const Nmq__Op *op, const uint8_t *payload, size_t len);
void acc_session_pubrel(acceptor_t *a, acc_conn_t *c, uint16_t packet_id);
void acc_session_appended(acceptor_t *a, acc_conn_t *c, uint64_t req);
void acc_session_subscribed(acceptor_t *a, const Nmq__Op *op);
void acc_session_disconnect(acceptor_t *a, acc_conn_t *c, uint8_t reason);
/* The same with a Reason String of our own (5.0); NULL: the reason's name. */
void acc_session_disconnect_why(acceptor_t *a, acc_conn_t *c, uint8_t reason, const char *why);
/* Route a message on behalf of client_id (a delayed will that fell due). */
void acc_session_route(acceptor_t *a, const char *client_id, const Nmq__Msg *m, const uint8_t *payload,
                       size_t len);
/* Queue worker `shard` restarted: its clients and waiting publishers go. */
void acc_session_queue_restarted(acceptor_t *a, int shard);
uint64_t acc_now_ms(void);
/* Publish the node's metrics under $SYS/<nodename>/ (QoS 0, not retained). */
void acc_session_systree(acceptor_t *a, const struct Nmq__Ctl *msg);

/* acceptor_auth.c */
int acc_auth_start(acceptor_t *a);
void acc_auth_stop(acceptor_t *a);
void acc_auth_timer(acceptor_t *a, int64_t now_ms);
/* 0, or the 5.0 CONNACK reason (0x86 bad user name or password, 0x87 not authorized) */
uint8_t acc_auth_connect(acceptor_t *a, const char *username, const uint8_t *password, size_t len,
                         bool has_password);
bool acc_auth_publish(acceptor_t *a, const acc_conn_t *c, const char *topic);
bool acc_auth_subscribe(acceptor_t *a, const acc_conn_t *c, const char *filter);

/* acceptor_links.c */
int acc_links_start(acceptor_t *a);
void acc_links_stop(acceptor_t *a);
void acc_links_flush(acceptor_t *a);
/* Send the batches that grew past ACC_BATCH_OPS; true when the acceptor is
 * now congested and must stop taking input. */
bool acc_links_pressure(acceptor_t *a);
/* Once a second: HELLO to every queue worker. */
void acc_links_timer(acceptor_t *a);
int acc_shard_of(const acceptor_t *a, const char *client_id, size_t len);
/* The batch to queue worker `shard`, sent at the end of this turn... */
nmq_batch_t *acc_to_queue(acceptor_t *a, int shard);
/* ...or, for an op that can wait, within ACC_ACK_DELAY_MS. */
nmq_batch_t *acc_to_queue_lazy(acceptor_t *a, int shard);
/* Milliseconds until a deferred batch is due, -1 for none. */
int acc_links_lazy_ms(const acceptor_t *a, int64_t now_ms);
nmq_batch_t *acc_to_meta(acceptor_t *a);
Nmq__ConnRef *acc_conn_ref(acceptor_t *a, nmq_batch_t *b, const acc_conn_t *c);

/* acceptor_routes.c */
int acc_routes_start(acceptor_t *a);
void acc_routes_stop(acceptor_t *a);
void acc_routes_delta(acceptor_t *a, const Nmq__Op *op);
void acc_routes_snapshot(acceptor_t *a, const Nmq__Op *op);
int acc_routes_timer(acceptor_t *a, int64_t now_ms);
/* Route one PUBLISH: appends to every shard with a recipient; returns how
 * many shards it went to (the publisher's ack waits for that many APPENDED). */
int acc_routes_publish(acceptor_t *a, uint64_t req, const acc_conn_t *from, const Nmq__Msg *msg,
                       const uint8_t *payload, size_t len);

void acc_routes_apply_subs(struct nmq_trie *t, const Nmq__Op *op);

/* acceptor_remote.c */
typedef bool (acc_online_fn)(const nmq_trie_entry_t *e);
typedef void (acc_pick_local_fn)(acceptor_t *a, const nmq_trie_entry_t *e, void *arg);
void acc_remote_apply(acceptor_t *a, const Nmq__Op *op, bool building);
void acc_remote_snapshot_begin(acceptor_t *a);
void acc_remote_snapshot_commit(acceptor_t *a);
size_t acc_remote_count(void);
/* Match every remote node's trie; FORWARD ops for their ordinary recipients.
 * The number of recipients and shares matched. */
size_t acc_remote_match(acceptor_t *a, uint64_t req, const acc_conn_t *from, const Nmq__Msg *msg,
                        const uint8_t *payload, size_t len, const char *pub, size_t pub_len);
/* Nodes this PUBLISH went to (each answers APPENDED for QoS 1/2). */
int acc_remote_forwarded(void);
/* One member for every (group, filter) matched here or on another node. */
void acc_remote_shares(acceptor_t *a, const nmq_trie_result_t *local, const Nmq__Msg *msg,
                       const uint8_t *payload, size_t len, acc_online_fn *online, acc_pick_local_fn *pick_local,
                       void *arg);
void acc_remote_flush(acceptor_t *a);
void acc_remote_stop(acceptor_t *a);

#endif
