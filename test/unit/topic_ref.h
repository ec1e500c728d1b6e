/* topic_ref — the slow, obviously correct side of the topic tests: a
 * matcher written from the words of MQTT 5.0 section 4.7 and a generator of
 * random filters and topic names over a few levels (so that they meet
 * often), shared by check_topic_trie.c and check_topic_index.c.
 * Header-only: the build makes one program of each check_*.c file. */
#ifndef TOPIC_REF_H
#define TOPIC_REF_H

#include <check.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* For loops that run thousands of times: Check's ck_assert_* reports every
 * pass to the parent process (a write each), which would dominate the
 * randomized runs; this one speaks only on failure. */
#define EXPECT(cond, ...)              \
    do {                               \
        if (!(cond))                   \
            ck_abort_msg(__VA_ARGS__); \
    } while (0)

/* MQTT 4.7 read literally: split on '/', walk level by level. */
static bool ref_match(const char *filter, const char *topic)
{
    if (topic[0] == '$' && (filter[0] == '+' || filter[0] == '#'))
        return false;
    const char *f = filter, *tp = topic;
    for (;;) {
        size_t fl = strcspn(f, "/"), tl = strcspn(tp, "/");
        if (fl == 1 && f[0] == '#')
            return true;            /* the rest, including nothing */
        if (!(fl == 1 && f[0] == '+') && (fl != tl || memcmp(f, tp, fl)))
            return false;
        int fend = f[fl] == '\0', tend = tp[tl] == '\0';
        if (tend && !fend)          /* "a/#" matches "a" */
            return !strcmp(f + fl, "/#");
        if (fend || tend)
            return fend && tend;
        f += fl + 1;
        tp += tl + 1;
    }
}

static const char *const REF_LEVELS[] = { "a", "b", "", "$x", "c" };

/* A random filter (wild) or topic name over few levels, so that they meet;
 * never empty, as the codec would refuse it. */
static void ref_random_levels(char *buf, size_t cap, bool wild)
{
again:;
    int n = 1 + (int)(random() % 4);
    size_t len = 0;
    buf[0] = '\0';
    for (int i = 0; i < n; i++) {
        const char *lvl = REF_LEVELS[random() % 5];
        int r = (int)(random() % 10);
        if (wild && r < 3)
            lvl = "+";
        else if (wild && r == 3) {
            lvl = "#";
            n = i + 1;
        }
        len += (size_t)snprintf(buf + len, cap - len, "%s%s", i ? "/" : "", lvl);
    }
    if (!len)
        goto again;
}

#endif
