/*
 * Unit tests for db.h's typed loaders on a real SQLite file in a temp
 * dir (migrated as chatdeskctl migrate does): the contract every caller
 * relies on, namely 0/1/-1 for a get, the count for a list, a callback
 * that stops (1) or fails (-1) a list, NULL ids and times read as 0 and
 * written from 0, DB_DUPLICATE for a taken email, text with its length.
 */
#include "autoconf.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "config.h"
#include "db.h"

struct fixture {
	char		 dir[64];
	struct config	 cfg;
	struct db	*db;
};

static int
setup(void **state)
{
	struct fixture *f;
	char path[128], err[256];
	int from, to;

	if ((f = calloc(1, sizeof(*f))) == NULL)
		return -1;
	snprintf(f->dir, sizeof(f->dir), "/tmp/chatdesk-test-db.XXXXXX");
	if (mkdtemp(f->dir) == NULL)
		return -1;
	config_defaults(&f->cfg);
	snprintf(path, sizeof(path), "%s/app.db", f->dir);
	if (config_set(&f->cfg, "db_path", path, err, sizeof(err)) == -1)
		return -1;
	snprintf(path, sizeof(path), "%s/archive.db", f->dir);
	if (config_set(&f->cfg, "archive_db_path", path, err, sizeof(err)) == -1)
		return -1;
	if ((f->db = db_open(&f->cfg, DB_OPEN_MIGRATE, err,
	    sizeof(err))) == NULL || db_migrate(f->db, &from, &to) == -1) {
		fprintf(stderr, "# %s\n", err);
		return -1;
	}
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	static const char *const files[] = { "app.db", "app.db-wal",
	    "app.db-shm", "archive.db", "archive.db-wal", "archive.db-shm" };
	struct fixture *f = *state;
	char path[128];
	size_t i;

	db_close(f->db);
	config_free(&f->cfg);
	for (i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", f->dir, files[i]);
		unlink(path);
	}
	if (rmdir(f->dir) == -1)
		return -1;
	free(f);
	return 0;
}

/* A db_user_fn that keeps the last row's id and email, and answers what
 * the test asks for after n rows. */
struct seen {
	int64_t	 id;
	char	 email[64];
	int	 disabled;
	int	 n;
	int	 stop_after;	/* 0: never */
	int	 answer;	/* what to return then: 1 or -1 */
};

static int
seen_user(void *arg, const struct db_user *u)
{
	struct seen *s = arg;

	s->id = u->id;
	snprintf(s->email, sizeof(s->email), "%s", u->email);
	s->disabled = u->disabled;
	s->n++;
	return s->stop_after != 0 && s->n >= s->stop_after ? s->answer : 0;
}

static void
test_users(void **state)
{
	struct fixture *f = *state;
	struct seen s;
	int64_t a, b, c;

	assert_int_equal(db_user_insert(f->db, "Ann", "ann@example.org",
	    "customer", 1000, &a), 0);
	assert_int_equal(db_user_insert(f->db, "Bob", "bob@example.org",
	    "agent", 1000, &b), 0);
	assert_int_equal(db_user_insert(f->db, "Cy", "cy@example.org",
	    "admin", 1000, &c), 0);
	assert_true(a < b && b < c);
	/* The email is unique: the answer the caller branches on. */
	assert_int_equal(db_user_insert(f->db, "Ann 2", "ann@example.org",
	    "customer", 1000, &a), DB_DUPLICATE);

	memset(&s, 0, sizeof(s));
	assert_int_equal(db_user_get(f->db, b, seen_user, &s), 0);
	assert_int_equal(s.id, b);
	assert_string_equal(s.email, "bob@example.org");
	assert_int_equal(db_user_get(f->db, c + 100, seen_user, &s), 1);
	assert_int_equal(db_user_get(f->db, b, NULL, NULL), 0);
	assert_int_equal(db_user_exists(f->db, a), 1);
	assert_int_equal(db_user_exists(f->db, c + 100), 0);

	/* A page: newest first, the count of rows handed. */
	memset(&s, 0, sizeof(s));
	assert_int_equal(db_users_page(f->db, INT64_MAX, NULL, 10, seen_user,
	    &s), 3);
	assert_int_equal(s.id, a);
	memset(&s, 0, sizeof(s));
	assert_int_equal(db_users_page(f->db, INT64_MAX, "agent", 10,
	    seen_user, &s), 1);
	assert_int_equal(s.id, b);
	/* A callback that stops: the rows so far; that fails: -1. */
	memset(&s, 0, sizeof(s));
	s.stop_after = 2;
	s.answer = 1;
	assert_int_equal(db_users_page(f->db, INT64_MAX, NULL, 10, seen_user,
	    &s), 2);
	assert_int_equal(s.id, b);
	memset(&s, 0, sizeof(s));
	s.stop_after = 1;
	s.answer = -1;
	assert_int_equal(db_users_page(f->db, INT64_MAX, NULL, 10, seen_user,
	    &s), -1);
	assert_int_equal(s.n, 1);

	/* NULL leaves a column; disabled -1 leaves it, 1 sets it. */
	assert_int_equal(db_user_update(f->db, a, NULL, NULL, NULL, 1, 2000), 0);
	assert_int_equal(db_changes(f->db), 1);
	memset(&s, 0, sizeof(s));
	assert_int_equal(db_user_get(f->db, a, seen_user, &s), 0);
	assert_string_equal(s.email, "ann@example.org");
	assert_int_equal(s.disabled, 1);
	assert_int_equal(db_user_update(f->db, a, NULL, "bob@example.org",
	    NULL, -1, 2000), DB_DUPLICATE);
	assert_int_equal(db_user_update(f->db, c + 100, "X", NULL, NULL, -1,
	    2000), 0);
	assert_int_equal(db_changes(f->db), 0);
}

