/* nmq_passwd — see nmq_passwd.h.
 *
 * A load parses into a fresh table and swaps it in only when every line was
 * good (nmq_authfile does the when-to-read part), so a CONNECT is always
 * checked against one whole version of the file.  Users are found through an
 * open-addressing hash on the username: a CONNECT storm costs one probe and
 * one SHA-512 per client, not a scan of the file.
 */
#include "nmq_passwd.h"
#include "nmq_authfile.h"

#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#define S_DIGEST_LEN 64             /* SHA-512 */
#define S_SALT_MAX 64
#define S_MAX_ITERATIONS 10000000   /* a $7$ line may not stall every CONNECT */

typedef struct {
    char *user;
    int iterations;                 /* 0: $6$, one SHA-512 round; else $7$ PBKDF2 */
    size_t salt_len;
    unsigned char salt[S_SALT_MAX];
    unsigned char digest[S_DIGEST_LEN];
} s_entry_t;

typedef struct {
    s_entry_t *entries;
    size_t count, cap;
    size_t *slots;                  /* index + 1 into entries; 0 = empty */
    size_t nslots;                  /* a power of two, at least 2 * count */
} s_table_t;

struct nmq_passwd {
    nmq_authfile_t *file;
    s_table_t table;
};

/* --- base64 (standard alphabet, '=' padding optional) ------------------------ */

static int s_b64_value(unsigned char c)
{
    static const char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    const char *p = c ? strchr(alphabet, c) : NULL;
    return p ? (int)(p - alphabet) : -1;
}

/* Decoded length, or -1 when s is not base64 or does not fit. */
static long s_b64_decode(const char *s, size_t n, unsigned char *out, size_t cap)
{
    if (n % 4 == 0 && n >= 2 && s[n - 1] == '=')
        n -= s[n - 2] == '=' ? 2 : 1;
    if (n % 4 == 1)
        return -1;
    size_t len = 0;
    uint32_t acc = 0;
    for (size_t i = 0; i < n; i++) {
        int v = s_b64_value((unsigned char)s[i]);
        if (v < 0)
            return -1;
        acc = acc << 6 | (uint32_t)v;
        if (i % 4 == 3 || i == n - 1) {
            size_t group = i % 4 + 1;              /* 2, 3 or 4 characters */
            acc <<= 6 * (4 - group);
            size_t bytes = group - 1;
            if (len + bytes > cap)
                return -1;
            for (size_t b = 0; b < bytes; b++)
                out[len++] = (unsigned char)(acc >> (16 - 8 * b));
            acc = 0;
        }
    }
    return (long)len;
}

static void s_b64_encode(const unsigned char *in, size_t n, char *out)
{
    EVP_EncodeBlock((unsigned char *)out, in, (int)n);
}

/* --- hashing ------------------------------------------------------------------ */

static void s_digest(const s_entry_t *e, const void *password, size_t len,
                     unsigned char out[S_DIGEST_LEN])
{
    if (len > INT_MAX)
        len = INT_MAX;
    int ok;
    if (e->iterations > 0) {
        ok = PKCS5_PBKDF2_HMAC(password, (int)len, e->salt, (int)e->salt_len, e->iterations,
                               EVP_sha512(), S_DIGEST_LEN, out);
    } else {
        EVP_MD_CTX *ctx = EVP_MD_CTX_new();
        unsigned int n = 0;
        ok = ctx && EVP_DigestInit_ex(ctx, EVP_sha512(), NULL)
             && EVP_DigestUpdate(ctx, password, len)
             && EVP_DigestUpdate(ctx, e->salt, e->salt_len)
             && EVP_DigestFinal_ex(ctx, out, &n) && n == S_DIGEST_LEN;
        EVP_MD_CTX_free(ctx);
    }
    if (!ok)
        abort();    /* SHA-512 missing from libcrypto: nothing can be checked */
}

void nmq_passwd_hash_salted(const void *password, size_t password_len, const unsigned char *salt,
                            size_t salt_len, char out[NMQ_PASSWD_HASH_MAX])
{
    s_entry_t e = { .salt_len = salt_len < S_SALT_MAX ? salt_len : S_SALT_MAX };
    memcpy(e.salt, salt, e.salt_len);
    unsigned char digest[S_DIGEST_LEN];
    s_digest(&e, password, password_len, digest);
    char salt64[S_SALT_MAX * 4 / 3 + 4], digest64[S_DIGEST_LEN * 4 / 3 + 4];
    s_b64_encode(e.salt, e.salt_len, salt64);
    s_b64_encode(digest, sizeof digest, digest64);
    snprintf(out, NMQ_PASSWD_HASH_MAX, "$6$%s$%s", salt64, digest64);
    OPENSSL_cleanse(digest, sizeof digest);
}

