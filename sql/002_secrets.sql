-- chatdesk schema, version 2: secrets only the app knows (issue 13).
-- cache_mac: the 32-byte key of the MAC on every cached value that feeds
-- a decision (API.md section 4: Redis is not trusted with identity).
-- Created by `chatdeskctl migrate` with random bytes from the OS, read by
-- every program at start, never written to Redis or a log. Whoever can
-- read this database file can forge cache entries, and can read every
-- row anyway: keep the file 0640 (README, Files).
CREATE TABLE secrets (
	name		TEXT PRIMARY KEY,
	value		BLOB NOT NULL,
	created_at	INTEGER NOT NULL
) WITHOUT ROWID;
