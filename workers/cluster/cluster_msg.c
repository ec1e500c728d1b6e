/* cluster_msg — the cluster protocol's message types (proto/cluster.proto)
 * and what a node does with each.
 *
 * One row per type: its name, the socket it may arrive on (the ROUTER takes
 * what peers' DEALERs send, a DEALER what the peer's ROUTER answers), whether
 * it may come before the link is welcomed, and its handler.  A message that
 * breaks its row is dropped with a line in the log: it comes from a confused
 * or foreign peer, never from us.
 *
 * Membership lists travel on every link (WELCOME, MEMBERS) and are merged by
 * the rule of cluster_members.c, but only from those entitled to speak about
 * this node's cluster: a member, or a node whose list shows us as a member
 * at least as recent as our own record (a node that lost its data is taken
 * back that way).  Merely opening a link never makes a node a member; only
 * JOIN does, which is the operator's `cluster join`.
 */
#include "cluster.h"
#include "nmq_log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_ON_ROUTER 0x1
#define S_ON_DEALER 0x2

typedef void (s_handler_fn)(cluster_t *c, cluster_peer_t *p, const void *rid, size_t rid_len,
                            const Nmq__ClusterMsg *m);

static s_handler_fn s_hello, s_welcome, s_heartbeat, s_members, s_join, s_join_reply, s_broker, s_leave;

static const struct {
    const char *name;
    unsigned on;
    bool before_welcome;      /* DEALER side: accepted before the link is up */
    s_handler_fn *fn;
} s_types[CLUSTER_MSG_MAX] = {
    [CLUSTER_MSG_HELLO]      = { "HELLO",      S_ON_ROUTER,               false, s_hello },
    [CLUSTER_MSG_WELCOME]    = { "WELCOME",    S_ON_DEALER,               true,  s_welcome },
    [CLUSTER_MSG_HEARTBEAT]  = { "HEARTBEAT",  S_ON_ROUTER | S_ON_DEALER, false, s_heartbeat },
    [CLUSTER_MSG_MEMBERS]    = { "MEMBERS",    S_ON_ROUTER,               false, s_members },
    [CLUSTER_MSG_JOIN]       = { "JOIN",       S_ON_ROUTER,               false, s_join },
    [CLUSTER_MSG_JOIN_REPLY] = { "JOIN_REPLY", S_ON_DEALER,               false, s_join_reply },
    [CLUSTER_MSG_BROKER]     = { "BROKER",     S_ON_ROUTER,               false, s_broker },
    [CLUSTER_MSG_LEAVE]      = { "LEAVE",      S_ON_ROUTER,               false, s_leave },
};

const char *cluster_msg_name(unsigned type)
{
    return type < CLUSTER_MSG_MAX && s_types[type].name ? s_types[type].name : "?";
}

void cluster_msg_init(cluster_t *c, Nmq__ClusterMsg *m, cluster_msg_type_t type)
{
    nmq__cluster_msg__init(m);
    m->has_type = m->has_incarnation = true;
    m->type = type;
    m->from = c->self;
    m->addr = c->self_addr;
    m->incarnation = c->incarnation;
}

void cluster_msg_dispatch(cluster_t *c, cluster_peer_t *p, const void *rid, size_t rid_len,
                          const Nmq__ClusterMsg *m)
{
    unsigned on = rid ? S_ON_ROUTER : S_ON_DEALER;
    unsigned type = m->has_type ? m->type : 0;
    if (type >= CLUSTER_MSG_MAX || !s_types[type].fn || !(s_types[type].on & on)) {
        nmq_warn("cluster: dropped message type %u (%s) from %s on the %s", type, cluster_msg_name(type),
                 m->from ? m->from : "?", rid ? "listener" : "link");
        return;
    }
    if (!rid && p->state != CLUSTER_LINK_UP && !s_types[type].before_welcome)
        return;   /* left over from before the link was reset */
    int64_t now = cluster_now_ms();
    if (p && rid) {
        p->heard_ms = now;
        cluster_link_poke(c, p);
    }
    s_types[type].fn(c, p, rid, rid_len, m);
    if (p && !rid && p->state == CLUSTER_LINK_UP)
        p->heard_ms = p->link_heard_ms = now;
}

/* --- sending what several places send ------------------------------------------------------- */

