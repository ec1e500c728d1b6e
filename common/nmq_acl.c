/* nmq_acl — see nmq_acl.h.
 *
 * Each rule's filter is cut into typed levels once, at load time (literal,
 * +, #, or a %c/%u/%m slot), so a check walks the topic against the levels
 * without building strings, and a substituted value cannot be mistaken for a
 * wildcard: only a level typed + or # is one.  Rules are kept in three lists
 * (everyone, per user, patterns); the per-user list is sorted by name and
 * searched by bisection.  Checks are a scan of the lists, which is what
 * VerneMQ does too; ACL files are short.  A load builds a whole new rule set
 * and swaps it in only when every line parsed.
 */
#include "nmq_acl.h"
#include "nmq_authfile.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_TOPIC_MAX 65535

typedef enum { S_LIT, S_PLUS, S_HASH, S_CLIENT, S_USER, S_MOUNT } s_kind_t;

typedef struct {
    s_kind_t kind;
    const char *text;       /* S_LIT: into the rule's own copy of the filter */
    size_t len;
} s_level_t;

typedef struct {
    unsigned access;        /* NMQ_ACL_READ | NMQ_ACL_WRITE */
    unsigned uses;          /* bit (1 << kind) per substitution used */
    const char *user;       /* user-section rules: the section's name */
    size_t seq;             /* file order, to keep sorting stable */
    char *filter;
    s_level_t *levels;
    size_t nlevels;
} s_rule_t;

typedef struct {
    s_rule_t *v;
    size_t n, cap;
} s_list_t;

typedef struct {
    s_list_t all, user, pattern;    /* user: sorted by (user, seq) after a load */
    char **names;                   /* the `user` lines' names, owned */
    size_t nnames;
} s_rules_t;

struct nmq_acl {
    nmq_authfile_t *file;
    s_rules_t rules;
};

/* The values a pattern's slots take for one check. */
typedef struct {
    const char *value[S_MOUNT + 1];
} s_values_t;

/* --- rule sets ----------------------------------------------------------------- */

static void s_list_free(s_list_t *l)
{
    for (size_t i = 0; i < l->n; i++) {
        free(l->v[i].filter);
        free(l->v[i].levels);
    }
    free(l->v);
    memset(l, 0, sizeof *l);
}

static void s_rules_free(s_rules_t *r)
{
    s_list_free(&r->all);
    s_list_free(&r->user);
    s_list_free(&r->pattern);
    for (size_t i = 0; i < r->nnames; i++)
        free(r->names[i]);
    free(r->names);
    memset(r, 0, sizeof *r);
}

static void s_list_push(s_list_t *l, const s_rule_t *rule)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? 2 * l->cap : 16;
        s_rule_t *grown = realloc(l->v, cap * sizeof *grown);
        if (!grown)
            abort();
        l->v = grown;
        l->cap = cap;
    }
    l->v[l->n++] = *rule;
}

static int s_by_user(const void *a, const void *b)
{
    const s_rule_t *x = a, *y = b;
    int c = strcmp(x->user, y->user);
    return c ? c : (x->seq > y->seq) - (x->seq < y->seq);
}

/* --- parsing ------------------------------------------------------------------- */

typedef struct {
    s_rules_t *rules;
    const char *user;       /* the current `user` section; NULL before the first */
    size_t seq;
} s_parse_t;

/* Cut filter into typed levels; slots (%c %u %m) only for patterns. */
static int s_compile(s_rule_t *rule, const char *filter, bool pattern, char *why, size_t whylen)
{
    static const struct {
        const char *text;
        s_kind_t kind;
    } slots[] = { { "%c", S_CLIENT }, { "%u", S_USER }, { "%m", S_MOUNT } };

    if (strlen(filter) > S_TOPIC_MAX) {
        snprintf(why, whylen, "topic longer than %d bytes", S_TOPIC_MAX);
        return -1;
    }
    rule->filter = strdup(filter);
    size_t nlevels = 1;
    for (const char *p = filter; *p; p++)
        nlevels += *p == '/';
    rule->levels = calloc(nlevels, sizeof *rule->levels);
    if (!rule->filter || !rule->levels)
        abort();
    rule->nlevels = nlevels;
    char *p = rule->filter;
    for (size_t i = 0; i < nlevels; i++) {
        char *slash = strchr(p, '/');
        if (slash)
            *slash = '\0';
        s_level_t *l = &rule->levels[i];
        *l = (s_level_t){ S_LIT, p, strlen(p) };
        if (!strcmp(p, "+")) {
            l->kind = S_PLUS;
        } else if (!strcmp(p, "#")) {
            l->kind = S_HASH;
            if (i + 1 < nlevels) {
                snprintf(why, whylen, "'#' must be the last level of '%.200s'", filter);
                return -1;
            }
        } else if (strpbrk(p, "+#")) {
            snprintf(why, whylen, "'+' and '#' must be whole levels in '%.200s'", filter);
            return -1;
        }
        for (size_t s = 0; pattern && s < sizeof slots / sizeof slots[0]; s++) {
            if (!strcmp(p, slots[s].text)) {
                l->kind = slots[s].kind;
                rule->uses |= 1u << slots[s].kind;
            }
        }
        p = slash ? slash + 1 : p + l->len;
    }
    return 0;
}

