/* cluster_bridge — the node's own workers on one side, the other nodes on the
 * other: how the publish path and the metadata cross the cluster.
 *
 * The bridge binds a ROUTER, cluster.sock, in the run directory.  Acceptors,
 * the metadata worker and the queue workers connect DEALERs to it (routing ids
 * "a<slot>.<pid>", "m.<pid>", "q<slot>.<pid>"); the metadata and queue workers
 * say HELLO every second so that a restarted cluster worker learns where to
 * reach them.  Every other batch a worker sends here is for one node, named in
 * its first op's `node` ("" for every peer whose link is up), and goes out
 * unchanged, as one ClusterMsg BROKER holding the Batch frame and its payload
 * frames, on our DEALER to that node.
 *
 * A BROKER from a member is taken apart by its first op (s_inbound):
 *   FORWARD               APPEND to this node's queue workers, recipients
 *                         split by shard, as an acceptor would;
 *   REPL, DIGEST          to the metadata worker, unchanged;
 *   SESSION_MSG, SESSION  to the queue worker of the client, unchanged.
 * What cannot go on (no link, no local worker yet) is dropped and counted
 * (cluster_bridge_dropped): the metadata heals by anti-entropy, a takeover
 * waits for its session with a deadline.
 *
 * The metadata worker also learns from here who is up: NODES {nodes, members}
 * whenever that changes and every second.
 */
#include "cluster.h"
#include "nmq_batch.h"
#include "nmq_log.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#define S_NODES_EVERY_MS 1000
#define S_RECV_BATCH     256

typedef struct {
    char id[64];
    size_t len;
} s_local_t;

static s_local_t s_meta, s_migration;
static s_local_t s_queues[64];
#define S_ACCEPTORS_MAX 64
#define S_LOCAL_STALE_MS 5000
static struct {
    s_local_t id;
    int64_t seen_ms;
} s_acceptors[S_ACCEPTORS_MAX];
static nmq_batch_in_t s_in;
static char s_nodes_sig[1024];
static int64_t s_nodes_sent_ms;

static void s_remember(s_local_t *l, const nmq_batch_in_t *in)
{
    if (l->len == in->routing_len && !memcmp(l->id, in->routing_id, l->len))
        return;
    memcpy(l->id, in->routing_id, in->routing_len);
    l->len = in->routing_len;
    nmq_info("cluster: local worker %.*s connected", (int)l->len, l->id);
}

static void s_acceptor_seen(const nmq_batch_in_t *in)
{
    int64_t now = cluster_now_ms();
    int free_slot = -1;
    for (int i = 0; i < S_ACCEPTORS_MAX; i++) {
        s_local_t *l = &s_acceptors[i].id;
        if (l->len == in->routing_len && !memcmp(l->id, in->routing_id, l->len)) {
            s_acceptors[i].seen_ms = now;
            return;
        }
        if (free_slot < 0 && (!l->len || now - s_acceptors[i].seen_ms > S_LOCAL_STALE_MS))
            free_slot = i;
    }
    if (free_slot >= 0 && in->routing_len <= sizeof s_acceptors[0].id.id) {
        memcpy(s_acceptors[free_slot].id.id, in->routing_id, in->routing_len);
        s_acceptors[free_slot].id.len = in->routing_len;
        s_acceptors[free_slot].seen_ms = now;
    }
}

void cluster_bridge_each_local(cluster_t *c, char role, void (*fn)(cluster_t *c, const char *id, size_t len, void *arg),
                               void *arg)
{
    if (role == 'g') {
        if (s_migration.len)
            fn(c, s_migration.id, s_migration.len, arg);
        return;
    }
    int64_t now = cluster_now_ms();
    for (int i = 0; i < S_ACCEPTORS_MAX; i++)
        if (s_acceptors[i].id.len && now - s_acceptors[i].seen_ms <= S_LOCAL_STALE_MS)
            fn(c, s_acceptors[i].id.id, s_acceptors[i].id.len, arg);
}

bool cluster_bridge_has_migration(const cluster_t *c) { return s_migration.len > 0; }

/* --- outbound: a local worker's batch to one node or every running one ---------------------- */

static void s_to_peers(cluster_t *c, const nmq_batch_in_t *in, const char *node)
{
    Nmq__ClusterMsg m;
    cluster_msg_init(c, &m, CLUSTER_MSG_BROKER);
    zmq_msg_t *f0 = &in->chunks[0][0];
    m.has_batch = true;
    m.batch.data = zmq_msg_data(f0);
    m.batch.len = zmq_msg_size(f0);
    ProtobufCBinaryData stack[64];
    size_t np = in->nframes > 1 ? (size_t)in->nframes - 1 : 0;
    ProtobufCBinaryData *pl = np <= 64 ? stack : malloc(np * sizeof *pl);
    for (size_t i = 0; i < np; i++) {
        zmq_msg_t *f = &in->chunks[(i + 1) / NMQ_BATCH_CHUNK][(i + 1) % NMQ_BATCH_CHUNK];
        pl[i].data = zmq_msg_data(f);
        pl[i].len = zmq_msg_size(f);
    }
    m.n_payloads = np;
    m.payloads = pl;
    bool sent = false;
    for (size_t i = 0; i < c->npeers; i++) {
        cluster_peer_t *p = c->peers[i];
        if (node[0] && strcmp(p->name, node))
            continue;
        if (p->state == CLUSTER_LINK_UP && cluster_send_peer(c, p, &m) == 0)
            sent = true;
        else
            c->bridge_dropped++;
    }
    if (node[0] && !sent && !cluster_peer_find(c, node))
        c->bridge_dropped++;
    if (pl != stack)
        free(pl);
}

