/* chatdeskctl migrate: applies sql/'s migrations once each, in order. */
#include "autoconf.h"

#include <stdio.h>
#include <stdlib.h>

#include "app.h"
#include "ctl.h"

static int
ctl_migrate(struct app *app, int argc, char **argv)
{
	int from, to;

	if (argc != 1)
		return ctl_usage_error(&ctl_migrate_cmd, "migrate takes no arguments");
	if (ctl_open(app, 1) == -1)
		return EXIT_FAILURE;
	if (db_migrate(app->db, &from, &to) == -1) {
		fprintf(stderr, "chatdeskctl: migrate failed (see the log above)\n");
		return EXIT_FAILURE;
	}
	if (from == to)
		printf("schema is current (version %d)\n", to);
	else
		printf("migrated schema from version %d to %d\n", from, to);
	return EXIT_SUCCESS;
}

const struct ctl_cmd ctl_migrate_cmd = {
	.name = "migrate",
	.usage = "migrate",
	.help = "create or upgrade the databases",
	.exec = ctl_migrate,
};
