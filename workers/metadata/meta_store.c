/* meta_store — the metadata worker's LMDB environment (<data dir>/meta).
 *
 *   subs    client id \0 group \0 filter  ->  packed nmq.Subscription
 *   retain  topic                         ->  packed nmq.Msg length (u32), Msg, payload
 *   info    "seq"                         ->  the last delta sequence (u64)
 *   repl    kind + key                    ->  packed nmq.Record (meta_repl.c)
 *
 * All of a loop turn's changes share one write transaction, committed once in
 * the turn's tick (group commit); message_store.sync decides whether that
 * commit waits for the disk.  The delta sequence is stored with the changes,
 * so a restarted metadata worker continues the sequence and an acceptor sees
 * no spurious gap; the in-memory tables are rebuilt from here at start.
 */
#include "meta.h"
#include "nmq_log.h"
#include "nmq_paths.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define META_MAP_SIZE ((size_t)4 << 30)   /* sparse: only what is used is on disk */

meta_retained_t *meta_retained_new(const uint8_t *msg, uint32_t msg_len, const uint8_t *payload,
                                   uint32_t payload_len)
{
    meta_retained_t *r = malloc(sizeof *r + msg_len + payload_len);
    if (!r)
        abort();
    r->msg_len = msg_len;
    r->payload_len = payload_len;
    memcpy(r->data, msg, msg_len);
    memcpy(r->data + msg_len, payload, payload_len);
    return r;
}

static void s_check(int rc, const char *what)
{
    if (rc != 0) {
        /* the store is this worker's reason to exist: crash and be restarted */
        nmq_error("metadata store: %s: %s", what, mdb_strerror(rc));
        abort();
    }
}

int meta_store_open(meta_t *m)
{
    char dir[NMQ_CONF_PATH_MAX + 16];
    snprintf(dir, sizeof dir, "%s/meta", m->cfg->platform_data_dir);
    if (nmq_mkdir_p(dir, 0700) < 0) {
        nmq_error("cannot create %s: %s", dir, strerror(errno));
        return -1;
    }
    unsigned flags = MDB_NOTLS | (m->cfg->message_store_sync ? 0 : MDB_NOSYNC);
    int rc = mdb_env_create(&m->env);
    if (!rc)
        rc = mdb_env_set_maxdbs(m->env, 5);
    if (!rc)
        rc = mdb_env_set_mapsize(m->env, META_MAP_SIZE);
    if (!rc)
        rc = mdb_env_open(m->env, dir, flags, 0600);
    if (rc) {
        nmq_error("cannot open the metadata store %s: %s", dir, mdb_strerror(rc));
        return -1;
    }
    MDB_txn *txn;
    s_check(mdb_txn_begin(m->env, NULL, 0, &txn), "begin");
    s_check(mdb_dbi_open(txn, "subs", MDB_CREATE, &m->db_subs), "open subs");
    s_check(mdb_dbi_open(txn, "retain", MDB_CREATE, &m->db_retain), "open retain");
    s_check(mdb_dbi_open(txn, "info", MDB_CREATE, &m->db_info), "open info");
    s_check(mdb_dbi_open(txn, "repl", MDB_CREATE, &m->db_repl), "open repl");
    s_check(mdb_txn_commit(txn), "commit");
    return 0;
}

void meta_store_close(meta_t *m)
{
    meta_store_commit(m);
    if (m->env)
        mdb_env_close(m->env);
    m->env = NULL;
}

MDB_txn *meta_store_txn(meta_t *m)
{
    if (!m->txn)
        s_check(mdb_txn_begin(m->env, NULL, 0, &m->txn), "begin");
    return m->txn;
}

void meta_store_commit(meta_t *m)
{
    if (!m->txn)
        return;
    s_check(mdb_txn_commit(m->txn), "commit");
    m->txn = NULL;
}

