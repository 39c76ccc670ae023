-- +goose Up

-- Credentials other than a session (SPEC sections 8 and 12). Only the SHA-256 of a token
-- is stored; handle is the opaque id used in URLs and on the bus. last_viewed_at and
-- last_used_at are written at most once a minute per credential, not on every request.
ALTER TABLE embed_tokens ADD COLUMN last_viewed_at timestamptz;
ALTER TABLE embed_tokens ADD CONSTRAINT embed_tokens_hash_len CHECK (octet_length(token_hash) = 32);
CREATE INDEX embed_tokens_active_idx ON embed_tokens (user_id, created_at DESC) WHERE revoked_at IS NULL;

CREATE TABLE api_tokens (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    handle       text        NOT NULL UNIQUE,
    user_id      bigint      NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name         text        NOT NULL CHECK (char_length(name) BETWEEN 1 AND 100),
    token_hash   bytea       NOT NULL UNIQUE CHECK (octet_length(token_hash) = 32),
    created_at   timestamptz NOT NULL DEFAULT now(),
    last_used_at timestamptz,
    revoked_at   timestamptz
);
CREATE INDEX api_tokens_active_idx ON api_tokens (user_id, created_at DESC) WHERE revoked_at IS NULL;

ALTER TABLE api_tokens ENABLE ROW LEVEL SECURITY;
ALTER TABLE api_tokens FORCE ROW LEVEL SECURITY;
CREATE POLICY api_tokens_isolation ON api_tokens
    USING (user_id = app_user_id() OR app_is_system())
    WITH CHECK (user_id = app_user_id() OR app_is_system());

GRANT SELECT, INSERT, UPDATE, DELETE ON api_tokens TO tickstock_app;

-- +goose Down
DROP TABLE api_tokens;
DROP INDEX embed_tokens_active_idx;
ALTER TABLE embed_tokens DROP CONSTRAINT embed_tokens_hash_len;
ALTER TABLE embed_tokens DROP COLUMN last_viewed_at;
