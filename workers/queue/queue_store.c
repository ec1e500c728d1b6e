/* queue_store — see queue_store.h.
 *
 * Layout: six named databases in one environment.
 *   meta      "format" -> u32 (1)
 *   sessions  client id -> session record   (ids too long for a key: prefix + hash)
 *   msgs      u64 msg id -> message record  (body stored once per worker)
 *   refs      u64 msg id -> u32 references  (apart from the body, so an ack does
 *                                            not rewrite the payload)
 *   entries   (u64 sid, u64 seq) -> entry record
 *   pubrels   (u64 sid, u16 packet id) -> u64 order
 * Keys are big-endian so that memcmp order is numeric order: a session's entries
 * are one contiguous range, in sequence order.  Every record starts with a
 * version byte and is read by the reader for that version, so an old store is
 * read by the reader it was written for.
 *
 * The op log: each put or delete of the turn is appended to one arena
 * (key and value bytes), then applied.  Values are encoded straight into the
 * arena, so the log costs no copy beyond the encoding itself.  When LMDB says
 * MDB_MAP_FULL the transaction is dead; we abort, grow the map and replay the
 * log, which makes the same changes on the same committed state.
 */
#include "queue_store.h"

#include <errno.h>
#include <lmdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "nmq_log.h"

#define S_FORMAT        1
#define S_ID_KEY_MAX    400             /* client ids up to this are their own key */
#define S_ID_PREFIX     392             /* longer: 392 bytes, 0xff, 8-byte hash */
#define S_LOG_KEEP      (1u << 20)      /* op log arena kept between turns */

enum { S_META, S_SESSIONS, S_MSGS, S_REFS, S_ENTRIES, S_PUBRELS, S_NDB };
static const char *const s_db_names[S_NDB] = {
    [S_META] = "meta", [S_SESSIONS] = "sessions", [S_MSGS] = "msgs",
    [S_REFS] = "refs", [S_ENTRIES] = "entries", [S_PUBRELS] = "pubrels",
};

enum { S_OP_PUT = 1, S_OP_DEL = 2 };
typedef struct {
    uint8_t op, db;
    uint16_t pad;
    uint32_t klen, vlen;
} s_op_t;

struct queue_store {
    MDB_env *env;
    MDB_dbi db[S_NDB];
    MDB_txn *txn;               /* the turn's transaction, NULL between turns */
    bool readonly;
    bool broken;                /* a replay failed: the turn can only be dropped */
    bool full;                  /* new bodies refused (logged once) */
    size_t map_size, map_max, page_size;
    uint64_t grows;
    uint8_t *log;               /* the turn's op log */
    size_t log_len, log_cap, log_ops;
    char *id_buf;               /* walks: a client id, NUL-terminated */
    uint32_t *sub_ids;          /* walks: an entry's subscription ids */
    char path[1024];
};

/* --- encoding ----------------------------------------------------------- */

static void s_wr16(uint8_t *p, uint16_t v) { p[0] = v >> 8; p[1] = v; }
static void s_wr32(uint8_t *p, uint32_t v) { s_wr16(p, v >> 16); s_wr16(p + 2, v); }
static void s_wr64(uint8_t *p, uint64_t v) { s_wr32(p, v >> 32); s_wr32(p + 4, v); }
static uint16_t s_rd16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }
static uint32_t s_rd32(const uint8_t *p) { return (uint32_t)s_rd16(p) << 16 | s_rd16(p + 2); }
static uint64_t s_rd64(const uint8_t *p) { return (uint64_t)s_rd32(p) << 32 | s_rd32(p + 4); }

static uint64_t s_fnv1a(const void *data, size_t len)
{
    const uint8_t *p = data;
    uint64_t h = 0xcbf29ce484222325ull;
    while (len--)
        h = (h ^ *p++) * 0x100000001b3ull;
    return h;
}

/* The sessions key of a client id: the id, or for ids longer than a key may
 * be, a prefix, 0xff and a hash (401 bytes, a length no plain id key has). */
static size_t s_session_key(const char *id, size_t len, uint8_t *key)
{
    if (len <= S_ID_KEY_MAX) {
        memcpy(key, id, len);
        return len;
    }
    memcpy(key, id, S_ID_PREFIX);
    key[S_ID_PREFIX] = 0xff;
    s_wr64(key + S_ID_PREFIX + 1, s_fnv1a(id, len));
    return S_ID_PREFIX + 9;
}

/* session v1: ver flags proto 0 | expiry u32 | disconnected_at i64 | sid u64 |
 *             next_pid u16 | id_len u16 | id */
#define S_SESSION_V1 28
static size_t s_session_size(size_t idlen) { return S_SESSION_V1 + idlen; }
static void s_session_encode(uint8_t *p, const queue_store_session_t *r, const char *id, size_t idlen)
{
    p[0] = 1;
    p[1] = r->persistent ? 1 : 0;
    p[2] = r->proto;
    p[3] = 0;
    s_wr32(p + 4, r->expiry_interval);
    s_wr64(p + 8, (uint64_t)r->disconnected_at);
    s_wr64(p + 16, r->sid);
    s_wr16(p + 24, r->next_pid);
    s_wr16(p + 26, (uint16_t)idlen);
    memcpy(p + S_SESSION_V1, id, idlen);
}

static int s_session_read_v1(const uint8_t *p, size_t n, queue_store_session_t *r,
                             const char **id, size_t *idlen)
{
    if (n < S_SESSION_V1 || n != S_SESSION_V1 + (size_t)s_rd16(p + 26))
        return -1;
    r->persistent = p[1] & 1;
    r->proto = p[2];
    r->expiry_interval = s_rd32(p + 4);
    r->disconnected_at = (int64_t)s_rd64(p + 8);
    r->sid = s_rd64(p + 16);
    r->next_pid = s_rd16(p + 24);
    *idlen = s_rd16(p + 26);
    *id = (const char *)p + S_SESSION_V1;
    return 0;
}

