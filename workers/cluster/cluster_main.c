/* cluster — "nemomq: cluster": links to the other nodes of the cluster (ROUTER/DEALER), heartbeats, netsplit detection.
 *
 * The foundation gives it the shared worker runtime only (HELLO/READY,
 * heartbeats, STOP, RELOAD); its own work arrives with the issues that need it.
 */
#include "roles.h"
#include "nmq_worker.h"

static const nmq_role_t s_role = { .name = "cluster" };

int cluster_main(void) { return nmq_worker_main(&s_role); }
