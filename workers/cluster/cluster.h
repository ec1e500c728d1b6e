/* cluster — the cluster worker's parts ("nemomq: cluster"), one subsystem per
 * file:
 *
 *   cluster_keys.c     CURVE keys and the server's proof, derived from the cookie
 *   cluster_members.c  the membership and its merge rule (pure)
 *   cluster_store.c    the membership in LMDB, <platform_data_dir>/cluster/
 *   cluster_zap.c      the ZAP handler: who may open a link to us
 *   cluster_link.c     ROUTER, DEALERs, heartbeats, reconnects (Paranoid Pirate)
 *   cluster_msg.c      the message types of proto/cluster.proto and their handlers
 *   cluster_admin.c    nemomq-admin's cluster commands (QUERY from the supervisor)
 *   cluster_bridge.c   this node's workers <-> the other nodes (cluster.sock)
 *   cluster_leave.c    a live node leaving: listeners, migration, then stop
 *   cluster_main.c     the role: start, tick, stop
 *
 * The worker never blocks its loop: sockets are non-blocking, timers run from
 * the role's tick, the port mapper is asked without waiting (portmap_lookup).
 */
#ifndef CLUSTER_H
#define CLUSTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "nmq_config.h"
#include "nmq_worker.h"
#include "cluster.pb-c.h"
#include "portmap/portmap.h"

#define CLUSTER_HEARTBEAT_MS   1000   /* a heartbeat per second on every link */
#define CLUSTER_LIVENESS       3      /* a peer silent for 3 intervals is down */
#define CLUSTER_BACKOFF_MIN_MS 500
#define CLUSTER_BACKOFF_MAX_MS 16000
#define CLUSTER_JOIN_MS        4000   /* under the supervisor's 5 s for a query */
#define CLUSTER_NONCE_LEN      16
#define CLUSTER_ZAP_DOMAIN     "nemomq-cluster"

/* --- keys (cluster_keys.c) ------------------------------------------------------- */

typedef struct {
    char server_public[41], server_secret[41];   /* Z85, NUL-terminated */
    char client_public[41], client_secret[41];
    uint8_t client_public_bin[32];               /* what ZAP compares */
    uint8_t proof_key[32];
} cluster_keys_t;

/* 0, or -1 when libzmq has no CURVE. */
int cluster_keys_derive(const char *cookie, cluster_keys_t *k);
/* The server's answer to a HELLO's nonce: HMAC-SHA256 over the nonce and the
 * server's name with a key only cookie holders have. */
void cluster_keys_proof(const cluster_keys_t *k, const uint8_t *nonce, size_t nonce_len, const char *server,
                        uint8_t out[32]);
bool cluster_keys_proof_ok(const cluster_keys_t *k, const uint8_t *nonce, size_t nonce_len, const char *server,
                           const uint8_t *proof, size_t proof_len);

/* --- membership (cluster_members.c, pure) -------------------------------------------- */

typedef struct {
    char name[NMQ_CONF_STR_MAX];
    char addr[NMQ_CONF_STR_MAX];
    uint64_t version;
    bool left;
} cluster_member_t;

typedef struct {
    cluster_member_t *v;
    size_t n, cap;
} cluster_members_t;

void cluster_members_fini(cluster_members_t *m);
cluster_member_t *cluster_members_find(const cluster_members_t *m, const char *name);
/* Does record a replace record b of the same node? */
bool cluster_member_supersedes(const cluster_member_t *a, const cluster_member_t *b);
/* Merge one record; true when it changed m. */
bool cluster_members_apply(cluster_members_t *m, const cluster_member_t *r);
/* Merge every record of src into dst; how many changed dst. */
size_t cluster_members_merge(cluster_members_t *dst, const cluster_members_t *src);
/* name (re)enters the cluster at addr, above any version known of it. */
cluster_member_t *cluster_members_admit(cluster_members_t *m, const char *name, const char *addr,
                                        uint64_t at_least);
/* name leaves: its record becomes a tombstone; NULL when it is not a member. */
cluster_member_t *cluster_members_remove(cluster_members_t *m, const char *name);
bool cluster_member_active(const cluster_member_t *r);
/* Has this node ever been in a cluster (a record of another node)? */
bool cluster_members_has_history(const cluster_members_t *m, const char *self);
/* The active members' names but self, comma-separated, into buf. */
void cluster_members_others(const cluster_members_t *m, const char *self, char *buf, size_t len);
void cluster_members_sort(cluster_members_t *m);

/* To and from the wire. */
void cluster_members_from_msg(cluster_members_t *m, Nmq__ClusterMember *const *v, size_t n);
/* Pointers into m: valid while m is not changed; free with cluster_members_msg_free. */
Nmq__ClusterMember **cluster_members_to_msg(const cluster_members_t *m, size_t *n);
void cluster_members_msg_free(Nmq__ClusterMember **v, size_t n);

/* --- store (cluster_store.c) ---------------------------------------------------------- */

typedef struct cluster_store cluster_store_t;

