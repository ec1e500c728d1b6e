/* Unit tests: a queue worker's queues and delivery rules
 * (workers/queue/queue_session.c) over a real store: order, fifo and lifo,
 * limits and what they drop, the in-flight window and Receive Maximum,
 * packet ids (wrap-around, ids in use skipped), the QoS 2 exchange, reconnect
 * and worker restart (same ids, DUP, PUBRELs, then the rest), message and
 * session expiry, clean sessions in memory only, fan-out stored once, a
 * store at its bound, a worker killed between its changes and commit, and a
 * session moved to another node (export, then import into a second shard).
 *
 * Tests marked "both" run twice: memory only (loop 0) and durable (loop 1).
 * Stores live in a fresh mkdtemp directory opened inside the test: Check
 * forks each test and LMDB must not cross a fork. */
#include <check.h>
#include <ftw.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "queue/queue_session.h"

#define T0 1700000000000LL

static char s_dir[64];
static queue_store_t *s_store;
static queue_store_t *s_store_b;          /* a second node's worker */
static bool s_durable;

static int s_rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    return remove(path);
}

static void s_setup(void)
{
    snprintf(s_dir, sizeof s_dir, "/tmp/nmq_qlogic_XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(s_dir));
    s_store = s_store_b = NULL;
    s_durable = false;
}

static void s_teardown(void)
{
    queue_store_close(&s_store);
    queue_store_close(&s_store_b);
    nftw(s_dir, s_rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static queue_limits_t s_limits(void)
{
    return (queue_limits_t){ .max_inflight = 20, .receive_max_broker = 65535, .max_online = 1000,
                             .max_offline = 1000 };
}

static queue_store_t *s_store_open(size_t map, size_t max)
{
    char err[256] = "";
    queue_store_opts_t o = { .path = s_dir, .map_size = map, .map_max = max };
    queue_store_t *st = queue_store_open(&o, err, sizeof err);
    ck_assert_msg(st != NULL, "store: %s", err);
    return st;
}

/* A shard, over a store when the test runs durable. */
static queue_shard_t *s_shard(const queue_limits_t *lim)
{
    char err[256] = "";
    if (s_durable && !s_store)
        s_store = s_store_open(0, 0);
    queue_shard_t *sh = queue_shard_new(lim, s_durable ? s_store : NULL, T0, err, sizeof err);
    ck_assert_msg(sh != NULL, "shard: %s", err);
    if (s_store)
        ck_assert_int_eq(queue_store_commit(s_store), 0);
    return sh;
}

static void s_commit(void)
{
    if (s_store)
        ck_assert_int_eq(queue_store_commit(s_store), 0);
}

/* The worker dies (nothing uncommitted survives) and starts again. */
static queue_shard_t *s_restart(queue_shard_t **sh, const queue_limits_t *lim, int64_t now)
{
    queue_shard_destroy(sh);
    queue_store_close(&s_store);
    s_store = s_store_open(0, 0);
    char err[256] = "";
    queue_shard_t *n = queue_shard_new(lim, s_store, now, err, sizeof err);
    ck_assert_msg(n != NULL, "shard: %s", err);
    s_commit();
    return n;
}

static queue_session_t *s_conn5(queue_shard_t *sh, const char *id, bool persistent, bool clean,
                                uint32_t expiry, uint16_t recv_max, bool *present)
{
    bool p;
    queue_connect_t c = { .proto = 5, .clean_start = clean, .persistent = persistent,
                          .expiry_interval = expiry, .receive_max = recv_max };
    queue_session_t *s = queue_shard_connect(sh, id, &c, T0, present ? present : &p);
    ck_assert_ptr_nonnull(s);
    return s;
}

static queue_session_t *s_conn(queue_shard_t *sh, const char *id, bool persistent)
{
    bool p;
    queue_connect_t c = { .proto = 4, .persistent = persistent, .expiry_interval = QUEUE_STORE_NEVER };
    queue_session_t *s = queue_shard_connect(sh, id, &c, T0, &p);
    ck_assert_ptr_nonnull(s);
    return s;
}

/* A shard and its client "c", 3.1.1, online. */
static queue_shard_t *s_shard_with_c(const queue_limits_t *lim, bool persistent, queue_session_t **s)
{
    queue_shard_t *sh = s_shard(lim);
    *s = s_conn(sh, "c", persistent);
    return sh;
}

static queue_store_msg_t s_msg(const char *payload, uint8_t qos, int64_t expiry_at)
{
    return (queue_store_msg_t){ .topic = "t/x", .topic_len = 3, .payload = payload,
                                .payload_len = strlen(payload), .qos = qos, .published_at = T0,
                                .expiry_at = expiry_at };
}

/* Publish to one client; its result. */
static int s_pub_x(queue_shard_t *sh, const char *client, const char *payload, uint8_t qos,
                   uint8_t granted, int64_t expiry_at)
{
    queue_store_msg_t m = s_msg(payload, qos, expiry_at);
    queue_target_t t = { .client_id = client, .qos = granted };
    ck_assert_int_ge(queue_shard_append(sh, &m, &t, 1, T0), 0);
    return t.result;
}

static int s_pub(queue_shard_t *sh, const char *client, const char *payload, uint8_t qos)
{
    return s_pub_x(sh, client, payload, qos, 2, 0);
}

typedef struct {
    queue_out_kind_t kind;
    uint16_t pid;
    uint8_t qos;
    bool dup;
    char payload[32];
    int64_t left;
} s_out_t;

/* Everything the session would send now (at most max). */
static int s_drain_at(queue_shard_t *sh, queue_session_t *s, int64_t now, s_out_t *outs, int max)
{
    int n = 0;
    queue_out_t o;
    while (n < max) {
        int rc = queue_session_next(sh, s, now, &o);
        ck_assert_int_ge(rc, 0);
        if (!rc)
            break;
        s_out_t *r = &outs[n++];
        *r = (s_out_t){ .kind = o.kind, .pid = o.packet_id, .qos = o.qos, .dup = o.dup, .left = o.expiry_left };
        if (o.kind == QUEUE_OUT_PUBLISH)
            snprintf(r->payload, sizeof r->payload, "%.*s", (int)o.msg->payload_len,
                     (const char *)o.msg->payload);
    }
    return n;
}

static int s_drain(queue_shard_t *sh, queue_session_t *s, s_out_t *outs, int max)
{
    return s_drain_at(sh, s, T0, outs, max);
}

static void s_assert_out(const s_out_t *o, const char *payload, uint16_t pid, bool dup)
{
    ck_assert_int_eq(o->kind, QUEUE_OUT_PUBLISH);
    ck_assert_str_eq(o->payload, payload);
    ck_assert_uint_eq(o->pid, pid);
    ck_assert_int_eq(o->dup, dup);
}

static void s_assert_pubrel(const s_out_t *o, uint16_t pid)
{
    ck_assert_int_eq(o->kind, QUEUE_OUT_PUBREL);
    ck_assert_uint_eq(o->pid, pid);
}

static queue_session_info_t s_info(const queue_session_t *s)
{
    queue_session_info_t i;
    queue_session_info(s, &i);
    return i;
}

static queue_store_stats_t s_store_stats(void)
{
    queue_store_stats_t st;
    ck_assert_int_eq(queue_store_check(s_store, false, &st), 0);
    ck_assert_uint_eq(st.problems, 0);
    return st;
}

/* --- order, acks, limits ------------------------------------------------------ */

START_TEST(test_fifo_order_and_acks)            /* both */
{
    s_durable = _i;
    queue_limits_t lim = s_limits();
    queue_session_t *s;
    queue_shard_t *sh = s_shard_with_c(&lim, true, &s);
    char p[32];
    for (int i = 0; i < 5; i++) {
        snprintf(p, sizeof p, "m%d", i);
        ck_assert_int_eq(s_pub(sh, "c", p, 1), QUEUE_APPENDED);
    }
    ck_assert_int_eq(s_pub(sh, "nobody", "x", 1), QUEUE_NO_SESSION);
    s_out_t o[8];
    ck_assert_int_eq(s_drain(sh, s, o, 8), 5);
    for (int i = 0; i < 5; i++) {
        snprintf(p, sizeof p, "m%d", i);
        s_assert_out(&o[i], p, i + 1, false);
        ck_assert_uint_eq(o[i].qos, 1);
        ck_assert_int_eq(o[i].left, -1);
    }
    ck_assert_int_eq(queue_session_puback(sh, s, 3), QUEUE_ACK_OK);
    ck_assert_int_eq(queue_session_puback(sh, s, 3), QUEUE_ACK_UNKNOWN);
    ck_assert_int_eq(queue_session_puback(sh, s, 99), QUEUE_ACK_UNKNOWN);
    ck_assert_int_eq(queue_session_pubcomp(sh, s, 1), QUEUE_ACK_UNKNOWN);
    ck_assert_uint_eq(s_info(s).inflight, 4);
    const queue_counters_t *c = queue_shard_counters(sh);
    ck_assert_uint_eq(c->message_in, 5);
    ck_assert_uint_eq(c->message_out, 5);
    ck_assert_uint_eq(c->message_drop, 0);
    s_commit();
    if (s_durable) {
        queue_store_stats_t st = s_store_stats();
        ck_assert_uint_eq(st.entries, 4);
        ck_assert_uint_eq(st.messages, 4);
        ck_assert_uint_eq(st.sessions, 1);
    }
    for (int pid = 1; pid <= 5; pid++)
        queue_session_puback(sh, s, pid);
    ck_assert_uint_eq(queue_shard_messages(sh), 0);
    s_commit();
    if (s_durable)
        ck_assert_uint_eq(s_store_stats().messages, 0);
    queue_shard_destroy(&sh);
    ck_assert_ptr_null(sh);
}
END_TEST

START_TEST(test_lifo_delivers_newest_first_and_drops_oldest)
{
    queue_limits_t lim = s_limits();
    lim.lifo = true;
    lim.max_online = 3;
    queue_session_t *s;
    queue_shard_t *sh = s_shard_with_c(&lim, true, &s);
    const char *ps[] = { "m0", "m1", "m2", "m3", "m4" };
    for (int i = 0; i < 5; i++)
        ck_assert_int_eq(s_pub(sh, "c", ps[i], 1), QUEUE_APPENDED);   /* room made, not refused */
    ck_assert_uint_eq(queue_shard_counters(sh)->message_drop, 2);     /* m0, m1 */
    s_out_t o[8];
    ck_assert_int_eq(s_drain(sh, s, o, 8), 3);
    s_assert_out(&o[0], "m4", 1, false);
    s_assert_out(&o[1], "m3", 2, false);
    s_assert_out(&o[2], "m2", 3, false);
    queue_shard_destroy(&sh);
}
END_TEST

START_TEST(test_online_limit_counts_what_waits_behind_the_window)
{
    queue_limits_t lim = s_limits();
    lim.max_inflight = 2;
    lim.max_online = 3;
    queue_session_t *s;
    queue_shard_t *sh = s_shard_with_c(&lim, false, &s);
    char p[32];
    int appended = 0;
    for (int i = 0; i < 10; i++) {
        snprintf(p, sizeof p, "m%d", i);
        appended += s_pub(sh, "c", p, 1) == QUEUE_APPENDED;
    }
    ck_assert_int_eq(appended, 3);                     /* fifo: the newest are refused */
    ck_assert_uint_eq(queue_shard_counters(sh)->message_drop, 7);
    s_out_t o[8];
    ck_assert_int_eq(s_drain(sh, s, o, 8), 2);         /* m0, m1 in flight: not counted */
    ck_assert_int_eq(s_pub(sh, "c", "x", 1), QUEUE_APPENDED);
    ck_assert_int_eq(s_pub(sh, "c", "y", 0), QUEUE_APPENDED);   /* any QoS counts */
    ck_assert_int_eq(s_pub(sh, "c", "z", 1), QUEUE_DROPPED);
    ck_assert_uint_eq(queue_shard_counters(sh)->message_drop, 8);
    ck_assert_int_eq(queue_session_puback(sh, s, 1), QUEUE_ACK_OK);
    ck_assert_int_eq(s_drain(sh, s, o, 8), 1);
    s_assert_out(&o[0], "m2", 3, false);
    /* 0 blocks: nothing is queued for an online client */
    lim.max_online = 0;
    queue_shard_set_limits(sh, &lim);
    ck_assert_int_eq(s_pub(sh, "c", "w", 1), QUEUE_DROPPED);
    queue_shard_destroy(&sh);
}
END_TEST

START_TEST(test_offline_limit_counts_qos12_only)    /* both */
{
    s_durable = _i;
    queue_limits_t lim = s_limits();
    lim.max_offline = 3;
    queue_session_t *s;
    queue_shard_t *sh = s_shard_with_c(&lim, true, &s);
    ck_assert_int_eq(queue_shard_disconnect(sh, s, T0, -1), 0);
    ck_assert_int_eq(s_pub(sh, "c", "zero", 0), QUEUE_UNHANDLED);
    ck_assert_int_eq(s_pub_x(sh, "c", "granted0", 2, 0, 0), QUEUE_UNHANDLED);
    int appended = 0;
    for (int i = 0; i < 5; i++)
        appended += s_pub(sh, "c", "q1", 1) == QUEUE_APPENDED;
    ck_assert_int_eq(appended, 3);
    const queue_counters_t *c = queue_shard_counters(sh);
    ck_assert_uint_eq(c->message_unhandled, 2);
    ck_assert_uint_eq(c->message_drop, 2);
    ck_assert_uint_eq(c->message_in, 3);
    /* messages in flight when the client left count too */
    s = s_conn(sh, "d", true);
    ck_assert_int_eq(s_pub(sh, "d", "a", 1), QUEUE_APPENDED);
    ck_assert_int_eq(s_pub(sh, "d", "b", 1), QUEUE_APPENDED);
    s_out_t o[4];
    ck_assert_int_eq(s_drain(sh, s, o, 4), 2);
    ck_assert_int_eq(queue_shard_disconnect(sh, s, T0, -1), 0);
    ck_assert_int_eq(s_pub(sh, "d", "c", 1), QUEUE_APPENDED);
    ck_assert_int_eq(s_pub(sh, "d", "e", 1), QUEUE_DROPPED);
    /* lifo offline drops the oldest not yet sent, never one in flight */
    lim.lifo = true;
    queue_shard_set_limits(sh, &lim);
    ck_assert_int_eq(s_pub(sh, "d", "f", 1), QUEUE_APPENDED);     /* c goes */
    s = s_conn(sh, "d", true);
    ck_assert_int_eq(s_drain(sh, s, o, 4), 3);
    s_assert_out(&o[0], "a", 1, true);
    s_assert_out(&o[1], "b", 2, true);
    s_assert_out(&o[2], "f", 3, false);
    /* 0 keeps none, -1 keeps all */
    lim.lifo = false;
    lim.max_offline = 0;
    queue_shard_set_limits(sh, &lim);
    ck_assert_int_eq(s_pub(sh, "c", "none", 2), QUEUE_DROPPED);
    lim.max_offline = -1;
    queue_shard_set_limits(sh, &lim);
    for (int i = 0; i < 50; i++)
        ck_assert_int_eq(s_pub(sh, "c", "all", 1), QUEUE_APPENDED);
    ck_assert_uint_eq(s_info(queue_shard_find(sh, "c")).queued, 53);
    s_commit();
    if (s_durable)
        ck_assert_uint_eq(s_store_stats().entries, 53 + 3);
    queue_shard_destroy(&sh);
}
END_TEST

START_TEST(test_qos0_not_kept_offline)             /* both */
{
    s_durable = _i;
    queue_limits_t lim = s_limits();
    lim.max_inflight = 1;
    queue_session_t *s;
    queue_shard_t *sh = s_shard_with_c(&lim, true, &s);
    s_pub(sh, "c", "A", 1);
    s_pub(sh, "c", "B", 1);
    s_pub(sh, "c", "C", 0);
    s_out_t o[4];
    ck_assert_int_eq(s_drain(sh, s, o, 4), 1);         /* C waits behind B */
    ck_assert_int_eq(queue_shard_disconnect(sh, s, T0, -1), 0);
    ck_assert_uint_eq(queue_shard_counters(sh)->message_drop, 1);
    ck_assert_uint_eq(s_info(s).queued, 1);
    s = s_conn(sh, "c", true);
    ck_assert_int_eq(s_drain(sh, s, o, 4), 1);
    s_assert_out(&o[0], "A", 1, true);
    ck_assert_int_eq(queue_session_puback(sh, s, 1), QUEUE_ACK_OK);
    ck_assert_int_eq(s_drain(sh, s, o, 4), 1);
    s_assert_out(&o[0], "B", 2, false);
    ck_assert_int_eq(s_drain(sh, s, o, 4), 0);
    queue_shard_destroy(&sh);
}
END_TEST

START_TEST(test_delivered_qos)
{
    queue_limits_t lim = s_limits();
    queue_session_t *s;
    queue_shard_t *sh = s_shard_with_c(&lim, true, &s);
    static const struct { uint8_t pub, granted, upgraded, plain; } rows[] = {
        { 0, 2, 2, 0 }, { 2, 1, 1, 1 }, { 1, 0, 0, 0 }, { 2, 2, 2, 2 }, { 1, 2, 2, 1 },
    };
    s_out_t o[2];
    for (int up = 0; up < 2; up++) {
        lim.upgrade_qos = up;
        queue_shard_set_limits(sh, &lim);
        for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
            s_pub_x(sh, "c", "q", rows[i].pub, rows[i].granted, 0);
            ck_assert_int_eq(s_drain(sh, s, o, 2), 1);
            ck_assert_uint_eq(o[0].qos, up ? rows[i].upgraded : rows[i].plain);
            if (o[0].qos == 1)
                ck_assert_int_eq(queue_session_puback(sh, s, o[0].pid), QUEUE_ACK_OK);
            if (o[0].qos == 2) {
                ck_assert_int_eq(queue_session_pubrec(sh, s, o[0].pid, 0), QUEUE_ACK_OK);
                ck_assert_int_eq(s_drain(sh, s, o, 2), 1);
                ck_assert_int_eq(queue_session_pubcomp(sh, s, o[0].pid), QUEUE_ACK_OK);
            }
        }
    }
    queue_shard_destroy(&sh);
}
END_TEST

/* --- the window ----------------------------------------------------------------- */

START_TEST(test_window_max_inflight)
{
    queue_limits_t lim = s_limits();
    lim.max_inflight = 3;
    queue_session_t *s;
    queue_shard_t *sh = s_shard_with_c(&lim, false, &s);
    for (int i = 0; i < 5; i++)
        s_pub(sh, "c", "m", 1);
    s_out_t o[8];
    ck_assert_int_eq(s_drain(sh, s, o, 8), 3);
    ck_assert_int_eq(s_drain(sh, s, o, 8), 0);
    ck_assert_int_eq(queue_session_puback(sh, s, 2), QUEUE_ACK_OK);
    ck_assert_int_eq(s_drain(sh, s, o, 8), 1);
    ck_assert_uint_eq(o[0].pid, 4);
    queue_shard_destroy(&sh);
}
END_TEST

START_TEST(test_window_receive_maximum)
{
    queue_limits_t lim = s_limits();
    queue_shard_t *sh = s_shard(&lim);
    s_out_t o[128];
    queue_session_t *a = s_conn5(sh, "a", false, true, 0, 2, NULL);
    for (int i = 0; i < 5; i++)
        s_pub(sh, "a", "m", 1);
    ck_assert_int_eq(s_drain(sh, a, o, 128), 2);        /* client's 2 < max_inflight 20 */
    lim.receive_max_broker = 4;
    queue_shard_set_limits(sh, &lim);
    queue_session_t *b = s_conn5(sh, "b", false, true, 0, 100, NULL);
    for (int i = 0; i < 10; i++)
        s_pub(sh, "b", "m", 1);
    ck_assert_int_eq(s_drain(sh, b, o, 128), 4);        /* receive_max_broker caps MQTT 5 */
    lim.max_inflight = 0;
    lim.receive_max_broker = 65535;
    queue_shard_set_limits(sh, &lim);
    queue_session_t *c = s_conn(sh, "c", false);         /* 3.1.1, no limit at all */
    for (int i = 0; i < 100; i++)
        s_pub(sh, "c", "m", 1);
    ck_assert_int_eq(s_drain(sh, c, o, 128), 100);
    queue_shard_destroy(&sh);
}
END_TEST

START_TEST(test_qos0_keeps_queue_order_outside_the_window)
{
    queue_limits_t lim = s_limits();
    lim.max_inflight = 1;
    queue_session_t *s;
    queue_shard_t *sh = s_shard_with_c(&lim, false, &s);
    s_pub(sh, "c", "A", 1);
    s_pub(sh, "c", "B", 0);
    s_pub(sh, "c", "C", 1);
    s_pub(sh, "c", "D", 0);
    s_out_t o[8];
    ck_assert_int_eq(s_drain(sh, s, o, 8), 2);
    s_assert_out(&o[0], "A", 1, false);
    s_assert_out(&o[1], "B", 0, false);                 /* QoS 0 takes no window */
    ck_assert_int_eq(queue_session_puback(sh, s, 1), QUEUE_ACK_OK);
    ck_assert_int_eq(s_drain(sh, s, o, 8), 2);
    s_assert_out(&o[0], "C", 2, false);
    s_assert_out(&o[1], "D", 0, false);
    ck_assert_uint_eq(queue_shard_counters(sh)->message_out, 4);
    queue_shard_destroy(&sh);
}
END_TEST

/* --- packet ids -------------------------------------------------------------------- */

START_TEST(test_packet_ids_wrap_and_skip_ids_in_use)
{
    queue_limits_t lim = s_limits();
    lim.max_inflight = 0;
    queue_session_t *s;
    queue_shard_t *sh = s_shard_with_c(&lim, false, &s);
    s_out_t o[4];
    s_pub(sh, "c", "held", 1);
    ck_assert_int_eq(s_drain(sh, s, o, 4), 1);
    ck_assert_uint_eq(o[0].pid, 1);                     /* kept in flight throughout */
    for (int pid = 2; pid <= 65534; pid++) {
        s_pub(sh, "c", "m", 1);
        ck_assert_int_eq(s_drain(sh, s, o, 4), 1);
        ck_assert_uint_eq(o[0].pid, pid);
        ck_assert_int_eq(queue_session_puback(sh, s, pid), QUEUE_ACK_OK);
    }
    s_pub(sh, "c", "last", 1);
    s_pub(sh, "c", "wrapped", 1);
    ck_assert_int_eq(s_drain(sh, s, o, 4), 2);
    s_assert_out(&o[0], "last", 65535, false);
    s_assert_out(&o[1], "wrapped", 2, false);           /* 1 is still in flight */
    queue_shard_destroy(&sh);
}
END_TEST

START_TEST(test_packet_ids_all_in_use)
{
    queue_limits_t lim = s_limits();
    lim.max_inflight = 0;
    lim.max_online = -1;
    queue_session_t *s;
    queue_shard_t *sh = s_shard_with_c(&lim, false, &s);
    for (int i = 0; i < 65536; i++)
        s_pub(sh, "c", "m", 1);
    queue_out_t out;
    static uint8_t seen[65536];
    int n = 0;
    while (queue_session_next(sh, s, T0, &out) == 1) {
        ck_assert_uint_ne(out.packet_id, 0);
        ck_assert_uint_eq(seen[out.packet_id], 0);
        seen[out.packet_id] = 1;
        n++;
    }
    ck_assert_int_eq(n, 65535);                          /* then no id is free */
    ck_assert_uint_eq(s_info(s).queued, 1);
    ck_assert_int_eq(queue_session_puback(sh, s, 40000), QUEUE_ACK_OK);
    ck_assert_int_eq(queue_session_next(sh, s, T0, &out), 1);
    ck_assert_uint_eq(out.packet_id, 40000);
    queue_shard_destroy(&sh);
}
END_TEST

/* --- QoS 2 ------------------------------------------------------------------------- */

START_TEST(test_qos2_exchange)                      /* both */
{
    s_durable = _i;
    queue_limits_t lim = s_limits();
    lim.max_inflight = 1;
    queue_session_t *s;
    queue_shard_t *sh = s_shard_with_c(&lim, true, &s);
    s_pub(sh, "c", "A", 2);
    s_pub(sh, "c", "B", 1);
    s_out_t o[4];
    ck_assert_int_eq(s_drain(sh, s, o, 4), 1);
    s_assert_out(&o[0], "A", 1, false);
    ck_assert_uint_eq(o[0].qos, 2);
    ck_assert_int_eq(queue_session_puback(sh, s, 1), QUEUE_ACK_UNKNOWN);   /* wrong ack */
    ck_assert_int_eq(queue_session_pubcomp(sh, s, 1), QUEUE_ACK_UNKNOWN);  /* too early */
    ck_assert_int_eq(queue_session_pubrec(sh, s, 1, 0), QUEUE_ACK_OK);
    ck_assert_uint_eq(s_info(s).pubrels, 1);
    ck_assert_uint_eq(s_info(s).inflight, 0);
    ck_assert_int_eq(s_drain(sh, s, o, 4), 1);
    s_assert_pubrel(&o[0], 1);                          /* B waits: the PUBREL holds the window */
    s_commit();
    if (s_durable) {
        queue_store_stats_t st = s_store_stats();
        ck_assert_uint_eq(st.pubrels, 1);
        ck_assert_uint_eq(st.entries, 1);               /* A is done, B waits */
    }
    ck_assert_int_eq(queue_session_pubrec(sh, s, 1, 0), QUEUE_ACK_OK);     /* again: PUBREL again */
    ck_assert_int_eq(s_drain(sh, s, o, 4), 1);
    s_assert_pubrel(&o[0], 1);
    ck_assert_int_eq(queue_session_pubcomp(sh, s, 1), QUEUE_ACK_OK);
    ck_assert_int_eq(queue_session_pubcomp(sh, s, 1), QUEUE_ACK_UNKNOWN);
    ck_assert_int_eq(s_drain(sh, s, o, 4), 1);
    s_assert_out(&o[0], "B", 2, false);
    ck_assert_int_eq(queue_session_pubrec(sh, s, 2, 0), QUEUE_ACK_UNKNOWN); /* B is QoS 1 */
    ck_assert_int_eq(queue_session_puback(sh, s, 2), QUEUE_ACK_OK);
    /* MQTT 5: a PUBREC with an error ends the exchange, no PUBREL */
    s_pub(sh, "c", "C", 2);
    ck_assert_int_eq(s_drain(sh, s, o, 4), 1);
    ck_assert_int_eq(queue_session_pubrec(sh, s, o[0].pid, 0x80), QUEUE_ACK_OK);
    ck_assert_int_eq(s_drain(sh, s, o, 4), 0);
    ck_assert_int_eq(queue_session_pubcomp(sh, s, 3), QUEUE_ACK_UNKNOWN);
    ck_assert_uint_eq(s_info(s).pubrels + s_info(s).inflight + s_info(s).queued, 0);
    s_commit();
    if (s_durable) {
        queue_store_stats_t st = s_store_stats();
        ck_assert_uint_eq(st.pubrels + st.entries + st.messages, 0);
    }
    queue_shard_destroy(&sh);
}
END_TEST

/* --- reconnect and restart ------------------------------------------------------------ */

/* m1..m5 to a session with a window of 3: m1, m2 (QoS 2), m3 sent; m2
 * PUBRECed and its PUBREL sent; the client leaves; m6 arrives offline. */
static queue_session_t *s_leave_mid_flight(queue_shard_t *sh)
{
    queue_session_t *s = s_conn(sh, "c", true);
    s_pub(sh, "c", "m1", 1);
    s_pub(sh, "c", "m2", 2);
    s_pub(sh, "c", "m3", 1);
    s_pub(sh, "c", "m4", 1);
    s_pub(sh, "c", "m5", 1);
    s_out_t o[8];
    ck_assert_int_eq(s_drain(sh, s, o, 8), 3);
    ck_assert_int_eq(queue_session_pubrec(sh, s, 2, 0), QUEUE_ACK_OK);
    ck_assert_int_eq(s_drain(sh, s, o, 8), 1);
    s_assert_pubrel(&o[0], 2);
    ck_assert_int_eq(queue_shard_disconnect(sh, s, T0, -1), 0);
    ck_assert_int_eq(s_pub(sh, "c", "m6", 1), QUEUE_APPENDED);
    s_commit();
    return s;
}

/* What the client gets when it comes back. */
static void s_assert_comeback(queue_shard_t *sh)
{
    bool present = false;
    queue_connect_t c = { .proto = 4, .persistent = true, .expiry_interval = QUEUE_STORE_NEVER };
    queue_session_t *s = queue_shard_connect(sh, "c", &c, T0 + 1000, &present);
    ck_assert_ptr_nonnull(s);
    ck_assert(present);
    s_out_t o[8];
    ck_assert_int_eq(s_drain(sh, s, o, 8), 3);
    s_assert_out(&o[0], "m1", 1, true);                 /* in flight first, same ids, DUP */
    s_assert_out(&o[1], "m3", 3, true);
    s_assert_pubrel(&o[2], 2);                          /* then the PUBRELs */
    ck_assert_int_eq(queue_session_puback(sh, s, 1), QUEUE_ACK_OK);
    ck_assert_int_eq(s_drain(sh, s, o, 8), 1);
    s_assert_out(&o[0], "m4", 4, false);                /* then the rest, in order */
    ck_assert_int_eq(queue_session_pubcomp(sh, s, 2), QUEUE_ACK_OK);
    ck_assert_int_eq(s_drain(sh, s, o, 8), 1);
    s_assert_out(&o[0], "m5", 5, false);
    ck_assert_int_eq(queue_session_puback(sh, s, 3), QUEUE_ACK_OK);
    ck_assert_int_eq(s_drain(sh, s, o, 8), 1);
    s_assert_out(&o[0], "m6", 6, false);
}

START_TEST(test_reconnect_redelivers_in_flight_then_pubrels_then_rest)    /* both */
{
    s_durable = _i;
    queue_limits_t lim = s_limits();
    lim.max_inflight = 3;
    queue_shard_t *sh = s_shard(&lim);
    s_leave_mid_flight(sh);
    s_assert_comeback(sh);
    ck_assert_uint_eq(queue_shard_counters(sh)->message_out, 6);     /* first sends only */
    queue_shard_destroy(&sh);
}
END_TEST

START_TEST(test_worker_restart_keeps_ids_and_order)
{
    s_durable = true;
    queue_limits_t lim = s_limits();
    lim.max_inflight = 3;
    queue_shard_t *sh = s_shard(&lim);
    s_leave_mid_flight(sh);
    sh = s_restart(&sh, &lim, T0 + 500);
    queue_session_t *s = queue_shard_find(sh, "c");
    ck_assert_ptr_nonnull(s);
    queue_session_info_t i = s_info(s);
    ck_assert(!i.online && i.durable && i.persistent);
    ck_assert_uint_eq(i.inflight, 2);
    ck_assert_uint_eq(i.pubrels, 1);
    ck_assert_uint_eq(i.queued, 3);
    ck_assert_int_eq(i.disconnected_at, T0);
    ck_assert_uint_eq(queue_shard_messages(sh), 0);     /* bodies stay on disk until needed */
    s_assert_comeback(sh);
    queue_shard_destroy(&sh);
}
END_TEST

START_TEST(test_worker_dies_while_client_online)
{
    s_durable = true;
    queue_limits_t lim = s_limits();
    queue_session_t *s;
    queue_shard_t *sh = s_shard_with_c(&lim, true, &s);
    s_pub(sh, "c", "a", 1);
    s_pub(sh, "c", "b", 2);
    s_out_t o[4];
    ck_assert_int_eq(s_drain(sh, s, o, 4), 2);
    s_commit();
    sh = s_restart(&sh, &lim, T0 + 7000);
    s = queue_shard_find(sh, "c");
    ck_assert(!s_info(s).online);
    ck_assert_int_eq(s_info(s).disconnected_at, T0 + 7000);   /* offline since the restart */
    s = s_conn(sh, "c", true);
    ck_assert_int_eq(s_drain(sh, s, o, 4), 2);
    s_assert_out(&o[0], "a", 1, true);
    s_assert_out(&o[1], "b", 2, true);
    ck_assert_uint_eq(o[1].qos, 2);
    queue_shard_destroy(&sh);
}
END_TEST

START_TEST(test_takeover_resends_in_flight)
{
    queue_limits_t lim = s_limits();
    queue_session_t *s;
    queue_shard_t *sh = s_shard_with_c(&lim, true, &s);
    s_pub(sh, "c", "a", 1);
    s_pub(sh, "c", "b", 1);
    s_out_t o[4];
    ck_assert_int_eq(s_drain(sh, s, o, 4), 2);
    bool present = false;
    queue_connect_t c = { .proto = 4, .persistent = true };
    ck_assert_ptr_eq(queue_shard_connect(sh, "c", &c, T0, &present), s);
    ck_assert(present);
    ck_assert_int_eq(s_drain(sh, s, o, 4), 2);
    s_assert_out(&o[0], "a", 1, true);
    s_assert_out(&o[1], "b", 2, true);
    queue_session_resend(sh, s);                         /* 3.1.1 retry_interval */
    ck_assert_int_eq(s_drain(sh, s, o, 4), 2);
    ck_assert(o[0].dup && o[1].dup);
    queue_shard_destroy(&sh);
}
END_TEST

START_TEST(test_offline_bodies_leave_memory_and_come_back)
{
    s_durable = true;
    queue_limits_t lim = s_limits();
    queue_session_t *s;
    queue_shard_t *sh = s_shard_with_c(&lim, true, &s);
    s_pub(sh, "c", "one", 1);
    s_pub(sh, "c", "two", 2);
    s_pub(sh, "c", "three", 1);
    ck_assert_uint_eq(queue_shard_messages(sh), 3);
    ck_assert_int_eq(queue_shard_disconnect(sh, s, T0, -1), 0);
    ck_assert_uint_eq(queue_shard_messages(sh), 0);
    s_commit();
    s = s_conn(sh, "c", true);
    s_out_t o[4];
    ck_assert_int_eq(s_drain(sh, s, o, 4), 3);
    s_assert_out(&o[0], "one", 1, false);
    s_assert_out(&o[1], "two", 2, false);
    s_assert_out(&o[2], "three", 3, false);
    ck_assert_uint_eq(queue_shard_messages(sh), 3);
    queue_shard_destroy(&sh);
}
END_TEST

/* --- expiry ---------------------------------------------------------------------------- */

START_TEST(test_message_expiry)                     /* both */
{
    s_durable = _i;
    queue_limits_t lim = s_limits();
    lim.max_inflight = 1;
    queue_shard_t *sh = s_shard(&lim);
    queue_session_t *s = s_conn5(sh, "c", true, false, 3600, 0, NULL);
    s_pub_x(sh, "c", "A", 1, 1, T0 + 5000);
    s_pub_x(sh, "c", "B", 1, 1, T0 + 1000);
    s_pub_x(sh, "c", "C", 1, 1, 0);
    s_out_t o[4];
    ck_assert_int_eq(s_drain_at(sh, s, T0 + 1200, o, 4), 1);
    s_assert_out(&o[0], "A", 1, false);
    ck_assert_int_eq(o[0].left, 4);                      /* 3.8 s left, rounded up */
    ck_assert_int_eq(queue_session_puback(sh, s, 1), QUEUE_ACK_OK);
    ck_assert_int_eq(s_drain_at(sh, s, T0 + 2000, o, 4), 1);
    s_assert_out(&o[0], "C", 2, false);                  /* B expired on its turn */
    ck_assert_int_eq(o[0].left, -1);
    ck_assert_uint_eq(queue_shard_counters(sh)->message_expired, 1);
    ck_assert_int_eq(queue_session_puback(sh, s, 2), QUEUE_ACK_OK);
    /* once sent, a message goes again after a reconnect whatever its age */
    s_pub_x(sh, "c", "D", 1, 1, T0 + 3000);
    ck_assert_int_eq(s_drain_at(sh, s, T0 + 2500, o, 4), 1);
    ck_assert_int_eq(o[0].left, 1);
    ck_assert_int_eq(queue_shard_disconnect(sh, s, T0 + 2600, -1), 0);
    s = s_conn5(sh, "c", true, false, 3600, 0, NULL);
    ck_assert_int_eq(s_drain_at(sh, s, T0 + 10000, o, 4), 1);
    s_assert_out(&o[0], "D", 3, true);
    ck_assert_int_eq(o[0].left, 0);
    s_commit();
    if (s_durable)
        ck_assert_uint_eq(s_store_stats().entries, 1);   /* D only: B went from the store too */
    queue_shard_destroy(&sh);
}
END_TEST

static void s_note_expired(const char *client_id, void *arg)
{
    strcat(arg, client_id);
    strcat(arg, ",");
}

START_TEST(test_session_expiry)                     /* both */
{
    s_durable = _i;
    queue_limits_t lim = s_limits();
    lim.persistent_client_expiration = 3600;
    queue_shard_t *sh = s_shard(&lim);
    queue_session_t *a = s_conn(sh, "a", true);                        /* 3.1.1 */
    queue_session_t *b = s_conn5(sh, "b", true, false, 10, 0, NULL);    /* 5.0, 10 s */
    queue_session_t *c = s_conn5(sh, "c", true, false, QUEUE_STORE_NEVER, 0, NULL);
    queue_session_t *d = s_conn(sh, "d", true);                        /* stays online */
    s_pub(sh, "b", "for b", 1);
    ck_assert_int_eq(queue_shard_disconnect(sh, a, T0, -1), 0);
    ck_assert_int_eq(queue_shard_disconnect(sh, b, T0, -1), 0);
    ck_assert_int_eq(queue_shard_disconnect(sh, c, T0, -1), 0);
    s_pub(sh, "b", "for b offline", 1);
    s_commit();
    ck_assert(!queue_session_expired(sh, a, T0 + 3599999));
    ck_assert(queue_session_expired(sh, a, T0 + 3600000));
    ck_assert(!queue_session_expired(sh, b, T0 + 9999));
    ck_assert(queue_session_expired(sh, b, T0 + 10000));
    ck_assert(!queue_session_expired(sh, c, T0 + 1000LL * 86400 * 365 * 100));
    ck_assert(!queue_session_expired(sh, d, T0 + 1000LL * 86400 * 365 * 100));

    char gone[64] = "";
    ck_assert_int_eq(queue_shard_expire(sh, T0 + 10000, s_note_expired, gone), 1);
    ck_assert_str_eq(gone, "b,");
    ck_assert_ptr_null(queue_shard_find(sh, "b"));
    ck_assert_uint_eq(queue_shard_messages(sh), 0);
    s_commit();
    if (s_durable) {
        queue_store_stats_t st = s_store_stats();
        ck_assert_uint_eq(st.sessions, 3);
        ck_assert_uint_eq(st.messages + st.entries, 0);
    }
    /* persistent_client_expiration = never: 3.1.x sessions stay */
    lim.persistent_client_expiration = 0;
    queue_shard_set_limits(sh, &lim);
    ck_assert_int_eq(queue_shard_expire(sh, T0 + 1000LL * 86400 * 365, NULL, NULL), 0);
    lim.persistent_client_expiration = 3600;
    queue_shard_set_limits(sh, &lim);
    gone[0] = 0;
    ck_assert_int_eq(queue_shard_expire(sh, T0 + 3600000, s_note_expired, gone), 1);
    ck_assert_str_eq(gone, "a,");
    ck_assert_uint_eq(queue_shard_size(sh), 2);
    s_commit();
    if (s_durable)
        ck_assert_uint_eq(s_store_stats().sessions, 2);
    queue_shard_destroy(&sh);
}
END_TEST

START_TEST(test_expiry_counts_from_disconnect_after_restart)
{
    s_durable = true;
    queue_limits_t lim = s_limits();
    queue_shard_t *sh = s_shard(&lim);
    queue_session_t *b = s_conn5(sh, "b", true, false, 60, 0, NULL);
    ck_assert_int_eq(queue_shard_disconnect(sh, b, T0 + 5000, -1), 0);
    s_commit();
    sh = s_restart(&sh, &lim, T0 + 50000);
    b = queue_shard_find(sh, "b");
    ck_assert(!queue_session_expired(sh, b, T0 + 64999));
    ck_assert(queue_session_expired(sh, b, T0 + 65000));
    queue_shard_destroy(&sh);
}
END_TEST

/* --- clean and persistent sessions ------------------------------------------------------ */

START_TEST(test_clean_sessions_stay_in_memory)
{
    s_durable = true;
    queue_limits_t lim = s_limits();
    queue_shard_t *sh = s_shard(&lim);
    queue_session_t *x = s_conn(sh, "x", false);
    for (int i = 0; i < 3; i++)
        s_pub(sh, "x", "m", 1);
    s_commit();
    queue_store_stats_t st = s_store_stats();
    ck_assert_uint_eq(st.sessions + st.messages + st.entries, 0);
    ck_assert_int_eq(queue_shard_disconnect(sh, x, T0, -1), 1);
    ck_assert_ptr_null(queue_shard_find(sh, "x"));
    ck_assert_uint_eq(queue_shard_messages(sh), 0);

    /* clean start throws the old session away, in the store too */
    queue_session_t *y = s_conn(sh, "y", true);
    s_pub(sh, "y", "old", 1);
    ck_assert_int_eq(queue_shard_disconnect(sh, y, T0, -1), 0);
    s_commit();
    ck_assert_uint_eq(s_store_stats().entries, 1);
    bool present = true;
    y = s_conn5(sh, "y", true, true, 100, 0, &present);
    ck_assert(!present);
    ck_assert_uint_eq(s_info(y).queued, 0);
    s_commit();
    st = s_store_stats();
    ck_assert_uint_eq(st.sessions, 1);
    ck_assert_uint_eq(st.entries + st.messages, 0);
    /* MQTT 5: session expiry set to 0 at DISCONNECT ends the session */
    ck_assert_int_eq(queue_shard_disconnect(sh, y, T0, 0), 1);
    s_commit();
    ck_assert_uint_eq(s_store_stats().sessions, 0);
    queue_shard_destroy(&sh);
}
END_TEST

START_TEST(test_session_resumed_as_persistent_is_written)
{
    s_durable = true;
    queue_limits_t lim = s_limits();
    queue_shard_t *sh = s_shard(&lim);
    queue_session_t *r = s_conn5(sh, "r", false, true, 0, 0, NULL);
    s_pub(sh, "r", "a", 1);
    s_pub(sh, "r", "b", 2);
    s_pub(sh, "r", "c", 0);
    s_commit();
    ck_assert_uint_eq(s_store_stats().entries, 0);
    bool present = false;
    r = s_conn5(sh, "r", true, false, 100, 0, &present);   /* taken over, now with expiry */
    ck_assert(present);
    s_commit();
    queue_store_stats_t st = s_store_stats();
    ck_assert_uint_eq(st.sessions, 1);
    ck_assert_uint_eq(st.entries, 2);                    /* QoS 0 stays memory only */
    ck_assert_uint_eq(st.messages, 2);
    sh = s_restart(&sh, &lim, T0);
    r = s_conn5(sh, "r", true, false, 100, 0, NULL);
    s_out_t o[4];
    ck_assert_int_eq(s_drain(sh, r, o, 4), 2);
    s_assert_out(&o[0], "a", 1, false);
    s_assert_out(&o[1], "b", 2, false);
    queue_shard_destroy(&sh);
}
END_TEST

START_TEST(test_resumed_as_persistent_after_the_others_acked)
{
    s_durable = true;
    queue_limits_t lim = s_limits();
    queue_shard_t *sh = s_shard(&lim);
    queue_session_t *a = s_conn(sh, "a", true);
    queue_session_t *b = s_conn5(sh, "b", false, true, 0, 0, NULL);
    queue_store_msg_t m = s_msg("shared", 1, 0);
    queue_target_t t[2] = { { .client_id = "a", .qos = 1 }, { .client_id = "b", .qos = 1 } };
    ck_assert_int_eq(queue_shard_append(sh, &m, t, 2, T0), 2);
    s_out_t o[2];
    ck_assert_int_eq(s_drain(sh, a, o, 2), 1);
    ck_assert_int_eq(queue_session_puback(sh, a, o[0].pid), QUEUE_ACK_OK);
    s_commit();
    ck_assert_uint_eq(s_store_stats().messages, 0);     /* a was its only durable reader */
    b = s_conn5(sh, "b", true, false, 100, 0, NULL);    /* b now persists: body written again */
    s_commit();
    queue_store_stats_t st = s_store_stats();
    ck_assert_uint_eq(st.messages, 1);
    ck_assert_uint_eq(st.entries, 1);
    ck_assert_int_eq(s_drain(sh, b, o, 2), 1);
    ck_assert_str_eq(o[0].payload, "shared");
    queue_shard_destroy(&sh);
}
END_TEST

/* --- fan-out ------------------------------------------------------------------------------ */

START_TEST(test_fanout_to_1000_stored_once)
{
    enum { N = 1000 };
    s_durable = true;
    queue_limits_t lim = s_limits();
    queue_shard_t *sh = s_shard(&lim);
    static char ids[N][16];
    static queue_target_t t[N];
    for (int i = 0; i < N; i++) {
        snprintf(ids[i], sizeof ids[i], "sub-%d", i);
        queue_session_t *s = s_conn(sh, ids[i], true);
        ck_assert_int_eq(queue_shard_disconnect(sh, s, T0, -1), 0);
        t[i] = (queue_target_t){ .client_id = ids[i], .qos = 1 };
    }
    s_commit();
    queue_store_msg_t m = s_msg("to everyone", 1, 0);
    ck_assert_int_eq(queue_shard_append(sh, &m, t, N, T0), N);
    ck_assert_uint_eq(queue_store_pending(s_store), N + 2);   /* one body, one count, N entries */
    s_commit();
    queue_store_stats_t st = s_store_stats();
    ck_assert_uint_eq(st.messages, 1);
    ck_assert_uint_eq(st.entries, N);
    ck_assert_uint_eq(queue_shard_messages(sh), 1);
    s_out_t o[2];
    for (int i = 0; i < N; i++) {
        queue_session_t *s = s_conn(sh, ids[i], true);
        ck_assert_int_eq(s_drain(sh, s, o, 2), 1);
        ck_assert_str_eq(o[0].payload, "to everyone");
        ck_assert_int_eq(queue_session_puback(sh, s, o[0].pid), QUEUE_ACK_OK);
        if (i == N - 2) {
            s_commit();
            ck_assert_uint_eq(s_store_stats().messages, 1);
        }
    }
    s_commit();
    st = s_store_stats();
    ck_assert_uint_eq(st.messages + st.entries, 0);
    ck_assert_uint_eq(queue_shard_messages(sh), 0);
    queue_shard_destroy(&sh);
}
END_TEST

/* --- a full store -------------------------------------------------------------------------- */

START_TEST(test_full_store_refuses_append_atomically)
{
    s_durable = true;
    s_store = s_store_open(128 << 10, 1 << 20);
    queue_limits_t lim = s_limits();
    lim.max_offline = -1;
    queue_shard_t *sh = s_shard(&lim);
    queue_session_t *a = s_conn(sh, "a", true);
    queue_session_t *b = s_conn(sh, "b", false);       /* memory only: still refused with a */
    ck_assert_int_eq(queue_shard_disconnect(sh, a, T0, -1), 0);
    s_commit();
    static char payload[3000];
    memset(payload, 'p', sizeof payload - 1);
    queue_store_msg_t m = s_msg(payload, 1, 0);
    int ok = 0;
    for (;;) {
        queue_target_t t[2] = { { .client_id = "a", .qos = 1 }, { .client_id = "b", .qos = 1 } };
        int rc = queue_shard_append(sh, &m, t, 2, T0);
        if (rc < 0)
            break;
        ck_assert_int_eq(rc, 2);
        s_commit();
        ok++;
        ck_assert_int_lt(ok, 1000);
    }
    ck_assert_int_gt(ok, 50);
    ck_assert_uint_eq(s_info(a).queued, (size_t)ok);
    ck_assert_uint_eq(s_info(b).queued, (size_t)ok);
    ck_assert_uint_eq(queue_shard_counters(sh)->message_in, 2u * ok);
    ck_assert_uint_eq(queue_shard_messages(sh), (size_t)ok);
    ck_assert_uint_eq(queue_store_pending(s_store), 0);
    s_commit();
    queue_shard_destroy(&sh);
    queue_store_close(&s_store);
    s_store = s_store_open(128 << 10, 1 << 20);
    char err[256];
    sh = queue_shard_new(&lim, s_store, T0, err, sizeof err);
    ck_assert_uint_eq(s_info(queue_shard_find(sh, "a")).queued, (size_t)ok);
    queue_shard_destroy(&sh);
}
END_TEST

/* --- a worker killed between its changes and their commit ------------------------------------ */

START_TEST(test_worker_killed_before_commit)
{
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        char err[256];
        queue_store_opts_t o = { .path = s_dir };
        queue_store_t *st = queue_store_open(&o, err, sizeof err);
        queue_limits_t lim = s_limits();
        lim.max_inflight = 5;
        queue_shard_t *sh = st ? queue_shard_new(&lim, st, T0, err, sizeof err) : NULL;
        if (!sh)
            _exit(2);
        queue_connect_t c = { .proto = 4, .persistent = true };
        bool present;
        queue_session_t *s = queue_shard_connect(sh, "c", &c, T0, &present);
        queue_store_commit(st);
        char p[32];
        for (int t = 0; t < 10; t++) {
            for (int k = 0; k < 10; k++) {
                snprintf(p, sizeof p, "%d-%d", t, k);
                queue_store_msg_t m = s_msg(p, 1, 0);
                queue_target_t tg = { .client_id = "c", .qos = 1 };
                if (queue_shard_append(sh, &m, &tg, 1, T0) != 1)
                    _exit(3);
            }
            if (queue_store_commit(st))
                _exit(4);
        }
        queue_out_t out;
        for (int i = 0; i < 5; i++)
            if (queue_session_next(sh, s, T0, &out) != 1)
                _exit(5);
        queue_session_puback(sh, s, 1);
        queue_session_puback(sh, s, 2);
        if (queue_store_commit(st))                     /* committed: 98 left, 3..5 in flight */
            _exit(6);
        for (int k = 0; k < 10; k++) {                  /* none of this is committed */
            queue_store_msg_t m = s_msg("lost", 1, 0);
            queue_target_t tg = { .client_id = "c", .qos = 1 };
            queue_shard_append(sh, &m, &tg, 1, T0);
        }
        queue_session_puback(sh, s, 3);
        queue_session_next(sh, s, T0, &out);
        queue_session_next(sh, s, T0, &out);
        raise(SIGKILL);
    }
    int status;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);

    s_durable = true;
    queue_limits_t lim = s_limits();
    lim.max_inflight = 5;
    queue_shard_t *sh = s_shard(&lim);
    queue_store_stats_t st = s_store_stats();
    ck_assert_uint_eq(st.entries, 98);
    ck_assert_uint_eq(st.messages, 98);
    queue_session_t *s = s_conn(sh, "c", true);
    ck_assert_uint_eq(s_info(s).inflight, 3);
    ck_assert_uint_eq(s_info(s).queued, 95);
    s_out_t o[8];
    ck_assert_int_eq(s_drain(sh, s, o, 8), 5);
    s_assert_out(&o[0], "0-2", 3, true);
    s_assert_out(&o[1], "0-3", 4, true);
    s_assert_out(&o[2], "0-4", 5, true);
    s_assert_out(&o[3], "0-5", 6, false);
    s_assert_out(&o[4], "0-6", 7, false);
    /* and the rest in order */
    char want[16];
    int seen = 7;
    for (int pid2 = 3; seen < 100; pid2++) {
        ck_assert_int_eq(queue_session_puback(sh, s, pid2), QUEUE_ACK_OK);
        ck_assert_int_eq(s_drain(sh, s, o, 8), seen < 100 ? 1 : 0);
        snprintf(want, sizeof want, "%d-%d", seen / 10, seen % 10);
        ck_assert_str_eq(o[0].payload, want);
        seen++;
    }
    ck_assert_int_eq(s_drain(sh, s, o, 8), 0);
    queue_shard_destroy(&sh);
}
END_TEST