/* message v1: ver qos flags 0 | published_at i64 | expiry_at i64 |
 *             topic_len u32 | props_len u32 | payload_len u32 | topic props payload */
#define S_MSG_V1 36
static size_t s_msg_size(const queue_store_msg_t *m)
{
    return S_MSG_V1 + m->topic_len + m->props_len + m->payload_len;
}

static void s_msg_encode(uint8_t *p, const queue_store_msg_t *m)
{
    p[0] = 1;
    p[1] = m->qos;
    p[2] = m->retain ? 1 : 0;
    p[3] = 0;
    s_wr64(p + 4, (uint64_t)m->published_at);
    s_wr64(p + 12, (uint64_t)m->expiry_at);
    s_wr32(p + 20, (uint32_t)m->topic_len);
    s_wr32(p + 24, (uint32_t)m->props_len);
    s_wr32(p + 28, (uint32_t)m->payload_len);
    s_wr32(p + 32, 0);
    p += S_MSG_V1;
    if (m->topic_len)
        memcpy(p, m->topic, m->topic_len);
    if (m->props_len)
        memcpy(p + m->topic_len, m->props, m->props_len);
    if (m->payload_len)
        memcpy(p + m->topic_len + m->props_len, m->payload, m->payload_len);
}

static int s_msg_read_v1(const uint8_t *p, size_t n, queue_store_msg_t *m)
{
    if (n < S_MSG_V1)
        return -1;
    m->qos = p[1];
    m->retain = p[2] & 1;
    m->published_at = (int64_t)s_rd64(p + 4);
    m->expiry_at = (int64_t)s_rd64(p + 12);
    m->topic_len = s_rd32(p + 20);
    m->props_len = s_rd32(p + 24);
    m->payload_len = s_rd32(p + 28);
    if (n != S_MSG_V1 + m->topic_len + m->props_len + m->payload_len)
        return -1;
    m->topic = (const char *)p + S_MSG_V1;
    m->props = p + S_MSG_V1 + m->topic_len;
    m->payload = p + S_MSG_V1 + m->topic_len + m->props_len;
    return 0;
}

/* entry v1: ver qos flags 0 | packet_id u16 | n_sub_ids u16 | msg_id u64 | sub ids u32... */
#define S_ENTRY_V1 16
static size_t s_entry_size(const queue_store_entry_t *e) { return S_ENTRY_V1 + 4u * e->n_sub_ids; }
static void s_entry_encode(uint8_t *p, const queue_store_entry_t *e)
{
    p[0] = 1;
    p[1] = e->qos;
    p[2] = e->retain ? 1 : 0;
    p[3] = 0;
    s_wr16(p + 4, e->packet_id);
    s_wr16(p + 6, e->n_sub_ids);
    s_wr64(p + 8, e->msg_id);
    for (int i = 0; i < e->n_sub_ids; i++)
        s_wr32(p + S_ENTRY_V1 + 4 * i, e->sub_ids[i]);
}

/* Sub ids are decoded into the caller's buffer (they are big-endian on disk). */
static int s_entry_read_v1(const uint8_t *p, size_t n, queue_store_entry_t *e, uint32_t *ids)
{
    if (n < S_ENTRY_V1 || n != S_ENTRY_V1 + 4u * s_rd16(p + 6))
        return -1;
    e->qos = p[1];
    e->retain = p[2] & 1;
    e->packet_id = s_rd16(p + 4);
    e->n_sub_ids = s_rd16(p + 6);
    e->msg_id = s_rd64(p + 8);
    for (int i = 0; i < e->n_sub_ids; i++)
        ids[i] = s_rd32(p + S_ENTRY_V1 + 4 * i);
    e->sub_ids = ids;
    return 0;
}

/* One reader per record version; a new layout adds a row, old stores stay readable. */
typedef struct {
    int (*session)(const uint8_t *p, size_t n, queue_store_session_t *r, const char **id, size_t *idlen);
    int (*msg)(const uint8_t *p, size_t n, queue_store_msg_t *m);
    int (*entry)(const uint8_t *p, size_t n, queue_store_entry_t *e, uint32_t *ids);
} s_readers_t;

static const s_readers_t s_readers[] = {
    [1] = { s_session_read_v1, s_msg_read_v1, s_entry_read_v1 },
};

static const s_readers_t *s_reader(const MDB_val *v)
{
    unsigned ver = v->mv_size ? ((const uint8_t *)v->mv_data)[0] : 0;
    return ver < sizeof s_readers / sizeof s_readers[0] && s_readers[ver].msg ? &s_readers[ver] : NULL;
}

static int s_session_decode(const MDB_val *v, queue_store_session_t *r, const char **id, size_t *idlen)
{
    const s_readers_t *rd = s_reader(v);
    return rd ? rd->session(v->mv_data, v->mv_size, r, id, idlen) : -1;
}

static int s_msg_decode(const MDB_val *v, queue_store_msg_t *m)
{
    const s_readers_t *rd = s_reader(v);
    return rd ? rd->msg(v->mv_data, v->mv_size, m) : -1;
}

static int s_entry_decode(const MDB_val *v, queue_store_entry_t *e, uint32_t *ids)
{
    const s_readers_t *rd = s_reader(v);
    return rd ? rd->entry(v->mv_data, v->mv_size, e, ids) : -1;
}

/* --- transactions, the op log, growth ----------------------------------- */

static int s_fail(queue_store_t *self, const char *what, int rc)
{
    nmq_error("queue store %s: %s: %s", self->path, what, mdb_strerror(rc));
    return -1;
}

static size_t s_map_used(queue_store_t *self)
{
    MDB_envinfo info;
    mdb_env_info(self->env, &info);
    return (info.me_last_pgno + 1) * self->page_size;
}