static void s_on_local(nmq_worker_t *w, void *arg, short revents)
{
    cluster_t *c = arg;
    for (int i = 0; i < S_RECV_BATCH; i++) {
        if (nmq_batch_recv(&s_in, c->bridge, true) < 0)
            break;
        Nmq__Batch *b = s_in.batch;
        if (b->n_ops == 0) {
            nmq_batch_in_close(&s_in);
            continue;
        }
        const Nmq__Op *first = b->ops[0];
        if (first->op == BROKER_OP_HELLO) {
            if (s_in.routing_id[0] == 'm')
                s_remember(&s_meta, &s_in);
            else if (s_in.routing_id[0] == 'g')
                s_remember(&s_migration, &s_in);
            else if (s_in.routing_id[0] == 'q' && first->shard < 64)
                s_remember(&s_queues[first->shard], &s_in);
            else if (s_in.routing_id[0] == 'a')
                s_acceptor_seen(&s_in);
        } else if (first->op == BROKER_OP_LEFT) {
            cluster_leave_done(c);
        } else {
            s_to_peers(c, &s_in, first->node ? first->node : "");
        }
        nmq_batch_in_close(&s_in);
    }
}

/* --- inbound: a peer's batch to this node's workers ------------------------------------------- */

static int s_relay(cluster_t *c, const s_local_t *to, const Nmq__ClusterMsg *m)
{
    if (!to->len) {
        c->bridge_dropped++;
        return -1;
    }
    int more = ZMQ_SNDMORE | ZMQ_DONTWAIT;
    if (zmq_send(c->bridge, to->id, to->len, more) < 0 ||
        zmq_send(c->bridge, m->batch.data, m->batch.len, m->n_payloads ? more : ZMQ_DONTWAIT) < 0) {
        c->bridge_dropped++;
        return -1;
    }
    for (size_t i = 0; i < m->n_payloads; i++)
        zmq_send(c->bridge, m->payloads[i].data, m->payloads[i].len, i + 1 < m->n_payloads ? more : ZMQ_DONTWAIT);
    return 0;
}

/* FORWARD: the recipients of each message split by queue shard, one APPEND
 * per shard, the payload once per shard batch. */
static void s_forward(cluster_t *c, const Nmq__Batch *b, const Nmq__ClusterMsg *m)
{
    int shards = c->cfg->queue_shards > 0 && c->cfg->queue_shards <= 64 ? c->cfg->queue_shards : 1;
    nmq_batch_t *out[64] = { 0 };
    for (size_t i = 0; i < b->n_ops; i++) {
        const Nmq__Op *op = b->ops[i];
        if (op->op != BROKER_OP_FORWARD || !op->msg || !op->msg->topic)
            continue;
        uint32_t pf = op->msg->has_payload_frame ? op->msg->payload_frame : 0;
        const ProtobufCBinaryData *pl = pf >= 1 && pf <= m->n_payloads ? &m->payloads[pf - 1] : NULL;
        Nmq__Op *per[64] = { 0 };
        for (size_t r = 0; r < op->n_recipients; r++) {
            const Nmq__Recipient *rc = op->recipients[r];
            if (!rc->client_id)
                continue;
            int s = broker_shard_of(rc->client_id, strlen(rc->client_id), shards);
            if (!out[s])
                out[s] = nmq_batch_new();
            for (size_t k = 0; per[s] && k < per[s]->n_recipients; k++)
                if (!strcmp(per[s]->recipients[k]->client_id, rc->client_id))
                    per[s] = NULL;   /* a client twice (a $share pick too): an APPEND of its own */
            if (!per[s]) {
                Nmq__Op *a = per[s] = nmq_batch_op(out[s], BROKER_OP_APPEND);
                Nmq__Msg *msg = nmq_batch_alloc(out[s], sizeof *msg);
                *msg = *op->msg;
                msg->topic = nmq_batch_strdup(out[s], op->msg->topic, strlen(op->msg->topic));
                msg->publisher = op->msg->publisher
                                     ? nmq_batch_strdup(out[s], op->msg->publisher, strlen(op->msg->publisher))
                                     : NULL;
                if (op->msg->has_props) {
                    msg->props.data = nmq_batch_alloc(out[s], op->msg->props.len);
                    memcpy(msg->props.data, op->msg->props.data, op->msg->props.len);
                }
                msg->has_payload_frame = true;
                msg->payload_frame = nmq_batch_payload(out[s], pl ? pl->data : NULL, pl ? pl->len : 0);
                a->msg = msg;
                a->recipients = nmq_batch_alloc(out[s], op->n_recipients * sizeof *a->recipients);
            }
            Nmq__Recipient *copy = nmq_batch_alloc(out[s], sizeof *copy);
            *copy = *rc;
            copy->client_id = nmq_batch_strdup(out[s], rc->client_id, strlen(rc->client_id));
            if (rc->n_sub_ids) {
                copy->sub_ids = nmq_batch_alloc(out[s], rc->n_sub_ids * sizeof *copy->sub_ids);
                memcpy(copy->sub_ids, rc->sub_ids, rc->n_sub_ids * sizeof *copy->sub_ids);
            }
            per[s]->recipients[per[s]->n_recipients++] = copy;
        }
    }
    for (int s = 0; s < 64; s++) {
        if (!out[s])
            continue;
        if (!s_queues[s].len || nmq_batch_send(out[s], c->bridge, s_queues[s].id, s_queues[s].len) < 0)
            c->bridge_dropped += nmq_batch_count(out[s]);
        else
            c->bridge_forwarded++;
        nmq_batch_destroy(&out[s]);
    }
}

