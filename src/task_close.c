/* close_inactive_tickets {"inactive_days":N} (API.md section 5). */
#include "autoconf.h"

#include <stdio.h>
#include <string.h>

#include "app.h"
#include "task.h"
#include "tickets.h"
#include "util.h"

/* Batches of at most TICKETS_BATCH_MAX rows, sized and spaced by
 * task_pace so that the app's writes are never blocked for long; the last
 * one (smaller than asked for) marks the task done. */
enum task_rc
task_close_inactive(struct app *app, const char *id, json_t *payload,
    char *err, size_t errsz)
{
	struct task_pace pace;
	long long days;
	int64_t cutoff;
	int n, limit;

	if (task_days(payload, "inactive_days", &days, err, errsz) == -1)
		return TASK_MALFORMED;
	cutoff = util_now_ms() - days * 86400000LL;
	task_pace_init(&pace, app, TICKETS_BATCH_MAX);
	for (;;) {
		limit = task_pace_start(&pace);
		if ((n = tickets_close_inactive(app, cutoff, limit, id)) < 0) {
			snprintf(err, errsz, "database error");
			return TASK_RETRY;
		}
		if (n < limit)
			return TASK_DONE;
		task_pace_end(&pace, n);
	}
}
