/* Unit tests: common/nmq_topic_trie.c — the subscription table every
 * acceptor matches PUBLISH topics against.  The wildcard rules with the
 * spec's own examples (MQTT 5.0 section 4.7), delivery once per client with
 * the maximum QoS and all subscription identifiers (3.3.4), No Local,
 * shared groups and member picking, consistency of add / replace / remove /
 * remove_client, and a randomized differential run against a slow matcher
 * written here from the spec's words. */
#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nmq_topic_trie.h"
#include "nmq_topic_validate.h"
#include "topic_ref.h"

static nmq_trie_result_t res;


/* A subscription from a SUBSCRIBE-style filter ("$share/g/x" or "x"). */
static nmq_trie_entry_t s_sub(const char *client, const char *filter, unsigned qos, uint32_t sub_id)
{
    nmq_trie_entry_t e = { .client_id = client, .client_id_len = strlen(client) };
    ck_assert_msg(nmq_trie_entry_set_filter(&e, filter, strlen(filter)), "bad filter %s", filter);
    e.opts.qos = (uint8_t)qos;
    e.opts.sub_id = sub_id;
    return e;
}

static nmq_trie_add_t s_add(nmq_trie_t *t, const char *client, const char *filter, unsigned qos, uint32_t sub_id)
{
    nmq_trie_entry_t e = s_sub(client, filter, qos, sub_id);
    return nmq_trie_add(t, &e);
}

static bool s_remove(nmq_trie_t *t, const char *client, const char *filter)
{
    nmq_trie_entry_t e = s_sub(client, filter, 0, 0);
    return nmq_trie_remove(t, &e);
}

static size_t s_match(nmq_trie_t *t, const char *topic, const char *publisher)
{
    EXPECT(nmq_topic_name_check((const uint8_t *)topic, strlen(topic)) == NMQ_TOPIC_OK, "bad topic %s", topic);
    return nmq_trie_match(t, topic, strlen(topic), publisher, publisher ? strlen(publisher) : 0, &res);
}

static const nmq_trie_recipient_t *s_find(const char *client)
{
    const nmq_trie_recipient_t *found = NULL;
    for (size_t i = 0; i < res.n_recipients; i++)
        if (res.recipients[i].client_id_len == strlen(client) && !strcmp(res.recipients[i].client_id, client)) {
            EXPECT(!found, "%s twice among the recipients", client);
            found = &res.recipients[i];
        }
    return found;
}

/* Does one subscription (client "c" on filter) receive topic? */
static bool s_one(const char *filter, const char *topic)
{
    ck_assert_int_eq(nmq_topic_filter_check((const uint8_t *)filter, strlen(filter), NULL), NMQ_TOPIC_OK);
    nmq_trie_t *t = nmq_trie_new();
    s_add(t, "c", filter, 0, 0);
    size_t n = s_match(t, topic, NULL);
    ck_assert_uint_le(n, 1);
    nmq_trie_destroy(&t);
    return n == 1;
}

#define MATCHES(f, topic) ck_assert_msg(s_one(f, topic), "%s should match %s", f, topic)
#define MISSES(f, topic) ck_assert_msg(!s_one(f, topic), "%s should not match %s", f, topic)

/* --- the wildcard rules: the spec's examples ------------------------------- */

START_TEST(test_multi_level_wildcard_spec_examples)
{
    /* 4.7.1.2 */
    MATCHES("sport/tennis/player1/#", "sport/tennis/player1");
    MATCHES("sport/tennis/player1/#", "sport/tennis/player1/ranking");
    MATCHES("sport/tennis/player1/#", "sport/tennis/player1/score/wimbledon");
    MATCHES("sport/#", "sport");                    /* the parent level too */
    MATCHES("#", "sport/tennis/player1");
    MATCHES("#", "/");
    MATCHES("#", "a");
    MISSES("sport/tennis/player1/#", "sport/tennis/player2");
    MISSES("sport/tennis/player1/#", "sport/tennis");
    MISSES("sport/#", "sports");
    MATCHES("sport/#", "sport/");                   /* an empty last level */
}
END_TEST

START_TEST(test_single_level_wildcard_spec_examples)
{
    /* 4.7.1.3 */
    MATCHES("sport/tennis/+", "sport/tennis/player1");
    MATCHES("sport/tennis/+", "sport/tennis/player2");
    MISSES("sport/tennis/+", "sport/tennis/player1/ranking");
    MISSES("sport/+", "sport");
    MATCHES("sport/+", "sport/");
    MATCHES("+", "sport");
    MATCHES("+/tennis/#", "sport/tennis/player1");
    MATCHES("sport/+/player1", "sport/tennis/player1");
    MISSES("sport/+/player1", "sport/tennis/player2");
    MATCHES("+/+", "/finance");
    MATCHES("/+", "/finance");
    MISSES("+", "/finance");
    MATCHES("+/+/+", "a/b/c");
    MISSES("+/+/+", "a/b");
    MISSES("+/+/+", "a/b/c/d");
    MATCHES("+/#", "a");                            /* '#' on the parent of '+' */
}
END_TEST

