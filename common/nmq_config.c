/* nmq_config — reading, printing and comparing the node's configuration.
 *
 * Knowledge of keys lives in the table (nmq_config_table.c); this file knows
 * value types only.  Each type has one parse and one format function in
 * s_types[], indexed by type, so a value takes the same path whether it comes
 * from a file, from `nemomq-admin set` or from the dump a worker receives, and
 * format(parse(text)) is canonical.  That is what makes dump -> load a fixed
 * point and lets diff compare formatted values instead of knowing fields.
 *
 * A load works on a copy and replaces the config only when every line was
 * good, so a reload with a bad file leaves the running config as it was.
 * No I/O but reading the file named to nmq_config_load_file() (and getcwd()
 * when a relative path has no file to be relative to).
 */
#include "nmq_config.h"
#include "nmq_strbuf.h"

#include <arpa/inet.h>
#include <assert.h>
#include <ctype.h>
#include <errno.h>
#include <fnmatch.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#define S_WHY_MAX 512

/* What parsing a value needs besides its text. */
typedef struct {
    char basedir[NMQ_CONF_PATH_MAX];   /* relative paths start here; "" = cwd */
    bool listeners_replaced;           /* this load already dropped the inherited listeners */
} s_ctx_t;

/* Room for one parsed value of any type, before it is stored. */
typedef union {
    char text[NMQ_CONF_PATH_MAX];
    int64_t number;
    nmq_listener_conf_t listener;
} s_value_t;

typedef int (*s_parse_fn)(const nmq_config_key_t *k, const char *key, const char *text,
                          const s_ctx_t *ctx, void *out, char *why, size_t whylen);
typedef int (*s_format_fn)(const nmq_config_key_t *k, const void *field, char *buf, size_t len);
typedef int (*s_store_fn)(nmq_config_t *cfg, const void *value, s_ctx_t *ctx,
                          char *why, size_t whylen);
typedef const void *(*s_locate_fn)(const nmq_config_t *cfg, const nmq_config_key_t *k,
                                   const char *key);

typedef struct {
    const char *name;
    const char *unit;       /* of the bounds in nemomq.conf(5), "" for none */
    const char *doc;        /* the syntax, for nemomq.conf(5) */
    s_parse_fn parse;
    s_format_fn format;
    s_store_fn store;       /* NULL: the value is copied over the field */
    s_locate_fn locate;     /* NULL: the field is at the row's offset */
} s_type_t;

