/* close_inactive_tickets {"inactive_days":N} (API.md section 5). */
#include "autoconf.h"

#include <stdio.h>
#include <string.h>

#include "app.h"
#include "task.h"
#include "tickets.h"
#include "util.h"

/* Batches of at most 500 per transaction, so that the app's writes are
 * never blocked for long; the last one marks the task done. */
enum task_rc
task_close_inactive(struct app *app, const char *id, json_t *payload,
    char *err, size_t errsz)
{
	long long days;
	int64_t cutoff;
	int n;

	if (task_days(payload, "inactive_days", &days, err, errsz) == -1)
		return TASK_MALFORMED;
	cutoff = util_now_ms() - days * 86400000LL;
	do {
		if ((n = tickets_close_inactive(app, cutoff,
		    TICKETS_BATCH_MAX, id)) < 0) {
			snprintf(err, errsz, "database error");
			return TASK_RETRY;
		}
		if (app->heartbeat != NULL)
			app->heartbeat(app);
	} while (n == TICKETS_BATCH_MAX);
	return TASK_DONE;
}