START_TEST(test_dollar_topics_and_wildcards)
{
    /* 4.7.2 [MQTT-4.7.2-1] */
    MISSES("#", "$SYS/monitor/Clients");
    MISSES("+/monitor/Clients", "$SYS/monitor/Clients");
    MISSES("+", "$SYS");
    MISSES("+/#", "$SYS/x");
    MATCHES("$SYS/#", "$SYS/monitor/Clients");
    MATCHES("$SYS/#", "$SYS");
    MATCHES("$SYS/monitor/+", "$SYS/monitor/Clients");
    MATCHES("$SYS/+/Clients", "$SYS/monitor/Clients");
    MATCHES("$SYS", "$SYS");
    MISSES("$sys/#", "$SYS/x");
    /* only the first level counts */
    MATCHES("a/+", "a/$b");
    MATCHES("#", "a/$b");
    MATCHES("a/#", "a/$b/c");
    /* '$' elsewhere in the first level is an ordinary character */
    MATCHES("+", "a$");
    MATCHES("#", "a$/b");
}
END_TEST

START_TEST(test_levels_literal_case_and_empty)
{
    MATCHES("a//b", "a//b");
    MATCHES("a/+/b", "a//b");
    MATCHES("+/+/+", "a//b");
    MISSES("a/b", "a//b");
    MISSES("a//b", "a/b");
    MATCHES("/", "/");
    MATCHES("+/+", "/");
    MATCHES("/#", "/");
    MATCHES("+/#", "/");
    MISSES("+", "/");
    MATCHES("//", "//");
    MISSES("/", "//");
    MISSES("ACCOUNTS", "Accounts");                 /* case-sensitive */
    MATCHES("Accounts payable", "Accounts payable"); /* spaces are characters */
    MATCHES("a/b", "a/b");
    MISSES("a/b", "a/b/");
    MISSES("a/b/", "a/b");
    MISSES("a", "a/b");
    MISSES("a/b", "a");
    MATCHES("é/+", "é/ü");
}
END_TEST

/* --- one delivery per client ----------------------------------------------- */

START_TEST(test_overlapping_subscriptions_deliver_once_with_max_qos_and_all_ids)
{
    nmq_trie_t *t = nmq_trie_new();
    s_add(t, "c", "a/+", 1, 5);
    s_add(t, "c", "a/#", 2, 7);
    s_add(t, "c", "a/b", 0, 0);
    s_add(t, "c", "#", 0, 3);
    s_add(t, "d", "a/b", 1, 9);
    s_add(t, "e", "x/y", 2, 1);
    ck_assert_uint_eq(s_match(t, "a/b", NULL), 2);
    ck_assert_uint_eq(res.n_shares, 0);
    const nmq_trie_recipient_t *c = s_find("c"), *d = s_find("d");
    ck_assert_ptr_nonnull(c);
    ck_assert_ptr_nonnull(d);
    ck_assert_ptr_null(s_find("e"));
    ck_assert_uint_eq(c->qos, 2);
    ck_assert_uint_eq(c->n_sub_ids, 3);
    ck_assert_uint_eq(c->sub_ids[0], 3);     /* ascending */
    ck_assert_uint_eq(c->sub_ids[1], 5);
    ck_assert_uint_eq(c->sub_ids[2], 7);
    ck_assert_uint_eq(d->qos, 1);
    ck_assert_uint_eq(d->n_sub_ids, 1);
    ck_assert_uint_eq(d->sub_ids[0], 9);
    /* fewer matching filters: fewer ids, lower QoS */
    ck_assert_uint_eq(s_match(t, "a/c/d", NULL), 1);
    c = s_find("c");
    ck_assert_uint_eq(c->qos, 2);
    ck_assert_uint_eq(c->n_sub_ids, 2);
    ck_assert_uint_eq(c->sub_ids[0], 3);
    ck_assert_uint_eq(c->sub_ids[1], 7);
    ck_assert_uint_eq(s_match(t, "z", NULL), 1);
    c = s_find("c");
    ck_assert_uint_eq(c->qos, 0);
    ck_assert_uint_eq(c->n_sub_ids, 1);
    nmq_trie_destroy(&t);
}
END_TEST

START_TEST(test_same_identifier_on_two_filters_is_given_once)
{
    nmq_trie_t *t = nmq_trie_new();
    s_add(t, "c", "a/+", 0, 4);
    s_add(t, "c", "+/b", 1, 4);
    s_add(t, "c", "a/b", 0, 0);
    ck_assert_uint_eq(s_match(t, "a/b", NULL), 1);
    ck_assert_uint_eq(res.recipients[0].n_sub_ids, 1);
    ck_assert_uint_eq(res.recipients[0].sub_ids[0], 4);
    ck_assert_uint_eq(res.recipients[0].qos, 1);
    /* no identifier anywhere: none reported */
    nmq_trie_remove_client(t, "c", 1);
    s_add(t, "c", "a/b", 0, 0);
    ck_assert_uint_eq(s_match(t, "a/b", NULL), 1);
    ck_assert_uint_eq(res.recipients[0].n_sub_ids, 0);
    ck_assert_ptr_null(res.recipients[0].sub_ids);
    nmq_trie_destroy(&t);
}
END_TEST

START_TEST(test_retain_as_published_if_any_matching_subscription_asks)
{
    nmq_trie_t *t = nmq_trie_new();
    nmq_trie_entry_t a = s_sub("c", "a/+", 0, 0), b = s_sub("c", "a/b", 0, 0);
    b.opts.retain_as_published = 1;
    b.opts.retain_handling = 2;
    nmq_trie_add(t, &a);
    nmq_trie_add(t, &b);
    s_match(t, "a/b", NULL);
    ck_assert_uint_eq(res.recipients[0].retain_as_published, 1);
    s_match(t, "a/c", NULL);
    ck_assert_uint_eq(res.recipients[0].retain_as_published, 0);
    ck_assert_uint_eq(nmq_trie_get(t, &b)->opts.retain_handling, 2);
    nmq_trie_destroy(&t);
}
END_TEST

