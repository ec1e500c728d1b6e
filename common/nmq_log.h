/* nmq_log — one log line format for every process of a node.
 *
 * Each line carries time, level, role, slot and pid, so the lines of all the
 * workers of a node can share one file and still be told apart:
 *   2026-11-23T06:15:09.123Z [info] acceptor.0 <4242> listening on 127.0.0.1:1883
 * Where lines go follows VerneMQ's keys: log.console (off | file | console |
 * both), log.console.file, log.console.level, and log.error.file which gets
 * every warning and error again.  Files are opened O_APPEND, so lines written by
 * several processes do not tear.  nmq_log_open() may be called again (reload,
 * log rotation): it reopens the files.
 */
#ifndef NMQ_LOG_H
#define NMQ_LOG_H

#include <stdbool.h>
#include "nmq_config.h"

/* Who this process is, for every line it writes. */
void nmq_log_identity(const char *role, int slot);

/* Open the outputs named by the config.  force_stderr adds stderr whatever
 * log.console says (`nemomq console`).  0 ok; -1 with err set. */
int nmq_log_open(const nmq_config_t *cfg, bool force_stderr, char *err, size_t errlen);
void nmq_log_close(void);
void nmq_log_set_level(nmq_log_level_t level);
nmq_log_level_t nmq_log_get_level(void);

void nmq_log(nmq_log_level_t level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#define nmq_debug(...) nmq_log(NMQ_LOG_DEBUG, __VA_ARGS__)
#define nmq_info(...)  nmq_log(NMQ_LOG_INFO, __VA_ARGS__)
#define nmq_warn(...)  nmq_log(NMQ_LOG_WARNING, __VA_ARGS__)
#define nmq_error(...) nmq_log(NMQ_LOG_ERROR, __VA_ARGS__)

#endif
