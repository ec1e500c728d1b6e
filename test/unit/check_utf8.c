/* check_utf8 — nmq_utf8_check: MQTT's UTF-8 rules ([MQTT-1.5.3-1..3] in
 * 3.1.1, [MQTT-1.5.4-1..3] in 5.0), boundary code points of every sequence
 * length, every way a sequence can be ill-formed, and a differential test
 * against a slow code-point decoder over random bytes (which also drives the
 * eight-bytes-at-a-time path through every alignment). */
#include "nmq_utf8.h"

#include "mqtt_test.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    const char *name;
    const char *bytes;
    size_t len;
    nmq_utf8_status_t want;
} s_case_t;

#define C(name, lit, want) { name, lit, sizeof lit - 1, want }

static const s_case_t s_cases[] = {
    C("empty", "", NMQ_UTF8_OK),
    C("ascii", "sensors/room-1/temperature", NMQ_UTF8_OK),
    C("u0001", "\x01", NMQ_UTF8_OK),                      /* control: SHOULD NOT, not MUST NOT */
    C("u007f", "\x7f", NMQ_UTF8_OK),
    C("u0080", "\xc2\x80", NMQ_UTF8_OK),
    C("u009f", "\xc2\x9f", NMQ_UTF8_OK),
    C("u07ff", "\xdf\xbf", NMQ_UTF8_OK),
    C("u0800", "\xe0\xa0\x80", NMQ_UTF8_OK),
    C("ud7ff", "\xed\x9f\xbf", NMQ_UTF8_OK),
    C("ue000", "\xee\x80\x80", NMQ_UTF8_OK),
    C("bom", "\xef\xbb\xbf", NMQ_UTF8_OK),                /* [MQTT-1.5.4-3]: kept */
    C("ufffe", "\xef\xbf\xbe", NMQ_UTF8_OK),              /* non-character: allowed */
    C("uffff", "\xef\xbf\xbf", NMQ_UTF8_OK),
    C("u10000", "\xf0\x90\x80\x80", NMQ_UTF8_OK),
    C("u10ffff", "\xf4\x8f\xbf\xbf", NMQ_UTF8_OK),
    C("mixed", "caf\xc3\xa9/\xe2\x82\xac/\xf0\x9f\x98\x80/end-of-it", NMQ_UTF8_OK),
    C("nul_alone", "\0", NMQ_UTF8_NUL),                    /* [MQTT-1.5.4-2] */
    C("nul_in_ascii_run", "abcdefgh\0ijklmnop", NMQ_UTF8_NUL),
    C("nul_at_7", "abcdefg\0", NMQ_UTF8_NUL),
    C("nul_after_multibyte", "\xc3\xa9\0", NMQ_UTF8_NUL),
    C("surrogate_d800", "\xed\xa0\x80", NMQ_UTF8_SURROGATE), /* [MQTT-1.5.4-1] */
    C("surrogate_dfff", "\xed\xbf\xbf", NMQ_UTF8_SURROGATE),
    C("surrogate_in_text", "abcdefghij\xed\xb0\x80", NMQ_UTF8_SURROGATE),
    C("surrogate_cut", "\xed\xa0", NMQ_UTF8_ILL_FORMED),
    C("overlong_nul", "\xc0\x80", NMQ_UTF8_ILL_FORMED),
    C("overlong_slash", "\xc0\xaf", NMQ_UTF8_ILL_FORMED),
    C("overlong_c1", "\xc1\xbf", NMQ_UTF8_ILL_FORMED),
    C("overlong_3", "\xe0\x80\x80", NMQ_UTF8_ILL_FORMED),
    C("overlong_3_max", "\xe0\x9f\xbf", NMQ_UTF8_ILL_FORMED),
    C("overlong_4", "\xf0\x80\x80\x80", NMQ_UTF8_ILL_FORMED),
    C("overlong_4_max", "\xf0\x8f\xbf\xbf", NMQ_UTF8_ILL_FORMED),
    C("above_10ffff", "\xf4\x90\x80\x80", NMQ_UTF8_ILL_FORMED),
    C("lead_f5", "\xf5\x80\x80\x80", NMQ_UTF8_ILL_FORMED),
    C("lead_ff", "\xff", NMQ_UTF8_ILL_FORMED),
    C("lead_fe", "\xfe", NMQ_UTF8_ILL_FORMED),
    C("lone_continuation", "\x80", NMQ_UTF8_ILL_FORMED),
    C("lone_continuation_bf", "abc\xbf", NMQ_UTF8_ILL_FORMED),
    C("cut_2", "\xc3", NMQ_UTF8_ILL_FORMED),
    C("cut_3", "\xe2\x82", NMQ_UTF8_ILL_FORMED),
    C("cut_4", "\xf0\x9f\x98", NMQ_UTF8_ILL_FORMED),
    C("bad_continuation_2", "\xc3\x28", NMQ_UTF8_ILL_FORMED),
    C("bad_continuation_3a", "\xe2\x28\xa1", NMQ_UTF8_ILL_FORMED),
    C("bad_continuation_3b", "\xe2\x82\x28", NMQ_UTF8_ILL_FORMED),
    C("bad_continuation_4", "\xf0\x9f\x28\x80", NMQ_UTF8_ILL_FORMED),
    C("high_in_ascii_run", "abcdefg\x80hijklmn", NMQ_UTF8_ILL_FORMED),
};