/* Only between transactions. */
static int s_grow(queue_store_t *self)
{
    if (self->txn) {
        mdb_txn_abort(self->txn);
        self->txn = NULL;
    }
    if (self->map_size >= self->map_max)
        return MDB_MAP_FULL;
    size_t size = self->map_size * 2 < self->map_max ? self->map_size * 2 : self->map_max;
    int rc = mdb_env_set_mapsize(self->env, size);
    if (rc)
        return rc;
    self->map_size = size;
    self->grows++;
    nmq_info("queue store %s: map grown to %zu KiB", self->path, size >> 10);
    return 0;
}

static int s_begin(queue_store_t *self)
{
    int rc = mdb_txn_begin(self->env, NULL, self->readonly ? MDB_RDONLY : 0, &self->txn);
    if (rc == MDB_MAP_RESIZED) {        /* the writer grew the map under a reader */
        mdb_env_set_mapsize(self->env, 0);
        rc = mdb_txn_begin(self->env, NULL, self->readonly ? MDB_RDONLY : 0, &self->txn);
    }
    if (rc)
        self->txn = NULL;
    return rc;
}

/* The turn's transaction, opened on first use.  A turn that starts with the
 * map three quarters full grows it first, which spares most replays. */
static MDB_txn *s_txn(queue_store_t *self)
{
    if (self->txn)
        return self->txn;
    if (!self->readonly && s_map_used(self) > self->map_size / 4 * 3)
        s_grow(self);
    int rc = s_begin(self);
    if (rc)
        s_fail(self, "begin", rc);
    return self->txn;
}

static int s_apply(queue_store_t *self, size_t off, size_t *next)
{
    s_op_t op;
    memcpy(&op, self->log + off, sizeof op);
    MDB_val k = { op.klen, self->log + off + sizeof op };
    MDB_val v = { op.vlen, self->log + off + sizeof op + op.klen };
    *next = off + ((sizeof op + op.klen + op.vlen + 7) & ~(size_t)7);
    int rc = op.op == S_OP_PUT ? mdb_put(self->txn, self->db[op.db], &k, &v, 0)
                               : mdb_del(self->txn, self->db[op.db], &k, NULL);
    return op.op == S_OP_DEL && rc == MDB_NOTFOUND ? 0 : rc;
}

/* A fresh transaction holding the first `upto` bytes of the log. */
static int s_replay(queue_store_t *self, size_t upto)
{
    if (self->txn)
        mdb_txn_abort(self->txn);
    self->txn = NULL;
    int rc = s_begin(self);
    size_t off = 0;
    self->log_ops = 0;
    while (!rc && off < upto) {
        rc = s_apply(self, off, &off);
        self->log_ops++;
    }
    self->log_len = upto;
    return rc;
}

/* Reserve an op in the log; returns where its value goes (vlen bytes). */
static uint8_t *s_op(queue_store_t *self, int op, int db, const void *key, size_t klen,
                     size_t vlen, size_t *off)
{
    size_t need = (sizeof(s_op_t) + klen + vlen + 7) & ~(size_t)7;
    if (self->log_len + need > self->log_cap) {
        size_t cap = self->log_cap ? self->log_cap : 4096;
        while (cap < self->log_len + need)
            cap *= 2;
        uint8_t *log = realloc(self->log, cap);
        if (!log)
            return NULL;
        self->log = log;
        self->log_cap = cap;
    }
    s_op_t h = { .op = (uint8_t)op, .db = (uint8_t)db, .klen = (uint32_t)klen, .vlen = (uint32_t)vlen };
    *off = self->log_len;
    memcpy(self->log + *off, &h, sizeof h);
    memcpy(self->log + *off + sizeof h, key, klen);
    self->log_len += need;
    return self->log + *off + sizeof h + klen;
}

/* A composite change failed half way: take back its first half.  -1. */
static int s_undo(queue_store_t *self, size_t mark)
{
    int rc;
    if (mark < self->log_len && (rc = s_replay(self, mark))) {
        self->broken = true;
        s_fail(self, "undo", rc);
    }
    return -1;
}

/* Apply the op just logged at off, growing the map as needed.  When it cannot
 * be made (map at its bound, I/O error), the turn is rebuilt without it. */
static int s_run(queue_store_t *self, size_t off)
{
    size_t end;
    int rc = s_apply(self, off, &end);
    if (!rc) {
        self->log_ops++;
        return 0;
    }
    while (rc == MDB_MAP_FULL && s_grow(self) == 0)
        rc = s_replay(self, end);
    if (!rc)
        return 0;
    s_fail(self, "write", rc);
    return s_undo(self, off);
}

static int s_ready(queue_store_t *self)
{
    if (self->readonly || self->broken)
        return -1;
    return s_txn(self) ? 0 : -1;
}

static int s_put(queue_store_t *self, int db, const void *key, size_t klen, const void *val, size_t vlen)
{
    size_t off;
    uint8_t *v;
    if (s_ready(self) || !(v = s_op(self, S_OP_PUT, db, key, klen, vlen, &off)))
        return -1;
    memcpy(v, val, vlen);
    return s_run(self, off);
}

static int s_del(queue_store_t *self, int db, const void *key, size_t klen)
{
    size_t off;
    if (s_ready(self) || !s_op(self, S_OP_DEL, db, key, klen, 0, &off))
        return -1;
    return s_run(self, off);
}

/* 0 found, 1 not found, -1 error. */
static int s_get(queue_store_t *self, int db, const void *key, size_t klen, MDB_val *val)
{
    MDB_txn *txn = self->broken ? NULL : s_txn(self);
    if (!txn)
        return -1;
    MDB_val k = { klen, (void *)key };
    int rc = mdb_get(txn, self->db[db], &k, val);
    return rc == MDB_NOTFOUND ? 1 : rc ? s_fail(self, "get", rc) : 0;
}