static void
test_passwords(void **state)
{
	struct fixture *f = *state;
	char hash[64], tiny[4];
	int64_t id, found = 0;

	assert_int_equal(db_user_insert(f->db, "Di", "di@example.org",
	    "customer", 1000, &id), 0);
	/* No hash yet: a row, and "" for the hash. */
	assert_int_equal(db_user_by_email(f->db, "di@example.org", 14, &found,
	    hash, sizeof(hash)), 0);
	assert_int_equal(found, id);
	assert_string_equal(hash, "");
	assert_int_equal(db_user_password_set(f->db, id, "$argon2id$x", 1500),
	    0);
	assert_int_equal(db_user_password_of(f->db, id, hash, sizeof(hash)), 0);
	assert_string_equal(hash, "$argon2id$x");
	/* A hash that does not fit reads as none. */
	assert_int_equal(db_user_password_of(f->db, id, tiny, sizeof(tiny)), 0);
	assert_string_equal(tiny, "");
	/* The email is the len bytes given, not a C string. */
	assert_int_equal(db_user_by_email(f->db, "di@example.orgXYZ", 14,
	    &found, NULL, 0), 0);
	assert_int_equal(db_user_by_email(f->db, "nobody@example.org", 18,
	    &found, hash, sizeof(hash)), 1);
}

static void
test_ids_keep(void **state)
{
	int64_t ids[2];
	struct db_ids k = { ids, 0, 2 };

	(void)state;
	assert_int_equal(db_ids_keep(&k, 7), 0);
	assert_int_equal(db_ids_keep(&k, 8), 1);	/* full: stop */
	assert_int_equal(db_ids_keep(&k, 9), 1);
	assert_int_equal(k.n, 2);
	assert_int_equal(ids[0], 7);
	assert_int_equal(ids[1], 8);
	k.n = 0;
	k.max = 0;
	assert_int_equal(db_ids_keep(&k, 1), 1);
	assert_int_equal(k.n, 0);
}

static int
keep_ticket(void *arg, const struct db_ticket *t)
{
	struct db_ticket *out = arg;

	*out = *t;
	out->subject = out->status = out->priority = NULL;	/* not kept */
	return 0;
}

static int
keep_interaction(void *arg, const struct db_interaction *i)
{
	struct db_interaction *out = arg;

	*out = *i;
	out->kind = out->body = NULL;
	return 0;
}

static void
test_tickets_null_is_zero(void **state)
{
	struct fixture *f = *state;
	struct db_ticket t, w;
	struct db_interaction in;
	int64_t u, id, iid;

	assert_int_equal(db_user_insert(f->db, "Ed", "ed@example.org",
	    "customer", 1000, &u), 0);
	assert_int_equal(db_ticket_insert(f->db, "Help", "high", u, 3000, &id),
	    0);
	assert_int_equal(db_ticket_get(f->db, id, keep_ticket, &t), 0);
	assert_int_equal(t.requester_id, u);
	assert_int_equal(t.assignee_id, 0);
	assert_int_equal(t.closed_at, 0);
	assert_int_equal(t.last_activity_at, 3000);
	/* 0 is written as NULL, and reads back as 0. */
	w = t;
	w.subject = "Help!";
	w.status = "closed";
	w.priority = "low";
	w.assignee_id = u;
	w.closed_at = 4000;
	assert_int_equal(db_ticket_update(f->db, &w), 0);
	w.status = "open";
	w.assignee_id = 0;
	w.closed_at = 0;
	assert_int_equal(db_ticket_update(f->db, &w), 0);
	assert_int_equal(db_ticket_get(f->db, id, keep_ticket, &t), 0);
	assert_int_equal(t.assignee_id, 0);
	assert_int_equal(t.closed_at, 0);
	assert_int_equal(db_ticket_get(f->db, id + 1, keep_ticket, &t), 1);

	/* An interaction by the system: author 0 both ways; the body is
	 * its bytes, a NUL included. */
	assert_int_equal(db_interaction_insert(f->db, id, 0, "comment",
	    "a\0b", 3, 5000, &iid), 0);
	assert_int_equal(db_interactions_page(f->db, id, INT64_MAX, 10,
	    keep_interaction, &in), 1);
	assert_int_equal(in.id, iid);
	assert_int_equal(in.author_id, 0);
	assert_int_equal(in.len, 3);
	assert_int_equal(db_interactions_after(f->db, id, iid, 10,
	    keep_interaction, &in), 0);
}

