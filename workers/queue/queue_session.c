/* queue_session — see queue_session.h.
 *
 * A session keeps two intrusive lists: `queued` (not sent yet, in sequence
 * order) and `inflight` (sent, waiting for PUBACK or PUBREC, in send order),
 * plus an array of PUBREL-pending ids.  Reconnect needs no list surgery: a
 * cursor walks `inflight` again (DUP=1), another the PUBREL array.
 *
 * Every change that touches a durable session is made in the store first and
 * in memory only once the store took it (under a savepoint for changes of
 * several records), so a store that refuses (map at its bound, I/O error)
 * leaves memory and the turn as they were.
 *
 * Packet ids in use are found by scanning the lists while few are in use (the
 * usual window is 20); past S_PID_SCAN a bitmap of the 65535 ids takes over,
 * and goes when the session has none in use.
 */
#include "queue_session.h"

#include <assert.h>
#include <czmq.h>
#include <stdlib.h>
#include <string.h>

#include "nmq_broker_ops.h"
#include "nmq_log.h"

#define S_PID_MAX   65535
#define S_PID_SCAN  32

typedef struct s_entry s_entry_t;
struct s_entry {
    s_entry_t *prev, *next;
    queue_msg_t *msg;             /* NULL while compressed: read from the store */
    uint64_t msg_id;
    uint64_t seq;
    uint16_t pid;                 /* 0 until first sent */
    uint8_t qos;
    bool retain;
    uint16_t n_sub_ids;
    uint32_t sub_ids[];
};

typedef struct {
    s_entry_t *head, *tail;
    size_t n;
} s_list_t;

typedef struct {
    uint16_t pid;
    uint64_t order;               /* the entry's sequence: redelivery order */
} s_pubrel_t;

struct queue_session {
    char *client_id;
    bool online, persistent, durable;
    uint8_t proto;
    uint16_t receive_max;
    uint32_t expiry_interval;
    int64_t disconnected_at;
    uint64_t sid, next_seq, stamp;
    uint16_t next_pid;
    s_list_t queued, inflight;
    s_entry_t *resend;            /* next in-flight entry to send again, NULL: none */
    s_pubrel_t *pubrels;
    size_t n_pubrels, cap_pubrels;
    size_t pubrels_sent;          /* [0, pubrels_sent) sent on this connection */
    uint64_t *pid_bits;           /* ids in use, when many are */
};

typedef struct {
    queue_session_t *s;
    s_entry_t *victim;            /* lifo: the entry dropped to make room */
    s_entry_t *entry;             /* the new entry, linked once the store took it */
    uint8_t qos;
} s_plan_t;

struct queue_shard {
    queue_limits_t lim;
    queue_store_t *store;
    zhashx_t *sessions;           /* client id -> queue_session_t */
    zhashx_t *msgs;               /* message id -> queue_msg_t, every body in memory */
    uint64_t next_msg_id, next_sid, stamp;
    queue_counters_t counters;
    s_entry_t *limbo;             /* last QoS 0 entry sent, freed at the next call */
    s_plan_t *plan;               /* append's scratch */
    size_t plan_cap;
};

void queue_limits_from_config(queue_limits_t *lim, const nmq_config_t *cfg)
{
    *lim = (queue_limits_t){
        .max_inflight = cfg->max_inflight_messages,
        .receive_max_broker = cfg->receive_max_broker,
        .max_online = cfg->max_online_messages,
        .max_offline = cfg->max_offline_messages,
        .lifo = !strcmp(cfg->queue_type, "lifo"),
        .upgrade_qos = cfg->upgrade_outgoing_qos,
        .persistent_client_expiration = cfg->persistent_client_expiration,
    };
}

/* --- lists --------------------------------------------------------------- */

static void s_push(s_list_t *l, s_entry_t *e)
{
    e->next = NULL;
    e->prev = l->tail;
    if (l->tail)
        l->tail->next = e;
    else
        l->head = e;
    l->tail = e;
    l->n++;
}

static void s_unlink(s_list_t *l, s_entry_t *e)
{
    if (e->prev)
        e->prev->next = e->next;
    else
        l->head = e->next;
    if (e->next)
        e->next->prev = e->prev;
    else
        l->tail = e->prev;
    e->prev = e->next = NULL;
    l->n--;
}

/* --- messages ------------------------------------------------------------ */

static size_t s_hash_u64(const void *key)
{
    uint64_t x = (uintptr_t)key;
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdull;
    x ^= x >> 33;
    return (size_t)x;
}

static int s_cmp_u64(const void *a, const void *b)
{
    return (uintptr_t)a < (uintptr_t)b ? -1 : (uintptr_t)a > (uintptr_t)b;
}