/* --- moving a session to another node ------------------------------------------------------ */

/* What queue_session_export gave for one message, copied out. */
typedef struct {
    char topic[16], payload[16], props[16];
    size_t props_len;
    uint8_t msg_qos, qos;
    bool msg_retain, retain, inflight;
    int64_t published_at, expiry_at;
    uint16_t n_sub_ids;
    uint32_t sub_ids[4];
} s_moved_t;

typedef struct {
    s_moved_t m[16];
    int n;
} s_moving_t;

static void s_collect(void *arg, const queue_store_msg_t *msg, uint8_t qos, bool retain,
                      uint16_t n_sub_ids, const uint32_t *sub_ids, bool inflight)
{
    s_moving_t *mv = arg;
    ck_assert_int_lt(mv->n, 16);
    ck_assert_uint_lt(msg->topic_len, 16);
    ck_assert_uint_lt(msg->payload_len, 16);
    ck_assert_uint_le(msg->props_len, 16);
    ck_assert_uint_le(n_sub_ids, 4);
    s_moved_t *m = &mv->m[mv->n++];
    *m = (s_moved_t){ .props_len = msg->props_len, .msg_qos = msg->qos, .qos = qos,
                      .msg_retain = msg->retain, .retain = retain, .inflight = inflight,
                      .published_at = msg->published_at, .expiry_at = msg->expiry_at,
                      .n_sub_ids = n_sub_ids };
    memcpy(m->topic, msg->topic, msg->topic_len);
    memcpy(m->payload, msg->payload, msg->payload_len);
    if (msg->props_len)
        memcpy(m->props, msg->props, msg->props_len);
    if (n_sub_ids)
        memcpy(m->sub_ids, sub_ids, n_sub_ids * sizeof *sub_ids);
}