/* A db_message_fn that records the ids in order. */
struct ids {
	int64_t	 v[8];
	int	 n;
};

static int
keep_message(void *arg, const struct db_message *m)
{
	struct ids *s = arg;

	if (s->n < 8)
		s->v[s->n++] = m->id;
	return 0;
}

static void
test_messages(void **state)
{
	struct fixture *f = *state;
	struct ids s;
	int64_t u, room, m[3], last = -1;
	int i;

	assert_int_equal(db_user_insert(f->db, "Flo", "flo@example.org",
	    "agent", 1000, &u), 0);
	assert_int_equal(db_room_insert(f->db, "ops", u, 1000, &room), 0);
	assert_int_equal(db_room_member_add(f->db, room, u, 1000), 0);
	assert_int_equal(db_room_member_add(f->db, room, u, 1000), 0);
	assert_int_equal(db_room_exists(f->db, room), 1);
	assert_int_equal(db_room_exists(f->db, room + 1), 0);
	assert_int_equal(db_room_is_member(f->db, room, u), 1);
	assert_int_equal(db_room_is_member(f->db, room, u + 1), 0);
	assert_int_equal(db_room_last_message(f->db, room, &last), 0);
	assert_int_equal(last, 0);
	for (i = 0; i < 3; i++)
		assert_int_equal(db_message_insert(f->db, room, u, "hi", 2,
		    2000 + i, &m[i]), 0);
	assert_int_equal(db_room_last_message(f->db, room, &last), 0);
	assert_int_equal(last, m[2]);
	memset(&s, 0, sizeof(s));
	assert_int_equal(db_messages_page(f->db, room, m[2], 10, keep_message,
	    &s), 2);
	assert_int_equal(s.v[0], m[1]);	/* newest first */
	assert_int_equal(s.v[1], m[0]);
	memset(&s, 0, sizeof(s));
	assert_int_equal(db_messages_after(f->db, room, m[0], 1, keep_message,
	    &s), 1);
	assert_int_equal(s.v[0], m[1]);	/* oldest first, limit 1 */
}

static int
keep_task(void *arg, const struct db_task *t)
{
	struct ids *s = arg;

	if (s->n < 8)
		s->v[s->n++] = t->row;
	return strcmp(t->text, "{}") == 0 ? 0 : -1;
}

static void
test_tasks(void **state)
{
	struct fixture *f = *state;
	struct ids s;
	int64_t r1, r2, seq = -1;
	int finished = -1;

	assert_int_equal(db_task_add(f->db, "t1", "{}", 1000, &r1), 0);
	assert_int_equal(db_task_add(f->db, "t2", "{}", 1000, &r2), 0);
	assert_int_equal(db_tasks_unpushed_count(f->db), 2);
	memset(&s, 0, sizeof(s));
	assert_int_equal(db_tasks_unpushed(f->db, 10, keep_task, &s), 2);
	assert_int_equal(s.v[0], r1);
	assert_int_equal(db_task_pushed(f->db, r1, 1100), 0);
	memset(&s, 0, sizeof(s));
	assert_int_equal(db_task_unpushed_one(f->db, r1, keep_task, &s), 0);
	assert_int_equal(db_task_unpushed_one(f->db, r2, keep_task, &s), 1);
	assert_int_equal(db_tasks_unpushed_count(f->db), 1);
	assert_int_equal(db_task_finished(f->db, "t1", &finished), 0);
	assert_int_equal(finished, 0);
	assert_int_equal(db_task_finish(f->db, "t1", 2, "done", 1200), 0);
	assert_int_equal(db_task_finished(f->db, "t1", &finished), 0);
	assert_int_equal(finished, 1);
	assert_int_equal(db_task_finished(f->db, "nope", &finished), 1);
	assert_int_equal(db_tasks_unfinished_count(f->db), 1);
	/* pushed_seq only rises. */
	assert_int_equal(db_queue_seq_set(f->db, 5), 0);
	assert_int_equal(db_queue_seq_set(f->db, 3), 0);
	assert_int_equal(db_queue_state_get(f->db, &seq, NULL, 0, NULL), 0);
	assert_int_equal(seq, 5);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_users, setup, teardown),
		cmocka_unit_test_setup_teardown(test_passwords, setup, teardown),
		cmocka_unit_test(test_ids_keep),
		cmocka_unit_test_setup_teardown(test_tickets_null_is_zero, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_messages, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tasks, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
