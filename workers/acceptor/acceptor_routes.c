/* acceptor_routes — the acceptor's replica of the routing table and the
 * fan-out of a PUBLISH.
 *
 * The replica follows the ZeroMQ guide's Clone pattern: ask the metadata worker
 * for a snapshot (SNAPSHOT ops ending in SNAPSHOT_END with its sequence
 * number), keep the deltas that arrive meanwhile on the PUB feed, then apply
 * every delta whose sequence follows.  A gap in the sequence (a lost delta, a
 * restarted metadata worker) means asking for a snapshot again.  After each
 * batch of deltas the acceptor says APPLIED, which is what lets the metadata
 * worker send a SUBACK only once every acceptor routes to the new subscriber.
 * The acceptor accepts no client before its first snapshot.
 *
 * A PUBLISH is matched here, with no round trip: one APPEND per queue shard
 * that holds a recipient, carrying the message once and the recipients' list.
 */
#include "acceptor.h"
#include "nmq_log.h"
#include "nmq_hashmap.h"
#include "nmq_topic_trie.h"

#include <stdlib.h>
#include <string.h>

#define ACC_SNAPSHOT_RETRY_MS 2000

typedef struct s_held {
    uint8_t *packed;       /* a DELTA op, packed, kept while a snapshot is on its way */
    size_t len;
    uint64_t seq;
    struct s_held *next;
} s_held_t;

static nmq_trie_t *s_building;     /* the trie a snapshot is filling */
static nmq_hashmap_t *s_online;    /* share members online (PRESENCE), for $share picks */
static nmq_hashmap_t *s_online_building;
static s_held_t *s_held, **s_held_tail = &s_held;
static int64_t s_snapshot_asked_ms;
static nmq_trie_result_t s_result;

static void s_ask_snapshot(acceptor_t *a)
{
    nmq_trie_destroy(&s_building);
    s_building = nmq_trie_new();
    nmq_hashmap_destroy(&s_online_building);
    s_online_building = nmq_hashmap_new(0);
    acc_remote_snapshot_begin(a);
    nmq_batch_op(acc_to_meta(a), BROKER_OP_SNAPSHOT);
    s_snapshot_asked_ms = (int64_t)acc_now_ms();
    a->snapshot_asked = true;
}

static void s_apply_presence(nmq_hashmap_t *online, const Nmq__Op *op)
{
    size_t len = strlen(op->client_id);
    if (op->online)
        nmq_hashmap_put(online, op->client_id, len, (void *)1);
    else
        nmq_hashmap_remove(online, op->client_id, len);
}

void acc_routes_apply_subs(nmq_trie_t *t, const Nmq__Op *op)
{
    if (!op->client_id)
        return;
    size_t clen = strlen(op->client_id);
    if (op->remove && op->n_subs == 0) {
        nmq_trie_remove_client(t, op->client_id, clen);
        return;
    }
    for (size_t i = 0; i < op->n_subs; i++) {
        const Nmq__Subscription *s = op->subs[i];
        nmq_trie_entry_t e = { .client_id = op->client_id, .client_id_len = clen };
        e.filter = s->filter ? s->filter : "";
        e.filter_len = strlen(e.filter);
        if (s->group && s->group[0]) {
            e.group = s->group;
            e.group_len = strlen(s->group);
        }
        e.opts.qos = (uint8_t)s->qos;
        e.opts.no_local = s->no_local;
        e.opts.retain_as_published = s->retain_as_published;
        e.opts.retain_handling = (uint8_t)s->retain_handling;
        e.opts.sub_id = s->sub_id;
        if (op->remove)
            nmq_trie_remove(t, &e);
        else
            nmq_trie_add(t, &e);
    }
}

static void s_applied(acceptor_t *a)
{
    Nmq__Op *op = nmq_batch_op(acc_to_meta(a), BROKER_OP_APPLIED);
    op->has_seq = true;
    op->seq = a->routes_seq;
}

