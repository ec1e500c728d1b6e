/* meta_ops — what the metadata worker does with each op it receives, one
 * handler per op code (s_ops).  Changes go to the in-memory tables, the
 * turn's LMDB transaction and the turn's delta batch together; replies wait in
 * m->replies until the acceptors have applied the deltas they depend on.
 */
#include "meta.h"
#include "nmq_hashmap.h"
#include "nmq_log.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef void (s_op_fn)(meta_t *m, const nmq_batch_in_t *in, const Nmq__Op *op);

#define META_SNAPSHOT_CHUNK 1000

int64_t meta_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static uint64_t s_wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Acceptors are whoever connects with a routing id "a<slot>.<pid>". */
static meta_acceptor_t *s_touch(meta_t *m, const nmq_batch_in_t *in)
{
    if (in->routing_len == 0 || in->routing_id[0] != 'a')
        return NULL;
    for (int i = 0; i < m->nacceptors; i++)
        if (m->acceptors[i].id_len == in->routing_len &&
            !memcmp(m->acceptors[i].id, in->routing_id, in->routing_len)) {
            m->acceptors[i].last_seen_ms = meta_now_ms();
            return &m->acceptors[i];
        }
    if (m->nacceptors == META_MAX_ACCEPTORS)
        return NULL;
    meta_acceptor_t *a = &m->acceptors[m->nacceptors++];
    memset(a, 0, sizeof *a);
    memcpy(a->id, in->routing_id, in->routing_len);
    a->id_len = in->routing_len;
    a->last_seen_ms = meta_now_ms();
    return a;
}

static Nmq__ConnRef *s_conn_copy(nmq_batch_t *b, const Nmq__ConnRef *from)
{
    if (!from)
        return NULL;
    Nmq__ConnRef *c = nmq_batch_alloc(b, sizeof *c);
    nmq__conn_ref__init(c);
    c->acceptor = from->acceptor ? nmq_batch_strdup(b, from->acceptor, strlen(from->acceptor)) : NULL;
    c->has_conn = from->has_conn;
    c->conn = from->conn;
    return c;
}

Nmq__Subscription *meta_sub_copy(nmq_batch_t *b, const Nmq__Subscription *from)
{
    Nmq__Subscription *s = nmq_batch_alloc(b, sizeof *s);
    *s = *from;
    s->filter = nmq_batch_strdup(b, from->filter ? from->filter : "", from->filter ? strlen(from->filter) : 0);
    s->group = nmq_batch_strdup(b, from->group ? from->group : "", from->group ? strlen(from->group) : 0);
    return s;
}

nmq_trie_entry_t meta_entry(const char *client, const Nmq__Subscription *s)
{
    nmq_trie_entry_t e = { .client_id = client, .client_id_len = strlen(client) };
    e.filter = s->filter ? s->filter : "";
    e.filter_len = strlen(e.filter);
    if (s->group && s->group[0]) {
        e.group = s->group;
        e.group_len = strlen(s->group);
    }
    e.opts = (nmq_trie_opts_t){ (uint8_t)s->qos, s->no_local, s->retain_as_published,
                                (uint8_t)s->retain_handling, s->sub_id };
    return e;
}

/* One delta for the feed: the op's subscriptions, added or removed. */
Nmq__Op *meta_delta(meta_t *m, const char *client, bool remove, size_t nsubs, const char *node)
{
    Nmq__Op *d = nmq_batch_op(m->deltas, BROKER_OP_DELTA);
    d->has_seq = d->has_remove = true;
    d->seq = ++m->seq;
    d->remove = remove;
    d->client_id = nmq_batch_strdup(m->deltas, client, strlen(client));
    d->subs = nsubs ? nmq_batch_alloc(m->deltas, nsubs * sizeof *d->subs) : NULL;
    if (node)
        d->node = nmq_batch_strdup(m->deltas, node, strlen(node));
    meta_store_put_seq(m);
    return d;
}

