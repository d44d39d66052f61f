/* ctl: the subcommands of chatdeskctl, one file each (ctl_*.c). */
#ifndef CHATDESK_CTL_H
#define CHATDESK_CTL_H

struct app;

#define CTL_EXIT_USAGE	64

struct ctl_cmd {
	const char	*name;		/* "migrate", "user add" */
	const char	*usage;
	const char	*help;
	/* argv[0] is the last word of the name; options follow. Opens what
	 * it needs with ctl_open() after its arguments are checked. */
	int		(*exec)(struct app *, int argc, char **argv);
};

/* Prints a usage error for cmd on stderr; returns CTL_EXIT_USAGE. */
int ctl_usage_error(const struct ctl_cmd *, const char *msg);
/* Opens the database (and Redis connections) for a command. Returns 0,
 * or -1 after printing the reason. */
int ctl_open(struct app *, int migrate);

extern const struct ctl_cmd ctl_migrate_cmd;
extern const struct ctl_cmd ctl_user_add_cmd;
extern const struct ctl_cmd ctl_user_passwd_cmd;
extern const struct ctl_cmd ctl_user_disable_cmd;
extern const struct ctl_cmd ctl_user_enable_cmd;
extern const struct ctl_cmd ctl_user_revoke_cmd;
extern const struct ctl_cmd ctl_enqueue_cmd;
extern const struct ctl_cmd ctl_queue_stats_cmd;
extern const struct ctl_cmd ctl_dead_list_cmd;
extern const struct ctl_cmd ctl_dead_retry_cmd;
extern const struct ctl_cmd ctl_cache_warm_cmd;
extern const struct ctl_cmd ctl_check_cmd;
extern const struct ctl_cmd ctl_backup_cmd;
extern const struct ctl_cmd ctl_restore_cmd;

#endif