/* Every record whose key starts with prefix, in key order; fn may not write. */
typedef int (*s_scan_fn)(const MDB_val *key, const MDB_val *val, void *arg);
static int s_scan(queue_store_t *self, int db, const void *prefix, size_t plen, s_scan_fn fn, void *arg)
{
    MDB_txn *txn = self->broken ? NULL : s_txn(self);
    MDB_cursor *cur;
    if (!txn || mdb_cursor_open(txn, self->db[db], &cur))
        return -1;
    MDB_val k = { plen, (void *)prefix }, v;
    int rc = mdb_cursor_get(cur, &k, &v, plen ? MDB_SET_RANGE : MDB_FIRST);
    int ret = 0;
    while (!rc && !ret && k.mv_size >= plen && (!plen || !memcmp(k.mv_data, prefix, plen))) {
        ret = fn(&k, &v, arg);
        rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
    }
    mdb_cursor_close(cur);
    if (rc && rc != MDB_NOTFOUND)
        return s_fail(self, "scan", rc);
    return ret;
}

/* --- open, close, commit ------------------------------------------------ */

static int s_mkdirs(const char *path)
{
    char buf[1024];
    if (snprintf(buf, sizeof buf, "%s", path) >= (int)sizeof buf)
        return -1;
    for (char *p = buf + 1; ; p++) {
        if (*p == '/' || !*p) {
            char c = *p;
            *p = 0;
            if (mkdir(buf, 0700) && errno != EEXIST)
                return -1;
            if (!(*p = c))
                return 0;
        }
    }
}

static int s_open_dbs(queue_store_t *self, char *err, size_t errlen)
{
    MDB_txn *txn;
    int rc = mdb_txn_begin(self->env, NULL, self->readonly ? MDB_RDONLY : 0, &txn);
    for (int i = 0; !rc && i < S_NDB; i++)
        rc = mdb_dbi_open(txn, s_db_names[i], self->readonly ? 0 : MDB_CREATE, &self->db[i]);
    MDB_val k = { 6, "format" }, v;
    uint8_t fmt[4];
    if (!rc && (rc = mdb_get(txn, self->db[S_META], &k, &v)) == MDB_NOTFOUND && !self->readonly) {
        s_wr32(fmt, S_FORMAT);
        v = (MDB_val){ sizeof fmt, fmt };
        rc = mdb_put(txn, self->db[S_META], &k, &v, 0);
    } else if (!rc && (v.mv_size != 4 || s_rd32(v.mv_data) != S_FORMAT)) {
        snprintf(err, errlen, "%s: unknown queue store format", self->path);
        mdb_txn_abort(txn);
        return -1;
    }
    if (rc) {
        mdb_txn_abort(txn);
        snprintf(err, errlen, "%s: %s", self->path, mdb_strerror(rc));
        return -1;
    }
    rc = mdb_txn_commit(txn);              /* also read-only: it keeps the handles */
    if (rc)
        snprintf(err, errlen, "%s: %s", self->path, mdb_strerror(rc));
    return rc ? -1 : 0;
}

queue_store_t *queue_store_open(const queue_store_opts_t *opts, char *err, size_t errlen)
{
    queue_store_t *self = calloc(1, sizeof *self);
    if (!self) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    snprintf(self->path, sizeof self->path, "%s", opts->path);
    /* walk buffers for the largest id and sub id list (both lengths are u16) */
    self->id_buf = malloc(UINT16_MAX + 1);
    self->sub_ids = malloc(UINT16_MAX * sizeof(uint32_t));
    if (!self->id_buf || !self->sub_ids) {
        snprintf(err, errlen, "out of memory");
        queue_store_close(&self);
        return NULL;
    }
    self->readonly = opts->readonly;
    self->map_size = opts->map_size ? opts->map_size : QUEUE_STORE_MAP_DEFAULT;
    self->map_max = opts->map_max ? opts->map_max : QUEUE_STORE_MAP_MAX;
    if (self->map_max < self->map_size)
        self->map_max = self->map_size;
    unsigned flags = (opts->sync ? 0 : MDB_NOSYNC) | (opts->readonly ? MDB_RDONLY : 0);
    int rc;
    if (!opts->readonly && s_mkdirs(opts->path)) {
        snprintf(err, errlen, "%s: cannot create: %s", opts->path, strerror(errno));
        free(self);
        return NULL;
    }
    if ((rc = mdb_env_create(&self->env)) || (rc = mdb_env_set_maxdbs(self->env, S_NDB + 2)) ||
        (rc = mdb_env_set_mapsize(self->env, self->map_size)) ||
        (rc = mdb_env_open(self->env, opts->path, flags, 0600))) {
        snprintf(err, errlen, "%s: %s", opts->path, mdb_strerror(rc));
        queue_store_close(&self);
        return NULL;
    }
    int dead;
    mdb_reader_check(self->env, &dead);          /* slots of a reader that died */
    MDB_envinfo info;
    MDB_stat st;
    mdb_env_info(self->env, &info);
    mdb_env_stat(self->env, &st);
    self->page_size = st.ms_psize;
    if (info.me_mapsize > self->map_size)        /* the file is larger than we asked */
        self->map_size = info.me_mapsize;
    if (self->map_max < self->map_size)
        self->map_max = self->map_size;
    if (s_open_dbs(self, err, errlen))
        queue_store_close(&self);
    return self;
}

static void s_log_reset(queue_store_t *self)
{
    self->log_len = self->log_ops = 0;
    self->broken = false;
    if (self->log_cap > S_LOG_KEEP) {         /* a huge turn does not pin its arena */
        free(self->log);
        self->log = NULL;
        self->log_cap = 0;
    }
}

