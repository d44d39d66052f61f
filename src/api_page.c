/* api_page: what the list routes share: the query parameter helpers
 * (validate or reply, like the field helpers of api_access.c), the page
 * parameters and the one page answer. */
#include "autoconf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "cache.h"
#include "http.h"
#include "log.h"
#include "util.h"

int
api_query_int(struct req *req, const char *name, long long min,
    long long max, long long def, long long *out)
{
	const char *v = http_param(req, name);

	*out = def;
	if (v == NULL)
		return 0;
	if (util_parse_int(v, min, max, out) == -1) {
		http_invalid_field(req, name, "%s must be %lld..%lld", name,
		    min, max);
		return -1;
	}
	return 1;
}

int
api_query_id(struct req *req, const char *name, int64_t *id)
{
	const char *v = http_param(req, name);

	*id = 0;
	if (v == NULL)
		return 0;
	if (util_parse_id(v, strlen(v), id) == -1) {
		http_invalid_field(req, name, "%s must be an id", name);
		return -1;
	}
	return 1;
}

int
api_query_enum(struct req *req, const char *name, const char *const *choices,
    int *idx)
{
	const char *v = http_param(req, name);
	char list[128] = "";
	int i, n;

	if (v == NULL)
		return 0;
	for (n = 0; choices[n] != NULL; n++)
		if (strcmp(v, choices[n]) == 0) {
			*idx = n;
			return 1;
		}
	/* "a, b or c" */
	for (i = 0; i < n; i++) {
		if (i > 0)
			strncat(list, i == n - 1 ? " or " : ", ",
			    sizeof(list) - strlen(list) - 1);
		strncat(list, choices[i], sizeof(list) - strlen(list) - 1);
	}
	http_invalid_field(req, name, "%s must be %s", name, list);
	return -1;
}

static int
cmp_id(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return x < y ? -1 : x > y;
}

int
api_query_ids(struct req *req, const char *name, int max, int64_t *ids)
{
	const char *v = http_param(req, name), *p, *comma;
	int n = 0, i, out;

	if (v == NULL || *v == '\0')
		return 0;
	for (p = v; ; p = comma + 1) {
		comma = strchr(p, ',');
		if (n == max ||
		    util_parse_id(p, comma ? (size_t)(comma - p) : strlen(p),
		    &ids[n]) == -1) {
			http_invalid_field(req, name, "%s must be at most %d "
			    "ids, separated by commas", name, max);
			return -1;
		}
		n++;
		if (comma == NULL)
			break;
	}
	qsort(ids, (size_t)n, sizeof(*ids), cmp_id);
	for (i = 1, out = 1; i < n; i++)
		if (ids[i] != ids[out - 1])
			ids[out++] = ids[i];
	return out;
}

int
api_page_params(struct req *req, int def, int *limit, int64_t *before)
{
	long long n;

	if (api_query_int(req, "limit", 1, API_PAGE_MAX, def, &n) == -1 ||
	    api_query_id(req, "before", before) == -1)
		return -1;
	*limit = (int)n;
	return 0;
}

int
api_page_params_after(struct req *req, int def, int *limit, int64_t *before,
    int64_t *after)
{
	int has;

	*after = 0;
	if (api_page_params(req, def, limit, before) == -1 ||
	    (has = api_query_id(req, "after", after)) == -1)
		return -1;
	if (has && *before != 0) {
		http_invalid_field(req, "after",
		    "after and before cannot be used together");
		return -1;
	}
	return 0;
}

int64_t
api_item_id(const json_t *items, size_t i)
{
	return json_integer_value(json_object_get(json_array_get(items, i),
	    "id"));
}

static int
dump_cb(const char *buf, size_t size, void *data)
{
	strbuf_add(data, buf, size);
	return 0;
}

void
api_page_answer(struct req *req, const char *field, json_t *items,
    const char *next, int64_t next_id)
{
	struct strbuf text;

	/* The items as the cached lists hold them, then the same builder. */
	strbuf_init(&text);
	if (json_dump_callback(items, dump_cb, &text, JSON_COMPACT) == -1 ||
	    text.len < 2) {
		log_error("request %s: cannot serialise the page",
		    req->request_id);
		http_internal(req);
	} else {
		cache_page_answer(&req->io->body, field, next, text.buf + 1,
		    text.len - 2, next_id != 0, next_id);
		http_raw(req, 200, req->io->body.buf, req->io->body.len);
	}
	strbuf_free(&text);
	json_decref(items);
}

void
api_created_in_page(struct req *req, int64_t id, struct strbuf *text,
    const char *collection)
{
	char loc[160];

	snprintf(loc, sizeof(loc), "%s?before=%lld&limit=1", collection,
	    (long long)id + 1);
	http_header(req, "Location", loc);
	strbuf_add(text, "\n", 1);
	http_raw(req, 201, text->buf, text->len);
}
