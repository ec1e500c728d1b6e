/* queue — "nemomq: queue": client-queue shard: owns the queues of the client ids that hash to its slot; each shard writes its own LMDB environment.
 *
 * The foundation gives it the shared worker runtime only (HELLO/READY,
 * heartbeats, STOP, RELOAD); its own work arrives with the issues that need it.
 */
#include "roles.h"
#include "nmq_worker.h"

static const nmq_role_t s_role = { .name = "queue" };

int queue_main(void) { return nmq_worker_main(&s_role); }
