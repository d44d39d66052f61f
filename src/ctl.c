/*
 * chatdeskctl: the operator's command line. One table of subcommands
 * (tmux's cmd_entry), each with its usage and its function.
 */
#include "autoconf.h"

#include <sys/stat.h>

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "app.h"
#include "config.h"
#include "ctl.h"
#include "log.h"

static const struct ctl_cmd *const ctl_cmds[] = {
	&ctl_migrate_cmd,
	&ctl_user_add_cmd,
	&ctl_user_passwd_cmd,
	&ctl_user_disable_cmd,
	&ctl_user_enable_cmd,
	&ctl_user_revoke_cmd,
	&ctl_enqueue_cmd,
	&ctl_queue_stats_cmd,
	&ctl_dead_list_cmd,
	&ctl_dead_retry_cmd,
	&ctl_cache_warm_cmd,
	&ctl_check_cmd,
	&ctl_backup_cmd,
	&ctl_restore_cmd,
};

#define NCMDS	(sizeof(ctl_cmds) / sizeof(ctl_cmds[0]))

static void
usage(FILE *f)
{
	size_t i;

	fprintf(f, "usage: chatdeskctl [--config FILE] COMMAND [ARGS]\n\n"
	    "Commands:\n");
	for (i = 0; i < NCMDS; i++)
		fprintf(f, "  %-52s %s\n", ctl_cmds[i]->usage, ctl_cmds[i]->help);
	fprintf(f, "\n  --config FILE   key = value settings (default: "
	    "$CHATDESK_CONFIG)\n  --help, --version\n\n"
	    "Exit status: 0 success, 64 usage error, 1 any other failure.\n");
}

/* Matches the words of a command name ("user add") against argv. */
static int
cmd_matches(const struct ctl_cmd *cmd, int argc, char **argv, int *used)
{
	char name[64], *w, *save = NULL;
	int i = 0;

	snprintf(name, sizeof(name), "%s", cmd->name);
	for (w = strtok_r(name, " ", &save); w != NULL;
	    w = strtok_r(NULL, " ", &save), i++)
		if (i >= argc || strcmp(argv[i], w) != 0)
			return 0;
	*used = i;
	return 1;
}

int
main(int argc, char *argv[])
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 }
	};
	struct app app;
	const struct ctl_cmd *cmd = NULL;
	const char *config_path = NULL;
	char err[CONFIG_ERRLEN + 256];
	int ch, used = 0, rc;
	size_t i;

	umask(APP_UMASK);
	/* "+": stop at the first non-option, the subcommand's own. ":" and
	 * opterr 0: we print the one-line error ourselves. */
	opterr = 0;
	while ((ch = getopt_long(argc, argv, "+:c:hV", opts, NULL)) != -1) {
		switch (ch) {
		case 'c':
			config_path = optarg;
			break;
		case 'h':
			usage(stdout);
			return EXIT_SUCCESS;
		case 'V':
			printf("chatdeskctl %s\n", PACKAGE_VERSION);
			return EXIT_SUCCESS;
		default:
			fprintf(stderr, "chatdeskctl: bad option '%s' (see "
			    "chatdeskctl --help)\n", argv[optind - 1]);
			return CTL_EXIT_USAGE;
		}
	}
	argc -= optind;
	argv += optind;
	for (i = 0; i < NCMDS && cmd == NULL; i++)
		if (cmd_matches(ctl_cmds[i], argc, argv, &used))
			cmd = ctl_cmds[i];
	if (cmd == NULL) {
		fprintf(stderr, "chatdeskctl: %s%s%s (see chatdeskctl --help)\n",
		    argc > 0 ? "unknown command '" : "a command is required",
		    argc > 0 ? argv[0] : "", argc > 0 ? "'" : "");
		return CTL_EXIT_USAGE;
	}
	memset(&app, 0, sizeof(app));
	app.config_path = config_path;
	if (config_load(&app.cfg, config_path, err, sizeof(err)) == -1) {
		fprintf(stderr, "chatdeskctl: config: %s\n", err);
		return EXIT_FAILURE;
	}
	log_init("chatdeskctl", (enum log_level)app.cfg.log_level);
	if (sodium_init() < 0) {
		fprintf(stderr, "chatdeskctl: libsodium failed to initialise\n");
		config_free(&app.cfg);
		return EXIT_FAILURE;
	}
	/* Commands parse their own arguments before touching anything, so
	 * that a usage error is reported as one. */
	rc = cmd->exec(&app, argc - used + 1, argv + used - 1);
	app_close(&app);
	config_free(&app.cfg);
	return rc;
}
