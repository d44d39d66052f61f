/*
 * Unit tests for config (API.md section 7): the defaults, the `key = value`
 * file, CHATDESK_<KEY> overrides, and the Redis URL forms that config and
 * rconn accept. Every error must name the key, since an operator reads
 * nothing else when the process refuses to start.
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
#include "log.h"
#include "rconn.h"

/*
 * The environment of `make check` (or a developer's shell) may hold
 * CHATDESK_* settings that would leak into config_load; each test starts
 * from none of the variables it could be affected by.
 */
static const char *const env_keys[] = {
	"CHATDESK_CONFIG", "CHATDESK_DB_PATH", "CHATDESK_ARCHIVE_DB_PATH",
	"CHATDESK_REDIS_URL", "CHATDESK_QUEUE_REDIS_URL", "CHATDESK_DEAD_MAX",
	"CHATDESK_REDIS_CONNECT_TIMEOUT_MS", "CHATDESK_REDIS_COMMAND_TIMEOUT_MS",
	"CHATDESK_REDIS_RETRY_MS", "CHATDESK_KEY_PREFIX",
	"CHATDESK_ROOM_CACHE_SIZE", "CHATDESK_ROOM_CACHE_TTL",
	"CHATDESK_RECORD_TTL", "CHATDESK_MAX_BODY_BYTES",
	"CHATDESK_RATE_LIMIT_COUNT", "CHATDESK_RATE_LIMIT_WINDOW",
	"CHATDESK_TASK_MAX_ATTEMPTS", "CHATDESK_TASK_BACKOFF_S",
	"CHATDESK_NOTIFY_COMMAND", "CHATDESK_NOTIFY_TIMEOUT_MS",
	"CHATDESK_SQLITE_SYNCHRONOUS", "CHATDESK_LOG_LEVEL",
	"CHATDESK_LOG_FILE", "CHATDESK_SLOW_REQUEST_MS",
};

static int
clean_env(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(env_keys) / sizeof(env_keys[0]); i++)
		unsetenv(env_keys[i]);
	return 0;
}

/* Writes text to a fresh temporary file; the caller unlinks path. */
static void
write_tmp(char path[64], const char *text)
{
	int fd;
	size_t n = strlen(text);

	snprintf(path, 64, "/tmp/chatdesk-test-config.XXXXXX");
	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, n), (ssize_t)n);
	assert_int_equal(close(fd), 0);
}

static void
test_defaults(void **state)
{
	struct config cfg;
	char err[CONFIG_ERRLEN] = "";

	(void)state;
	/* config_load, not config_defaults: queue_redis_url is filled in
	 * from redis_url only after the file and the environment. */
	assert_int_equal(config_load(&cfg, NULL, err, sizeof(err)), 0);
	assert_string_equal(cfg.db_path, "var/chatdesk.db");
	assert_string_equal(cfg.archive_db_path, "var/archive.db");
	assert_string_equal(cfg.redis_url, "redis://127.0.0.1:6379/0");
	assert_string_equal(cfg.queue_redis_url, cfg.redis_url);
	assert_int_equal(cfg.dead_max, 10000);
	assert_int_equal(cfg.redis_connect_timeout_ms, 100);
	assert_int_equal(cfg.redis_command_timeout_ms, 250);
	assert_int_equal(cfg.redis_retry_ms, 1000);
	assert_string_equal(cfg.key_prefix, "");
	assert_int_equal(cfg.room_cache_size, 50);
	assert_int_equal(cfg.room_cache_ttl, 3600);
	assert_int_equal(cfg.record_ttl, 300);
	assert_int_equal(cfg.max_body_bytes, 65536);
	assert_int_equal(cfg.body_timeout_ms, 10000);
	assert_int_equal(cfg.rate_limit_count, 20);
	assert_int_equal(cfg.rate_limit_window, 10);
	assert_int_equal(cfg.signin_rate_limit_email, 10);
	assert_int_equal(cfg.signin_rate_limit_addr, 100);
	assert_int_equal(cfg.signin_rate_limit_window, 300);
	assert_int_equal(cfg.task_max_attempts, 3);
	assert_int_equal(cfg.task_backoff_s, 30);
	assert_string_equal(cfg.notify_command, "");
	assert_int_equal(cfg.notify_timeout_ms, 5000);
	assert_int_equal(cfg.maintenance_batch_ms, 5);
	assert_int_equal(cfg.sqlite_synchronous, SYNC_FULL);
	assert_int_equal(cfg.log_level, LOGL_INFO);
	config_free(&cfg);
}