START_TEST(test_no_local_skips_only_the_publishers_own_subscription)
{
    nmq_trie_t *t = nmq_trie_new();
    nmq_trie_entry_t own = s_sub("c", "a/b", 1, 1);
    own.opts.no_local = 1;
    nmq_trie_add(t, &own);
    nmq_trie_entry_t other = s_sub("d", "a/b", 1, 2);
    other.opts.no_local = 1;
    nmq_trie_add(t, &other);
    ck_assert_uint_eq(s_match(t, "a/b", "c"), 1);
    ck_assert_ptr_null(s_find("c"));
    ck_assert_ptr_nonnull(s_find("d"));
    /* a client id that is a prefix of the publisher's is someone else */
    ck_assert_uint_eq(s_match(t, "a/b", "cc"), 2);
    /* from the broker itself (no publisher): no_local never applies */
    ck_assert_uint_eq(s_match(t, "a/b", NULL), 2);
    /* c's other matching subscription still delivers, with its own QoS and id */
    s_add(t, "c", "a/#", 0, 3);
    ck_assert_uint_eq(s_match(t, "a/b", "c"), 2);
    const nmq_trie_recipient_t *c = s_find("c");
    ck_assert_uint_eq(c->qos, 0);
    ck_assert_uint_eq(c->n_sub_ids, 1);
    ck_assert_uint_eq(c->sub_ids[0], 3);
    nmq_trie_destroy(&t);
}
END_TEST

/* --- shared subscriptions -------------------------------------------------- */

static int s_cmp_str(const void *a, const void *b) { return strcmp(*(const char *const *)a, *(const char *const *)b); }

/* "g|a/+|c1,c2" for a share of the last match, members sorted. */
static void s_share_str(const nmq_trie_share_t *sh, char *buf, size_t cap)
{
    const char *ids[64];
    EXPECT(sh->n_members <= 64, "%zu members", sh->n_members);
    for (size_t i = 0; i < sh->n_members; i++)
        ids[i] = sh->members[i]->client_id;
    qsort(ids, sh->n_members, sizeof *ids, s_cmp_str);
    int n = snprintf(buf, cap, "%s|%s|", sh->group, sh->filter);
    for (size_t i = 0; i < sh->n_members; i++)
        n += snprintf(buf + n, cap - (size_t)n, "%s%s", i ? "," : "", ids[i]);
}

static bool s_has_share(const char *want)
{
    char buf[512];
    int found = 0;
    for (size_t i = 0; i < res.n_shares; i++) {
        s_share_str(&res.shares[i], buf, sizeof buf);
        found += !strcmp(buf, want);
    }
    EXPECT(found <= 1, "%s twice", want);
    return found;
}

START_TEST(test_shared_groups_are_reported_per_group_and_filter)
{
    nmq_trie_t *t = nmq_trie_new();
    ck_assert_int_eq(s_add(t, "c1", "$share/g/a/+", 1, 0), NMQ_TRIE_ADDED);
    ck_assert_int_eq(s_add(t, "c2", "$share/g/a/+", 0, 0), NMQ_TRIE_ADDED);
    ck_assert_int_eq(s_add(t, "c3", "$share/h/a/+", 0, 0), NMQ_TRIE_ADDED);
    ck_assert_int_eq(s_add(t, "c4", "$share/g/a/b", 0, 0), NMQ_TRIE_ADDED);
    /* the same client in two groups, and ordinary on the same filter: distinct */
    ck_assert_int_eq(s_add(t, "c1", "$share/h/a/+", 2, 0), NMQ_TRIE_ADDED);
    ck_assert_int_eq(s_add(t, "c1", "a/+", 0, 0), NMQ_TRIE_ADDED);
    ck_assert_uint_eq(nmq_trie_count(t), 6);
    ck_assert_uint_eq(s_match(t, "a/b", NULL), 4);
    ck_assert_uint_eq(res.n_recipients, 1);
    ck_assert_ptr_nonnull(s_find("c1"));
    ck_assert_uint_eq(res.n_shares, 3);
    ck_assert(s_has_share("g|a/+|c1,c2"));
    ck_assert(s_has_share("h|a/+|c1,c3"));
    ck_assert(s_has_share("g|a/b|c4"));
    for (size_t i = 0; i < res.n_shares; i++)
        for (size_t j = 0; j < res.shares[i].n_members; j++) {
            const nmq_trie_entry_t *m = res.shares[i].members[j];
            ck_assert_str_eq(m->group, res.shares[i].group);
            ck_assert_str_eq(m->filter, res.shares[i].filter);
        }
    /* the share's member carries its own options */
    for (size_t i = 0; i < res.n_shares; i++)
        if (!strcmp(res.shares[i].group, "h"))
            for (size_t j = 0; j < res.shares[i].n_members; j++)
                if (!strcmp(res.shares[i].members[j]->client_id, "c1"))
                    ck_assert_uint_eq(res.shares[i].members[j]->opts.qos, 2);
    /* removing a member: the group shrinks; the last one: the group goes */
    ck_assert(s_remove(t, "c2", "$share/g/a/+"));
    ck_assert(!s_remove(t, "c2", "$share/g/a/+"));
    ck_assert(!s_remove(t, "c3", "$share/g/a/+"));   /* wrong group */
    ck_assert(!s_remove(t, "c3", "a/+"));            /* not shared */
    s_match(t, "a/b", NULL);
    ck_assert(s_has_share("g|a/+|c1"));
    ck_assert(s_remove(t, "c4", "$share/g/a/b"));
    s_match(t, "a/b", NULL);
    ck_assert_uint_eq(res.n_shares, 2);
    ck_assert(!s_has_share("g|a/b|c4"));
    /* '$' rule applies to the filter inside the share */
    s_add(t, "c5", "$share/g/#", 0, 0);
    s_match(t, "$SYS/x", NULL);
    ck_assert_uint_eq(res.n_shares, 0);
    s_match(t, "x", NULL);
    ck_assert(s_has_share("g|#|c5"));
    nmq_trie_destroy(&t);
}
END_TEST