START_TEST(test_utf8_case)
{
    const s_case_t *c = &s_cases[_i];
    ck_assert_msg(nmq_utf8_check((const uint8_t *)c->bytes, c->len) == c->want, "%s", c->name);
}
END_TEST

/* Reference: decode code points one by one, the slow obvious way. */
static nmq_utf8_status_t s_reference(const uint8_t *s, size_t len)
{
    for (size_t i = 0; i < len;) {
        uint32_t cp, min;
        size_t n;
        if (s[i] < 0x80) {
            cp = s[i], n = 1, min = 0;
        } else if ((s[i] & 0xE0) == 0xC0) {
            cp = s[i] & 0x1F, n = 2, min = 0x80;
        } else if ((s[i] & 0xF0) == 0xE0) {
            cp = s[i] & 0x0F, n = 3, min = 0x800;
        } else if ((s[i] & 0xF8) == 0xF0) {
            cp = s[i] & 0x07, n = 4, min = 0x10000;
        } else {
            return NMQ_UTF8_ILL_FORMED;
        }
        if (i + n > len)
            return NMQ_UTF8_ILL_FORMED;
        for (size_t k = 1; k < n; k++) {
            if ((s[i + k] & 0xC0) != 0x80)
                return NMQ_UTF8_ILL_FORMED;
            cp = cp << 6 | (s[i + k] & 0x3F);
        }
        if (cp < min || cp > 0x10FFFF)
            return NMQ_UTF8_ILL_FORMED;
        if (cp >= 0xD800 && cp <= 0xDFFF)
            return NMQ_UTF8_SURROGATE;
        if (cp == 0)
            return NMQ_UTF8_NUL;
        i += n;
    }
    return NMQ_UTF8_OK;
}

static uint64_t s_rand(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

/* Random strings biased to be mostly valid (ASCII runs with an odd byte),
 * so that errors land at every offset and alignment. */
START_TEST(test_utf8_differential)
{
    uint64_t seed = 0x5EED0000u + (uint64_t)_i;
    uint8_t buf[64];
    static const uint8_t odd[] = { 0x00, 0x80, 0xBF, 0xC0, 0xC2, 0xDF, 0xE0, 0xED, 0xEF, 0xF0, 0xF4, 0xF5, 0xFF,
                                   0xA0, 0x9F, 0x90, 0x8F };
    for (int k = 0; k < 200000; k++) {
        size_t len = s_rand(&seed) % sizeof buf;
        for (size_t i = 0; i < len; i++) {
            uint64_t r = s_rand(&seed);
            buf[i] = r % 8 ? (uint8_t)(0x20 + r % 0x5F) : odd[(r >> 8) % sizeof odd];
        }
        ck_assert_int_eq(nmq_utf8_check(buf, len), s_reference(buf, len));
    }
}
END_TEST

/* Every valid code point, alone and after seven ASCII bytes. */
START_TEST(test_utf8_every_code_point)
{
    uint8_t b[12] = "1234567";
    for (uint32_t cp = 1; cp <= 0x10FFFF; cp++) {
        size_t n;
        uint8_t *o = b + 7;
        if (cp < 0x80) {
            o[0] = (uint8_t)cp, n = 1;
        } else if (cp < 0x800) {
            o[0] = (uint8_t)(0xC0 | cp >> 6), o[1] = (uint8_t)(0x80 | (cp & 0x3F)), n = 2;
        } else if (cp < 0x10000) {
            o[0] = (uint8_t)(0xE0 | cp >> 12), o[1] = (uint8_t)(0x80 | (cp >> 6 & 0x3F));
            o[2] = (uint8_t)(0x80 | (cp & 0x3F)), n = 3;
        } else {
            o[0] = (uint8_t)(0xF0 | cp >> 18), o[1] = (uint8_t)(0x80 | (cp >> 12 & 0x3F));
            o[2] = (uint8_t)(0x80 | (cp >> 6 & 0x3F)), o[3] = (uint8_t)(0x80 | (cp & 0x3F)), n = 4;
        }
        nmq_utf8_status_t want = cp >= 0xD800 && cp <= 0xDFFF ? NMQ_UTF8_SURROGATE : NMQ_UTF8_OK;
        ck_assert_int_eq(nmq_utf8_check(o, n), want);
        ck_assert_int_eq(nmq_utf8_check(b, 7 + n), want);
    }
}
END_TEST

int main(void)
{
    Suite *s = suite_create("utf8");
    TCase *tc = tcase_create("utf8");
    tcase_set_timeout(tc, 60);
    tcase_add_loop_test(tc, test_utf8_case, 0, (int)(sizeof s_cases / sizeof s_cases[0]));
    tcase_add_loop_test(tc, test_utf8_differential, 0, 4);
    tcase_add_test(tc, test_utf8_every_code_point);
    suite_add_tcase(s, tc);
    return mqtt_run_suite(s);
}