/* The body to import, pointing into what export gave. */
static queue_store_msg_t s_moved_msg(const s_moved_t *m)
{
    return (queue_store_msg_t){ .topic = m->topic, .topic_len = strlen(m->topic),
                                .payload = m->payload, .payload_len = strlen(m->payload),
                                .props = m->props_len ? m->props : NULL, .props_len = m->props_len,
                                .qos = m->msg_qos, .retain = m->msg_retain,
                                .published_at = m->published_at, .expiry_at = m->expiry_at };
}

static int s_import(queue_shard_t *sh, queue_session_t *s, const s_moved_t *m)
{
    queue_store_msg_t msg = s_moved_msg(m);
    return queue_session_import(sh, s, &msg, m->qos, m->retain, m->n_sub_ids, m->sub_ids,
                                m->inflight, T0 + 2000);
}

/* Five messages with all that has to survive a move: topic, payload, MQTT 5
 * properties, published and delivered QoS, retain as published and as
 * delivered, subscription ids, expiry. */
typedef struct {
    const char *topic, *payload, *props;
    uint8_t pub_qos, granted, qos;
    bool pub_retain, retain;
    int64_t expiry_at;
    uint16_t n_sub_ids;
    uint32_t sub_ids[2];
} s_movable_t;

static const s_movable_t s_movables[] = {
    { "a/1", "m0", "\x02\x01",  1, 1, 1, false, false, 0,               1, { 7 } },
    { "a/2", "m1", "",          2, 2, 2, true,  true,  T0 + 3600000LL,  2, { 7, 9 } },
    { "b/3", "m2", "\x26xyz",   2, 1, 1, true,  false, 0,               0, { 0 } },
    { "b/4", "m3", "",          1, 2, 1, false, true,  T0 + 7200000LL,  1, { 300000 } },
    { "c/5", "m4", "\x01\x01",  2, 2, 2, false, false, 0,               2, { 1, 268435455 } },
};
#define S_MOVABLES ((int)(sizeof s_movables / sizeof s_movables[0]))

