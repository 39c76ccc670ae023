-- +goose Up

-- Password reset links (SPEC section 11). Only the SHA-256 of a link's token is stored, so
-- a copy of this table opens no account. A row is used at most once (used_at), and lives
-- on for a week after it expires so a late click is told "used" or "expired", not "unknown".
CREATE TABLE password_resets (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id    bigint      NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    token_hash bytea       NOT NULL UNIQUE CHECK (octet_length(token_hash) = 32),
    created_at timestamptz NOT NULL,
    expires_at timestamptz NOT NULL,
    used_at    timestamptz,
    CHECK (expires_at > created_at)
);
CREATE INDEX password_resets_user_idx ON password_resets (user_id);
CREATE INDEX password_resets_expires_idx ON password_resets (expires_at);

ALTER TABLE password_resets ENABLE ROW LEVEL SECURITY;
ALTER TABLE password_resets FORCE ROW LEVEL SECURITY;
CREATE POLICY password_resets_isolation ON password_resets
    USING (user_id = app_user_id() OR app_is_system())
    WITH CHECK (user_id = app_user_id() OR app_is_system());
GRANT SELECT, INSERT, UPDATE, DELETE ON password_resets TO tickstock_app;

-- A deleted account takes its auth history with it: those rows (IP addresses, times of
-- sign-in) are the user's personal data, and SPEC section 11 says deletion removes every
-- row that belongs to the account. The account_deleted event itself is stored without a
-- user, so the operator still sees that a deletion happened.
ALTER TABLE auth_events DROP CONSTRAINT auth_events_user_id_fkey;
ALTER TABLE auth_events ADD CONSTRAINT auth_events_user_id_fkey
    FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE;

-- +goose Down
ALTER TABLE auth_events DROP CONSTRAINT auth_events_user_id_fkey;
ALTER TABLE auth_events ADD CONSTRAINT auth_events_user_id_fkey
    FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE SET NULL;
DROP TABLE password_resets;
