-- Sign-in with a password (issue 15). The column holds libsodium's
-- crypto_pwhash_str output (Argon2id, its parameters inside the string);
-- NULL means the user has no password and can sign in only with a token.
ALTER TABLE users ADD COLUMN password_hash TEXT;