START_TEST(test_entry_set_filter_splits_shares)
{
    nmq_trie_entry_t e = { 0 };
    ck_assert(nmq_trie_entry_set_filter(&e, "$share/grp/a/+/#", 16));
    ck_assert_uint_eq(e.group_len, 3);
    ck_assert(!memcmp(e.group, "grp", 3));
    ck_assert_uint_eq(e.filter_len, 5);
    ck_assert(!memcmp(e.filter, "a/+/#", 5));
    ck_assert(nmq_trie_entry_set_filter(&e, "a/b", 3));
    ck_assert_ptr_null(e.group);
    ck_assert_uint_eq(e.filter_len, 3);
    ck_assert(!nmq_trie_entry_set_filter(&e, "a/#/b", 5));
    ck_assert(!nmq_trie_entry_set_filter(&e, "$share/g", 8));
    ck_assert(!nmq_trie_entry_set_filter(&e, "", 0));
}
END_TEST

typedef struct {
    const char *online[8];  /* rank 2 */
    const char *dead[8];    /* rank 0; everyone else 1 */
} s_ranks_t;

static bool s_in(const char *const *list, const char *id)
{
    for (; *list; list++)
        if (!strcmp(*list, id))
            return true;
    return false;
}

static unsigned s_rank(const nmq_trie_entry_t *m, void *arg)
{
    const s_ranks_t *r = arg;
    return s_in(r->dead, m->client_id) ? 0 : s_in(r->online, m->client_id) ? 2 : 1;
}

static const nmq_trie_share_t *s_setup_share(nmq_trie_t *t, int members)
{
    char id[16];
    for (int i = 0; i < members; i++) {
        snprintf(id, sizeof id, "m%d", i);
        s_add(t, id, "$share/g/job/+", 1, 0);
    }
    ck_assert_uint_eq(s_match(t, "job/1", NULL), 1);
    return &res.shares[0];
}

START_TEST(test_share_pick_random_is_uniform_among_the_best_and_seeded)
{
    nmq_trie_t *t = nmq_trie_new();
    const nmq_trie_share_t *sh = s_setup_share(t, 6);
    s_ranks_t everyone = { { NULL }, { NULL } };
    int counts[6] = { 0 };
    uint64_t rng = 12345;
    for (int i = 0; i < 6000; i++) {
        const nmq_trie_entry_t *m = nmq_trie_share_pick(sh, NMQ_TRIE_PICK_RANDOM, s_rank, &everyone, &rng);
        counts[m->client_id[1] - '0']++;
    }
    for (int i = 0; i < 6; i++) {
        ck_assert_int_gt(counts[i], 800);
        ck_assert_int_lt(counts[i], 1200);
    }
    /* the same seed, the same picks */
    uint64_t r1 = 99, r2 = 99;
    for (int i = 0; i < 100; i++)
        ck_assert_ptr_eq(nmq_trie_share_pick(sh, NMQ_TRIE_PICK_RANDOM, s_rank, &everyone, &r1),
                         nmq_trie_share_pick(sh, NMQ_TRIE_PICK_RANDOM, s_rank, &everyone, &r2));
    /* online beats offline; the dead never win */
    s_ranks_t some = { { "m2", "m4", NULL }, { "m4", NULL } };
    for (int i = 0; i < 200; i++)
        ck_assert_str_eq(nmq_trie_share_pick(sh, NMQ_TRIE_PICK_RANDOM, s_rank, &some, &rng)->client_id, "m2");
    s_ranks_t dead_online = { { "m1", NULL }, { "m1", "m0", NULL } };
    for (int i = 0; i < 200; i++) {
        const char *id = nmq_trie_share_pick(sh, NMQ_TRIE_PICK_RANDOM, s_rank, &dead_online, &rng)->client_id;
        ck_assert(strcmp(id, "m0") && strcmp(id, "m1"));
    }
    s_ranks_t all_dead = { { NULL }, { "m0", "m1", "m2", "m3", "m4", "m5", NULL } };
    ck_assert_ptr_null(nmq_trie_share_pick(sh, NMQ_TRIE_PICK_RANDOM, s_rank, &all_dead, &rng));
    ck_assert_ptr_null(nmq_trie_share_pick(sh, NMQ_TRIE_PICK_ROUND_ROBIN, s_rank, &all_dead, &rng));
    nmq_trie_destroy(&t);
}
END_TEST

