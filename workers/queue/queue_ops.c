/* queue_ops — what a queue worker does with each op (s_ops, by op code) and
 * what it sends at the end of a turn.  See queue_worker.h for the order of a
 * turn and why it is that order.
 */
#include "queue_worker.h"
#include "nmq_log.h"

#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

typedef void (s_op_fn)(queue_worker_t *q, const nmq_batch_in_t *in, const Nmq__Op *op);

int64_t queue_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static queue_peer_t *s_peer(queue_worker_t *q, const char *id, size_t len)
{
    queue_peer_t *reuse = NULL;
    for (int i = 0; i < q->npeers; i++) {
        if (q->peers[i].id_len == len && !memcmp(q->peers[i].id, id, len)) {
            q->peers[i].last_seen_ms = queue_now_ms();
            return &q->peers[i];
        }
        if (q->peers[i].gone && !reuse)
            reuse = &q->peers[i];
    }
    if (len > sizeof q->peers[0].id || (q->npeers == QUEUE_MAX_PEERS && !reuse))
        return NULL;
    queue_peer_t *p;
    if (q->npeers < QUEUE_MAX_PEERS) {
        p = &q->peers[q->npeers++];
        p->out = nmq_batch_new();
    } else {
        p = reuse;
        nmq_batch_discard(p->out);   /* what came in for the dead one since */
    }
    p->last_seen_ms = queue_now_ms();
    memcpy(p->id, id, len);
    p->id_len = len;
    p->gone = false;
    p->gen++;
    return p;
}

/* An acceptor's id is "a<slot>.<pid>" (acceptor_main.c): one whose pipe
 * stays full may have died with it full, and a dead one's connection is
 * never read to its end while this worker does not read (it is blocked on
 * that very pipe).  Its process tells. */
static bool s_peer_gone(const queue_peer_t *p)
{
    const char *dot = memchr(p->id, '.', p->id_len), *end = p->id + p->id_len;
    if (p->id[0] != 'a' || !dot || dot + 1 == end)
        return false;
    long pid = 0;
    for (const char *c = dot + 1; c < end; c++) {
        if (*c < '0' || *c > '9' || pid > 1L << 32)
            return false;
        pid = pid * 10 + (*c - '0');
    }
    return pid > 0 && kill((pid_t)pid, 0) < 0 && errno == ESRCH;
}

static void s_mark_dirty(queue_worker_t *q, queue_attach_t *at)
{
    if (!at || at->dirty)
        return;
    if (q->ndirty == q->cap_dirty) {
        q->cap_dirty = q->cap_dirty ? q->cap_dirty * 2 : 64;
        q->dirty = realloc(q->dirty, q->cap_dirty * sizeof *q->dirty);
    }
    at->dirty = true;
    q->dirty[q->ndirty++] = at;
}

Nmq__ConnRef *queue_ops_conn(nmq_batch_t *b, const queue_attach_t *at)
{
    Nmq__ConnRef *c = nmq_batch_alloc(b, sizeof *c);
    nmq__conn_ref__init(c);
    c->has_conn = true;
    c->conn = at->conn;
    return c;
}

static void s_presence(queue_worker_t *q, const char *client, bool online)
{
    Nmq__Op *op = nmq_batch_op(q->meta_out, BROKER_OP_PRESENCE);
    op->client_id = nmq_batch_strdup(q->meta_out, client, strlen(client));
    op->has_online = true;
    op->online = online;
}

void queue_ops_detach(queue_worker_t *q, const char *client)
{
    queue_attach_t *at = nmq_hashmap_remove(q->attached, client, strlen(client));
    if (!at)
        return;
    s_presence(q, client, false);
    queue_pace_detach(q, at);
    if (at->dirty) {   /* leave no dangling pointer on the dirty list */
        for (size_t i = 0; i < q->ndirty; i++)
            if (q->dirty[i] == at)
                q->dirty[i] = q->dirty[--q->ndirty];
    }
    free(at->username);
    free(at);
}