static void s_apply_delta(acceptor_t *a, const Nmq__Op *op)
{
    if (op->seq <= a->routes_seq)
        return;   /* already in the snapshot */
    if (op->seq != a->routes_seq + 1) {
        nmq_warn("routing delta %llu after %llu: a gap, resynchronising",
                 (unsigned long long)op->seq, (unsigned long long)a->routes_seq);
        a->routes_synced = false;
        s_ask_snapshot(a);
        return;
    }
    if (op->op == BROKER_OP_PRESENCE)
        s_apply_presence(s_online, op);
    else
        {
        if (op->node && op->node[0])
            acc_remote_apply(a, op, false);
        else
            acc_routes_apply_subs(a->routes, op);
    }
    a->routes_seq = op->seq;
}

void acc_routes_delta(acceptor_t *a, const Nmq__Op *op)
{
    if (!a->routes_synced) {
        s_held_t *h = calloc(1, sizeof *h);
        h->len = nmq__op__get_packed_size(op);
        h->packed = malloc(h->len ? h->len : 1);
        nmq__op__pack(op, h->packed);
        h->seq = op->seq;
        *s_held_tail = h;
        s_held_tail = &h->next;
        return;
    }
    s_apply_delta(a, op);
    if (a->routes_synced)
        s_applied(a);
}

void acc_routes_snapshot(acceptor_t *a, const Nmq__Op *op)
{
    if (!s_building)
        return;   /* an answer to a request we gave up on */
    if (op->op == BROKER_OP_SNAPSHOT) {
        if (op->node && op->node[0])
            acc_remote_apply(a, op, true);
        else
            acc_routes_apply_subs(s_building, op);
        return;
    }
    if (op->op == BROKER_OP_PRESENCE) {
        if (op->client_id)
            s_apply_presence(s_online_building, op);
        return;
    }
    nmq_trie_destroy(&a->routes);
    a->routes = s_building;
    s_building = NULL;
    acc_remote_snapshot_commit(a);
    nmq_hashmap_destroy(&s_online);
    s_online = s_online_building;
    s_online_building = NULL;
    a->routes_seq = op->seq;
    a->routes_synced = true;
    a->snapshot_asked = false;
    while (s_held && a->routes_synced) {
        s_held_t *h = s_held;
        s_held = h->next;
        Nmq__Op *d = nmq__op__unpack(NULL, h->len, h->packed);
        if (d) {
            s_apply_delta(a, d);
            nmq__op__free_unpacked(d, NULL);
        }
        free(h->packed);
        free(h);
    }
    if (!s_held)
        s_held_tail = &s_held;
    if (a->routes_synced) {
        nmq_info("routing table in sync: %zu subscriptions here, %zu on other nodes, sequence %llu",
                 nmq_trie_count(a->routes), acc_remote_count(), (unsigned long long)a->routes_seq);
        s_applied(a);
        if (!a->accepting && !a->leaving)
            acc_net_listen(a);
    }
}

int acc_routes_timer(acceptor_t *a, int64_t now)
{
    if (a->snapshot_asked && now - s_snapshot_asked_ms > ACC_SNAPSHOT_RETRY_MS)
        s_ask_snapshot(a);
    return a->snapshot_asked ? ACC_SNAPSHOT_RETRY_MS : -1;
}

int acc_routes_start(acceptor_t *a)
{
    a->routes = nmq_trie_new();
    s_ask_snapshot(a);
    return 0;
}

void acc_routes_stop(acceptor_t *a)
{
    nmq_trie_destroy(&a->routes);
    nmq_trie_destroy(&s_building);
    acc_remote_stop(a);
    nmq_hashmap_destroy(&s_online);
    nmq_hashmap_destroy(&s_online_building);
    nmq_trie_result_free(&s_result);
    while (s_held) {
        s_held_t *h = s_held;
        s_held = h->next;
        free(h->packed);
        free(h);
    }
    s_held_tail = &s_held;
}

/* --- fan-out ------------------------------------------------------------------ */

typedef struct {
    Nmq__Op *op;
    size_t cap;
} s_shard_op_t;

static Nmq__Op *s_append_op(acceptor_t *a, s_shard_op_t *ops, int shard, uint64_t req,
                            const acc_conn_t *from, const Nmq__Msg *msg, const uint8_t *payload,
                            size_t len, size_t max_recipients)
{
    if (ops[shard].op)
        return ops[shard].op;
    nmq_batch_t *b = acc_to_queue(a, shard);
    Nmq__Op *op = nmq_batch_op(b, BROKER_OP_APPEND);
    op->msg = nmq_batch_msg(b, msg, payload, len);
    if (msg->qos > 0 && from) {
        op->has_req = true;
        op->req = req;
        op->conn = acc_conn_ref(a, b, from);
    }
    op->recipients = nmq_batch_alloc(b, max_recipients * sizeof *op->recipients);
    op->has_epoch = true;
    op->epoch = a->queue_epoch[shard];
    ops[shard].op = op;
    ops[shard].cap = max_recipients;
    return op;
}

