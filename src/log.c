/* log: see log.h. */
#include "autoconf.h"

#include <sys/stat.h>

#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include "log.h"
#include "util.h"

static const char *log_prog = "chatdesk";
static enum log_level log_min = LOGL_INFO;
static int log_to_file;		/* stderr is log_file since log_open_file */
static const char *const log_names[LOGL__MAX] = {
	"debug", "info", "warn", "error"
};

void
log_init(const char *prog, enum log_level min)
{
	if (prog != NULL)
		log_prog = prog;
	log_min = min;
}

int
log_open_file(const char *path)
{
	int fd;

	if ((fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640)) == -1)
		return -1;
	if (fd != STDERR_FILENO) {
		if (dup2(fd, STDERR_FILENO) == -1) {
			close(fd);
			return -1;
		}
		close(fd);
	}
	log_to_file = 1;
	return 0;
}

int
log_level_parse(const char *s)
{
	int i;

	for (i = 0; i < LOGL__MAX; i++)
		if (strcmp(s, log_names[i]) == 0)
			return i;
	return -1;
}

int
log_enabled(enum log_level l)
{
	return l >= log_min;
}

static void
logline_raw(struct logline *l, const char *s, size_t n)
{
	size_t room = sizeof(l->buf) - 1 - l->len;

	if (n > room)
		n = room;
	memcpy(l->buf + l->len, s, n);
	l->len += n;
}

void
logline_init(struct logline *l, enum log_level level, const char *msg)
{
	char ts[UTIL_TIME_LEN];

	l->len = 0;
	l->level = level;
	util_format_time(util_now_ms(), ts);
	logline_str(l, "ts", ts);
	logline_str(l, "level", log_names[level]);
	logline_str(l, "prog", log_prog);
	logline_str(l, "msg", msg);
}

/*
 * Values with a space, quote, '=', control byte or nothing at all are
 * quoted; quotes and backslashes escaped, control bytes as \n, \t or
 * \xNN, so that no client byte can forge a line or a key. A value longer
 * than LOG_VALUE_MAX bytes is cut (marked "..."), never inside an escape;
 * a field that does not fit whole is left out, never cut, so the line
 * always parses.
 */
#define LOG_VALUE_MAX	256

void
logline_str(struct logline *l, const char *key, const char *val)
{
	const unsigned char *p;
	char out[LOG_VALUE_MAX * 4 + 16], esc[8];
	size_t n = 0, used = 0, klen = strlen(key);
	int quote = 0;

	if (val == NULL)
		val = "";
	if (*val == '\0')
		quote = 1;
	for (p = (const unsigned char *)val; *p != '\0'; p++)
		if (*p <= ' ' || *p == '"' || *p == '=' || *p == '\\' ||
		    *p == 0x7f)
			quote = 1;
	if (quote)
		out[n++] = '"';
	for (p = (const unsigned char *)val; *p != '\0'; p++) {
		if (used++ == LOG_VALUE_MAX) {
			memcpy(out + n, "...", 3);
			n += 3;
			break;
		}
		if (*p == '"' || *p == '\\') {
			out[n++] = '\\';
			out[n++] = (char)*p;
		} else if (*p == '\n') {
			out[n++] = '\\';
			out[n++] = 'n';
		} else if (*p == '\t') {
			out[n++] = '\\';
			out[n++] = 't';
		} else if (*p < ' ' || *p == 0x7f) {
			snprintf(esc, sizeof(esc), "\\x%02x", *p);
			memcpy(out + n, esc, 4);
			n += 4;
		} else
			out[n++] = (char)*p;
	}
	if (quote)
		out[n++] = '"';
	/* Leave room for the newline logline_emit adds. */
	if (l->len + 1 + klen + 1 + n + 1 > sizeof(l->buf))
		return;
	if (l->len > 0)
		logline_raw(l, " ", 1);
	logline_raw(l, key, klen);
	logline_raw(l, "=", 1);
	logline_raw(l, out, n);
}

void
logline_int(struct logline *l, const char *key, long long val)
{
	char num[32];

	if (val < 0) {
		num[0] = '-';
		util_utoa(-(unsigned long long)val, num + 1);
	} else
		util_utoa((unsigned long long)val, num);
	if (l->len > 0)
		logline_raw(l, " ", 1);
	logline_raw(l, key, strlen(key));
	logline_raw(l, "=", 1);
	logline_raw(l, num, strlen(num));
}

void
logline_emit(struct logline *l)
{
	ssize_t w;

	if (l->level < (int)log_min)
		return;
	l->buf[l->len++] = '\n';
	/* One write(2) per line, so that lines of the pool do not interleave. */
	w = write(STDERR_FILENO, l->buf, l->len);
	(void)w;
	l->len--;
}

void
log_msg(enum log_level level, const char *fmt, ...)
{
	struct logline l;
	char msg[512];
	va_list ap;

	if (level < log_min)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	logline_init(&l, level, msg);
	logline_emit(&l);
}

/* 1 if standard error goes nowhere anyone reads: closed, or /dev/null
 * (spawn-fcgi's children, a daemon started by an init script). */
static int
stderr_lost(void)
{
	struct stat es, ns;

	if (fstat(STDERR_FILENO, &es) == -1)
		return 1;
	return stat("/dev/null", &ns) == 0 && es.st_dev == ns.st_dev &&
	    es.st_ino == ns.st_ino;
}

void
log_startup_error(const char *log_file, const char *fmt, ...)
{
	struct logline l;
	char msg[768];
	va_list ap;
	int fd;
	ssize_t w;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	logline_init(&l, LOGL_ERROR, msg);
	l.buf[l.len++] = '\n';
	if (log_to_file) {
		/* stderr is the log file already. */
		w = write(STDERR_FILENO, l.buf, l.len);
	} else {
		/* The one line an operator at a terminal reads. */
		fprintf(stderr, "%s: %s\n", log_prog, msg);
		if (log_file != NULL && *log_file != '\0' &&
		    (fd = open(log_file, O_WRONLY | O_APPEND | O_CREAT |
		    O_CLOEXEC, 0640)) != -1) {
			w = write(fd, l.buf, l.len);
			close(fd);
		}
	}
	(void)w;
	/* systemd sets these in every unit's environment; its journal reads
	 * syslog(3) whatever became of stderr (spawn-fcgi drops a child's). */
	if (getenv("INVOCATION_ID") != NULL || getenv("JOURNAL_STREAM") != NULL ||
	    stderr_lost()) {
		openlog(log_prog, LOG_PID, LOG_DAEMON);
		syslog(LOG_ERR, "%s", msg);
		closelog();
	}
}
