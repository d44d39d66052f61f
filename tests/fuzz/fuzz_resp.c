/*
 * libFuzzer target: Redis replies, as hiredis parses them, handed to the
 * code that consumes them. Redis is not the trust anchor (issue 13): a
 * process that can write to it, or a Redis that misbehaves, must not make
 * the app crash, loop or answer a malformed response.
 *
 * The input is one operation byte, then the bytes Redis "sends": a
 * redisReader (redisReaderCreate, redisReaderFeed) holds them and
 * rconn_set_reader makes every command of the operation take the next
 * reply it parses instead of a server's; when they run out, or do not
 * parse, Redis is down for the rest of the operation. The operations are
 * real requests through the dispatcher (the session, user:, ticket:,
 * stats: records; the room list and its push; the rate limit's counter;
 * SCAN loops of the cache routes; INFO and DBSIZE; the queue's lists,
 * dead tasks and scripts) and the worker's queue moves, each with the
 * process's session cache dropped first so that session: is read.
 *
 * Cached values that feed a decision are authenticated (issue 13): a
 * forged one is a miss, so besides the head of every answer and what ASan
 * and UBSan see, the target checks the property itself: a forged
 * session: or ticket: value opens nothing (a customer on an admin route,
 * another customer's ticket) and no answer is a 500. A room list's items
 * decide nothing and are sent as they are, so a JSON answer need not
 * parse here. FUZZ_REDIS_TRUSTED=1 drops the two checks, to fuzz a tree
 * where Redis is still trusted.
 */
#include "autoconf.h"

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sys/syscall.h>

#include <time.h>
#include <unistd.h>

#include <hiredis/hiredis.h>

#include "cache_int.h"
#include "fuzz_app.h"
#include "metrics.h"
#include "queue.h"
#include "rconn.h"

struct op {
	const char	*method;
	const char	*uri;
	const char	*token;
	const char	*body;
	int		 refused;	/* the status whatever Redis says */
};

/* The first byte picks one (modulo their number); -1 .. -6: the worker's
 * queue calls below. */
static const struct op ops[] = {
	{ "GET", "/api/v1/users/me", "@customer", NULL, 0 },
	{ "GET", "/api/v1/users/3", "@admin", NULL, 0 },
	{ "PATCH", "/api/v1/users/4", "@admin", "{\"name\":\"renamed\"}", 0 },
	{ "GET", "/api/v1/rooms", "@customer", NULL, 0 },
	{ "GET", "/api/v1/rooms/1", "@customer", NULL, 0 },
	{ "GET", "/api/v1/rooms/1/messages", "@customer", NULL, 0 },
	{ "GET", "/api/v1/rooms/1/messages?limit=3", "@agent", NULL, 0 },
	{ "POST", "/api/v1/rooms/1/messages", "@customer", "{\"body\":\"hi\"}", 0 },
	{ "GET", "/api/v1/tickets/1", "@customer", NULL, 0 },
	{ "GET", "/api/v1/tickets/1", "@other", NULL, 0 },
	{ "PATCH", "/api/v1/tickets/1", "@agent", "{\"priority\":\"high\"}", 0 },
	{ "GET", "/api/v1/tickets/1/interactions", "@customer", NULL, 0 },
	{ "POST", "/api/v1/tickets/1/interactions", "@customer",
	    "{\"body\":\"more\"}", 0 },
	{ "GET", "/api/v1/stats/users/3?days=7", "@customer", NULL, 0 },
	{ "GET", "/api/v1/notifications", "@agent", NULL, 0 },
	{ "GET", "/api/v1/cache/stats", "@admin", NULL, 0 },
	{ "POST", "/api/v1/cache/invalidate", "@admin",
	    "{\"pattern\":\"user:*\"}", 0 },
	{ "POST", "/api/v1/cache/invalidate", "@admin", "{\"key\":\"user:3\"}", 0 },
	{ "POST", "/api/v1/cache/clear", "@admin", "{}", 0 },
	{ "GET", "/api/v1/queue", "@admin", NULL, 0 },
	{ "POST", "/api/v1/queue/failed/retry", "@admin", "{}", 0 },
	{ "DELETE", "/api/v1/queue/failed", "@admin", NULL, 0 },
	{ "GET", "/api/v1/health", NULL, NULL, 0 },
	{ "GET", "/metrics", "@admin", NULL, 0 },
	{ NULL, "take", NULL, NULL, 0 },
	{ NULL, "lock", NULL, NULL, 0 },
	{ NULL, "moves", NULL, NULL, 0 },
	{ NULL, "dead", NULL, NULL, 0 },
	{ NULL, "delay", NULL, NULL, 0 },
	/* A caller Redis must not promote: a forged session: or ticket:
	 * value grants nothing (issue 13). */
	{ "GET", "/api/v1/cache/stats", "@customer", NULL, 403 },
	{ "GET", "/api/v1/tickets/1", "@other", NULL, 404 },
};

