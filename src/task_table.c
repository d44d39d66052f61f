/* task_table: the worker's handler of each task type (task.h). */
#include "autoconf.h"

#include <stddef.h>

#include "task.h"

static const struct task_handler task_handlers[TASK_TYPE__MAX] = {
	[TASK_CLOSE_INACTIVE] = { TASK_CLOSE_INACTIVE, task_close_inactive },
	[TASK_ARCHIVE] = { TASK_ARCHIVE, task_archive },
	[TASK_NOTIFY] = { TASK_NOTIFY, task_notify },
};

const struct task_handler *
task_find(const char *name)
{
	int t;

	if ((t = task_type_of(name)) == -1)
		return NULL;
	return &task_handlers[t];
}
