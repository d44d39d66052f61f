/* routes: the route table of API.md section 3. Order matters only for
 * readability: patterns do not overlap. */
#include "autoconf.h"

#include "api.h"

const struct route api_routes[] = {
	{ "GET", "/api/v1/health", api_health, ACCESS_PUBLIC },
};

const size_t api_nroutes = sizeof(api_routes) / sizeof(api_routes[0]);
