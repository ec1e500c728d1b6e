/* queue_pace — QoS 1/2 publishers paced by the subscribers they feed.
 *
 * A publisher's PUBACK (PUBREC) waits for APPENDED, and the queue worker
 * sends APPENDED once the message is in every recipient's queue.  When the
 * broker takes messages in faster than a subscriber drains them (100
 * publishers to one subscriber: the acceptor reads 100 sockets, the
 * subscriber acks one window at a time), that queue grows without end:
 * 130,000 msg/s in, 87,000 out, a second and a half of latency after five
 * seconds and more memory every second.
 *
 * So the APPENDED of a message that went to a session with more than
 * QUEUE_PACE_HIGH entries waiting behind its window is parked on that
 * session and sent when the session is back under half of that: the
 * publisher's in-flight window fills and it slows to the subscriber's pace,
 * as over one TCP connection.  Only a subscriber that keeps up is waited for:
 * one that sent no ack for QUEUE_PACE_STALL_MS (stalled, gone, or reading
 * nothing) releases what is parked on it and is not waited for again until
 * it acks, so it cannot hold publishers; its queue then follows
 * max_online_messages as in VerneMQ.  With max_online_messages set, the
 * threshold is under half of it: a subscriber that keeps up loses nothing to
 * the limit where VerneMQ would drop, as long as what its publishers have in
 * flight fits in the other half (they may send that much before they wait).  A session that goes offline, or a
 * turn of the worker that finds it drained, releases its publishers.
 *
 * Parked answers live in a small table of the sessions that have any, not in
 * every session: an idle connection costs nothing here.
 */
#include "queue_worker.h"

#include <stdlib.h>
#include <string.h>

#define QUEUE_PACE_HIGH 2048
#define QUEUE_PACE_STALL_MS 1000

typedef struct {
    queue_peer_t *peer;        /* NULL: a publisher on another node (cluster_out) */
    uint32_t peer_gen;         /* the peer slot's generation when parked */
    uint64_t req, conn;
} s_parked_t;

struct queue_pace {
    queue_attach_t *at;
    s_parked_t *items;
    size_t n, cap;
};

/* Entries waiting above which a session paces its publishers; they go on
 * again under half of it. */
static size_t s_high(const queue_worker_t *q)
{
    int limit = q->cfg->max_online_messages;
    if (limit > 0 && (size_t)limit / 2 < QUEUE_PACE_HIGH)
        return (size_t)limit / 2 > 0 ? (size_t)limit / 2 : 1;
    return QUEUE_PACE_HIGH;
}

static bool s_keeps_up(const queue_attach_t *at, int64_t now)
{
    return now - at->last_ack_ms < QUEUE_PACE_STALL_MS;
}

void queue_pace_appended(queue_worker_t *q, queue_peer_t *peer, uint64_t req, uint64_t conn)
{
    nmq_batch_appended(peer ? peer->out : q->cluster_out, req, conn);
}

bool queue_pace_park(queue_worker_t *q, const queue_target_t *t, queue_attach_t *at, queue_peer_t *peer,
                     uint64_t req, uint64_t conn)
{
    if (!at || t->result != QUEUE_APPENDED || t->queued < s_high(q) || !s_keeps_up(at, queue_now_ms()))
        return false;
    struct queue_pace *p = NULL;
    for (size_t i = 0; i < q->npaced && !p; i++)
        if (q->paced[i].at == at)
            p = &q->paced[i];
    if (!p) {
        if (q->npaced == q->cap_paced) {
            size_t cap = q->cap_paced ? q->cap_paced * 2 : 8;
            struct queue_pace *grown = realloc(q->paced, cap * sizeof *grown);
            if (!grown)
                return false;
            q->paced = grown;
            q->cap_paced = cap;
        }
        p = &q->paced[q->npaced++];
        *p = (struct queue_pace){ .at = at };
    }
    if (p->n == p->cap) {
        size_t cap = p->cap ? p->cap * 2 : 16;
        s_parked_t *grown = realloc(p->items, cap * sizeof *grown);
        if (!grown)
            return false;
        p->items = grown;
        p->cap = cap;
    }
    p->items[p->n++] = (s_parked_t){ .peer = peer, .peer_gen = peer ? peer->gen : 0, .req = req, .conn = conn };
    q->c_paced++;
    return true;
}

/* Send what waits on the i-th entry and drop the entry. */
static void s_release(queue_worker_t *q, size_t i)
{
    struct queue_pace *p = &q->paced[i];
    for (size_t k = 0; k < p->n; k++) {
        const s_parked_t *x = &p->items[k];
        /* an acceptor that went away took its publishers with it; a slot
         * taken by another acceptor since is not theirs */
        if (x->peer && (x->peer->gone || x->peer->gen != x->peer_gen))
            continue;
        queue_pace_appended(q, x->peer, x->req, x->conn);
    }
    free(p->items);
    q->paced[i] = q->paced[--q->npaced];
}

void queue_pace_turn(queue_worker_t *q, int64_t now)
{
    for (size_t i = 0; i < q->npaced;) {
        queue_attach_t *at = q->paced[i].at;
        queue_session_t *s = queue_shard_find(q->shard, at->client_id);
        if (!s || queue_session_queued(s) < s_high(q) / 2 || !s_keeps_up(at, now))
            s_release(q, i);   /* the last entry moved to i: look at i again */
        else
            i++;
    }
}

void queue_pace_detach(queue_worker_t *q, const queue_attach_t *at)
{
    for (size_t i = 0; i < q->npaced; i++)
        if (q->paced[i].at == at) {
            s_release(q, i);
            return;
        }
}

void queue_pace_stop(queue_worker_t *q)
{
    while (q->npaced)
        s_release(q, 0);
    free(q->paced);
    q->paced = NULL;
    q->cap_paced = 0;
}