static void s_pub_movable(queue_shard_t *sh, const char *client, const s_movable_t *mv)
{
    queue_store_msg_t m = { .topic = mv->topic, .topic_len = strlen(mv->topic),
                            .payload = mv->payload, .payload_len = strlen(mv->payload),
                            .props = mv->props, .props_len = strlen(mv->props),
                            .qos = mv->pub_qos, .retain = mv->pub_retain,
                            .published_at = T0 - 5, .expiry_at = mv->expiry_at };
    queue_target_t t = { .client_id = client, .qos = mv->granted, .retain = mv->retain,
                         .n_sub_ids = mv->n_sub_ids, .sub_ids = mv->sub_ids };
    ck_assert_int_eq(queue_shard_append(sh, &m, &t, 1, T0), 1);
    ck_assert_int_eq(t.result, QUEUE_APPENDED);
}

/* export gave s_movables[i], whole. */
static void s_assert_moved(const s_moved_t *m, int i, bool inflight)
{
    const s_movable_t *w = &s_movables[i];
    ck_assert_str_eq(m->topic, w->topic);
    ck_assert_str_eq(m->payload, w->payload);
    ck_assert_uint_eq(m->props_len, strlen(w->props));
    ck_assert_mem_eq(m->props, w->props, m->props_len);
    ck_assert_uint_eq(m->msg_qos, w->pub_qos);
    ck_assert_int_eq(m->msg_retain, w->pub_retain);
    ck_assert_int_eq(m->published_at, T0 - 5);
    ck_assert_int_eq(m->expiry_at, w->expiry_at);
    ck_assert_uint_eq(m->qos, w->qos);
    ck_assert_int_eq(m->retain, w->retain);
    ck_assert_uint_eq(m->n_sub_ids, w->n_sub_ids);
    for (int k = 0; k < w->n_sub_ids; k++)
        ck_assert_uint_eq(m->sub_ids[k], w->sub_ids[k]);
    ck_assert_int_eq(m->inflight, inflight);
}

