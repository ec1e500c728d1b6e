/* nmq_authfile — the file-watching half of the password and ACL modules
 * (nmq_passwd, nmq_acl).
 *
 * Both files are edited by hand or by nemomq-passwd while the node runs, and
 * every acceptor polls them (VerneMQ: every 10 s).  The rule that matters is
 * that a reload never makes things worse: the module's parser builds a new
 * table from the whole text and swaps it in only when every line parsed, so a
 * file that is missing, half-written or wrong leaves the last good table in
 * place.  This file decides whether to read at all (file identity: device,
 * inode, size, mtime, ctime — an editor's rename changes the inode, an
 * in-place write the size or mtime), reads the file whole, and reports each
 * distinct failure once, so a broken file is not logged again at every poll.
 */
#ifndef NMQ_AUTHFILE_H
#define NMQ_AUTHFILE_H

#include <stdbool.h>
#include <stddef.h>

typedef struct nmq_authfile nmq_authfile_t;

/* Parse text (NUL-terminated, len bytes, writable; origin names it in errors)
 * and install the result: 0 done, -1 with err set and nothing changed. */
typedef int (nmq_authfile_parse_fn)(void *arg, char *text, size_t len, const char *origin,
                                    char *err, size_t errlen);

/* One meaningful line: trimmed of blanks and CR, never empty, never a '#'
 * comment.  0 go on; -1 with err set (without the "origin:line: " prefix,
 * which nmq_authfile_lines adds). */
typedef int (nmq_authfile_line_fn)(void *arg, int lineno, char *line, char *err, size_t errlen);

nmq_authfile_t *nmq_authfile_new(const char *path);
void nmq_authfile_destroy(nmq_authfile_t **self_p);
const char *nmq_authfile_path(const nmq_authfile_t *self);

/* Read the file and hand it to parse if it changed since the last load (or
 * always, when force).
 *   1   parsed and installed
 *   0   unchanged, or failing exactly as already reported: nothing to say
 *  -1   failed (err says why); the caller's last good table stays */
int nmq_authfile_poll(nmq_authfile_t *self, bool force, nmq_authfile_parse_fn *parse, void *arg,
                      char *err, size_t errlen);

/* Hand a copy of text to parse, as if it were the file origin (tests,
 * tools); the copy is wiped afterwards.  0 ok, -1 error. */
int nmq_authfile_parse_string(const char *text, const char *origin, nmq_authfile_parse_fn *parse,
                              void *arg, char *err, size_t errlen);

/* Cut text into lines (in place) and call fn on each meaningful one; stops
 * at the first error, which is prefixed "origin:line: ".  0 ok, -1 error. */
int nmq_authfile_lines(char *text, const char *origin, nmq_authfile_line_fn *fn, void *arg,
                       char *err, size_t errlen);

#endif