/* One allocation: the struct, then topic (NUL-terminated), props, payload. */
static queue_msg_t *s_msg_new(queue_shard_t *self, uint64_t id, const queue_store_msg_t *m)
{
    queue_msg_t *msg = malloc(sizeof *msg + m->topic_len + 1 + m->props_len + m->payload_len);
    if (!msg)
        return NULL;
    char *p = (char *)(msg + 1);
    *msg = (queue_msg_t){ .id = id, .qos = m->qos, .retain = m->retain,
                          .published_at = m->published_at, .expiry_at = m->expiry_at,
                          .topic = p, .topic_len = m->topic_len,
                          .props = p + m->topic_len + 1, .props_len = m->props_len,
                          .payload = p + m->topic_len + 1 + m->props_len,
                          .payload_len = m->payload_len };
    memcpy(p, m->topic, m->topic_len);
    p[m->topic_len] = 0;
    if (m->props_len)
        memcpy((void *)msg->props, m->props, m->props_len);
    if (m->payload_len)
        memcpy((void *)msg->payload, m->payload, m->payload_len);
    int rc = zhashx_insert(self->msgs, (void *)(uintptr_t)id, msg);
    assert(rc == 0 && "message ids are unique");
    (void)rc;
    return msg;
}

static void s_msg_drop(queue_shard_t *self, queue_msg_t *msg)
{
    zhashx_delete(self->msgs, (void *)(uintptr_t)msg->id);
    free(msg);
}

static void s_msg_unref(queue_shard_t *self, queue_msg_t *msg)
{
    if (msg && --msg->refs == 0)
        s_msg_drop(self, msg);
}

static queue_store_msg_t s_msg_view(const queue_msg_t *m)
{
    return (queue_store_msg_t){ .topic = m->topic, .topic_len = m->topic_len,
                                .payload = m->payload, .payload_len = m->payload_len,
                                .props = m->props, .props_len = m->props_len,
                                .qos = m->qos, .retain = m->retain,
                                .published_at = m->published_at, .expiry_at = m->expiry_at };
}

/* The body of a compressed entry, from memory if another entry holds it, else
 * from the store.  0, 1 when the store has no such message, -1 on error. */
static int s_entry_load(queue_shard_t *self, s_entry_t *e)
{
    if (e->msg)
        return 0;
    queue_msg_t *msg = zhashx_lookup(self->msgs, (void *)(uintptr_t)e->msg_id);
    if (!msg) {
        queue_store_msg_t m;
        int rc = self->store ? queue_store_msg_get(self->store, e->msg_id, &m, NULL) : 1;
        if (rc)
            return rc;
        if (!(msg = s_msg_new(self, e->msg_id, &m)))
            return -1;
    }
    msg->refs++;
    e->msg = msg;
    return 0;
}

/* --- entries --------------------------------------------------------------- */

static s_entry_t *s_entry_new(uint64_t seq, uint8_t qos, bool retain, uint16_t n_sub_ids,
                              const uint32_t *sub_ids)
{
    s_entry_t *e = calloc(1, sizeof *e + n_sub_ids * sizeof(uint32_t));
    if (!e)
        return NULL;
    e->seq = seq;
    e->qos = qos;
    e->retain = retain;
    e->n_sub_ids = n_sub_ids;
    if (n_sub_ids)
        memcpy(e->sub_ids, sub_ids, n_sub_ids * sizeof(uint32_t));
    return e;
}

static void s_entry_free(queue_shard_t *self, s_entry_t *e)
{
    s_msg_unref(self, e->msg);
    free(e);
}

static queue_store_entry_t s_entry_view(const s_entry_t *e)
{
    return (queue_store_entry_t){ .msg_id = e->msg_id, .qos = e->qos, .retain = e->retain,
                                  .packet_id = e->pid, .n_sub_ids = e->n_sub_ids,
                                  .sub_ids = e->sub_ids };
}

static void s_limbo_free(queue_shard_t *self)
{
    if (self->limbo)
        s_entry_free(self, self->limbo);
    self->limbo = NULL;
}

/* --- packet ids ------------------------------------------------------------- */

static size_t s_pids_used(const queue_session_t *s) { return s->inflight.n + s->n_pubrels; }

static void s_bit(queue_session_t *s, uint16_t pid, bool on)
{
    if (!s->pid_bits)
        return;
    if (on)
        s->pid_bits[pid >> 6] |= 1ull << (pid & 63);
    else
        s->pid_bits[pid >> 6] &= ~(1ull << (pid & 63));
}

/* After the set of ids in use changed: bitmap on past S_PID_SCAN, off at none. */
static void s_pids_changed(queue_session_t *s)
{
    size_t used = s_pids_used(s);
    if (!s->pid_bits && used > S_PID_SCAN) {
        if (!(s->pid_bits = calloc((S_PID_MAX + 64) / 64, sizeof(uint64_t))))
            return;                       /* the scan still works */
        for (s_entry_t *e = s->inflight.head; e; e = e->next)
            s_bit(s, e->pid, true);
        for (size_t i = 0; i < s->n_pubrels; i++)
            s_bit(s, s->pubrels[i].pid, true);
    } else if (s->pid_bits && used == 0) {
        free(s->pid_bits);
        s->pid_bits = NULL;
    }
}