/* Client "c" on sh with all of s_movables, the first two sent (window 2). */
static queue_session_t *s_two_in_flight(queue_shard_t *sh)
{
    queue_session_t *s = s_conn5(sh, "c", true, false, QUEUE_STORE_NEVER, 0, NULL);
    for (int i = 0; i < S_MOVABLES; i++)
        s_pub_movable(sh, "c", &s_movables[i]);
    s_out_t o[8];
    ck_assert_int_eq(s_drain(sh, s, o, 8), 2);
    s_assert_out(&o[0], "m0", 1, false);
    s_assert_out(&o[1], "m1", 2, false);
    s_commit();
    return s;
}

/* A second worker (another node's), over its own store when durable. */
static queue_shard_t *s_shard_b(const queue_limits_t *lim, bool durable)
{
    char path[80], err[256] = "";
    if (durable && !s_store_b) {
        snprintf(path, sizeof path, "%s/b", s_dir);
        queue_store_opts_t o = { .path = path };
        s_store_b = queue_store_open(&o, err, sizeof err);
        ck_assert_msg(s_store_b != NULL, "store b: %s", err);
    }
    queue_shard_t *sh = queue_shard_new(lim, durable ? s_store_b : NULL, T0, err, sizeof err);
    ck_assert_msg(sh != NULL, "shard b: %s", err);
    if (s_store_b)
        ck_assert_int_eq(queue_store_commit(s_store_b), 0);
    return sh;
}

