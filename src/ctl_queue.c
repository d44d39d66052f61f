/* chatdeskctl enqueue, queue stats, dead list, dead retry, cache warm. */
#include "autoconf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "app.h"
#include "ctl.h"
#include "queue.h"
#include "task.h"
#include "rooms.h"
#include "tickets.h"

/* enqueue TYPE [PAYLOAD_JSON] */
static int
ctl_enqueue(struct app *app, int argc, char **argv)
{
	json_t *payload;
	json_error_t jerr;
	const char *type;

	if (argc < 2 || argc > 3)
		return ctl_usage_error(&ctl_enqueue_cmd, "expected TYPE [JSON]");
	type = argv[1];
	if (task_type_of(type) == -1)
		return ctl_usage_error(&ctl_enqueue_cmd, "unknown task type "
		    "(close_inactive_tickets, archive_old_interactions, "
		    "send_notifications)");
	if (argc == 3) {
		payload = json_loads(argv[2], JSON_REJECT_DUPLICATES, &jerr);
		if (!json_is_object(payload)) {
			json_decref(payload);
			return ctl_usage_error(&ctl_enqueue_cmd,
			    "the payload must be a JSON object");
		}
	} else if (strcmp(type, "close_inactive_tickets") == 0)
		payload = json_pack("{s:i}", "inactive_days", 7);
	else if (strcmp(type, "archive_old_interactions") == 0)
		payload = json_pack("{s:i}", "older_than_days", 90);
	else
		return ctl_usage_error(&ctl_enqueue_cmd,
		    "send_notifications needs a payload");
	if (ctl_open(app, 0) == -1) {
		json_decref(payload);
		return EXIT_FAILURE;
	}
	if (queue_enqueue(app->queue, type, payload) == -1) {
		fprintf(stderr, "chatdeskctl: could not write the task\n");
		return EXIT_FAILURE;
	}
	/* With Redis away the task waits in the outbox: it is not lost, the
	 * next worker run pushes it. */
	if (queue_outbox_count(app->queue) > 0)
		fprintf(stderr, "chatdeskctl: the queue's Redis did not take "
		    "the task; it waits in the outbox for the worker\n");
	printf("enqueued %s\n", type);
	return EXIT_SUCCESS;
}

const struct ctl_cmd ctl_enqueue_cmd = {
	.name = "enqueue",
	.usage = "enqueue TYPE [PAYLOAD_JSON]",
	.help = "add a task for the worker",
	.exec = ctl_enqueue,
};

static int
ctl_queue_stats(struct app *app, int argc, char **argv)
{
	struct queue_stats qs;

	if (argc != 1)
		return ctl_usage_error(&ctl_queue_stats_cmd, "no arguments");
	if (ctl_open(app, 0) == -1)
		return EXIT_FAILURE;
	if (queue_stats(app->queue, &qs) == -1) {
		fprintf(stderr, "chatdeskctl: the queue's Redis is unreachable\n");
		return EXIT_FAILURE;
	}
	printf("pending=%lld processing=%lld delayed=%lld failed=%lld "
	    "outbox=%lld oldest_pending_age_s=%lld unfinished=%lld\n",
	    qs.pending, qs.processing, qs.delayed, qs.failed,
	    queue_outbox_count(app->queue),
	    qs.oldest_pending_age_s < 0 ? 0 : qs.oldest_pending_age_s,
	    qs.unfinished);
	return EXIT_SUCCESS;
}

const struct ctl_cmd ctl_queue_stats_cmd = {
	.name = "queue stats",
	.usage = "queue stats",
	.help = "the length of each queue key, the outbox, the unfinished",
	.exec = ctl_queue_stats,
};

static int
ctl_dead_list(struct app *app, int argc, char **argv)
{
	json_t *arr, *t;
	size_t i;
	char *s;

	if (argc != 1)
		return ctl_usage_error(&ctl_dead_list_cmd, "no arguments");
	if (ctl_open(app, 0) == -1)
		return EXIT_FAILURE;
	arr = json_array();
	if (queue_dead_list(app->queue, 100000, arr) == -1) {
		json_decref(arr);
		fprintf(stderr, "chatdeskctl: the queue's Redis is unreachable\n");
		return EXIT_FAILURE;
	}
	json_array_foreach(arr, i, t) {
		if ((s = json_dumps(t, JSON_COMPACT | JSON_ENCODE_ANY)) != NULL) {
			printf("%s\n", s);
			free(s);
		}
	}
	json_decref(arr);
	return EXIT_SUCCESS;
}

const struct ctl_cmd ctl_dead_list_cmd = {
	.name = "dead list",
	.usage = "dead list",
	.help = "print the dead tasks, one JSON per line, oldest first",
	.exec = ctl_dead_list,
};

static int
ctl_dead_retry(struct app *app, int argc, char **argv)
{
	long long n;

	if (argc != 1)
		return ctl_usage_error(&ctl_dead_retry_cmd, "no arguments");
	if (ctl_open(app, 0) == -1)
		return EXIT_FAILURE;
	if ((n = queue_dead_retry(app->queue)) < 0) {
		fprintf(stderr, "chatdeskctl: the queue's Redis is unreachable\n");
		return EXIT_FAILURE;
	}
	printf("requeued %lld\n", n);
	return EXIT_SUCCESS;
}

const struct ctl_cmd ctl_dead_retry_cmd = {
	.name = "dead retry",
	.usage = "dead retry",
	.help = "move every dead task back to tasks:pending",
	.exec = ctl_dead_retry,
};

#define WARM_ROOMS	100
#define WARM_TICKETS	1000

static int
ctl_cache_warm(struct app *app, int argc, char **argv)
{
	json_t *arr, *t;
	struct strbuf text;
	enum cache_result res;
	size_t i;
	int rooms, tickets = 0;

	if (argc != 1)
		return ctl_usage_error(&ctl_cache_warm_cmd, "no arguments");
	if (ctl_open(app, 0) == -1)
		return EXIT_FAILURE;
	if ((rooms = rooms_warm(app, WARM_ROOMS)) < 0) {
		fprintf(stderr, "chatdeskctl: Redis is unreachable\n");
		return EXIT_FAILURE;
	}
	arr = json_array();
	strbuf_init(&text);
	tickets_page(app, 0, 0, "open", 0, WARM_TICKETS, arr);
	tickets_page(app, 0, 0, "pending", 0, WARM_TICKETS, arr);
	json_array_foreach(arr, i, t) {
		strbuf_reset(&text);
		if (tickets_get_cached(app, json_integer_value(json_object_get(t,
		    "id")), &text, &res, NULL) == 0 && res != CACHE_BYPASS)
			tickets++;
	}
	strbuf_free(&text);
	json_decref(arr);
	printf("warmed %d room list(s) and %d ticket(s)\n", rooms, tickets);
	return EXIT_SUCCESS;
}

const struct ctl_cmd ctl_cache_warm_cmd = {
	.name = "cache warm",
	.usage = "cache warm",
	.help = "load the busiest rooms' messages and open tickets",
	.exec = ctl_cache_warm,
};
