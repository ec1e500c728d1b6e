/* cluster_members — who is in the cluster, as a set of records that merge.
 *
 * Every node keeps one record per node it has heard of: name, cluster
 * address, a version and a `left` flag.  The rule that makes all views
 * converge, whatever order records travel in: for one name, the record with
 * the higher version wins; at equal versions a tombstone (left) wins, then
 * the greater address, so two nodes never keep different records forever.
 * A change is a new record with a higher version: a join admits a node above
 * every version known of it, a leave turns its record into a tombstone one
 * version up.  Tombstones stay, so a removed node that comes back learns that
 * it was removed instead of pulling its old view back in.  Merging is
 * idempotent and commutative, so nodes simply send their whole list on every
 * link and after every change (the lists are a few records).
 *
 * Pure: no I/O; check_cluster_members.c tests the rule.
 */
#include "cluster.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void cluster_members_fini(cluster_members_t *m)
{
    free(m->v);
    memset(m, 0, sizeof *m);
}

cluster_member_t *cluster_members_find(const cluster_members_t *m, const char *name)
{
    for (size_t i = 0; i < m->n; i++)
        if (!strcmp(m->v[i].name, name))
            return &m->v[i];
    return NULL;
}

bool cluster_member_active(const cluster_member_t *r) { return r && !r->left; }

bool cluster_member_supersedes(const cluster_member_t *a, const cluster_member_t *b)
{
    if (a->version != b->version)
        return a->version > b->version;
    if (a->left != b->left)
        return a->left;
    return strcmp(a->addr, b->addr) > 0;
}

static cluster_member_t *s_append(cluster_members_t *m, const char *name)
{
    if (m->n == m->cap) {
        m->cap = m->cap ? m->cap * 2 : 8;
        m->v = realloc(m->v, m->cap * sizeof *m->v);
    }
    cluster_member_t *r = &m->v[m->n++];
    memset(r, 0, sizeof *r);
    snprintf(r->name, sizeof r->name, "%s", name);
    return r;
}

bool cluster_members_apply(cluster_members_t *m, const cluster_member_t *r)
{
    cluster_member_t *cur = cluster_members_find(m, r->name);
    if (cur && !cluster_member_supersedes(r, cur))
        return false;
    if (!cur)
        cur = s_append(m, r->name);
    *cur = *r;
    return true;
}

size_t cluster_members_merge(cluster_members_t *dst, const cluster_members_t *src)
{
    size_t changed = 0;
    for (size_t i = 0; i < src->n; i++)
        changed += cluster_members_apply(dst, &src->v[i]);
    return changed;
}

cluster_member_t *cluster_members_admit(cluster_members_t *m, const char *name, const char *addr, uint64_t at_least)
{
    cluster_member_t *r = cluster_members_find(m, name);
    uint64_t version = r && r->version > at_least ? r->version : at_least;
    if (!r)
        r = s_append(m, name);
    r->version = version + 1;
    r->left = false;
    snprintf(r->addr, sizeof r->addr, "%s", addr);
    return r;
}

cluster_member_t *cluster_members_remove(cluster_members_t *m, const char *name)
{
    cluster_member_t *r = cluster_members_find(m, name);
    if (!cluster_member_active(r))
        return NULL;
    r->version++;
    r->left = true;
    return r;
}

bool cluster_members_has_history(const cluster_members_t *m, const char *self)
{
    for (size_t i = 0; i < m->n; i++)
        if (strcmp(m->v[i].name, self))
            return true;
    return false;
}

void cluster_members_others(const cluster_members_t *m, const char *self, char *buf, size_t len)
{
    size_t off = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < m->n && off < len; i++) {
        if (!strcmp(m->v[i].name, self) || m->v[i].left)
            continue;
        int n = snprintf(buf + off, len - off, "%s%s", off ? ", " : "", m->v[i].name);
        off += n > 0 ? (size_t)n : 0;
    }
}

static int s_by_name(const void *a, const void *b)
{
    return strcmp(((const cluster_member_t *)a)->name, ((const cluster_member_t *)b)->name);
}

void cluster_members_sort(cluster_members_t *m)
{
    if (m->n > 1)
        qsort(m->v, m->n, sizeof *m->v, s_by_name);
}

/* --- the wire ------------------------------------------------------------------------ */

/* Records from another node are garbage from outside until checked. */
static bool s_record_ok(const Nmq__ClusterMember *r)
{
    char name[PORTMAP_NAME_MAX + 1], host[NMQ_CONF_STR_MAX];
    return r->name && r->has_version && r->version > 0 && strlen(r->name) < NMQ_CONF_STR_MAX &&
           portmap_split_nodename(r->name, name, sizeof name, host, sizeof host) == 0 &&
           (!r->addr || strlen(r->addr) < NMQ_CONF_STR_MAX);
}

void cluster_members_from_msg(cluster_members_t *m, Nmq__ClusterMember *const *v, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (!s_record_ok(v[i]))
            continue;
        cluster_member_t r = { .version = v[i]->version, .left = v[i]->has_left && v[i]->left };
        snprintf(r.name, sizeof r.name, "%s", v[i]->name);
        snprintf(r.addr, sizeof r.addr, "%s", v[i]->addr ? v[i]->addr : "");
        cluster_members_apply(m, &r);
    }
}

Nmq__ClusterMember **cluster_members_to_msg(const cluster_members_t *m, size_t *n)
{
    Nmq__ClusterMember **v = calloc(m->n + 1, sizeof *v);
    for (size_t i = 0; i < m->n; i++) {
        v[i] = malloc(sizeof *v[i]);
        nmq__cluster_member__init(v[i]);
        v[i]->name = m->v[i].name;
        v[i]->addr = m->v[i].addr;
        v[i]->has_version = v[i]->has_left = true;
        v[i]->version = m->v[i].version;
        v[i]->left = m->v[i].left;
    }
    *n = m->n;
    return v;
}

void cluster_members_msg_free(Nmq__ClusterMember **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}