static int s_fail(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int s_fail(char *err, size_t errlen, const char *fmt, ...)
{
    if (err && errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return -1;
}

/* snprintf that tells truncation: 0 if it fit, -1 if not. */
static int s_copy(char *buf, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static int s_copy(char *buf, size_t len, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, len, fmt, ap);
    va_end(ap);
    return n < 0 || (size_t)n >= len ? -1 : 0;
}

static char *s_trim(char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    size_t n = strlen(s);
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t'))
        s[--n] = '\0';
    return s;
}

static bool s_valid_name(const char *s, size_t max)
{
    size_t n = 0;
    for (; s[n]; n++)
        if (!isalnum((unsigned char)s[n]) && s[n] != '_' && s[n] != '-')
            return false;
    return n > 0 && n < max;
}

static bool s_valid_key(const char *s)
{
    for (; *s; s++)
        if (!isalnum((unsigned char)*s) && !strchr("._-", *s))
            return false;
    return true;
}

/* --- integers of any width in the struct ----------------------------------- */

static int64_t s_int_get(const void *field, size_t size)
{
    if (size == sizeof(int64_t)) {
        int64_t v;
        memcpy(&v, field, sizeof v);
        return v;
    }
    assert(size == sizeof(int));
    int v;
    memcpy(&v, field, sizeof v);
    return v;
}

static void s_int_put(void *field, size_t size, int64_t value)
{
    if (size == sizeof(int64_t)) {
        memcpy(field, &value, sizeof value);
        return;
    }
    assert(size == sizeof(int) && value >= INT32_MIN && value <= INT32_MAX);
    int v = (int)value;
    memcpy(field, &v, sizeof v);
}

/* --- paths ------------------------------------------------------------------ */

/* The directory part of path: "" when it has none (the current directory). */
static void s_dirname(const char *path, char *out, size_t len)
{
    const char *slash = path ? strrchr(path, '/') : NULL;
    if (!slash)
        out[0] = '\0';
    else if (slash == path)
        s_copy(out, len, "/");
    else
        s_copy(out, len, "%.*s", (int)(slash - path), path);
}

/* rel made absolute against basedir (itself against cwd when relative), with
 * "." and ".." folded lexically: a path names where it was written, not where
 * a symlink leads. */
static int s_path_resolve(const char *basedir, const char *rel, char *out, size_t len,
                          char *why, size_t whylen)
{
    char joined[3 * NMQ_CONF_PATH_MAX + 4];
    char cwd[NMQ_CONF_PATH_MAX];
    int fit;
    if (rel[0] == '/')
        fit = s_copy(joined, sizeof joined, "%s", rel);
    else if (basedir[0] == '/')
        fit = s_copy(joined, sizeof joined, "%s/%s", basedir, rel);
    else if (!getcwd(cwd, sizeof cwd))
        return s_fail(why, whylen, "cannot resolve a relative path: getcwd: %s", strerror(errno));
    else
        fit = s_copy(joined, sizeof joined, "%s/%s/%s", cwd, basedir, rel);
    if (fit < 0)
        return s_fail(why, whylen, "path too long (at most %zu characters)", len - 1);

    size_t n = 0;
    char *save = NULL;
    for (char *seg = strtok_r(joined, "/", &save); seg; seg = strtok_r(NULL, "/", &save)) {
        if (!strcmp(seg, "."))
            continue;
        if (!strcmp(seg, "..")) {
            while (n > 0 && out[--n] != '/')
                ;
            continue;
        }
        size_t sl = strlen(seg);
        if (n + 1 + sl + 1 > len)
            return s_fail(why, whylen, "path too long (at most %zu characters)", len - 1);
        out[n++] = '/';
        memcpy(out + n, seg, sl);
        n += sl;
    }
    if (n == 0)
        out[n++] = '/';
    out[n] = '\0';
    if (out[n - 1] == ' ' || out[n - 1] == '\t')   /* could not be written back as a line */
        return s_fail(why, whylen, "a path cannot end with a space");
    return 0;
}

/* --- numbers: int, bytes, duration ------------------------------------------- */

/* A type's suffixes: the ones before "" are printed (largest first, the first
 * that divides the value), the ones after it are only read. */
typedef struct {
    const char *suffix;
    int64_t mult;
} s_unit_t;

static const s_unit_t s_int_units[] = { { "", 1 }, { NULL, 0 } };
static const s_unit_t s_byte_units[] = {
    { "GB", 1LL << 30 }, { "MB", 1LL << 20 }, { "KB", 1LL << 10 }, { "", 1 },
    { "B", 1 }, { "K", 1LL << 10 }, { "KiB", 1LL << 10 }, { "M", 1LL << 20 },
    { "MiB", 1LL << 20 }, { "G", 1LL << 30 }, { "GiB", 1LL << 30 }, { NULL, 0 }
};
/* VerneMQ's arithmetic (vmq_server.schema): a month is 4 weeks, a year 12 of them. */
static const s_unit_t s_duration_units[] = {
    { "y", 12 * 4 * 7 * 86400LL }, { "m", 4 * 7 * 86400LL }, { "w", 7 * 86400LL },
    { "d", 86400 }, { "h", 3600 }, { "", 1 }, { "s", 1 }, { NULL, 0 }
};

static bool s_prints_special(const nmq_config_key_t *k, int64_t v)
{
    return k->special && v == k->special_value && (v < k->min || v > k->max);
}

static int s_parse_number(const nmq_config_key_t *k, const char *text, const s_unit_t *units,
                          const char *syntax, int64_t *out, char *why, size_t whylen)
{
    if (k->special && !strcasecmp(text, k->special)) {
        *out = k->special_value;
        return 0;
    }
    const char *p = text;
    bool neg = *p == '-';
    if (*p == '-' || *p == '+')
        p++;
    bool overflow = false;
    int64_t n = 0;
    if (!isdigit((unsigned char)*p))
        goto syntax_error;
    for (; isdigit((unsigned char)*p); p++) {
        int d = *p - '0';
        if (n > (INT64_MAX - d) / 10)
            overflow = true;
        else
            n = n * 10 + d;
    }
    const s_unit_t *u = units;
    while (u->suffix && strcasecmp(u->suffix, p))
        u++;
    if (!u->suffix)
        goto syntax_error;
    if (n > INT64_MAX / u->mult)
        overflow = true;
    int64_t v = (neg ? -n : n) * (overflow ? 1 : u->mult);
    if (!overflow && ((k->special && v == k->special_value) || (v >= k->min && v <= k->max))) {
        *out = v;
        return 0;
    }
    return s_fail(why, whylen, "must be between %" PRId64 " and %" PRId64 "%s%s, got %s",
                  k->min, k->max, k->special ? " or " : "", k->special ? k->special : "", text);
syntax_error:
    return s_fail(why, whylen, "must be %s%s%s, got '%s'", syntax,
                  k->special ? " or " : "", k->special ? k->special : "", text);
}

static int s_format_number(const nmq_config_key_t *k, const void *field, const s_unit_t *units,
                           char *buf, size_t len)
{
    int64_t v = s_int_get(field, k->size);
    if (s_prints_special(k, v))
        return s_copy(buf, len, "%s", k->special);
    for (const s_unit_t *u = units; u->suffix[0]; u++)
        if (v != 0 && v % u->mult == 0)
            return s_copy(buf, len, "%" PRId64 "%s", v / u->mult, u->suffix);
    return s_copy(buf, len, "%" PRId64, v);
}

#define S_NUMBER_TYPE(fn, units, syntax)                                                  \
    static int s_parse_##fn(const nmq_config_key_t *k, const char *key, const char *text, \
                            const s_ctx_t *ctx, void *out, char *why, size_t whylen)      \
    {                                                                                     \
        int64_t v;                                                                        \
        if (s_parse_number(k, text, units, syntax, &v, why, whylen) < 0)                  \
            return -1;                                                                    \
        s_int_put(out, k->size, v);                                                       \
        return 0;                                                                         \
    }                                                                                     \
    static int s_format_##fn(const nmq_config_key_t *k, const void *field, char *buf,     \
                             size_t len)                                                  \
    {                                                                                     \
        return s_format_number(k, field, units, buf, len);                                \
    }

S_NUMBER_TYPE(int, s_int_units, "an integer")
S_NUMBER_TYPE(bytes, s_byte_units, "a size such as 1024, 64KB, 10MB or 1GB")
S_NUMBER_TYPE(duration, s_duration_units, "a duration such as 30, 1h, 1d, 1w, 1m or 1y")

/* --- words: bool, enum, log level -------------------------------------------- */

typedef struct {
    const char *word;
    int value;
} s_word_t;

/* The first word of each value is the one printed. */
static const s_word_t s_bool_words[] = {
    { "off", 0 }, { "on", 1 }, { "false", 0 }, { "true", 1 }, { "no", 0 }, { "yes", 1 },
    { NULL, 0 }
};
/* Lager's levels (VerneMQ's) are read as the nearest of ours, never quieter. */
static const s_word_t s_level_words[] = {
    { "debug", NMQ_LOG_DEBUG }, { "info", NMQ_LOG_INFO }, { "warning", NMQ_LOG_WARNING },
    { "error", NMQ_LOG_ERROR }, { "warn", NMQ_LOG_WARNING }, { "notice", NMQ_LOG_INFO },
    { "critical", NMQ_LOG_ERROR }, { "alert", NMQ_LOG_ERROR }, { "emergency", NMQ_LOG_ERROR },
    { NULL, 0 }
};

static const s_word_t *s_word_find(const s_word_t *words, const char *text)
{
    for (; words->word; words++)
        if (!strcasecmp(words->word, text))
            return words;
    return NULL;
}

