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
 * Confirmations: a QoS 1/2 FORWARD carries its publisher's request and
 * connection.  The receiving bridge APPENDs under a token of its own, counts
 * the shard answers (APPENDED from its queue workers, after their commit) and
 * sends one APPENDED back to the origin node, which hands it to the
 * publisher's acceptor: the PUBACK waits for the other node's commit as for a
 * local one.  The origin remembers what it forwarded (s_out); a copy whose
 * link goes down, or that is not confirmed within S_CONFIRM_MS, is confirmed
 * here instead and counted as dropped, so no publisher waits forever.
 *
 * The metadata worker also learns from here who is up: NODES {nodes, members}
 * whenever that changes and every second.
 */
#include "cluster.h"
#include "nmq_batch.h"
#include "nmq_hashmap.h"
#include "nmq_log.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#define S_NODES_EVERY_MS 1000
#define S_RECV_BATCH     256
#define S_TURN_MS        20       /* a callback's share of the loop: heartbeats go between */
#define S_CONFIRM_MS     10000    /* a forwarded QoS 1/2 copy not confirmed by then: given up */

/* What we forwarded and wait for (origin side), by acceptor id + conn + req. */
typedef struct {
    char node[NMQ_CONF_STR_MAX];
    char acceptor[64];
    uint64_t conn, req;
    int64_t sent_ms;
} s_out_t;

/* What we APPENDed for another node (receiving side), by token. */
typedef struct {
    char node[NMQ_CONF_STR_MAX];
    char acceptor[64];
    uint64_t conn, req;
    int remaining;
} s_in_t;

static nmq_hashmap_t *s_out, *s_in_map;
static uint64_t s_next_token;
static int64_t s_next_sweep_ms;

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

/* --- confirmations ------------------------------------------------------------------------- */

static size_t s_out_key(uint8_t *key, const char *acceptor, uint64_t conn, uint64_t req)
{
    size_t n = strnlen(acceptor, 63);
    memcpy(key, acceptor, n);
    memcpy(key + n, &conn, 8);
    memcpy(key + n + 8, &req, 8);
    return n + 16;
}

/* APPENDED {req, conn} to a local acceptor. */
static void s_confirm_local(cluster_t *c, const char *acceptor, uint64_t conn, uint64_t req)
{
    nmq_batch_t *b = nmq_batch_new();
    nmq_batch_appended(b, req, conn);
    nmq_batch_send(b, c->bridge, acceptor, strlen(acceptor));
    nmq_batch_destroy(&b);
}

/* The FORWARDs of a batch we send: remembered until the node confirms. */
static void s_track(cluster_t *c, const Nmq__Batch *b, const char *node, bool sent)
{
    int64_t now = cluster_now_ms();
    for (size_t i = 0; i < b->n_ops; i++) {
        const Nmq__Op *op = b->ops[i];
        if (op->op != BROKER_OP_FORWARD || !op->has_req || !op->conn || !op->conn->acceptor)
            continue;
        if (!sent) {   /* the link is down: the publisher goes on, the copy is lost */
            s_confirm_local(c, op->conn->acceptor, op->conn->conn, op->req);
            continue;
        }
        s_out_t *o = calloc(1, sizeof *o);
        snprintf(o->node, sizeof o->node, "%s", node);
        snprintf(o->acceptor, sizeof o->acceptor, "%s", op->conn->acceptor);
        o->conn = op->conn->conn;
        o->req = op->req;
        o->sent_ms = now;
        uint8_t key[96];
        free(nmq_hashmap_put(s_out, key, s_out_key(key, o->acceptor, o->conn, o->req), o));
    }
}

