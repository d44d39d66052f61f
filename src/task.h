/*
 * task: the worker's task handlers, one file each (task_*.c). A handler
 * is idempotent: a task may run twice (a crash after its work, before its
 * acknowledgement).
 */
#ifndef CHATDESK_TASK_H
#define CHATDESK_TASK_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

struct app;

enum task_rc {
	TASK_DONE,
	TASK_RETRY,		/* failed; try again later */
	TASK_MALFORMED		/* bad payload: dead at once */
};

typedef enum task_rc (*task_fn)(struct app *, const char *task_id,
    json_t *payload, char *err, size_t errsz);

/* The task types, in the order of the shared metrics file. */
enum task_type {
	TASK_CLOSE_INACTIVE,	/* close_inactive_tickets */
	TASK_ARCHIVE,		/* archive_old_interactions */
	TASK_NOTIFY,		/* send_notifications */
	TASK_TYPE__MAX
};

/* Their names (task.c). */
extern const char *const task_names[TASK_TYPE__MAX];
/* The type named name, or -1 if the worker knows none by that name. */
int task_type_of(const char *name);

struct task_handler {
	enum task_type	 type;
	task_fn		 fn;
};

/* The handler of the type named name, or NULL (task_table.c). */
const struct task_handler *task_find(const char *name);

/* Reads a whole number of days (0 or more) from payload[key]. Returns 0,
 * or -1 with err set. */
int task_days(json_t *payload, const char *key, long long *days, char *err,
    size_t errsz);

/*
 * Pacing of the maintenance handlers' batches (task_pace.c): each batch
 * is sized to hold SQLite's write lock about maintenance_batch_ms, and
 * followed by a pause that lets the app's writers in.
 */
struct task_pace {
	struct app	*app;
	int64_t		 budget_us;
	int64_t		 held_us;	/* db_held_us at the batch's start */
	int		 limit;		/* rows in the next batch */
	int		 max;
	int		 batches;
};

void task_pace_init(struct task_pace *, struct app *, int max);
/* Before a batch: returns the rows it may take. */
int task_pace_start(struct task_pace *);
/* After a batch of n rows (committed): sizes the next one, pauses, and
 * calls the worker's heartbeat. */
void task_pace_end(struct task_pace *, int n);

enum task_rc task_close_inactive(struct app *, const char *, json_t *, char *,
    size_t);
enum task_rc task_archive(struct app *, const char *, json_t *, char *, size_t);
enum task_rc task_notify(struct app *, const char *, json_t *, char *, size_t);

#endif