void cluster_msg_send_hello(cluster_t *c, cluster_peer_t *p)
{
    Nmq__ClusterMsg m;
    cluster_msg_init(c, &m, CLUSTER_MSG_HELLO);
    cluster_random(p->nonce, sizeof p->nonce);
    m.has_nonce = true;
    m.nonce.len = sizeof p->nonce;
    m.nonce.data = p->nonce;
    if (cluster_send_peer(c, p, &m) < 0) {
        p->hello_pending = 1;   /* the socket has no pipe yet: the tick tries again */
        return;
    }
    p->hello_pending = 0;
    p->state = CLUSTER_LINK_HELLO;
    p->deadline_ms = cluster_now_ms() + CLUSTER_LIVENESS * CLUSTER_HEARTBEAT_MS;
}

static void s_with_members(cluster_t *c, Nmq__ClusterMsg *m)
{
    m->members = cluster_members_to_msg(&c->members, &m->n_members);
}

static void s_members_done(Nmq__ClusterMsg *m)
{
    cluster_members_msg_free(m->members, m->n_members);
    m->members = NULL;
    m->n_members = 0;
}

void cluster_msg_announce(cluster_t *c)
{
    Nmq__ClusterMsg m;
    cluster_msg_init(c, &m, CLUSTER_MSG_MEMBERS);
    s_with_members(c, &m);
    cluster_broadcast(c, &m);
    s_members_done(&m);
}

/* --- the membership, as peers tell it -------------------------------------------------------- */

/* Our own record after a merge: a tombstone means we were removed; another
 * address than ours is stale, and we restate ours one version up. */
static bool s_check_self(cluster_t *c, const char *from)
{
    cluster_member_t *self = cluster_members_find(&c->members, c->self);
    if (self && self->left) {
        if (!c->removed_logged)
            nmq_warn("cluster: this node was removed from the cluster (cluster leave, learned from %s); it runs "
                     "alone now", from);
        c->removed_logged = true;
        return false;
    }
    c->removed_logged = false;
    if (self && strcmp(self->addr, c->self_addr)) {
        cluster_members_admit(&c->members, c->self, c->self_addr, 0);
        return true;
    }
    return false;
}

void cluster_members_changed(cluster_t *c)
{
    if (cluster_store_save(c->store, &c->members) < 0)
        nmq_error("cluster: the membership could not be saved; it is kept in memory only");
    cluster_link_sync(c);
}

static bool s_entitled(const cluster_t *c, const char *from, const cluster_members_t *theirs)
{
    if (cluster_member_active(cluster_members_find(&c->members, from)))
        return true;
    const cluster_member_t *us = cluster_members_find(theirs, c->self);
    const cluster_member_t *ours = cluster_members_find(&c->members, c->self);
    return cluster_member_active(us) && (!ours || us->version >= ours->version);
}

void cluster_members_learn(cluster_t *c, Nmq__ClusterMember *const *v, size_t n, const char *from)
{
    cluster_members_t theirs = { 0 };
    cluster_members_from_msg(&theirs, v, n);
    size_t changed = 0;
    if (s_entitled(c, from, &theirs))
        changed = cluster_members_merge(&c->members, &theirs);
    cluster_members_fini(&theirs);
    if (!changed)
        return;
    s_check_self(c, from);
    nmq_info("cluster: membership updated from %s (%zu records changed)", from, changed);
    cluster_members_changed(c);
    cluster_msg_announce(c);
}

/* --- handlers ----------------------------------------------------------------------------------- */

static void s_hello(cluster_t *c, cluster_peer_t *p, const void *rid, size_t rid_len, const Nmq__ClusterMsg *m)
{
    if (!m->has_nonce || m->nonce.len != CLUSTER_NONCE_LEN) {
        nmq_warn("cluster: dropped a HELLO without a nonce from %s", m->from);
        return;
    }
    if (p && m->has_incarnation && p->incarnation && p->incarnation != m->incarnation)
        nmq_info("cluster: %s restarted", p->name);
    if (p && m->has_incarnation)
        p->incarnation = m->incarnation;
    uint8_t proof[32];
    cluster_keys_proof(&c->keys, m->nonce.data, m->nonce.len, c->self, proof);
    Nmq__ClusterMsg w;
    cluster_msg_init(c, &w, CLUSTER_MSG_WELCOME);
    w.has_proof = true;
    w.proof.len = sizeof proof;
    w.proof.data = proof;
    s_with_members(c, &w);
    cluster_send_router(c, rid, rid_len, &w);
    s_members_done(&w);
}

