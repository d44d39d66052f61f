/*
 * libFuzzer target: the token and Authorization parsing of auth.c and the
 * access check every route runs (api_check_access), against a real
 * database with four users. The input is
 *
 *	LEVEL REMOTE_ADDR LF AUTHORIZATION
 *
 * LEVEL one byte: the route's access level (modulo the levels) and, in
 * its high bit, whether the process's session cache is dropped first (so
 * both the in-process path and the SQLite lookup run). Without LF there
 * is no Authorization header at all. "Bearer @admin" (@agent, @customer,
 * @other) stands for that user's real token.
 *
 * The oracle is the security property itself: access is granted only to
 * the header "Bearer <a live token>" (the scheme in any case, one or
 * more spaces), as the user it belongs to, with
 * that user's role, and only at the levels that role may pass; /metrics
 * only to a loopback address or an admin. A refusal is answered.
 */
#include "autoconf.h"

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "api.h"
#include "auth.h"
#include "fuzz_app.h"
#include "http.h"
#include "metrics.h"
#include "router.h"

static char *
dupn(const char *p, size_t n)
{
	char *s;

	if ((s = malloc(n + 1)) == NULL)
		abort();
	memcpy(s, p, n);
	s[n] = '\0';
	return s;
}

/* The user whose live token the header carries, or -1: the scheme
 * "Bearer" in any case (RFC 7235), one or more spaces, the token and
 * nothing else. */
static int
holder(const char *h)
{
	int i;

	if (h == NULL || strncasecmp(h, "Bearer ", 7) != 0)
		return -1;
	for (h += 7; *h == ' '; h++)
		continue;
	for (i = 0; i < FUZZ_NUSERS; i++)
		if (strcmp(h, fuzz_app.tokens[i]) == 0)
			return i;
	return -1;
}

static int
loopback_like(const char *a)
{
	return strncmp(a, "127.", 4) == 0 || strcmp(a, "::1") == 0 ||
	    strncmp(a, "::ffff:127.", 11) == 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const int levels[] = {
		ACCESS_PUBLIC, ACCESS_USER, ACCESS_STAFF, ACCESS_ADMIN,
		ACCESS_METRICS, ACCESS_SELF, ACCESS_INTERNAL
	};
	static const enum role roles[FUZZ_NUSERS] = {
		ROLE_ADMIN, ROLE_AGENT, ROLE_CUSTOMER, ROLE_CUSTOMER
	};
	const char *p, *nl, *tok;
	char *addr, *auth = NULL, *full;
	struct req req;
	int access, who, rc;

	if (size == 0)
		return 0;
	access = levels[(data[0] & 0x7f) % (sizeof(levels) / sizeof(levels[0]))];
	if (data[0] & 0x80)
		metrics_session_bump();
	p = (const char *)data + 1;
	size--;
	nl = memchr(p, '\n', size);
	addr = dupn(p, nl ? (size_t)(nl - p) : size);
	if (nl != NULL) {
		auth = dupn(nl + 1, size - (size_t)(nl + 1 - p));
		if (strncmp(auth, "Bearer @", 8) == 0 &&
		    (tok = fuzz_token(auth + 7)) != NULL) {
			if ((full = malloc(8 + AUTH_TOKEN_LEN)) == NULL)
				abort();
			snprintf(full, 8 + AUTH_TOKEN_LEN, "Bearer %s", tok);
			free(auth);
			auth = full;
		}
	}

	if (http_req_init_raw(&req, "GET", "/", &fuzz_app.app.io) != 0)
		abort();
	req.remote_addr = addr;
	req.authorization = auth;
	rc = api_check_access(&fuzz_app.app, &req, access);
	who = holder(auth);
	if (rc == 0) {
		if (req.responded)
			abort();
		/* Only nginx's own subrequests (CHATDESK_INTERNAL, which
		 * a request made here never carries) pass as internal. */
		if (access == ACCESS_INTERNAL)
			abort();
		if (access == ACCESS_METRICS && !loopback_like(addr) &&
		    (who != FUZZ_ADMIN || req.role != ROLE_ADMIN))
			abort();
		if (access == ACCESS_USER || access == ACCESS_STAFF ||
		    access == ACCESS_ADMIN) {
			/* Nobody gets in on a header that is not a live
			 * token, nor as anyone but its owner. */
			if (who == -1 || req.user_id != fuzz_app.ids[who] ||
			    req.role != (int)roles[who])
				abort();
			if (access == ACCESS_STAFF && !auth_is_staff(req.role))
				abort();
			if (access == ACCESS_ADMIN && req.role != ROLE_ADMIN)
				abort();
		}
	} else {
		if (!req.responded || (req.status != 401 && req.status != 403 &&
		    req.status != 404))
			abort();
		/* A live token of the right role is never refused. */
		if (who != -1 && (access == ACCESS_USER ||
		    (access == ACCESS_STAFF && auth_is_staff(roles[who])) ||
		    (access == ACCESS_ADMIN && roles[who] == ROLE_ADMIN)))
			abort();
	}
	(void)auth_role_parse(addr);
	http_req_free(&req);
	free(addr);
	free(auth);
	return 0;
}