/* --- ops ------------------------------------------------------------------------- */

static void s_will_cancel(queue_worker_t *q, const char *client);

queue_peer_t *queue_ops_peer(queue_worker_t *q, const char *id, size_t len) { return s_peer(q, id, len); }

static void s_attach(queue_worker_t *q, const nmq_batch_in_t *in, const Nmq__Op *op)
{
    if (!op->client_id || !op->conn)
        return;
    queue_peer_t *peer = s_peer(q, in->routing_id, in->routing_len);
    if (!peer)
        return;
    /* no session here to resume: it may live on another node (queue_move.c) */
    if (!op->clean_start && !queue_shard_find(q->shard, op->client_id) && queue_move_claim(q, peer, op))
        return;
    queue_ops_attach(q, peer, op);
}

void queue_ops_attach(queue_worker_t *q, queue_peer_t *peer, const Nmq__Op *op)
{
    queue_attach_t *old = nmq_hashmap_get(q->attached, op->client_id, strlen(op->client_id));
    if (old) {
        /* session takeover: the previous connection goes first (0x8E) */
        Nmq__Op *kick = nmq_batch_op(old->peer->out, BROKER_OP_KICK);
        kick->conn = queue_ops_conn(old->peer->out, old);
        kick->has_reason = true;
        kick->reason = 0x8E;
        queue_ops_detach(q, op->client_id);
    }
    s_will_cancel(q, op->client_id);   /* the session resumed in time [MQTT-3.1.3-9] */
    queue_connect_t c = { 0 };
    c.proto = (uint8_t)op->level;
    c.clean_start = op->clean_start;
    c.expiry_interval = op->session_expiry;
    c.persistent = op->level < 5 ? !op->clean_start : op->session_expiry > 0;
    c.receive_max = (uint16_t)op->receive_max;
    bool present = false;
    queue_session_t *s = queue_shard_connect(q->shard, op->client_id, &c, queue_now_ms(), &present);
    if (!s) {
        nmq_error("store error attaching %s", op->client_id);
        return;
    }
    /* one block: the struct, the client id (the map's key), the peer address */
    size_t len = strlen(op->client_id), plen = op->peer ? strlen(op->peer) : 0;
    queue_attach_t *at = calloc(1, sizeof *at + len + 1 + plen + 1);
    memcpy(at->client_id, op->client_id, len + 1);
    at->peer_addr = at->client_id + len + 1;
    memcpy(at->peer_addr, op->peer ? op->peer : "", plen + 1);
    at->peer = peer;
    at->conn = op->conn->conn;
    at->last_ack_ms = queue_now_ms();
    at->username = op->username ? strdup(op->username) : NULL;
    at->level = (uint8_t)op->level;
    nmq_hashmap_put(q->attached, at->client_id, len, at);
    s_presence(q, op->client_id, true);
    /* a clean start had its CONNACK already (acceptor_session.c): only a
     * session that may resume waits to hear whether it was present */
    if (!op->clean_start) {
        Nmq__Op *ans = nmq_batch_op(peer->out, BROKER_OP_ATTACHED);
        ans->conn = queue_ops_conn(peer->out, at);
        ans->has_session_present = true;
        ans->session_present = present;
    }
    s_mark_dirty(q, at);
}

/* --- delayed wills ------------------------------------------------------------- */

static void s_will_free(queue_will_t *w)
{
    free(w->msg);
    free(w->payload);
    free(w);
}

static void s_will_cancel(queue_worker_t *q, const char *client)
{
    for (queue_will_t **p = &q->wills; *p;)
        if (!strcmp((*p)->client_id, client)) {
            queue_will_t *w = *p;
            *p = w->next;
            s_will_free(w);
        } else {
            p = &(*p)->next;
        }
}

