/* util: small pure helpers shared by every module: time, ids, a growable
 * byte buffer. Nothing here allocates per call except strbuf growth. */
#ifndef CHATDESK_UTIL_H
#define CHATDESK_UTIL_H

#include <stddef.h>
#include <stdint.h>

#define UTIL_TIME_LEN 25	/* "2026-11-22T11:07:04.123Z" plus NUL */

/* Wall-clock Unix milliseconds. */
int64_t util_now_ms(void);
/* Monotonic microseconds, for durations. */
int64_t util_mono_us(void);
/* Formats Unix milliseconds as RFC 3339 UTC with milliseconds. */
void util_format_time(int64_t ms, char buf[UTIL_TIME_LEN]);

/*
 * Parses an id: plain decimal digits, no sign, space or leading zero, in
 * 1..2^63-1. Returns 0 and sets *out, or -1.
 */
int util_parse_id(const char *s, size_t len, int64_t *out);
/*
 * Parses a decimal integer (optional leading '-') in min..max, the whole
 * string. Returns 0 and sets *out, or -1.
 */
int util_parse_int(const char *s, long long min, long long max, long long *out);

/* A growable byte buffer, always NUL-terminated. Growth failures abort:
 * a process that cannot get a few KiB cannot answer anything. */
struct strbuf {
	char	*buf;
	size_t	 len;
	size_t	 cap;
};

void strbuf_init(struct strbuf *);
void strbuf_reset(struct strbuf *);
void strbuf_free(struct strbuf *);
/* Makes room for extra more bytes (and the NUL) without adding any. */
void strbuf_reserve(struct strbuf *, size_t extra);
void strbuf_add(struct strbuf *, const char *, size_t);
void strbuf_adds(struct strbuf *, const char *);
void strbuf_printf(struct strbuf *, const char *, ...)
    __attribute__((format(printf, 2, 3)));

/* Appends the decimal digits of v (no printf on hot paths). */
void strbuf_addu(struct strbuf *, unsigned long long v);
/* Writes the decimal digits of v into buf (at least 21 bytes); returns
 * the length. */
size_t util_utoa(unsigned long long v, char *buf);

/* Lower-case hex of len bytes into out (2*len+1 bytes). */
void util_hex(const unsigned char *in, size_t len, char *out);
/* Reads 2 * len hex digits of in into out. Returns 0, or -1 if they are
 * not exactly that. */
int util_unhex(const char *in, unsigned char *out, size_t len);
/* Fills buf with n random bytes from the OS. Aborts on failure. */
void util_random(void *buf, size_t n);
/* Sets close-on-exec on every open descriptor above 2 (for those a
 * library opened without it). */
void util_cloexec_all(void);
/* Zeroes n bytes in a way the compiler keeps (secrets). */
void util_wipe(void *, size_t n);
/* Returns 1 if s[0..len) is valid UTF-8 without NUL bytes, else 0. */
int util_utf8_ok(const char *s, size_t len);
/* Returns 1 if s[0..len) is empty or only ASCII white space. */
int util_blank(const char *s, size_t len);
/* 1 if s[0..len) holds a control byte (below 0x20, or 0x7f: CR, LF, tab,
 * escape...), else 0. */
int util_has_control(const char *s, size_t len);

#endif
