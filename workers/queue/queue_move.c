/* queue_move — a session moving from one node to another (takeover).
 *
 * On the node the client connects to (B): an ATTACH that finds no session here
 * and does not start clean is held, and the metadata worker is asked (CLAIM)
 * whether the session lives elsewhere.  The answer (CLAIMED) names the node
 * that held it, or none: then the ATTACH goes ahead at once.  Otherwise it
 * waits for that node's SESSION (at most QUEUE_MOVE_WAIT_MS; then it goes
 * ahead with what arrived) and attaches to the session the messages built:
 * session present, messages that were in flight there in flight here, so that
 * they go out again with DUP.
 *
 * On the node that held it (A): the metadata worker learns from the cluster's
 * record that the session now belongs to B, and says HANDOFF.  The connection
 * still here is kicked (0x8E, session taken over), every message of the
 * session goes to B (SESSION_MSG ..., then SESSION, in one batch through the
 * cluster worker) and the session is deleted here.  HANDOFF with `remove`
 * (the client started clean on B) deletes it without sending anything.
 *
 * A SESSION for a client nobody waits for (the wait ran out, a leave moves
 * queues) stays here offline, to be resumed by the next CONNECT; the
 * metadata worker is told (CLAIM), so the client's record and subscriptions
 * come here too.
 *
 * cluster leave (MIGRATE from the migration worker): every session goes to the
 * named nodes round robin, a few hundred per turn; online ones stay until
 * their clients go (or -k made them go), or until MIGRATE comes again with
 * `force`.  PROGRESS tells the migration worker how many are left.
 */
#include "queue_worker.h"
#include "nmq_log.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define QUEUE_MOVE_WAIT_MS  5000   /* for the session from the other node */
#define QUEUE_CLAIM_WAIT_MS 2000   /* for the metadata worker's answer */
#define QUEUE_HELLO_MS      1000

typedef struct queue_claim {
    struct queue_claim *next;
    char peer_id[64];
    size_t peer_len;
    uint8_t *attach;             /* the held ATTACH, packed */
    size_t attach_len;
    int64_t deadline_ms;
    bool waiting_session;
    char from[NMQ_CONF_STR_MAX];
    size_t imported;
    char client_id[];
} queue_claim_t;

static int64_t s_next_hello_ms;

static queue_claim_t **s_find(queue_worker_t *q, const char *client)
{
    queue_claim_t **p = &q->claims;
    while (*p && strcmp((*p)->client_id, client))
        p = &(*p)->next;
    return p;
}

static void s_free(queue_claim_t *c)
{
    free(c->attach);
    free(c);
}

/* The held ATTACH goes ahead: to the session that is here now, if any. */
static void s_resume(queue_worker_t *q, queue_claim_t **pc)
{
    queue_claim_t *c = *pc;
    *pc = c->next;
    Nmq__Op *op = nmq__op__unpack(NULL, c->attach_len, c->attach);
    queue_peer_t *peer = queue_ops_peer(q, c->peer_id, c->peer_len);
    if (op && peer)
        queue_ops_attach(q, peer, op);
    nmq__op__free_unpacked(op, NULL);
    s_free(c);
}

bool queue_move_claim(queue_worker_t *q, queue_peer_t *peer, const Nmq__Op *op)
{
    if (!q->cluster)
        return false;
    queue_claim_t **old = s_find(q, op->client_id);
    if (*old) {
        /* a second CONNECT while the first waits: the first is taken over */
        queue_claim_t *prev = *old;
        Nmq__Op *held = nmq__op__unpack(NULL, prev->attach_len, prev->attach);
        queue_peer_t *pp = queue_ops_peer(q, prev->peer_id, prev->peer_len);
        if (held && held->conn && pp) {
            Nmq__Op *kick = nmq_batch_op(pp->out, BROKER_OP_KICK);
            Nmq__ConnRef *ref = nmq_batch_alloc(pp->out, sizeof *ref);
            nmq__conn_ref__init(ref);
            ref->has_conn = true;
            ref->conn = held->conn->conn;
            kick->conn = ref;
            kick->has_reason = true;
            kick->reason = 0x8E;
        }
        nmq__op__free_unpacked(held, NULL);
        *old = prev->next;
        s_free(prev);
    }
    size_t len = strlen(op->client_id);
    queue_claim_t *c = calloc(1, sizeof *c + len + 1);
    memcpy(c->client_id, op->client_id, len + 1);
    memcpy(c->peer_id, peer->id, peer->id_len);
    c->peer_len = peer->id_len;
    c->attach_len = nmq__op__get_packed_size(op);
    c->attach = malloc(c->attach_len ? c->attach_len : 1);
    nmq__op__pack(op, c->attach);
    c->deadline_ms = queue_now_ms() + QUEUE_CLAIM_WAIT_MS;
    c->next = q->claims;
    q->claims = c;
    Nmq__Op *ask = nmq_batch_op(q->meta_out, BROKER_OP_CLAIM);
    ask->client_id = nmq_batch_strdup(q->meta_out, op->client_id, len);
    return true;
}