static void s_will_hold(queue_worker_t *q, const nmq_batch_in_t *in, const Nmq__Op *op)
{
    size_t plen, clen = strlen(op->client_id);
    const uint8_t *payload = nmq_batch_in_payload(in, op->msg, &plen);
    queue_will_t *w = calloc(1, sizeof *w + clen + 1);
    memcpy(w->client_id, op->client_id, clen + 1);
    Nmq__Msg copy = *op->msg;
    copy.has_payload_frame = false;
    w->msg_len = nmq__msg__get_packed_size(&copy);
    w->msg = malloc(w->msg_len ? w->msg_len : 1);
    nmq__msg__pack(&copy, w->msg);
    w->payload = malloc(plen ? plen : 1);
    memcpy(w->payload, payload, plen);
    w->payload_len = plen;
    /* whichever comes first: the will delay or the end of the session */
    uint32_t delay = op->will_delay;
    if (op->has_session_expiry && op->session_expiry < delay)
        delay = op->session_expiry;
    w->due_ms = queue_now_ms() + (int64_t)delay * 1000;
    w->next = q->wills;
    q->wills = w;
}

void queue_ops_wills(queue_worker_t *q, int64_t now, bool all)
{
    queue_peer_t *to = NULL;
    for (int i = 0; i < q->npeers; i++)
        if (q->peers[i].id[0] == 'a' && !q->peers[i].gone &&
            (!to || q->peers[i].last_seen_ms > to->last_seen_ms))
            to = &q->peers[i];
    for (queue_will_t **p = &q->wills; *p;) {
        queue_will_t *w = *p;
        if (!to || (!all && now < w->due_ms)) {
            p = &w->next;
            continue;
        }
        Nmq__Msg *m = nmq__msg__unpack(NULL, w->msg_len, w->msg);
        if (m) {
            nmq_batch_t *b = to->out;
            Nmq__Op *op = nmq_batch_op(b, BROKER_OP_ROUTE);
            op->client_id = nmq_batch_strdup(b, w->client_id, strlen(w->client_id));
            Nmq__Msg *copy = nmq_batch_alloc(b, sizeof *copy);
            *copy = *m;
            copy->topic = nmq_batch_strdup(b, m->topic ? m->topic : "", m->topic ? strlen(m->topic) : 0);
            copy->publisher = NULL;
            if (m->has_props) {
                copy->props.data = nmq_batch_alloc(b, m->props.len);
                memcpy(copy->props.data, m->props.data, m->props.len);
            }
            copy->has_payload_frame = true;
            copy->payload_frame = nmq_batch_payload(b, w->payload, w->payload_len);
            op->msg = copy;
            nmq__msg__free_unpacked(m, NULL);
        }
        *p = w->next;
        s_will_free(w);
    }
}

static void s_detach_op(queue_worker_t *q, const nmq_batch_in_t *in, const Nmq__Op *op)
{
    if (!op->client_id || !op->conn)
        return;
    queue_attach_t *at = nmq_hashmap_get(q->attached, op->client_id, strlen(op->client_id));
    /* a connection id is unique within its acceptor only */
    if (!at || at->conn != op->conn->conn || at->peer->id_len != in->routing_len ||
        memcmp(at->peer->id, in->routing_id, in->routing_len))
        return;   /* taken over already: the session resumed, so a delayed will is void */
    if (op->msg && op->has_will_delay)
        s_will_hold(q, in, op);
    queue_session_t *s = queue_shard_find(q->shard, op->client_id);
    queue_ops_detach(q, op->client_id);
    if (s && queue_shard_disconnect(q->shard, s, queue_now_ms(),
                                    op->has_session_expiry ? (int64_t)op->session_expiry : -1) < 0)
        nmq_error("store error detaching %s", op->client_id);
}

static void s_hello(queue_worker_t *q, const nmq_batch_in_t *in, const Nmq__Op *op);