static const char *s_word_name(const s_word_t *words, int value)
{
    for (; words->word; words++)
        if (words->value == value)
            return words->word;
    return NULL;
}

#define S_WORD_TYPE(fn, words, ctype, syntax)                                             \
    static int s_parse_##fn(const nmq_config_key_t *k, const char *key, const char *text, \
                            const s_ctx_t *ctx, void *out, char *why, size_t whylen)      \
    {                                                                                     \
        const s_word_t *w = s_word_find(words, text);                                     \
        if (!w)                                                                           \
            return s_fail(why, whylen, "must be %s, got '%s'", syntax, text);             \
        *(ctype *)out = (ctype)w->value;                                                  \
        return 0;                                                                         \
    }                                                                                     \
    static int s_format_##fn(const nmq_config_key_t *k, const void *field, char *buf,     \
                             size_t len)                                                  \
    {                                                                                     \
        return s_copy(buf, len, "%s", s_word_name(words, (int)*(const ctype *)field));    \
    }

S_WORD_TYPE(bool, s_bool_words, bool, "on or off")
S_WORD_TYPE(loglevel, s_level_words, nmq_log_level_t, "one of debug, info, warning, error")

static int s_parse_enum(const nmq_config_key_t *k, const char *key, const char *text,
                        const s_ctx_t *ctx, void *out, char *why, size_t whylen)
{
    for (const char *const *c = k->choices; *c; c++)
        if (!strcmp(*c, text))
            return s_copy(out, k->size, "%s", *c);
    char list[S_WHY_MAX] = "";
    size_t n = 0;
    for (const char *const *c = k->choices; *c && n < sizeof list; c++)
        n += (size_t)snprintf(list + n, sizeof list - n, "%s%s", n ? ", " : "", *c);
    return s_fail(why, whylen, "must be one of %s, got '%s'", list, text);
}

/* --- text: string, path ------------------------------------------------------- */

static int s_parse_string(const nmq_config_key_t *k, const char *key, const char *text,
                          const s_ctx_t *ctx, void *out, char *why, size_t whylen)
{
    if (s_copy(out, k->size, "%s", text) < 0)
        return s_fail(why, whylen, "too long (at most %zu characters)", k->size - 1);
    return 0;
}

static int s_format_string(const nmq_config_key_t *k, const void *field, char *buf, size_t len)
{
    const char *s = field;
    return s_copy(buf, len, "%s", !s[0] && k->special ? k->special : s);
}

static int s_parse_path(const nmq_config_key_t *k, const char *key, const char *text,
                        const s_ctx_t *ctx, void *out, char *why, size_t whylen)
{
    if (k->special && !strcmp(text, k->special)) {
        *(char *)out = '\0';
        return 0;
    }
    return s_path_resolve(ctx->basedir, text, out, k->size, why, whylen);
}

/* --- addresses: addr, listener --------------------------------------------------- */

/* host:port or [v6]:port; the host is kept without brackets. */
static int s_parse_hostport(const char *text, char *host, size_t hostlen, uint16_t *port,
                            char *why, size_t whylen)
{
    const char *colon = strrchr(text, ':');
    const char *h = text, *hend = colon;
    if (!colon)
        return s_fail(why, whylen, "must be ip:port (IPv6 as [::1]:1883), got '%s'", text);
    if (text[0] == '[') {
        h = text + 1;
        if (colon == text || colon[-1] != ']')
            return s_fail(why, whylen, "must be ip:port (IPv6 as [::1]:1883), got '%s'", text);
        hend = colon - 1;
    } else if (memchr(text, ':', (size_t)(colon - text))) {
        return s_fail(why, whylen, "an IPv6 address is written in brackets, [::1]:1883, got '%s'", text);
    }
    if (hend == h)
        return s_fail(why, whylen, "host is missing in '%s'", text);
    if (s_copy(host, hostlen, "%.*s", (int)(hend - h), h) < 0)
        return s_fail(why, whylen, "host too long in '%s'", text);

    unsigned char bin[16];
    bool numeric = strspn(host, "0123456789.") == strlen(host);
    if (text[0] == '[' ? inet_pton(AF_INET6, host, bin) != 1
                       : numeric ? inet_pton(AF_INET, host, bin) != 1
                                 : strspn(host, "abcdefghijklmnopqrstuvwxyz"
                                                "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-_")
                                       != strlen(host))
        return s_fail(why, whylen, "'%s' is not an IP address or host name", host);

    const char *p = colon + 1;
    long v = 0;
    if (!*p || strspn(p, "0123456789") != strlen(p) || strlen(p) > 5 ||
        (v = strtol(p, NULL, 10)) < 1 || v > 65535)
        return s_fail(why, whylen, "port must be between 1 and 65535, got '%s'", p);
    *port = (uint16_t)v;
    return 0;
}

static int s_format_hostport(const char *host, uint16_t port, char *buf, size_t len)
{
    return strchr(host, ':') ? s_copy(buf, len, "[%s]:%u", host, port)
                             : s_copy(buf, len, "%s:%u", host, port);
}

static int s_parse_addr(const nmq_config_key_t *k, const char *key, const char *text,
                        const s_ctx_t *ctx, void *out, char *why, size_t whylen)
{
    char host[NMQ_CONF_STR_MAX];
    uint16_t port;
    if (s_parse_hostport(text, host, sizeof host, &port, why, whylen) < 0)
        return -1;
    if (s_format_hostport(host, port, out, k->size) < 0)
        return s_fail(why, whylen, "too long (at most %zu characters)", k->size - 1);
    return 0;
}

/* A pattern row's name is "<prefix>$name"; its keys are "<prefix><name>". */
static size_t s_pattern_prefix(const nmq_config_key_t *k)
{
    const char *dollar = strstr(k->name, "$name");
    return dollar ? (size_t)(dollar - k->name) : 0;
}

/* "tcp" for "listener.tcp.$name". */
static void s_listener_kind(const nmq_config_key_t *k, char *kind, size_t len)
{
    size_t plen = s_pattern_prefix(k);
    const char *start = k->name + plen - 1;
    while (start > k->name && start[-1] != '.')
        start--;
    s_copy(kind, len, "%.*s", (int)(k->name + plen - 1 - start), start);
}