static queue_store_stats_t s_store_stats_of(queue_store_t *st)
{
    queue_store_stats_t r;
    ck_assert_int_eq(queue_store_commit(st), 0);
    ck_assert_int_eq(queue_store_check(st, false, &r), 0);
    ck_assert_uint_eq(r.problems, 0);
    return r;
}

START_TEST(test_export_in_flight_then_queued)       /* both */
{
    s_durable = _i;
    queue_limits_t lim = s_limits();
    lim.max_inflight = 2;
    queue_shard_t *sh = s_shard(&lim);
    queue_session_t *s = s_two_in_flight(sh);
    ck_assert_int_eq(s_pub(sh, "c", "zero", 0), QUEUE_APPENDED);   /* held while online */
    s_moving_t mv = { .n = 0 };
    ck_assert_int_eq(queue_session_export(sh, s, s_collect, &mv), 0);
    ck_assert_int_eq(mv.n, S_MOVABLES + 1);
    for (int i = 0; i < S_MOVABLES; i++)
        s_assert_moved(&mv.m[i], i, i < 2);
    ck_assert_str_eq(mv.m[5].payload, "zero");
    ck_assert_uint_eq(mv.m[5].qos, 0);
    ck_assert(!mv.m[5].inflight);
    /* export leaves the session as it was */
    queue_session_info_t i = s_info(s);
    ck_assert_uint_eq(i.inflight, 2);
    ck_assert_uint_eq(i.queued, 4);
    ck_assert_int_eq(queue_session_puback(sh, s, 1), QUEUE_ACK_OK);
    s_out_t o[4];
    ck_assert_int_eq(s_drain(sh, s, o, 4), 1);
    s_assert_out(&o[0], "m2", 3, false);
    queue_shard_destroy(&sh);
}
END_TEST