queue_store_msg_t queue_ops_store_msg(const nmq_batch_in_t *in, const Nmq__Msg *m)
{
    size_t plen;
    const uint8_t *payload = nmq_batch_in_payload(in, m, &plen);
    return (queue_store_msg_t){
        .topic = m->topic ? m->topic : "",
        .topic_len = m->topic ? strlen(m->topic) : 0,
        .payload = payload,
        .payload_len = plen,
        .props = m->has_props ? m->props.data : NULL,
        .props_len = m->has_props ? m->props.len : 0,
        .qos = (uint8_t)m->qos,
        .retain = m->retain,
        .published_at = (int64_t)m->published_at_ms,
        .expiry_at = m->has_expires_at_ms ? (int64_t)m->expires_at_ms : 0,
    };
}

static void s_append(queue_worker_t *q, const nmq_batch_in_t *in, const Nmq__Op *op)
{
    const Nmq__Msg *m = op->msg;
    if (!m || op->n_recipients == 0)
        return;
    static uint64_t epoch;
    if (!epoch)
        epoch = (uint64_t)getpid();
    if (op->has_epoch && op->epoch && op->epoch != epoch) {
        /* routed before the acceptor knew this worker restarted: its
         * publisher is about to be disconnected and to resend what our
         * predecessor lost; taking this one now would put it ahead of those */
        s_hello(q, in, op);
        return;
    }
    queue_store_msg_t msg = queue_ops_store_msg(in, m);
    queue_target_t stack[64];
    queue_target_t *t = op->n_recipients <= 64 ? stack : calloc(op->n_recipients, sizeof *t);
    for (size_t i = 0; i < op->n_recipients; i++) {
        const Nmq__Recipient *r = op->recipients[i];
        t[i] = (queue_target_t){
            .client_id = r->client_id ? r->client_id : "",
            .qos = (uint8_t)r->qos,
            .retain = m->retain && r->retain_as_published,
            .n_sub_ids = (uint16_t)r->n_sub_ids,
            .sub_ids = r->sub_ids,
        };
    }
    /* the acceptor sends each client once per APPEND (acceptor_routes.c) */
    int appended = queue_shard_append(q->shard, &msg, t, (int)op->n_recipients, queue_now_ms());
    if (appended < 0)
        nmq_error("store error appending message %llu", (unsigned long long)m->id);
    else
        q->backlog += (size_t)appended;
    /* confirmed after this turn's commit (the batch goes out after it), or
     * later if a subscriber paces the publisher (queue_pace.c); an APPEND
     * from another node came through the cluster worker */
    bool answer = op->has_req && op->conn;
    queue_peer_t *peer = answer && in->routing_len ? s_peer(q, in->routing_id, in->routing_len) : NULL;
    if (in->routing_len && !peer)
        answer = false;
    for (size_t i = 0; i < op->n_recipients; i++) {
        queue_attach_t *at = nmq_hashmap_get(q->attached, t[i].client_id, strlen(t[i].client_id));
        s_mark_dirty(q, at);
        if (answer && queue_pace_park(q, &t[i], at, peer, op->req, op->conn->conn))
            answer = false;
    }
    if (t != stack)
        free(t);
    if (answer)
        queue_pace_appended(q, peer, op->req, op->conn->conn);
}

static void s_ack(queue_worker_t *q, const nmq_batch_in_t *in, const Nmq__Op *op)
{
    if (!op->client_id)
        return;
    queue_session_t *s = queue_shard_find(q->shard, op->client_id);
    if (!s)
        return;
    uint16_t id = (uint16_t)op->packet_id;
    int rc;
    switch (op->ack_type) {
    case 4: rc = queue_session_puback(q->shard, s, id); break;                 /* PUBACK */
    case 5: rc = queue_session_pubrec(q->shard, s, id, (uint8_t)op->reason); break; /* PUBREC */
    default: rc = queue_session_pubcomp(q->shard, s, id); break;             /* PUBCOMP */
    }
    if (rc == QUEUE_ACK_UNKNOWN)
        nmq_debug("client %s: ack type %u for unknown packet id %u", op->client_id, op->ack_type, id);
    queue_attach_t *at = nmq_hashmap_get(q->attached, op->client_id, strlen(op->client_id));
    if (at)
        at->last_ack_ms = queue_now_ms();
    s_mark_dirty(q, at);
}