void cluster_bridge_inbound(cluster_t *c, cluster_peer_t *p, const Nmq__ClusterMsg *m)
{
    if (!p || !m->has_batch)
        return;
    Nmq__Batch *b = nmq__batch__unpack(NULL, m->batch.len, m->batch.data);
    if (!b || b->n_ops == 0) {
        if (!b)
            nmq_warn("cluster: dropped a malformed batch from %s", p->name);
        nmq__batch__free_unpacked(b, NULL);
        return;
    }
    const Nmq__Op *first = b->ops[0];
    int shards = c->cfg->queue_shards > 0 && c->cfg->queue_shards <= 64 ? c->cfg->queue_shards : 1;
    switch (first->op) {
    case BROKER_OP_FORWARD:
        s_forward(c, b, m);
        break;
    case BROKER_OP_REPL:
    case BROKER_OP_DIGEST:
        s_relay(c, &s_meta, m);
        break;
    case BROKER_OP_SESSION_MSG:
    case BROKER_OP_SESSION:
        if (first->client_id)
            s_relay(c, &s_queues[broker_shard_of(first->client_id, strlen(first->client_id), shards)], m);
        break;
    default:
        nmq_warn("cluster: dropped a batch from %s starting with op %u", p->name, first->op);
    }
    nmq__batch__free_unpacked(b, NULL);
}

/* --- NODES to the metadata worker -------------------------------------------------------------- */

static void s_send_nodes(cluster_t *c, int64_t now)
{
    if (!s_meta.len)
        return;
    char sig[sizeof s_nodes_sig];
    size_t off = 0;
    nmq_batch_t *b = nmq_batch_new();
    Nmq__Op *op = nmq_batch_op(b, BROKER_OP_NODES);
    op->nodes = nmq_batch_alloc(b, (c->npeers + 1) * sizeof *op->nodes);
    op->members = nmq_batch_alloc(b, (c->members.n + 1) * sizeof *op->members);
    for (size_t i = 0; i < c->npeers; i++)
        if (c->peers[i]->state == CLUSTER_LINK_UP) {
            op->nodes[op->n_nodes++] = c->peers[i]->name;
            off += (size_t)snprintf(sig + off, off < sizeof sig ? sizeof sig - off : 0, "%s,", c->peers[i]->name);
        }
    if (off < sizeof sig)
        off += (size_t)snprintf(sig + off, sizeof sig - off, ";");
    for (size_t i = 0; i < c->members.n; i++) {
        const cluster_member_t *r = &c->members.v[i];
        if (!cluster_member_active(r) || !strcmp(r->name, c->self))
            continue;
        op->members[op->n_members++] = (char *)r->name;
        if (off < sizeof sig)
            off += (size_t)snprintf(sig + off, sizeof sig - off, "%s,", r->name);
    }
    if (strcmp(sig, s_nodes_sig) || now - s_nodes_sent_ms >= S_NODES_EVERY_MS) {
        snprintf(s_nodes_sig, sizeof s_nodes_sig, "%s", sig);
        s_nodes_sent_ms = now;
        nmq_batch_send(b, c->bridge, s_meta.id, s_meta.len);
    }
    nmq_batch_destroy(&b);
}

int cluster_bridge_tick(cluster_t *c, int64_t now)
{
    if (!c->bridge)
        return -1;
    s_send_nodes(c, now);
    return 200;
}

int cluster_bridge_start(cluster_t *c)
{
    c->bridge = nmq_batch_socket(nmq_worker_zctx(c->w), c->cfg, ZMQ_ROUTER, "cluster.sock", true, NULL, 0, 0);
    if (!c->bridge)
        return -1;
    nmq_worker_watch_socket(c->w, c->bridge, ZMQ_POLLIN, s_on_local, c);
    return 0;
}

void cluster_bridge_stop(cluster_t *c)
{
    if (c->bridge) {
        nmq_worker_unwatch_socket(c->w, c->bridge);
        zmq_close(c->bridge);
        c->bridge = NULL;
    }
    nmq_batch_in_free(&s_in);
}
