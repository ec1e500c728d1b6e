/* acceptor_links — the acceptor's side of the publish path's sockets.
 *
 * One DEALER per queue worker, one DEALER to the metadata worker and a SUB on
 * its delta feed, each with a batch that collects the turn's ops for that
 * destination; acc_links_flush() sends them all once per loop turn.  Incoming
 * batches are dispatched op by op through s_handlers, indexed by op code: an op
 * with no handler here is logged, not obeyed.
 */
#include "acceptor.h"
#include "nmq_log.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <zmq.h>

typedef void (s_handler_fn)(acceptor_t *a, const nmq_batch_in_t *in, const Nmq__Op *op);

static acc_conn_t *s_conn_of(acceptor_t *a, const Nmq__Op *op)
{
    return op->conn && op->conn->has_conn ? acc_conn_find(a, op->conn->conn) : NULL;
}

static void s_on_attached(acceptor_t *a, const nmq_batch_in_t *in, const Nmq__Op *op)
{
    acc_conn_t *c = s_conn_of(a, op);
    if (c)
        acc_session_attached(a, c, op->session_present);
}

static void s_on_kick(acceptor_t *a, const nmq_batch_in_t *in, const Nmq__Op *op)
{
    acc_conn_t *c = s_conn_of(a, op);
    if (c)
        acc_session_kick(a, c, op->has_reason ? op->reason : 0x8E);
}

static void s_on_deliver(acceptor_t *a, const nmq_batch_in_t *in, const Nmq__Op *op)
{
    acc_conn_t *c = s_conn_of(a, op);
    size_t len;
    const uint8_t *payload = nmq_batch_in_payload(in, op->msg, &len);
    if (c)
        acc_session_deliver(a, c, op, payload, len);
}

static void s_on_pubrel(acceptor_t *a, const nmq_batch_in_t *in, const Nmq__Op *op)
{
    acc_conn_t *c = s_conn_of(a, op);
    if (c)
        acc_session_pubrel(a, c, (uint16_t)op->packet_id);
}

static void s_on_appended(acceptor_t *a, const nmq_batch_in_t *in, const Nmq__Op *op)
{
    acc_conn_t *c = s_conn_of(a, op);
    if (c)
        acc_session_appended(a, c, op->req);
}

static void s_on_subscribed(acceptor_t *a, const nmq_batch_in_t *in, const Nmq__Op *op)
{
    acc_session_subscribed(a, op);
}

/* A retained message for a new subscriber: into its queue like any other. */
static void s_on_retained(acceptor_t *a, const nmq_batch_in_t *in, const Nmq__Op *op)
{
    if (!op->msg || op->n_recipients != 1 || !op->recipients[0]->client_id)
        return;
    size_t len;
    const uint8_t *payload = nmq_batch_in_payload(in, op->msg, &len);
    const char *client = op->recipients[0]->client_id;
    int shard = acc_shard_of(a, client, strlen(client));
    nmq_batch_t *b = acc_to_queue(a, shard);
    Nmq__Op *ap = nmq_batch_op(b, BROKER_OP_APPEND);
    ap->has_epoch = true;
    ap->epoch = a->queue_epoch[shard];
    Nmq__Msg *m = nmq_batch_alloc(b, sizeof *m);
    *m = *op->msg;
    m->topic = nmq_batch_strdup(b, op->msg->topic ? op->msg->topic : "", op->msg->topic ? strlen(op->msg->topic) : 0);
    if (op->msg->has_props) {
        m->props.data = nmq_batch_alloc(b, op->msg->props.len);
        memcpy(m->props.data, op->msg->props.data, op->msg->props.len);
    }
    m->publisher = NULL;
    m->has_payload_frame = true;
    m->payload_frame = nmq_batch_payload(b, payload, len);
    ap->msg = m;
    Nmq__Recipient *r = nmq_batch_alloc(b, sizeof *r);
    nmq__recipient__init(r);
    r->client_id = nmq_batch_strdup(b, client, strlen(client));
    r->has_qos = r->has_retain_as_published = true;
    r->qos = op->recipients[0]->qos;
    r->retain_as_published = true;   /* [MQTT-3.3.1-8]: retained on subscribe */
    if (op->recipients[0]->n_sub_ids) {
        r->n_sub_ids = op->recipients[0]->n_sub_ids;
        r->sub_ids = nmq_batch_alloc(b, r->n_sub_ids * sizeof *r->sub_ids);
        memcpy(r->sub_ids, op->recipients[0]->sub_ids, r->n_sub_ids * sizeof *r->sub_ids);
    }
    ap->n_recipients = 1;
    ap->recipients = nmq_batch_alloc(b, sizeof *ap->recipients);
    ap->recipients[0] = r;
}