#define NOPS	(sizeof(ops) / sizeof(ops[0]))

static struct rconn *rc;
static int untrusted;

static void settle(void);

/*
 * A reply that says another reader holds the lease makes the cache wait
 * (CACHE_WAIT_TRIES pauses of CACHE_WAIT_US): the same code path without
 * the pause, or the fuzzer would spend its time asleep. Only the thread
 * running an input skips it; libFuzzer's own threads sleep for real.
 */
static __thread int in_input;

int
nanosleep(const struct timespec *req, struct timespec *rem)
{
	if (in_input)
		return 0;
	return (int)syscall(SYS_nanosleep, req, rem);
}

void
fuzz_target_init(void)
{
	/* The cache and the queue share this connection (one URL). */
	if (!fuzz_app.app.one_redis)
		abort();
	rc = fuzz_app.app.cache->rc;
	/* Where Redis is trusted, a forged session: value names any user
	 * ("0 customer": a post then fails in SQLite, a 500) and a forged
	 * record is sent as it is. */
	untrusted = getenv("FUZZ_REDIS_TRUSTED") == NULL;
	fuzz_check_500 = untrusted;
	/* A room list's items are Redis's bytes, sent as they are. */
	fuzz_check_json = 0;
	/* What the set-up remembered while Redis was unreachable. */
	settle();
}

static void
worker_op(const char *what)
{
	struct queue *q = fuzz_app.app.queue;
	struct strbuf ack, out;
	json_t *arr;

	strbuf_init(&ack);
	strbuf_init(&out);
	if (strcmp(what, "take") == 0) {
		strbuf_adds(&ack, "{\"id\":\"a\",\"type\":\"x\"}");
		if (queue_take(q, NULL, &out) == 1 && out.buf == NULL)
			abort();
		(void)queue_take(q, &ack, &out);
		(void)queue_ack(q, ack.buf, ack.len);
	} else if (strcmp(what, "lock") == 0) {
		(void)queue_lock_take(q, 60000);
		(void)queue_lock_renew(q);
		(void)queue_lock_release(q);
	} else if (strcmp(what, "moves") == 0) {
		(void)queue_recover_orphans(q);
		(void)queue_move_due(q);
		(void)queue_length(q, KEY_TASKS_PENDING);
		(void)queue_ping(q);
	} else if (strcmp(what, "dead") == 0) {
		if ((arr = json_array()) == NULL)
			abort();
		(void)queue_dead_list(q, 10, arr);
		json_decref(arr);
		(void)queue_dead_retry(q);
		(void)queue_dead_clear(q);
	} else {
		(void)queue_delay(q, "t", 1, "u", 1);
		(void)queue_bury(q, "t", 1, "{\"dead\":1}");
	}
	strbuf_free(&ack);
	strbuf_free(&out);
}

/*
 * Replays, with a Redis that says done, the invalidations an input left
 * remembered (a DEL whose reply failed), so that the next input starts
 * where every input starts: nothing to replay.
 */
static void
settle(void)
{
	/* Done for a DEL, the last page for a SCAN. */
	static const char yes[] = "*2\r\n$1\r\n0\r\n*0\r\n";
	redisReader *rd;
	int i;

	if ((rd = redisReaderCreate()) == NULL)
		abort();
	for (i = 0; i < 256; i++)
		redisReaderFeed(rd, yes, sizeof(yes) - 1);
	rconn_set_reader(rc, rd);
	(void)cache_sync(fuzz_app.app.cache);
	rconn_set_reader(rc, NULL);
	redisReaderFree(rd);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const struct op *op;
	redisReader *rd;
	int status;

	if (size == 0)
		return 0;
	op = &ops[data[0] % NOPS];
	if ((rd = redisReaderCreate()) == NULL)
		abort();
	/* As every connection's reader: "*999999999" is refused, not
	 * calloc'd (rconn.c). */
	rconn_bound_reader(rd);
	if (size > 1 && redisReaderFeed(rd, (const char *)data + 1,
	    size - 1) != REDIS_OK)
		abort();
	/* session: is read, not this process's memory of it. */
	metrics_session_bump();
	rconn_set_reader(rc, rd);
	in_input = 1;
	if (op->method != NULL) {
		status = fuzz_simple(op->method, op->uri, op->token, op->body);
		if (untrusted && op->refused != 0 && status != op->refused)
			abort();
	} else
		worker_op(op->uri);
	in_input = 0;
	rconn_set_reader(rc, NULL);
	redisReaderFree(rd);
	settle();
	return 0;
}
