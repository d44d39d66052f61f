/* log: logfmt lines on stderr, one per event, with a level filter. */
#ifndef CHATDESK_LOG_H
#define CHATDESK_LOG_H

#include <stddef.h>

enum log_level {
	LOGL_DEBUG,
	LOGL_INFO,
	LOGL_WARN,
	LOGL_ERROR,
	LOGL__MAX
};

/* Sets the program name put on every line (NULL: keeps it) and the
 * lowest level written. */
void log_init(const char *prog, enum log_level min);
/*
 * Points standard error at path (appending), so that log lines and
 * sanitizer reports of a process whose stderr spawn-fcgi sent to
 * /dev/null land in a file. Returns 0, or -1 with errno set.
 */
int log_open_file(const char *path);
/*
 * A reason the program cannot start, written where an operator will look
 * before it exits: standard error (the plain "prog: message" line, or a
 * logfmt line when stderr is log_file already), log_file (may be NULL or
 * empty), and syslog(3) with LOG_DAEMON when running under systemd
 * (INVOCATION_ID or JOURNAL_STREAM set) or when stderr is /dev/null.
 * SIGUSR1's reopen is log_open_file again.
 */
void log_startup_error(const char *log_file, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Parses "debug", "info", "warn" or "error". Returns -1 if unknown. */
int log_level_parse(const char *);
int log_enabled(enum log_level);

/* Writes `level=.. prog=.. msg="..."`, the message formatted and escaped. */
void log_msg(enum log_level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#define log_debug(...)	log_msg(LOGL_DEBUG, __VA_ARGS__)
#define log_info(...)	log_msg(LOGL_INFO, __VA_ARGS__)
#define log_warn(...)	log_msg(LOGL_WARN, __VA_ARGS__)
#define log_error(...)	log_msg(LOGL_ERROR, __VA_ARGS__)

/*
 * A line built key by key, for structured events such as the request
 * line. Values are quoted and escaped when they need it; a line longer
 * than the buffer is cut, never overflowed.
 */
struct logline {
	char	buf[1024];
	size_t	len;
	int	level;
};

void logline_init(struct logline *, enum log_level, const char *msg);
void logline_str(struct logline *, const char *key, const char *val);
void logline_int(struct logline *, const char *key, long long val);
void logline_emit(struct logline *);

#endif