static meta_reply_t *s_reply(meta_t *m, const nmq_batch_in_t *in)
{
    meta_reply_t *r = calloc(1, sizeof *r);
    memcpy(r->id, in->routing_id, in->routing_len);
    r->id_len = in->routing_len;
    r->seq = m->seq;
    r->deadline_ms = meta_now_ms() + META_REPLY_WAIT_MS;
    r->batch = nmq_batch_new();
    return r;
}

static void s_queue_reply(meta_t *m, meta_reply_t *r)
{
    r->seq = m->seq;
    *m->replies_tail = r;
    m->replies_tail = &r->next;
}

static Nmq__Op *s_answer(nmq_batch_t *b, broker_op_t code, const Nmq__Op *req, size_t ncodes)
{
    Nmq__Op *a = nmq_batch_op(b, code);
    a->has_req = a->has_packet_id = true;
    a->req = req->req;
    a->packet_id = req->packet_id;
    a->conn = s_conn_copy(b, req->conn);
    a->codes = nmq_batch_alloc(b, (ncodes ? ncodes : 1) * sizeof *a->codes);
    return a;
}

/* --- retained messages on subscribe ------------------------------------------------ */

typedef struct {
    meta_t *m;
    nmq_batch_t *b;
    const Nmq__Op *req;
    const char *client;
    const Nmq__Subscription *sub;
    uint64_t now;
} s_retained_walk_t;

static int s_send_retained(const char *topic, size_t len, void *value, void *arg)
{
    s_retained_walk_t *rw = arg;
    const meta_retained_t *r = value;
    Nmq__Msg *msg = nmq__msg__unpack(NULL, r->msg_len, r->data);
    if (!msg)
        return 0;
    if (!msg->has_expires_at_ms || msg->expires_at_ms == 0 || msg->expires_at_ms > rw->now) {
        nmq_batch_t *b = rw->b;
        Nmq__Op *op = nmq_batch_op(b, BROKER_OP_RETAINED);
        op->has_req = true;
        op->req = rw->req->req;
        op->conn = s_conn_copy(b, rw->req->conn);
        Nmq__Msg *copy = nmq_batch_alloc(b, sizeof *copy);
        *copy = *msg;
        copy->topic = nmq_batch_strdup(b, topic, len);
        copy->publisher = NULL;
        if (msg->has_props) {
            copy->props.data = nmq_batch_alloc(b, msg->props.len);
            memcpy(copy->props.data, msg->props.data, msg->props.len);
        }
        copy->has_payload_frame = true;
        copy->payload_frame = nmq_batch_payload(b, r->data + r->msg_len, r->payload_len);
        op->msg = copy;
        Nmq__Recipient *rc = nmq_batch_alloc(b, sizeof *rc);
        nmq__recipient__init(rc);
        rc->client_id = nmq_batch_strdup(b, rw->client, strlen(rw->client));
        rc->has_qos = true;
        rc->qos = rw->sub->qos;
        if (rw->sub->has_sub_id && rw->sub->sub_id) {
            rc->n_sub_ids = 1;
            rc->sub_ids = nmq_batch_alloc(b, sizeof *rc->sub_ids);
            rc->sub_ids[0] = rw->sub->sub_id;
        }
        op->n_recipients = 1;
        op->recipients = nmq_batch_alloc(b, sizeof *op->recipients);
        op->recipients[0] = rc;
    }
    nmq__msg__free_unpacked(msg, NULL);
    return 0;
}

/* --- presence: who is online, for $share picks --------------------------------------- */

static int s_is_shared(const nmq_trie_entry_t *e, void *arg)
{
    if (!e->group)
        return 0;
    *(bool *)arg = true;
    return 1;   /* enough */
}

static bool s_share_member(meta_t *m, const char *client, size_t len)
{
    bool shared = false;
    nmq_trie_client_each(m->subs, client, len, s_is_shared, &shared);
    return shared;
}

static void s_presence_delta(meta_t *m, const char *client, bool online)
{
    Nmq__Op *d = nmq_batch_op(m->deltas, BROKER_OP_PRESENCE);
    d->has_seq = d->has_online = true;
    d->seq = ++m->seq;
    d->online = online;
    d->client_id = nmq_batch_strdup(m->deltas, client, strlen(client));
    meta_store_put_seq(m);
}