/* Offline durable entries keep only message ids: export reads the bodies back
 * from the store (loop 1: after a worker restart, nothing in memory at all). */
START_TEST(test_export_offline_reads_the_store)
{
    s_durable = true;
    queue_limits_t lim = s_limits();
    lim.max_inflight = 2;
    queue_shard_t *sh = s_shard(&lim);
    queue_session_t *s = s_two_in_flight(sh);
    ck_assert_int_eq(queue_shard_disconnect(sh, s, T0 + 1000, -1), 0);
    s_commit();
    if (_i) {
        sh = s_restart(&sh, &lim, T0 + 1500);
        s = queue_shard_find(sh, "c");
        ck_assert_ptr_nonnull(s);
    }
    ck_assert(!s_info(s).online);
    ck_assert_uint_eq(queue_shard_messages(sh), 0);
    s_moving_t mv = { .n = 0 };
    ck_assert_int_eq(queue_session_export(sh, s, s_collect, &mv), 0);
    ck_assert_int_eq(mv.n, S_MOVABLES);
    for (int i = 0; i < S_MOVABLES; i++)
        s_assert_moved(&mv.m[i], i, i < 2);
    /* the caller deletes the session: nothing may be left behind */
    ck_assert_int_eq(queue_shard_delete(sh, s), 0);
    ck_assert_uint_eq(queue_shard_messages(sh), 0);
    queue_store_stats_t st = s_store_stats_of(s_store);
    ck_assert_uint_eq(st.sessions + st.entries + st.messages, 0);
    queue_shard_destroy(&sh);
}
END_TEST

/* Export from A, import into B's offline session, the client comes back on B:
 * what was in flight on A goes out again first with DUP under B's ids, then
 * the rest, in order.  Loop 0: B in memory; 1: B durable; 2: B durable and
 * restarted between the import and the reconnect. */
START_TEST(test_import_round_trip)
{
    s_durable = _i > 0;
    queue_limits_t lim = s_limits();
    lim.max_inflight = 2;
    queue_shard_t *a = s_shard(&lim);
    queue_session_t *sa = s_two_in_flight(a);
    s_moving_t mv = { .n = 0 };
    ck_assert_int_eq(queue_session_export(a, sa, s_collect, &mv), 0);
    ck_assert_int_eq(mv.n, S_MOVABLES);
    ck_assert_int_eq(queue_shard_delete(a, sa), 0);
    queue_shard_destroy(&a);

    queue_limits_t lim_b = s_limits();                  /* window 20: all five go out */
    queue_shard_t *b = s_shard_b(&lim_b, _i > 0);
    bool present = true;
    queue_session_t *sb = s_conn5(b, "c", true, false, QUEUE_STORE_NEVER, 0, &present);
    ck_assert(!present);
    ck_assert_int_eq(queue_shard_disconnect(b, sb, T0 + 1000, -1), 0);
    for (int i = 0; i < mv.n; i++)
        ck_assert_int_eq(s_import(b, sb, &mv.m[i]), 1);
    queue_session_info_t info = s_info(sb);
    ck_assert(!info.online);
    ck_assert_uint_eq(info.inflight, 2);
    ck_assert_uint_eq(info.queued, 3);
    ck_assert_uint_eq(queue_shard_counters(b)->message_drop, 0);
    if (_i > 0) {
        queue_store_stats_t st = s_store_stats_of(s_store_b);
        ck_assert_uint_eq(st.sessions, 1);
        ck_assert_uint_eq(st.entries, S_MOVABLES);
        ck_assert_uint_eq(st.messages, S_MOVABLES);
    }
    if (_i == 2) {
        queue_shard_destroy(&b);
        queue_store_close(&s_store_b);
        b = s_shard_b(&lim_b, true);
        sb = queue_shard_find(b, "c");
        ck_assert_ptr_nonnull(sb);
        info = s_info(sb);
        ck_assert_uint_eq(info.inflight, 2);
        ck_assert_uint_eq(info.queued, 3);
        ck_assert_uint_eq(queue_shard_messages(b), 0);
    }
    present = false;
    sb = s_conn5(b, "c", true, false, QUEUE_STORE_NEVER, 0, &present);
    ck_assert(present);

    queue_out_t out[S_MOVABLES];
    for (int i = 0; i < S_MOVABLES; i++) {
        ck_assert_int_eq(queue_session_next(b, sb, T0 + 3000, &out[i]), 1);
        const s_movable_t *w = &s_movables[i];
        const queue_out_t *o = &out[i];
        ck_assert_int_eq(o->kind, QUEUE_OUT_PUBLISH);
        ck_assert_uint_ne(o->packet_id, 0);
        for (int k = 0; k < i; k++)
            ck_assert_uint_ne(o->packet_id, out[k].packet_id);
        ck_assert_int_eq(o->dup, i < 2);
        ck_assert_uint_eq(o->qos, w->qos);
        ck_assert_int_eq(o->retain, w->retain);
        ck_assert_uint_eq(o->msg->qos, w->pub_qos);
        ck_assert_uint_eq(o->msg->topic_len, strlen(w->topic));
        ck_assert_mem_eq(o->msg->topic, w->topic, o->msg->topic_len);
        ck_assert_uint_eq(o->msg->payload_len, strlen(w->payload));
        ck_assert_mem_eq(o->msg->payload, w->payload, o->msg->payload_len);
        ck_assert_uint_eq(o->msg->props_len, strlen(w->props));
        ck_assert_mem_eq(o->msg->props, w->props, o->msg->props_len);
        ck_assert_int_eq(o->expiry_left, w->expiry_at ? (w->expiry_at - T0 - 3000) / 1000 : -1);
        ck_assert_uint_eq(o->n_sub_ids, w->n_sub_ids);
        for (int k = 0; k < w->n_sub_ids; k++)
            ck_assert_uint_eq(o->sub_ids[k], w->sub_ids[k]);
    }
    queue_out_t o;
    ck_assert_int_eq(queue_session_next(b, sb, T0 + 3000, &o), 0);
    for (int i = 0; i < S_MOVABLES; i++) {
        uint16_t pid = out[i].packet_id;
        if (s_movables[i].qos == 1) {
            ck_assert_int_eq(queue_session_puback(b, sb, pid), QUEUE_ACK_OK);
        } else {
            ck_assert_int_eq(queue_session_puback(b, sb, pid), QUEUE_ACK_UNKNOWN);
            ck_assert_int_eq(queue_session_pubrec(b, sb, pid, 0), QUEUE_ACK_OK);
            ck_assert_int_eq(queue_session_pubcomp(b, sb, pid), QUEUE_ACK_OK);
        }
    }
    ck_assert_int_eq(queue_session_next(b, sb, T0 + 3000, &o), 0);
    info = s_info(sb);
    ck_assert_uint_eq(info.inflight + info.queued + info.pubrels, 0);
    ck_assert_uint_eq(queue_shard_messages(b), 0);
    if (_i > 0) {
        queue_store_stats_t st = s_store_stats_of(s_store_b);
        ck_assert_uint_eq(st.entries + st.messages + st.pubrels, 0);
    }
    queue_shard_destroy(&b);
}
END_TEST

/* QoS 0 has no packet id: imported "in flight" it is just queued.  A later
 * in-flight import takes the new entry, not one queued before it. */