static int s_rule_line(s_parse_t *ps, char *rest, bool pattern, char *why, size_t whylen)
{
    static const struct {
        const char *word;
        unsigned access;
    } modes[] = {
        { "read", NMQ_ACL_READ },
        { "write", NMQ_ACL_WRITE },
        { "readwrite", NMQ_ACL_READ | NMQ_ACL_WRITE },
        { "deny", 0 },
    };
    s_rule_t rule = { .access = NMQ_ACL_READ | NMQ_ACL_WRITE, .user = pattern ? NULL : ps->user,
                      .seq = ps->seq++ };
    /* "topic read" alone is the topic "read", as in VerneMQ and mosquitto */
    size_t wlen = strcspn(rest, " \t");
    if (rest[wlen]) {
        for (size_t i = 0; i < sizeof modes / sizeof modes[0]; i++) {
            if (wlen == strlen(modes[i].word) && !strncmp(rest, modes[i].word, wlen)) {
                if (!modes[i].access) {
                    snprintf(why, whylen, "'%s' is not supported: an ACL here only grants",
                             modes[i].word);
                    return -1;
                }
                rule.access = modes[i].access;
                rest += wlen + strspn(rest + wlen, " \t");
                break;
            }
        }
    }
    if (!*rest) {
        snprintf(why, whylen, "%s: missing topic", pattern ? "pattern" : "topic");
        return -1;
    }
    if (s_compile(&rule, rest, pattern, why, whylen) < 0) {
        free(rule.filter);
        free(rule.levels);
        return -1;
    }
    s_rules_t *r = ps->rules;
    s_list_push(pattern ? &r->pattern : rule.user ? &r->user : &r->all, &rule);
    return 0;
}

static int s_kw_topic(s_parse_t *ps, char *rest, char *why, size_t whylen)
{
    return s_rule_line(ps, rest, false, why, whylen);
}

static int s_kw_pattern(s_parse_t *ps, char *rest, char *why, size_t whylen)
{
    return s_rule_line(ps, rest, true, why, whylen);
}

static int s_kw_user(s_parse_t *ps, char *rest, char *why, size_t whylen)
{
    if (!*rest) {
        snprintf(why, whylen, "user: missing username");
        return -1;
    }
    s_rules_t *r = ps->rules;
    char **grown = realloc(r->names, (r->nnames + 1) * sizeof *grown);
    if (!grown)
        abort();
    r->names = grown;
    if (!(r->names[r->nnames] = strdup(rest)))
        abort();
    ps->user = r->names[r->nnames++];
    return 0;
}

static int s_line(void *arg, int lineno, char *line, char *why, size_t whylen)
{
    static const struct {
        const char *word;
        int (*fn)(s_parse_t *, char *, char *, size_t);
    } keywords[] = {
        { "topic", s_kw_topic },
        { "user", s_kw_user },
        { "pattern", s_kw_pattern },
    };
    size_t wlen = strcspn(line, " \t");
    char *rest = line + wlen + strspn(line + wlen, " \t");
    for (size_t i = 0; i < sizeof keywords / sizeof keywords[0]; i++)
        if (wlen == strlen(keywords[i].word) && !strncmp(line, keywords[i].word, wlen))
            return keywords[i].fn(arg, rest, why, whylen);
    snprintf(why, whylen, "unknown line '%.*s' (expected topic, user, pattern or # comment)",
             (int)(wlen > 40 ? 40 : wlen), line);
    return -1;
}

/* nmq_authfile_parse_fn: all or nothing. */
static int s_parse(void *arg, char *text, size_t len, const char *origin, char *err, size_t errlen)
{
    nmq_acl_t *self = arg;
    s_rules_t fresh = { 0 };
    s_parse_t ps = { .rules = &fresh };
    if (nmq_authfile_lines(text, origin, s_line, &ps, err, errlen) < 0) {
        s_rules_free(&fresh);
        return -1;
    }
    if (fresh.user.n)
        qsort(fresh.user.v, fresh.user.n, sizeof *fresh.user.v, s_by_user);
    s_rules_free(&self->rules);
    self->rules = fresh;
    return 0;
}

