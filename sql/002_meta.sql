-- chatdesk schema, version 2: named values of the database file itself.
-- "generation" is set by chatdeskctl restore to a new random value, and
-- every cache key name carries it (keys.c): the cache entries written for
-- the database that was replaced can never be read for the restored one.
-- A database never restored has no generation and plain key names.

CREATE TABLE meta (
	name		TEXT PRIMARY KEY,
	value		TEXT NOT NULL
) WITHOUT ROWID;
