/* ctl_util: the helpers every chatdeskctl subcommand uses (ctl.h); the
 * command table and main are in ctl.c, above them. */
#include "autoconf.h"

#include <stdio.h>
#include <stdlib.h>

#include "app.h"
#include "ctl.h"

int
ctl_usage_error(const struct ctl_cmd *cmd, const char *msg)
{
	/* One line, as every error of the command line. */
	fprintf(stderr, "chatdeskctl: %s (usage: chatdeskctl %s)\n", msg,
	    cmd->usage);
	return CTL_EXIT_USAGE;
}

int
ctl_open(struct app *app, int migrate)
{
	char err[512];

	if (app_open(app, migrate ? DB_OPEN_MIGRATE : DB_OPEN_APP, err,
	    sizeof(err)) == -1) {
		fprintf(stderr, "chatdeskctl: %s\n", err);
		return -1;
	}
	return 0;
}
