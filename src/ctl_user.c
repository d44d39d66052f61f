/* chatdeskctl user add: creates a user and prints its first token. */
#include "autoconf.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "app.h"
#include "ctl.h"
#include "users.h"

static int
ctl_user_add(struct app *app, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "name", required_argument, NULL, 'n' },
		{ "email", required_argument, NULL, 'e' },
		{ "role", required_argument, NULL, 'r' },
		{ NULL, 0, NULL, 0 }
	};
	const char *name = NULL, *email = NULL, *why;
	char tok[AUTH_TOKEN_LEN + 1];
	enum role role = ROLE_NONE;
	int64_t id;
	int ch;

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
	if (ctl_open(app, 0) == -1)
		return EXIT_FAILURE;
	switch (users_create(app, name, email, role, &id, tok)) {
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
	.usage = "user add --name NAME --email EMAIL --role ROLE",
	.help = "create a user and print its token (last line)",
	.exec = ctl_user_add,
};