static bool s_pid_used(const queue_session_t *s, uint16_t pid)
{
    if (s->pid_bits)
        return s->pid_bits[pid >> 6] >> (pid & 63) & 1;
    for (const s_entry_t *e = s->inflight.head; e; e = e->next)
        if (e->pid == pid)
            return true;
    for (size_t i = 0; i < s->n_pubrels; i++)
        if (s->pubrels[i].pid == pid)
            return true;
    return false;
}

/* The next free id after the last one given, wrapping 65535 -> 1; 0 if all
 * 65535 are in use. */
static uint16_t s_pid_alloc(queue_session_t *s)
{
    if (s_pids_used(s) >= S_PID_MAX)
        return 0;
    for (;;) {
        uint16_t pid = s->next_pid ? s->next_pid : 1;
        s->next_pid = pid == S_PID_MAX ? 1 : pid + 1;
        if (!s_pid_used(s, pid))
            return pid;
    }
}

static s_entry_t *s_inflight_find(queue_session_t *s, uint16_t pid)
{
    for (s_entry_t *e = s->inflight.head; e; e = e->next)
        if (e->pid == pid)
            return e;
    return NULL;
}

static ssize_t s_pubrel_find(const queue_session_t *s, uint16_t pid)
{
    for (size_t i = 0; i < s->n_pubrels; i++)
        if (s->pubrels[i].pid == pid)
            return (ssize_t)i;
    return -1;
}

/* Room for one more PUBREL id, so that adding it cannot fail. */
static int s_pubrel_reserve(queue_session_t *s)
{
    if (s->n_pubrels < s->cap_pubrels)
        return 0;
    size_t cap = s->cap_pubrels ? s->cap_pubrels * 2 : 8;
    s_pubrel_t *p = realloc(s->pubrels, cap * sizeof *p);
    if (!p)
        return -1;
    s->pubrels = p;
    s->cap_pubrels = cap;
    return 0;
}

static int s_pubrel_add(queue_session_t *s, uint16_t pid, uint64_t order)
{
    if (s_pubrel_reserve(s))
        return -1;
    s->pubrels[s->n_pubrels++] = (s_pubrel_t){ pid, order };
    return 0;
}

static void s_pubrel_remove(queue_session_t *s, size_t i)
{
    memmove(s->pubrels + i, s->pubrels + i + 1, (s->n_pubrels - i - 1) * sizeof *s->pubrels);
    s->n_pubrels--;
    if (i < s->pubrels_sent)
        s->pubrels_sent--;
}

/* --- sessions ------------------------------------------------------------- */

static queue_session_t *s_session_new(queue_shard_t *self, const char *client_id, uint64_t sid)
{
    queue_session_t *s = calloc(1, sizeof *s);
    if (!s || !(s->client_id = strdup(client_id))) {
        free(s);
        return NULL;
    }
    s->sid = sid;
    s->next_pid = 1;
    s->receive_max = S_PID_MAX;
    s->expiry_interval = QUEUE_STORE_NEVER;
    if (zhashx_insert(self->sessions, s->client_id, s)) {   /* the key is the session's own copy */
        free(s->client_id);
        free(s);
        return NULL;
    }
    if (sid >= self->next_sid)
        self->next_sid = sid + 1;
    return s;
}

static void s_list_free(queue_shard_t *self, s_list_t *l)
{
    for (s_entry_t *e = l->head, *next; e; e = next) {
        next = e->next;
        s_entry_free(self, e);
    }
    *l = (s_list_t){ 0 };
}

static void s_session_free(queue_shard_t *self, queue_session_t *s)
{
    s_list_free(self, &s->queued);
    s_list_free(self, &s->inflight);
    free(s->pubrels);
    free(s->pid_bits);
    free(s->client_id);
    free(s);
}

static queue_store_session_t s_record(const queue_session_t *s, int64_t disconnected_at)
{
    return (queue_store_session_t){ .sid = s->sid, .persistent = s->persistent, .proto = s->proto,
                                    .expiry_interval = s->expiry_interval,
                                    .disconnected_at = disconnected_at, .next_pid = s->next_pid };
}

/* Drop one entry of a session, store first.  0 or -1. */
static int s_entry_drop(queue_shard_t *self, queue_session_t *s, s_list_t *l, s_entry_t *e)
{
    if (s->durable && e->qos > 0) {
        size_t mark = queue_store_mark(self->store);
        if (queue_store_entry_del(self->store, s->sid, e->seq) ||
            queue_store_msg_ref(self->store, e->msg_id, -1) < 0) {
            queue_store_rollback(self->store, mark);
            return -1;
        }
    }
    if (s->resend == e)
        s->resend = e->next;
    s_unlink(l, e);
    if (e->pid) {
        s_bit(s, e->pid, false);
        s_pids_changed(s);
    }
    s_entry_free(self, e);
    return 0;
}

/* A session turning durable mid-life (resumed with a session expiry): write
 * what it holds.  A body may be in the store already (other clients' entries)
 * or not, or no longer (they were acked): ask the store. */
