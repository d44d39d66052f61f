/*
 * passwd: password hashes (issue 15). Argon2id through libsodium's
 * crypto_pwhash_str at its interactive limits; the parameters travel in
 * the stored string, so raising them later only needs a rehash at the
 * next good sign-in (passwd_needs_rehash).
 */
#ifndef CHATDESK_PASSWD_H
#define CHATDESK_PASSWD_H

#include <stddef.h>

#include <sodium.h>

#define PASSWD_MIN		10	/* bytes of UTF-8 */
#define PASSWD_MAX		1024	/* bounds the hashing work per request */
#define PASSWD_HASH_LEN		crypto_pwhash_STRBYTES

/* NULL if the password's length is acceptable, else the reason (a 400). */
const char *passwd_check(size_t len);

/* Hashes pw into out (NUL-terminated). Returns 0, or -1 (out of memory). */
int passwd_hash(const char *pw, size_t len, char out[PASSWD_HASH_LEN]);

/*
 * 1 if pw matches the stored hash, else 0. With hash NULL (no such user,
 * or a user without a password) it verifies against a dummy hash made
 * once per process and answers 0, so that a wrong email costs what a
 * wrong password costs.
 */
int passwd_verify(const char *hash, const char *pw, size_t len);

/* 1 if hash was made with other limits than passwd_hash uses now. */
int passwd_needs_rehash(const char *hash);

#endif
