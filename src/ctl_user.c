/* chatdeskctl user add: creates a user and prints its first token;
 * chatdeskctl user passwd: sets a user's password from standard input. */
#include "autoconf.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "app.h"
#include "ctl.h"
#include "events.h"
#include "passwd.h"
#include "users.h"

/*
 * Reads a password from standard input: everything up to EOF, less one
 * final newline (so `echo` and a terminal both work). Returns its length,
 * or -1 after printing why (too short, too long, unreadable).
 */
static long
read_password(const struct ctl_cmd *cmd, char buf[PASSWD_MAX + 2])
{
	size_t n = 0, r;
	const char *why;

	while (n < PASSWD_MAX + 2 &&
	    (r = fread(buf + n, 1, PASSWD_MAX + 2 - n, stdin)) > 0)
		n += r;
	if (ferror(stdin)) {
		fprintf(stderr, "chatdeskctl: cannot read the password from "
		    "standard input\n");
		return -1;
	}
	if (n > 0 && buf[n - 1] == '\n')
		n--;
	if (n > 0 && buf[n - 1] == '\r')
		n--;
	if ((why = passwd_check(n)) != NULL || memchr(buf, '\0', n) != NULL) {
		ctl_usage_error(cmd, why != NULL ? why :
		    "the password holds a NUL byte");
		return -1;
	}
	return (long)n;
}

static int
ctl_user_add(struct app *app, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "name", required_argument, NULL, 'n' },
		{ "email", required_argument, NULL, 'e' },
		{ "role", required_argument, NULL, 'r' },
		{ "password-stdin", no_argument, NULL, 'p' },
		{ NULL, 0, NULL, 0 }
	};
	const char *name = NULL, *email = NULL, *why;
	char tok[AUTH_TOKEN_LEN + 1], pw[PASSWD_MAX + 2];
	char hash[PASSWD_HASH_LEN];
	enum role role = ROLE_NONE;
	enum users_rc rc;
	int64_t id;
	long plen = -1;
	int ch, with_pw = 0;

	optind = 0;	/* GNU getopt: restart on the subcommand's argv */
	opterr = 0;
	while ((ch = getopt_long(argc, argv, ":n:e:r:", opts, NULL)) != -1) {
		switch (ch) {
		case 'n':
			name = optarg;
			break;
		case 'e':
			email = optarg;
			break;
		case 'p':
			with_pw = 1;
			break;
		case 'r':
			if ((role = auth_role_parse(optarg)) == ROLE_NONE)
				return ctl_usage_error(&ctl_user_add_cmd,
				    "--role must be customer, agent or admin");
			break;
		default:
			return ctl_usage_error(&ctl_user_add_cmd, "bad option");
		}
	}
	if (optind != argc || name == NULL || email == NULL || role == ROLE_NONE)
		return ctl_usage_error(&ctl_user_add_cmd,
		    "--name, --email and --role are required");
	if ((why = users_check_name(name, strlen(name))) != NULL ||
	    (why = users_check_email(email, strlen(email))) != NULL)
		return ctl_usage_error(&ctl_user_add_cmd, why);
	if (with_pw) {
		if ((plen = read_password(&ctl_user_add_cmd, pw)) == -1)
			return CTL_EXIT_USAGE;
		rc = passwd_hash(pw, (size_t)plen, hash) == 0 ? USERS_OK :
		    USERS_ERROR;
		sodium_memzero(pw, sizeof(pw));
		if (rc != USERS_OK) {
			fprintf(stderr, "chatdeskctl: could not hash the "
			    "password\n");
			return EXIT_FAILURE;
		}
	}
	if (ctl_open(app, 0) == -1)
		return EXIT_FAILURE;
	rc = users_create(app, name, email, role, with_pw ? hash : NULL, &id,
	    tok);
	sodium_memzero(hash, sizeof(hash));
	switch (rc) {
	case USERS_OK:
		break;
	case USERS_DUPLICATE:
		fprintf(stderr, "chatdeskctl: a user with email %s exists\n",
		    email);
		return EXIT_FAILURE;
	default:
		fprintf(stderr, "chatdeskctl: could not create the user\n");
		return EXIT_FAILURE;
	}
	printf("created user %lld (%s, %s)\n", (long long)id, email,
	    auth_role_name(role));
	/* The token alone on the last line, for scripts. */
	printf("%s\n", tok);
	sodium_memzero(tok, sizeof(tok));
	return EXIT_SUCCESS;
}

const struct ctl_cmd ctl_user_add_cmd = {
	.name = "user add",
	.usage = "user add --name NAME --email EMAIL --role ROLE "
	    "[--password-stdin]",
	.help = "create a user and print its token (last line)",
	.exec = ctl_user_add,
};

/* The --email EMAIL of a user command: 0 with *email set, or the exit
 * code of the usage error. */