static void s_hello(queue_worker_t *q, const nmq_batch_in_t *in, const Nmq__Op *op)
{
    queue_peer_t *peer = s_peer(q, in->routing_id, in->routing_len);
    if (!peer)
        return;
    Nmq__Op *ans = nmq_batch_op(peer->out, BROKER_OP_HELLO);
    ans->has_seq = true;
    ans->seq = (uint64_t)getpid();
}

static s_op_fn *const s_ops[BROKER_OP_MAX] = {
    [BROKER_OP_HELLO] = s_hello,
    [BROKER_OP_ATTACH] = s_attach,
    [BROKER_OP_DETACH] = s_detach_op,
    [BROKER_OP_APPEND] = s_append,
    [BROKER_OP_ACK] = s_ack,
    [BROKER_OP_CLAIMED] = queue_move_claimed,
    [BROKER_OP_HANDOFF] = queue_move_handoff,
    [BROKER_OP_SESSION_MSG] = queue_move_session_msg,
    [BROKER_OP_SESSION] = queue_move_session,
    [BROKER_OP_MIGRATE] = queue_move_migrate,
};

void queue_ops_dispatch(queue_worker_t *q, const nmq_batch_in_t *in)
{
    for (size_t i = 0; i < in->batch->n_ops; i++) {
        const Nmq__Op *op = in->batch->ops[i];
        s_op_fn *fn = op->op < BROKER_OP_MAX ? s_ops[op->op] : NULL;
        if (fn)
            fn(q, in, op);
        else
            nmq_warn("ignored op %u: not one a queue worker receives", op->op);
    }
}

/* --- the end of a turn -------------------------------------------------------------- */

static void s_deliver(queue_worker_t *q, queue_attach_t *at, const queue_out_t *out)
{
    nmq_batch_t *b = at->peer->out;
    if (out->kind == QUEUE_OUT_PUBREL) {
        Nmq__Op *op = nmq_batch_op(b, BROKER_OP_PUBREL);
        op->conn = queue_ops_conn(b, at);
        op->has_packet_id = true;
        op->packet_id = out->packet_id;
        return;
    }
    const queue_msg_t *m = out->msg;
    Nmq__Op *op = nmq_batch_op(b, BROKER_OP_DELIVER);
    op->conn = queue_ops_conn(b, at);
    op->has_packet_id = op->has_dup = true;
    op->packet_id = out->packet_id;
    op->dup = out->dup;
    Nmq__Msg *msg = nmq_batch_alloc(b, sizeof *msg);
    nmq__msg__init(msg);
    msg->has_id = msg->has_qos = msg->has_retain = true;
    msg->id = m->id;
    msg->topic = nmq_batch_strdup(b, m->topic, m->topic_len);
    msg->qos = out->qos;
    msg->retain = out->retain;
    if (m->props_len) {
        msg->has_props = true;
        msg->props.len = m->props_len;
        msg->props.data = nmq_batch_alloc(b, m->props_len);
        memcpy(msg->props.data, m->props, m->props_len);
    }
    if (out->expiry_left >= 0) {
        msg->has_expires_at_ms = true;
        msg->expires_at_ms = (uint64_t)m->expiry_at;
        op->has_remaining_expiry = true;
        op->remaining_expiry = (uint32_t)out->expiry_left;
    }
    msg->has_payload_frame = true;
    msg->payload_frame = nmq_batch_payload(b, m->payload, m->payload_len);
    op->msg = msg;
    if (out->n_sub_ids) {
        Nmq__Recipient *r = nmq_batch_alloc(b, sizeof *r);
        nmq__recipient__init(r);
        r->n_sub_ids = out->n_sub_ids;
        r->sub_ids = nmq_batch_alloc(b, out->n_sub_ids * sizeof *r->sub_ids);
        memcpy(r->sub_ids, out->sub_ids, out->n_sub_ids * sizeof *r->sub_ids);
        op->n_recipients = 1;
        op->recipients = nmq_batch_alloc(b, sizeof *op->recipients);
        op->recipients[0] = r;
    }
}