/* Confirm locally what a node will not: its link went down, or time ran out. */
static void s_give_up(cluster_t *c, const char *node, int64_t older_than)
{
    size_t cursor = 0, klen, n = 0;
    const void *key;
    void *value;
    s_out_t **gone = NULL;
    while (nmq_hashmap_next(s_out, &cursor, &key, &klen, &value)) {
        s_out_t *o = value;
        if ((node && strcmp(o->node, node)) || (!node && o->sent_ms > older_than))
            continue;
        gone = realloc(gone, (n + 1) * sizeof *gone);
        gone[n++] = o;
    }
    for (size_t i = 0; i < n; i++) {
        uint8_t k[96];
        nmq_hashmap_remove(s_out, k, s_out_key(k, gone[i]->acceptor, gone[i]->conn, gone[i]->req));
        s_confirm_local(c, gone[i]->acceptor, gone[i]->conn, gone[i]->req);
        free(gone[i]);
    }
    if (n) {
        c->bridge_dropped += n;
        nmq_warn("cluster: %zu forwarded QoS 1/2 messages%s%s not confirmed%s: their publishers were answered, "
                 "the messages may be lost", n, node ? " to " : "", node ? node : "",
                 node ? " (the link went down)" : " in time");
    }
    free(gone);
}

void cluster_bridge_peer_down(cluster_t *c, const cluster_peer_t *p)
{
    if (s_out)
        s_give_up(c, p->name, 0);
}

/* APPENDED from a node: to the publishers' acceptors. */
static void s_confirmed(cluster_t *c, const Nmq__Batch *b)
{
    for (size_t i = 0; i < b->n_ops; i++) {
        const Nmq__Op *op = b->ops[i];
        if (op->op != BROKER_OP_APPENDED || !op->conn || !op->conn->acceptor)
            continue;
        uint8_t key[96];
        free(nmq_hashmap_remove(s_out, key, s_out_key(key, op->conn->acceptor, op->conn->conn, op->req)));
        s_confirm_local(c, op->conn->acceptor, op->conn->conn, op->req);
    }
}

/* A packed batch of ops (no payloads) to one node. */
static void s_send_ops(cluster_t *c, const char *node, Nmq__Op **ops, size_t n)
{
    Nmq__Batch b = NMQ__BATCH__INIT;
    b.n_ops = n;
    b.ops = ops;
    size_t len = nmq__batch__get_packed_size(&b);
    uint8_t *data = malloc(len ? len : 1);
    nmq__batch__pack(&b, data);
    Nmq__ClusterMsg m;
    cluster_msg_init(c, &m, CLUSTER_MSG_BROKER);
    m.has_batch = true;
    m.batch.data = data;
    m.batch.len = len;
    cluster_peer_t *p = cluster_peer_find(c, node);
    if (!p || p->state != CLUSTER_LINK_UP || cluster_send_peer(c, p, &m) < 0)
        c->bridge_dropped += n;
    free(data);
}

/* APPENDED from our queue workers for tokens of other nodes' publishes. */
static void s_local_appended(cluster_t *c, const Nmq__Batch *b)
{
    /* one batch back per origin node */
    Nmq__Op **ops = calloc(b->n_ops, sizeof *ops);
    Nmq__ConnRef *refs = calloc(b->n_ops, sizeof *refs);
    Nmq__Op *store = calloc(b->n_ops, sizeof *store);
    s_in_t **done = calloc(b->n_ops, sizeof *done);
    size_t n = 0;
    for (size_t i = 0; i < b->n_ops; i++) {
        const Nmq__Op *op = b->ops[i];
        if (op->op != BROKER_OP_APPENDED || !op->has_req)
            continue;
        s_in_t *t = nmq_hashmap_get(s_in_map, &op->req, sizeof op->req);
        if (!t || --t->remaining > 0)
            continue;
        nmq_hashmap_remove(s_in_map, &op->req, sizeof op->req);
        done[n] = t;
        nmq__op__init(&store[n]);
        store[n].has_op = store[n].has_req = true;
        store[n].op = BROKER_OP_APPENDED;
        store[n].req = t->req;
        store[n].node = t->node;
        nmq__conn_ref__init(&refs[n]);
        refs[n].acceptor = t->acceptor;
        refs[n].has_conn = true;
        refs[n].conn = t->conn;
        store[n].conn = &refs[n];
        n++;
    }
    /* group by node: the batch's first op names it */
    bool *sent = calloc(n ? n : 1, sizeof *sent);
    for (size_t i = 0; i < n; i++) {
        if (sent[i])
            continue;
        size_t k = 0;
        for (size_t j = i; j < n; j++)
            if (!sent[j] && !strcmp(done[j]->node, done[i]->node)) {
                ops[k++] = &store[j];
                sent[j] = true;
            }
        s_send_ops(c, done[i]->node, ops, k);
    }
    for (size_t i = 0; i < n; i++)
        free(done[i]);
    free(sent);
    free(done);
    free(store);
    free(refs);
    free(ops);
}

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
    if (node[0] && in->batch->n_ops && in->batch->ops[0]->op == BROKER_OP_FORWARD)
        s_track(c, in->batch, node, sent);
    if (pl != stack)
        free(pl);
}