/* A queue_redis_url of its own is kept, not replaced by redis_url. */
static void
test_queue_url_own(void **state)
{
	struct config cfg;
	char err[CONFIG_ERRLEN] = "";

	(void)state;
	setenv("CHATDESK_REDIS_URL", "redis://a:1/1", 1);
	setenv("CHATDESK_QUEUE_REDIS_URL", "redis://:qpw@b:2/2", 1);
	assert_int_equal(config_load(&cfg, NULL, err, sizeof(err)), 0);
	assert_string_equal(cfg.redis_url, "redis://a:1/1");
	assert_string_equal(cfg.queue_redis_url, "redis://:qpw@b:2/2");
	config_free(&cfg);
}

static void
test_file(void **state)
{
	struct config cfg;
	char err[CONFIG_ERRLEN] = "", path[64];

	(void)state;
	write_tmp(path,
	    "# a comment line\n"
	    "\n"
	    "   \n"
	    "db_path=/srv/a.db\n"
	    "  record_ttl   =   42  \n"
	    "\t# an indented comment\n"
	    "key_prefix = cd:\n"
	    "redis_url = unix:///tmp/r.sock?db=3\n"
	    "sqlite_synchronous = normal\n"
	    "log_level = debug\n"
	    "notify_command = /bin/echo a b\n"
	    "room_cache_size = 7");	/* no final newline */
	assert_int_equal(config_load(&cfg, path, err, sizeof(err)), 0);
	assert_string_equal(cfg.db_path, "/srv/a.db");
	assert_int_equal(cfg.record_ttl, 42);
	assert_string_equal(cfg.key_prefix, "cd:");
	assert_string_equal(cfg.redis_url, "unix:///tmp/r.sock?db=3");
	assert_string_equal(cfg.queue_redis_url, "unix:///tmp/r.sock?db=3");
	assert_int_equal(cfg.sqlite_synchronous, SYNC_NORMAL);
	assert_int_equal(cfg.log_level, LOGL_DEBUG);
	assert_string_equal(cfg.notify_command, "/bin/echo a b");
	assert_int_equal(cfg.room_cache_size, 7);
	/* Keys the file does not name keep their defaults. */
	assert_int_equal(cfg.dead_max, 10000);
	config_free(&cfg);

	/* The same file through CHATDESK_CONFIG. */
	setenv("CHATDESK_CONFIG", path, 1);
	assert_int_equal(config_load(&cfg, NULL, err, sizeof(err)), 0);
	assert_int_equal(cfg.record_ttl, 42);
	config_free(&cfg);
	unsetenv("CHATDESK_CONFIG");
	unlink(path);
}

static void
test_file_missing(void **state)
{
	struct config cfg;
	char err[CONFIG_ERRLEN] = "";

	(void)state;
	assert_int_equal(config_load(&cfg, "/nonexistent/chatdesk.conf", err,
	    sizeof(err)), -1);
	assert_non_null(strstr(err, "/nonexistent/chatdesk.conf"));
	config_free(&cfg);
}

/* Loads a one-file config that must fail; returns the message. */
static void
load_bad(const char *text, char err[CONFIG_ERRLEN])
{
	struct config cfg;
	char path[64];

	write_tmp(path, text);
	err[0] = '\0';
	assert_int_equal(config_load(&cfg, path, err, CONFIG_ERRLEN), -1);
	/* A partly applied config must still be freeable. */
	config_free(&cfg);
	unlink(path);
}

