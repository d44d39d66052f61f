/* task: the registry of task types and the helpers handlers share (see
 * task.h); the table of handlers is task_table.c, above the handlers. */
#include "autoconf.h"

#include <stdio.h>
#include <string.h>

#include "task.h"

const char *const task_names[TASK_TYPE__MAX] = {
	[TASK_CLOSE_INACTIVE] = "close_inactive_tickets",
	[TASK_ARCHIVE] = "archive_old_interactions",
	[TASK_NOTIFY] = "send_notifications",
};

int
task_type_of(const char *name)
{
	int i;

	for (i = 0; i < TASK_TYPE__MAX; i++)
		if (strcmp(task_names[i], name) == 0)
			return i;
	return -1;
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