static void s_on_local(nmq_worker_t *w, void *arg, short revents)
{
    cluster_t *c = arg;
    int64_t until = cluster_now_ms() + S_TURN_MS;
    for (int i = 0; i < S_RECV_BATCH && cluster_now_ms() < until; i++) {
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
        } else if (first->op == BROKER_OP_APPENDED) {
            s_local_appended(c, b);
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
    nmq_worker_socket_used(c->bridge);
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
        s_in_t *token = NULL;
        uint64_t tok = 0;
        if (op->has_req && op->conn && op->conn->acceptor && m->from) {
            token = calloc(1, sizeof *token);
            snprintf(token->node, sizeof token->node, "%s", m->from);
            snprintf(token->acceptor, sizeof token->acceptor, "%s", op->conn->acceptor);
            token->conn = op->conn->conn;
            token->req = op->req;
            tok = ++s_next_token;
        }
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
                a->msg = nmq_batch_msg(out[s], op->msg, pl ? pl->data : NULL, pl ? pl->len : 0);
                a->recipients = nmq_batch_alloc(out[s], op->n_recipients * sizeof *a->recipients);
                if (token) {
                    a->has_req = true;
                    a->req = tok;
                    Nmq__ConnRef *ref = nmq_batch_alloc(out[s], sizeof *ref);
                    nmq__conn_ref__init(ref);
                    ref->has_conn = true;
                    ref->conn = tok;
                    a->conn = ref;
                    token->remaining++;
                }
            }
            Nmq__Recipient *copy = nmq_batch_recipient(out[s], rc->client_id, strlen(rc->client_id), rc->qos,
                                                       rc->retain_as_published, rc->sub_ids, rc->n_sub_ids);
            per[s]->recipients[per[s]->n_recipients++] = copy;
        }
        if (token && token->remaining)
            free(nmq_hashmap_put(s_in_map, &tok, sizeof tok, token));
        else
            free(token);
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
    case BROKER_OP_APPENDED:
        s_confirmed(c, b);
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
    if (now >= s_next_sweep_ms) {
        s_give_up(c, NULL, now - S_CONFIRM_MS);
        s_next_sweep_ms = now + 1000;
    }
    return 200;
}

int cluster_bridge_start(cluster_t *c)
{
    s_out = nmq_hashmap_new(0);
    s_in_map = nmq_hashmap_new(0);
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
    nmq_hashmap_t *maps[] = { s_out, s_in_map };
    for (size_t i = 0; i < 2; i++) {
        size_t cursor = 0, klen;
        const void *key;
        void *value;
        while (maps[i] && nmq_hashmap_next(maps[i], &cursor, &key, &klen, &value))
            free(value);
    }
    nmq_hashmap_destroy(&s_out);
    nmq_hashmap_destroy(&s_in_map);
}