/* A turn sends at most QUEUE_TURN_BUDGET packets and QUEUE_TURN_BYTES of
 * payload, an equal share of the packets to each session with work (at least
 * QUEUE_SESSION_BUDGET): a client with a huge backlog, or a fan-out to
 * thousands, is fed over several turns and the worker's loop stays short.
 * The bytes matter because each delivery carries its own copy of the payload
 * and an acceptor's pipe holds 16 batches: 8192 deliveries of 2 KiB made
 * 16 MiB batches, turns of 200 ms here and in the acceptors, and pipes of
 * 256 MiB.  64-byte messages reach the packet budget first.
 * Sessions left with work stay on the dirty list, the served ones first out,
 * so every session gets its turn. */
#define QUEUE_TURN_BUDGET 8192
#define QUEUE_TURN_BYTES (1u << 20)
#define QUEUE_SESSION_BUDGET 256
/* Packets waiting to go out above which acceptors are not read (s_on_router):
 * one append may fan out to thousands of sessions, so reading as long as
 * batches come would queue a publisher's flood in this worker's memory.
 * Above it, the acceptors' pipes fill and they stop reading their
 * publishers.  Acknowledgements cannot be held up for long: a session whose
 * window is full is no backlog. */
#define QUEUE_BACKLOG_MAX (2 * QUEUE_TURN_BUDGET)

bool queue_ops_backlogged(const queue_worker_t *q) { return q->backlog >= QUEUE_BACKLOG_MAX; }

static size_t s_out_bytes(const queue_out_t *out)
{
    return out->msg ? out->msg->payload_len + out->msg->topic_len + out->msg->props_len : 0;
}