/* Only the members of shared subscriptions are kept (an idle client costs
 * nothing here); one that subscribes to a share is online by then, and
 * s_subscribe says so. */
static void s_set_online(meta_t *m, const char *client, bool online)
{
    size_t len = strlen(client);
    bool was = nmq_hashmap_get(m->online, client, len) != NULL;
    if (online == was || (online && !s_share_member(m, client, len)))
        return;
    if (online)
        nmq_hashmap_put(m->online, client, len, (void *)1);
    else
        nmq_hashmap_remove(m->online, client, len);
    if (s_share_member(m, client, len))
        s_presence_delta(m, client, online);
}

/* --- handlers ------------------------------------------------------------------------------- */

static void s_subscribe(meta_t *m, const nmq_batch_in_t *in, const Nmq__Op *op)
{
    if (!op->client_id)
        return;
    meta_reply_t *r = s_reply(m, in);
    Nmq__Op *ans = s_answer(r->batch, BROKER_OP_SUBSCRIBED, op, op->n_subs);
    Nmq__Op *d = meta_delta(m, op->client_id, false, op->n_subs, NULL);
    s_retained_walk_t rw = { m, r->batch, op, op->client_id, NULL, s_wall_ms() };
    for (size_t i = 0; i < op->n_subs; i++) {
        const Nmq__Subscription *s = op->subs[i];
        if (s->qos > 2) {   /* refused by the acceptor: the code is the reason */
            ans->codes[ans->n_codes++] = s->qos;
            continue;
        }
        nmq_trie_entry_t e = meta_entry(op->client_id, s);
        bool added = nmq_trie_add(m->subs, &e) == NMQ_TRIE_ADDED;
        meta_store_put_sub(m, op->client_id, &e);
        d->subs[d->n_subs++] = meta_sub_copy(m->deltas, s);
        ans->codes[ans->n_codes++] = s->qos;
        bool shared = e.group != NULL;
        if (!shared && (s->retain_handling == 0 || (s->retain_handling == 1 && added))) {
            rw.sub = s;
            nmq_tindex_match(m->retained, e.filter, e.filter_len, s_send_retained, &rw);
        }
    }
    /* a new share member, online since it subscribes: the acceptors learn it now */
    for (size_t i = 0; i < op->n_subs; i++)
        if (op->subs[i]->group && op->subs[i]->group[0] && op->subs[i]->qos <= 2) {
            s_set_online(m, op->client_id, true);
            break;
        }
    meta_repl_local_subs(m, op->client_id);
    /* one batch: the acceptor sends the SUBACK and appends the retained
     * messages to the subscriber's queue in the same loop turn */
    s_queue_reply(m, r);
}

static void s_unsubscribe(meta_t *m, const nmq_batch_in_t *in, const Nmq__Op *op)
{
    if (!op->client_id)
        return;
    meta_reply_t *r = s_reply(m, in);
    Nmq__Op *ans = s_answer(r->batch, BROKER_OP_UNSUBSCRIBED, op, op->n_subs);
    Nmq__Op *d = meta_delta(m, op->client_id, true, op->n_subs, NULL);
    for (size_t i = 0; i < op->n_subs; i++) {
        nmq_trie_entry_t e = meta_entry(op->client_id, op->subs[i]);
        bool existed = nmq_trie_remove(m->subs, &e);
        if (existed)
            meta_store_del_sub(m, op->client_id, &e);
        d->subs[d->n_subs++] = meta_sub_copy(m->deltas, op->subs[i]);
        ans->codes[ans->n_codes++] = existed ? 0x00 : 0x11;   /* no subscription existed */
    }
    meta_repl_local_subs(m, op->client_id);
    s_queue_reply(m, r);
}

typedef struct {
    meta_t *m;
    const char *client;
} s_drop_t;

static int s_drop_stored(const nmq_trie_entry_t *e, void *arg)
{
    s_drop_t *d = arg;
    meta_store_del_sub(d->m, d->client, e);
    return 0;
}

