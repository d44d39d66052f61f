/* util: see util.h. */
#include "autoconf.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "util.h"

int64_t
util_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t
util_mono_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

void
util_format_time(int64_t ms, char buf[UTIL_TIME_LEN])
{
	/* The seconds part of the last time formatted, kept because every
	 * request formats "now" for its log line. */
	static time_t last_t = -1;
	static char last[20];
	time_t t = (time_t)(ms / 1000);
	struct tm tm;
	int frac = (int)(ms % 1000);

	if (frac < 0) {
		frac += 1000;
		t -= 1;
	}
	if (t == last_t) {
		memcpy(buf, last, 19);
		buf[19] = '.';
		buf[20] = (char)('0' + frac / 100);
		buf[21] = (char)('0' + frac / 10 % 10);
		buf[22] = (char)('0' + frac % 10);
		buf[23] = 'Z';
		buf[24] = '\0';
		return;
	}
	gmtime_r(&t, &tm);
	/* strftime bounds every field; years past 9999 are not a concern. */
	if (strftime(buf, UTIL_TIME_LEN, "%Y-%m-%dT%H:%M:%S", &tm) != 19) {
		snprintf(buf, UTIL_TIME_LEN, "1970-01-01T00:00:00.000Z");
		return;
	}
	memcpy(last, buf, 19);
	last_t = t;
	snprintf(buf + 19, UTIL_TIME_LEN - 19, ".%03dZ", frac % 1000);
}

int
util_parse_id(const char *s, size_t len, int64_t *out)
{
	uint64_t v = 0;
	size_t i;

	if (len == 0 || len > 19 || s[0] == '0')
		return -1;
	for (i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (uint64_t)(s[i] - '0');
	}
	/* 19 digits fit in uint64_t; the id range stops at INT64_MAX. */
	if (v > (uint64_t)INT64_MAX)
		return -1;
	*out = (int64_t)v;
	return 0;
}

int
util_parse_int(const char *s, long long min, long long max, long long *out)
{
	char *end;
	long long v;

	if (s == NULL || *s == '\0' || isspace((unsigned char)*s) || *s == '+')
		return -1;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno != 0 || *end != '\0' || v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

void
strbuf_init(struct strbuf *sb)
{
	sb->buf = NULL;
	sb->len = 0;
	sb->cap = 0;
}

void
strbuf_reset(struct strbuf *sb)
{
	sb->len = 0;
	if (sb->buf != NULL)
		sb->buf[0] = '\0';
}

void
strbuf_free(struct strbuf *sb)
{
	free(sb->buf);
	strbuf_init(sb);
}

void
strbuf_reserve(struct strbuf *sb, size_t extra)
{
	size_t need = sb->len + extra + 1, ncap;
	char *p;

	if (need <= sb->cap)
		return;
	ncap = sb->cap ? sb->cap : 256;
	while (ncap < need)
		ncap *= 2;
	if ((p = realloc(sb->buf, ncap)) == NULL)
		abort();
	sb->buf = p;
	sb->cap = ncap;
}

void
strbuf_add(struct strbuf *sb, const char *s, size_t n)
{
	strbuf_reserve(sb, n);
	if (n > 0)
		memcpy(sb->buf + sb->len, s, n);
	sb->len += n;
	sb->buf[sb->len] = '\0';
}

void
strbuf_adds(struct strbuf *sb, const char *s)
{
	strbuf_add(sb, s, strlen(s));
}

void
strbuf_printf(struct strbuf *sb, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	strbuf_reserve(sb, (size_t)n);
	va_start(ap, fmt);
	vsnprintf(sb->buf + sb->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	sb->len += (size_t)n;
}

size_t
util_utoa(unsigned long long v, char *buf)
{
	char tmp[24];
	size_t n = 0, i;

	do {
		tmp[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v != 0);
	for (i = 0; i < n; i++)
		buf[i] = tmp[n - 1 - i];
	buf[n] = '\0';
	return n;
}

void
strbuf_addu(struct strbuf *sb, unsigned long long v)
{
	char num[24];

	strbuf_add(sb, num, util_utoa(v, num));
}

void
util_hex(const unsigned char *in, size_t len, char *out)
{
	sodium_bin2hex(out, len * 2 + 1, in, len);
}

int
util_unhex(const char *in, unsigned char *out, size_t len)
{
	size_t n;

	if (sodium_hex2bin(out, len, in, 2 * len, NULL, &n, NULL) != 0 ||
	    n != len)
		return -1;
	return 0;
}

void
util_random(void *buf, size_t n)
{
	/* libsodium reads getrandom(2); sodium_init() is called at start-up. */
	randombytes_buf(buf, n);
}

void
util_cloexec_all(void)
{
	struct dirent *e;
	DIR *d;
	long fd;
	char *end;
	int flags;

	if ((d = opendir("/proc/self/fd")) == NULL)
		return;
	while ((e = readdir(d)) != NULL) {
		fd = strtol(e->d_name, &end, 10);
		if (*end != '\0' || end == e->d_name || fd <= 2 || fd == dirfd(d))
			continue;
		if ((flags = fcntl((int)fd, F_GETFD)) != -1 &&
		    !(flags & FD_CLOEXEC))
			(void)fcntl((int)fd, F_SETFD, flags | FD_CLOEXEC);
	}
	closedir(d);
}

void
util_wipe(void *buf, size_t n)
{
	sodium_memzero(buf, n);
}

int
util_utf8_ok(const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0;

	while (i < len) {
		unsigned char c = p[i];
		size_t n;
		uint32_t cp;

		if (c == 0)
			return 0;
		if (c < 0x80) {
			i++;
			continue;
		} else if ((c & 0xe0) == 0xc0) {
			n = 1;
			cp = c & 0x1f;
		} else if ((c & 0xf0) == 0xe0) {
			n = 2;
			cp = c & 0x0f;
		} else if ((c & 0xf8) == 0xf0) {
			n = 3;
			cp = c & 0x07;
		} else
			return 0;
		for (size_t k = 1; k <= n; k++) {
			if (i + k >= len || (p[i + k] & 0xc0) != 0x80)
				return 0;
			cp = (cp << 6) | (p[i + k] & 0x3f);
		}
		/* Overlong forms, surrogates, and beyond U+10FFFF. */
		if ((n == 1 && cp < 0x80) || (n == 2 && cp < 0x800) ||
		    (n == 3 && cp < 0x10000) || cp > 0x10ffff ||
		    (cp >= 0xd800 && cp <= 0xdfff))
			return 0;
		i += n + 1;
	}
	return 1;
}

int
util_blank(const char *s, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		if (!isspace((unsigned char)s[i]))
			return 0;
	return 1;
}

int
util_has_control(const char *s, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return 1;
	return 0;
}
