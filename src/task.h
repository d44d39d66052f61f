/*
 * task: the worker's task handlers, one file each (task_*.c). A handler
 * is idempotent: a task may run twice (a crash after its work, before its
 * acknowledgement).
 */
#ifndef CHATDESK_TASK_H
#define CHATDESK_TASK_H

#include <stddef.h>

#include <jansson.h>

struct app;

enum task_rc {
	TASK_DONE,
	TASK_RETRY,		/* failed; try again later */
	TASK_MALFORMED		/* bad payload: dead at once */
};

typedef enum task_rc (*task_fn)(struct app *, const char *task_id,
    json_t *payload, char *err, size_t errsz);

struct task_type {
	const char	*name;
	task_fn		 fn;
};

/* The handler for type, or NULL. */
const struct task_type *task_find(const char *type);

/* Reads a whole number of days (0 or more) from payload[key]. Returns 0,
 * or -1 with err set. */
int task_days(json_t *payload, const char *key, long long *days, char *err,
    size_t errsz);

enum task_rc task_close_inactive(struct app *, const char *, json_t *, char *,
    size_t);
enum task_rc task_archive(struct app *, const char *, json_t *, char *, size_t);
enum task_rc task_notify(struct app *, const char *, json_t *, char *, size_t);

#endif
