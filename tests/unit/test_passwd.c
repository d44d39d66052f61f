/*
 * Unit tests for passwd (issue 15): the length bounds, Argon2id strings
 * that verify, the dummy verification of an unknown user, and the
 * rehash decision for a hash made with other limits.
 */
#include "autoconf.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "passwd.h"

static int
setup(void **state)
{
	(void)state;
	return sodium_init() < 0 ? -1 : 0;
}

static void
test_bounds(void **state)
{
	(void)state;
	assert_non_null(passwd_check(0));
	assert_non_null(passwd_check(PASSWD_MIN - 1));
	assert_null(passwd_check(PASSWD_MIN));
	assert_null(passwd_check(PASSWD_MAX));
	assert_non_null(passwd_check(PASSWD_MAX + 1));
}

static void
test_hash_verify(void **state)
{
	char h1[PASSWD_HASH_LEN], h2[PASSWD_HASH_LEN];
	const char *pw = "correct horse battery";

	(void)state;
	assert_int_equal(passwd_hash(pw, strlen(pw), h1), 0);
	assert_int_equal(passwd_hash(pw, strlen(pw), h2), 0);
	assert_true(strncmp(h1, "$argon2id$", 10) == 0);
	/* Salted: the same password never gives the same string. */
	assert_string_not_equal(h1, h2);
	assert_int_equal(passwd_verify(h1, pw, strlen(pw)), 1);
	assert_int_equal(passwd_verify(h1, pw, strlen(pw) - 1), 0);
	assert_int_equal(passwd_verify(h1, "correct horse batterY", 21), 0);
	/* Binary-safe: a NUL inside counts. */
	assert_int_equal(passwd_verify(h1, "correct horse battery\0x", 23), 0);
	assert_int_equal(passwd_needs_rehash(h1), 0);
}

static void
test_no_user(void **state)
{
	(void)state;
	/* An unknown email: the dummy is verified, never a match. */
	assert_int_equal(passwd_verify(NULL, "anything at all", 15), 0);
	assert_int_equal(passwd_verify(NULL, "", 0), 0);
}

static void
test_rehash(void **state)
{
	char old[PASSWD_HASH_LEN];
	const char *pw = "an older password";

	(void)state;
	/* Made with more passes than passwd_hash uses now. */
	assert_int_equal(crypto_pwhash_str_alg(old, pw, strlen(pw),
	    crypto_pwhash_OPSLIMIT_INTERACTIVE + 1,
	    crypto_pwhash_MEMLIMIT_INTERACTIVE, crypto_pwhash_ALG_ARGON2ID13), 0);
	assert_int_equal(passwd_verify(old, pw, strlen(pw)), 1);
	assert_int_equal(passwd_needs_rehash(old), 1);
	/* Not a hash at all: rehash (and never a match). */
	assert_int_equal(passwd_needs_rehash("plain text"), 1);
	assert_int_equal(passwd_verify("plain text", pw, strlen(pw)), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bounds),
		cmocka_unit_test(test_hash_verify),
		cmocka_unit_test(test_no_user),
		cmocka_unit_test(test_rehash),
	};

	return cmocka_run_group_tests(tests, setup, NULL);
}
