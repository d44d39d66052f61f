/* api_access: the access check the dispatcher runs before a handler, and
 * the field validators every handler uses (the query parameters' are in
 * api_page.c). */
#include "autoconf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "app.h"
#include "auth.h"
#include "http.h"
#include "util.h"

/*
 * A loopback client of the shipped nginx: exactly 127.0.0.1 or ::1 as
 * REMOTE_ADDR, and only over a unix socket, which only local processes
 * allowed on it (nginx) can reach. Over TCP anyone who reaches the port
 * can write REMOTE_ADDR; behind another proxy the proxy's own address is
 * loopback for every client. There only an admin token opens /metrics.
 */
static int
is_loopback(const struct app *app, const char *addr)
{
	return app->fcgi_unix &&
	    (strcmp(addr, "127.0.0.1") == 0 || strcmp(addr, "::1") == 0);
}

int
api_check_access(struct app *app, struct req *req, int access)
{
	switch (access) {
	case ACCESS_PUBLIC:
	case ACCESS_SELF:
		return 0;
	case ACCESS_INTERNAL:
		if (req->internal)
			return 0;
		http_not_found(req);
		return -1;
	case ACCESS_METRICS:
		if (is_loopback(app, req->remote_addr))
			return 0;
		/* Anyone else needs an admin token; others are told that
		 * nothing is here. */
		if (auth_identify(app->auth, req) != 0 || req->role != ROLE_ADMIN) {
			http_not_found(req);
			return -1;
		}
		return 0;
	default:
		break;
	}
	if (auth_authenticate(app->auth, req) == -1)
		return -1;
	if (access == ACCESS_STAFF && !auth_is_staff(req->role)) {
		http_error(req, 403, "forbidden", NULL, "staff only");
		return -1;
	}
	if (access == ACCESS_ADMIN && req->role != ROLE_ADMIN) {
		http_error(req, 403, "forbidden", NULL, "admin only");
		return -1;
	}
	return 0;
}

static json_t *
field(struct req *req, const char *name)
{
	return req->body ? json_object_get(req->body, name) : NULL;
}

int
api_field_str(struct req *req, const char *name, size_t min, size_t max,
    int flags, const char **s, size_t *len)
{
	json_t *v = field(req, name);
	size_t n;

	if (v == NULL || (json_is_null(v) && (flags & FIELD_NULLABLE))) {
		if (!(flags & FIELD_REQUIRED))
			return 0;
		http_invalid_field(req, name, "%s is required", name);
		return -1;
	}
	if (!json_is_string(v)) {
		http_invalid_field(req, name, "%s must be a string", name);
		return -1;
	}
	n = json_string_length(v);
	if (n < min || n > max || (min > 0 && util_blank(json_string_value(v), n))) {
		http_invalid_field(req, name, "%s must be %zu..%zu bytes%s", name,
		    min, max, min > 0 ? ", not only white space" : "");
		return -1;
	}
	*s = json_string_value(v);
	*len = n;
	return 1;
}

int
api_field_id(struct req *req, const char *name, int flags, int64_t *id)
{
	json_t *v = field(req, name);

	if (v == NULL) {
		if (!(flags & FIELD_REQUIRED))
			return 0;
		http_invalid_field(req, name, "%s is required", name);
		return -1;
	}
	if (json_is_null(v) && (flags & FIELD_NULLABLE)) {
		*id = 0;
		return 1;
	}
	if (!json_is_integer(v) || json_integer_value(v) < 1) {
		http_invalid_field(req, name, "%s must be a positive integer id",
		    name);
		return -1;
	}
	*id = json_integer_value(v);
	return 1;
}

int
api_field_enum(struct req *req, const char *name, const char *const *choices,
    int flags, int *idx)
{
	json_t *v = field(req, name);
	char list[128] = "";
	int i;

	if (v == NULL || (json_is_null(v) && (flags & FIELD_NULLABLE))) {
		if (!(flags & FIELD_REQUIRED))
			return 0;
		http_invalid_field(req, name, "%s is required", name);
		return -1;
	}
	for (i = 0; json_is_string(v) && choices[i] != NULL; i++)
		if (strcmp(json_string_value(v), choices[i]) == 0) {
			*idx = i;
			return 1;
		}
	for (i = 0; choices[i] != NULL; i++) {
		if (i > 0)
			strncat(list, ", ", sizeof(list) - strlen(list) - 1);
		strncat(list, choices[i], sizeof(list) - strlen(list) - 1);
	}
	http_invalid_field(req, name, "%s must be one of: %s", name, list);
	return -1;
}

void
api_created(struct req *req, json_t *body, const char *prefix, int64_t id)
{
	char loc[128];

	snprintf(loc, sizeof(loc), "%s%lld", prefix, (long long)id);
	http_header(req, "Location", loc);
	http_json(req, 201, body);
}
