/* portmap_proto — the port mapper's lines, parsed and formatted (the protocol
 * is documented in portmap.h).  Pure: no I/O, so the parser that faces
 * whatever connects to port 4369 is tested alone (check_cluster_portmap.c).
 *
 * Requests and replies are each one table of verbs with their arity; a line is
 * split into words once and looked up, so adding a verb is adding a row.
 */
#include "portmap.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_MAX_WORDS 4

typedef struct {
    const char *p[S_MAX_WORDS];
    size_t n[S_MAX_WORDS];
    int count;
} s_words_t;

/* Split on single spaces; -1 when there are more than S_MAX_WORDS words or
 * an empty one (two spaces, a leading or trailing space). */
static int s_split(const char *line, size_t len, s_words_t *w)
{
    w->count = 0;
    size_t i = 0;
    while (i <= len) {
        size_t start = i;
        while (i < len && line[i] != ' ')
            i++;
        if (i == start || w->count == S_MAX_WORDS)
            return -1;
        w->p[w->count] = line + start;
        w->n[w->count] = i - start;
        w->count++;
        i++;   /* past the space, or past the end */
    }
    return 0;
}

static bool s_word_is(const s_words_t *w, int k, const char *word)
{
    return w->n[k] == strlen(word) && !memcmp(w->p[k], word, w->n[k]);
}

static int s_port(const char *p, size_t n, uint16_t *port)
{
    if (n == 0 || n > 5)
        return -1;
    unsigned v = 0;
    for (size_t i = 0; i < n; i++) {
        if (p[i] < '0' || p[i] > '9')
            return -1;
        v = v * 10 + (unsigned)(p[i] - '0');
    }
    if (v < 1 || v > 65535 || p[0] == '0')
        return -1;
    *port = (uint16_t)v;
    return 0;
}

bool portmap_name_valid(const char *name, size_t len)
{
    if (len == 0 || len > PORTMAP_NAME_MAX)
        return false;
    for (size_t i = 0; i < len; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
              c == '-'))
            return false;
    }
    return true;
}

int portmap_split_nodename(const char *nodename, char *name, size_t namelen, char *host, size_t hostlen)
{
    const char *at = strchr(nodename, '@');
    if (!at || !at[1] || strchr(at + 1, '@') || !portmap_name_valid(nodename, (size_t)(at - nodename)) ||
        (size_t)(at - nodename) >= namelen || strlen(at + 1) >= hostlen)
        return -1;
    memcpy(name, nodename, (size_t)(at - nodename));
    name[at - nodename] = '\0';
    strcpy(host, at + 1);
    return 0;
}

int portmap_next_line(const char *buf, size_t len, size_t *line_len, size_t *consumed)
{
    const char *nl = memchr(buf, '\n', len);
    if (!nl)
        return len > PORTMAP_LINE_MAX ? -1 : 0;
    size_t n = (size_t)(nl - buf);
    if (n > PORTMAP_LINE_MAX)
        return -1;
    *consumed = n + 1;
    if (n > 0 && buf[n - 1] == '\r')
        n--;
    *line_len = n;
    return 1;
}

/* --- requests ------------------------------------------------------------------ */

typedef struct {
    const char *word;
    portmap_verb_t verb;
    int args;            /* words after the verb */
    bool name, port;     /* which args it has, in that order */
} s_request_row_t;

static const s_request_row_t s_requests[] = {
    { "REGISTER", PORTMAP_REGISTER, 2, true,  true  },
    { "LOOKUP",   PORTMAP_LOOKUP,   1, true,  false },
    { "NAMES",    PORTMAP_NAMES,    0, false, false },
    { "PING",     PORTMAP_PING,     0, false, false },
};

int portmap_parse_request(const char *line, size_t len, portmap_request_t *req, const char **why)
{
    s_words_t w;
    memset(req, 0, sizeof *req);
    if (len > PORTMAP_LINE_MAX || s_split(line, len, &w) < 0) {
        *why = "malformed line";
        return -1;
    }
    for (size_t i = 0; i < sizeof s_requests / sizeof s_requests[0]; i++) {
        const s_request_row_t *r = &s_requests[i];
        if (!s_word_is(&w, 0, r->word))
            continue;
        if (w.count != r->args + 1) {
            *why = "wrong number of arguments";
            return -1;
        }
        req->verb = r->verb;
        if (r->name) {
            if (!portmap_name_valid(w.p[1], w.n[1])) {
                *why = "bad name";
                return -1;
            }
            memcpy(req->name, w.p[1], w.n[1]);
            req->name[w.n[1]] = '\0';
        }
        if (r->port && s_port(w.p[2], w.n[2], &req->port) < 0) {
            *why = "bad port";
            return -1;
        }
        return 0;
    }
    *why = "unknown request";
    return -1;
}

int portmap_format_request(const portmap_request_t *req, char *buf, size_t len)
{
    for (size_t i = 0; i < sizeof s_requests / sizeof s_requests[0]; i++) {
        const s_request_row_t *r = &s_requests[i];
        if (r->verb != req->verb)
            continue;
        int n = r->port   ? snprintf(buf, len, "%s %s %u\n", r->word, req->name, req->port)
                : r->name ? snprintf(buf, len, "%s %s\n", r->word, req->name)
                          : snprintf(buf, len, "%s\n", r->word);
        return n < 0 || (size_t)n >= len ? -1 : n;
    }
    return -1;
}

/* --- replies -------------------------------------------------------------------- */

typedef struct {
    const char *word;
    portmap_reply_kind_t kind;
    int args;            /* -1: free text follows */
} s_reply_row_t;

static const s_reply_row_t s_replies[] = {
    { "OK",   PORTMAP_R_OK,   0 },
    { "ERR",  PORTMAP_R_ERR,  -1 },
    { "PORT", PORTMAP_R_PORT, 1 },
    { "NAME", PORTMAP_R_NAME, 2 },
    { "END",  PORTMAP_R_END,  0 },
    { "PONG", PORTMAP_R_PONG, 0 },
};

int portmap_parse_reply(const char *line, size_t len, portmap_reply_t *reply)
{
    memset(reply, 0, sizeof *reply);
    if (len > PORTMAP_LINE_MAX)
        return -1;
    size_t verb_len = 0;
    while (verb_len < len && line[verb_len] != ' ')
        verb_len++;
    for (size_t i = 0; i < sizeof s_replies / sizeof s_replies[0]; i++) {
        const s_reply_row_t *r = &s_replies[i];
        if (verb_len != strlen(r->word) || memcmp(line, r->word, verb_len))
            continue;
        reply->kind = r->kind;
        if (r->args < 0) {
            size_t off = verb_len < len ? verb_len + 1 : len;
            size_t n = len - off < sizeof reply->text - 1 ? len - off : sizeof reply->text - 1;
            memcpy(reply->text, line + off, n);
            reply->text[n] = '\0';
            return 0;
        }
        s_words_t w;
        if (s_split(line, len, &w) < 0 || w.count != r->args + 1)
            return -1;
        if (r->kind == PORTMAP_R_PORT)
            return s_port(w.p[1], w.n[1], &reply->port);
        if (r->kind == PORTMAP_R_NAME) {
            if (!portmap_name_valid(w.p[1], w.n[1]) || s_port(w.p[2], w.n[2], &reply->port) < 0)
                return -1;
            memcpy(reply->name, w.p[1], w.n[1]);
            reply->name[w.n[1]] = '\0';
        }
        return 0;
    }
    return -1;
}
