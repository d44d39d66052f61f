/* router: see router.h. */
#include "autoconf.h"

#include <stdio.h>
#include <string.h>

#include "router.h"
#include "util.h"

int
router_path_match(const char *pattern, const char *path,
    int64_t ids[ROUTER_MAX_IDS])
{
	const char *p = pattern, *s = path, *pe, *se;
	int nids = 0;

	for (;;) {
		if (*p != '/' || *s != '/')
			return 0;
		p++;
		s++;
		pe = p + strcspn(p, "/");
		se = s + strcspn(s, "/");
		if ((size_t)(pe - p) == 4 && memcmp(p, "{id}", 4) == 0) {
			/* Not plain digits in 1..2^63-1: no such resource. */
			if (nids == ROUTER_MAX_IDS ||
			    util_parse_id(s, (size_t)(se - s), &ids[nids]) == -1)
				return 0;
			nids++;
		} else if (pe - p != se - s || memcmp(p, s, (size_t)(pe - p)) != 0)
			return 0;
		p = pe;
		s = se;
		if (*p == '\0' && *s == '\0')
			return 1;
		if (*p == '\0' || *s == '\0')
			return 0;
	}
}

/* HEAD is served by every GET route (RFC 9110 9.3.2): same status and
 * headers, no body (http_send leaves it out). Allow lists the table's
 * methods only: HEAD goes with every GET. */
static int
is_get(const char *method)
{
	return strcmp(method, "GET") == 0;
}

enum router_result
router_match(const struct route *table, size_t n, const char *method,
    const char *path, const struct route **out, int64_t ids[ROUTER_MAX_IDS],
    char *allow, size_t allowsz)
{
	int64_t tmp[ROUTER_MAX_IDS];
	size_t i, used = 0;
	int found = 0;

	if (allowsz > 0)
		allow[0] = '\0';
	for (i = 0; i < n; i++) {
		if (!router_path_match(table[i].pattern, path, tmp))
			continue;
		if (strcmp(table[i].method, method) == 0 ||
		    (is_get(table[i].method) && strcmp(method, "HEAD") == 0)) {
			*out = &table[i];
			memcpy(ids, tmp, sizeof(tmp));
			return ROUTER_OK;
		}
		/* Collect the methods this path allows, for 405's Allow. */
		if (used < allowsz) {
			int w = snprintf(allow + used, allowsz - used, "%s%s",
			    found ? ", " : "", table[i].method);
			if (w > 0)
				used += (size_t)w;
		}
		found = 1;
	}
	return found ? ROUTER_BAD_METHOD : ROUTER_NOT_FOUND;
}