cluster_store_t *cluster_store_open(const char *dir, char *err, size_t errlen);
int cluster_store_load(cluster_store_t *s, cluster_members_t *m);
/* Replace what is stored with m, durably. */
int cluster_store_save(cluster_store_t *s, const cluster_members_t *m);
void cluster_store_close(cluster_store_t **s);
/* A record's bytes (version 1); exposed for the unit tests. */
size_t cluster_store_encode(const cluster_member_t *r, uint8_t *buf, size_t len);
int cluster_store_decode(const uint8_t *buf, size_t len, cluster_member_t *r);

/* --- the worker's state ---------------------------------------------------------------- */

typedef enum {
    CLUSTER_LINK_IDLE,        /* no socket; next try at next_try_ms */
    CLUSTER_LINK_CONNECTING,  /* DEALER connecting, CURVE handshake */
    CLUSTER_LINK_HELLO,       /* HELLO sent, waiting for WELCOME and its proof */
    CLUSTER_LINK_UP           /* welcomed; heartbeats flow */
} cluster_link_state_t;

typedef struct cluster_peer {
    char name[NMQ_CONF_STR_MAX];
    char addr[NMQ_CONF_STR_MAX];       /* where we dial it: its record, or the port mapper's answer */
    cluster_link_state_t state;
    void *dealer, *monitor;
    short hello_pending;               /* send HELLO as soon as the socket takes it */
    uint8_t nonce[CLUSTER_NONCE_LEN];
    uint64_t incarnation;              /* the peer's, from WELCOME/HELLO */
    int64_t heard_ms;                  /* last message from it, either path */
    int64_t link_heard_ms;             /* last message on our DEALER */
    int64_t next_hb_ms, next_try_ms, deadline_ms;
    int backoff_ms;
    int failures;                      /* tries since it was last up */
    portmap_lookup_t *lookup;
    char problem[256];                 /* why the link is not up (status, join errors) */
    bool refused;                      /* its ZAP refused our key: the cookies differ */
    bool was_up;
    bool running;                      /* as last logged */
    struct cluster *owner;
} cluster_peer_t;

typedef struct {
    uint64_t query;
    char target[NMQ_CONF_STR_MAX];
    bool force;
    bool sent;                         /* JOIN is out */
    int64_t deadline_ms;
    portmap_lookup_t *lookup;
} cluster_join_t;

typedef struct {
    int fd;
    char ip[64], peer[80];
    int64_t at_ms;
} cluster_accepted_t;

#define CLUSTER_ACCEPTED_MAX 32

typedef struct cluster {
    nmq_worker_t *w;
    const nmq_config_t *cfg;
    char self[NMQ_CONF_STR_MAX];
    char self_addr[NMQ_CONF_STR_MAX];  /* advertised cluster address */
    char pm_host[NMQ_CONF_STR_MAX];    /* host part of nodename */
    uint64_t incarnation;
    cluster_keys_t keys;
    void *router, *router_monitor, *zap;
    int64_t next_bind_ms;
    char bind_error[256];
    cluster_members_t members;
    cluster_store_t *store;
    cluster_peer_t **peers;
    size_t npeers, cap_peers;
    cluster_join_t *join;
    bool removed_logged;
    int mon_seq;
    cluster_accepted_t accepted[CLUSTER_ACCEPTED_MAX];
    size_t naccepted;
    uint64_t refusals;
    int64_t refusal_log_ms;
    uint64_t suppressed;
    uint64_t msgs_in, msgs_out;
    void *bridge;                      /* ROUTER cluster.sock: this node's workers */
    uint64_t bridge_dropped, bridge_forwarded;
    bool leaving;                      /* cluster leave of this node under way */
    int64_t leave_stop_ms;             /* when to stop the node once it left */
} cluster_t;

int64_t cluster_now_ms(void);
void cluster_random(void *buf, size_t len);

/* --- zap (cluster_zap.c) -------------------------------------------------------------- */

int cluster_zap_start(cluster_t *c);
void cluster_zap_stop(cluster_t *c);
/* The ROUTER's monitor: remember who connected, for the refusal log lines. */
void cluster_zap_watch_router(cluster_t *c);

/* --- links (cluster_link.c) ------------------------------------------------------------ */

/* A socket monitor on an inproc PAIR (events: ZMQ_EVENT_* mask); NULL on error. */
void *cluster_monitor_open(cluster_t *c, void *sock, int events);
/* The next event, without waiting: 0, or -1 when there is none. */
int cluster_monitor_next(void *mon, uint16_t *event, uint32_t *value);
void cluster_monitor_close(cluster_t *c, void *sock, void **mon);