void queue_store_abort(queue_store_t *self)
{
    if (self->txn)
        mdb_txn_abort(self->txn);
    self->txn = NULL;
    s_log_reset(self);
}

void queue_store_close(queue_store_t **self_p)
{
    queue_store_t *self = *self_p;
    if (!self)
        return;
    queue_store_abort(self);
    if (self->env)
        mdb_env_close(self->env);
    free(self->log);
    free(self->id_buf);
    free(self->sub_ids);
    free(self);
    *self_p = NULL;
}

int queue_store_commit(queue_store_t *self)
{
    if (!self->txn)
        return 0;
    if (self->readonly || self->broken) {
        int was_broken = self->broken;
        queue_store_abort(self);
        return was_broken ? -1 : 0;
    }
    int rc;
    /* Commit can need pages too (the free list): the same grow-and-replay. */
    for (;;) {
        rc = mdb_txn_commit(self->txn);
        self->txn = NULL;
        if (rc != MDB_MAP_FULL || s_grow(self) || (rc = s_replay(self, self->log_len)))
            break;
    }
    queue_store_abort(self);
    return rc ? s_fail(self, "commit", rc) : 0;
}

size_t queue_store_pending(const queue_store_t *self) { return self->log_ops; }
size_t queue_store_mark(const queue_store_t *self) { return self->log_len; }

int queue_store_rollback(queue_store_t *self, size_t mark)
{
    if (mark >= self->log_len)
        return 0;
    s_undo(self, mark);
    return self->broken ? -1 : 0;
}

uint64_t queue_store_last_msg_id(queue_store_t *self)
{
    MDB_txn *txn = s_txn(self);
    MDB_cursor *cur;
    uint64_t id = 0;
    if (!txn || mdb_cursor_open(txn, self->db[S_MSGS], &cur))
        return 0;
    MDB_val k, v;
    if (!mdb_cursor_get(cur, &k, &v, MDB_LAST) && k.mv_size == 8)
        id = s_rd64(k.mv_data);
    mdb_cursor_close(cur);
    return id;
}

/* --- sessions ------------------------------------------------------------ */

int queue_store_session_put(queue_store_t *self, const char *client_id, const queue_store_session_t *rec)
{
    size_t idlen = strlen(client_id), klen, off;
    uint8_t key[S_ID_KEY_MAX + 9], *v;
    if (!idlen || idlen > UINT16_MAX)
        return -1;
    klen = s_session_key(client_id, idlen, key);
    if (klen > S_ID_KEY_MAX) {        /* hashed key: refuse to overwrite another id */
        queue_store_session_t old;
        const char *oid;
        size_t olen;
        MDB_val cur;
        if (s_get(self, S_SESSIONS, key, klen, &cur) == 0 &&
            (s_session_decode(&cur, &old, &oid, &olen) || olen != idlen || memcmp(oid, client_id, idlen))) {
            nmq_error("queue store %s: client id hash collision", self->path);
            return -1;
        }
    }
    if (s_ready(self) || !(v = s_op(self, S_OP_PUT, S_SESSIONS, key, klen, s_session_size(idlen), &off)))
        return -1;
    s_session_encode(v, rec, client_id, idlen);
    return s_run(self, off);
}

int queue_store_session_get(queue_store_t *self, const char *client_id, queue_store_session_t *rec)
{
    uint8_t key[S_ID_KEY_MAX + 9];
    size_t idlen = strlen(client_id), olen;
    const char *oid;
    MDB_val v;
    if (!idlen || idlen > UINT16_MAX)
        return 1;
    int rc = s_get(self, S_SESSIONS, key, s_session_key(client_id, idlen, key), &v);
    if (rc)
        return rc;
    if (s_session_decode(&v, rec, &oid, &olen) || olen != idlen || memcmp(oid, client_id, idlen))
        return 1;
    return 0;
}

typedef struct {
    queue_store_session_fn fn;
    void *arg;
    char *id;            /* NUL-terminated copy for the callback */
} s_sessions_walk_t;

static int s_sessions_one(const MDB_val *k, const MDB_val *v, void *arg)
{
    s_sessions_walk_t *w = arg;
    queue_store_session_t rec;
    const char *id;
    size_t idlen;
    if (s_session_decode(v, &rec, &id, &idlen)) {
        nmq_warn("queue store: unreadable session record skipped");
        return 0;
    }
    memcpy(w->id, id, idlen);
    w->id[idlen] = 0;
    return w->fn(w->id, &rec, w->arg);
}

int queue_store_sessions(queue_store_t *self, queue_store_session_fn fn, void *arg)
{
    s_sessions_walk_t w = { fn, arg, self->id_buf };
    return s_scan(self, S_SESSIONS, NULL, 0, s_sessions_one, &w);
}

/* Keys collected by a scan, deleted after it (a write would invalidate the cursor). */
typedef struct {
    uint8_t *keys;       /* fixed-size keys, back to back */
    uint64_t *msg_ids;   /* the entries' messages, to release */
    size_t n, cap, klen;
} s_keys_t;

static int s_keys_add(s_keys_t *ks, const void *key, uint64_t msg_id)
{
    if (ks->n == ks->cap) {
        size_t cap = ks->cap ? ks->cap * 2 : 64;
        uint8_t *keys = realloc(ks->keys, cap * ks->klen);
        if (!keys)
            return -1;
        ks->keys = keys;
        uint64_t *ids = realloc(ks->msg_ids, cap * sizeof *ids);
        if (!ids)
            return -1;
        ks->msg_ids = ids;
        ks->cap = cap;
    }
    memcpy(ks->keys + ks->n * ks->klen, key, ks->klen);
    ks->msg_ids[ks->n++] = msg_id;
    return 0;
}

static void s_keys_free(s_keys_t *ks)
{
    free(ks->keys);
    free(ks->msg_ids);
}