static int s_make_durable(queue_shard_t *self, queue_session_t *s)
{
    s_list_t *lists[] = { &s->inflight, &s->queued };
    for (size_t i = 0; i < 2; i++)
        for (s_entry_t *e = lists[i]->head; e; e = e->next) {
            if (e->qos == 0)
                continue;
            queue_store_msg_t m;
            int found = queue_store_msg_get(self->store, e->msg_id, &m, NULL);
            queue_store_entry_t se = s_entry_view(e);
            if (found < 0)
                return -1;
            m = s_msg_view(e->msg);
            if ((found == 0 ? queue_store_msg_ref(self->store, e->msg_id, 1) < 0
                            : queue_store_msg_put(self->store, e->msg_id, &m, 1)) ||
                queue_store_entry_put(self->store, s->sid, e->seq, &se))
                return -1;
        }
    for (size_t i = 0; i < s->n_pubrels; i++)
        if (queue_store_pubrel_put(self->store, s->sid, s->pubrels[i].pid, s->pubrels[i].order))
            return -1;
    return 0;
}

/* --- loading from the store ------------------------------------------------ */

typedef struct {
    queue_shard_t *shard;
    queue_session_t *s;
    int64_t now;
} s_load_t;

static int s_load_entry(uint64_t seq, const queue_store_entry_t *se, void *arg)
{
    s_load_t *ld = arg;
    queue_session_t *s = ld->s;
    s_entry_t *e = s_entry_new(seq, se->qos, se->retain, se->n_sub_ids, se->sub_ids);
    if (!e)
        return -1;
    e->msg_id = se->msg_id;
    e->pid = se->packet_id;
    s_push(e->pid ? &s->inflight : &s->queued, e);
    if (seq >= s->next_seq)
        s->next_seq = seq + 1;
    return 0;
}

static int s_load_pubrel(uint16_t pid, uint64_t order, void *arg)
{
    s_load_t *ld = arg;
    if (order >= ld->s->next_seq)
        ld->s->next_seq = order + 1;
    return s_pubrel_add(ld->s, pid, order);
}

static int s_cmp_pubrel(const void *a, const void *b)
{
    const s_pubrel_t *x = a, *y = b;
    return x->order < y->order ? -1 : x->order > y->order;
}

static int s_load_session(const char *client_id, const queue_store_session_t *rec, void *arg)
{
    s_load_t *ld = arg;
    queue_session_t *s = s_session_new(ld->shard, client_id, rec->sid);
    if (!s)
        return -1;
    s->durable = true;
    s->persistent = rec->persistent;
    s->proto = rec->proto;
    s->expiry_interval = rec->expiry_interval;
    /* 0: it was online when the worker died; its offline time starts now */
    s->disconnected_at = rec->disconnected_at ? rec->disconnected_at : ld->now;
    s->next_pid = rec->next_pid ? rec->next_pid : 1;
    ld->s = s;
    if (queue_store_entries(ld->shard->store, s->sid, s_load_entry, ld) ||
        queue_store_pubrels(ld->shard->store, s->sid, s_load_pubrel, ld))
        return -1;
    if (s->n_pubrels)
        qsort(s->pubrels, s->n_pubrels, sizeof *s->pubrels, s_cmp_pubrel);
    s_pids_changed(s);
    /* ids continue after the last one sent, as if the worker had not stopped */
    if (s->inflight.tail)
        s->next_pid = s->inflight.tail->pid == S_PID_MAX ? 1 : s->inflight.tail->pid + 1;
    return 0;
}

/* --- the shard --------------------------------------------------------------- */

queue_shard_t *queue_shard_new(const queue_limits_t *lim, queue_store_t *store, int64_t now,
                               char *err, size_t errlen)
{
    queue_shard_t *self = calloc(1, sizeof *self);
    if (!self || !(self->sessions = zhashx_new()) || !(self->msgs = zhashx_new())) {
        snprintf(err, errlen, "out of memory");
        queue_shard_destroy(&self);
        return NULL;
    }
    zhashx_set_key_duplicator(self->sessions, NULL);   /* the session's client_id is the key */
    zhashx_set_key_destructor(self->sessions, NULL);
    zhashx_set_key_hasher(self->msgs, s_hash_u64);
    zhashx_set_key_comparator(self->msgs, s_cmp_u64);
    zhashx_set_key_duplicator(self->msgs, NULL);
    zhashx_set_key_destructor(self->msgs, NULL);
    self->lim = *lim;
    self->store = store;
    self->next_sid = self->next_msg_id = 1;
    if (store) {
        self->next_msg_id = queue_store_last_msg_id(store) + 1;
        s_load_t ld = { .shard = self, .now = now };
        if (queue_store_sessions(store, s_load_session, &ld)) {
            snprintf(err, errlen, "cannot load the queues from the store");
            queue_shard_destroy(&self);
            return NULL;
        }
    }
    return self;
}

