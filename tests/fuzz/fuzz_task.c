/*
 * libFuzzer target: a task's JSON as the worker parses it. Whatever can
 * write to the queue's Redis writes these texts, so the worker must take
 * any bytes: the input is one task text as LMOVE hands it to handle() in
 * src/worker.c (the envelope: type, id, payload, attempts), then the
 * handler it names (task_close.c, task_archive.c, task_notify.c, their
 * payload checks and their SQL against a real database), and for a task
 * that fails, the retry or dead path that rewrites it (task_with, bury).
 * The queue's Redis is a unix path that does not exist, so the moves
 * fail as they would with Redis down.
 *
 * handle() is static in the worker's main file, which no library holds:
 * this file includes src/worker.c with its main renamed, so the code
 * fuzzed is the code shipped.
 */
#define main chatdesk_worker_main
int chatdesk_worker_main(int, char *[]);
#include "worker.c"
#undef main

#include "fuzz_app.h"

void
fuzz_target_init(void)
{
	/* A retry must not wait: backoff 0 exercises the same path. */
	fuzz_app.app.cfg.task_backoff_s = 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct strbuf text;
	long long before = run.dead + run.done + run.retried;

	/* As queue_take fills it: the bytes, NUL-terminated. */
	strbuf_init(&text);
	strbuf_add(&text, (const char *)data, size);
	(void)handle(&fuzz_app.app, &text);
	/* Every task ends one way: done, retried or dead. */
	if (run.dead + run.done + run.retried != before + 1)
		abort();
	strbuf_free(&text);
	return 0;
}
