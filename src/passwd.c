/* passwd: see passwd.h. */
#include "autoconf.h"

#include <string.h>

#include "log.h"
#include "passwd.h"

#define PASSWD_OPS	crypto_pwhash_OPSLIMIT_INTERACTIVE
#define PASSWD_MEM	crypto_pwhash_MEMLIMIT_INTERACTIVE

const char *
passwd_check(size_t len)
{
	if (len < PASSWD_MIN || len > PASSWD_MAX)
		return "password must be 10..1024 bytes";
	return NULL;
}

int
passwd_hash(const char *pw, size_t len, char out[PASSWD_HASH_LEN])
{
	if (crypto_pwhash_str_alg(out, pw, len, PASSWD_OPS, PASSWD_MEM,
	    crypto_pwhash_ALG_ARGON2ID13) != 0) {
		log_error("password hashing failed (out of memory)");
		return -1;
	}
	return 0;
}

/* A hash of a random password, made at the first verification of the
 * process, so that an unknown email takes the same work as a known one. */
static const char *
dummy_hash(void)
{
	static char dummy[PASSWD_HASH_LEN];
	unsigned char raw[16];

	if (dummy[0] == '\0') {
		randombytes_buf(raw, sizeof(raw));
		if (passwd_hash((const char *)raw, sizeof(raw), dummy) == -1)
			dummy[0] = '\0';
		sodium_memzero(raw, sizeof(raw));
	}
	return dummy;
}

int
passwd_verify(const char *hash, const char *pw, size_t len)
{
	const char *dummy = dummy_hash();

	/* The dummy's answer is ignored (it is a random password's), but
	 * the compiler insists that it be looked at. */
	if (hash == NULL)
		return dummy[0] != '\0' &&
		    crypto_pwhash_str_verify(dummy, pw, len) == 0 && 0;
	return crypto_pwhash_str_verify(hash, pw, len) == 0;
}

int
passwd_needs_rehash(const char *hash)
{
	return crypto_pwhash_str_needs_rehash(hash, PASSWD_OPS, PASSWD_MEM) != 0;
}
