/* nmq_paths — where a node keeps its files, derived from its config, so the
 * supervisor, the nemomq CLI and nemomq-admin agree without talking:
 *   <platform_data_dir>/run/            mode 0700, the node's run directory
 *   <platform_data_dir>/run/control.sock  nemomq-admin -> supervisor
 *   <platform_data_dir>/run/workers.sock  workers -> supervisor
 *   <platform_data_dir>/run/nemomq.pid
 *   <host lock dir>/<nodename>.lock     one node of a name per host
 */
#ifndef NMQ_PATHS_H
#define NMQ_PATHS_H

#include <stddef.h>
#include "nmq_config.h"

int nmq_paths_run_dir(const nmq_config_t *cfg, char *buf, size_t len);
int nmq_paths_pid_file(const nmq_config_t *cfg, char *buf, size_t len);
int nmq_paths_control_endpoint(const nmq_config_t *cfg, char *buf, size_t len);
int nmq_paths_workers_endpoint(const nmq_config_t *cfg, char *buf, size_t len);
/* ipc://<run dir>/<name>: the sockets the workers bind for each other. */
int nmq_paths_endpoint(const nmq_config_t *cfg, const char *name, char *buf, size_t len);
/* /run/lock/nemomq (root) or /tmp/nemomq-<uid>, created on demand. */
int nmq_paths_node_lock(const nmq_config_t *cfg, char *buf, size_t len);
/* mkdir -p with mode for the last component; 0 or -1 (errno set). */
int nmq_mkdir_p(const char *path, unsigned mode);

/* The config file to use when none is named: the installed one if it exists,
 * else conf/nemomq.conf of a checkout. */
const char *nmq_paths_default_config(void);

#endif