static int s_parse_listener(const nmq_config_key_t *k, const char *key, const char *text,
                            const s_ctx_t *ctx, void *out, char *why, size_t whylen)
{
    nmq_listener_conf_t *l = out;
    const char *name = key + s_pattern_prefix(k);
    if (!s_valid_name(name, sizeof l->name))
        return s_fail(why, whylen, "a listener name is 1 to %zu letters, digits, '_' or '-'",
                      sizeof l->name - 1);
    s_copy(l->name, sizeof l->name, "%s", name);
    s_listener_kind(k, l->kind, sizeof l->kind);
    return s_parse_hostport(text, l->host, sizeof l->host, &l->port, why, whylen);
}

static int s_format_listener(const nmq_config_key_t *k, const void *field, char *buf, size_t len)
{
    const nmq_listener_conf_t *l = field;
    return s_format_hostport(l->host, l->port, buf, len);
}

static nmq_listener_conf_t *s_listener_find(const nmq_config_t *cfg, const char *kind,
                                            const char *name)
{
    for (int i = 0; i < cfg->nr_listeners; i++)
        if (!strcmp(cfg->listeners[i].kind, kind) && !strcmp(cfg->listeners[i].name, name))
            return (nmq_listener_conf_t *)&cfg->listeners[i];
    return NULL;
}

static const void *s_locate_listener(const nmq_config_t *cfg, const nmq_config_key_t *k,
                                     const char *key)
{
    char kind[sizeof cfg->listeners[0].kind];
    s_listener_kind(k, kind, sizeof kind);
    return s_listener_find(cfg, kind, key + s_pattern_prefix(k));
}

/* The first listener line of a load replaces the set it inherited (the
 * default listener): a file that names its listeners gets exactly those. */
static int s_store_listener(nmq_config_t *cfg, const void *value, s_ctx_t *ctx,
                            char *why, size_t whylen)
{
    const nmq_listener_conf_t *l = value;
    if (!ctx->listeners_replaced) {
        cfg->nr_listeners = 0;
        ctx->listeners_replaced = true;
    }
    nmq_listener_conf_t *slot = s_listener_find(cfg, l->kind, l->name);
    if (!slot) {
        if (cfg->nr_listeners == NMQ_MAX_LISTENERS)
            return s_fail(why, whylen, "too many listeners (at most %d)", NMQ_MAX_LISTENERS);
        slot = &cfg->listeners[cfg->nr_listeners++];
    }
    *slot = *l;
    return 0;
}

/* --- the type table ------------------------------------------------------------ */

static const s_type_t s_types[] = {
    [NMQ_CT_BOOL] = { "bool", "", "on or off (true/false and yes/no are read too)",
                      s_parse_bool, s_format_bool, NULL, NULL },
    [NMQ_CT_INT] = { "int", "", "a decimal integer within the key's bounds",
                     s_parse_int, s_format_int, NULL, NULL },
    [NMQ_CT_BYTES] = { "bytes", " bytes", "a size: a number of bytes, or with KB, MB or GB (multiples of 1024)",
                       s_parse_bytes, s_format_bytes, NULL, NULL },
    [NMQ_CT_DURATION] = { "duration", " seconds",
                          "seconds, or a number with h, d, w, m or y; as in VerneMQ a month (m) "
                          "is 4 weeks and a year (y) 48 weeks",
                          s_parse_duration, s_format_duration, NULL, NULL },
    [NMQ_CT_STRING] = { "string", "", "text up to the end of the line",
                        s_parse_string, s_format_string, NULL, NULL },
    [NMQ_CT_PATH] = { "path", "", "a file or directory; a relative path is taken from the "
                              "directory of the file it is written in",
                      s_parse_path, s_format_string, NULL, NULL },
    [NMQ_CT_ENUM] = { "enum", "", "one word of the key's list", s_parse_enum, s_format_string, NULL, NULL },
    [NMQ_CT_ADDR] = { "addr", "", "ip:port, IPv6 in brackets ([::1]:1883); port 1 to 65535",
                      s_parse_addr, s_format_string, NULL, NULL },
    [NMQ_CT_LOGLEVEL] = { "loglevel", "", "debug, info, warning or error (VerneMQ's notice, critical, "
                                      "alert and emergency are read as info or error)",
                          s_parse_loglevel, s_format_loglevel, NULL, NULL },
    [NMQ_CT_LISTENER] = { "listener", "", "ip:port, like addr, under a name of the operator's choice",
                          s_parse_listener, s_format_listener, s_store_listener, s_locate_listener },
};

const char *nmq_config_type_name(nmq_conf_type_t type)
{
    return (size_t)type < sizeof s_types / sizeof s_types[0] ? s_types[type].name : "?";
}

const char *nmq_log_level_name(nmq_log_level_t level)
{
    const char *name = s_word_name(s_level_words, (int)level);
    return name ? name : "info";
}

/* --- keys ------------------------------------------------------------------------- */

/* Ours by exact name, then VerneMQ's ignored families, then our patterns:
 * "listener.tcp.max_connections" is VerneMQ's, not a listener of that name. */
static const nmq_config_key_t *s_classify(const char *key, const nmq_config_ignored_t **ignored)
{
    const nmq_config_key_t *k;
    *ignored = NULL;
    for (k = nmq_config_table(); k->name; k++)
        if (!strcmp(k->name, key))
            return k;
    for (const nmq_config_ignored_t *i = nmq_config_ignored(); i->pattern; i++)
        if (!fnmatch(i->pattern, key, 0)) {
            *ignored = i;
            return NULL;
        }
    for (k = nmq_config_table(); k->name; k++) {
        size_t plen = s_pattern_prefix(k);
        if (plen && !strncmp(k->name, key, plen) && s_valid_name(key + plen, NMQ_CONF_STR_MAX))
            return k;
    }
    return NULL;
}

const nmq_config_key_t *nmq_config_lookup(const char *key)
{
    const nmq_config_ignored_t *ignored;
    return s_classify(key, &ignored);
}