int nmq_passwd_hash(const void *password, size_t password_len, char out[NMQ_PASSWD_HASH_MAX],
                    char *err, size_t errlen)
{
    unsigned char salt[NMQ_PASSWD_SALT_LEN];
    ssize_t n;
    do
        n = getrandom(salt, sizeof salt, 0);
    while (n < 0 && errno == EINTR);
    if (n != (ssize_t)sizeof salt) {
        snprintf(err, errlen, "no random salt: %s", n < 0 ? strerror(errno) : "short read");
        return -1;
    }
    nmq_passwd_hash_salted(password, password_len, salt, sizeof salt, out);
    return 0;
}

/* --- parsing ------------------------------------------------------------------ */

/* Fill e from "$6$salt$digest" or "$7$iterations$salt$digest". */
static int s_parse_hash(const char *text, s_entry_t *e, char *why, size_t whylen)
{
    char buf[512];
    if (strlen(text) >= sizeof buf) {
        snprintf(why, whylen, "hash too long");
        return -1;
    }
    strcpy(buf, text);
    char *field[5];
    int nfields = 0;
    for (char *p = buf, *f = buf; nfields < 5; p++) {
        if (*p == '$' || !*p) {
            bool end = !*p;
            *p = '\0';
            field[nfields++] = f;
            f = p + 1;
            if (end)
                break;
        }
    }
    /* field[0] is what precedes the first '$', which must be nothing */
    bool six = nfields == 4 && !strcmp(field[1], "6");
    bool seven = nfields == 5 && !strcmp(field[1], "7");
    if (field[0][0] || !(six || seven)) {
        snprintf(why, whylen, "not a $6$ or $7$ password hash "
                 "(a clear-text password? nemomq-passwd -U hashes a file in place)");
        return -1;
    }
    memset(e, 0, sizeof *e);
    const char *salt = field[2], *digest = field[3];
    if (seven) {
        char *end;
        errno = 0;
        long it = strtol(field[2], &end, 10);
        if (errno || end == field[2] || *end || it < 1 || it > S_MAX_ITERATIONS) {
            snprintf(why, whylen, "$7$ iteration count is not a number from 1 to %d",
                     S_MAX_ITERATIONS);
            return -1;
        }
        e->iterations = (int)it;
        salt = field[3];
        digest = field[4];
    }
    long n = s_b64_decode(salt, strlen(salt), e->salt, sizeof e->salt);
    if (n < 1) {
        snprintf(why, whylen, "salt is not base64 of 1 to %d bytes", S_SALT_MAX);
        return -1;
    }
    e->salt_len = (size_t)n;
    unsigned char d[S_DIGEST_LEN + 3];
    if (s_b64_decode(digest, strlen(digest), d, sizeof d) != S_DIGEST_LEN) {
        snprintf(why, whylen, "hash is not base64 of a %d-byte SHA-512 digest", S_DIGEST_LEN);
        return -1;
    }
    memcpy(e->digest, d, S_DIGEST_LEN);
    return 0;
}

bool nmq_passwd_is_hash(const char *text)
{
    s_entry_t e;
    char why[256];
    return s_parse_hash(text, &e, why, sizeof why) == 0;
}

/* --- the table ----------------------------------------------------------------- */

