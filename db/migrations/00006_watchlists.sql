-- +goose Up

-- Watchlists (SPEC section 13): private, named lists of symbols, each offered to its owner
-- alone as the universe "WL:<name>". The handle is the opaque id used in URLs and forms;
-- the row id never leaves the server. (id, user_id) is unique so that the tables below
-- can reference a list together with its owner: a row can then only ever point at a
-- list of the same user, whatever the application does.
CREATE TABLE watchlists (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    handle     text        NOT NULL UNIQUE,
    user_id    bigint      NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name       text        NOT NULL CHECK (char_length(name) BETWEEN 1 AND 40 AND name = btrim(name)),
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (id, user_id)
);
-- One name per user, ignoring case, so "WL:Tech" and "WL:tech" never both exist.
CREATE UNIQUE INDEX watchlists_user_name_key ON watchlists (user_id, lower(name));

-- The symbols of a list (at most 200, checked by the app under a row lock). A symbol no
-- feed knows is kept: it shows as "no data yet".
CREATE TABLE watchlist_symbols (
    watchlist_id bigint      NOT NULL,
    user_id      bigint      NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    symbol       text        NOT NULL CHECK (symbol ~ '^[A-Z0-9.\-]{1,10}$'),
    added_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (watchlist_id, symbol),
    FOREIGN KEY (watchlist_id, user_id) REFERENCES watchlists (id, user_id) ON DELETE CASCADE
);
CREATE INDEX watchlist_symbols_symbol_idx ON watchlist_symbols (symbol);

-- A tracker's watchlist universes. user_universe_selections holds the shared universes
-- (its foreign key names universes); a tracker's selection is the union of both tables,
-- and a tracker with no rows in either uses the default. The foreign key is NO ACTION:
-- a list a tracker uses cannot be deleted (the app says which tracker first), while
-- deleting the user still cascades through both tables in one statement.
CREATE TABLE user_watchlist_selections (
    user_id      bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    tracker      text   NOT NULL CHECK (tracker IN ('highlow', 'market')),
    watchlist_id bigint NOT NULL,
    PRIMARY KEY (user_id, tracker, watchlist_id),
    FOREIGN KEY (watchlist_id, user_id) REFERENCES watchlists (id, user_id)
);
CREATE INDEX user_watchlist_selections_list_idx ON user_watchlist_selections (watchlist_id);

ALTER TABLE watchlists ENABLE ROW LEVEL SECURITY;
ALTER TABLE watchlists FORCE ROW LEVEL SECURITY;
CREATE POLICY watchlists_isolation ON watchlists
    USING (user_id = app_user_id() OR app_is_system())
    WITH CHECK (user_id = app_user_id() OR app_is_system());

ALTER TABLE watchlist_symbols ENABLE ROW LEVEL SECURITY;
ALTER TABLE watchlist_symbols FORCE ROW LEVEL SECURITY;
CREATE POLICY watchlist_symbols_isolation ON watchlist_symbols
    USING (user_id = app_user_id() OR app_is_system())
    WITH CHECK (user_id = app_user_id() OR app_is_system());

ALTER TABLE user_watchlist_selections ENABLE ROW LEVEL SECURITY;
ALTER TABLE user_watchlist_selections FORCE ROW LEVEL SECURITY;
CREATE POLICY watchlist_selections_isolation ON user_watchlist_selections
    USING (user_id = app_user_id() OR app_is_system())
    WITH CHECK (user_id = app_user_id() OR app_is_system());

GRANT SELECT, INSERT, UPDATE, DELETE ON watchlists, watchlist_symbols, user_watchlist_selections
    TO tickstock_app;

-- +goose Down
DROP TABLE user_watchlist_selections;
DROP TABLE watchlist_symbols;
DROP TABLE watchlists;