static void s_add_recipient(acceptor_t *a, Nmq__Op *op, int shard, const char *client, size_t clen,
                            uint8_t qos, bool rap, const uint32_t *sub_ids, size_t n_sub_ids)
{
    op->recipients[op->n_recipients++] =
        nmq_batch_recipient(acc_to_queue(a, shard), client, clen, qos, rap, sub_ids, n_sub_ids);
}

static bool s_has_recipient(const Nmq__Op *op, const char *client)
{
    for (size_t i = 0; i < op->n_recipients; i++)
        if (!strcmp(op->recipients[i]->client_id, client))
            return true;
    return false;
}

static bool s_online_member(const nmq_trie_entry_t *member)
{
    return s_online && nmq_hashmap_get(s_online, member->client_id, member->client_id_len);
}

typedef struct {
    s_shard_op_t *ops;
    int *shards;
    uint64_t req;
    const acc_conn_t *from;
    const Nmq__Msg *msg;
    const uint8_t *payload;
    size_t len, total;
} s_fan_t;

/* A $share member picked here (acceptor_remote.c ranks the cluster's). */
static void s_pick_local(acceptor_t *a, const nmq_trie_entry_t *m, void *arg)
{
    s_fan_t *f = arg;
    s_shard_op_t *ops = f->ops;
    int shard = acc_shard_of(a, m->client_id, m->client_id_len);
    if (ops[shard].op && s_has_recipient(ops[shard].op, m->client_id)) {
        /* the client also holds a matching ordinary (or other shared)
         * subscription: it gets the message twice, as the spec allows,
         * in an APPEND of its own (a queue takes each client once) */
        ops[shard].op = NULL;
    }
    *f->shards += ops[shard].op == NULL;
    Nmq__Op *op = s_append_op(a, ops, shard, f->req, f->from, f->msg, f->payload, f->len, f->total);
    uint32_t sid = m->opts.sub_id;
    s_add_recipient(a, op, shard, m->client_id, m->client_id_len, m->opts.qos, m->opts.retain_as_published, &sid,
                    sid ? 1 : 0);
}

int acc_routes_publish(acceptor_t *a, uint64_t req, const acc_conn_t *from, const Nmq__Msg *msg,
                       const uint8_t *payload, size_t len)
{
    const char *pub = from ? from->client_id : NULL;
    size_t pub_len = pub ? strlen(pub) : 0;
    nmq_trie_match(a->routes, msg->topic, strlen(msg->topic), pub, pub_len, &s_result);
    size_t remote = acc_remote_match(a, req, from, msg, payload, len, pub, pub_len);
    size_t total = s_result.n_recipients + s_result.n_shares;
    a->turn_routed += (uint32_t)(1 + total + remote);
    if (total == 0 && remote == 0)
        return 0;
    a->c.router_matches_local += total;
    a->c.router_matches_remote += remote;
    s_shard_op_t ops[ACC_MAX_SHARDS] = { { 0 } };
    int shards = 0;
    for (size_t i = 0; i < s_result.n_recipients; i++) {
        const nmq_trie_recipient_t *r = &s_result.recipients[i];
        int shard = acc_shard_of(a, r->client_id, r->client_id_len);
        shards += ops[shard].op == NULL;
        Nmq__Op *op = s_append_op(a, ops, shard, req, from, msg, payload, len, total + remote);
        s_add_recipient(a, op, shard, r->client_id, r->client_id_len, r->qos, r->retain_as_published,
                        r->sub_ids, r->n_sub_ids);
    }
    s_fan_t f = { ops, &shards, req, from, msg, payload, len, total + remote };
    acc_remote_shares(a, &s_result, msg, payload, len, s_online_member, s_pick_local, &f);
    if (msg->qos > 0 && from)
        shards += acc_remote_forwarded();   /* each node confirms like a shard */
    return msg->qos > 0 ? shards : 0;
}
