/*
 * libFuzzer target over the request-parsing layer: everything a client
 * controls before a handler runs. The input is
 *
 *	METHOD SP URI [SP CONTENT-TYPE] LF BODY
 *
 * so that the seeds read like requests. The first line goes through
 * http_req_init_raw (path cut, query parsing, percent-decoding, the 400
 * writer), router_match over the real route table, http_param lookups and
 * http_is_json_type; the body through util_utf8_ok and http_parse_json.
 * Nothing reaches SQLite or Redis.
 */
#include "autoconf.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <sodium.h>

#include "api.h"
#include "http.h"
#include "log.h"
#include "router.h"
#include "util.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Reused across runs, as the server reuses them across requests, so that
 * state left behind by one input can trip the next. */
static struct http_io io;

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	if (sodium_init() < 0)
		abort();
	/* The 400 path logs nothing today, but a log line per input would
	 * drown libFuzzer's own output. */
	log_init("fuzz_request", LOGL__MAX);
	http_io_init(&io);
	return 0;
}

/* Copies n bytes into a fresh NUL-terminated string. An embedded NUL
 * simply ends the string early, as it would in a FastCGI param. */
static char *
dupn(const uint8_t *p, size_t n)
{
	char *s;

	if ((s = malloc(n + 1)) == NULL)
		abort();
	if (n > 0)
		memcpy(s, p, n);
	s[n] = '\0';
	return s;
}

/* Touches every byte of a returned value, so that ASan sees any read
 * past its end. */
static size_t
touch(const char *s)
{
	return s != NULL ? strlen(s) : 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const probe[] = {
		"limit", "before", "status", "assignee_id", "unread", "days",
		"", "a",
	};
	const uint8_t *nl, *body;
	size_t linelen, blen, i;
	char *line, *method, *uri, *ctype, *sp, *bodycopy, allow[128];
	const struct route *route;
	const char *code;
	char msg[160];
	int64_t ids[ROUTER_MAX_IDS];
	struct req req;
	json_t *j;
	volatile size_t sink = 0;

	nl = memchr(data, '\n', size);
	linelen = nl != NULL ? (size_t)(nl - data) : size;
	body = nl != NULL ? nl + 1 : data + size;
	blen = size - (size_t)(body - data);

	line = dupn(data, linelen);
	method = line;
	if ((sp = strchr(line, ' ')) != NULL) {
		*sp = '\0';
		uri = sp + 1;
	} else
		uri = line + strlen(line);
	if ((sp = strchr(uri, ' ')) != NULL) {
		*sp = '\0';
		ctype = sp + 1;
	} else
		ctype = uri + strlen(uri);

	if (http_req_init_raw(&req, method, uri, &io) == 0) {
		/* The params must be NUL-terminated, valid UTF-8, no NUL. */
		for (i = 0; i < (size_t)req.nparams; i++) {
			const struct http_param *p = &req.params[i];

			if (strlen(p->val) != p->vlen ||
			    !util_utf8_ok(p->key, strlen(p->key)) ||
			    !util_utf8_ok(p->val, p->vlen))
				abort();
		}
		for (i = 0; i < sizeof(probe) / sizeof(probe[0]); i++)
			sink += touch(http_param(&req, probe[i]));
		for (i = 0; i < (size_t)req.nparams; i++)
			sink += touch(http_param(&req, req.params[i].key));

		route = NULL;
		switch (router_match(api_routes, api_nroutes, req.method,
		    req.path, &route, ids, allow, sizeof(allow))) {
		case ROUTER_OK:
			if (route == NULL)
				abort();
			break;
		case ROUTER_BAD_METHOD:
			/* Allow is what the 405 sends: never empty. */
			if (allow[0] == '\0' || strlen(allow) >= sizeof(allow))
				abort();
			break;
		case ROUTER_NOT_FOUND:
			break;
		}
		/* Every route pattern with one {id} is also tried directly, to
		 * reach the id parser with whatever the path holds. */
		for (i = 0; i < api_nroutes; i++)
			(void)router_path_match(api_routes[i].pattern, req.path,
			    ids);
		(void)router_path_match("/x/{id}/y/{id}", req.path, ids);
	} else {
		/* A refused query must have been answered with a 400. */
		if (!req.responded || req.status != 400)
			abort();
	}
	sink += (size_t)http_is_json_type(ctype);

	/* The body as http_read_json would see it, in a buffer of exactly
	 * blen bytes so that ASan catches a read past the end. */
	bodycopy = malloc(blen > 0 ? blen : 1);
	if (bodycopy == NULL)
		abort();
	if (blen > 0)
		memcpy(bodycopy, body, blen);
	sink += (size_t)util_utf8_ok(bodycopy, blen);
	sink += (size_t)util_blank(bodycopy, blen);
	code = NULL;
	if ((j = http_parse_json(bodycopy, blen, &code, msg,
	    sizeof(msg))) != NULL) {
		if (!json_is_object(j))
			abort();
		json_decref(j);
	} else {
		if (code == NULL)
			abort();
		/* The 400 that would carry msg must still be sendable. */
		http_error(&req, 400, code, NULL, "%s", msg);
	}
	free(bodycopy);

	http_req_free(&req);
	free(line);
	(void)sink;
	return 0;
}