static void s_welcome(cluster_t *c, cluster_peer_t *p, const void *rid, size_t rid_len, const Nmq__ClusterMsg *m)
{
    char why[NMQ_CONF_STR_MAX * 2 + 64];
    if (p->state != CLUSTER_LINK_HELLO)
        return;   /* an answer to an older HELLO */
    if (strcmp(m->from, p->name)) {
        snprintf(why, sizeof why, "%s answers as %s", p->addr, m->from);
        cluster_link_reset(c, p, why);
        return;
    }
    if (!m->has_proof ||
        !cluster_keys_proof_ok(&c->keys, p->nonce, sizeof p->nonce, p->name, m->proof.data, m->proof.len)) {
        snprintf(why, sizeof why, "%s cannot prove it has our distributed_cookie", p->addr);
        nmq_error("cluster: %s: not trusted", why);
        cluster_link_reset(c, p, why);
        return;
    }
    if (m->has_incarnation)
        p->incarnation = m->incarnation;
    cluster_link_up(c, p);
    cluster_members_learn(c, m->members, m->n_members, p->name);
    if (p->state != CLUSTER_LINK_UP)
        return;   /* the membership we learned has no place for it */
    Nmq__ClusterMsg ours;
    cluster_msg_init(c, &ours, CLUSTER_MSG_MEMBERS);
    s_with_members(c, &ours);
    cluster_send_peer(c, p, &ours);
    s_members_done(&ours);
    cluster_join_link_up(c, p);
}

static void s_heartbeat(cluster_t *c, cluster_peer_t *p, const void *rid, size_t rid_len,
                        const Nmq__ClusterMsg *m)
{
    if (!rid)
        return;   /* the answer to ours: being here was the point */
    Nmq__ClusterMsg pong;
    cluster_msg_init(c, &pong, CLUSTER_MSG_HEARTBEAT);
    cluster_send_router(c, rid, rid_len, &pong);
}

static void s_members(cluster_t *c, cluster_peer_t *p, const void *rid, size_t rid_len, const Nmq__ClusterMsg *m)
{
    cluster_members_learn(c, m->members, m->n_members, m->from);
}

static void s_join_answer(cluster_t *c, const void *rid, size_t rid_len, int status, const char *error)
{
    Nmq__ClusterMsg r;
    cluster_msg_init(c, &r, CLUSTER_MSG_JOIN_REPLY);
    r.has_status = true;
    r.status = status;
    r.error = (char *)error;
    if (status == 0)
        s_with_members(c, &r);
    cluster_send_router(c, rid, rid_len, &r);
    s_members_done(&r);
}

/* The discovery node's side of `cluster join`: take the sender in. */
static void s_join(cluster_t *c, cluster_peer_t *p, const void *rid, size_t rid_len, const Nmq__ClusterMsg *m)
{
    char why[NMQ_CONF_STR_MAX + 96];
    const cluster_member_t *self = cluster_members_find(&c->members, c->self);
    if (self && self->left) {
        snprintf(why, sizeof why, "%s was removed from its cluster and takes no one in", c->self);
        s_join_answer(c, rid, rid_len, 1, why);
        return;
    }
    if (!m->addr || !*m->addr || strlen(m->addr) >= NMQ_CONF_STR_MAX || !strcmp(m->from, c->self)) {
        s_join_answer(c, rid, rid_len, 1, "a JOIN needs the joining node's name and address");
        return;
    }
    /* its own list: itself, or (with --force) the cluster it comes from */
    cluster_members_t theirs = { 0 };
    cluster_members_from_msg(&theirs, m->members, m->n_members);
    const cluster_member_t *joiner = cluster_members_find(&theirs, m->from);
    uint64_t version = joiner ? joiner->version : 0;
    cluster_members_merge(&c->members, &theirs);
    cluster_members_fini(&theirs);
    cluster_members_admit(&c->members, m->from, m->addr, version);
    if (!cluster_members_find(&c->members, c->self))
        cluster_members_admit(&c->members, c->self, c->self_addr, 0);
    s_check_self(c, m->from);
    nmq_info("cluster: %s (%s) joined the cluster through this node", m->from, m->addr);
    cluster_members_changed(c);
    s_join_answer(c, rid, rid_len, 0, "");
    cluster_msg_announce(c);
}

static void s_join_reply(cluster_t *c, cluster_peer_t *p, const void *rid, size_t rid_len,
                         const Nmq__ClusterMsg *m)
{
    cluster_join_reply(c, p, m);
}

/* BROKER: the publish path or the metadata of a member (cluster_bridge.c). */
static void s_broker(cluster_t *c, cluster_peer_t *p, const void *rid, size_t rid_len, const Nmq__ClusterMsg *m)
{
    cluster_bridge_inbound(c, p, m);
}

/* LEAVE: a member runs `cluster leave` for this node. */
static void s_leave(cluster_t *c, cluster_peer_t *p, const void *rid, size_t rid_len, const Nmq__ClusterMsg *m)
{
    cluster_leave_on_msg(c, p, m);
}