void queue_shard_destroy(queue_shard_t **self_p)
{
    queue_shard_t *self = *self_p;
    if (!self)
        return;
    if (self->sessions) {
        for (queue_session_t *s = zhashx_first(self->sessions); s; s = zhashx_next(self->sessions))
            s_session_free(self, s);
        zhashx_destroy(&self->sessions);
    }
    s_limbo_free(self);
    zhashx_destroy(&self->msgs);
    free(self->plan);
    free(self);
    *self_p = NULL;
}

void queue_shard_set_limits(queue_shard_t *self, const queue_limits_t *lim) { self->lim = *lim; }
const queue_counters_t *queue_shard_counters(const queue_shard_t *self) { return &self->counters; }
size_t queue_shard_size(const queue_shard_t *self) { return zhashx_size(self->sessions); }
size_t queue_shard_messages(const queue_shard_t *self) { return zhashx_size(self->msgs); }

queue_session_t *queue_shard_find(queue_shard_t *self, const char *client_id)
{
    return zhashx_lookup(self->sessions, client_id);
}

void queue_shard_each(queue_shard_t *self, void (*fn)(queue_session_t *s, void *arg), void *arg)
{
    for (queue_session_t *s = zhashx_first(self->sessions); s; s = zhashx_next(self->sessions))
        fn(s, arg);
}

int queue_shard_delete(queue_shard_t *self, queue_session_t *s)
{
    if (s->durable && queue_store_session_del(self->store, s->client_id))
        return -1;
    zhashx_delete(self->sessions, s->client_id);
    s_session_free(self, s);
    return 0;
}

queue_session_t *queue_shard_connect(queue_shard_t *self, const char *client_id,
                                     const queue_connect_t *c, int64_t now, bool *present)
{
    queue_session_t *s = queue_shard_find(self, client_id);
    if (s && c->clean_start && queue_shard_delete(self, s))
        return NULL;
    if (c->clean_start)
        s = NULL;
    *present = s != NULL;
    bool created = !s;
    if (!s && !(s = s_session_new(self, client_id, self->next_sid)))
        return NULL;
    bool durable = self->store && (s->durable || c->persistent);
    if (durable) {
        queue_store_session_t rec = { .sid = s->sid, .persistent = c->persistent, .proto = c->proto,
                                      .expiry_interval = c->expiry_interval, .next_pid = s->next_pid };
        size_t mark = queue_store_mark(self->store);
        if ((!s->durable && s_make_durable(self, s)) ||
            queue_store_session_put(self->store, client_id, &rec)) {
            queue_store_rollback(self->store, mark);
            if (created) {
                zhashx_delete(self->sessions, client_id);
                s_session_free(self, s);
            }
            return NULL;
        }
    }
    s->durable = durable;
    s->proto = c->proto;
    s->persistent = c->persistent;
    s->expiry_interval = c->expiry_interval;
    s->receive_max = c->receive_max ? c->receive_max : S_PID_MAX;
    s->online = true;
    s->disconnected_at = 0;
    queue_session_resend(self, s);
    return s;
}

int queue_shard_disconnect(queue_shard_t *self, queue_session_t *s, int64_t now, int64_t expiry_interval)
{
    if (expiry_interval >= 0 && s->proto == 5) {
        s->expiry_interval = (uint32_t)expiry_interval;
        s->persistent = expiry_interval > 0;
    }
    if (!s->persistent)
        return queue_shard_delete(self, s) ? -1 : 1;
    if (s->durable) {
        queue_store_session_t rec = s_record(s, now);
        if (queue_store_session_put(self->store, s->client_id, &rec))
            return -1;
    }
    /* QoS 0 is not kept for an offline client; it is memory only, no store */
    for (s_entry_t *e = s->queued.head, *next; e; e = next) {
        next = e->next;
        if (e->qos == 0) {
            s_unlink(&s->queued, e);
            s_entry_free(self, e);
            self->counters.message_drop++;
        }
    }
    /* compress: an offline durable queue keeps ids, bodies stay in the store */
    s_list_t *lists[] = { &s->inflight, &s->queued };
    for (size_t i = 0; s->durable && i < 2; i++)
        for (s_entry_t *e = lists[i]->head; e; e = e->next) {
            s_msg_unref(self, e->msg);
            e->msg = NULL;
        }
    s->online = false;
    s->disconnected_at = now;
    s->resend = NULL;
    return 0;
}

/* --- append ----------------------------------------------------------------- */