static void
test_file_errors(void **state)
{
	char err[CONFIG_ERRLEN];

	(void)state;
	load_bad("# ok\nrecord_ttl = 5\nno_such_key = 1\n", err);
	assert_non_null(strstr(err, "no_such_key"));
	assert_non_null(strstr(err, ":3:"));	/* the line number */

	load_bad("record_ttl = abc\n", err);
	assert_non_null(strstr(err, "record_ttl"));

	load_bad("record_ttl = 0\n", err);		/* below the range */
	assert_non_null(strstr(err, "record_ttl"));

	load_bad("dead_max = 99999999999999999999\n", err);	/* overflow */
	assert_non_null(strstr(err, "dead_max"));

	load_bad("max_body_bytes = 12x\n", err);
	assert_non_null(strstr(err, "max_body_bytes"));

	load_bad("rate_limit_count = -1\n", err);
	assert_non_null(strstr(err, "rate_limit_count"));

	load_bad("task_max_attempts = +3\n", err);
	assert_non_null(strstr(err, "task_max_attempts"));

	load_bad("sqlite_synchronous = off\n", err);
	assert_non_null(strstr(err, "sqlite_synchronous"));

	load_bad("log_level = verbose\n", err);
	assert_non_null(strstr(err, "log_level"));

	load_bad("db_path =\n", err);
	assert_non_null(strstr(err, "db_path"));

	load_bad("redis_url = http://x\n", err);
	assert_non_null(strstr(err, "redis_url"));

	load_bad("just some words\n", err);		/* no '=' */
	assert_non_null(strstr(err, ":1:"));
}

static void
test_env_override(void **state)
{
	struct config cfg;
	char err[CONFIG_ERRLEN] = "", path[64];

	(void)state;
	write_tmp(path, "record_ttl = 42\nroom_cache_ttl = 60\n");
	setenv("CHATDESK_RECORD_TTL", "77", 1);
	assert_int_equal(config_load(&cfg, path, err, sizeof(err)), 0);
	assert_int_equal(cfg.record_ttl, 77);		/* env beats file */
	assert_int_equal(cfg.room_cache_ttl, 60);	/* file beats default */
	config_free(&cfg);

	/* A bad environment value names the key and the variable. */
	setenv("CHATDESK_RECORD_TTL", "soon", 1);
	err[0] = '\0';
	assert_int_equal(config_load(&cfg, path, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "record_ttl"));
	assert_non_null(strstr(err, "CHATDESK_RECORD_TTL"));
	config_free(&cfg);

	unsetenv("CHATDESK_RECORD_TTL");
	unlink(path);
}

static void
test_set_errors(void **state)
{
	struct config cfg;
	char err[CONFIG_ERRLEN] = "";

	(void)state;
	config_defaults(&cfg);
	assert_int_equal(config_set(&cfg, "bogus", "1", err, sizeof(err)), -1);
	assert_non_null(strstr(err, "bogus"));
	assert_int_equal(config_set(&cfg, "record_ttl", "", err,
	    sizeof(err)), -1);
	assert_non_null(strstr(err, "record_ttl"));
	assert_int_equal(config_set(&cfg, "record_ttl", " 5", err,
	    sizeof(err)), -1);
	/* Range ends are inclusive. */
	assert_int_equal(config_set(&cfg, "task_max_attempts", "100", err,
	    sizeof(err)), 0);
	assert_int_equal(cfg.task_max_attempts, 100);
	assert_int_equal(config_set(&cfg, "task_max_attempts", "101", err,
	    sizeof(err)), -1);
	assert_non_null(strstr(err, "task_max_attempts"));
	/* A failed set leaves the old value. */
	assert_int_equal(cfg.task_max_attempts, 100);
	config_free(&cfg);
}