static void s_unsubscribe_all(meta_t *m, const nmq_batch_in_t *in, const Nmq__Op *op)
{
    if (!op->client_id)
        return;
    s_drop_t d = { m, op->client_id };
    size_t len = strlen(op->client_id);
    if (nmq_trie_client_each(m->subs, op->client_id, len, s_drop_stored, &d) > 0) {
        nmq_trie_remove_client(m->subs, op->client_id, len);
        meta_delta(m, op->client_id, true, 0, NULL);
    }
    meta_repl_session_gone(m, op->client_id);
}

static void s_retain(meta_t *m, const nmq_batch_in_t *in, const Nmq__Op *op)
{
    if (!op->msg || !op->msg->topic)
        return;
    size_t len;
    const uint8_t *payload = nmq_batch_in_payload(in, op->msg, &len);
    const char *topic = op->msg->topic;
    if (len == 0) {   /* an empty retained message clears the topic [MQTT-3.3.1-6] */
        free(nmq_tindex_remove(m->retained, topic, strlen(topic)));
        meta_store_del_retained(m, topic);
        meta_repl_local_retained(m, topic, NULL);
        return;
    }
    Nmq__Msg copy = *op->msg;
    copy.has_payload_frame = false;
    copy.publisher = NULL;
    size_t mlen = nmq__msg__get_packed_size(&copy);
    uint8_t *packed = malloc(mlen ? mlen : 1);
    nmq__msg__pack(&copy, packed);
    meta_retained_t *r = meta_retained_new(packed, (uint32_t)mlen, payload, (uint32_t)len);
    free(packed);
    free(nmq_tindex_put(m->retained, topic, strlen(topic), r));
    meta_store_put_retained(m, topic, r);
    meta_repl_local_retained(m, topic, r);
}

typedef struct {
    meta_t *m;
    nmq_batch_t *b;
} s_snap_t;

static int s_snapshot_one(const nmq_trie_entry_t *e, void *arg)
{
    s_snap_t *sn = arg;
    nmq_batch_t *b = sn->b;
    Nmq__Op *op = nmq_batch_op(b, BROKER_OP_SNAPSHOT);
    op->client_id = nmq_batch_strdup(b, e->client_id, e->client_id_len);
    Nmq__Subscription *s = nmq_batch_alloc(b, sizeof *s);
    nmq__subscription__init(s);
    s->filter = nmq_batch_strdup(b, e->filter, e->filter_len);
    s->group = nmq_batch_strdup(b, e->group ? e->group : "", e->group_len);
    s->has_qos = s->has_no_local = s->has_retain_as_published = s->has_retain_handling = s->has_sub_id = true;
    s->qos = e->opts.qos;
    s->no_local = e->opts.no_local;
    s->retain_as_published = e->opts.retain_as_published;
    s->retain_handling = e->opts.retain_handling;
    s->sub_id = e->opts.sub_id;
    op->n_subs = 1;
    op->subs = nmq_batch_alloc(b, sizeof *op->subs);
    op->subs[0] = s;
    if (nmq_batch_count(b) >= META_SNAPSHOT_CHUNK)
        nmq_batch_send(b, sn->m->router, sn->m->direct_to, sn->m->direct_to_len);
    return 0;
}

static void s_snapshot(meta_t *m, const nmq_batch_in_t *in, const Nmq__Op *op)
{
    memcpy(m->direct_to, in->routing_id, in->routing_len);
    m->direct_to_len = in->routing_len;
    s_snap_t sn = { m, m->direct };
    nmq_trie_each(m->subs, s_snapshot_one, &sn);
    size_t cursor = 0, klen;
    const void *key;
    void *value;
    while (nmq_hashmap_next(m->online, &cursor, &key, &klen, &value))
        if (s_share_member(m, key, klen)) {
            Nmq__Op *p = nmq_batch_op(m->direct, BROKER_OP_PRESENCE);   /* no seq: part of the snapshot */
            p->client_id = nmq_batch_strdup(m->direct, key, klen);
            p->has_online = true;
            p->online = true;
        }
    meta_repl_snapshot(m, m->direct);
    Nmq__Op *end = nmq_batch_op(m->direct, BROKER_OP_SNAPSHOT_END);
    end->has_seq = true;
    end->seq = m->seq;
    nmq_batch_send(m->direct, m->router, m->direct_to, m->direct_to_len);
}