/* What to do with one target; sets its result.  true: append. */
static bool s_plan(queue_shard_t *self, const queue_store_msg_t *msg, queue_target_t *t, s_plan_t *p)
{
    static const uint8_t qos_min[3][3] = { { 0, 0, 0 }, { 0, 1, 1 }, { 0, 1, 2 } };
    queue_session_t *s = queue_shard_find(self, t->client_id);
    *p = (s_plan_t){ .s = s };
    if (!s) {
        t->result = QUEUE_NO_SESSION;
        return false;
    }
    assert(s->stamp != self->stamp && "a client twice in one append");
    s->stamp = self->stamp;
    uint8_t granted = t->qos > 2 ? 2 : t->qos;
    p->qos = self->lim.upgrade_qos ? granted : qos_min[msg->qos > 2 ? 2 : msg->qos][granted];
    if (!s->online && p->qos == 0) {
        t->result = QUEUE_UNHANDLED;
        return false;
    }
    int limit = s->online ? self->lim.max_online : self->lim.max_offline;
    size_t count = s->online ? s->queued.n : s->queued.n + s->inflight.n;
    if (limit >= 0 && count >= (size_t)limit) {
        /* lifo makes room by dropping the oldest entry not sent yet */
        if (!self->lim.lifo || limit == 0 || !s->queued.head) {
            t->result = QUEUE_DROPPED;
            return false;
        }
        p->victim = s->queued.head;
    }
    t->result = QUEUE_APPENDED;
    return true;
}

/* The store's half of an append: one body (refs = durable entries), the
 * entries, the victims gone.  The caller rolls back on failure. */
static int s_append_store(queue_shard_t *self, const queue_store_msg_t *msg, uint64_t id,
                          const queue_target_t *targets, const s_plan_t *plan, int n, uint32_t refs)
{
    if (refs && queue_store_msg_put(self->store, id, msg, refs))
        return -1;
    for (int i = 0; i < n; i++) {
        const s_plan_t *p = &plan[i];
        if (targets[i].result != QUEUE_APPENDED || !p->s->durable)
            continue;
        s_entry_t *v = p->victim;
        if (v && v->qos > 0 && (queue_store_entry_del(self->store, p->s->sid, v->seq) ||
                                queue_store_msg_ref(self->store, v->msg_id, -1) < 0))
            return -1;
        queue_store_entry_t se = s_entry_view(p->entry);
        if (p->qos > 0 && queue_store_entry_put(self->store, p->s->sid, p->entry->seq, &se))
            return -1;
    }
    return 0;
}

int queue_shard_append(queue_shard_t *self, const queue_store_msg_t *msg, queue_target_t *targets,
                       int n, int64_t now)
{
    if (n <= 0)
        return 0;
    if ((size_t)n > self->plan_cap) {
        s_plan_t *plan = realloc(self->plan, n * sizeof *plan);
        if (!plan)
            return -1;
        self->plan = plan;
        self->plan_cap = n;
    }
    s_plan_t *plan = self->plan;
    uint32_t refs = 0;
    int appended = 0;
    self->stamp++;
    for (int i = 0; i < n; i++)
        if (s_plan(self, msg, &targets[i], &plan[i])) {
            appended++;
            refs += plan[i].s->durable && plan[i].qos > 0;
        }
    /* memory first (nothing linked yet), then the store, then link */
    queue_msg_t *m = NULL;
    bool ok = true;
    if (appended) {
        uint64_t id = self->next_msg_id;
        ok = (m = s_msg_new(self, id, msg)) != NULL;
        for (int i = 0; ok && i < n; i++) {
            const queue_target_t *t = &targets[i];
            if (t->result != QUEUE_APPENDED)
                continue;
            if (!(plan[i].entry = s_entry_new(plan[i].s->next_seq, plan[i].qos, t->retain,
                                              t->n_sub_ids, t->sub_ids)))
                ok = false;
            else
                plan[i].entry->msg_id = id;
        }
        size_t mark = self->store ? queue_store_mark(self->store) : 0;
        if (ok && self->store && s_append_store(self, msg, id, targets, plan, n, refs)) {
            queue_store_rollback(self->store, mark);
            ok = false;
        }
    }
    for (int i = 0; i < n; i++) {
        queue_target_t *t = &targets[i];
        if (!ok) {
            if (t->result == QUEUE_APPENDED)
                free(plan[i].entry);
            continue;
        }
        self->counters.message_drop += t->result == QUEUE_DROPPED;
        self->counters.message_unhandled += t->result == QUEUE_UNHANDLED;
        if (t->result != QUEUE_APPENDED)
            continue;
        queue_session_t *s = plan[i].s;
        if (plan[i].victim) {
            s_unlink(&s->queued, plan[i].victim);
            s_entry_free(self, plan[i].victim);
            self->counters.message_drop++;
        }
        plan[i].entry->msg = m;
        m->refs++;
        s->next_seq++;
        s_push(&s->queued, plan[i].entry);
        t->queued = s->queued.n;
        self->counters.message_in++;
    }
    if (!ok) {
        if (m)
            s_msg_drop(self, m);
        return -1;
    }
    if (appended)
        self->next_msg_id++;
    return appended;
}

/* --- delivery --------------------------------------------------------------- */

static size_t s_window(const queue_shard_t *self, const queue_session_t *s)
{
    return broker_delivery_window(s->receive_max, self->lim.max_inflight, self->lim.receive_max_broker, s->proto);
}