static void
test_redis_urls(void **state)
{
	static const char *const good[] = {
		"redis://h:1/2",
		"redis://:pw@h:6379/0",
		"redis://127.0.0.1",
		"unix:///tmp/r.sock?db=3",
		"unix://:pw@/tmp/r.sock?db=1",
		"unix:///tmp/r.sock",
	};
	static const char *const bad[] = {
		"http://x",
		"redis://",
		"unix://",
		"redis://h:99999",
		"redis://h:0",
		"redis://h:6379/x",
		"redis://h:6379/1/2",
		"unix:///tmp/r.sock?x=1",
		"unix:///tmp/r.sock?db=x",
		"not a url",
	};
	struct config cfg;
	char err[CONFIG_ERRLEN];
	size_t i;

	(void)state;
	config_defaults(&cfg);
	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		err[0] = '\0';
		if (config_set(&cfg, "redis_url", good[i], err, sizeof(err)) != 0)
			fail_msg("%s refused: %s", good[i], err);
		assert_string_equal(cfg.redis_url, good[i]);
		assert_int_equal(config_set(&cfg, "queue_redis_url", good[i],
		    err, sizeof(err)), 0);
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		if (config_set(&cfg, "redis_url", bad[i], err, sizeof(err)) != -1)
			fail_msg("%s accepted", bad[i]);
		assert_non_null(strstr(err, "redis_url"));
		assert_int_equal(config_set(&cfg, "queue_redis_url", bad[i],
		    err, sizeof(err)), -1);
		assert_non_null(strstr(err, "queue_redis_url"));
	}
	config_free(&cfg);
}

static void
test_rconn_parse(void **state)
{
	struct rconn_url u;
	char err[128];

	(void)state;
	assert_int_equal(rconn_parse_url("redis://h:1/2", &u, err,
	    sizeof(err)), 0);
	assert_false(u.is_unix);
	assert_string_equal(u.host, "h");
	assert_int_equal(u.port, 1);
	assert_int_equal(u.db, 2);
	assert_string_equal(u.password, "");

	assert_int_equal(rconn_parse_url("redis://:pw@h:6379/0", &u, err,
	    sizeof(err)), 0);
	assert_false(u.is_unix);
	assert_string_equal(u.host, "h");
	assert_int_equal(u.port, 6379);
	assert_int_equal(u.db, 0);
	assert_string_equal(u.password, "pw");

	/* Port and db default to 6379 and 0. */
	assert_int_equal(rconn_parse_url("redis://127.0.0.1", &u, err,
	    sizeof(err)), 0);
	assert_string_equal(u.host, "127.0.0.1");
	assert_int_equal(u.port, 6379);
	assert_int_equal(u.db, 0);

	/* A password is percent-decoded (it may hold '@' or ':'). */
	assert_int_equal(rconn_parse_url("redis://:p%40ss@h/1", &u, err,
	    sizeof(err)), 0);
	assert_string_equal(u.password, "p@ss");

	assert_int_equal(rconn_parse_url("unix:///tmp/r.sock?db=3", &u, err,
	    sizeof(err)), 0);
	assert_true(u.is_unix);
	assert_string_equal(u.path, "/tmp/r.sock");
	assert_int_equal(u.db, 3);
	assert_string_equal(u.password, "");

	assert_int_equal(rconn_parse_url("unix://:pw@/tmp/r.sock?db=1", &u,
	    err, sizeof(err)), 0);
	assert_true(u.is_unix);
	assert_string_equal(u.path, "/tmp/r.sock");
	assert_int_equal(u.db, 1);
	assert_string_equal(u.password, "pw");

	assert_int_equal(rconn_parse_url("unix:///var/run/redis/redis.sock",
	    &u, err, sizeof(err)), 0);
	assert_string_equal(u.path, "/var/run/redis/redis.sock");
	assert_int_equal(u.db, 0);

	err[0] = '\0';
	assert_int_equal(rconn_parse_url("redis://h:99999", &u, err,
	    sizeof(err)), -1);
	assert_true(err[0] != '\0');
	err[0] = '\0';
	assert_int_equal(rconn_parse_url("unix:///tmp/r.sock?x=1", &u, err,
	    sizeof(err)), -1);
	assert_true(err[0] != '\0');
}

