/* mqtt_test — what the codec's Check suites share: packets written in a
 * small text notation, and a runner for tables of cases.
 *
 * Notation (tokens separated by spaces):
 *   30          a byte in hex
 *   'a/b'       the bytes of the text (no spaces inside)
 *   L'a/b'      the same with a two-byte length before it (an MQTT string)
 *   [ ... ]     what is inside, with a two-byte length before it
 *   { ... }     what is inside, with a Variable Byte Integer length before
 *               it: the remaining length, a property length
 *   *300:61     byte 61, 300 times
 * so a 3.1.1 PUBLISH is "30 { L'a/b' 'hello' }".
 *
 * A case is decoded at each level it names: whole, then byte by byte (the
 * same outcome must come out, at the first prefix that shows it, and a
 * NEED_MORE must ask for more than it has), and a valid one is encoded again
 * and must decode to an equal packet.  Header-only (static functions)
 * because each check_*.c is its own program.
 */
#ifndef MQTT_TEST_H
#define MQTT_TEST_H

#include "nmq_mqtt.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define L31 1
#define L311 2
#define L5 4
#define L3X (L31 | L311)
#define L4UP (L311 | L5)
#define LALL (L31 | L311 | L5)

#define SRV NMQ_MQTT_ROLE_SERVER   /* decoding what a client sent */
#define CLI NMQ_MQTT_ROLE_CLIENT   /* decoding what a server sent */
#define OK NMQ_MQTT_E_OK
#define E(name) NMQ_MQTT_E_##name

typedef struct {
    const char *name;
    uint8_t levels;             /* L31 | L311 | L5 */
    uint8_t role;
    const char *spec;
    int err;                    /* nmq_mqtt_err_t expected; OK to accept */
    uint32_t max_packet;        /* 0: the protocol's */
} mqtt_case_t;

#define MQTT_SPEC_MAX (1u << 20)

static inline size_t mqtt_spec_block(const char **s, uint8_t *out, size_t cap, char close);

static inline unsigned mqtt_varint_put(uint8_t *o, uint32_t v)
{
    unsigned n = 0;
    do {
        o[n] = v & 0x7F;
        v >>= 7;
        if (v)
            o[n] |= 0x80;
        n++;
    } while (v);
    return n;
}

/* A nested block, written after room for its length, then moved into place. */
static inline size_t mqtt_spec_nested(const char **s, uint8_t *out, size_t cap, char close)
{
    size_t n = mqtt_spec_block(s, out + 4, cap - 4, close);
    uint8_t len[4];
    unsigned k = close == ']' ? 2 : mqtt_varint_put(len, (uint32_t)n);
    if (close == ']') {
        len[0] = (uint8_t)(n >> 8);
        len[1] = (uint8_t)n;
    }
    memmove(out + k, out + 4, n);
    memcpy(out, len, k);
    return n + k;
}

static inline size_t mqtt_spec_text(const char **s, uint8_t *out, int prefixed)
{
    const char *end = strchr(*s + 1, '\'');
    ck_assert_msg(end, "unterminated text in packet spec");
    size_t n = (size_t)(end - *s - 1), k = 0;
    if (prefixed) {
        out[k++] = (uint8_t)(n >> 8);
        out[k++] = (uint8_t)n;
    }
    memcpy(out + k, *s + 1, n);
    *s = end + 1;
    return n + k;
}

static inline size_t mqtt_spec_block(const char **s, uint8_t *out, size_t cap, char close)
{
    size_t n = 0;
    for (;;) {
        while (**s == ' ')
            (*s)++;
        char c = **s;
        if (!c || c == close) {
            if (c)
                (*s)++;
            return n;
        }
        ck_assert_msg(n + 8 < cap, "packet spec too long");
        if (c == '{' || c == '[') {
            (*s)++;
            n += mqtt_spec_nested(s, out + n, cap - n, c == '{' ? '}' : ']');
        } else if (c == '\'' || (c == 'L' && (*s)[1] == '\'')) {
            *s += c == 'L';
            n += mqtt_spec_text(s, out + n, c == 'L');
        } else if (c == '*') {
            char *e;
            unsigned long times = strtoul(*s + 1, &e, 10);
            unsigned long byte = strtoul(e + 1, &e, 16);
            ck_assert_uint_lt(n + times, cap);
            memset(out + n, (int)byte, times);
            n += times;
            *s = e;
        } else {
            char *e;
            out[n++] = (uint8_t)strtoul(*s, &e, 16);
            ck_assert_msg(e == *s + 2, "bad token in packet spec at '%s'", *s);
            *s = e;
        }
    }
}