START_TEST(test_share_pick_round_robin_cycles_over_the_eligible)
{
    nmq_trie_t *t = nmq_trie_new();
    const nmq_trie_share_t *sh = s_setup_share(t, 4);
    s_ranks_t everyone = { { NULL }, { NULL } };
    uint64_t rng = 1;
    const nmq_trie_entry_t *seen[8];
    for (int i = 0; i < 8; i++)
        seen[i] = nmq_trie_share_pick(sh, NMQ_TRIE_PICK_ROUND_ROBIN, s_rank, &everyone, &rng);
    for (int i = 0; i < 4; i++) {
        ck_assert_ptr_eq(seen[i], seen[i + 4]);             /* a cycle of 4 */
        for (int j = 0; j < i; j++)
            ck_assert_ptr_ne(seen[i], seen[j]);             /* each once */
    }
    /* the position is kept in the trie: a fresh match continues the cycle */
    ck_assert_ptr_eq(nmq_trie_share_pick(sh, NMQ_TRIE_PICK_ROUND_ROBIN, s_rank, &everyone, &rng), seen[0]);
    s_match(t, "job/2", NULL);
    ck_assert_ptr_eq(nmq_trie_share_pick(&res.shares[0], NMQ_TRIE_PICK_ROUND_ROBIN, s_rank, &everyone, &rng),
                     seen[1]);
    /* a dead member is skipped, the rest still alternate */
    s_ranks_t one_dead = { { NULL }, { "m0", NULL } };
    for (int i = 0; i < 9; i++)
        ck_assert_str_ne(nmq_trie_share_pick(&res.shares[0], NMQ_TRIE_PICK_ROUND_ROBIN, s_rank, &one_dead, &rng)->client_id, "m0");
    nmq_trie_destroy(&t);
}
END_TEST

/* --- changes keep the views consistent ------------------------------------- */

START_TEST(test_add_replaces_options_of_the_same_subscription)
{
    nmq_trie_t *t = nmq_trie_new();
    ck_assert_int_eq(s_add(t, "c", "a/b", 0, 1), NMQ_TRIE_ADDED);
    ck_assert_int_eq(s_add(t, "c", "a/b", 2, 8), NMQ_TRIE_REPLACED);
    ck_assert_uint_eq(nmq_trie_count(t), 1);
    ck_assert_uint_eq(nmq_trie_clients(t), 1);
    s_match(t, "a/b", NULL);
    ck_assert_uint_eq(res.n_recipients, 1);
    ck_assert_uint_eq(res.recipients[0].qos, 2);
    ck_assert_uint_eq(res.recipients[0].sub_ids[0], 8);
    nmq_trie_entry_t key = s_sub("c", "a/b", 0, 0);
    const nmq_trie_entry_t *e = nmq_trie_get(t, &key);
    ck_assert_ptr_nonnull(e);
    ck_assert_str_eq(e->client_id, "c");
    ck_assert_str_eq(e->filter, "a/b");
    ck_assert_ptr_null(e->group);
    ck_assert_uint_eq(e->opts.qos, 2);
    /* another client or filter is another subscription */
    ck_assert_int_eq(s_add(t, "d", "a/b", 0, 0), NMQ_TRIE_ADDED);
    ck_assert_int_eq(s_add(t, "c", "a/b/", 0, 0), NMQ_TRIE_ADDED);
    ck_assert_int_eq(s_add(t, "c", "$share/a/b", 0, 0), NMQ_TRIE_ADDED);   /* group a, filter b */
    ck_assert_uint_eq(nmq_trie_count(t), 4);
    nmq_trie_destroy(&t);
}
END_TEST

START_TEST(test_remove_and_remove_client)
{
    nmq_trie_t *t = nmq_trie_new();
    s_add(t, "c", "a/b", 0, 0);
    s_add(t, "c", "a/+", 0, 0);
    s_add(t, "c", "$share/g/a/b", 0, 0);
    s_add(t, "d", "a/b", 0, 0);
    s_add(t, "d", "a/b/c/d/e", 0, 0);
    ck_assert_uint_eq(nmq_trie_count(t), 5);
    ck_assert_uint_eq(nmq_trie_clients(t), 2);
    ck_assert(!s_remove(t, "c", "a/c"));
    ck_assert(!s_remove(t, "e", "a/b"));
    ck_assert(s_remove(t, "d", "a/b/c/d/e"));   /* prunes a/b/c/d/e but keeps a/b */
    ck_assert_uint_eq(s_match(t, "a/b/c/d/e", NULL), 0);
    ck_assert_uint_eq(s_match(t, "a/b", NULL), 3);
    ck_assert_uint_eq(nmq_trie_remove_client(t, "c", 1), 3);
    ck_assert_uint_eq(nmq_trie_remove_client(t, "c", 1), 0);
    ck_assert_uint_eq(nmq_trie_count(t), 1);
    ck_assert_uint_eq(nmq_trie_clients(t), 1);
    ck_assert_uint_eq(s_match(t, "a/b", NULL), 1);
    ck_assert_ptr_nonnull(s_find("d"));
    ck_assert_uint_eq(s_match(t, "a/x", NULL), 0);
    ck_assert(s_remove(t, "d", "a/b"));
    ck_assert_uint_eq(nmq_trie_count(t), 0);
    ck_assert_uint_eq(nmq_trie_clients(t), 0);
    ck_assert_uint_eq(s_match(t, "a/b", NULL), 0);
    /* and it all grows back */
    s_add(t, "c", "a/b", 1, 0);
    ck_assert_uint_eq(s_match(t, "a/b", NULL), 1);
    nmq_trie_destroy(&t);
    ck_assert_ptr_null(t);
}
END_TEST

typedef struct {
    char seen[16][64];
    int n;
} s_list_t;

static int s_list(const nmq_trie_entry_t *e, void *arg)
{
    s_list_t *l = arg;
    snprintf(l->seen[l->n++], 64, "%s %s%s%s q%u", e->client_id, e->group ? e->group : "",
             e->group ? ":" : "", e->filter, e->opts.qos);
    return 0;
}

