/* close_inactive_tickets {"inactive_days":N} (API.md section 5). */
#include "autoconf.h"

#include <stdio.h>
#include <string.h>

#include "app.h"
#include "task.h"
#include "tickets.h"
#include "util.h"

static const struct task_type task_types[] = {
	{ "archive_old_interactions", task_archive },
	{ "close_inactive_tickets", task_close_inactive },
	{ "send_notifications", task_notify },
};

const struct task_type *
task_find(const char *type)
{
	size_t i;

	for (i = 0; i < sizeof(task_types) / sizeof(task_types[0]); i++)
		if (strcmp(task_types[i].name, type) == 0)
			return &task_types[i];
	return NULL;
}

int
task_days(json_t *payload, const char *key, long long *days, char *err,
    size_t errsz)
{
	json_t *v = json_object_get(payload, key);

	if (!json_is_integer(v) || json_integer_value(v) < 0 ||
	    json_integer_value(v) > 100000) {
		snprintf(err, errsz, "payload.%s must be a whole number of days "
		    "from 0", key);
		return -1;
	}
	*days = json_integer_value(v);
	return 0;
}

/* Batches of at most TICKETS_BATCH_MAX rows, sized and spaced by
 * task_pace so that the app's writes are never blocked for long. */
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
		if ((n = tickets_close_inactive(app, cutoff, limit)) < 0) {
			snprintf(err, errsz, "database error");
			return TASK_RETRY;
		}
		if (n < limit)
			return TASK_DONE;
		task_pace_end(&pace, n);
	}
}