/* The bytes of a spec into a buffer owned by the caller (MQTT_SPEC_MAX). */
static inline size_t mqtt_spec(const char *spec, uint8_t *out)
{
    return mqtt_spec_block(&spec, out, MQTT_SPEC_MAX, 0);
}

static inline unsigned mqtt_level_of(unsigned bit)
{
    return bit == L31 ? NMQ_MQTT_V31 : bit == L311 ? NMQ_MQTT_V311 : NMQ_MQTT_V5;
}

/* A server decodes the CONNECT at level "unknown"; anything else at `level`. */
static inline void mqtt_decoder(nmq_mqtt_decoder_t *d, unsigned role, unsigned level, const uint8_t *buf,
                         uint32_t max_packet)
{
    int connect = role == SRV && (buf[0] >> 4) == NMQ_MQTT_CONNECT;
    nmq_mqtt_decoder_init(d, (nmq_mqtt_role_t)role, connect ? NMQ_MQTT_LEVEL_UNKNOWN : level, max_packet);
}

static inline uint8_t *mqtt_buf(void)
{
    static uint8_t *b;
    if (!b)
        b = malloc(MQTT_SPEC_MAX);
    return b;
}

/* Decode spec as one packet and require it to be accepted whole. */
static inline size_t mqtt_decode_ok(unsigned role, unsigned level, const char *spec, nmq_mqtt_packet_t *p,
                             nmq_mqtt_decoder_t *d)
{
    uint8_t *buf = mqtt_buf();
    size_t n = mqtt_spec(spec, buf);
    mqtt_decoder(d, role, level, buf, 0);
    nmq_mqtt_result_t r = nmq_mqtt_decode(d, buf, n, p);
    ck_assert_msg(r.status == NMQ_MQTT_OK, "'%s' at level %u: %s", spec, level,
                  r.status == NMQ_MQTT_ERROR ? nmq_mqtt_err_str(r.err) : "needs more");
    ck_assert_uint_eq(r.size, n);
    return n;
}

/* The error (or OK) decoding spec gives, with the decoder it left. */
static inline int mqtt_decode_err(unsigned role, unsigned level, const char *spec, nmq_mqtt_decoder_t *d)
{
    nmq_mqtt_packet_t p;
    uint8_t *buf = mqtt_buf();
    size_t n = mqtt_spec(spec, buf);
    mqtt_decoder(d, role, level, buf, 0);
    nmq_mqtt_result_t r = nmq_mqtt_decode(d, buf, n, &p);
    ck_assert_msg(r.status != NMQ_MQTT_NEED_MORE, "'%s' is incomplete", spec);
    return r.status == NMQ_MQTT_OK ? OK : r.err;
}

/* Fed one byte more each time, the decoder asks for more until the prefix
 * that decides, and then answers as it did for the whole. */
static inline void mqtt_check_prefixes(const mqtt_case_t *c, unsigned level, const uint8_t *buf, size_t n,
                                nmq_mqtt_result_t whole)
{
    for (size_t k = 0; k <= n; k++) {
        nmq_mqtt_decoder_t d;
        nmq_mqtt_packet_t p;
        mqtt_decoder(&d, c->role, level, buf, c->max_packet);
        nmq_mqtt_result_t r = nmq_mqtt_decode(&d, buf, k, &p);
        if (r.status == NMQ_MQTT_NEED_MORE) {
            ck_assert_msg(k < n, "%s: the whole packet still needs more", c->name);
            ck_assert_msg(r.size > k && (r.size <= n || whole.status == NMQ_MQTT_ERROR),
                          "%s: asked for %u bytes with %zu of %zu", c->name, r.size, k, n);
            continue;
        }
        ck_assert_msg(r.status == whole.status && r.err == whole.err,
                      "%s: with %zu of %zu bytes: %s, whole: %s", c->name, k, n, nmq_mqtt_err_str(r.err),
                      nmq_mqtt_err_str(whole.err));
        return;
    }
}