static int s_stop_at_two(const nmq_trie_entry_t *e, void *arg) { return ++*(int *)arg == 2; }

START_TEST(test_each_and_client_each_list_subscriptions)
{
    nmq_trie_t *t = nmq_trie_new();
    s_add(t, "c", "a/b", 1, 0);
    s_add(t, "c", "$share/g/x/#", 2, 0);
    s_add(t, "c", "+", 0, 0);
    s_add(t, "d", "a/b", 0, 0);
    s_list_t l = { .n = 0 };
    ck_assert_uint_eq(nmq_trie_client_each(t, "c", 1, s_list, &l), 3);
    qsort(l.seen, (size_t)l.n, sizeof l.seen[0], (int (*)(const void *, const void *))strcmp);
    ck_assert_str_eq(l.seen[0], "c + q0");
    ck_assert_str_eq(l.seen[1], "c a/b q1");
    ck_assert_str_eq(l.seen[2], "c g:x/# q2");
    l.n = 0;
    ck_assert_uint_eq(nmq_trie_client_each(t, "nobody", 6, s_list, &l), 0);
    ck_assert_uint_eq(nmq_trie_each(t, s_list, &l), 4);
    int stops = 0;
    ck_assert_uint_eq(nmq_trie_each(t, s_stop_at_two, &stops), 2);
    stops = 0;
    ck_assert_uint_eq(nmq_trie_client_each(t, "c", 1, s_stop_at_two, &stops), 2);
    nmq_trie_destroy(&t);
}
END_TEST

START_TEST(test_result_buffer_is_reused_and_reset)
{
    nmq_trie_t *t = nmq_trie_new();
    char id[16];
    for (int i = 0; i < 1000; i++) {
        snprintf(id, sizeof id, "c%d", i);
        s_add(t, id, "big/#", 1, (uint32_t)i + 1);
    }
    s_add(t, "x", "small", 0, 0);
    ck_assert_uint_eq(s_match(t, "big/1", NULL), 1000);
    nmq_trie_recipient_t *before = res.recipients;
    ck_assert_uint_eq(s_match(t, "small", NULL), 1);
    ck_assert_str_eq(res.recipients[0].client_id, "x");
    ck_assert_uint_eq(res.recipients[0].n_sub_ids, 0);
    ck_assert_uint_eq(s_match(t, "none", NULL), 0);
    ck_assert_uint_eq(s_match(t, "big", NULL), 1000);
    ck_assert_ptr_eq(res.recipients, before);    /* no new allocation */
    for (size_t i = 0; i < res.n_recipients; i++) {
        ck_assert_uint_eq(res.recipients[i].n_sub_ids, 1);
        ck_assert_uint_eq(res.recipients[i].sub_ids[0], (uint32_t)atoi(res.recipients[i].client_id + 1) + 1);
    }
    nmq_trie_result_free(&res);
    ck_assert_ptr_null(res.recipients);
    nmq_trie_destroy(&t);
}
END_TEST

START_TEST(test_long_client_ids_and_deep_topics)
{
    nmq_trie_t *t = nmq_trie_new();
    size_t idlen = 65535;
    char *id = malloc(idlen + 1);
    memset(id, 'x', idlen);
    id[idlen] = '\0';
    s_add(t, id, "#", 1, 0);
    /* 32767 levels, all empty but the last */
    size_t tlen = 65535;
    char *topic = malloc(tlen + 1);
    memset(topic, '/', tlen);
    topic[tlen - 1] = 'z';
    topic[tlen] = '\0';
    char *filter = strdup(topic);
    filter[tlen - 1] = '+';
    s_add(t, "deep", filter, 2, 0);
    s_add(t, "almost", "/////#", 0, 0);
    ck_assert_uint_eq(s_match(t, topic, NULL), 3);
    ck_assert_uint_eq(s_find(id)->client_id_len, idlen);
    ck_assert_uint_eq(s_find("deep")->qos, 2);
    ck_assert_ptr_nonnull(s_find("almost"));
    ck_assert_uint_eq(nmq_trie_remove_client(t, id, idlen), 1);
    free(filter);
    free(topic);
    free(id);
    nmq_trie_destroy(&t);
}
END_TEST

/* --- randomized differential against a slow matcher ------------------------ */

START_TEST(test_reference_matcher_agrees_with_the_spec)
{
    ck_assert(ref_match("sport/#", "sport"));
    ck_assert(ref_match("+/+", "/finance"));
    ck_assert(!ref_match("+", "/finance"));
    ck_assert(!ref_match("#", "$SYS/a"));
    ck_assert(ref_match("a//b", "a//b"));
    ck_assert(!ref_match("a/b", "a/b/"));
    ck_assert(ref_match("a/+", "a/"));
    ck_assert(!ref_match("a/+/#", "a"));
}
END_TEST

#define N_CLIENTS 40
#define N_GROUPS 3

typedef struct {
    int client, group;          /* group -1: ordinary */
    char filter[48];
    nmq_trie_opts_t opts;
    bool live;
} ref_sub_t;

static char s_cid[N_CLIENTS][16], s_gid[N_GROUPS][16];

static nmq_trie_entry_t s_ref_entry(const ref_sub_t *r)
{
    return (nmq_trie_entry_t){
        .client_id = s_cid[r->client], .client_id_len = strlen(s_cid[r->client]),
        .group = r->group >= 0 ? s_gid[r->group] : NULL,
        .group_len = r->group >= 0 ? strlen(s_gid[r->group]) : 0,
        .filter = r->filter, .filter_len = strlen(r->filter), .opts = r->opts,
    };
}