static void s_out_publish(queue_out_t *out, const s_entry_t *e, bool dup, int64_t now)
{
    const queue_msg_t *m = e->msg;
    int64_t left = -1;
    if (m->expiry_at) {
        left = (m->expiry_at - now + 999) / 1000;
        if (left < 0)
            left = 0;
    }
    *out = (queue_out_t){ .kind = QUEUE_OUT_PUBLISH, .packet_id = e->pid, .qos = e->qos, .dup = dup,
                          .retain = e->retain, .msg = m, .n_sub_ids = e->n_sub_ids,
                          .sub_ids = e->sub_ids, .expiry_left = left };
}

/* The body of an entry about to go out.  0 loaded; 1 it was missing and the
 * entry is gone (logged: the store lost a body it counted); -1 error. */
static int s_ready_to_send(queue_shard_t *self, queue_session_t *s, s_list_t *l, s_entry_t *e)
{
    int rc = s_entry_load(self, e);
    if (rc <= 0)
        return rc;
    nmq_error("queue: message %llu of %s missing from the store; entry dropped",
              (unsigned long long)e->msg_id, s->client_id);
    return s_entry_drop(self, s, l, e) ? -1 : 1;
}

/* A queued QoS 1/2 entry goes in flight under a new packet id, in the store
 * first.  1 done, 0 no id free, -1 store error. */
static int s_to_inflight(queue_shard_t *self, queue_session_t *s, s_entry_t *e)
{
    uint16_t pid = s_pid_alloc(s);
    if (!pid)
        return 0;
    if (s->durable) {
        queue_store_entry_t se = s_entry_view(e);
        se.packet_id = pid;
        if (queue_store_entry_put(self->store, s->sid, e->seq, &se))
            return -1;
    }
    s_unlink(&s->queued, e);
    e->pid = pid;
    s_push(&s->inflight, e);
    s_bit(s, pid, true);
    s_pids_changed(s);
    return 1;
}

size_t queue_session_queued(const queue_session_t *s) { return s->queued.n; }

int queue_session_next(queue_shard_t *self, queue_session_t *s, int64_t now, queue_out_t *out)
{
    s_limbo_free(self);
    if (!s->online)
        return 0;
    int rc;
    /* 1. what the previous connection left in flight: same ids, DUP */
    while (s->resend) {
        s_entry_t *e = s->resend;
        if ((rc = s_ready_to_send(self, s, &s->inflight, e)) < 0)
            return -1;
        if (rc)
            continue;
        s->resend = e->next;
        s_out_publish(out, e, true, now);
        return 1;
    }
    /* 2. PUBRELs pending */
    if (s->pubrels_sent < s->n_pubrels) {
        *out = (queue_out_t){ .kind = QUEUE_OUT_PUBREL, .packet_id = s->pubrels[s->pubrels_sent++].pid,
                              .qos = 1, .expiry_left = -1 };
        return 1;
    }
    /* 3. the queue, in its order, as far as the window goes */
    for (;;) {
        s_entry_t *e = self->lim.lifo ? s->queued.tail : s->queued.head;
        if (!e || (e->qos > 0 && s_pids_used(s) >= s_window(self, s)))
            return 0;
        if ((rc = s_ready_to_send(self, s, &s->queued, e)) < 0)
            return -1;
        if (rc)
            continue;
        if (e->msg->expiry_at && now >= e->msg->expiry_at) {
            if (s_entry_drop(self, s, &s->queued, e))
                return -1;
            self->counters.message_expired++;
            continue;
        }
        if (e->qos == 0) {
            s_unlink(&s->queued, e);
            self->limbo = e;
            s_out_publish(out, e, false, now);
            self->counters.message_out++;
            return 1;
        }
        int sent = s_to_inflight(self, s, e);
        if (sent <= 0)
            return sent;
        s_out_publish(out, e, false, now);
        self->counters.message_out++;
        return 1;
    }
}

void queue_session_resend(queue_shard_t *self, queue_session_t *s)
{
    s->resend = s->inflight.head;
    s->pubrels_sent = 0;
}

/* --- acknowledgements --------------------------------------------------------- */

int queue_session_puback(queue_shard_t *self, queue_session_t *s, uint16_t packet_id)
{
    s_entry_t *e = s_inflight_find(s, packet_id);
    if (!e || e->qos != 1)
        return QUEUE_ACK_UNKNOWN;
    return s_entry_drop(self, s, &s->inflight, e) ? -1 : QUEUE_ACK_OK;
}

