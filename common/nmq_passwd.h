/* nmq_passwd — VerneMQ's vmq_passwd: username/password checks against a
 * password file, for the acceptors' CONNECT handling and nemomq-passwd.
 *
 * The file is VerneMQ's (and mosquitto_passwd 1.x's), one user a line:
 *   username:$6$<base64 salt>$<base64 SHA-512(password || salt)>
 * (not crypt(3)'s $6$: one plain SHA-512 round, 12-byte salt).  Lines written
 * by mosquitto_passwd 2.x are accepted too:
 *   username:$7$<iterations>$<base64 salt>$<base64 PBKDF2-HMAC-SHA512, 64 bytes>
 * Blank lines and lines starting with '#' are ignored.  A username cannot
 * contain ':'.  A line that is not one of these (a clear-text password, say)
 * fails the whole load: the previous table stays, and the error names the
 * line and the user but never what follows the ':'.
 *
 * Passwords are never kept: the table holds salts and digests only, and the
 * digest is compared in constant time.  Not thread-safe (one per process).
 */
#ifndef NMQ_PASSWD_H
#define NMQ_PASSWD_H

#include <stdbool.h>
#include <stddef.h>

typedef struct nmq_passwd nmq_passwd_t;

typedef enum {
    NMQ_PASSWD_OK = 0,      /* the user is in the file and the password matches */
    NMQ_PASSWD_DENIED,      /* the user is in the file, the password is wrong */
    NMQ_PASSWD_UNKNOWN,     /* no such user, or no username or no password given:
                               VerneMQ's `next` (another auth source may answer;
                               with none, the CONNECT is not authorised) */
} nmq_passwd_result_t;

/* A table for the file at path (NULL: only nmq_passwd_load_string); no I/O
 * yet, and until a load succeeds the table is empty. */
nmq_passwd_t *nmq_passwd_new(const char *path);
void nmq_passwd_destroy(nmq_passwd_t **self_p);

/* Read the file now, whatever its state (start-up, an operator's reload).
 * 0 loaded; -1 with err set, and the table is what it was. */
int nmq_passwd_load(nmq_passwd_t *self, char *err, size_t errlen);

/* For the periodic poll (vmq_passwd.password_reload_interval): reads the file
 * only if it changed (inode, size, mtime) and has not been modified in the
 * last second.  1 reloaded; 0 nothing to do (a failure already reported is
 * not reported again until the file changes); -1 with err set, table kept. */
int nmq_passwd_reload(nmq_passwd_t *self, char *err, size_t errlen);

/* The same from text (tests, tools); origin names it in errors. */
int nmq_passwd_load_string(nmq_passwd_t *self, const char *text, const char *origin,
                           char *err, size_t errlen);

size_t nmq_passwd_count(const nmq_passwd_t *self);

/* The MQTT password is binary data, hence (password, len).  Unknown users
 * cost one hash too, so timing does not tell which usernames exist. */
nmq_passwd_result_t nmq_passwd_check(const nmq_passwd_t *self, const char *username,
                                     const void *password, size_t password_len);
const char *nmq_passwd_result_str(nmq_passwd_result_t r);

/* --- hashing, for nemomq-passwd and the tests -------------------------------- */

#define NMQ_PASSWD_SALT_LEN 12
#define NMQ_PASSWD_HASH_MAX 192     /* room for any "$6$..." this module writes */

/* The "$6$salt$hash" text for password with a fresh salt from getrandom().
 * 0 ok; -1 with err set (no entropy). */
int nmq_passwd_hash(const void *password, size_t password_len, char out[NMQ_PASSWD_HASH_MAX],
                    char *err, size_t errlen);
/* The same with a given salt (known-answer tests). */
void nmq_passwd_hash_salted(const void *password, size_t password_len, const unsigned char *salt,
                            size_t salt_len, char out[NMQ_PASSWD_HASH_MAX]);
/* Does text (what follows "username:") parse as a hash this module checks? */
bool nmq_passwd_is_hash(const char *text);

#endif