static void s_check_topic(nmq_trie_t *t, ref_sub_t *subs, int n_subs, const char *topic, int publisher)
{
    const char *pub = publisher >= 0 ? s_cid[publisher] : NULL;
    s_match(t, topic, pub);
    /* ordinary: per client, max QoS, any rap, sorted distinct ids */
    int want_qos[N_CLIENTS], want_rap[N_CLIENTS], n_want = 0;
    uint32_t want_ids[N_CLIENTS][64];
    int n_ids[N_CLIENTS];
    for (int c = 0; c < N_CLIENTS; c++)
        want_qos[c] = -1, want_rap[c] = 0, n_ids[c] = 0;
    char want_shares[64][512];
    int n_shares = 0;
    for (int i = 0; i < n_subs; i++) {
        ref_sub_t *r = &subs[i];
        if (!r->live || !ref_match(r->filter, topic))
            continue;
        if (r->group >= 0) {
            /* build "g|filter|" keys; members are added below */
            char key[512];
            snprintf(key, sizeof key, "%s|%s|", s_gid[r->group], r->filter);
            int k = 0;
            while (k < n_shares && strcmp(want_shares[k], key))
                k++;
            if (k == n_shares)
                strcpy(want_shares[n_shares++], key);
            continue;
        }
        if (r->opts.no_local && r->client == publisher)
            continue;
        int c = r->client;
        if (want_qos[c] < 0)
            n_want++;
        if (r->opts.qos > want_qos[c])
            want_qos[c] = r->opts.qos;
        want_rap[c] |= r->opts.retain_as_published;
        if (r->opts.sub_id) {
            int j = 0;
            while (j < n_ids[c] && want_ids[c][j] != r->opts.sub_id)
                j++;
            if (j == n_ids[c])
                want_ids[c][n_ids[c]++] = r->opts.sub_id;
        }
    }
    EXPECT(res.n_recipients == (size_t)n_want, "%s: %zu recipients, want %d", topic, res.n_recipients, n_want);
    for (int c = 0; c < N_CLIENTS; c++) {
        const nmq_trie_recipient_t *got = s_find(s_cid[c]);
        if (want_qos[c] < 0) {
            EXPECT(!got, "%s got %s", s_cid[c], topic);
            continue;
        }
        EXPECT(got, "%s missed %s", s_cid[c], topic);
        EXPECT(got->qos == want_qos[c], "%s: %s qos %u, want %d", topic, s_cid[c], got->qos, want_qos[c]);
        EXPECT(got->retain_as_published == want_rap[c], "%s: %s retain_as_published", topic, s_cid[c]);
        EXPECT(got->n_sub_ids == (uint32_t)n_ids[c], "%s: %s %u ids, want %d", topic, s_cid[c], got->n_sub_ids, n_ids[c]);
        for (int j = 0; j < n_ids[c]; j++) {
            bool found = false;
            for (uint32_t k = 0; k < got->n_sub_ids; k++)
                found |= got->sub_ids[k] == want_ids[c][j];
            EXPECT(found, "%s: %s lacks id %u", topic, s_cid[c], want_ids[c][j]);
        }
        for (uint32_t k = 1; k < got->n_sub_ids; k++)
            EXPECT(got->sub_ids[k - 1] < got->sub_ids[k], "%s: %s ids not ascending", topic, s_cid[c]);
    }
    /* shared: the same (group, filter) set, each with its members */
    EXPECT(res.n_shares == (size_t)n_shares, "%s: %zu shares, want %d", topic, res.n_shares, n_shares);
    for (int k = 0; k < n_shares; k++) {
        const char *ids[N_CLIENTS];
        int n = 0;
        for (int i = 0; i < n_subs; i++) {
            ref_sub_t *r = &subs[i];
            char key[512];
            if (!r->live || r->group < 0)
                continue;
            snprintf(key, sizeof key, "%s|%s|", s_gid[r->group], r->filter);
            if (!strcmp(key, want_shares[k]))
                ids[n++] = s_cid[r->client];
        }
        qsort(ids, (size_t)n, sizeof *ids, s_cmp_str);
        for (int j = 0; j < n; j++)
            snprintf(want_shares[k] + strlen(want_shares[k]), 512 - strlen(want_shares[k]), "%s%s", j ? "," : "", ids[j]);
        EXPECT(s_has_share(want_shares[k]), "missing share %s for %s", want_shares[k], topic);
    }
}

static int s_count_each(const nmq_trie_entry_t *e, void *arg)
{
    (*(size_t *)arg)++;
    return 0;
}