/* client \0 group \0 filter */
static size_t s_sub_key(char *buf, size_t cap, const char *client, const nmq_trie_entry_t *e)
{
    size_t cl = strlen(client);
    size_t need = cl + 1 + e->group_len + 1 + e->filter_len;
    if (need > cap)
        return 0;
    memcpy(buf, client, cl + 1);
    memcpy(buf + cl + 1, e->group ? e->group : "", e->group_len);
    buf[cl + 1 + e->group_len] = '\0';
    memcpy(buf + cl + 2 + e->group_len, e->filter, e->filter_len);
    return need;
}

void meta_store_put_sub(meta_t *m, const char *client, const nmq_trie_entry_t *e)
{
    char key[511];   /* LMDB's default maximum key size */
    size_t klen = s_sub_key(key, sizeof key, client, e);
    if (!klen) {
        nmq_warn("subscription of %s to %s not persisted: key longer than 511 bytes", client, e->filter);
        return;
    }
    Nmq__Subscription s = NMQ__SUBSCRIPTION__INIT;
    s.has_qos = s.has_no_local = s.has_retain_as_published = s.has_retain_handling = s.has_sub_id = true;
    s.qos = e->opts.qos;
    s.no_local = e->opts.no_local;
    s.retain_as_published = e->opts.retain_as_published;
    s.retain_handling = e->opts.retain_handling;
    s.sub_id = e->opts.sub_id;
    uint8_t val[64];
    MDB_val k = { klen, key }, v = { nmq__subscription__pack(&s, val), val };
    s_check(mdb_put(meta_store_txn(m), m->db_subs, &k, &v, 0), "put subscription");
}

void meta_store_del_sub(meta_t *m, const char *client, const nmq_trie_entry_t *e)
{
    char key[511];
    size_t klen = s_sub_key(key, sizeof key, client, e);
    MDB_val k = { klen, key };
    if (klen) {
        int rc = mdb_del(meta_store_txn(m), m->db_subs, &k, NULL);
        if (rc != MDB_NOTFOUND)
            s_check(rc, "delete subscription");
    }
}

void meta_store_put_retained(meta_t *m, const char *topic, const meta_retained_t *r)
{
    MDB_val k = { strlen(topic), (void *)topic };
    MDB_val v = { sizeof(uint32_t) + r->msg_len + r->payload_len, NULL };
    if (k.mv_size > 511 || k.mv_size == 0)
        return;
    s_check(mdb_put(meta_store_txn(m), m->db_retain, &k, &v, MDB_RESERVE), "put retained");
    memcpy(v.mv_data, &r->msg_len, sizeof(uint32_t));
    memcpy((uint8_t *)v.mv_data + sizeof(uint32_t), r->data, r->msg_len + r->payload_len);
}

void meta_store_del_retained(meta_t *m, const char *topic)
{
    MDB_val k = { strlen(topic), (void *)topic };
    if (k.mv_size > 511 || k.mv_size == 0)
        return;
    int rc = mdb_del(meta_store_txn(m), m->db_retain, &k, NULL);
    if (rc != MDB_NOTFOUND)
        s_check(rc, "delete retained");
}

void meta_store_put_record(meta_t *m, const char *key, const uint8_t *data, size_t len)
{
    MDB_val k = { strlen(key), (void *)key }, v = { len, (void *)data };
    if (k.mv_size > 511) {
        nmq_warn("replicated record %.40s... not persisted: key longer than 511 bytes", key);
        return;
    }
    s_check(mdb_put(meta_store_txn(m), m->db_repl, &k, &v, 0), "put record");
}

void meta_store_del_record(meta_t *m, const char *key)
{
    MDB_val k = { strlen(key), (void *)key };
    if (k.mv_size > 511)
        return;
    int rc = mdb_del(meta_store_txn(m), m->db_repl, &k, NULL);
    if (rc != MDB_NOTFOUND)
        s_check(rc, "delete record");
}