static void s_on_delta(acceptor_t *a, const nmq_batch_in_t *in, const Nmq__Op *op)
{
    acc_routes_delta(a, op);
}

static void s_on_snapshot(acceptor_t *a, const nmq_batch_in_t *in, const Nmq__Op *op)
{
    acc_routes_snapshot(a, op);
}

static int s_shard_of_socket(const acceptor_t *a, const nmq_batch_in_t *in)
{
    return in->from_shard;
}

static void s_on_hello(acceptor_t *a, const nmq_batch_in_t *in, const Nmq__Op *op)
{
    int shard = s_shard_of_socket(a, in);
    if (shard < 0 || shard >= a->nshards)
        return;
    if (a->queue_epoch[shard] && a->queue_epoch[shard] != op->seq) {
        nmq_warn("queue %d restarted (epoch %llu, was %llu): its clients reconnect", shard,
                 (unsigned long long)op->seq, (unsigned long long)a->queue_epoch[shard]);
        acc_session_queue_restarted(a, shard);
    }
    a->queue_epoch[shard] = op->seq;
}

static void s_on_route(acceptor_t *a, const nmq_batch_in_t *in, const Nmq__Op *op)
{
    if (!op->msg || !op->msg->topic || !op->client_id)
        return;
    size_t len;
    const uint8_t *payload = nmq_batch_in_payload(in, op->msg, &len);
    acc_session_route(a, op->client_id, op->msg, payload, len);
}

static void s_on_presence(acceptor_t *a, const nmq_batch_in_t *in, const Nmq__Op *op)
{
    if (op->has_seq)
        acc_routes_delta(a, op);     /* a sequenced delta */
    else
        acc_routes_snapshot(a, op);  /* part of a snapshot */
}

/* LEAVE from the cluster worker: this node leaves the cluster (cluster_leave.c).
 * The listeners stop for good; shutdown() of the shared listening socket makes
 * the kernel refuse new connections for every process that holds it. */
static void s_on_leave(acceptor_t *a, const nmq_batch_in_t *in, const Nmq__Op *op)
{
    if (!a->leaving)
        nmq_warn("cluster leave: MQTT listeners stopped%s", op->kill ? "; disconnecting every client" : "");
    a->leaving = true;
    acc_net_stop(a);
    for (int i = 0; i < a->nlisten; i++)
        shutdown(a->listen_fds[i], SHUT_RD);
    if (!op->kill)
        return;
    for (int fd = 0; fd < a->max_fds; fd++) {
        acc_conn_t *c = a->conns[fd];
        if (!c || c->state == ACC_CONN_CLOSING)
            continue;
        if (c->state == ACC_CONN_ONLINE)
            acc_session_disconnect(a, c, 0x8B);   /* server shutting down */
        else
            acc_conn_close(a, c, "cluster leave");
    }
}

/* NODES from the metadata worker's feed, every second: a member that is not
 * running means a netsplit, and the allow_*_during_netsplit flags apply. */
static void s_on_nodes(acceptor_t *a, const nmq_batch_in_t *in, const Nmq__Op *op)
{
    size_t missing = 0;
    for (size_t i = 0; i < op->n_members; i++) {
        bool up = false;
        for (size_t k = 0; k < op->n_nodes && !up; k++)
            up = !strcmp(op->nodes[k], op->members[i]);
        missing += !up;
    }
    bool split = missing > 0;
    if (split != a->netsplit && a->slot == 0) {
        if (split)
            nmq_warn("netsplit: %zu of %zu other nodes unreachable; refusing CONNECT, PUBLISH, SUBSCRIBE and "
                     "UNSUBSCRIBE unless allow_*_during_netsplit say otherwise", missing, op->n_members);
        else
            nmq_info("netsplit healed: every node of the cluster is reachable");
    }
    a->netsplit = split;
}

