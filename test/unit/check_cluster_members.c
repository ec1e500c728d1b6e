/* Unit tests: the membership and its merge rule (workers/cluster/
 * cluster_members.c) and its records on disk (cluster_store.c): every order
 * of merging gives the same view, tombstones win, joins and leaves step
 * versions, garbage from the wire is skipped, old records stay readable. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cluster/cluster.h"

static cluster_member_t s_rec(const char *name, const char *addr, uint64_t version, bool left)
{
    cluster_member_t r = { .version = version, .left = left };
    snprintf(r.name, sizeof r.name, "%s", name);
    snprintf(r.addr, sizeof r.addr, "%s", addr);
    return r;
}

static bool s_same(const cluster_members_t *a, const cluster_members_t *b)
{
    if (a->n != b->n)
        return false;
    for (size_t i = 0; i < a->n; i++) {
        const cluster_member_t *r = cluster_members_find(b, a->v[i].name);
        if (!r || r->version != a->v[i].version || r->left != a->v[i].left || strcmp(r->addr, a->v[i].addr))
            return false;
    }
    return true;
}

START_TEST(test_higher_version_wins)
{
    cluster_members_t m = { 0 };
    cluster_member_t r1 = s_rec("a@h", "h:1", 1, false), r2 = s_rec("a@h", "h:2", 2, false);
    ck_assert(cluster_members_apply(&m, &r1));
    ck_assert(cluster_members_apply(&m, &r2));
    ck_assert(!cluster_members_apply(&m, &r1));
    ck_assert(!cluster_members_apply(&m, &r2));   /* idempotent */
    ck_assert_uint_eq(m.n, 1);
    ck_assert_str_eq(cluster_members_find(&m, "a@h")->addr, "h:2");
    cluster_members_fini(&m);
}
END_TEST

START_TEST(test_ties_break_the_same_way_everywhere)
{
    cluster_member_t joined = s_rec("a@h", "h:1", 3, false), gone = s_rec("a@h", "h:1", 3, true);
    cluster_member_t other = s_rec("a@h", "h:9", 3, false);
    ck_assert(cluster_member_supersedes(&gone, &joined));
    ck_assert(!cluster_member_supersedes(&joined, &gone));
    ck_assert(cluster_member_supersedes(&other, &joined) != cluster_member_supersedes(&joined, &other));
    ck_assert(!cluster_member_supersedes(&joined, &joined));
}
END_TEST

START_TEST(test_merge_order_does_not_matter)
{
    cluster_member_t recs[] = {
        s_rec("a@h", "h:1", 1, false), s_rec("b@h", "h:2", 1, false), s_rec("a@h", "h:3", 2, false),
        s_rec("c@h", "h:4", 5, false), s_rec("c@h", "h:4", 5, true),  s_rec("b@h", "h:5", 1, false),
        s_rec("d@h", "h:6", 1, false), s_rec("d@h", "h:6", 2, true),  s_rec("d@h", "h:7", 3, false),
    };
    size_t n = sizeof recs / sizeof recs[0];
    cluster_members_t first = { 0 };
    for (size_t i = 0; i < n; i++)
        cluster_members_apply(&first, &recs[i]);
    /* every rotation and the reverse order, applied one by one or as sets */
    for (size_t start = 0; start < n; start++) {
        cluster_members_t m = { 0 }, half1 = { 0 }, half2 = { 0 }, rev = { 0 };
        for (size_t i = 0; i < n; i++) {
            cluster_members_apply(&m, &recs[(start + i) % n]);
            cluster_members_apply(i % 2 ? &half1 : &half2, &recs[(start + i) % n]);
            cluster_members_apply(&rev, &recs[(start + n - i) % n]);
        }
        ck_assert(s_same(&m, &first));
        ck_assert(s_same(&rev, &first));
        cluster_members_merge(&half1, &half2);
        ck_assert(s_same(&half1, &first));
        ck_assert_uint_eq(cluster_members_merge(&half1, &first), 0);
        cluster_members_fini(&m);
        cluster_members_fini(&half1);
        cluster_members_fini(&half2);
        cluster_members_fini(&rev);
    }
    ck_assert(cluster_members_find(&first, "c@h")->left);
    ck_assert(!cluster_members_find(&first, "d@h")->left);
    ck_assert_str_eq(cluster_members_find(&first, "b@h")->addr, "h:5");
    cluster_members_fini(&first);
}
END_TEST