START_TEST(test_randomized_against_the_reference)
{
    enum { MAX_SUBS = 20000, ROUNDS = 40, OPS = 400, TOPICS = 200 };
    static ref_sub_t subs[MAX_SUBS];
    int n_subs = 0;
    for (int c = 0; c < N_CLIENTS; c++)
        snprintf(s_cid[c], sizeof s_cid[c], "c%d", c);
    for (int g = 0; g < N_GROUPS; g++)
        snprintf(s_gid[g], sizeof s_gid[g], "g%d", g);
    srandom(7);
    nmq_trie_t *t = nmq_trie_new();
    size_t live = 0, topics_checked = 0, delivered = 0;
    for (int round = 0; round < ROUNDS; round++) {
        for (int op = 0; op < OPS; op++) {
            int what = (int)(random() % 100);
            if (what < 85 && n_subs < MAX_SUBS) {
                ref_sub_t r = { .client = (int)(random() % N_CLIENTS), .live = true };
                r.group = random() % 5 == 0 ? (int)(random() % N_GROUPS) : -1;
                ref_random_levels(r.filter, sizeof r.filter, true);
                r.opts.qos = (uint8_t)(random() % 3);
                r.opts.no_local = r.group < 0 && random() % 4 == 0;
                r.opts.retain_as_published = random() % 3 == 0;
                r.opts.sub_id = random() % 3 ? (uint32_t)(random() % 8) : 0;
                /* one record per identity, so that a removed one can come back */
                int same = n_subs;
                for (int i = 0; i < n_subs; i++)
                    if (subs[i].client == r.client && subs[i].group == r.group && !strcmp(subs[i].filter, r.filter))
                        same = i;
                nmq_trie_entry_t e = s_ref_entry(&r);
                bool was = same < n_subs && subs[same].live;
                EXPECT(nmq_trie_add(t, &e) == (was ? NMQ_TRIE_REPLACED : NMQ_TRIE_ADDED), "add %s %s", s_cid[r.client], r.filter);
                live += !was;
                subs[same] = r;
                n_subs += same == n_subs;
            } else if (what < 98 && n_subs) {
                ref_sub_t *r = &subs[random() % n_subs];
                nmq_trie_entry_t e = s_ref_entry(r);
                EXPECT(nmq_trie_remove(t, &e) == r->live, "remove %s %s", s_cid[r->client], r->filter);
                live -= r->live;
                r->live = false;
            } else {
                int c = (int)(random() % N_CLIENTS);
                size_t had = 0;
                for (int i = 0; i < n_subs; i++)
                    if (subs[i].live && subs[i].client == c) {
                        subs[i].live = false;
                        had++;
                    }
                EXPECT(nmq_trie_remove_client(t, s_cid[c], strlen(s_cid[c])) == had, "remove_client %s", s_cid[c]);
                live -= had;
            }
        }
        EXPECT(nmq_trie_count(t) == live, "count %zu, want %zu", nmq_trie_count(t), live);
        size_t visited = 0;
        nmq_trie_each(t, s_count_each, &visited);
        EXPECT(visited == live, "each visited %zu, want %zu", visited, live);
        for (int k = 0; k < TOPICS; k++) {
            char topic[48];
            ref_random_levels(topic, sizeof topic, false);
            int publisher = random() % 3 ? (int)(random() % N_CLIENTS) : -1;
            s_check_topic(t, subs, n_subs, topic, publisher);
            topics_checked++;
            delivered += res.n_recipients + res.n_shares;
        }
        for (int i = 0; i < n_subs; i++) {
            nmq_trie_entry_t e = s_ref_entry(&subs[i]);
            const nmq_trie_entry_t *got = nmq_trie_get(t, &e);
            EXPECT(!got == !subs[i].live, "get %s %s", s_cid[subs[i].client], subs[i].filter);
            if (got)
                EXPECT(!memcmp(&got->opts, &subs[i].opts, sizeof got->opts), "options of %s %s", s_cid[subs[i].client], subs[i].filter);
        }
    }
    ck_assert_uint_eq(topics_checked, ROUNDS * TOPICS);
    ck_assert_uint_gt(delivered, topics_checked * 3);   /* the run did meet subscribers */
    nmq_trie_destroy(&t);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("topic_trie");
    TCase *rules = tcase_create("wildcards");
    tcase_add_test(rules, test_multi_level_wildcard_spec_examples);
    tcase_add_test(rules, test_single_level_wildcard_spec_examples);
    tcase_add_test(rules, test_dollar_topics_and_wildcards);
    tcase_add_test(rules, test_levels_literal_case_and_empty);
    suite_add_tcase(s, rules);
    TCase *deliver = tcase_create("delivery");
    tcase_add_test(deliver, test_overlapping_subscriptions_deliver_once_with_max_qos_and_all_ids);
    tcase_add_test(deliver, test_same_identifier_on_two_filters_is_given_once);
    tcase_add_test(deliver, test_retain_as_published_if_any_matching_subscription_asks);
    tcase_add_test(deliver, test_no_local_skips_only_the_publishers_own_subscription);
    tcase_add_test(deliver, test_result_buffer_is_reused_and_reset);
    tcase_add_test(deliver, test_long_client_ids_and_deep_topics);
    suite_add_tcase(s, deliver);
    TCase *shared = tcase_create("shared");
    tcase_add_test(shared, test_shared_groups_are_reported_per_group_and_filter);
    tcase_add_test(shared, test_entry_set_filter_splits_shares);
    tcase_add_test(shared, test_share_pick_random_is_uniform_among_the_best_and_seeded);
    tcase_add_test(shared, test_share_pick_round_robin_cycles_over_the_eligible);
    suite_add_tcase(s, shared);
    TCase *changes = tcase_create("changes");
    tcase_add_test(changes, test_add_replaces_options_of_the_same_subscription);
    tcase_add_test(changes, test_remove_and_remove_client);
    tcase_add_test(changes, test_each_and_client_each_list_subscriptions);
    suite_add_tcase(s, changes);
    TCase *random_ = tcase_create("randomized");
    tcase_set_timeout(random_, 120);
    tcase_add_test(random_, test_reference_matcher_agrees_with_the_spec);
    tcase_add_test(random_, test_randomized_against_the_reference);
    suite_add_tcase(s, random_);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