int queue_session_pubrec(queue_shard_t *self, queue_session_t *s, uint16_t packet_id, uint8_t reason)
{
    bool failed = reason >= 0x80;
    s_entry_t *e = s_inflight_find(s, packet_id);
    if (!e) {
        /* PUBREC again for an id already released: send its PUBREL again */
        ssize_t i = s_pubrel_find(s, packet_id);
        if (i < 0 || failed)
            return QUEUE_ACK_UNKNOWN;
        s_pubrel_t p = s->pubrels[i];
        s_pubrel_remove(s, (size_t)i);
        s_pubrel_add(s, p.pid, p.order);     /* cannot fail: the slot was just freed */
        return QUEUE_ACK_OK;
    }
    if (e->qos != 2)
        return QUEUE_ACK_UNKNOWN;
    if (failed)                              /* MQTT 5: the exchange ends here */
        return s_entry_drop(self, s, &s->inflight, e) ? -1 : QUEUE_ACK_OK;
    uint64_t order = e->seq;
    if (s_pubrel_reserve(s))
        return -1;
    size_t mark = s->durable ? queue_store_mark(self->store) : 0;
    if (s->durable && queue_store_pubrel_put(self->store, s->sid, packet_id, order)) {
        queue_store_rollback(self->store, mark);
        return -1;
    }
    /* the id stays in use: it moves from the entry to the PUBREL array */
    s_pubrel_add(s, packet_id, order);
    if (s_entry_drop(self, s, &s->inflight, e)) {
        s->n_pubrels--;
        if (s->durable)
            queue_store_rollback(self->store, mark);
        return -1;
    }
    s_bit(s, packet_id, true);
    s_pids_changed(s);
    return QUEUE_ACK_OK;
}

int queue_session_pubcomp(queue_shard_t *self, queue_session_t *s, uint16_t packet_id)
{
    ssize_t i = s_pubrel_find(s, packet_id);
    if (i < 0)
        return QUEUE_ACK_UNKNOWN;
    if (s->durable && queue_store_pubrel_del(self->store, s->sid, packet_id))
        return -1;
    s_pubrel_remove(s, (size_t)i);
    s_bit(s, packet_id, false);
    s_pids_changed(s);
    return QUEUE_ACK_OK;
}

/* --- session expiry --------------------------------------------------------- */

bool queue_session_expired(const queue_shard_t *self, const queue_session_t *s, int64_t now)
{
    if (s->online)
        return false;
    if (!s->persistent)
        return true;
    int64_t after;
    if (s->proto == 5)
        after = s->expiry_interval == QUEUE_STORE_NEVER ? 0 : (int64_t)s->expiry_interval;
    else
        after = self->lim.persistent_client_expiration;
    return after > 0 && now >= s->disconnected_at + after * 1000;
}

int queue_shard_expire(queue_shard_t *self, int64_t now,
                       void (*fn)(const char *client_id, void *arg), void *arg)
{
    size_t n = 0, cap = 0;
    queue_session_t **dead = NULL;
    for (queue_session_t *s = zhashx_first(self->sessions); s; s = zhashx_next(self->sessions)) {
        if (!queue_session_expired(self, s, now))
            continue;
        if (n == cap) {
            queue_session_t **d = realloc(dead, (cap = cap ? cap * 2 : 16) * sizeof *d);
            if (!d)
                break;
            dead = d;
        }
        dead[n++] = s;
    }
    int deleted = 0;
    for (size_t i = 0; i < n; i++) {
        if (fn)
            fn(dead[i]->client_id, arg);
        if (queue_shard_delete(self, dead[i])) {
            deleted = -1;
            break;
        }
        deleted++;
    }
    free(dead);
    return deleted;
}

/* --- information -------------------------------------------------------------- */

const char *queue_session_client_id(const queue_session_t *s) { return s->client_id; }

void queue_session_info(const queue_session_t *s, queue_session_info_t *info)
{
    *info = (queue_session_info_t){ .online = s->online, .persistent = s->persistent,
                                    .durable = s->durable, .proto = s->proto,
                                    .queued = s->queued.n, .inflight = s->inflight.n,
                                    .pubrels = s->n_pubrels, .disconnected_at = s->disconnected_at,
                                    .expiry_interval = s->expiry_interval };
}

/* --- moving a session to another node ------------------------------------------ */

int queue_session_export(queue_shard_t *self, queue_session_t *s, queue_export_fn fn, void *arg)
{
    s_list_t *lists[] = { &s->inflight, &s->queued };
    for (size_t i = 0; i < 2; i++)
        for (s_entry_t *e = lists[i]->head; e; e = e->next) {
            int rc = s_entry_load(self, e);
            if (rc < 0)
                return -1;
            if (rc)
                continue;   /* a body the store lost: nothing to move */
            queue_store_msg_t m = s_msg_view(e->msg);
            fn(arg, &m, e->qos, e->retain, e->n_sub_ids, e->sub_ids, i == 0);
        }
    return 0;
}

int queue_session_import(queue_shard_t *self, queue_session_t *s, const queue_store_msg_t *msg, uint8_t qos,
                         bool retain, uint16_t n_sub_ids, const uint32_t *sub_ids, bool inflight, int64_t now)
{
    queue_target_t t = { .client_id = s->client_id, .qos = qos, .retain = retain, .n_sub_ids = n_sub_ids,
                         .sub_ids = sub_ids };
    int rc = queue_shard_append(self, msg, &t, 1, now);
    s_entry_t *e = s->queued.tail;
    if (rc <= 0 || !inflight || !e || e->qos == 0)   /* the entry's QoS: as it is delivered */
        return rc;
    /* it was sent on the old node: in flight here too, so it goes out again
     * with DUP set, under an id of this session */
    return s_to_inflight(self, s, e) < 0 ? -1 : rc;
}