START_TEST(test_join_and_leave_step_versions)
{
    cluster_members_t m = { 0 };
    cluster_member_t *r = cluster_members_admit(&m, "x@h", "h:1", 0);
    ck_assert_uint_eq(r->version, 1);
    ck_assert_ptr_null(cluster_members_remove(&m, "nobody@h"));
    r = cluster_members_remove(&m, "x@h");
    ck_assert_ptr_nonnull(r);
    ck_assert(r->left);
    ck_assert_uint_eq(r->version, 2);
    ck_assert_ptr_null(cluster_members_remove(&m, "x@h"));   /* already gone */
    /* a removed node that joins again comes back above its tombstone, and
     * above what it says of itself */
    r = cluster_members_admit(&m, "x@h", "h:2", 7);
    ck_assert(!r->left);
    ck_assert_uint_eq(r->version, 8);
    r = cluster_members_admit(&m, "x@h", "h:3", 1);
    ck_assert_uint_eq(r->version, 9);
    ck_assert_str_eq(r->addr, "h:3");
    cluster_members_fini(&m);
}
END_TEST

START_TEST(test_a_tombstone_beats_a_stale_view)
{
    /* the removed node comes back with its old list: it cannot undo the leave */
    cluster_members_t cluster = { 0 }, stale = { 0 };
    cluster_members_admit(&cluster, "a@h", "h:1", 0);
    cluster_members_admit(&cluster, "c@h", "h:3", 0);
    cluster_members_merge(&stale, &cluster);
    cluster_members_remove(&cluster, "c@h");
    ck_assert_uint_eq(cluster_members_merge(&cluster, &stale), 0);
    ck_assert(cluster_members_find(&cluster, "c@h")->left);
    ck_assert_uint_eq(cluster_members_merge(&stale, &cluster), 1);
    ck_assert(cluster_members_find(&stale, "c@h")->left);
    cluster_members_fini(&cluster);
    cluster_members_fini(&stale);
}
END_TEST

START_TEST(test_history)
{
    cluster_members_t m = { 0 };
    char buf[256];
    ck_assert(!cluster_members_has_history(&m, "me@h"));
    cluster_members_admit(&m, "me@h", "h:1", 0);
    ck_assert(!cluster_members_has_history(&m, "me@h"));
    cluster_members_admit(&m, "b@h", "h:2", 0);
    cluster_members_admit(&m, "c@h", "h:3", 0);
    ck_assert(cluster_members_has_history(&m, "me@h"));
    cluster_members_others(&m, "me@h", buf, sizeof buf);
    ck_assert_str_eq(buf, "b@h, c@h");
    cluster_members_remove(&m, "b@h");
    cluster_members_remove(&m, "c@h");
    cluster_members_others(&m, "me@h", buf, sizeof buf);
    ck_assert_str_eq(buf, "");
    ck_assert(cluster_members_has_history(&m, "me@h"));   /* tombstones are history */
    cluster_members_fini(&m);
}
END_TEST

START_TEST(test_wire_roundtrip_skips_garbage)
{
    cluster_members_t m = { 0 }, back = { 0 };
    cluster_members_admit(&m, "a@10.0.0.1", "10.0.0.1:44053", 4);
    cluster_members_admit(&m, "b@10.0.0.2", "10.0.0.2:44053", 0);
    cluster_members_remove(&m, "b@10.0.0.2");
    size_t n;
    Nmq__ClusterMember **v = cluster_members_to_msg(&m, &n);
    ck_assert_uint_eq(n, 2);
    cluster_members_from_msg(&back, v, n);
    ck_assert(s_same(&m, &back));
    cluster_members_msg_free(v, n);
    /* records another node sends are checked like any input */
    Nmq__ClusterMember bad[5];
    Nmq__ClusterMember *pv[5];
    for (int i = 0; i < 5; i++) {
        nmq__cluster_member__init(&bad[i]);
        bad[i].has_version = true;
        bad[i].version = 3;
        bad[i].name = "ok@h";
        pv[i] = &bad[i];
    }
    bad[0].name = NULL;
    bad[1].name = "no-host";
    bad[2].has_version = false;
    bad[3].version = 0;
    bad[4].name = "good@h";
    cluster_members_t got = { 0 };
    cluster_members_from_msg(&got, pv, 5);
    ck_assert_uint_eq(got.n, 1);
    ck_assert_str_eq(got.v[0].name, "good@h");
    ck_assert_str_eq(got.v[0].addr, "");
    cluster_members_fini(&got);
    cluster_members_fini(&m);
    cluster_members_fini(&back);
}
END_TEST

START_TEST(test_store_records_roundtrip)
{
    cluster_member_t r = s_rec("a@h", "[::1]:44053", 0x0102030405060708ull, true), out;
    uint8_t buf[512];
    size_t n = cluster_store_encode(&r, buf, sizeof buf);
    ck_assert_uint_eq(n, 12 + strlen(r.addr));
    ck_assert_int_eq(buf[0], 1);
    ck_assert_int_eq(cluster_store_decode(buf, n, &out), 0);
    ck_assert_uint_eq(out.version, r.version);
    ck_assert(out.left);
    ck_assert_str_eq(out.addr, r.addr);
    ck_assert_int_eq(cluster_store_decode(buf, n - 1, &out), -1);
    ck_assert_int_eq(cluster_store_decode(buf, 0, &out), -1);
    buf[0] = 9;
    ck_assert_int_eq(cluster_store_decode(buf, n, &out), -1);
    ck_assert_uint_eq(cluster_store_encode(&r, buf, 5), 0);
}
END_TEST