static void s_applied(meta_t *m, const nmq_batch_in_t *in, const Nmq__Op *op)
{
    meta_acceptor_t *a = s_touch(m, in);
    if (a && op->seq > a->applied)
        a->applied = op->seq;
}

static void s_presence(meta_t *m, const nmq_batch_in_t *in, const Nmq__Op *op)
{
    if (op->client_id)
        s_set_online(m, op->client_id, op->online);
}

static void s_presence_reset(meta_t *m, const nmq_batch_in_t *in, const Nmq__Op *op)
{
    size_t cursor = 0, klen;
    const void *key;
    void *value;
    char **gone = NULL;
    size_t n = 0;
    while (nmq_hashmap_next(m->online, &cursor, &key, &klen, &value))
        if (broker_shard_of(key, klen, (int)op->shards) == (int)op->shard) {
            gone = realloc(gone, (n + 1) * sizeof *gone);
            gone[n++] = strndup(key, klen);
        }
    for (size_t i = 0; i < n; i++) {
        s_set_online(m, gone[i], false);
        free(gone[i]);
    }
    free(gone);
}

static s_op_fn *const s_ops[BROKER_OP_MAX] = {
    [BROKER_OP_PRESENCE] = s_presence,
    [BROKER_OP_PRESENCE_RESET] = s_presence_reset,
    [BROKER_OP_SUBSCRIBE] = s_subscribe,
    [BROKER_OP_UNSUBSCRIBE] = s_unsubscribe,
    [BROKER_OP_UNSUBSCRIBE_ALL] = s_unsubscribe_all,
    [BROKER_OP_RETAIN] = s_retain,
    [BROKER_OP_SNAPSHOT] = s_snapshot,
    [BROKER_OP_APPLIED] = s_applied,
    [BROKER_OP_REPL] = meta_repl_op,
    [BROKER_OP_DIGEST] = meta_repl_op,
    [BROKER_OP_NODES] = meta_repl_op,
    [BROKER_OP_CLAIM] = meta_repl_op,
};

void meta_dispatch(meta_t *m, const nmq_batch_in_t *in)
{
    s_touch(m, in);
    meta_repl_queue_seen(m, in);
    for (size_t i = 0; i < in->batch->n_ops; i++) {
        const Nmq__Op *op = in->batch->ops[i];
        s_op_fn *fn = op->op < BROKER_OP_MAX ? s_ops[op->op] : NULL;
        if (fn)
            fn(m, in, op);
        else
            nmq_warn("ignored op %u: not one the metadata worker receives", op->op);
    }
}

/* Send the replies whose deltas every live acceptor has applied (or whose
 * wait ran out: an acceptor that stays behind that long is dropped from the
 * list until it speaks again). */
void meta_release_replies(meta_t *m, int64_t now, bool force)
{
    while (m->replies) {
        meta_reply_t *r = m->replies;
        bool ready = true;
        for (int i = 0; i < m->nacceptors; i++)
            if (m->acceptors[i].applied < r->seq)
                ready = false;
        if (!ready && !force && now < r->deadline_ms)
            return;
        if (!ready && !force) {
            for (int i = 0; i < m->nacceptors; i++)
                if (m->acceptors[i].applied < r->seq) {
                    nmq_warn("acceptor %.*s did not apply delta %llu within %d ms", (int)m->acceptors[i].id_len,
                             m->acceptors[i].id, (unsigned long long)r->seq, META_REPLY_WAIT_MS);
                    m->acceptors[i] = m->acceptors[--m->nacceptors];
                    i--;
                }
        }
        nmq_batch_send(r->batch, m->router, r->id, r->id_len);
        nmq_batch_destroy(&r->batch);
        m->replies = r->next;
        if (!m->replies)
            m->replies_tail = &m->replies;
        free(r);
    }
}
