-- +goose Up

-- The app works as this non-owner role (SET ROLE on every pooled connection), so
-- row-level security applies even when DATABASE_URL names a superuser. Roles are
-- cluster-wide and several databases may migrate at once, so creation tolerates a race.
-- +goose StatementBegin
DO $$
BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'tickstock_app') THEN
    CREATE ROLE tickstock_app NOLOGIN;
  END IF;
EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
END
$$;
-- +goose StatementEnd

-- +goose StatementBegin
DO $$
BEGIN
  IF NOT pg_has_role(current_user, 'tickstock_app', 'MEMBER') THEN
    EXECUTE format('GRANT tickstock_app TO %I', current_user);
  END IF;
EXCEPTION WHEN OTHERS THEN NULL;
END
$$;
-- +goose StatementEnd

-- app_user_id is the user the current transaction acts for (set_config('app.user_id', ..., true)).
-- +goose StatementBegin
CREATE FUNCTION app_user_id() RETURNS bigint
LANGUAGE sql STABLE AS $$
  SELECT NULLIF(current_setting('app.user_id', true), '')::bigint
$$;
-- +goose StatementEnd

-- app_is_system is true only inside transactions the server opens for cross-user work
-- (login lookups, the publisher's batch load, admin listings).
-- +goose StatementBegin
CREATE FUNCTION app_is_system() RETURNS boolean
LANGUAGE sql STABLE AS $$
  SELECT coalesce(current_setting('app.system', true), '') = 'on'
$$;
-- +goose StatementEnd

CREATE TABLE users (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    handle        text        NOT NULL UNIQUE,
    email         text        NOT NULL,
    username      text        NOT NULL,
    password_hash text        NOT NULL,
    role          text        NOT NULL DEFAULT 'user' CHECK (role IN ('user', 'admin')),
    disabled      boolean     NOT NULL DEFAULT false,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    CHECK (char_length(username) BETWEEN 3 AND 50)
);
CREATE UNIQUE INDEX users_email_lower_key ON users (lower(email));

CREATE TABLE universes (
    name        text PRIMARY KEY CHECK (name ~ '^[A-Z0-9_]{1,64}$'),
    description text        NOT NULL DEFAULT '',
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE universe_symbols (
    universe_name text NOT NULL REFERENCES universes (name) ON UPDATE CASCADE ON DELETE CASCADE,
    symbol        text NOT NULL CHECK (symbol ~ '^[A-Z0-9.\-]{1,16}$'),
    PRIMARY KEY (universe_name, symbol)
);

-- One row per (user, tracker, universe). No rows for a tracker means the default.
CREATE TABLE user_universe_selections (
    user_id       bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    tracker       text   NOT NULL CHECK (tracker IN ('highlow', 'market')),
    universe_name text   NOT NULL REFERENCES universes (name) ON UPDATE CASCADE ON DELETE CASCADE,
    PRIMARY KEY (user_id, tracker, universe_name)
);

CREATE TABLE user_filters (
    user_id    bigint PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    filters    jsonb       NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- Embed links: only the SHA-256 of the token is stored; handle is the opaque id used in URLs.
CREATE TABLE embed_tokens (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    handle     text        NOT NULL UNIQUE,
    user_id    bigint      NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name       text        NOT NULL CHECK (char_length(name) BETWEEN 1 AND 100),
    token_hash bytea       NOT NULL UNIQUE,
    created_at timestamptz NOT NULL DEFAULT now(),
    revoked_at timestamptz
);
CREATE INDEX embed_tokens_user_idx ON embed_tokens (user_id);

CREATE TABLE auth_events (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id    bigint REFERENCES users (id) ON DELETE SET NULL,
    kind       text        NOT NULL,
    email_hash text        NOT NULL DEFAULT '',
    ip         text        NOT NULL DEFAULT '',
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX auth_events_created_idx ON auth_events (created_at DESC);
CREATE INDEX auth_events_user_idx ON auth_events (user_id, created_at DESC);

-- Row-level security on every per-user table, forced so even the owner obeys it.
ALTER TABLE users ENABLE ROW LEVEL SECURITY;
ALTER TABLE users FORCE ROW LEVEL SECURITY;
CREATE POLICY users_isolation ON users
    USING (id = app_user_id() OR app_is_system())
    WITH CHECK (id = app_user_id() OR app_is_system());

ALTER TABLE user_universe_selections ENABLE ROW LEVEL SECURITY;
ALTER TABLE user_universe_selections FORCE ROW LEVEL SECURITY;
CREATE POLICY selections_isolation ON user_universe_selections
    USING (user_id = app_user_id() OR app_is_system())
    WITH CHECK (user_id = app_user_id() OR app_is_system());

ALTER TABLE user_filters ENABLE ROW LEVEL SECURITY;
ALTER TABLE user_filters FORCE ROW LEVEL SECURITY;
CREATE POLICY filters_isolation ON user_filters
    USING (user_id = app_user_id() OR app_is_system())
    WITH CHECK (user_id = app_user_id() OR app_is_system());

ALTER TABLE embed_tokens ENABLE ROW LEVEL SECURITY;
ALTER TABLE embed_tokens FORCE ROW LEVEL SECURITY;
CREATE POLICY embeds_isolation ON embed_tokens
    USING (user_id = app_user_id() OR app_is_system())
    WITH CHECK (user_id = app_user_id() OR app_is_system());

ALTER TABLE auth_events ENABLE ROW LEVEL SECURITY;
ALTER TABLE auth_events FORCE ROW LEVEL SECURITY;
CREATE POLICY auth_events_isolation ON auth_events
    USING (user_id = app_user_id() OR app_is_system())
    WITH CHECK (user_id = app_user_id() OR app_is_system());

GRANT USAGE ON SCHEMA public TO tickstock_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON users, universes, universe_symbols,
    user_universe_selections, user_filters, embed_tokens, auth_events TO tickstock_app;
GRANT EXECUTE ON FUNCTION app_user_id(), app_is_system() TO tickstock_app;

-- +goose Down
DROP TABLE auth_events;
DROP TABLE embed_tokens;
DROP TABLE user_filters;
DROP TABLE user_universe_selections;
DROP TABLE universe_symbols;
DROP TABLE universes;
DROP TABLE users;
DROP FUNCTION app_is_system();
DROP FUNCTION app_user_id();
