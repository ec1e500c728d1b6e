/* migration — "nemomq: migration": moves queues between nodes: cluster leave, session takeover.
 *
 * The foundation gives it the shared worker runtime only (HELLO/READY,
 * heartbeats, STOP, RELOAD); its own work arrives with the issues that need it.
 */
#include "roles.h"
#include "nmq_worker.h"

static const nmq_role_t s_role = { .name = "migration" };

int migration_main(void) { return nmq_worker_main(&s_role); }