static size_t s_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b), row[65];
    if (la > 64 || lb > 64)
        return SIZE_MAX;
    for (size_t j = 0; j <= lb; j++)
        row[j] = j;
    for (size_t i = 1; i <= la; i++) {
        size_t diag = row[0];
        row[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t up = row[j];
            size_t best = diag + (a[i - 1] != b[j - 1]);
            if (up + 1 < best)
                best = up + 1;
            if (row[j - 1] + 1 < best)
                best = row[j - 1] + 1;
            row[j] = best;
            diag = up;
        }
    }
    return row[lb];
}

static void s_unknown_why(const char *key, char *why, size_t whylen)
{
    const nmq_config_key_t *best = NULL;
    size_t best_d = 3;   /* two typos at most */
    for (const nmq_config_key_t *k = nmq_config_table(); k->name; k++) {
        size_t d = s_distance(key, k->name);
        if (!s_pattern_prefix(k) && d < best_d) {
            best = k;
            best_d = d;
        }
    }
    if (best)
        s_copy(why, whylen, "unknown key, did you mean %s?", best->name);
    else
        s_copy(why, whylen, "unknown key");
}

static void *s_field(nmq_config_t *cfg, const nmq_config_key_t *k)
{
    return (char *)cfg + k->offset;
}

static const void *s_locate(const nmq_config_t *cfg, const nmq_config_key_t *k, const char *key)
{
    const s_type_t *t = &s_types[k->type];
    return t->locate ? t->locate(cfg, k, key) : (const char *)cfg + k->offset;
}

/* The i-th value a row has in cfg and the key that names it (a pattern row has
 * one per instance, any other row exactly one); NULL past the last.  Listeners
 * are the only pattern type, so instances are listeners of the row's kind. */
static const void *s_instance(const nmq_config_t *cfg, const nmq_config_key_t *k, int i,
                              char *key, size_t keylen)
{
    size_t plen = s_pattern_prefix(k);
    if (!plen) {
        s_copy(key, keylen, "%s", k->name);
        return i == 0 ? (const char *)cfg + k->offset : NULL;
    }
    char kind[sizeof cfg->listeners[0].kind];
    s_listener_kind(k, kind, sizeof kind);
    for (int j = 0; j < cfg->nr_listeners; j++)
        if (!strcmp(cfg->listeners[j].kind, kind) && i-- == 0) {
            s_copy(key, keylen, "%.*s%s", (int)plen, k->name, cfg->listeners[j].name);
            return &cfg->listeners[j];
        }
    return NULL;
}

/* Text a value may not have: it must survive being written as a line of the file. */
static int s_check_value(const char *text, char *why, size_t whylen)
{
    if (!text[0])
        return s_fail(why, whylen, "missing value");
    for (const char *p = text; *p; p++) {
        if (iscntrl((unsigned char)*p) && *p != '\t')
            return s_fail(why, whylen, "control character in the value");
        if (*p == '#' && p > text && (p[-1] == ' ' || p[-1] == '\t'))
            return s_fail(why, whylen, "' #' would start a comment in the value");
    }
    return 0;
}

/* Parse into scratch first, so a bad value changes nothing. */
static int s_apply(nmq_config_t *cfg, const nmq_config_key_t *k, const char *key,
                   const char *text, s_ctx_t *ctx, char *why, size_t whylen)
{
    s_value_t value;
    memset(&value, 0, sizeof value);
    assert(k->size <= sizeof value && (size_t)k->type < sizeof s_types / sizeof s_types[0]);
    const s_type_t *t = &s_types[k->type];
    const char *bad = k->check ? k->check(text) : NULL;
    if (bad)
        return s_fail(why, whylen, "%s", bad);
    if (t->parse(k, key, text, ctx, &value, why, whylen) < 0)
        return -1;
    if (t->store)
        return t->store(cfg, &value, ctx, why, whylen);
    memcpy(s_field(cfg, k), &value, k->size);
    return 0;
}

/* --- new, dup, destroy ---------------------------------------------------------- */

nmq_config_t *nmq_config_new(void)
{
    nmq_config_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    s_ctx_t ctx = { .basedir = "/" };
    for (const nmq_config_key_t *k = nmq_config_table(); k->name; k++) {
        char key[NMQ_CONF_STR_MAX], why[S_WHY_MAX];
        size_t plen = s_pattern_prefix(k);
        s_copy(key, sizeof key, "%.*s%s", (int)(plen ? plen : strlen(k->name)), k->name,
               plen ? "default" : "");
        int rc = s_apply(self, k, key, k->default_value, &ctx, why, sizeof why);
        assert(rc == 0 && "a default in nmq_config_table.c does not parse");
        (void)rc;
    }
    return self;
}

void nmq_config_destroy(nmq_config_t **self_p)
{
    if (self_p && *self_p) {
        free(*self_p);
        *self_p = NULL;
    }
}

nmq_config_t *nmq_config_dup(const nmq_config_t *self)
{
    nmq_config_t *copy = malloc(sizeof *copy);
    if (copy)
        memcpy(copy, self, sizeof *copy);
    return copy;
}

/* --- loading ------------------------------------------------------------------------ */

/* Keys already warned about in this load. */
typedef struct {
    char **keys;
    size_t n;
} s_warned_t;

static bool s_first_warning(s_warned_t *w, const char *key)
{
    for (size_t i = 0; i < w->n; i++)
        if (!strcmp(w->keys[i], key))
            return false;
    char **keys = realloc(w->keys, (w->n + 1) * sizeof *keys);
    char *copy = strdup(key);
    if (keys)
        w->keys = keys;
    if (keys && copy)
        w->keys[w->n++] = copy;
    else
        free(copy);
    return true;
}

typedef struct {
    const char *origin;
    nmq_config_warn_fn warn;
    void *warn_arg;
    s_ctx_t ctx;
    s_warned_t warned;
} s_load_t;