static uint64_t s_fnv1a(const char *s)
{
    uint64_t h = 14695981039346656037ull;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

/* The slot holding user, or the empty slot where it would go. */
static size_t *s_slot(const s_table_t *t, const char *user)
{
    size_t mask = t->nslots - 1;
    for (size_t i = s_fnv1a(user) & mask;; i = (i + 1) & mask) {
        size_t *slot = &t->slots[i];
        if (!*slot || !strcmp(t->entries[*slot - 1].user, user))
            return slot;
    }
}

static void s_table_free(s_table_t *t)
{
    for (size_t i = 0; i < t->count; i++)
        free(t->entries[i].user);
    if (t->entries)
        OPENSSL_cleanse(t->entries, t->cap * sizeof *t->entries);
    free(t->entries);
    free(t->slots);
    memset(t, 0, sizeof *t);
}

static void s_rehash(s_table_t *t, size_t nslots)
{
    free(t->slots);
    t->nslots = nslots;
    t->slots = calloc(nslots, sizeof *t->slots);
    if (!t->slots)
        abort();
    for (size_t i = 0; i < t->count; i++)
        *s_slot(t, t->entries[i].user) = i + 1;
}

/* Add or, as VerneMQ does for a user listed twice, replace: the last line wins. */
static void s_table_put(s_table_t *t, const char *user, const s_entry_t *e)
{
    if (2 * (t->count + 1) > t->nslots)
        s_rehash(t, t->nslots ? 2 * t->nslots : 16);
    size_t *slot = s_slot(t, user);
    if (*slot) {
        s_entry_t *old = &t->entries[*slot - 1];
        char *name = old->user;
        *old = *e;
        old->user = name;
        return;
    }
    if (t->count == t->cap) {
        size_t cap = t->cap ? 2 * t->cap : 16;
        s_entry_t *grown = realloc(t->entries, cap * sizeof *grown);
        if (!grown)
            abort();
        t->entries = grown;
        t->cap = cap;
    }
    s_entry_t *n = &t->entries[t->count];
    *n = *e;
    n->user = strdup(user);
    if (!n->user)
        abort();
    *slot = ++t->count;
}

static int s_line(void *arg, int lineno, char *line, char *why, size_t whylen)
{
    s_table_t *t = arg;
    char *colon = strchr(line, ':');
    if (!colon) {
        snprintf(why, whylen, "expected username:hash");
        return -1;
    }
    if (colon == line) {
        snprintf(why, whylen, "empty username");
        return -1;
    }
    *colon = '\0';
    s_entry_t e;
    char reason[256];
    if (s_parse_hash(colon + 1, &e, reason, sizeof reason) < 0) {
        snprintf(why, whylen, "user '%.64s': %s", line, reason);
        return -1;
    }
    s_table_put(t, line, &e);
    OPENSSL_cleanse(&e, sizeof e);
    return 0;
}

/* nmq_authfile_parse_fn: all or nothing. */
static int s_parse(void *arg, char *text, size_t len, const char *origin, char *err, size_t errlen)
{
    nmq_passwd_t *self = arg;
    s_table_t fresh = { 0 };
    s_rehash(&fresh, 16);
    if (nmq_authfile_lines(text, origin, s_line, &fresh, err, errlen) < 0) {
        s_table_free(&fresh);
        return -1;
    }
    s_table_free(&self->table);
    self->table = fresh;
    return 0;
}

/* --- public -------------------------------------------------------------------- */

nmq_passwd_t *nmq_passwd_new(const char *path)
{
    nmq_passwd_t *self = calloc(1, sizeof *self);
    if (!self)
        abort();
    self->file = nmq_authfile_new(path);
    s_rehash(&self->table, 16);
    return self;
}

void nmq_passwd_destroy(nmq_passwd_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    nmq_passwd_t *self = *self_p;
    s_table_free(&self->table);
    nmq_authfile_destroy(&self->file);
    free(self);
    *self_p = NULL;
}

int nmq_passwd_load(nmq_passwd_t *self, char *err, size_t errlen)
{
    return nmq_authfile_poll(self->file, true, s_parse, self, err, errlen) < 0 ? -1 : 0;
}

int nmq_passwd_reload(nmq_passwd_t *self, char *err, size_t errlen)
{
    return nmq_authfile_poll(self->file, false, s_parse, self, err, errlen);
}

int nmq_passwd_load_string(nmq_passwd_t *self, const char *text, const char *origin,
                           char *err, size_t errlen)
{
    return nmq_authfile_parse_string(text, origin, s_parse, self, err, errlen);
}

size_t nmq_passwd_count(const nmq_passwd_t *self) { return self->table.count; }

nmq_passwd_result_t nmq_passwd_check(const nmq_passwd_t *self, const char *username,
                                     const void *password, size_t password_len)
{
    if (!username || !password)
        return NMQ_PASSWD_UNKNOWN;
    size_t slot = *s_slot(&self->table, username);
    static const s_entry_t decoy = { .salt_len = NMQ_PASSWD_SALT_LEN };
    const s_entry_t *e = slot ? &self->table.entries[slot - 1] : &decoy;
    unsigned char digest[S_DIGEST_LEN];
    s_digest(e, password, password_len, digest);
    bool match = CRYPTO_memcmp(digest, e->digest, S_DIGEST_LEN) == 0;
    OPENSSL_cleanse(digest, sizeof digest);
    if (!slot)
        return NMQ_PASSWD_UNKNOWN;
    return match ? NMQ_PASSWD_OK : NMQ_PASSWD_DENIED;
}

const char *nmq_passwd_result_str(nmq_passwd_result_t r)
{
    static const char *const names[] = {
        [NMQ_PASSWD_OK] = "ok",
        [NMQ_PASSWD_DENIED] = "bad password",
        [NMQ_PASSWD_UNKNOWN] = "unknown user",
    };
    return (unsigned)r < sizeof names / sizeof names[0] ? names[r] : "?";
}
