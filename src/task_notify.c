/*
 * send_notifications {"ticket_id","event","actor_id"} (API.md section 5):
 * one notification per recipient, never to the actor, at most once per
 * task id (UNIQUE (task_id, user_id)); then, if notify_command is set, the
 * command runs once per notification not yet accepted, with its JSON on
 * standard input. A failure makes the task retry, and the retry pipes
 * only what the command has not accepted. Without a command the task is
 * marked done in its record in the transaction of its notifications.
 */
#include "autoconf.h"

#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "app.h"
#include "db.h"
#include "events.h"
#include "log.h"
#include "queue.h"
#include "task.h"
#include "tickets.h"
#include "util.h"

#define NOTIFY_MAX_RECIPIENTS	10000

static int
add_one(struct app *app, int64_t user, enum tickets_event event,
    int64_t ticket, const char *task_id, int64_t now)
{
	return db_notification_insert(app->db, user, tickets_events[event],
	    ticket, task_id, now);
}

/* Writes the notifications of the task in one transaction, and marks
 * the task done in it when that is all there is to do (last). */
static int
write_all(struct app *app, const char *task_id, const struct ticket *t,
    enum tickets_event event, int64_t actor, int last)
{
	int64_t now = util_now_ms(), staff[NOTIFY_MAX_RECIPIENTS];
	struct db_ids found = { staff, 0, NOTIFY_MAX_RECIPIENTS };
	int n, i;

	if (db_begin(app->db) == -1)
		return -1;
	if (event == TICKETS_EVENT_CREATED) {
		if (db_staff_ids(app->db, db_ids_keep, &found) == -1)
			goto fail;
		n = found.n;
		for (i = 0; i < n; i++)
			if (staff[i] != actor && add_one(app, staff[i], event,
			    t->id, task_id, now) == -1)
				goto fail;
	} else {
		/* The requester and the assignee as they are now. */
		if (t->requester_id != actor && add_one(app, t->requester_id,
		    event, t->id, task_id, now) == -1)
			goto fail;
		if (t->assignee_id != 0 && t->assignee_id != actor &&
		    t->assignee_id != t->requester_id &&
		    add_one(app, t->assignee_id, event, t->id, task_id,
		    now) == -1)
			goto fail;
	}
	if (last && queue_task_done(app->queue, task_id) == -1)
		goto fail;
	return db_commit(app->db);
fail:
	db_rollback(app->db);
	return -1;
}

/* Closes every descriptor from lo up, in a child before exec. */
static void
close_from(int lo)
{
	long max;
	int fd;

#ifdef SYS_close_range
	if (syscall(SYS_close_range, (unsigned)lo, ~0U, 0) == 0)
		return;
#endif
	if ((max = sysconf(_SC_OPEN_MAX)) < 0 || max > 65536)
		max = 65536;
	for (fd = lo; fd < max; fd++)
		close(fd);
}

/* The notification object of API.md from an undelivered one (unread:
 * delivery to notify_command is not reading). */
static json_t *
notif_json(const struct db_notification *n)
{
	char created[UTIL_TIME_LEN];

	util_format_time(n->created_at, created);
	return json_pack("{s:I, s:I, s:s, s:I, s:s, s:n}",
	    "id", (json_int_t)n->id,
	    "user_id", (json_int_t)n->user_id,
	    "event", n->event,
	    "ticket_id", (json_int_t)n->ticket_id,
	    "created_at", created, "read_at");
}

/* A db_notification_fn: notification.created to the recipient's channel. */
static int
publish_one(void *arg, const struct db_notification *row)
{
	struct app *app = arg;
	struct events_chans ch;
	json_t *n;

	events_chans_init(&ch);
	events_chans_add(&ch, "user", row->user_id);
	if ((n = notif_json(row)) != NULL)
		events_emit(app->events, &ch, json_pack("{s:s, s:o}",
		    "type", "notification.created", "notification", n));
	return 0;
}

/*
 * notification.created to each recipient's own channel, for the task's
 * notifications not yet handed to notify_command: on a retry, those of
 * the first attempt may go again (a hint; clients drop duplicates by id).
 */
static void
publish_all(struct app *app, const char *task_id)
{
	db_notifications_undelivered(app->db, task_id, publish_one, app);
	events_flush(app->events);
}

/* Runs notify_command with json on stdin, bounded by notify_timeout_ms.
 * Returns 0 if it exited 0. */