int cluster_link_start(cluster_t *c);
void cluster_link_stop(cluster_t *c);
/* Make the peers match the membership (plus a pending join's target). */
void cluster_link_sync(cluster_t *c);
cluster_peer_t *cluster_peer_find(const cluster_t *c, const char *name);
cluster_peer_t *cluster_peer_add(cluster_t *c, const char *name, const char *addr);
/* Heartbeats, liveness, reconnects; ms until it wants to run again. */
int cluster_link_tick(cluster_t *c, int64_t now);
/* Retry binding the listener when it failed; ms until then, -1 when bound. */
int cluster_link_bind_tick(cluster_t *c, int64_t now);
bool cluster_peer_running(const cluster_peer_t *p, int64_t now);
const char *cluster_link_state_name(cluster_link_state_t s);
/* Send on our DEALER to p (dropped when the link is not open). */
int cluster_send_peer(cluster_t *c, cluster_peer_t *p, const Nmq__ClusterMsg *m);
/* Send on the ROUTER to whoever has routing id rid. */
int cluster_send_router(cluster_t *c, const void *rid, size_t rid_len, const Nmq__ClusterMsg *m);
/* To every peer whose link is up. */
void cluster_broadcast(cluster_t *c, const Nmq__ClusterMsg *m);
/* The link to p is up (WELCOME checked) / came back on the other path. */
void cluster_link_up(cluster_t *c, cluster_peer_t *p);
/* Drop p's socket and try again later; why goes to the log and to status. */
void cluster_link_reset(cluster_t *c, cluster_peer_t *p, const char *why);
/* A peer we had given up on for now spoke to us: dial it again soon. */
void cluster_link_poke(cluster_t *c, cluster_peer_t *p);

/* --- messages (cluster_msg.c) ----------------------------------------------------------- */

typedef enum {
    CLUSTER_MSG_HELLO = 1,
    CLUSTER_MSG_WELCOME,
    CLUSTER_MSG_HEARTBEAT,
    CLUSTER_MSG_MEMBERS,
    CLUSTER_MSG_JOIN,
    CLUSTER_MSG_JOIN_REPLY,
    CLUSTER_MSG_BROKER,
    CLUSTER_MSG_LEAVE,
    CLUSTER_MSG_MAX
} cluster_msg_type_t;

const char *cluster_msg_name(unsigned type);
/* A message arrived: on the ROUTER (rid set, p the sender if it is a peer) or
 * on our DEALER to p (rid NULL). */
void cluster_msg_dispatch(cluster_t *c, cluster_peer_t *p, const void *rid, size_t rid_len,
                          const Nmq__ClusterMsg *m);
/* Fill from, addr, incarnation. */
void cluster_msg_init(cluster_t *c, Nmq__ClusterMsg *m, cluster_msg_type_t type);
void cluster_msg_send_hello(cluster_t *c, cluster_peer_t *p);
/* Our members to every open link (after a change). */
void cluster_msg_announce(cluster_t *c);
/* Merge records from the wire; persist, relink and announce when they changed
 * anything.  The caller's name for the log. */
void cluster_members_learn(cluster_t *c, Nmq__ClusterMember *const *v, size_t n, const char *from);
/* Persist and relink after a local change. */
void cluster_members_changed(cluster_t *c);

/* --- admin (cluster_admin.c) ------------------------------------------------------------ */

void cluster_admin_query(cluster_t *c, const struct Nmq__Ctl *msg);
/* The link to the join's target came up: send JOIN. */
void cluster_join_link_up(cluster_t *c, cluster_peer_t *p);
void cluster_join_reply(cluster_t *c, cluster_peer_t *p, const Nmq__ClusterMsg *m);
/* The join's target refused or failed the handshake. */
void cluster_join_link_failed(cluster_t *c, cluster_peer_t *p);
int cluster_join_tick(cluster_t *c, int64_t now);
void cluster_join_abort(cluster_t *c, const char *why);

/* --- bridge (cluster_bridge.c) ----------------------------------------------------------- */

int cluster_bridge_start(cluster_t *c);
void cluster_bridge_stop(cluster_t *c);
int cluster_bridge_tick(cluster_t *c, int64_t now);
/* A BROKER message from member p: to this node's workers. */
void cluster_bridge_inbound(cluster_t *c, cluster_peer_t *p, const Nmq__ClusterMsg *m);
/* fn for every local worker of a role ('a' acceptors, 'g' migration) heard from lately. */
void cluster_bridge_each_local(cluster_t *c, char role, void (*fn)(cluster_t *c, const char *id, size_t len, void *arg),
                               void *arg);
bool cluster_bridge_has_migration(const cluster_t *c);
/* The link to p went down: what it did not confirm is confirmed here. */
void cluster_bridge_peer_down(cluster_t *c, const cluster_peer_t *p);

/* --- leave (cluster_leave.c) ------------------------------------------------------------- */

/* This node leaves: stop listening (kill: the clients too), move the queues.
 * why: what happens, or why not (-1). */
int cluster_leave_start(cluster_t *c, bool kill, unsigned interval, unsigned timeout, char *why, size_t len);
/* Ask the live member p to leave. */
int cluster_leave_ask(cluster_t *c, cluster_peer_t *p, bool kill, unsigned interval, unsigned timeout);
void cluster_leave_on_msg(cluster_t *c, cluster_peer_t *p, const Nmq__ClusterMsg *m);
/* The migration worker moved every queue (LEFT). */
void cluster_leave_done(cluster_t *c);
int cluster_leave_tick(cluster_t *c, int64_t now);

#endif