START_TEST(test_store_survives_reopen)
{
    char dir[] = "/tmp/check-cluster-store-XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    char err[512];
    cluster_store_t *s = cluster_store_open(dir, err, sizeof err);
    ck_assert_msg(s != NULL, "%s", err);
    cluster_members_t m = { 0 }, back = { 0 };
    cluster_members_admit(&m, "a@h", "h:1", 0);
    cluster_members_admit(&m, "b@h", "h:2", 5);
    cluster_members_remove(&m, "a@h");
    ck_assert_int_eq(cluster_store_save(s, &m), 0);
    cluster_store_close(&s);
    ck_assert_ptr_null(s);
    s = cluster_store_open(dir, err, sizeof err);
    ck_assert_int_eq(cluster_store_load(s, &back), 0);
    ck_assert(s_same(&m, &back));
    /* a save replaces: a record dropped from memory is dropped on disk */
    cluster_members_t one = { 0 };
    cluster_members_admit(&one, "c@h", "h:3", 0);
    ck_assert_int_eq(cluster_store_save(s, &one), 0);
    cluster_members_fini(&back);
    ck_assert_int_eq(cluster_store_load(s, &back), 0);
    ck_assert(s_same(&one, &back));
    cluster_store_close(&s);
    cluster_members_fini(&m);
    cluster_members_fini(&back);
    cluster_members_fini(&one);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    ck_assert_int_eq(system(cmd), 0);
}
END_TEST

START_TEST(test_message_types_are_named_and_travel_whole)
{
    static const char *const names[] = { "?", "HELLO", "WELCOME", "HEARTBEAT", "MEMBERS", "JOIN", "JOIN_REPLY", "BROKER", "LEAVE" };
    for (unsigned t = 0; t < CLUSTER_MSG_MAX; t++)
        ck_assert_str_eq(cluster_msg_name(t), names[t]);
    ck_assert_str_eq(cluster_msg_name(CLUSTER_MSG_MAX), "?");
    ck_assert_str_eq(cluster_msg_name(1000), "?");
    cluster_members_t m = { 0 };
    cluster_members_admit(&m, "a@h", "h:1", 0);
    cluster_members_admit(&m, "b@h", "h:2", 0);
    Nmq__ClusterMsg msg = NMQ__CLUSTER_MSG__INIT;
    uint8_t nonce[CLUSTER_NONCE_LEN] = { 1, 2, 3 };
    msg.has_type = msg.has_nonce = true;
    msg.type = CLUSTER_MSG_JOIN;
    msg.from = "a@h";
    msg.nonce.len = sizeof nonce;
    msg.nonce.data = nonce;
    msg.members = cluster_members_to_msg(&m, &msg.n_members);
    size_t len = nmq__cluster_msg__get_packed_size(&msg);
    uint8_t *buf = malloc(len);
    nmq__cluster_msg__pack(&msg, buf);
    Nmq__ClusterMsg *back = nmq__cluster_msg__unpack(NULL, len, buf);
    ck_assert_ptr_nonnull(back);
    ck_assert_uint_eq(back->type, CLUSTER_MSG_JOIN);
    ck_assert_str_eq(back->from, "a@h");
    ck_assert_uint_eq(back->nonce.len, sizeof nonce);
    cluster_members_t got = { 0 };
    cluster_members_from_msg(&got, back->members, back->n_members);
    ck_assert(s_same(&m, &got));
    /* truncated bytes are refused, not half-read */
    ck_assert_ptr_null(nmq__cluster_msg__unpack(NULL, len - 1, buf));
    nmq__cluster_msg__free_unpacked(back, NULL);
    cluster_members_msg_free(msg.members, msg.n_members);
    cluster_members_fini(&m);
    cluster_members_fini(&got);
    free(buf);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("cluster_members");
    TCase *tc = tcase_create("merge");
    tcase_add_test(tc, test_higher_version_wins);
    tcase_add_test(tc, test_ties_break_the_same_way_everywhere);
    tcase_add_test(tc, test_merge_order_does_not_matter);
    tcase_add_test(tc, test_join_and_leave_step_versions);
    tcase_add_test(tc, test_a_tombstone_beats_a_stale_view);
    tcase_add_test(tc, test_history);
    tcase_add_test(tc, test_wire_roundtrip_skips_garbage);
    tcase_add_test(tc, test_message_types_are_named_and_travel_whole);
    suite_add_tcase(s, tc);
    TCase *ts = tcase_create("store");
    tcase_add_test(ts, test_store_records_roundtrip);
    tcase_add_test(ts, test_store_survives_reopen);
    suite_add_tcase(s, ts);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