static int s_load_line(nmq_config_t *cfg, s_load_t *ld, char *line, int lineno,
                       char *err, size_t errlen)
{
    size_t n = strlen(line);
    if (n > 0 && line[n - 1] == '\r')
        line[n - 1] = '\0';
    char *p = s_trim(line);
    if (!*p || *p == '#')
        return 0;
    for (char *q = p + 1; *q; q++)
        if (*q == '#' && (q[-1] == ' ' || q[-1] == '\t')) {
            *q = '\0';
            break;
        }
    p = s_trim(p);
    char *eq = strchr(p, '=');
    if (!eq)
        return s_fail(err, errlen, "%s:%d: %s: expected 'key = value'", ld->origin, lineno, p);
    *eq = '\0';
    char *key = s_trim(p), *value = s_trim(eq + 1), why[S_WHY_MAX];
    if (!*key)
        return s_fail(err, errlen, "%s:%d: missing key before '='", ld->origin, lineno);
    if (!s_valid_key(key))
        return s_fail(err, errlen, "%s:%d: %s: not a key (letters, digits, '.', '_' and '-')",
                      ld->origin, lineno, key);

    const nmq_config_ignored_t *ignored;
    const nmq_config_key_t *k = s_classify(key, &ignored);
    if (ignored) {
        if (s_first_warning(&ld->warned, key) && ld->warn) {
            char msg[S_WHY_MAX];
            s_copy(msg, sizeof msg, "ignored: %s", ignored->why);
            ld->warn(ld->origin, lineno, key, msg, ld->warn_arg);
        }
        return 0;
    }
    if (!k)
        s_unknown_why(key, why, sizeof why);
    if (!k || s_check_value(value, why, sizeof why) < 0 ||
        s_apply(cfg, k, key, value, &ld->ctx, why, sizeof why) < 0)
        return s_fail(err, errlen, "%s:%d: %s: %s", ld->origin, lineno, key, why);
    return 0;
}

/* text is consumed (split into lines in place). */
static int s_load_text(nmq_config_t *self, char *text, const char *origin, const char *basedir,
                       nmq_config_warn_fn warn, void *warn_arg, char *err, size_t errlen)
{
    nmq_config_t *tmp = nmq_config_dup(self);
    if (!tmp)
        return s_fail(err, errlen, "%s: out of memory", origin);
    s_load_t ld = { .origin = origin, .warn = warn, .warn_arg = warn_arg };
    s_copy(ld.ctx.basedir, sizeof ld.ctx.basedir, "%s", basedir);
    int rc = 0, lineno = 0;
    if (!strncmp(text, "\xEF\xBB\xBF", 3))   /* a UTF-8 BOM from a Windows editor */
        text += 3;
    for (char *line = text, *next; line && rc == 0; line = next) {
        next = strchr(line, '\n');
        if (next)
            *next++ = '\0';
        rc = s_load_line(tmp, &ld, line, ++lineno, err, errlen);
    }
    if (rc == 0)
        memcpy(self, tmp, sizeof *self);
    for (size_t i = 0; i < ld.warned.n; i++)
        free(ld.warned.keys[i]);
    free(ld.warned.keys);
    free(tmp);
    return rc;
}

int nmq_config_load_string(nmq_config_t *self, const char *text, const char *origin,
                           nmq_config_warn_fn warn, void *warn_arg, char *err, size_t errlen)
{
    char basedir[NMQ_CONF_PATH_MAX];
    s_dirname(origin, basedir, sizeof basedir);
    char *copy = strdup(text);
    if (!copy)
        return s_fail(err, errlen, "%s: out of memory", origin ? origin : "(string)");
    int rc = s_load_text(self, copy, origin ? origin : "(string)", basedir, warn, warn_arg,
                         err, errlen);
    free(copy);
    return rc;
}

int nmq_config_load_file(nmq_config_t *self, const char *path, nmq_config_warn_fn warn,
                         void *warn_arg, char *err, size_t errlen)
{
    char abs[NMQ_CONF_PATH_MAX], basedir[NMQ_CONF_PATH_MAX], why[S_WHY_MAX];
    if (s_path_resolve("", path, abs, sizeof abs, why, sizeof why) < 0)
        return s_fail(err, errlen, "%s: %s", path, why);
    FILE *f = fopen(path, "rb");
    if (!f)
        return s_fail(err, errlen, "%s: cannot read: %s", path, strerror(errno));
    nmq_strbuf_t b = { 0 };
    char chunk[8192];
    size_t n;
    nmq_strbuf_append(&b, "", 0);
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
        nmq_strbuf_append(&b, chunk, n);
    int read_errno = ferror(f) ? errno : 0;
    fclose(f);
    int rc;
    if (read_errno)
        rc = s_fail(err, errlen, "%s: cannot read: %s", path, strerror(read_errno));
    else if (strlen(b.data) != b.len)
        rc = s_fail(err, errlen, "%s: cannot read: a NUL byte, not a text file", path);
    else {
        s_dirname(abs, basedir, sizeof basedir);
        rc = s_load_text(self, b.data, path, basedir, warn, warn_arg, err, errlen);
    }
    if (rc == 0)
        s_copy(self->source, sizeof self->source, "%s", abs);
    nmq_strbuf_free(&b);
    return rc;
}

/* --- set, get -------------------------------------------------------------------------- */

int nmq_config_set(nmq_config_t *self, const char *key, const char *value, bool live_only,
                   char *err, size_t errlen)
{
    const nmq_config_ignored_t *ignored;
    const nmq_config_key_t *k = s_classify(key, &ignored);
    char why[S_WHY_MAX];
    if (ignored)
        return s_fail(err, errlen, "%s: a VerneMQ key nemomq ignores (%s)", key, ignored->why);
    if (!k) {
        s_unknown_why(key, why, sizeof why);
        return s_fail(err, errlen, "%s: %s", key, why);
    }
    if (live_only && !(k->flags & NMQ_CONF_LIVE))
        return s_fail(err, errlen, "%s: cannot be changed on a running node", key);
    char *copy = strdup(value);
    if (!copy)
        return s_fail(err, errlen, "%s: out of memory", key);
    s_ctx_t ctx = { .listeners_replaced = true };
    s_dirname(self->source[0] ? self->source : NULL, ctx.basedir, sizeof ctx.basedir);
    char *text = s_trim(copy);
    int rc = 0;
    if (s_check_value(text, why, sizeof why) < 0 ||
        s_apply(self, k, key, text, &ctx, why, sizeof why) < 0)
        rc = s_fail(err, errlen, "%s: %s", key, why);
    free(copy);
    return rc;
}