START_TEST(test_import_qos0_is_never_in_flight)
{
    queue_limits_t lim = s_limits();
    queue_session_t *s;
    queue_shard_t *sh = s_shard_with_c(&lim, true, &s);
    queue_store_msg_t m = s_msg("q0", 0, 0), m1 = s_msg("q1", 1, 0);
    ck_assert_int_eq(queue_session_import(sh, s, &m, 0, false, 0, NULL, true, T0), 1);
    ck_assert_uint_eq(s_info(s).inflight, 0);
    ck_assert_uint_eq(s_info(s).queued, 1);
    ck_assert_int_eq(queue_session_import(sh, s, &m1, 1, false, 0, NULL, true, T0), 1);
    ck_assert_uint_eq(s_info(s).inflight, 1);
    ck_assert_uint_eq(s_info(s).queued, 1);
    queue_session_resend(sh, s);
    s_out_t o[4];
    ck_assert_int_eq(s_drain(sh, s, o, 4), 2);
    s_assert_out(&o[0], "q1", 1, true);
    ck_assert_uint_eq(o[0].qos, 1);
    s_assert_out(&o[1], "q0", 0, false);
    ck_assert_uint_eq(o[1].qos, 0);
    ck_assert_int_eq(queue_session_puback(sh, s, 1), QUEUE_ACK_OK);
    ck_assert_uint_eq(s_info(s).inflight + s_info(s).queued, 0);
    queue_shard_destroy(&sh);
}
END_TEST

/* In flight or not follows the QoS the message is delivered with, not the
 * one asked for: published QoS 0 granted 1 is delivered QoS 0 (no upgrade). */
START_TEST(test_import_in_flight_follows_the_delivered_qos)
{
    queue_limits_t lim = s_limits();
    queue_session_t *s;
    queue_shard_t *sh = s_shard_with_c(&lim, true, &s);
    queue_store_msg_t m = s_msg("pub0", 0, 0);
    ck_assert_int_eq(queue_session_import(sh, s, &m, 1, false, 0, NULL, true, T0), 1);
    ck_assert_uint_eq(s_info(s).inflight, 0);
    queue_session_resend(sh, s);
    s_out_t o[4];
    ck_assert_int_eq(s_drain(sh, s, o, 4), 1);
    s_assert_out(&o[0], "pub0", 0, false);
    ck_assert_uint_eq(o[0].qos, 0);
    ck_assert_uint_eq(s_info(s).inflight + s_info(s).queued, 0);
    /* with upgrade_outgoing_qos it is delivered QoS 1: in flight, DUP */
    lim.upgrade_qos = true;
    queue_shard_set_limits(sh, &lim);
    ck_assert_int_eq(queue_session_import(sh, s, &m, 1, false, 0, NULL, true, T0), 1);
    ck_assert_uint_eq(s_info(s).inflight, 1);
    queue_session_resend(sh, s);
    ck_assert_int_eq(s_drain(sh, s, o, 4), 1);
    ck_assert_str_eq(o[0].payload, "pub0");
    ck_assert_uint_eq(o[0].qos, 1);
    ck_assert(o[0].dup && o[0].pid != 0);
    ck_assert_int_eq(queue_session_puback(sh, s, o[0].pid), QUEUE_ACK_OK);
    queue_shard_destroy(&sh);
}
END_TEST

/* Import follows queue_shard_append's offline rules: max_offline counts the
 * entries in flight too; fifo drops the new one, lifo the oldest not sent;
 * 0 keeps none; QoS 0 is unhandled. */
START_TEST(test_import_respects_max_offline)       /* both */
{
    s_durable = _i;
    queue_limits_t lim = s_limits();
    lim.max_offline = 2;
    queue_session_t *s;
    queue_shard_t *sh = s_shard_with_c(&lim, true, &s);
    ck_assert_int_eq(queue_shard_disconnect(sh, s, T0, -1), 0);
    queue_store_msg_t ma = s_msg("a", 1, 0), mb = s_msg("b", 1, 0), mc = s_msg("c", 1, 0),
                      md = s_msg("d", 1, 0), me = s_msg("e", 0, 0), mf = s_msg("f", 2, 0);
    ck_assert_int_eq(queue_session_import(sh, s, &ma, 1, false, 0, NULL, true, T0), 1);
    ck_assert_int_eq(queue_session_import(sh, s, &mb, 1, false, 0, NULL, false, T0), 1);
    ck_assert_int_eq(queue_session_import(sh, s, &mc, 1, false, 0, NULL, false, T0), 0);
    ck_assert_int_eq(queue_session_import(sh, s, &md, 1, false, 0, NULL, true, T0), 0);
    ck_assert_int_eq(queue_session_import(sh, s, &me, 0, false, 0, NULL, false, T0), 0);
    const queue_counters_t *c = queue_shard_counters(sh);
    ck_assert_uint_eq(c->message_drop, 2);
    ck_assert_uint_eq(c->message_unhandled, 1);
    ck_assert_uint_eq(c->message_in, 2);
    ck_assert_uint_eq(s_info(s).inflight, 1);
    ck_assert_uint_eq(s_info(s).queued, 1);
    /* lifo: b (oldest not sent) makes room, a in flight stays */
    lim.lifo = true;
    queue_shard_set_limits(sh, &lim);
    ck_assert_int_eq(queue_session_import(sh, s, &mf, 2, false, 0, NULL, false, T0), 1);
    ck_assert_uint_eq(c->message_drop, 3);
    ck_assert_int_eq(queue_session_import(sh, s, &mc, 1, false, 0, NULL, true, T0), 1);   /* f goes */
    ck_assert_uint_eq(c->message_drop, 4);
    ck_assert_uint_eq(s_info(s).inflight, 2);
    ck_assert_uint_eq(s_info(s).queued, 0);
    /* nothing left to drop but entries in flight: the new one goes */
    ck_assert_int_eq(queue_session_import(sh, s, &md, 1, false, 0, NULL, false, T0), 0);
    ck_assert_uint_eq(c->message_drop, 5);
    s_commit();
    if (s_durable) {
        queue_store_stats_t st = s_store_stats();
        ck_assert_uint_eq(st.entries, 2);
        ck_assert_uint_eq(st.messages, 2);
    }
    /* 0 keeps none */
    lim.lifo = false;
    lim.max_offline = 0;
    queue_shard_set_limits(sh, &lim);
    queue_session_t *d = s_conn(sh, "d", true);
    ck_assert_int_eq(queue_shard_disconnect(sh, d, T0, -1), 0);
    ck_assert_int_eq(queue_session_import(sh, d, &ma, 1, false, 0, NULL, true, T0), 0);
    ck_assert_int_eq(queue_session_import(sh, d, &mb, 1, false, 0, NULL, false, T0), 0);
    ck_assert_uint_eq(s_info(d).inflight + s_info(d).queued, 0);
    /* what was kept comes out when c is back */
    s = s_conn(sh, "c", true);
    s_out_t o[4];
    ck_assert_int_eq(s_drain(sh, s, o, 4), 2);
    ck_assert_str_eq(o[0].payload, "a");
    ck_assert_str_eq(o[1].payload, "c");
    ck_assert(o[0].dup && o[1].dup);
    ck_assert_uint_ne(o[0].pid, o[1].pid);
    queue_shard_destroy(&sh);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("queue_logic");
    TCase *tq = tcase_create("queue");
    tcase_add_checked_fixture(tq, s_setup, s_teardown);
    tcase_set_timeout(tq, 60);
    tcase_add_loop_test(tq, test_fifo_order_and_acks, 0, 2);
    tcase_add_test(tq, test_lifo_delivers_newest_first_and_drops_oldest);
    tcase_add_test(tq, test_online_limit_counts_what_waits_behind_the_window);
    tcase_add_loop_test(tq, test_offline_limit_counts_qos12_only, 0, 2);
    tcase_add_loop_test(tq, test_qos0_not_kept_offline, 0, 2);
    tcase_add_test(tq, test_delivered_qos);
    tcase_add_test(tq, test_window_max_inflight);
    tcase_add_test(tq, test_window_receive_maximum);
    tcase_add_test(tq, test_qos0_keeps_queue_order_outside_the_window);
    tcase_add_test(tq, test_packet_ids_wrap_and_skip_ids_in_use);
    tcase_add_test(tq, test_packet_ids_all_in_use);
    tcase_add_loop_test(tq, test_qos2_exchange, 0, 2);
    suite_add_tcase(s, tq);

    TCase *ts = tcase_create("session");
    tcase_add_checked_fixture(ts, s_setup, s_teardown);
    tcase_set_timeout(ts, 60);
    tcase_add_loop_test(ts, test_reconnect_redelivers_in_flight_then_pubrels_then_rest, 0, 2);
    tcase_add_test(ts, test_worker_restart_keeps_ids_and_order);
    tcase_add_test(ts, test_worker_dies_while_client_online);
    tcase_add_test(ts, test_takeover_resends_in_flight);
    tcase_add_test(ts, test_offline_bodies_leave_memory_and_come_back);
    tcase_add_loop_test(ts, test_message_expiry, 0, 2);
    tcase_add_loop_test(ts, test_session_expiry, 0, 2);
    tcase_add_test(ts, test_expiry_counts_from_disconnect_after_restart);
    tcase_add_test(ts, test_clean_sessions_stay_in_memory);
    tcase_add_test(ts, test_session_resumed_as_persistent_is_written);
    tcase_add_test(ts, test_resumed_as_persistent_after_the_others_acked);
    suite_add_tcase(s, ts);

    TCase *td = tcase_create("durability");
    tcase_add_checked_fixture(td, s_setup, s_teardown);
    tcase_set_timeout(td, 60);
    tcase_add_test(td, test_fanout_to_1000_stored_once);
    tcase_add_test(td, test_full_store_refuses_append_atomically);
    tcase_add_test(td, test_worker_killed_before_commit);
    suite_add_tcase(s, td);

    TCase *tm = tcase_create("move");
    tcase_add_checked_fixture(tm, s_setup, s_teardown);
    tcase_set_timeout(tm, 60);
    tcase_add_loop_test(tm, test_export_in_flight_then_queued, 0, 2);
    tcase_add_loop_test(tm, test_export_offline_reads_the_store, 0, 2);
    tcase_add_loop_test(tm, test_import_round_trip, 0, 3);
    tcase_add_test(tm, test_import_qos0_is_never_in_flight);
    tcase_add_test(tm, test_import_in_flight_follows_the_delivered_qos);
    tcase_add_loop_test(tm, test_import_respects_max_offline, 0, 2);
    suite_add_tcase(s, tm);

    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