static int s_collect_entry(const MDB_val *k, const MDB_val *v, void *arg)
{
    /* the message id is at the same place in every entry layout so far */
    uint64_t msg_id = v->mv_size >= S_ENTRY_V1 ? s_rd64((const uint8_t *)v->mv_data + 8) : 0;
    return k->mv_size == 16 ? s_keys_add(arg, k->mv_data, msg_id) : 0;
}

static int s_collect_key(const MDB_val *k, const MDB_val *v, void *arg)
{
    s_keys_t *ks = arg;
    return k->mv_size == ks->klen ? s_keys_add(ks, k->mv_data, 0) : 0;
}

/* Delete collected keys from db; with release, drop a reference to each message. */
static int s_keys_delete(queue_store_t *self, int db, const s_keys_t *ks, bool release)
{
    for (size_t i = 0; i < ks->n; i++) {
        if (s_del(self, db, ks->keys + i * ks->klen, ks->klen))
            return -1;
        if (release && ks->msg_ids[i] && queue_store_msg_ref(self, ks->msg_ids[i], -1) < 0)
            return -1;
    }
    return 0;
}

int queue_store_session_del(queue_store_t *self, const char *client_id)
{
    queue_store_session_t rec;
    int rc = queue_store_session_get(self, client_id, &rec);
    if (rc)
        return rc < 0 ? -1 : 0;
    uint8_t prefix[8], key[S_ID_KEY_MAX + 9];
    s_wr64(prefix, rec.sid);
    s_keys_t entries = { .klen = 16 }, pubrels = { .klen = 10 };
    size_t mark = self->log_len;
    rc = s_scan(self, S_ENTRIES, prefix, 8, s_collect_entry, &entries);
    if (!rc)
        rc = s_scan(self, S_PUBRELS, prefix, 8, s_collect_key, &pubrels);
    if (!rc)
        rc = s_keys_delete(self, S_ENTRIES, &entries, true);
    if (!rc)
        rc = s_keys_delete(self, S_PUBRELS, &pubrels, false);
    if (!rc)
        rc = s_del(self, S_SESSIONS, key, s_session_key(client_id, strlen(client_id), key));
    s_keys_free(&entries);
    s_keys_free(&pubrels);
    return rc ? s_undo(self, mark) : 0;
}

/* --- messages ------------------------------------------------------------ */

/* Bytes in the pages the data holds now, this turn's changes included: every
 * tree's pages (LMDB's free list and catalogue too) and the two meta pages.
 * Unlike the map's high-water mark, this goes down when acks free pages. */
static size_t s_data_size(queue_store_t *self)
{
    size_t pages = 2;
    MDB_stat ms;
    for (MDB_dbi dbi = 0; dbi < 2; dbi++)          /* FREE_DBI, MAIN_DBI */
        if (!mdb_stat(self->txn, dbi, &ms))
            pages += ms.ms_branch_pages + ms.ms_leaf_pages + ms.ms_overflow_pages;
    for (int i = 0; i < S_NDB; i++)
        if (!mdb_stat(self->txn, self->db[i], &ms))
            pages += ms.ms_branch_pages + ms.ms_leaf_pages + ms.ms_overflow_pages;
    return pages * self->page_size;
}

/* Room for a new body near the bound: the data plus twice the body (pages
 * are seldom full) must leave a reserve free, so that acks and deletes, which
 * need pages too (copy on write), and the commit itself still go through
 * when the store is full. */
static bool s_room(queue_store_t *self, size_t bytes)
{
    size_t reserve = self->map_max / 16;
    if (reserve < 32 * self->page_size)
        reserve = 32 * self->page_size;
    bool room = s_data_size(self) + 2 * bytes + reserve <= self->map_max;
    if (!room && !self->full)
        nmq_warn("queue store %s: full (bound %zu MiB): new messages refused", self->path,
                 self->map_max >> 20);
    self->full = !room;
    return room;
}

int queue_store_msg_put(queue_store_t *self, uint64_t id, const queue_store_msg_t *msg, uint32_t refs)
{
    uint8_t key[8], cnt[4], *v;
    size_t off;
    s_wr64(key, id);
    s_wr32(cnt, refs);
    if (s_ready(self) || !s_room(self, s_msg_size(msg)) || !(v = s_op(self, S_OP_PUT, S_MSGS, key, 8, s_msg_size(msg), &off)))
        return -1;
    s_msg_encode(v, msg);
    if (s_run(self, off))
        return -1;
    return s_put(self, S_REFS, key, 8, cnt, 4) ? s_undo(self, off) : 0;
}

int64_t queue_store_msg_ref(queue_store_t *self, uint64_t id, int64_t delta)
{
    uint8_t key[8], cnt[4];
    MDB_val v;
    s_wr64(key, id);
    int rc = s_get(self, S_REFS, key, 8, &v);
    if (rc || v.mv_size != 4) {
        if (!rc || rc == 1)
            nmq_error("queue store %s: message %llu has no reference count", self->path,
                      (unsigned long long)id);
        return -1;
    }
    int64_t n = (int64_t)s_rd32(v.mv_data) + delta;
    size_t mark = self->log_len;
    if (n <= 0)
        return s_del(self, S_REFS, key, 8) || s_del(self, S_MSGS, key, 8) ? s_undo(self, mark) : 0;
    s_wr32(cnt, (uint32_t)n);
    return s_put(self, S_REFS, key, 8, cnt, 4) ? -1 : n;
}

int queue_store_msg_get(queue_store_t *self, uint64_t id, queue_store_msg_t *msg, uint32_t *refs)
{
    uint8_t key[8];
    MDB_val v;
    s_wr64(key, id);
    int rc = s_get(self, S_MSGS, key, 8, &v);
    if (rc)
        return rc;
    if (s_msg_decode(&v, msg))
        return -1;
    if (refs) {
        MDB_val r;
        *refs = s_get(self, S_REFS, key, 8, &r) == 0 && r.mv_size == 4 ? s_rd32(r.mv_data) : 0;
    }
    return 0;
}