int nmq_config_get(const nmq_config_t *self, const char *key, char *buf, size_t len)
{
    const nmq_config_key_t *k = nmq_config_lookup(key);
    const void *field = k ? s_locate(self, k, key) : NULL;
    return field ? s_types[k->type].format(k, field, buf, len) : -1;
}

/* --- dump, diff ---------------------------------------------------------------------------- */

char *nmq_config_dump(const nmq_config_t *self)
{
    nmq_strbuf_t b = { 0 };
    nmq_strbuf_append(&b, "", 0);
    for (const nmq_config_key_t *k = nmq_config_table(); k->name; k++) {
        char key[NMQ_CONF_STR_MAX], value[NMQ_CONF_PATH_MAX];
        const void *field;
        for (int i = 0; (field = s_instance(self, k, i, key, sizeof key)); i++) {
            s_types[k->type].format(k, field, value, sizeof value);
            nmq_strbuf_printf(&b, "%s = %s\n", key, value);
        }
    }
    return nmq_strbuf_take(&b);
}

static bool s_differs(const nmq_config_key_t *k, const void *fa, const void *fb)
{
    char va[NMQ_CONF_PATH_MAX], vb[NMQ_CONF_PATH_MAX];
    if (!fa || !fb)
        return fa != fb;
    s_types[k->type].format(k, fa, va, sizeof va);
    s_types[k->type].format(k, fb, vb, sizeof vb);
    return strcmp(va, vb) != 0;
}

/* Instances of a pattern row are matched by name, so listeners compare as a set. */
void nmq_config_diff(const nmq_config_t *a, const nmq_config_t *b,
                     void (*fn)(const nmq_config_key_t *key, const char *name, void *arg),
                     void *arg)
{
    for (const nmq_config_key_t *k = nmq_config_table(); k->name; k++) {
        char key[NMQ_CONF_STR_MAX];
        const void *field;
        for (int i = 0; (field = s_instance(a, k, i, key, sizeof key)); i++)
            if (s_differs(k, field, s_locate(b, k, key)))
                fn(k, key, arg);
        for (int i = 0; (field = s_instance(b, k, i, key, sizeof key)); i++)
            if (!s_locate(a, k, key))
                fn(k, key, arg);
    }
}

/* --- generated documentation -------------------------------------------------------------- */

/* The key as an operator writes it: "listener.tcp.default", not "$name". */
static void s_example_key(const nmq_config_key_t *k, const char *name, char *buf, size_t len)
{
    size_t plen = s_pattern_prefix(k);
    s_copy(buf, len, "%.*s%s", (int)(plen ? plen : strlen(k->name)), k->name, plen ? name : "");
}

static void s_wrap(nmq_strbuf_t *b, const char *prefix, const char *text, size_t width)
{
    while (*text) {
        size_t room = width - strlen(prefix), n = strlen(text);
        if (n > room) {
            n = room;
            while (n > 0 && text[n] != ' ')
                n--;
            if (n == 0)
                n = strcspn(text, " ");
        }
        nmq_strbuf_printf(b, "%s%.*s\n", prefix, (int)n, text);
        text += n;
        while (*text == ' ')
            text++;
    }
}

char *nmq_config_render_conf(void)
{
    nmq_strbuf_t b = { 0 };
    nmq_strbuf_puts(&b,
        "## nemomq.conf: the configuration of one nemomq node.\n"
        "##\n"
        "## Generated from the key table in common/nmq_config_table.c by `make docs`;\n"
        "## change the table and run `make docs` rather than editing this copy.\n"
        "## Every key is listed at its default; nemomq.conf(5) tells the types,\n"
        "## bounds and which keys `nemomq-admin set` changes on a running node.\n"
        "##\n"
        "## Lines are `key = value` with VerneMQ's key names; `#` starts a comment.\n"
        "## A vernemq.conf loads as it is: VerneMQ keys that mean nothing here are\n"
        "## warned about and ignored, while an unknown key or a bad value stops the\n"
        "## node with file:line.\n");
    for (const nmq_config_key_t *k = nmq_config_table(); k->name; k++) {
        if (k->section)
            nmq_strbuf_printf(&b, "\n## %s\n## %.*s\n", k->section, (int)strlen(k->section),
                              "==============================================================");
        if (k->flags & NMQ_CONF_HIDDEN)
            continue;
        char key[NMQ_CONF_STR_MAX];
        s_example_key(k, "default", key, sizeof key);
        nmq_strbuf_puts(&b, "\n");
        s_wrap(&b, "## ", k->doc, 78);
        nmq_strbuf_printf(&b, "## Default: %s\n%s = %s\n", k->default_value, key, k->default_value);
    }
    return nmq_strbuf_take(&b);
}

/* Text for roff: backslashes and dashes escaped, no line starting as a request. */
static void s_roff(nmq_strbuf_t *b, const char *text)
{
    if (text[0] == '.' || text[0] == '\'')
        nmq_strbuf_puts(b, "\\&");
    for (const char *p = text; *p; p++) {
        if (*p == '\\')
            nmq_strbuf_puts(b, "\\e");
        else if (*p == '-')
            nmq_strbuf_puts(b, "\\-");
        else
            nmq_strbuf_append(b, p, 1);
    }
}

static void s_roff_line(nmq_strbuf_t *b, const char *request, const char *text)
{
    if (request)
        nmq_strbuf_printf(b, "%s ", request);
    s_roff(b, text);
    nmq_strbuf_puts(b, "\n");
}