static int
run_command(struct app *app, const char *json, char *err, size_t errsz)
{
	int fds[2], status;
	pid_t pid, w;
	size_t len = strlen(json), off = 0;
	ssize_t n;
	int64_t deadline = util_mono_us() + app->cfg.notify_timeout_ms * 1000;
	struct timespec ts = { 0, 10 * 1000 * 1000 };

	/* Close-on-exec: the child gets the read end as its stdin only. */
	if (pipe2(fds, O_CLOEXEC) == -1) {
		snprintf(err, errsz, "pipe: %s", strerror(errno));
		return -1;
	}
	if ((pid = fork()) == -1) {
		close(fds[0]);
		close(fds[1]);
		snprintf(err, errsz, "fork: %s", strerror(errno));
		return -1;
	}
	if (pid == 0) {
		/* Its own process group, so a timeout kills the whole pipeline. */
		setpgid(0, 0);
		/* dup2 clears close-on-exec on the copy. */
		if (dup2(fds[0], STDIN_FILENO) == -1)
			_exit(127);
		/* Every descriptor of ours is close-on-exec already; this
		 * also covers one a library opened without it: the command
		 * sees 0, 1 and 2 and nothing else. */
		close_from(STDERR_FILENO + 1);
		execl("/bin/sh", "sh", "-c", app->cfg.notify_command, (char *)NULL);
		_exit(127);
	}
	close(fds[0]);
	/* A command that does not read its input must not block us. */
	fcntl(fds[1], F_SETFL, O_NONBLOCK);
	while (off < len && util_mono_us() < deadline) {
		n = write(fds[1], json + off, len - off);
		if (n > 0)
			off += (size_t)n;
		else if (n == -1 && errno != EAGAIN && errno != EINTR)
			break;
		else
			nanosleep(&ts, NULL);
	}
	close(fds[1]);
	while ((w = waitpid(pid, &status, WNOHANG)) == 0 &&
	    util_mono_us() < deadline)
		nanosleep(&ts, NULL);
	if (w == 0) {
		kill(-pid, SIGKILL);
		kill(pid, SIGKILL);
		waitpid(pid, &status, 0);
		snprintf(err, errsz, "notify_command ran past %lld ms",
		    app->cfg.notify_timeout_ms);
		return -1;
	}
	if (w == -1 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		snprintf(err, errsz, "notify_command failed (status %d)",
		    WIFEXITED(status) ? WEXITSTATUS(status) : -1);
		return -1;
	}
	return 0;
}

struct deliver_arg {
	int64_t		 ids[NOTIFY_MAX_RECIPIENTS];
	char		*texts[NOTIFY_MAX_RECIPIENTS];
	int		 n;
};

/* A db_notification_fn: keeps the notification's id and JSON text. */
static int
deliver_keep(void *arg, const struct db_notification *row)
{
	struct deliver_arg *a = arg;
	json_t *j;

	if (a->n >= NOTIFY_MAX_RECIPIENTS)
		return 1;
	a->ids[a->n] = row->id;
	j = notif_json(row);
	a->texts[a->n] = j ? json_dumps(j, JSON_COMPACT) : NULL;
	json_decref(j);
	if (a->texts[a->n] != NULL)
		a->n++;
	return a->n >= NOTIFY_MAX_RECIPIENTS;
}

/* Pipes every notification of the task not yet accepted. */
static int
deliver(struct app *app, const char *task_id, char *err, size_t errsz)
{
	struct deliver_arg a;
	int i, rc = 0, read;

	a.n = 0;
	/* Those read before a failed read are delivered; the rest wait for
	 * the task's retry. */
	read = db_notifications_undelivered(app->db, task_id, deliver_keep, &a);
	for (i = 0; i < a.n; i++) {
		/* A long delivery keeps the worker's lock alive. */
		if (app->heartbeat != NULL)
			app->heartbeat(app);
		if (rc == 0 && run_command(app, a.texts[i], err, errsz) == -1)
			rc = -1;
		if (rc == 0 && db_notification_delivered(app->db, a.ids[i],
		    util_now_ms()) != 0)
			rc = -1;
		free(a.texts[i]);
	}
	if (rc == 0 && read == -1) {
		snprintf(err, errsz, "database error");
		rc = -1;
	}
	return rc;
}

enum task_rc
task_notify(struct app *app, const char *task_id, json_t *payload, char *err,
    size_t errsz)
{
	json_t *tid = json_object_get(payload, "ticket_id");
	json_t *ev = json_object_get(payload, "event");
	json_t *ac = json_object_get(payload, "actor_id");
	int event;
	struct ticket t;
	int64_t actor = 0;
	int rc;

	if (!json_is_integer(tid) || json_integer_value(tid) < 1 ||
	    !json_is_string(ev) ||
	    (ac != NULL && !json_is_null(ac) &&
	    (!json_is_integer(ac) || json_integer_value(ac) < 1))) {
		snprintf(err, errsz, "payload needs ticket_id, event and "
		    "actor_id (an id or null)");
		return TASK_MALFORMED;
	}
	if ((event = tickets_event_of(json_string_value(ev))) == -1) {
		snprintf(err, errsz, "unknown event");
		return TASK_MALFORMED;
	}
	if (json_is_integer(ac))
		actor = json_integer_value(ac);
	if ((rc = tickets_load(app, json_integer_value(tid), &t)) == 1)
		return TASK_DONE;	/* no such ticket: nobody to tell */
	if (rc == -1 || write_all(app, task_id, &t, (enum tickets_event)event,
	    actor, *app->cfg.notify_command == '\0') == -1) {
		snprintf(err, errsz, "database error");
		return TASK_RETRY;
	}
	publish_all(app, task_id);
	if (*app->cfg.notify_command != '\0' &&
	    deliver(app, task_id, err, errsz) == -1)
		return TASK_RETRY;
	return TASK_DONE;
}