void queue_move_claimed(queue_worker_t *q, const nmq_batch_in_t *in, const Nmq__Op *op)
{
    if (!op->client_id)
        return;
    queue_claim_t **pc = s_find(q, op->client_id);
    if (!*pc || (*pc)->waiting_session)
        return;
    if (!op->node || !op->node[0]) {
        s_resume(q, pc);
        return;
    }
    queue_claim_t *c = *pc;
    c->waiting_session = true;
    snprintf(c->from, sizeof c->from, "%s", op->node);
    c->deadline_ms = queue_now_ms() + QUEUE_MOVE_WAIT_MS;
    nmq_info("session %s lives on %s: waiting for it", c->client_id, c->from);
}

/* --- sending a session away ------------------------------------------------------------ */

typedef struct {
    nmq_batch_t *b;
    const char *client, *node, *self;
    uint32_t level, expiry;
    size_t n;
} s_export_t;

static Nmq__Op *s_session_op(s_export_t *x, broker_op_t code)
{
    Nmq__Op *op = nmq_batch_op(x->b, code);
    op->client_id = nmq_batch_strdup(x->b, x->client, strlen(x->client));
    op->node = nmq_batch_strdup(x->b, x->node, strlen(x->node));
    op->origin = nmq_batch_strdup(x->b, x->self, strlen(x->self));
    op->has_level = op->has_session_expiry = true;
    op->level = x->level;
    op->session_expiry = x->expiry;
    return op;
}

static void s_export_one(void *arg, const queue_store_msg_t *m, uint8_t qos, bool retain, uint16_t n_sub_ids,
                         const uint32_t *sub_ids, bool inflight)
{
    s_export_t *x = arg;
    nmq_batch_t *b = x->b;
    Nmq__Op *op = s_session_op(x, BROKER_OP_SESSION_MSG);
    Nmq__Msg *msg = nmq_batch_alloc(b, sizeof *msg);
    nmq__msg__init(msg);
    msg->topic = nmq_batch_strdup(b, m->topic, m->topic_len);
    msg->has_qos = msg->has_retain = msg->has_published_at_ms = true;
    msg->qos = m->qos;
    msg->retain = m->retain;
    msg->published_at_ms = (uint64_t)m->published_at;
    if (m->expiry_at) {
        msg->has_expires_at_ms = true;
        msg->expires_at_ms = (uint64_t)m->expiry_at;
    }
    if (m->props_len) {
        msg->has_props = true;
        msg->props.len = m->props_len;
        msg->props.data = nmq_batch_alloc(b, m->props_len);
        memcpy(msg->props.data, m->props, m->props_len);
    }
    msg->has_payload_frame = true;
    msg->payload_frame = nmq_batch_payload(b, m->payload, m->payload_len);
    op->msg = msg;
    Nmq__Recipient *r = nmq_batch_alloc(b, sizeof *r);
    nmq__recipient__init(r);
    r->client_id = op->client_id;
    r->has_qos = r->has_retain_as_published = true;
    r->qos = qos;
    r->retain_as_published = retain;
    if (n_sub_ids) {
        r->n_sub_ids = n_sub_ids;
        r->sub_ids = nmq_batch_alloc(b, n_sub_ids * sizeof *r->sub_ids);
        memcpy(r->sub_ids, sub_ids, n_sub_ids * sizeof *r->sub_ids);
    }
    op->n_recipients = 1;
    op->recipients = nmq_batch_alloc(b, sizeof *op->recipients);
    op->recipients[0] = r;
    op->has_dup = true;
    op->dup = inflight;
    x->n++;
}

/* The session of client goes to node (kicking its connection here), or with
 * discard is dropped.  Returns whether there was a session. */