bool queue_ops_flush(queue_worker_t *q)
{
    int64_t now = queue_now_ms();
    size_t keep = 0, i = 0, backlog = 0;
    int budget = QUEUE_TURN_BUDGET;
    /* fair shares: a lone busy subscriber may take the whole turn */
    int share = q->ndirty ? QUEUE_TURN_BUDGET / (int)q->ndirty : QUEUE_TURN_BUDGET;
    if (share < QUEUE_SESSION_BUDGET)
        share = QUEUE_SESSION_BUDGET;
    size_t bytes = 0;
    for (; i < q->ndirty && budget > 0 && bytes < QUEUE_TURN_BYTES; i++) {
        queue_attach_t *at = q->dirty[i];
        queue_session_t *s = queue_shard_find(q->shard, at->client_id);
        queue_out_t out;
        int sent = 0;
        while (s && sent < share && sent < budget && bytes < QUEUE_TURN_BYTES &&
               queue_session_next(q->shard, s, now, &out) == 1) {
            s_deliver(q, at, &out);
            bytes += s_out_bytes(&out);
            sent++;
        }
        budget -= sent;
        if (sent == share || ((budget == 0 || bytes >= QUEUE_TURN_BYTES) && s)) {
            q->dirty[keep++] = at;   /* more next turn */
            backlog += queue_session_queued(s);
        } else {
            at->dirty = false;
        }
    }
    /* the sessions this turn did not reach come first next turn, then the
     * ones it served that still have more: [i, ndirty) + [0, keep) */
    size_t rest = q->ndirty - i;
    /* the sessions not reached count a share each: an estimate that errs
     * high, which only delays reading by a turn (QUEUE_BACKLOG_MAX) */
    q->backlog = backlog + rest * (size_t)share;
    if (rest && keep) {
        queue_attach_t **order = malloc((rest + keep) * sizeof *order);
        memcpy(order, q->dirty + i, rest * sizeof *order);
        memcpy(order + rest, q->dirty, keep * sizeof *order);
        memcpy(q->dirty, order, (rest + keep) * sizeof *order);
        free(order);
    } else if (rest) {
        memmove(q->dirty, q->dirty + i, rest * sizeof *q->dirty);
    }
    q->ndirty = rest + keep;
    queue_pace_turn(q, now);   /* publishers whose subscribers caught up go on */
    if (q->store && queue_store_commit(q->store) < 0) {
        /* nothing may leave: what was not committed must not be confirmed */
        nmq_error("store commit failed: exiting to be restarted from the last commit");
        exit(1);
    }
    bool blocked = false;
    for (int p = 0; p < q->npeers; p++) {
        queue_peer_t *peer = &q->peers[p];
        if (peer->gone) {
            nmq_batch_discard(peer->out);
            continue;
        }
        if (nmq_batch_send(peer->out, q->router, peer->id, peer->id_len) < 0 && errno == EAGAIN) {
            if (!s_peer_gone(peer)) {
                blocked = true;
                continue;
            }
            nmq_warn("acceptor %.*s exited with its pipe full: %zu ops for it dropped", (int)peer->id_len,
                     peer->id, nmq_batch_count(peer->out));
            peer->gone = true;
            nmq_batch_discard(peer->out);
        }
    }
    queue_block(q, blocked);
    nmq_batch_send(q->meta_out, q->meta, NULL, 0);
    nmq_batch_send(q->cluster_out, q->cluster, NULL, 0);
    return q->ndirty > 0;
}

static void s_expired(const char *client_id, void *arg)
{
    queue_worker_t *q = arg;
    Nmq__Op *op = nmq_batch_op(q->meta_out, BROKER_OP_UNSUBSCRIBE_ALL);
    op->client_id = nmq_batch_strdup(q->meta_out, client_id, strlen(client_id));
    nmq_info("session %s expired", client_id);
}

/* VerneMQ resends unacknowledged messages to 3.1.x clients every
 * retry_interval while they stay connected (5.0 forbids it: only on a new
 * connection).  A client that acked anything within the interval is making
 * progress and is left alone. */
void queue_ops_retry(queue_worker_t *q, int64_t now)
{
    int64_t interval = (int64_t)q->cfg->retry_interval * 1000;
    size_t cursor = 0, klen;
    const void *key;
    void *value;
    while (interval > 0 && nmq_hashmap_next(q->attached, &cursor, &key, &klen, &value)) {
        queue_attach_t *at = value;
        if (at->level >= 5 || now - at->last_ack_ms < interval)
            continue;
        queue_session_t *s = queue_shard_find(q->shard, at->client_id);
        queue_session_info_t info;
        if (!s)
            continue;
        queue_session_info(s, &info);
        if (info.inflight == 0 && info.pubrels == 0) {
            at->last_ack_ms = now;
            continue;
        }
        queue_session_resend(q->shard, s);
        at->last_ack_ms = now;
        s_mark_dirty(q, at);
    }
}

void queue_ops_expire(queue_worker_t *q, int64_t now)
{
    if (queue_shard_expire(q->shard, now, s_expired, q) < 0)
        nmq_error("store error expiring sessions");
}

/* --- queries from the supervisor ------------------------------------------------------ */

typedef struct {
    queue_worker_t *q;
    char **cells;
    size_t n, cap;
} s_rows_t;

