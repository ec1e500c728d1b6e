/* metadata — "nemomq: metadata": subscriptions, retained messages and client registrations; feeds the acceptors' routing replicas and replicates across the cluster.
 *
 * The foundation gives it the shared worker runtime only (HELLO/READY,
 * heartbeats, STOP, RELOAD); its own work arrives with the issues that need it.
 */
#include "roles.h"
#include "nmq_worker.h"

static const nmq_role_t s_role = { .name = "metadata" };

int meta_main(void) { return nmq_worker_main(&s_role); }