static void s_man_key(nmq_strbuf_t *b, const nmq_config_key_t *k)
{
    char key[NMQ_CONF_STR_MAX], facts[S_WHY_MAX];
    size_t n = 0;
    s_example_key(k, "<name>", key, sizeof key);
    nmq_strbuf_puts(b, ".TP\n");
    s_roff_line(b, ".B", key);
    s_roff_line(b, NULL, k->doc);
    nmq_strbuf_puts(b, ".br\n");
    n += (size_t)snprintf(facts + n, sizeof facts - n, "Type: %s", s_types[k->type].name);
    if (k->type == NMQ_CT_ENUM)
        for (const char *const *c = k->choices; *c; c++)
            n += (size_t)snprintf(facts + n, sizeof facts - n, "%s%s", c == k->choices ? " (" : " | ", *c);
    if (k->type == NMQ_CT_ENUM)
        n += (size_t)snprintf(facts + n, sizeof facts - n, ")");
    if (k->type == NMQ_CT_INT || k->type == NMQ_CT_BYTES || k->type == NMQ_CT_DURATION)
        n += (size_t)snprintf(facts + n, sizeof facts - n, ", %" PRId64 " to %" PRId64 "%s",
                              k->min, k->max, s_types[k->type].unit);
    if (k->special)
        n += (size_t)snprintf(facts + n, sizeof facts - n, " or %s", k->special);
    snprintf(facts + n, sizeof facts - n, ". Default: %s. %s%s", k->default_value,
             k->flags & NMQ_CONF_LIVE ? "Live: nemomq-admin set and a reload change it on a running node."
                                      : "Read at start: a change needs a restart.",
             k->flags & NMQ_CONF_HIDDEN ? " Hidden: not listed in the generated nemomq.conf." : "");
    s_roff_line(b, NULL, facts);
}

/* The ignored families grouped by reason, in the order the table gives them. */
static void s_man_ignored(nmq_strbuf_t *b)
{
    const nmq_config_ignored_t *table = nmq_config_ignored();
    for (const nmq_config_ignored_t *i = table; i->pattern; i++) {
        const nmq_config_ignored_t *seen = table;
        while (seen < i && strcmp(seen->why, i->why))
            seen++;
        if (seen < i)
            continue;
        nmq_strbuf_puts(b, ".TP\n");
        s_roff_line(b, NULL, i->why);
        nmq_strbuf_puts(b, ".br\n.B \"");
        for (const nmq_config_ignored_t *j = i; j->pattern; j++)
            if (!strcmp(j->why, i->why)) {
                nmq_strbuf_puts(b, j == i ? "" : ", ");
                s_roff(b, j->pattern);
            }
        nmq_strbuf_puts(b, "\"\n");
    }
}

char *nmq_config_render_man(void)
{
    nmq_strbuf_t b = { 0 };
    nmq_strbuf_puts(&b,
        ".\\\" Generated from common/nmq_config_table.c by `nemomq config doc --man`; do not edit.\n"
        ".TH NEMOMQ.CONF 5 \"\" \"nemomq\" \"File Formats Manual\"\n"
        ".nh\n"
        ".ad l\n"
        ".SH NAME\n"
        "nemomq.conf \\- configuration file of the nemomq MQTT broker\n"
        ".SH SYNOPSIS\n"
        ".I /etc/nemomq/nemomq.conf\n"
        ".SH DESCRIPTION\n"
        "The configuration of one nemomq node: lines of\n"
        ".IB key \" = \" value\n"
        "with VerneMQ's key names, so that a\n"
        ".I vernemq.conf\n"
        "loads as it is.\n"
        "Blank lines are skipped; a line whose first character is\n"
        ".B #\n"
        "is a comment, and so is the rest of a line from a\n"
        ".B #\n"
        "that follows a space or a tab.\n"
        "Spaces around the first\n"
        ".B =\n"
        "do not matter; the value runs to the end of the line and may contain\n"
        ".BR = .\n"
        "When a key is given twice the last line wins.\n"
        ".PP\n"
        "A key that nemomq does not have but VerneMQ does (see\n"
        ".BR \"IGNORED VERNEMQ KEYS\" )\n"
        "is warned about once and ignored.\n"
        "Any other unknown key, a line without\n"
        ".BR = ,\n"
        "or a bad value stops the node before it starts, with a message\n"
        ".IR file : line : \" key\" : \" why\" ,\n"
        "for example\n"
        ".PP\n"
        ".RS\n"
        ".nf\n"
        "/etc/nemomq/nemomq.conf:12: listener.nr_of_acceptors:\n"
        "    must be between 1 and 256, got 0\n"
        ".fi\n"
        ".RE\n"
        ".PP\n"
        "The keys marked live can be changed on a running node with\n"
        ".B nemomq\\-admin set\n"
        "or by editing the file and reloading (SIGHUP); the others are read at start.\n"
        "The first\n"
        ".BI listener.tcp. name\n"
        "line of a file replaces the default listener; the file then has exactly the\n"
        "listeners it names.\n"
        ".SS Value types\n");
    for (size_t t = 0; t < sizeof s_types / sizeof s_types[0]; t++) {
        nmq_strbuf_puts(&b, ".TP\n");
        s_roff_line(&b, ".B", s_types[t].name);
        s_roff_line(&b, NULL, s_types[t].doc);
    }
    nmq_strbuf_puts(&b, ".SH KEYS\n");
    for (const nmq_config_key_t *k = nmq_config_table(); k->name; k++) {
        if (k->section)
            s_roff_line(&b, ".SS", k->section);
        s_man_key(&b, k);
    }
    nmq_strbuf_puts(&b,
        ".SH IGNORED VERNEMQ KEYS\n"
        "These keys (shell patterns) are VerneMQ's and have no meaning in nemomq.\n"
        "Each one found is warned about once, with its file and line, and ignored.\n");
    s_man_ignored(&b);
    nmq_strbuf_printf(&b,
        ".SH EXIT STATUS\n"
        "A node, or any of its processes, that finds its configuration bad exits with\n"
        "status %d (EX_CONFIG of sysexits.h) and is not restarted.\n"
        ".SH FILES\n"
        ".TP\n"
        ".I /etc/nemomq/nemomq.conf\n"
        "The configuration read by the init script and the systemd unit.\n"
        ".SH SEE ALSO\n"
        ".BR nemomq (8),\n"
        ".BR nemomq\\-admin (8)\n",
        NMQ_EXIT_CONFIG);
    return nmq_strbuf_take(&b);
}