static s_handler_fn *const s_handlers[BROKER_OP_MAX] = {
    [BROKER_OP_NODES] = s_on_nodes,
    [BROKER_OP_LEAVE] = s_on_leave,
    [BROKER_OP_HELLO] = s_on_hello,
    [BROKER_OP_PRESENCE] = s_on_presence,
    [BROKER_OP_ROUTE] = s_on_route,
    [BROKER_OP_ATTACHED] = s_on_attached,
    [BROKER_OP_KICK] = s_on_kick,
    [BROKER_OP_DELIVER] = s_on_deliver,
    [BROKER_OP_PUBREL] = s_on_pubrel,
    [BROKER_OP_APPENDED] = s_on_appended,
    [BROKER_OP_SUBSCRIBED] = s_on_subscribed,
    [BROKER_OP_UNSUBSCRIBED] = s_on_subscribed,
    [BROKER_OP_RETAINED] = s_on_retained,
    [BROKER_OP_DELTA] = s_on_delta,
    [BROKER_OP_SNAPSHOT] = s_on_snapshot,
    [BROKER_OP_SNAPSHOT_END] = s_on_snapshot,
};

static void s_dispatch(acceptor_t *a, const nmq_batch_in_t *in)
{
    for (size_t i = 0; i < in->batch->n_ops; i++) {
        const Nmq__Op *op = in->batch->ops[i];
        s_handler_fn *fn = op->op < BROKER_OP_MAX ? s_handlers[op->op] : NULL;
        if (fn)
            fn(a, in, op);
        else
            nmq_warn("ignored op %u: not one an acceptor receives", op->op);
    }
}

static void s_on_socket(nmq_worker_t *w, void *sock, short revents)
{
    acceptor_t *a = nmq_worker_data(w);
    /* bounded, so one busy peer cannot starve the clients */
    int shard = -1;
    for (int i = 0; i < a->nshards; i++)
        if (a->queues[i] == sock)
            shard = i;
    uint64_t until = acc_now_ms() + 20;
    for (int i = 0; i < 256 && acc_now_ms() < until; i++) {
        if (nmq_batch_recv(a->in, sock, false) < 0)
            break;
        a->in->from_shard = shard;
        s_dispatch(a, a->in);
        nmq_batch_in_close(a->in);
    }
}

int acc_shard_of(const acceptor_t *a, const char *client_id, size_t len)
{
    return broker_shard_of(client_id, len, a->nshards);
}

nmq_batch_t *acc_to_queue(acceptor_t *a, int shard)
{
    a->queue_eager[shard] = true;
    return a->queue_out[shard];
}

nmq_batch_t *acc_to_queue_lazy(acceptor_t *a, int shard)
{
    if (!a->queue_lazy_since[shard])
        a->queue_lazy_since[shard] = (int64_t)acc_now_ms();
    return a->queue_out[shard];
}

int acc_links_lazy_ms(const acceptor_t *a, int64_t now_ms)
{
    int64_t due = -1;
    for (int i = 0; i < a->nshards; i++)
        if (a->queue_lazy_since[i] && (due < 0 || a->queue_lazy_since[i] < due))
            due = a->queue_lazy_since[i];
    if (due < 0)
        return -1;
    due += ACC_ACK_DELAY_MS;
    return due > now_ms ? (int)(due - now_ms) : 0;
}

/* Whether queue_out[i] goes now: something in it must, it is full, or its
 * deferred acks waited long enough. */
static bool s_queue_due(acceptor_t *a, int i, int64_t *now)
{
    size_t n = nmq_batch_count(a->queue_out[i]);
    if (n == 0)
        return false;
    if (a->queue_eager[i] || n >= ACC_BATCH_OPS)
        return true;
    if (!*now)
        *now = (int64_t)acc_now_ms();
    return *now - a->queue_lazy_since[i] >= ACC_ACK_DELAY_MS;
}
nmq_batch_t *acc_to_meta(acceptor_t *a) { return a->meta_out; }

Nmq__ConnRef *acc_conn_ref(acceptor_t *a, nmq_batch_t *b, const acc_conn_t *c)
{
    Nmq__ConnRef *ref = nmq_batch_alloc(b, sizeof *ref);
    nmq__conn_ref__init(ref);
    ref->acceptor = a->id;   /* lives as long as the acceptor */
    ref->has_conn = true;
    ref->conn = c->id;
    return ref;
}

