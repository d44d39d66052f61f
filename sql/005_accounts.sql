-- Accounts that can be locked (issue 13, API.md section 9).
-- disabled_at: set while an admin has disabled the user; its tokens are
-- refused and none is issued. expires_at: NULL for a token without a
-- lifetime (token_max_age_days = 0 when it was issued). last_used_at:
-- written at most once a minute per token (auth.c), not per request.
ALTER TABLE users ADD COLUMN disabled_at INTEGER;
ALTER TABLE tokens ADD COLUMN expires_at INTEGER;
ALTER TABLE tokens ADD COLUMN last_used_at INTEGER;