/* A decoded packet encodes again and decodes to the same. */
static inline void mqtt_check_reencode(const mqtt_case_t *c, const nmq_mqtt_decoder_t *d, const uint8_t *buf,
                                const nmq_mqtt_packet_t *p)
{
    static uint8_t out[MQTT_SPEC_MAX];
    nmq_mqtt_decoder_t d2;
    nmq_mqtt_packet_t q;
    size_t n = nmq_mqtt_encode(out, sizeof out, d->level, p);
    ck_assert_msg(n > 0 && n <= sizeof out, "%s: does not encode again", c->name);
    mqtt_decoder(&d2, c->role, d->level, buf, 0);
    nmq_mqtt_result_t r = nmq_mqtt_decode(&d2, out, n, &q);
    ck_assert_msg(r.status == NMQ_MQTT_OK, "%s: re-encoded: %s", c->name, nmq_mqtt_err_str(r.err));
    ck_assert_msg(nmq_mqtt_packet_equal(d->level, p, &q), "%s: re-encoded packet differs", c->name);
}

/* One case at one level (a bit of L31 / L311 / L5). */
static inline void mqtt_run_case_at(const mqtt_case_t *c, unsigned bit)
{
    uint8_t *buf = mqtt_buf();
    size_t n = mqtt_spec(c->spec, buf);
    unsigned level = mqtt_level_of(bit);
    nmq_mqtt_decoder_t d;
    nmq_mqtt_packet_t p;
    mqtt_decoder(&d, c->role, level, buf, c->max_packet);
    nmq_mqtt_result_t r = nmq_mqtt_decode(&d, buf, n, &p);
    ck_assert_msg(r.status != NMQ_MQTT_NEED_MORE, "%s at level %u: incomplete", c->name, level);
    ck_assert_msg(r.err == c->err, "%s at level %u: got %s, want %s", c->name, level, nmq_mqtt_err_str(r.err),
                  nmq_mqtt_err_str(c->err));
    if (r.status == NMQ_MQTT_OK) {
        ck_assert_uint_eq(r.size, n);
        mqtt_check_reencode(c, &d, buf, &p);
    }
    mqtt_check_prefixes(c, level, buf, n, r);
}

/* A TCase a level ("connect v3.1.1"), holding the cases that name it. */
static inline void mqtt_add_cases(Suite *s, const char *name, const mqtt_case_t *cases, int n,
                                  const TTest *const fns[3])
{
    static const char *const suffix[3] = { " v3.1", " v3.1.1", " v5.0" };
    static char names[48][64];     /* Check keeps the pointer, not a copy */
    static int used;
    for (int l = 0; l < 3; l++) {
        if (used >= 48)
            abort();
        char *tname = names[used++];
        snprintf(tname, sizeof names[0], "%s%s", name, suffix[l]);
        TCase *tc = tcase_create(tname);
        int any = 0;
        for (int i = 0; i < n; i++) {
            if (cases[i].levels & (1u << l)) {
                tcase_add_loop_test(tc, fns[l], i, i + 1);
                any = 1;
            }
        }
        if (any)
            suite_add_tcase(s, tc);
    }
}

/* Test functions for a table of cases, one a level, and table_add(suite,
 * name) to register them. */
#define MQTT_CASES(table)                                                            \
    START_TEST(table##_v31) { mqtt_run_case_at(&table[_i], L31); }                   \
    END_TEST                                                                         \
    START_TEST(table##_v311) { mqtt_run_case_at(&table[_i], L311); }                 \
    END_TEST                                                                         \
    START_TEST(table##_v5) { mqtt_run_case_at(&table[_i], L5); }                     \
    END_TEST                                                                         \
    static void table##_add(Suite *s, const char *name)                             \
    {                                                                                \
        const TTest *const fns[3] = { table##_v31, table##_v311, table##_v5 };       \
        mqtt_add_cases(s, name, table, (int)(sizeof table / sizeof table[0]), fns);  \
    }

#define MQTT_N(table) ((int)(sizeof table / sizeof table[0]))

static inline int mqtt_run_suite(Suite *s)
{
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

#endif
