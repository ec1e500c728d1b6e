/* nmq_topic_validate — see nmq_topic_validate.h.  A topic name is checked on
 * every PUBLISH, so looking for wildcards goes eight bytes at a time; filters
 * come with SUBSCRIBE and are walked byte by byte. */
#include "nmq_topic_validate.h"

#include <string.h>

#define ONES 0x0101010101010101ull
#define HIGHS 0x8080808080808080ull
#define SHARE_PREFIX "$share/"
#define SHARE_PREFIX_LEN (sizeof SHARE_PREFIX - 1)

/* Non-zero when some byte of v equals the byte repeated in pat. */
static inline uint64_t s_has_byte(uint64_t v, uint64_t pat)
{
    uint64_t x = v ^ pat;
    return (x - ONES) & ~x & HIGHS;
}

static int s_wild(uint8_t c)
{
    return c == '+' || c == '#';
}

nmq_topic_status_t nmq_topic_name_check(const uint8_t *s, size_t len)
{
    if (!len)
        return NMQ_TOPIC_EMPTY;
    if (len > 0xFFFF)
        return NMQ_TOPIC_TOO_LONG;
    size_t i = 0;
    for (; i + 8 <= len; i += 8) {
        uint64_t v;
        memcpy(&v, s + i, 8);
        if (s_has_byte(v, ONES * '+') | s_has_byte(v, ONES * '#'))
            return NMQ_TOPIC_WILDCARD;
    }
    for (; i < len; i++)
        if (s_wild(s[i]))
            return NMQ_TOPIC_WILDCARD;
    return NMQ_TOPIC_OK;
}

/* '+' fills its level; '#' fills the last one [MQTT-4.7.1-1] [MQTT-4.7.1-2]. */
static nmq_topic_status_t s_filter(const uint8_t *s, size_t len)
{
    if (!len)
        return NMQ_TOPIC_EMPTY;
    for (size_t i = 0; i < len; i++) {
        if (!s_wild(s[i]))
            continue;
        int level_start = i == 0 || s[i - 1] == '/';
        int level_end = i + 1 == len || s[i + 1] == '/';
        if (s[i] == '#' && (!level_start || i + 1 != len))
            return NMQ_TOPIC_BAD_MULTI;
        if (!level_start || !level_end)
            return NMQ_TOPIC_BAD_SINGLE;
    }
    return NMQ_TOPIC_OK;
}

/* $share/{ShareName}/{filter}: a ShareName of one character or more, without
 * '/', '+' or '#', then a filter [MQTT-4.8.2-1] [MQTT-4.8.2-2]. */
static nmq_topic_status_t s_share(const uint8_t *s, size_t len, nmq_topic_share_t *sh)
{
    const uint8_t *g = s + SHARE_PREFIX_LEN;
    size_t rest = len - SHARE_PREFIX_LEN;
    const uint8_t *slash = memchr(g, '/', rest);
    if (!slash || slash == g)
        return NMQ_TOPIC_BAD_SHARE;
    for (const uint8_t *c = g; c < slash; c++)
        if (s_wild(*c))
            return NMQ_TOPIC_BAD_SHARE;
    sh->group = g;
    sh->group_len = (size_t)(slash - g);
    sh->filter = slash + 1;
    sh->filter_len = rest - sh->group_len - 1;
    if (!sh->filter_len)
        return NMQ_TOPIC_BAD_SHARE;
    return s_filter(sh->filter, sh->filter_len);
}

nmq_topic_status_t nmq_topic_filter_check(const uint8_t *s, size_t len, nmq_topic_share_t *share)
{
    nmq_topic_share_t local;
    nmq_topic_share_t *sh = share ? share : &local;
    *sh = (nmq_topic_share_t){ NULL, 0, s, len };
    if (len > 0xFFFF)
        return NMQ_TOPIC_TOO_LONG;
    if (len >= SHARE_PREFIX_LEN && !memcmp(s, SHARE_PREFIX, SHARE_PREFIX_LEN))
        return s_share(s, len, sh);
    return s_filter(s, len);
}

const char *nmq_topic_status_str(nmq_topic_status_t st)
{
    static const char *const names[] = {
        [NMQ_TOPIC_OK] = "valid",
        [NMQ_TOPIC_EMPTY] = "empty",
        [NMQ_TOPIC_TOO_LONG] = "longer than 65535 bytes",
        [NMQ_TOPIC_WILDCARD] = "wildcard in a topic name",
        [NMQ_TOPIC_BAD_MULTI] = "'#' that is not the whole last level",
        [NMQ_TOPIC_BAD_SINGLE] = "'+' that is not a whole level",
        [NMQ_TOPIC_BAD_SHARE] = "malformed $share/ShareName/filter",
    };
    return (unsigned)st < sizeof names / sizeof names[0] ? names[st] : "unknown";
}