static int
email_option(const struct ctl_cmd *cmd, int argc, char **argv,
    const char **email)
{
	static const struct option opts[] = {
		{ "email", required_argument, NULL, 'e' },
		{ NULL, 0, NULL, 0 }
	};
	int ch;

	*email = NULL;
	optind = 0;
	opterr = 0;
	while ((ch = getopt_long(argc, argv, ":e:", opts, NULL)) != -1) {
		if (ch != 'e')
			return ctl_usage_error(cmd, "bad option");
		*email = optarg;
	}
	if (optind != argc || *email == NULL)
		return ctl_usage_error(cmd, "--email is required");
	return 0;
}

/* The id of the user with this email, or 0 after saying why not. */
static int64_t
user_by_email(struct app *app, const char *email)
{
	int64_t id;

	if ((id = users_id_by_email(app, email)) <= 0) {
		fprintf(stderr, "chatdeskctl: %s\n", id == 0 ?
		    "no user has this email" : "could not read the users");
		return 0;
	}
	return id;
}

static int
ctl_user_passwd(struct app *app, int argc, char **argv)
{
	const char *email;
	char pw[PASSWD_MAX + 2];
	enum users_rc rc;
	int64_t id;
	long plen;
	int ex;

	if ((ex = email_option(&ctl_user_passwd_cmd, argc, argv, &email)) != 0)
		return ex;
	if ((plen = read_password(&ctl_user_passwd_cmd, pw)) == -1)
		return CTL_EXIT_USAGE;
	if (ctl_open(app, 0) == -1) {
		sodium_memzero(pw, sizeof(pw));
		return EXIT_FAILURE;
	}
	if ((id = user_by_email(app, email)) == 0) {
		sodium_memzero(pw, sizeof(pw));
		return EXIT_FAILURE;
	}
	rc = users_set_password(app, id, pw, (size_t)plen);
	sodium_memzero(pw, sizeof(pw));
	if (rc != USERS_OK) {
		fprintf(stderr, "chatdeskctl: could not set the password\n");
		return EXIT_FAILURE;
	}
	printf("password set for user %lld (%s)\n", (long long)id, email);
	return EXIT_SUCCESS;
}

const struct ctl_cmd ctl_user_passwd_cmd = {
	.name = "user passwd",
	.usage = "user passwd --email EMAIL",
	.help = "set a user's password, read from standard input",
	.exec = ctl_user_passwd,
};

/*
 * user disable / user enable / user revoke-tokens: what an admin does
 * through the API, for an operator (a locked-out or compromised admin
 * account). Disabling revokes every token, as PATCH does.
 */
static int
user_lock(const struct ctl_cmd *cmd, struct app *app, int argc, char **argv,
    int disabled)
{
	const char *email;
	int64_t id;
	int ex, n = 0;

	if ((ex = email_option(cmd, argc, argv, &email)) != 0)
		return ex;
	if (ctl_open(app, 0) == -1 || (id = user_by_email(app, email)) == 0)
		return EXIT_FAILURE;
	if (disabled == -1) {
		if ((n = auth_revoke_all(app->auth, id)) >= 0) {
			auth_forget_revoked(app->auth);
			/* Its live subscriptions end (users_update kicks too). */
			events_kick_user(app->events, id);
		}
	} else if (users_update(app, id, NULL, NULL, ROLE_NONE, disabled) !=
	    USERS_OK)
		n = -1;
	if (n == -1) {
		fprintf(stderr, "chatdeskctl: could not change the user\n");
		return EXIT_FAILURE;
	}
	if (disabled == -1)
		printf("revoked %d tokens of user %lld (%s)\n", n, (long long)id,
		    email);
	else
		printf("user %lld (%s) %s\n", (long long)id, email,
		    disabled ? "disabled, its tokens revoked" : "enabled");
	return EXIT_SUCCESS;
}

static int
ctl_user_disable(struct app *app, int argc, char **argv)
{
	return user_lock(&ctl_user_disable_cmd, app, argc, argv, 1);
}

static int
ctl_user_enable(struct app *app, int argc, char **argv)
{
	return user_lock(&ctl_user_enable_cmd, app, argc, argv, 0);
}

static int
ctl_user_revoke(struct app *app, int argc, char **argv)
{
	return user_lock(&ctl_user_revoke_cmd, app, argc, argv, -1);
}

const struct ctl_cmd ctl_user_disable_cmd = {
	.name = "user disable",
	.usage = "user disable --email EMAIL",
	.help = "disable a user and revoke all its tokens",
	.exec = ctl_user_disable,
};

const struct ctl_cmd ctl_user_enable_cmd = {
	.name = "user enable",
	.usage = "user enable --email EMAIL",
	.help = "enable a disabled user (no old token comes back)",
	.exec = ctl_user_enable,
};

const struct ctl_cmd ctl_user_revoke_cmd = {
	.name = "user revoke-tokens",
	.usage = "user revoke-tokens --email EMAIL",
	.help = "revoke every token of a user",
	.exec = ctl_user_revoke,
};