/* --- checking ------------------------------------------------------------------ */

/* Does every topic that filter matches also match the rule?  For a topic name
 * (no wildcards) that is plain MQTT matching. */
static bool s_covers(const s_rule_t *rule, const char *topic, const s_values_t *vals)
{
    const char *p = topic;      /* the current topic level; NULL once all are used */
    for (size_t i = 0; i < rule->nlevels; i++) {
        const s_level_t *l = &rule->levels[i];
        if (l->kind == S_HASH)
            return true;        /* "a/#" covers "a" too, as MQTT matching does */
        if (!p)
            return false;
        const char *slash = strchr(p, '/');
        size_t n = slash ? (size_t)(slash - p) : strlen(p);
        bool wild_plus = n == 1 && p[0] == '+';
        bool wild_hash = n == 1 && p[0] == '#';
        bool ok;
        if (wild_hash)
            ok = false;         /* only a rule's '#' covers a filter's '#' */
        else if (l->kind == S_PLUS)
            ok = true;
        else if (wild_plus)
            ok = false;         /* a literal, substituted or not, covers no '+' */
        else {
            const char *want = l->kind == S_LIT ? l->text : vals->value[l->kind];
            size_t wlen = l->kind == S_LIT ? l->len : strlen(want);
            ok = wlen == n && !memcmp(want, p, n);
        }
        if (!ok)
            return false;
        p = slash ? slash + 1 : NULL;
    }
    return !p;
}

/* May this pattern be used for these values at all?  See nmq_acl.h. */
static bool s_pattern_applies(const s_rule_t *rule, const s_values_t *vals)
{
    for (s_kind_t k = S_CLIENT; k <= S_MOUNT; k++) {
        if (!(rule->uses & 1u << k))
            continue;
        const char *v = vals->value[k];
        if (!v || strpbrk(v, "/+#") || (!*v && k != S_MOUNT))
            return false;
    }
    return true;
}

static bool s_any(const s_rule_t *v, size_t n, const char *topic, unsigned access,
                  const s_values_t *vals)
{
    for (size_t i = 0; i < n; i++)
        if ((v[i].access & access) && (!vals || s_pattern_applies(&v[i], vals))
            && s_covers(&v[i], topic, vals))
            return true;
    return false;
}

/* The user's rules: [*first, *first + return). */
static size_t s_user_rules(const s_list_t *l, const char *user, size_t *first)
{
    size_t lo = 0, hi = l->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (strcmp(l->v[mid].user, user) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    size_t end = lo;
    while (end < l->n && !strcmp(l->v[end].user, user))
        end++;
    *first = lo;
    return end - lo;
}

/* --- public -------------------------------------------------------------------- */

nmq_acl_t *nmq_acl_new(const char *path)
{
    nmq_acl_t *self = calloc(1, sizeof *self);
    if (!self)
        abort();
    self->file = nmq_authfile_new(path);
    return self;
}

void nmq_acl_destroy(nmq_acl_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    nmq_acl_t *self = *self_p;
    s_rules_free(&self->rules);
    nmq_authfile_destroy(&self->file);
    free(self);
    *self_p = NULL;
}

int nmq_acl_load(nmq_acl_t *self, char *err, size_t errlen)
{
    return nmq_authfile_poll(self->file, true, s_parse, self, err, errlen) < 0 ? -1 : 0;
}

int nmq_acl_reload(nmq_acl_t *self, char *err, size_t errlen)
{
    return nmq_authfile_poll(self->file, false, s_parse, self, err, errlen);
}

int nmq_acl_load_string(nmq_acl_t *self, const char *text, const char *origin,
                        char *err, size_t errlen)
{
    return nmq_authfile_parse_string(text, origin, s_parse, self, err, errlen);
}

size_t nmq_acl_count(const nmq_acl_t *self)
{
    return self->rules.all.n + self->rules.user.n + self->rules.pattern.n;
}

bool nmq_acl_check(const nmq_acl_t *self, const char *client_id, const char *username,
                   const char *mountpoint, const char *topic, nmq_acl_access_t access)
{
    if (!topic || !*topic)
        return false;
    const s_rules_t *r = &self->rules;
    if (s_any(r->all.v, r->all.n, topic, access, NULL))
        return true;
    if (username) {
        size_t first, n = s_user_rules(&r->user, username, &first);
        if (s_any(r->user.v + first, n, topic, access, NULL))
            return true;
    }
    s_values_t vals = { .value = { [S_CLIENT] = client_id, [S_USER] = username,
                                   [S_MOUNT] = mountpoint ? mountpoint : "" } };
    return s_any(r->pattern.v, r->pattern.n, topic, access, &vals);
}