/* --- entries and PUBRELs --------------------------------------------------- */

static void s_entry_key(uint8_t *key, uint64_t sid, uint64_t seq)
{
    s_wr64(key, sid);
    s_wr64(key + 8, seq);
}

int queue_store_entry_put(queue_store_t *self, uint64_t sid, uint64_t seq, const queue_store_entry_t *entry)
{
    uint8_t key[16], *v;
    size_t off;
    s_entry_key(key, sid, seq);
    if (s_ready(self) || !(v = s_op(self, S_OP_PUT, S_ENTRIES, key, 16, s_entry_size(entry), &off)))
        return -1;
    s_entry_encode(v, entry);
    return s_run(self, off);
}

int queue_store_entry_del(queue_store_t *self, uint64_t sid, uint64_t seq)
{
    uint8_t key[16];
    s_entry_key(key, sid, seq);
    return s_del(self, S_ENTRIES, key, 16);
}

typedef struct {
    queue_store_entry_fn fn;
    void *arg;
    uint32_t *ids;
} s_entries_walk_t;

static int s_entries_one(const MDB_val *k, const MDB_val *v, void *arg)
{
    s_entries_walk_t *w = arg;
    queue_store_entry_t e;
    if (k->mv_size != 16 || s_entry_decode(v, &e, w->ids)) {
        nmq_warn("queue store: unreadable queue entry skipped");
        return 0;
    }
    return w->fn(s_rd64((const uint8_t *)k->mv_data + 8), &e, w->arg);
}

int queue_store_entries(queue_store_t *self, uint64_t sid, queue_store_entry_fn fn, void *arg)
{
    uint8_t prefix[8];
    s_entries_walk_t w = { fn, arg, self->sub_ids };
    s_wr64(prefix, sid);
    return s_scan(self, S_ENTRIES, prefix, 8, s_entries_one, &w);
}

static void s_pubrel_key(uint8_t *key, uint64_t sid, uint16_t pid)
{
    s_wr64(key, sid);
    s_wr16(key + 8, pid);
}

int queue_store_pubrel_put(queue_store_t *self, uint64_t sid, uint16_t packet_id, uint64_t order)
{
    uint8_t key[10], v[8];
    s_pubrel_key(key, sid, packet_id);
    s_wr64(v, order);
    return s_put(self, S_PUBRELS, key, 10, v, 8);
}

int queue_store_pubrel_del(queue_store_t *self, uint64_t sid, uint16_t packet_id)
{
    uint8_t key[10];
    s_pubrel_key(key, sid, packet_id);
    return s_del(self, S_PUBRELS, key, 10);
}

typedef struct {
    queue_store_pubrel_fn fn;
    void *arg;
} s_pubrels_walk_t;

static int s_pubrels_one(const MDB_val *k, const MDB_val *v, void *arg)
{
    s_pubrels_walk_t *w = arg;
    if (k->mv_size != 10 || v->mv_size != 8)
        return 0;
    return w->fn(s_rd16((const uint8_t *)k->mv_data + 8), s_rd64(v->mv_data), w->arg);
}

int queue_store_pubrels(queue_store_t *self, uint64_t sid, queue_store_pubrel_fn fn, void *arg)
{
    uint8_t prefix[8];
    s_pubrels_walk_t w = { fn, arg };
    s_wr64(prefix, sid);
    return s_scan(self, S_PUBRELS, prefix, 8, s_pubrels_one, &w);
}

/* --- check and stats ------------------------------------------------------- */

static int s_cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

typedef struct {
    queue_store_t *self;
    uint64_t *sids;              /* sorted */
    size_t n_sids, cap_sids;
    uint64_t *refs;              /* message id of every sound entry, sorted after the scan */
    size_t n_refs, cap_refs;
    s_keys_t bad_entries;        /* orphans: no session or no body */
    s_keys_t bad_pubrels;        /* no session */
    s_keys_t bad_msgs;           /* bodies or counts nobody references */
    s_keys_t fix_counts;         /* counts to rewrite (msg_ids[i] = the count) */
    uint64_t problems;
} s_check_t;

static int s_push_u64(uint64_t **a, size_t *n, size_t *cap, uint64_t v)
{
    if (*n == *cap) {
        size_t c = *cap ? *cap * 2 : 256;
        uint64_t *p = realloc(*a, c * sizeof *p);
        if (!p)
            return -1;
        *a = p;
        *cap = c;
    }
    (*a)[(*n)++] = v;
    return 0;
}

static bool s_has_sid(const s_check_t *c, uint64_t sid)
{
    return c->n_sids && bsearch(&sid, c->sids, c->n_sids, sizeof sid, s_cmp_u64) != NULL;
}

static int s_check_session(const MDB_val *k, const MDB_val *v, void *arg)
{
    s_check_t *c = arg;
    queue_store_session_t rec;
    const char *id;
    size_t idlen;
    if (s_session_decode(v, &rec, &id, &idlen)) {
        c->problems++;
        return 0;
    }
    return s_push_u64(&c->sids, &c->n_sids, &c->cap_sids, rec.sid);
}

static int s_check_entry(const MDB_val *k, const MDB_val *v, void *arg)
{
    s_check_t *c = arg;
    uint64_t msg_id = v->mv_size >= S_ENTRY_V1 ? s_rd64((const uint8_t *)v->mv_data + 8) : 0;
    uint8_t mkey[8];
    MDB_val body;
    s_wr64(mkey, msg_id);
    if (k->mv_size != 16 || !s_has_sid(c, s_rd64(k->mv_data)) ||
        s_get(c->self, S_MSGS, mkey, 8, &body) != 0) {
        c->problems++;
        return s_keys_add(&c->bad_entries, k->mv_data, msg_id);
    }
    return s_push_u64(&c->refs, &c->n_refs, &c->cap_refs, msg_id);
}