struct seen {
	char	keys[512];
};

static void
note_key(void *arg, const char *key, int applied)
{
	struct seen *s = arg;
	size_t n = strlen(s->keys);

	snprintf(s->keys + n, sizeof(s->keys) - n, "%s%s=%d", n ? " " : "",
	    key, applied);
}

/* SIGHUP's reload: live keys are copied, others reported and kept. */
static void
test_reload(void **state)
{
	struct config cur, next;
	struct seen seen = { "" };
	char err[CONFIG_ERRLEN];

	(void)state;
	config_defaults(&cur);
	config_defaults(&next);
	assert_int_equal(cur.slow_request_ms, 1000);
	assert_int_equal(config_reload(&cur, &next, note_key, &seen), 0);
	assert_string_equal(seen.keys, "");
	assert_int_equal(config_set(&next, "rate_limit_count", "5", err,
	    sizeof(err)), 0);
	assert_int_equal(config_set(&next, "notify_command", "true", err,
	    sizeof(err)), 0);
	assert_int_equal(config_set(&next, "log_level", "warn", err,
	    sizeof(err)), 0);
	assert_int_equal(config_set(&next, "redis_url", "redis://h:1/2", err,
	    sizeof(err)), 0);
	assert_int_equal(config_set(&next, "room_cache_size", "7", err,
	    sizeof(err)), 0);
	assert_int_equal(config_reload(&cur, &next, note_key, &seen), 3);
	assert_string_equal(seen.keys, "log_level=1 notify_command=1 "
	    "rate_limit_count=1 redis_url=0 room_cache_size=0");
	assert_int_equal(cur.rate_limit_count, 5);
	assert_string_equal(cur.notify_command, "true");
	assert_int_equal(cur.log_level, LOGL_WARN);
	assert_string_equal(cur.redis_url, "redis://127.0.0.1:6379/0");
	assert_int_equal(cur.room_cache_size, 50);
	config_free(&next);
	assert_string_equal(cur.notify_command, "true");
	config_free(&cur);
}

/* A configuration that does not load still tells where its log goes. */
static void
test_log_file_of_a_bad_config(void **state)
{
	char path[64], buf[256];

	(void)state;
	write_tmp(path, "room_cache_size = 0\nlog_file = /var/log/a.log\n"
	    "nonsense\n");
	assert_string_equal(config_log_file(path, buf, sizeof(buf)),
	    "/var/log/a.log");
	setenv("CHATDESK_LOG_FILE", "/tmp/b.log", 1);
	assert_string_equal(config_log_file(path, buf, sizeof(buf)),
	    "/tmp/b.log");
	unsetenv("CHATDESK_LOG_FILE");
	assert_string_equal(config_log_file("/nonexistent/c.conf", buf,
	    sizeof(buf)), "");
	unlink(path);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_defaults, clean_env),
		cmocka_unit_test_setup(test_queue_url_own, clean_env),
		cmocka_unit_test_setup(test_file, clean_env),
		cmocka_unit_test_setup(test_file_missing, clean_env),
		cmocka_unit_test_setup(test_file_errors, clean_env),
		cmocka_unit_test_setup(test_env_override, clean_env),
		cmocka_unit_test_setup(test_set_errors, clean_env),
		cmocka_unit_test_setup(test_redis_urls, clean_env),
		cmocka_unit_test_setup(test_rconn_parse, clean_env),
		cmocka_unit_test_setup(test_reload, clean_env),
		cmocka_unit_test_setup(test_log_file_of_a_bad_config, clean_env),
	};

	/* One group per program: cmocka prints one TAP plan per group, and
	 * tap-driver refuses a second plan. */
	return cmocka_run_group_tests(tests, NULL, NULL);
}
