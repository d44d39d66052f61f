/* api_access: the access check the dispatcher runs before a handler. */
#include "autoconf.h"

#include "api.h"
#include "app.h"
#include "http.h"

int
api_check_access(struct app *app, struct req *req, int access)
{
	if (access == ACCESS_PUBLIC)
		return 0;
	http_error(req, 401, "unauthorized", NULL, "a bearer token is required");
	return -1;
}