static int s_check_pubrel(const MDB_val *k, const MDB_val *v, void *arg)
{
    s_check_t *c = arg;
    if (k->mv_size == 10 && s_has_sid(c, s_rd64(k->mv_data)))
        return 0;
    c->problems++;
    return k->mv_size == 10 ? s_keys_add(&c->bad_pubrels, k->mv_data, 0) : 0;
}

/* How many sound entries point at id (refs is sorted). */
static uint64_t s_count_refs(const s_check_t *c, uint64_t id)
{
    size_t lo = 0, hi = c->n_refs;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (c->refs[mid] < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    uint64_t n = 0;
    while (lo + n < c->n_refs && c->refs[lo + n] == id)
        n++;
    return n;
}

static int s_check_msg(const MDB_val *k, const MDB_val *v, void *arg)
{
    s_check_t *c = arg;
    if (k->mv_size != 8)
        return 0;
    uint64_t want = s_count_refs(c, s_rd64(k->mv_data));
    MDB_val r;
    int rc = s_get(c->self, S_REFS, k->mv_data, 8, &r);
    uint64_t have = rc == 0 && r.mv_size == 4 ? s_rd32(r.mv_data) : 0;
    if (want == 0) {
        c->problems++;
        return s_keys_add(&c->bad_msgs, k->mv_data, 0);
    }
    if (have != want) {
        c->problems++;
        return s_keys_add(&c->fix_counts, k->mv_data, want);
    }
    return 0;
}

static int s_check_count(const MDB_val *k, const MDB_val *v, void *arg)
{
    s_check_t *c = arg;
    MDB_val body;
    if (k->mv_size == 8 && s_get(c->self, S_MSGS, k->mv_data, 8, &body) == 1) {
        c->problems++;        /* a count without a body */
        return s_keys_add(&c->bad_msgs, k->mv_data, 0);
    }
    return 0;
}

static int s_check_repair(queue_store_t *self, s_check_t *c)
{
    if (s_keys_delete(self, S_ENTRIES, &c->bad_entries, false) ||
        s_keys_delete(self, S_PUBRELS, &c->bad_pubrels, false))
        return -1;
    for (size_t i = 0; i < c->bad_msgs.n; i++) {
        const uint8_t *key = c->bad_msgs.keys + 8 * i;
        if (s_del(self, S_MSGS, key, 8) || s_del(self, S_REFS, key, 8))
            return -1;
    }
    for (size_t i = 0; i < c->fix_counts.n; i++) {
        uint8_t cnt[4];
        s_wr32(cnt, (uint32_t)c->fix_counts.msg_ids[i]);
        if (s_put(self, S_REFS, c->fix_counts.keys + 8 * i, 8, cnt, 4))
            return -1;
    }
    return 0;
}

int queue_store_check(queue_store_t *self, bool repair, queue_store_stats_t *st)
{
    s_check_t c = { .self = self };
    c.bad_entries.klen = 16;
    c.bad_pubrels.klen = 10;
    c.bad_msgs.klen = c.fix_counts.klen = 8;
    int rc = s_scan(self, S_SESSIONS, NULL, 0, s_check_session, &c);
    if (!rc) {
        if (c.n_sids)
            qsort(c.sids, c.n_sids, sizeof *c.sids, s_cmp_u64);
        rc = s_scan(self, S_ENTRIES, NULL, 0, s_check_entry, &c);
    }
    if (!rc)
        rc = s_scan(self, S_PUBRELS, NULL, 0, s_check_pubrel, &c);
    if (!rc) {
        if (c.n_refs)
            qsort(c.refs, c.n_refs, sizeof *c.refs, s_cmp_u64);
        rc = s_scan(self, S_MSGS, NULL, 0, s_check_msg, &c);
    }
    if (!rc)
        rc = s_scan(self, S_REFS, NULL, 0, s_check_count, &c);
    size_t mark = self->log_len;
    if (!rc && repair && c.problems && s_check_repair(self, &c))
        rc = s_undo(self, mark);
    if (c.problems)
        nmq_warn("queue store %s: %llu inconsistencies%s", self->path,
                 (unsigned long long)c.problems, repair ? " repaired" : "");
    queue_store_stats(self, st);
    st->problems = c.problems;
    free(c.sids);
    free(c.refs);
    s_keys_free(&c.bad_entries);
    s_keys_free(&c.bad_pubrels);
    s_keys_free(&c.bad_msgs);
    s_keys_free(&c.fix_counts);
    return rc ? -1 : 0;
}

void queue_store_stats(queue_store_t *self, queue_store_stats_t *st)
{
    static const struct { int db; size_t off; } counted[] = {
        { S_SESSIONS, offsetof(queue_store_stats_t, sessions) },
        { S_MSGS,     offsetof(queue_store_stats_t, messages) },
        { S_ENTRIES,  offsetof(queue_store_stats_t, entries) },
        { S_PUBRELS,  offsetof(queue_store_stats_t, pubrels) },
    };
    memset(st, 0, sizeof *st);
    MDB_txn *txn = self->broken ? NULL : s_txn(self);
    for (size_t i = 0; txn && i < sizeof counted / sizeof counted[0]; i++) {
        MDB_stat ms;
        if (!mdb_stat(txn, self->db[counted[i].db], &ms))
            *(uint64_t *)((char *)st + counted[i].off) = ms.ms_entries;
    }
    MDB_envinfo info;
    mdb_env_info(self->env, &info);
    st->map_size = self->map_size;
    st->map_used = txn ? s_data_size(self) : 0;
    st->txn_id = info.me_last_txnid;
    st->grows = self->grows;
}
