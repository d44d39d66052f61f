/*
 * libFuzzer target: one FastCGI request as libfcgi hands it to the app,
 * through the real dispatcher. The input is
 *
 *	NAME=VALUE LF ... LF LF BODY
 *
 * the params as nginx sends them (REQUEST_METHOD, REQUEST_URI,
 * QUERY_STRING, CONTENT_TYPE, CONTENT_LENGTH, HTTP_AUTHORIZATION,
 * REMOTE_ADDR, REQUEST_ID, ...), then the body as stdin. Two stand-ins
 * keep the seeds readable and the mutations useful:
 *  - HTTP_AUTHORIZATION=Bearer @admin (@agent, @customer, @other) is that
 *    user's real token;
 *  - CONTENT_LENGTH=* is the length of the body that follows.
 * The request runs through http_req_init, serve_dispatch, the access
 * check and the handler, against a real SQLite database; Redis is a unix
 * path that does not exist, so every cached read is a BYPASS and every
 * route's parse-and-validate stage and handler run. fuzz_request checks
 * the answer: one was given, not a 500, a well-formed head, a JSON body
 * that parses.
 */
#include "autoconf.h"

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_app.h"

#define MAX_PARAMS	64

/* "NAME=VALUE" with the stand-ins replaced, in a fresh string. */
static char *
param(const char *line, size_t n, size_t blen)
{
	static const char auth[] = "HTTP_AUTHORIZATION=Bearer ";
	static const char clen[] = "CONTENT_LENGTH=*";
	const char *tok;
	char *s, tmp[64];

	if (n == sizeof(clen) - 1 && memcmp(line, clen, n) == 0) {
		snprintf(tmp, sizeof(tmp), "CONTENT_LENGTH=%zu", blen);
		line = tmp;
		n = strlen(tmp);
	}
	if ((s = malloc(n + 1)) == NULL)
		abort();
	memcpy(s, line, n);
	s[n] = '\0';
	if (strncmp(s, auth, sizeof(auth) - 1) == 0 &&
	    (tok = fuzz_token(s + sizeof(auth) - 1)) != NULL) {
		free(s);
		if ((s = malloc(sizeof(auth) + AUTH_TOKEN_LEN)) == NULL)
			abort();
		snprintf(s, sizeof(auth) + AUTH_TOKEN_LEN, "%s%s", auth, tok);
	}
	return s;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *p = (const char *)data, *end = p + size, *nl, *body;
	char *envp[MAX_PARAMS + 1], *copy;
	size_t blen;
	int n = 0, i;

	/* The head ends at the first empty line. */
	body = end;
	for (nl = p; nl < end; nl++)
		if (*nl == '\n' && (nl + 1 == end || nl[1] == '\n')) {
			body = nl + 1 < end ? nl + 2 : end;
			break;
		}
	if (body > end)
		body = end;
	blen = (size_t)(end - body);
	while (p < end && p < body && n < MAX_PARAMS) {
		if ((nl = memchr(p, '\n', (size_t)(end - p))) == NULL)
			nl = end;
		if (nl > p)
			envp[n++] = param(p, (size_t)(nl - p), blen);
		p = nl + 1;
	}
	envp[n] = NULL;
	/* The body in a buffer of exactly its size, so that ASan sees a read
	 * past its end. */
	if ((copy = malloc(blen > 0 ? blen : 1)) == NULL)
		abort();
	memcpy(copy, body, blen);
	(void)fuzz_request(envp, copy, blen);
	free(copy);
	for (i = 0; i < n; i++)
		free(envp[i]);
	return 0;
}