static bool s_send_away(queue_worker_t *q, const char *client, const char *node, bool discard)
{
    queue_attach_t *at = nmq_hashmap_get(q->attached, client, strlen(client));
    if (at) {
        Nmq__Op *kick = nmq_batch_op(at->peer->out, BROKER_OP_KICK);
        kick->conn = queue_ops_conn(at->peer->out, at);
        kick->has_reason = true;
        kick->reason = 0x8E;   /* session taken over */
        queue_ops_detach(q, client);
    }
    queue_session_t *s = queue_shard_find(q->shard, client);
    if (discard) {
        if (s && queue_shard_delete(q->shard, s) < 0)
            nmq_error("store error deleting session %s", client);
        nmq_info("session %s started clean on %s: dropped here", client, node);
        return s != NULL;
    }
    queue_session_info_t info = { .proto = 4 };
    if (s)
        queue_session_info(s, &info);
    s_export_t x = { nmq_batch_new(), client, node, q->cfg->nodename, info.proto, info.expiry_interval, 0 };
    if (s && queue_session_export(q->shard, s, s_export_one, &x) < 0)
        nmq_error("store error reading session %s for %s", client, node);
    Nmq__Op *end = s_session_op(&x, BROKER_OP_SESSION);
    end->has_remove = true;
    end->remove = s == NULL;
    if (nmq_batch_send(x.b, q->cluster, NULL, 0) < 0)
        nmq_error("session %s could not be handed to the cluster worker", client);
    nmq_batch_destroy(&x.b);
    if (s && queue_shard_delete(q->shard, s) < 0)
        nmq_error("store error deleting session %s", client);
    q->moved_out += s != NULL;
    if (s)
        nmq_info("session %s moved to %s with %zu messages", client, node, x.n);
    return s != NULL;
}

void queue_move_handoff(queue_worker_t *q, const nmq_batch_in_t *in, const Nmq__Op *op)
{
    if (op->client_id && op->node && op->node[0])
        s_send_away(q, op->client_id, op->node, op->remove);
}

/* --- cluster leave: every session goes, round robin ---------------------------------------- */

#define QUEUE_MIGRATE_PER_TURN 200

static struct {
    bool active, force;
    char **nodes;
    size_t nnodes, next;
    char peer[64];
    size_t peer_len;
    uint64_t moved, reported_left;
    int64_t next_report_ms;
} s_leave;

void queue_move_migrate(queue_worker_t *q, const nmq_batch_in_t *in, const Nmq__Op *op)
{
    if (!op->n_nodes)
        return;
    for (size_t i = 0; i < s_leave.nnodes; i++)
        free(s_leave.nodes[i]);
    free(s_leave.nodes);
    s_leave.nodes = calloc(op->n_nodes, sizeof *s_leave.nodes);
    for (size_t i = 0; i < op->n_nodes; i++)
        s_leave.nodes[i] = strdup(op->nodes[i]);
    s_leave.nnodes = op->n_nodes;
    s_leave.force = op->force;
    s_leave.active = true;
    s_leave.next_report_ms = 0;
    memcpy(s_leave.peer, in->routing_id, in->routing_len);
    s_leave.peer_len = in->routing_len;
    nmq_info("cluster leave: moving this worker's %zu sessions to %zu nodes%s", queue_shard_size(q->shard),
             op->n_nodes, op->force ? ", online ones too" : "");
}

typedef struct {
    queue_worker_t *q;
    char **ids;
    size_t n, cap, online;
} s_pick_t;

static void s_pick(queue_session_t *s, void *arg)
{
    s_pick_t *p = arg;
    const char *cid = queue_session_client_id(s);
    if (!s_leave.force && nmq_hashmap_get(p->q->attached, cid, strlen(cid))) {
        p->online++;
        return;
    }
    if (p->n == QUEUE_MIGRATE_PER_TURN)
        return;
    p->ids[p->n++] = strdup(cid);
}

static int s_migrate(queue_worker_t *q, int64_t now)
{
    s_pick_t p = { q, calloc(QUEUE_MIGRATE_PER_TURN, sizeof(char *)), 0, QUEUE_MIGRATE_PER_TURN, 0 };
    queue_shard_each(q->shard, s_pick, &p);
    for (size_t i = 0; i < p.n; i++) {
        const char *node = s_leave.nodes[s_leave.next++ % s_leave.nnodes];
        s_leave.moved += s_send_away(q, p.ids[i], node, false);
        free(p.ids[i]);
    }
    free(p.ids);
    uint64_t left = queue_shard_size(q->shard);
    if (left != s_leave.reported_left || now >= s_leave.next_report_ms) {
        queue_peer_t *peer = queue_ops_peer(q, s_leave.peer, s_leave.peer_len);
        if (peer) {
            Nmq__Op *op = nmq_batch_op(peer->out, BROKER_OP_PROGRESS);
            op->has_shard = op->has_moved = op->has_left = true;
            op->shard = (uint32_t)q->slot;
            op->moved = s_leave.moved;
            op->left = left;
        }
        s_leave.reported_left = left;
        s_leave.next_report_ms = now + 1000;
    }
    return p.n == QUEUE_MIGRATE_PER_TURN ? 0 : 200;
}