static void s_cell(s_rows_t *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void s_cell(s_rows_t *r, const char *fmt, ...)
{
    if (r->n == r->cap) {
        r->cap = r->cap ? r->cap * 2 : 64;
        r->cells = realloc(r->cells, r->cap * sizeof *r->cells);
    }
    va_list ap;
    va_start(ap, fmt);
    if (vasprintf(&r->cells[r->n], fmt, ap) < 0)
        r->cells[r->n] = strdup("");
    va_end(ap);
    r->n++;
}

static void s_rows_free(s_rows_t *r)
{
    for (size_t i = 0; i < r->n; i++)
        free(r->cells[i]);
    free(r->cells);
}

static void s_session_row(queue_session_t *s, void *arg)
{
    s_rows_t *r = arg;
    const char *cid = queue_session_client_id(s);
    queue_session_info_t info;
    queue_session_info(s, &info);
    const queue_attach_t *at = nmq_hashmap_get(r->q->attached, cid, strlen(cid));
    s_cell(r, "%s", cid);
    s_cell(r, "%s", at ? "true" : "false");
    s_cell(r, "%s", at && at->username ? at->username : "");
    s_cell(r, "%s", at && at->peer_addr ? at->peer_addr : "");
    s_cell(r, "%u", info.proto);
    s_cell(r, "%zu", info.queued + info.inflight);
    s_cell(r, "%s", info.persistent ? "true" : "false");
}

static const char *const s_session_columns[] = { "client_id", "is_online", "user", "peer", "protocol",
                                                 "queue_size", "persistent" };

static void s_query_disconnect(queue_worker_t *q, const Nmq__Ctl *msg)
{
    const char *cid = msg->args[1];
    bool cleanup = msg->n_args > 2 && !strcmp(msg->args[2], "cleanup");
    queue_session_t *s = queue_shard_find(q->shard, cid);
    if (!s) {
        nmq_worker_reply_query(q->w, msg->query, 1, "no such session here", NULL, 0, NULL, 0);
        return;
    }
    queue_attach_t *at = nmq_hashmap_get(q->attached, cid, strlen(cid));
    if (at) {
        Nmq__Op *kick = nmq_batch_op(at->peer->out, BROKER_OP_KICK);
        kick->conn = queue_ops_conn(at->peer->out, at);
        kick->has_reason = true;
        kick->reason = 0x98;   /* administrative action */
        queue_ops_detach(q, cid);
    }
    int rc = cleanup ? queue_shard_delete(q->shard, s) : (at ? queue_shard_disconnect(q->shard, s, queue_now_ms(), -1) : 0);
    if (cleanup) {
        Nmq__Op *op = nmq_batch_op(q->meta_out, BROKER_OP_UNSUBSCRIBE_ALL);
        op->client_id = nmq_batch_strdup(q->meta_out, cid, strlen(cid));
    }
    nmq_info("admin: session %s disconnected%s", cid, cleanup ? " and removed" : "");
    const char *cols[] = { "client_id" };
    char *cells[] = { (char *)cid };
    nmq_worker_reply_query(q->w, msg->query, rc < 0 ? 1 : 0, rc < 0 ? "store error" : "", cols, 1, cells, 1);
}

void queue_ops_query(queue_worker_t *q, const Nmq__Ctl *msg)
{
    const char *what = msg->n_args ? msg->args[0] : "";
    if (!strcmp(what, "sessions")) {
        s_rows_t r = { q, NULL, 0, 0 };
        queue_shard_each(q->shard, s_session_row, &r);
        size_t ncols = sizeof s_session_columns / sizeof s_session_columns[0];
        nmq_worker_reply_query(q->w, msg->query, 0, "", s_session_columns, ncols, r.cells, r.n / ncols);
        s_rows_free(&r);
    } else if (!strcmp(what, "disconnect") && msg->n_args >= 2) {
        s_query_disconnect(q, msg);
    } else {
        nmq_worker_reply_query(q->w, msg->query, 2, "unknown query", NULL, 0, NULL, 0);
    }
}
