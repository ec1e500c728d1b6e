/* Unit tests: the queue worker's LMDB store (workers/queue/queue_store.c):
 * records round trip, entries come back in order, a message fanned out to
 * many clients is stored once and freed after the last reference, one commit
 * per turn, savepoints, map growth and its bound, the consistency check, and
 * crashes: a writer killed (SIGKILL, _exit) between its changes and their
 * commit, or at a random moment, leaves exactly the turns it committed.
 *
 * Every test opens its store in a fresh mkdtemp directory, inside the test:
 * Check forks each test and LMDB must not cross a fork. */
#include <check.h>
#include <ftw.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "queue/queue_store.h"

/* --- helpers --------------------------------------------------------------- */

static int s_rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    return remove(path);
}

static void s_rmrf(const char *dir) { nftw(dir, s_rm_one, 16, FTW_DEPTH | FTW_PHYS); }

static char s_dir[64];

static void s_setup(void)
{
    snprintf(s_dir, sizeof s_dir, "/tmp/nmq_qstore_XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(s_dir));
}

static void s_teardown(void) { s_rmrf(s_dir); }

static queue_store_t *s_open_opts(bool sync, size_t map, size_t max)
{
    char err[256] = "";
    queue_store_opts_t o = { .path = s_dir, .sync = sync, .map_size = map, .map_max = max };
    queue_store_t *st = queue_store_open(&o, err, sizeof err);
    ck_assert_msg(st != NULL, "open: %s", err);
    return st;
}

static queue_store_t *s_open(void) { return s_open_opts(false, 0, 0); }

static queue_store_msg_t s_msg(const char *topic, const char *payload)
{
    return (queue_store_msg_t){ .topic = topic, .topic_len = strlen(topic), .payload = payload,
                                .payload_len = strlen(payload), .qos = 1, .published_at = 1000 };
}

#define S_ENTRY(id) (&(queue_store_entry_t){ .msg_id = (id), .qos = 1 })

static void s_stats(queue_store_t *st, queue_store_stats_t *out)
{
    ck_assert_int_eq(queue_store_check(st, false, out), 0);
    ck_assert_uint_eq(out->problems, 0);
}

/* Collects a session's entries: seq and msg id. */
typedef struct {
    uint64_t seq[4096], msg[4096];
    uint16_t pid[4096];
    int n;
} s_seen_t;

static int s_see(uint64_t seq, const queue_store_entry_t *e, void *arg)
{
    s_seen_t *s = arg;
    if (s->n < 4096) {
        s->seq[s->n] = seq;
        s->msg[s->n] = e->msg_id;
        s->pid[s->n] = e->packet_id;
    }
    s->n++;
    return 0;
}

static int s_count_entries(queue_store_t *st, uint64_t sid)
{
    s_seen_t *seen = calloc(1, sizeof *seen);
    ck_assert_int_eq(queue_store_entries(st, sid, s_see, seen), 0);
    int n = seen->n;
    free(seen);
    return n;
}

/* --- records ------------------------------------------------------------------ */

START_TEST(test_open_creates_and_reopens)
{
    char sub[128];
    snprintf(sub, sizeof sub, "%s/a/b/queue.0", s_dir);
    queue_store_opts_t o = { .path = sub };
    char err[256];
    queue_store_t *st = queue_store_open(&o, err, sizeof err);
    ck_assert_ptr_nonnull(st);
    queue_store_stats_t stats;
    s_stats(st, &stats);
    ck_assert_uint_eq(stats.sessions + stats.messages + stats.entries + stats.pubrels, 0);
    ck_assert_uint_eq(stats.map_size, QUEUE_STORE_MAP_DEFAULT);
    ck_assert_uint_eq(queue_store_last_msg_id(st), 0);
    ck_assert_int_eq(queue_store_commit(st), 0);
    queue_store_close(&st);
    ck_assert_ptr_null(st);
    queue_store_close(&st);                 /* NULL is fine */
    st = queue_store_open(&o, err, sizeof err);
    ck_assert_ptr_nonnull(st);
    queue_store_close(&st);
    o.readonly = true;
    st = queue_store_open(&o, err, sizeof err);
    ck_assert_ptr_nonnull(st);
    ck_assert_int_eq(queue_store_session_put(st, "x", &(queue_store_session_t){ .sid = 1 }), -1);
    queue_store_close(&st);
    snprintf(sub, sizeof sub, "%s/nothing", s_dir);
    st = queue_store_open(&o, err, sizeof err);
    ck_assert_ptr_null(st);
    ck_assert(strstr(err, "nothing") != NULL);
}
END_TEST

typedef struct {
    int n;
    char ids[8][1100];
    queue_store_session_t recs[8];
} s_sessions_t;

static int s_see_session(const char *id, const queue_store_session_t *rec, void *arg)
{
    s_sessions_t *s = arg;
    snprintf(s->ids[s->n], sizeof s->ids[0], "%s", id);
    s->recs[s->n++] = *rec;
    return 0;
}

START_TEST(test_session_records_round_trip)
{
    queue_store_t *st = s_open();
    queue_store_session_t a = { .sid = 7, .persistent = true, .proto = 5, .expiry_interval = 3600,
                                .disconnected_at = 1700000000123, .next_pid = 65535 };
    queue_store_session_t b = { .sid = 8, .persistent = false, .proto = 3,
                                .expiry_interval = QUEUE_STORE_NEVER, .next_pid = 1 };
    /* two ids longer than a key may be, equal for their first 900 bytes */
    static char long1[1001], long2[1001];
    memset(long1, 'x', 1000);
    memset(long2, 'x', 1000);
    long2[999] = 'y';
    ck_assert_int_eq(queue_store_session_put(st, "alpha", &a), 0);
    ck_assert_int_eq(queue_store_session_put(st, "beta", &b), 0);
    ck_assert_int_eq(queue_store_session_put(st, long1, &(queue_store_session_t){ .sid = 9 }), 0);
    ck_assert_int_eq(queue_store_session_put(st, long2, &(queue_store_session_t){ .sid = 10 }), 0);
    ck_assert_int_eq(queue_store_session_put(st, "", &a), -1);
    ck_assert_int_eq(queue_store_commit(st), 0);
    queue_store_close(&st);

    st = s_open();
    queue_store_session_t r;
    ck_assert_int_eq(queue_store_session_get(st, "alpha", &r), 0);
    ck_assert_uint_eq(r.sid, 7);
    ck_assert(r.persistent);
    ck_assert_uint_eq(r.proto, 5);
    ck_assert_uint_eq(r.expiry_interval, 3600);
    ck_assert_int_eq(r.disconnected_at, 1700000000123);
    ck_assert_uint_eq(r.next_pid, 65535);
    ck_assert_int_eq(queue_store_session_get(st, "beta", &r), 0);
    ck_assert(!r.persistent);
    ck_assert_uint_eq(r.expiry_interval, QUEUE_STORE_NEVER);
    ck_assert_int_eq(queue_store_session_get(st, long1, &r), 0);
    ck_assert_uint_eq(r.sid, 9);
    ck_assert_int_eq(queue_store_session_get(st, long2, &r), 0);
    ck_assert_uint_eq(r.sid, 10);
    ck_assert_int_eq(queue_store_session_get(st, "gamma", &r), 1);

    s_sessions_t *seen = calloc(1, sizeof *seen);
    ck_assert_int_eq(queue_store_sessions(st, s_see_session, seen), 0);
    ck_assert_int_eq(seen->n, 4);
    int longs = 0;
    for (int i = 0; i < 4; i++)
        longs += strlen(seen->ids[i]) == 1000;
    ck_assert_int_eq(longs, 2);
    free(seen);

    ck_assert_int_eq(queue_store_session_del(st, "alpha"), 0);
    ck_assert_int_eq(queue_store_session_del(st, "alpha"), 0);   /* gone already: fine */
    ck_assert_int_eq(queue_store_session_get(st, "alpha", &r), 1);
    queue_store_close(&st);
}
END_TEST

START_TEST(test_message_round_trip_and_refs)
{
    queue_store_t *st = s_open();
    static const uint8_t props[] = { 0x02, 0, 0, 0, 60, 0x26, 0, 1, 'k', 0, 1, 'v' };
    queue_store_msg_t m = { .topic = "a/b", .topic_len = 3, .payload = "hello\0bin", .payload_len = 9,
                            .props = props, .props_len = sizeof props, .qos = 2, .retain = true,
                            .published_at = 1700000000000, .expiry_at = 1700000060000 };
    ck_assert_int_eq(queue_store_msg_put(st, 42, &m, 2), 0);
    ck_assert_int_eq(queue_store_msg_put(st, 43, &(queue_store_msg_t){ .topic = "t", .topic_len = 1 }, 1), 0);
    ck_assert_int_eq(queue_store_commit(st), 0);
    queue_store_close(&st);

    st = s_open();
    ck_assert_uint_eq(queue_store_last_msg_id(st), 43);
    queue_store_msg_t r;
    uint32_t refs;
    ck_assert_int_eq(queue_store_msg_get(st, 42, &r, &refs), 0);
    ck_assert_uint_eq(refs, 2);
    ck_assert_uint_eq(r.topic_len, 3);
    ck_assert(!memcmp(r.topic, "a/b", 3));
    ck_assert_uint_eq(r.payload_len, 9);
    ck_assert(!memcmp(r.payload, "hello\0bin", 9));
    ck_assert_uint_eq(r.props_len, sizeof props);
    ck_assert(!memcmp(r.props, props, sizeof props));
    ck_assert_uint_eq(r.qos, 2);
    ck_assert(r.retain);
    ck_assert_int_eq(r.published_at, 1700000000000);
    ck_assert_int_eq(r.expiry_at, 1700000060000);
    ck_assert_int_eq(queue_store_msg_get(st, 43, &r, NULL), 0);
    ck_assert_uint_eq(r.payload_len, 0);
    ck_assert_int_eq(queue_store_msg_get(st, 44, &r, NULL), 1);

    ck_assert_int_eq(queue_store_msg_ref(st, 42, 1), 3);
    ck_assert_int_eq(queue_store_msg_ref(st, 42, -1), 2);
    ck_assert_int_eq(queue_store_msg_ref(st, 42, -1), 1);
    ck_assert_int_eq(queue_store_msg_ref(st, 42, -1), 0);
    ck_assert_int_eq(queue_store_msg_get(st, 42, &r, NULL), 1);
    ck_assert_int_eq(queue_store_msg_ref(st, 42, -1), -1);      /* no such message */
    queue_store_close(&st);
}
END_TEST

START_TEST(test_entries_come_back_in_sequence_order)
{
    queue_store_t *st = s_open();
    ck_assert_int_eq(queue_store_session_put(st, "c1", &(queue_store_session_t){ .sid = 1 }), 0);
    ck_assert_int_eq(queue_store_session_put(st, "c2", &(queue_store_session_t){ .sid = 2 }), 0);
    ck_assert_int_eq(queue_store_msg_put(st, 1, &(queue_store_msg_t){ .topic = "t", .topic_len = 1 }, 600), 0);
    /* written out of order, across two sessions, with seqs crossing byte boundaries */
    uint64_t seqs[300];
    for (int i = 0; i < 300; i++)
        seqs[i] = (uint64_t)i * 257;
    for (int i = 299; i > 0; i--) {
        int j = rand() % (i + 1);
        uint64_t t = seqs[i];
        seqs[i] = seqs[j];
        seqs[j] = t;
    }
    uint32_t ids[3] = { 1, 268435455, 77 };
    for (int i = 0; i < 300; i++) {
        queue_store_entry_t e = { .msg_id = 1, .qos = 2, .retain = true, .packet_id = (uint16_t)(seqs[i] % 65535),
                                  .n_sub_ids = 3, .sub_ids = ids };
        ck_assert_int_eq(queue_store_entry_put(st, 2, seqs[i], &e), 0);
        ck_assert_int_eq(queue_store_entry_put(st, 1, seqs[i], &e), 0);
    }
    ck_assert_int_eq(queue_store_commit(st), 0);
    queue_store_close(&st);

    st = s_open();
    s_seen_t *seen = calloc(1, sizeof *seen);
    ck_assert_int_eq(queue_store_entries(st, 1, s_see, seen), 0);
    ck_assert_int_eq(seen->n, 300);
    for (int i = 0; i < 300; i++) {
        ck_assert_uint_eq(seen->seq[i], (uint64_t)i * 257);
        ck_assert_uint_eq(seen->pid[i], (uint64_t)i * 257 % 65535);
    }
    free(seen);
    ck_assert_int_eq(queue_store_entry_del(st, 1, 0), 0);
    ck_assert_int_eq(queue_store_entry_del(st, 1, 257 * 299), 0);
    ck_assert_int_eq(s_count_entries(st, 1), 298);
    ck_assert_int_eq(s_count_entries(st, 2), 300);
    ck_assert_int_eq(s_count_entries(st, 3), 0);
    ck_assert_int_eq(queue_store_msg_ref(st, 1, -2), 598);
    queue_store_stats_t stats;
    s_stats(st, &stats);
    ck_assert_uint_eq(stats.entries, 598);
    queue_store_close(&st);
}
END_TEST

static int s_check_sub_ids(uint64_t seq, const queue_store_entry_t *e, void *arg)
{
    ck_assert_uint_eq(e->n_sub_ids, 3);
    ck_assert_uint_eq(e->sub_ids[0], 1);
    ck_assert_uint_eq(e->sub_ids[1], 268435455);
    ck_assert_uint_eq(e->sub_ids[2], 77);
    ck_assert(e->retain);
    ck_assert_uint_eq(e->qos, 2);
    ++*(int *)arg;
    return 0;
}

START_TEST(test_entry_fields_round_trip)
{
    queue_store_t *st = s_open();
    uint32_t ids[3] = { 1, 268435455, 77 };
    queue_store_entry_t e = { .msg_id = 5, .qos = 2, .retain = true, .n_sub_ids = 3, .sub_ids = ids };
    ck_assert_int_eq(queue_store_entry_put(st, 9, 1, &e), 0);
    ck_assert_int_eq(queue_store_commit(st), 0);
    int n = 0;
    ck_assert_int_eq(queue_store_entries(st, 9, s_check_sub_ids, &n), 0);
    ck_assert_int_eq(n, 1);
    queue_store_close(&st);
}
END_TEST

typedef struct {
    uint16_t pid[8];
    uint64_t order[8];
    int n;
} s_pubrels_t;

static int s_see_pubrel(uint16_t pid, uint64_t order, void *arg)
{
    s_pubrels_t *p = arg;
    p->pid[p->n] = pid;
    p->order[p->n++] = order;
    return 0;
}

START_TEST(test_pubrels)
{
    queue_store_t *st = s_open();
    ck_assert_int_eq(queue_store_session_put(st, "c", &(queue_store_session_t){ .sid = 3 }), 0);
    ck_assert_int_eq(queue_store_pubrel_put(st, 3, 65535, 10), 0);
    ck_assert_int_eq(queue_store_pubrel_put(st, 3, 1, 11), 0);
    ck_assert_int_eq(queue_store_pubrel_put(st, 3, 300, 9), 0);
    ck_assert_int_eq(queue_store_pubrel_put(st, 4, 2, 1), 0);
    ck_assert_int_eq(queue_store_commit(st), 0);
    s_pubrels_t p = { .n = 0 };
    ck_assert_int_eq(queue_store_pubrels(st, 3, s_see_pubrel, &p), 0);
    ck_assert_int_eq(p.n, 3);
    ck_assert_uint_eq(p.pid[0], 1);
    ck_assert_uint_eq(p.order[0], 11);
    ck_assert_uint_eq(p.pid[1], 300);
    ck_assert_uint_eq(p.pid[2], 65535);
    ck_assert_int_eq(queue_store_pubrel_del(st, 3, 300), 0);
    p.n = 0;
    ck_assert_int_eq(queue_store_pubrels(st, 3, s_see_pubrel, &p), 0);
    ck_assert_int_eq(p.n, 2);
    /* deleting the session takes its PUBREL ids along, not another session's */
    ck_assert_int_eq(queue_store_session_del(st, "c"), 0);
    p.n = 0;
    ck_assert_int_eq(queue_store_pubrels(st, 3, s_see_pubrel, &p), 0);
    ck_assert_int_eq(p.n, 0);
    ck_assert_int_eq(queue_store_pubrels(st, 4, s_see_pubrel, &p), 0);
    ck_assert_int_eq(p.n, 1);
    queue_store_close(&st);
}
END_TEST

/* --- fan-out ------------------------------------------------------------------- */

START_TEST(test_fanout_stored_once_freed_after_last_ack)
{
    enum { N = 1000 };
    queue_store_t *st = s_open();
    char id[32];
    for (int i = 0; i < N; i++) {
        snprintf(id, sizeof id, "client-%d", i);
        ck_assert_int_eq(queue_store_session_put(st, id, &(queue_store_session_t){ .sid = i + 1 }), 0);
    }
    queue_store_msg_t m = s_msg("fan/out", "one body for a thousand clients");
    ck_assert_int_eq(queue_store_msg_put(st, 1, &m, N), 0);
    for (int i = 0; i < N; i++)
        ck_assert_int_eq(queue_store_entry_put(st, i + 1, 0, &(queue_store_entry_t){ .msg_id = 1, .qos = 1 }), 0);
    ck_assert_int_eq(queue_store_commit(st), 0);
    queue_store_stats_t stats;
    s_stats(st, &stats);
    ck_assert_uint_eq(stats.messages, 1);
    ck_assert_uint_eq(stats.entries, N);

    /* acks, one turn each for the first half, one turn for the rest but one */
    for (int i = 0; i < N - 1; i++) {
        ck_assert_int_eq(queue_store_entry_del(st, i + 1, 0), 0);
        ck_assert_int_eq(queue_store_msg_ref(st, 1, -1), N - 1 - i);
        if (i < N / 2)
            ck_assert_int_eq(queue_store_commit(st), 0);
    }
    ck_assert_int_eq(queue_store_commit(st), 0);
    uint32_t refs;
    ck_assert_int_eq(queue_store_msg_get(st, 1, &m, &refs), 0);
    ck_assert_uint_eq(refs, 1);
    s_stats(st, &stats);
    ck_assert_uint_eq(stats.messages, 1);
    ck_assert_int_eq(queue_store_entry_del(st, N, 0), 0);
    ck_assert_int_eq(queue_store_msg_ref(st, 1, -1), 0);
    ck_assert_int_eq(queue_store_commit(st), 0);
    s_stats(st, &stats);
    ck_assert_uint_eq(stats.messages, 0);
    ck_assert_uint_eq(stats.entries, 0);
    queue_store_close(&st);
}
END_TEST

START_TEST(test_session_del_releases_its_messages)
{
    queue_store_t *st = s_open();
    ck_assert_int_eq(queue_store_session_put(st, "a", &(queue_store_session_t){ .sid = 1 }), 0);
    ck_assert_int_eq(queue_store_session_put(st, "b", &(queue_store_session_t){ .sid = 2 }), 0);
    queue_store_msg_t m = s_msg("t", "p");
    ck_assert_int_eq(queue_store_msg_put(st, 1, &m, 2), 0);   /* a and b */
    ck_assert_int_eq(queue_store_msg_put(st, 2, &m, 1), 0);   /* a only */
    ck_assert_int_eq(queue_store_entry_put(st, 1, 0, &(queue_store_entry_t){ .msg_id = 1, .qos = 1 }), 0);
    ck_assert_int_eq(queue_store_entry_put(st, 2, 0, &(queue_store_entry_t){ .msg_id = 1, .qos = 1 }), 0);
    ck_assert_int_eq(queue_store_entry_put(st, 1, 1, &(queue_store_entry_t){ .msg_id = 2, .qos = 1 }), 0);
    ck_assert_int_eq(queue_store_pubrel_put(st, 1, 17, 5), 0);
    ck_assert_int_eq(queue_store_commit(st), 0);
    ck_assert_int_eq(queue_store_session_del(st, "a"), 0);
    ck_assert_int_eq(queue_store_commit(st), 0);
    queue_store_stats_t stats;
    s_stats(st, &stats);
    ck_assert_uint_eq(stats.sessions, 1);
    ck_assert_uint_eq(stats.messages, 1);
    ck_assert_uint_eq(stats.entries, 1);
    ck_assert_uint_eq(stats.pubrels, 0);
    uint32_t refs;
    ck_assert_int_eq(queue_store_msg_get(st, 1, &m, &refs), 0);
    ck_assert_uint_eq(refs, 1);
    queue_store_close(&st);
}
END_TEST

/* --- turns ------------------------------------------------------------------- */

/* Exit status of a child that opens the store read-only and counts entries. */
static int s_count_in_child(uint64_t sid)
{
    pid_t pid = fork();
    if (pid == 0) {
        char err[256];
        queue_store_opts_t o = { .path = s_dir, .readonly = true };
        queue_store_t *st = queue_store_open(&o, err, sizeof err);
        if (!st)
            _exit(255);
        int n = s_count_entries(st, sid);
        queue_store_close(&st);
        _exit(n > 250 ? 250 : n);
    }
    int status;
    waitpid(pid, &status, 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

START_TEST(test_group_commit_is_one_transaction)
{
    queue_store_t *st = s_open_opts(true, 0, 0);
    ck_assert_int_eq(queue_store_session_put(st, "c", &(queue_store_session_t){ .sid = 1 }), 0);
    ck_assert_int_eq(queue_store_commit(st), 0);
    queue_store_stats_t before, after;
    queue_store_stats(st, &before);
    ck_assert_int_eq(queue_store_commit(st), 0);             /* stats joined a turn: nothing to write */
    queue_store_msg_t m = s_msg("t", "payload");
    for (int i = 1; i <= 200; i++) {
        ck_assert_int_eq(queue_store_msg_put(st, i, &m, 1), 0);
        ck_assert_int_eq(queue_store_entry_put(st, 1, i, S_ENTRY(i)), 0);
    }
    ck_assert_uint_eq(queue_store_pending(st), 600);         /* body, count, entry */
    ck_assert_int_eq(s_count_in_child(1), 0);                /* nothing visible before commit */
    ck_assert_int_eq(queue_store_commit(st), 0);
    ck_assert_uint_eq(queue_store_pending(st), 0);
    queue_store_stats(st, &after);
    ck_assert_uint_eq(after.txn_id, before.txn_id + 1);      /* 600 writes, one transaction */
    ck_assert_int_eq(queue_store_commit(st), 0);
    ck_assert_int_eq(s_count_in_child(1), 200);
    queue_store_close(&st);
}
END_TEST

START_TEST(test_uncommitted_changes_are_dropped)
{
    queue_store_t *st = s_open();
    queue_store_msg_t m = s_msg("t", "p");
    ck_assert_int_eq(queue_store_msg_put(st, 1, &m, 1), 0);
    ck_assert_int_eq(queue_store_commit(st), 0);
    ck_assert_int_eq(queue_store_msg_put(st, 2, &m, 1), 0);
    queue_store_abort(st);
    ck_assert_int_eq(queue_store_msg_get(st, 2, &m, NULL), 1);
    ck_assert_int_eq(queue_store_msg_put(st, 3, &m, 1), 0);
    queue_store_close(&st);                                   /* close without commit */
    st = s_open();
    ck_assert_int_eq(queue_store_msg_get(st, 1, &m, NULL), 0);
    ck_assert_int_eq(queue_store_msg_get(st, 3, &m, NULL), 1);
    ck_assert_uint_eq(queue_store_last_msg_id(st), 1);
    queue_store_close(&st);
}
END_TEST

START_TEST(test_savepoint_rollback)
{
    queue_store_t *st = s_open();
    queue_store_msg_t m = s_msg("t", "p");
    ck_assert_int_eq(queue_store_msg_put(st, 1, &m, 1), 0);
    size_t mark = queue_store_mark(st);
    ck_assert_int_eq(queue_store_msg_put(st, 2, &m, 1), 0);
    ck_assert_int_eq(queue_store_msg_ref(st, 1, 5), 6);
    ck_assert_int_eq(queue_store_rollback(st, mark), 0);
    ck_assert_uint_eq(queue_store_pending(st), 2);
    ck_assert_int_eq(queue_store_msg_get(st, 2, &m, NULL), 1);
    uint32_t refs;
    ck_assert_int_eq(queue_store_msg_get(st, 1, &m, &refs), 0);
    ck_assert_uint_eq(refs, 1);
    ck_assert_int_eq(queue_store_msg_put(st, 4, &m, 1), 0);
    ck_assert_int_eq(queue_store_commit(st), 0);
    queue_store_stats_t stats;
    queue_store_stats(st, &stats);
    ck_assert_uint_eq(stats.messages, 2);
    queue_store_close(&st);
}
END_TEST

/* --- map size -------------------------------------------------------------- */

START_TEST(test_map_grows_instead_of_failing)
{
    enum { N = 3000 };
    static char payload[1024];
    memset(payload, 'p', sizeof payload - 1);
    queue_store_t *st = s_open_opts(false, 256 << 10, 64 << 20);
    ck_assert_int_eq(queue_store_session_put(st, "c", &(queue_store_session_t){ .sid = 1 }), 0);
    queue_store_msg_t m = s_msg("grow", payload);
    /* 3 MB in one turn, far past the first 256 KiB: grown mid-turn by replay */
    for (int i = 1; i <= N; i++) {
        ck_assert_int_eq(queue_store_msg_put(st, i, &m, 1), 0);
        ck_assert_int_eq(queue_store_entry_put(st, 1, i, S_ENTRY(i)), 0);
    }
    ck_assert_int_eq(queue_store_commit(st), 0);
    queue_store_stats_t stats;
    s_stats(st, &stats);
    ck_assert_uint_gt(stats.grows, 0);
    ck_assert_uint_gt(stats.map_size, 256 << 10);
    ck_assert_uint_eq(stats.messages, N);
    queue_store_close(&st);
    /* reopened with the small first size: LMDB maps the whole file */
    st = s_open_opts(false, 256 << 10, 64 << 20);
    s_stats(st, &stats);
    ck_assert_uint_eq(stats.messages, N);
    ck_assert_uint_eq(stats.entries, N);
    ck_assert_int_eq(s_count_entries(st, 1), N);
    queue_store_close(&st);
}
END_TEST

/* A store bounded at 1 MiB with one session, filled with 3000-byte messages
 * (a page each) until it refuses one, which is rolled back; with per_turn
 * every message is its own turn, else all are one.  How many went in. */
static char s_big[3000];

static int s_fill_to_bound(queue_store_t **st_p, bool per_turn)
{
    memset(s_big, 'p', sizeof s_big - 1);
    queue_store_t *st = *st_p = s_open_opts(false, 128 << 10, 1 << 20);
    ck_assert_int_eq(queue_store_session_put(st, "c", &(queue_store_session_t){ .sid = 1 }), 0);
    if (per_turn)
        ck_assert_int_eq(queue_store_commit(st), 0);
    queue_store_msg_t m = s_msg("full", s_big);
    int ok = 0;
    for (int i = 1; i <= 1000; i++) {
        size_t mark = queue_store_mark(st);
        if (queue_store_msg_put(st, i, &m, 1) || queue_store_entry_put(st, 1, i, S_ENTRY(i))) {
            ck_assert_int_eq(queue_store_rollback(st, mark), 0);
            break;
        }
        if (per_turn)
            ck_assert_int_eq(queue_store_commit(st), 0);
        ok++;
    }
    ck_assert_int_lt(ok, 1000);
    return ok;
}

START_TEST(test_map_bound_refuses_new_bodies_keeps_room_for_acks)
{
    queue_store_t *st;
    int ok = s_fill_to_bound(&st, true);             /* as a worker under steady load */
    ck_assert_int_gt(ok, 100);
    queue_store_stats_t stats;
    s_stats(st, &stats);
    ck_assert_uint_eq(stats.messages, (uint64_t)ok);
    ck_assert_uint_eq(stats.map_size, 1 << 20);
    ck_assert_uint_le(stats.map_used, 1 << 20);
    /* still full in a new turn */
    queue_store_msg_t m = s_msg("more", s_big);
    ck_assert_int_eq(queue_store_msg_put(st, 5000, &m, 1), -1);
    ck_assert_uint_eq(queue_store_pending(st), 0);
    /* acks go through at the bound, and make room */
    for (int i = 1; i <= ok / 2; i++) {
        ck_assert_int_eq(queue_store_entry_del(st, 1, i), 0);
        ck_assert_int_eq(queue_store_msg_ref(st, i, -1), 0);
    }
    ck_assert_int_eq(queue_store_commit(st), 0);
    ck_assert_int_eq(queue_store_msg_put(st, 5000, &m, 1), 0);
    ck_assert_int_eq(queue_store_entry_put(st, 1, 5000, S_ENTRY(5000)), 0);
    ck_assert_int_eq(queue_store_commit(st), 0);
    queue_store_close(&st);
    st = s_open_opts(false, 128 << 10, 1 << 20);
    ck_assert_int_eq(s_count_entries(st, 1), ok - ok / 2 + 1);
    queue_store_close(&st);
}
END_TEST

START_TEST(test_one_big_turn_stops_at_the_bound)
{
    queue_store_t *st;
    int ok = s_fill_to_bound(&st, false);
    ck_assert_int_gt(ok, 50);
    ck_assert_int_eq(queue_store_commit(st), 0);     /* what fit commits */
    ck_assert_int_eq(s_count_entries(st, 1), ok);
    queue_store_close(&st);
}
END_TEST

/* --- check ------------------------------------------------------------------ */

START_TEST(test_check_finds_and_repairs)
{
    queue_store_t *st = s_open();
    queue_store_msg_t m = s_msg("t", "p");
    ck_assert_int_eq(queue_store_session_put(st, "c", &(queue_store_session_t){ .sid = 1 }), 0);
    ck_assert_int_eq(queue_store_msg_put(st, 1, &m, 5), 0);      /* count 5, two entries */
    ck_assert_int_eq(queue_store_entry_put(st, 1, 0, S_ENTRY(1)), 0);
    ck_assert_int_eq(queue_store_entry_put(st, 1, 1, S_ENTRY(1)), 0);
    ck_assert_int_eq(queue_store_entry_put(st, 99, 0, S_ENTRY(1)), 0);   /* no session 99 */
    ck_assert_int_eq(queue_store_entry_put(st, 1, 2, S_ENTRY(7)), 0);    /* no message 7 */
    ck_assert_int_eq(queue_store_msg_put(st, 2, &m, 1), 0);      /* nobody's */
    ck_assert_int_eq(queue_store_pubrel_put(st, 98, 3, 0), 0);   /* no session 98 */
    ck_assert_int_eq(queue_store_commit(st), 0);
    queue_store_stats_t stats;
    ck_assert_int_eq(queue_store_check(st, false, &stats), 0);
    ck_assert_uint_eq(stats.problems, 5);
    ck_assert_int_eq(queue_store_check(st, true, &stats), 0);
    ck_assert_uint_eq(stats.problems, 5);
    ck_assert_int_eq(queue_store_commit(st), 0);
    s_stats(st, &stats);
    ck_assert_uint_eq(stats.messages, 1);
    ck_assert_uint_eq(stats.entries, 2);
    ck_assert_uint_eq(stats.pubrels, 0);
    uint32_t refs;
    ck_assert_int_eq(queue_store_msg_get(st, 1, &m, &refs), 0);
    ck_assert_uint_eq(refs, 2);
    queue_store_close(&st);
}
END_TEST

/* --- crashes -------------------------------------------------------------------
 * The writer: F sessions; turn t appends K messages (ids t*K+1 ...) fanned out
 * to all F, then commits.  What a reopened store must hold after the writer
 * died having committed T turns: F sessions with T*K entries each, seqs and
 * message ids in order, T*K bodies with F references each. */

enum { F = 5, K = 20 };

static void s_write_turn(queue_store_t *st, int t)
{
    char payload[32];
    for (int k = 0; k < K; k++) {
        uint64_t id = (uint64_t)t * K + k + 1;
        snprintf(payload, sizeof payload, "m%llu", (unsigned long long)id);
        queue_store_msg_t m = s_msg("crash", payload);
        if (queue_store_msg_put(st, id, &m, F))
            _exit(3);
        for (int f = 1; f <= F; f++)
            if (queue_store_entry_put(st, f, id - 1, &(queue_store_entry_t){ .msg_id = id, .qos = 1 }))
                _exit(3);
    }
}

static queue_store_t *s_writer_open(bool sync)
{
    char err[256];
    queue_store_opts_t o = { .path = s_dir, .sync = sync, .map_size = 1 << 20 };
    queue_store_t *st = queue_store_open(&o, err, sizeof err);
    if (!st)
        _exit(2);
    char id[16];
    for (int f = 1; f <= F; f++) {
        snprintf(id, sizeof id, "c%d", f);
        if (queue_store_session_put(st, id, &(queue_store_session_t){ .sid = f, .persistent = true }))
            _exit(2);
    }
    if (queue_store_commit(st))
        _exit(2);
    return st;
}

/* The number of whole turns found; fails the test on anything else. */
static int s_verify_turns(void)
{
    queue_store_t *st = s_open();
    queue_store_stats_t stats;
    s_stats(st, &stats);
    ck_assert_uint_eq(stats.sessions, F);
    ck_assert_uint_eq(stats.messages % K, 0);
    int turns = (int)(stats.messages / K);
    ck_assert_uint_eq(stats.entries, (uint64_t)turns * K * F);
    s_seen_t *seen = calloc(1, sizeof *seen);
    for (int f = 1; f <= F; f++) {
        seen->n = 0;
        ck_assert_int_eq(queue_store_entries(st, f, s_see, seen), 0);
        ck_assert_int_eq(seen->n, turns * K);
        for (int i = 0; i < seen->n && i < 4096; i++) {
            ck_assert_uint_eq(seen->seq[i], i);
            ck_assert_uint_eq(seen->msg[i], i + 1);
        }
    }
    free(seen);
    for (int i = 1; i <= turns * K; i++) {
        queue_store_msg_t m;
        uint32_t refs;
        char want[32];
        ck_assert_int_eq(queue_store_msg_get(st, i, &m, &refs), 0);
        ck_assert_uint_eq(refs, F);
        snprintf(want, sizeof want, "m%d", i);
        ck_assert_uint_eq(m.payload_len, strlen(want));
        ck_assert(!memcmp(m.payload, want, m.payload_len));
    }
    queue_store_close(&st);
    return turns;
}

typedef enum { S_DIE_SIGKILL, S_DIE_EXIT } s_death_t;

/* A child commits `turns` turns, writes one more, and dies before committing it. */
static void s_crash_between_mutate_and_commit(bool sync, s_death_t how, int turns)
{
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        queue_store_t *st = s_writer_open(sync);
        for (int t = 0; t < turns; t++) {
            s_write_turn(st, t);
            if (queue_store_commit(st))
                _exit(4);
        }
        s_write_turn(st, turns);
        if (how == S_DIE_SIGKILL)
            raise(SIGKILL);
        _exit(0);
    }
    int status;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    if (how == S_DIE_SIGKILL)
        ck_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
    else
        ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    ck_assert_int_eq(s_verify_turns(), turns);
}

START_TEST(test_crash_sigkill_before_commit)
{
    s_crash_between_mutate_and_commit(_i, S_DIE_SIGKILL, 7);
}
END_TEST

START_TEST(test_crash_exit_before_commit)
{
    s_crash_between_mutate_and_commit(_i, S_DIE_EXIT, 4);
}
END_TEST

START_TEST(test_crash_before_any_commit)
{
    s_crash_between_mutate_and_commit(_i, S_DIE_SIGKILL, 0);
}
END_TEST

/* Sync off is MDB_NOSYNC: nothing is fsynced, yet a committed turn is in the
 * page cache of the shared file mapping and outlives the process. */
START_TEST(test_sync_off_survives_sigkill)
{
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        queue_store_t *st = s_writer_open(false);
        for (int t = 0; t < 50; t++) {
            s_write_turn(st, t);
            if (queue_store_commit(st))
                _exit(4);
        }
        raise(SIGKILL);                      /* no close, no sync, no atexit */
    }
    int status;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
    ck_assert_int_eq(s_verify_turns(), 50);
}
END_TEST

/* Killed at a random moment, mid-write or mid-commit: the store holds every
 * turn the writer reported committed, maybe a few more, and never part of one. */
START_TEST(test_crash_at_random_moments)
{
    srand((unsigned)time(NULL) ^ (unsigned)getpid());
    int committed_before = 0;
    for (int round = 0; round < 6; round++) {
        bool sync = round & 1;
        int fds[2];
        ck_assert_int_eq(pipe(fds), 0);
        pid_t pid = fork();
        ck_assert_int_ge(pid, 0);
        if (pid == 0) {
            close(fds[0]);
            queue_store_t *st = s_writer_open(sync);
            /* continue after the turns an earlier round left */
            queue_store_stats_t stats;
            queue_store_stats(st, &stats);
            int t0 = (int)(stats.messages / K);
            for (int t = t0; ; t++) {
                s_write_turn(st, t);
                if (queue_store_commit(st))
                    _exit(4);
                int done = t + 1;
                if (write(fds[1], &done, sizeof done) != sizeof done)
                    _exit(5);
            }
        }
        close(fds[1]);
        int want = 2 + rand() % 10, got = 0, done;
        while (got < committed_before + want && read(fds[0], &done, sizeof done) == sizeof done)
            got = done;
        usleep(rand() % 3000);               /* land somewhere inside a later turn */
        kill(pid, SIGKILL);
        while (read(fds[0], &done, sizeof done) == sizeof done)
            got = done;                      /* reported before it died */
        close(fds[0]);
        int status;
        ck_assert_int_eq(waitpid(pid, &status, 0), pid);
        ck_assert(WIFSIGNALED(status));
        int turns = s_verify_turns();
        ck_assert_int_ge(turns, got);
        ck_assert_int_le(turns, got + 1);    /* the turn it was committing, at most */
        committed_before = turns;
        if (turns * K > 4000)
            break;                           /* s_seen_t holds 4096 */
    }
}
END_TEST

int main(void)
{
    Suite *s = suite_create("queue_store");
    TCase *tc = tcase_create("records");
    tcase_add_checked_fixture(tc, s_setup, s_teardown);
    tcase_add_test(tc, test_open_creates_and_reopens);
    tcase_add_test(tc, test_session_records_round_trip);
    tcase_add_test(tc, test_message_round_trip_and_refs);
    tcase_add_test(tc, test_entries_come_back_in_sequence_order);
    tcase_add_test(tc, test_entry_fields_round_trip);
    tcase_add_test(tc, test_pubrels);
    tcase_add_test(tc, test_fanout_stored_once_freed_after_last_ack);
    tcase_add_test(tc, test_session_del_releases_its_messages);
    tcase_add_test(tc, test_check_finds_and_repairs);
    suite_add_tcase(s, tc);

    TCase *tt = tcase_create("turns");
    tcase_add_checked_fixture(tt, s_setup, s_teardown);
    tcase_set_timeout(tt, 60);
    tcase_add_test(tt, test_group_commit_is_one_transaction);
    tcase_add_test(tt, test_uncommitted_changes_are_dropped);
    tcase_add_test(tt, test_savepoint_rollback);
    tcase_add_test(tt, test_map_grows_instead_of_failing);
    tcase_add_test(tt, test_map_bound_refuses_new_bodies_keeps_room_for_acks);
    tcase_add_test(tt, test_one_big_turn_stops_at_the_bound);
    suite_add_tcase(s, tt);

    TCase *tk = tcase_create("crash");
    tcase_add_checked_fixture(tk, s_setup, s_teardown);
    tcase_set_timeout(tk, 120);
    /* loop index: sync off (0), on (1) */
    tcase_add_loop_test(tk, test_crash_sigkill_before_commit, 0, 2);
    tcase_add_loop_test(tk, test_crash_exit_before_commit, 0, 2);
    tcase_add_loop_test(tk, test_crash_before_any_commit, 0, 2);
    tcase_add_test(tk, test_sync_off_survives_sigkill);
    tcase_add_test(tk, test_crash_at_random_moments);
    suite_add_tcase(s, tk);

    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