void acc_links_timer(acceptor_t *a)
{
    for (int i = 0; i < a->nshards; i++)
        nmq_batch_op(a->queue_out[i], BROKER_OP_HELLO);
    /* so that the cluster worker knows where to say LEAVE */
    nmq_batch_t *b = nmq_batch_new();
    nmq_batch_op(b, BROKER_OP_HELLO);
    nmq_batch_send(b, a->cluster, NULL, 0);
    nmq_batch_destroy(&b);
}

/* Backpressure: a queue worker that falls behind fills its pipe (a bounded
 * HWM); its batch then stays here, whole, and the acceptor stops reading its
 * clients until the batch is out, so TCP pushes back on the publishers
 * instead of memory growing anywhere. */
bool acc_links_pressure(acceptor_t *a)
{
    for (int i = 0; i < a->nshards; i++)
        if (nmq_batch_count(a->queue_out[i]) >= ACC_BATCH_OPS) {
            acc_links_flush(a);
            break;
        }
    return a->congested;
}

void acc_links_flush(acceptor_t *a)
{
    bool congested = false;
    int64_t now = 0;
    for (int i = 0; i < a->nshards; i++) {
        if (!s_queue_due(a, i, &now))
            continue;
        if (nmq_batch_send(a->queue_out[i], a->queues[i], NULL, 0) < 0 && errno == EAGAIN) {
            congested = true;
            continue;
        }
        a->queue_eager[i] = false;
        a->queue_lazy_since[i] = 0;
    }
    nmq_batch_send(a->meta_out, a->meta, NULL, 0);
    acc_remote_flush(a);
    if (congested == a->congested)
        return;
    a->congested = congested;
    /* input read before the pipe filled waits in its connection's buffer,
     * held (acc_session_input): the next turn takes it up (acceptor_main.c) */
    nmq_worker_pause_fd(a->w, a->epfd, congested);
}

static void *s_connect(acceptor_t *a, int type, const char *name, int hwm)
{
    void *s = nmq_batch_socket(a->zctx, a->cfg, type, name, false, type == ZMQ_DEALER ? a->id : NULL,
                               hwm, hwm);
    if (s)
        nmq_worker_watch_socket(a->w, s, ZMQ_POLLIN, s_on_socket, s);
    return s;
}

int acc_links_start(acceptor_t *a)
{
    a->zctx = nmq_worker_zctx(a->w);
    a->in = calloc(1, sizeof *a->in);
    a->nshards = a->cfg->queue_shards < ACC_MAX_SHARDS ? a->cfg->queue_shards : ACC_MAX_SHARDS;
    for (int i = 0; i < a->nshards; i++) {
        char name[32];
        snprintf(name, sizeof name, "queue.%d.sock", i);
        a->queues[i] = s_connect(a, ZMQ_DEALER, name, ACC_QUEUE_HWM);
        a->queue_out[i] = nmq_batch_new();
        if (!a->queues[i])
            return 1;
    }
    a->meta = s_connect(a, ZMQ_DEALER, "meta.sock", 0);
    a->meta_sub = s_connect(a, ZMQ_SUB, "meta-pub.sock", 0);
    a->meta_out = nmq_batch_new();
    /* FORWARD out, LEAVE in: other nodes' publishes come through the queue workers */
    a->cluster = s_connect(a, ZMQ_DEALER, "cluster.sock", 0);
    return a->meta && a->meta_sub && a->cluster ? 0 : 1;
}

void acc_links_stop(acceptor_t *a)
{
    acc_links_flush(a);
    for (int i = 0; i < a->nshards; i++) {
        if (a->queues[i]) {
            nmq_worker_unwatch_socket(a->w, a->queues[i]);
            zmq_close(a->queues[i]);
        }
        nmq_batch_destroy(&a->queue_out[i]);
    }
    void *socks[] = { a->meta, a->meta_sub };
    for (size_t i = 0; i < 2; i++)
        if (socks[i]) {
            nmq_worker_unwatch_socket(a->w, socks[i]);
            zmq_close(socks[i]);
        }
    if (a->cluster) {
        nmq_worker_unwatch_socket(a->w, a->cluster);
        zmq_close(a->cluster);
    }
    a->cluster = NULL;
    nmq_batch_destroy(&a->meta_out);
    if (a->in)
        nmq_batch_in_free(a->in);
    free(a->in);
}