int meta_store_records(meta_t *m, int (*fn)(meta_t *m, const uint8_t *data, size_t len))
{
    MDB_txn *txn;
    MDB_cursor *cur;
    MDB_val k, v;
    s_check(mdb_txn_begin(m->env, NULL, MDB_RDONLY, &txn), "begin");
    s_check(mdb_cursor_open(txn, m->db_repl, &cur), "cursor");
    int n = 0;
    while (mdb_cursor_get(cur, &k, &v, MDB_NEXT) == 0)
        n += fn(m, v.mv_data, v.mv_size) == 0;
    mdb_cursor_close(cur);
    mdb_txn_abort(txn);
    return n;
}

void meta_store_put_seq(meta_t *m)
{
    MDB_val k = { 3, "seq" }, v = { sizeof m->seq, &m->seq };
    s_check(mdb_put(meta_store_txn(m), m->db_info, &k, &v, 0), "put seq");
}

static void s_load_subs(meta_t *m, MDB_txn *txn)
{
    MDB_cursor *cur;
    MDB_val k, v;
    s_check(mdb_cursor_open(txn, m->db_subs, &cur), "cursor");
    while (mdb_cursor_get(cur, &k, &v, MDB_NEXT) == 0) {
        const char *key = k.mv_data;
        const char *end = key + k.mv_size;
        const char *g = memchr(key, '\0', k.mv_size);
        const char *f = g ? memchr(g + 1, '\0', (size_t)(end - g - 1)) : NULL;
        Nmq__Subscription *s = nmq__subscription__unpack(NULL, v.mv_size, v.mv_data);
        if (!f || !s) {
            nmq_warn("metadata store: skipped a damaged subscription record");
            if (s)
                nmq__subscription__free_unpacked(s, NULL);
            continue;
        }
        nmq_trie_entry_t e = { .client_id = key, .client_id_len = (size_t)(g - key) };
        e.group = g + 1;
        e.group_len = (size_t)(f - g - 1);
        if (e.group_len == 0)
            e.group = NULL;
        e.filter = f + 1;
        e.filter_len = (size_t)(end - f - 1);
        e.opts = (nmq_trie_opts_t){ (uint8_t)s->qos, s->no_local, s->retain_as_published,
                                    (uint8_t)s->retain_handling, s->sub_id };
        nmq_trie_add(m->subs, &e);
        nmq__subscription__free_unpacked(s, NULL);
    }
    mdb_cursor_close(cur);
}

static void s_load_retained(meta_t *m, MDB_txn *txn)
{
    MDB_cursor *cur;
    MDB_val k, v;
    s_check(mdb_cursor_open(txn, m->db_retain, &cur), "cursor");
    while (mdb_cursor_get(cur, &k, &v, MDB_NEXT) == 0) {
        uint32_t msg_len;
        if (v.mv_size < sizeof msg_len)
            continue;
        memcpy(&msg_len, v.mv_data, sizeof msg_len);
        if (msg_len > v.mv_size - sizeof msg_len)
            continue;
        const uint8_t *data = (const uint8_t *)v.mv_data + sizeof msg_len;
        meta_retained_t *r = meta_retained_new(data, msg_len, data + msg_len,
                                               (uint32_t)(v.mv_size - sizeof msg_len - msg_len));
        free(nmq_tindex_put(m->retained, k.mv_data, k.mv_size, r));
    }
    mdb_cursor_close(cur);
}

int meta_store_load(meta_t *m)
{
    MDB_txn *txn;
    s_check(mdb_txn_begin(m->env, NULL, MDB_RDONLY, &txn), "begin");
    MDB_val k = { 3, "seq" }, v;
    if (mdb_get(txn, m->db_info, &k, &v) == 0 && v.mv_size == sizeof m->seq)
        memcpy(&m->seq, v.mv_data, sizeof m->seq);
    s_load_subs(m, txn);
    s_load_retained(m, txn);
    mdb_txn_abort(txn);
    nmq_info("metadata store: %zu subscriptions, %zu retained messages, sequence %llu",
             nmq_trie_count(m->subs), nmq_tindex_count(m->retained), (unsigned long long)m->seq);
    return 0;
}