/* --- receiving one ------------------------------------------------------------------------ */

void queue_move_session_msg(queue_worker_t *q, const nmq_batch_in_t *in, const Nmq__Op *op)
{
    if (!op->client_id || !op->msg || op->n_recipients != 1)
        return;
    int64_t now = queue_now_ms();
    queue_session_t *s = queue_shard_find(q->shard, op->client_id);
    if (!s) {
        queue_connect_t c = { .proto = (uint8_t)(op->level ? op->level : 4), .persistent = true,
                              .expiry_interval = op->session_expiry };
        bool present;
        s = queue_shard_connect(q->shard, op->client_id, &c, now, &present);
        if (!s || queue_shard_disconnect(q->shard, s, now, -1) < 0) {
            nmq_error("store error creating the moved session %s", op->client_id);
            return;
        }
    }
    queue_store_msg_t msg = queue_ops_store_msg(in, op->msg);
    const Nmq__Recipient *r = op->recipients[0];
    if (queue_session_import(q->shard, s, &msg, (uint8_t)r->qos, r->retain_as_published, (uint16_t)r->n_sub_ids,
                             r->sub_ids, op->dup, now) < 0)
        nmq_error("store error importing a message of %s", op->client_id);
    queue_claim_t **pc = s_find(q, op->client_id);
    if (*pc)
        (*pc)->imported++;
}

void queue_move_session(queue_worker_t *q, const nmq_batch_in_t *in, const Nmq__Op *op)
{
    if (!op->client_id)
        return;
    queue_session_t *s = queue_shard_find(q->shard, op->client_id);
    if (!op->remove)
        q->moved_in++;
    queue_claim_t **pc = s_find(q, op->client_id);
    nmq_info("session %s from %s: %s", op->client_id, op->origin ? op->origin : "?",
             op->remove ? "there was none" : s ? "taken over" : "empty");
    if (!op->remove && !s) {
        /* a session with no message: it still exists, and is present */
        queue_connect_t c = { .proto = (uint8_t)(op->level ? op->level : 4), .persistent = true,
                              .expiry_interval = op->session_expiry };
        bool present;
        int64_t now = queue_now_ms();
        s = queue_shard_connect(q->shard, op->client_id, &c, now, &present);
        if (s)
            queue_shard_disconnect(q->shard, s, now, -1);
    }
    if (*pc && (*pc)->waiting_session) {
        s_resume(q, pc);
    } else if (!op->remove) {
        /* nobody waits for it (a cluster leave sent it): its record and
         * subscriptions come here too */
        Nmq__Op *ask = nmq_batch_op(q->meta_out, BROKER_OP_CLAIM);
        ask->client_id = nmq_batch_strdup(q->meta_out, op->client_id, strlen(op->client_id));
    }
}

int queue_move_tick(queue_worker_t *q, int64_t now)
{
    int next = s_leave.active ? s_migrate(q, now) : 1000;
    for (queue_claim_t **pc = &q->claims; *pc;) {
        if (now < (*pc)->deadline_ms) {
            pc = &(*pc)->next;
            continue;
        }
        nmq_warn("session %s: no %s from %s in time; attaching without it", (*pc)->client_id,
                 (*pc)->waiting_session ? "session" : "answer", (*pc)->waiting_session ? (*pc)->from : "metadata");
        s_resume(q, pc);
    }
    if (q->cluster && now >= s_next_hello_ms) {
        nmq_batch_t *b = nmq_batch_new();
        Nmq__Op *hello = nmq_batch_op(b, BROKER_OP_HELLO);
        hello->has_shard = true;
        hello->shard = (uint32_t)q->slot;
        nmq_batch_send(b, q->cluster, NULL, 0);
        nmq_batch_destroy(&b);
        s_next_hello_ms = now + QUEUE_HELLO_MS;
    }
    for (queue_claim_t *c = q->claims; c; c = c->next)
        if (c->deadline_ms - now < next)
            next = c->deadline_ms > now ? (int)(c->deadline_ms - now) : 0;
    return next;
}

void queue_move_stop(queue_worker_t *q)
{
    for (size_t i = 0; i < s_leave.nnodes; i++)
        free(s_leave.nodes[i]);
    free(s_leave.nodes);
    s_leave.nodes = NULL;
    s_leave.nnodes = 0;
    while (q->claims) {
        queue_claim_t *c = q->claims;
        q->claims = c->next;
        s_free(c);
    }
}
