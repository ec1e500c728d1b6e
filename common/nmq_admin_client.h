/* nmq_admin_client — one request to a running node's control socket, as
 * nemomq-admin and `nemomq ping` send it.  The node is found from its config
 * alone (platform_data_dir/run/control.sock), so several nodes on one host are
 * each reached with their own -c FILE. */
#ifndef NMQ_ADMIN_CLIENT_H
#define NMQ_ADMIN_CLIENT_H

#include <stdbool.h>
#include "nmq_config.h"

#define NMQ_ADMIN_NOT_RUNNING (-1)

/* The config that locates a node, read from path.  When the file no longer
 * loads (an operator broke a value and now asks for a reload), only nodename
 * and platform_data_dir are taken from it, so the running node can still be
 * reached and can say what is wrong.  NULL (with err) if even that fails. */
nmq_config_t *nmq_admin_locate(const char *path, char *err, size_t errlen);

/* Send argv; wait up to timeout_ms for the answer.  Returns the command's exit
 * status with *out and *err (malloc'd, may be empty), or NMQ_ADMIN_NOT_RUNNING
 * when no node answers (then *err says why). */
int nmq_admin_call(const nmq_config_t *cfg, int argc, char **argv, bool json, int timeout_ms,
                   char **out, char **err);

#endif
