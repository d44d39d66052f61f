/*
 * config: the settings of API.md section 7. Defaults, then a `key = value`
 * file, then CHATDESK_<KEY> environment variables; every value validated,
 * every error naming the key.
 */
#ifndef CHATDESK_CONFIG_H
#define CHATDESK_CONFIG_H

#include <stddef.h>

enum sync_mode {
	SYNC_FULL,
	SYNC_NORMAL
};

struct config {
	char		*db_path;
	char		*archive_db_path;
	char		*redis_url;
	char		*queue_redis_url;	/* redis_url when unset */
	long long	 dead_max;
	long long	 redis_connect_timeout_ms;
	long long	 redis_command_timeout_ms;
	long long	 redis_retry_ms;
	char		*key_prefix;
	long long	 room_cache_size;
	long long	 room_cache_ttl;
	long long	 record_ttl;
	long long	 max_body_bytes;
	long long	 body_timeout_ms;	/* a stalled body read gives up */
	long long	 rate_limit_count;
	long long	 rate_limit_window;
	long long	 signin_rate_limit_email;	/* sign-ins per email */
	long long	 signin_rate_limit_addr;	/* per client address */
	long long	 signin_rate_limit_window;
	long long	 task_max_attempts;
	long long	 task_backoff_s;
	long long	 task_done_keep_s;	/* done task rows kept */
	long long	 worker_stale_s;	/* /health: no success since */
	long long	 token_max_age_days;	/* 0: tokens never expire */
	char		*notify_command;
	long long	 notify_timeout_ms;
	long long	 maintenance_batch_ms;
	int		 sqlite_synchronous;	/* enum sync_mode */
	int		 log_level;		/* enum log_level */
	char		*log_file;		/* empty: stderr as it is */
	long long	 slow_request_ms;	/* 0: no slow-request lines */
	long long	 debug_fill_delay_ms;	/* tests only: see README */
	char		*events_publish_url;	/* empty: no live events */
	char		*events_socket;		/* empty: TCP to the URL's host */
	long long	 events_timeout_ms;
	long long	 events_recheck_s;
};

#define CONFIG_ERRLEN	256

/*
 * Fills cfg from the defaults, the file at path (NULL: CHATDESK_CONFIG if
 * set, else none) and the environment. Returns 0, or -1 with a one-line
 * message naming the key (or the file) in err.
 */
int config_load(struct config *cfg, const char *path, char *err, size_t errsz);
/*
 * The log_file a configuration that failed to load names, as well as it
 * can be told (the environment, else the file's last log_file line), so
 * that the reason still reaches the log. Returns buf ("" if none).
 */
const char *config_log_file(const char *path, char *buf, size_t bufsz);
/* Sets one key from text. Returns 0, or -1 with a message in err. */
int config_set(struct config *cfg, const char *key, const char *val,
    char *err, size_t errsz);
/* Fills cfg with the defaults only. */
void config_defaults(struct config *cfg);
void config_free(struct config *cfg);

/*
 * SIGHUP: next is a freshly loaded configuration. Every key whose value
 * differs is reported, applied = 1 if it was copied into cur (a key safe
 * to change while running: the table's live column, listed in the
 * README), 0 if it keeps its running value until a restart. Returns the
 * number applied; next is still the caller's to free.
 */
int config_reload(struct config *cur, struct config *next,
    void (*report)(void *arg, const char *key, int applied), void *arg);

#endif
