/* cluster_store — the membership on disk, so a node remembers its cluster
 * across restarts and dials its members again by itself (VerneMQ: "it will
 * start looking for its old cluster peers when you restart it").
 *
 * One LMDB environment in <platform_data_dir>/cluster/, written only by the
 * cluster worker.  Database "members": nodename -> record; database "meta":
 * "format" -> 1.  A record starts with a version byte and is read by the
 * reader of that version, as in the queue store.  The membership changes
 * rarely (join, leave, a node's address), so every change rewrites the whole
 * set in one synchronous transaction: what a node said yes to survives a
 * crash.
 */
#include "cluster.h"
#include "nmq_log.h"
#include "nmq_paths.h"

#include <errno.h>
#include <lmdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_MAP_SIZE (8u << 20)
#define S_FORMAT   1

struct cluster_store {
    MDB_env *env;
    MDB_dbi members, meta;
    char dir[NMQ_CONF_PATH_MAX + 16];
};

/* v1: ver | flags (bit 0: left) | version u64 BE | addr_len u16 BE | addr */
#define S_RECORD_V1 12

size_t cluster_store_encode(const cluster_member_t *r, uint8_t *buf, size_t len)
{
    size_t al = strlen(r->addr);
    if (len < S_RECORD_V1 + al)
        return 0;
    buf[0] = 1;
    buf[1] = r->left ? 1 : 0;
    for (int i = 0; i < 8; i++)
        buf[2 + i] = (uint8_t)(r->version >> (56 - 8 * i));
    buf[10] = (uint8_t)(al >> 8);
    buf[11] = (uint8_t)al;
    memcpy(buf + S_RECORD_V1, r->addr, al);
    return S_RECORD_V1 + al;
}

static int s_decode_v1(const uint8_t *buf, size_t len, cluster_member_t *r)
{
    if (len < S_RECORD_V1)
        return -1;
    size_t al = (size_t)buf[10] << 8 | buf[11];
    if (len != S_RECORD_V1 + al || al >= sizeof r->addr)
        return -1;
    r->left = buf[1] & 1;
    r->version = 0;
    for (int i = 0; i < 8; i++)
        r->version = r->version << 8 | buf[2 + i];
    memcpy(r->addr, buf + S_RECORD_V1, al);
    r->addr[al] = '\0';
    return 0;
}

typedef int (s_reader_fn)(const uint8_t *buf, size_t len, cluster_member_t *r);
static s_reader_fn *const s_readers[] = { [1] = s_decode_v1 };

int cluster_store_decode(const uint8_t *buf, size_t len, cluster_member_t *r)
{
    if (len < 1 || buf[0] >= sizeof s_readers / sizeof s_readers[0] || !s_readers[buf[0]])
        return -1;
    return s_readers[buf[0]](buf, len, r);
}

static int s_fail(cluster_store_t *s, int rc, const char *what)
{
    nmq_error("cluster store %s: %s: %s", s->dir, what, mdb_strerror(rc));
    return -1;
}

cluster_store_t *cluster_store_open(const char *dir, char *err, size_t errlen)
{
    if (nmq_mkdir_p(dir, 0700) < 0) {
        snprintf(err, errlen, "cannot create %s: %s", dir, strerror(errno));
        return NULL;
    }
    cluster_store_t *s = calloc(1, sizeof *s);
    snprintf(s->dir, sizeof s->dir, "%s", dir);
    int rc = mdb_env_create(&s->env);
    if (!rc)
        rc = mdb_env_set_maxdbs(s->env, 2);
    if (!rc)
        rc = mdb_env_set_mapsize(s->env, S_MAP_SIZE);
    if (!rc)
        rc = mdb_env_open(s->env, dir, MDB_NOTLS, 0600);
    MDB_txn *txn = NULL;
    if (!rc)
        rc = mdb_txn_begin(s->env, NULL, 0, &txn);
    if (!rc)
        rc = mdb_dbi_open(txn, "members", MDB_CREATE, &s->members);
    if (!rc)
        rc = mdb_dbi_open(txn, "meta", MDB_CREATE, &s->meta);
    if (!rc) {
        uint8_t format = S_FORMAT;
        MDB_val k = { 6, "format" }, v = { 1, &format };
        rc = mdb_put(txn, s->meta, &k, &v, 0);
    }
    if (!rc) {
        rc = mdb_txn_commit(txn);
        txn = NULL;
    }
    if (rc) {
        snprintf(err, errlen, "cannot open the cluster store %s: %s", dir, mdb_strerror(rc));
        if (txn)
            mdb_txn_abort(txn);
        cluster_store_close(&s);
        return NULL;
    }
    return s;
}

int cluster_store_load(cluster_store_t *s, cluster_members_t *m)
{
    MDB_txn *txn;
    MDB_cursor *cur;
    int rc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, &txn);
    if (rc)
        return s_fail(s, rc, "begin");
    rc = mdb_cursor_open(txn, s->members, &cur);
    if (rc) {
        mdb_txn_abort(txn);
        return s_fail(s, rc, "cursor");
    }
    MDB_val k, v;
    while (mdb_cursor_get(cur, &k, &v, MDB_NEXT) == 0) {
        cluster_member_t r = { 0 };
        if (k.mv_size >= sizeof r.name || cluster_store_decode(v.mv_data, v.mv_size, &r) < 0) {
            nmq_warn("cluster store %s: skipping an unreadable record (%zu bytes)", s->dir, v.mv_size);
            continue;
        }
        memcpy(r.name, k.mv_data, k.mv_size);
        r.name[k.mv_size] = '\0';
        cluster_members_apply(m, &r);
    }
    mdb_cursor_close(cur);
    mdb_txn_abort(txn);
    return 0;
}

int cluster_store_save(cluster_store_t *s, const cluster_members_t *m)
{
    MDB_txn *txn;
    int rc = mdb_txn_begin(s->env, NULL, 0, &txn);
    if (rc)
        return s_fail(s, rc, "begin");
    rc = mdb_drop(txn, s->members, 0);
    for (size_t i = 0; i < m->n && !rc; i++) {
        uint8_t buf[S_RECORD_V1 + NMQ_CONF_STR_MAX];
        size_t n = cluster_store_encode(&m->v[i], buf, sizeof buf);
        MDB_val k = { strlen(m->v[i].name), (void *)m->v[i].name }, v = { n, buf };
        rc = mdb_put(txn, s->members, &k, &v, 0);
    }
    if (rc) {
        mdb_txn_abort(txn);
        return s_fail(s, rc, "write");
    }
    rc = mdb_txn_commit(txn);
    return rc ? s_fail(s, rc, "commit") : 0;
}

void cluster_store_close(cluster_store_t **sp)
{
    cluster_store_t *s = *sp;
    if (!s)
        return;
    if (s->env)
        mdb_env_close(s->env);
    free(s);
    *sp = NULL;
}
