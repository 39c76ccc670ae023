-- Watchlists (SPEC section 13). Every query runs inside db.WithUser or db.ReadUser (one
-- user's own rows: row-level security backs up the WHERE clauses), except the two marked
-- as the system's: the publisher's batch load and the feed's start-up symbol list.

-- name: LockUserWatchlists :one
-- Serialises one user's list creations, so two at once cannot both pass the 20-list limit.
SELECT id FROM users WHERE id = @user_id FOR NO KEY UPDATE;

-- name: CountWatchlists :one
SELECT count(*)::int FROM watchlists WHERE user_id = @user_id;

-- name: CreateWatchlist :one
INSERT INTO watchlists (handle, user_id, name) VALUES (@handle, @user_id, @name)
RETURNING id, handle, name;

-- name: ListWatchlists :many
-- One user's lists, by name (ignoring case), each with its symbols sorted.
SELECT w.handle, w.name,
       coalesce((SELECT array_agg(s.symbol ORDER BY s.symbol)
                 FROM watchlist_symbols s WHERE s.watchlist_id = w.id), '{}')::text[] AS symbols
FROM watchlists w
WHERE w.user_id = @user_id
ORDER BY lower(w.name), w.name;

-- name: GetWatchlistForUpdate :one
-- One list of the user's by handle, locked for an edit. Another user's handle is no row.
SELECT id, handle, name FROM watchlists
WHERE handle = @handle AND user_id = @user_id
FOR UPDATE;

-- name: RenameWatchlist :exec
UPDATE watchlists SET name = @name, updated_at = now() WHERE id = @id AND user_id = @user_id;

-- name: TouchWatchlist :exec
UPDATE watchlists SET updated_at = now() WHERE id = @id AND user_id = @user_id;

-- name: CountWatchlistSymbols :one
SELECT count(*)::int FROM watchlist_symbols WHERE watchlist_id = @watchlist_id;

-- name: AddWatchlistSymbols :many
-- Adds symbols to a list; those already in it are skipped. Returns the ones added.
INSERT INTO watchlist_symbols (watchlist_id, user_id, symbol)
SELECT @watchlist_id::bigint, @user_id::bigint, s.symbol
FROM unnest(@symbols::text[]) AS s(symbol)
ON CONFLICT (watchlist_id, symbol) DO NOTHING
RETURNING symbol;

-- name: RemoveWatchlistSymbols :many
-- Removes symbols from a list; returns the ones it held.
DELETE FROM watchlist_symbols
WHERE watchlist_id = @watchlist_id AND symbol = ANY(@symbols::text[])
RETURNING symbol;

-- name: WatchlistTrackers :many
-- The trackers whose selection names a list: deleting it would empty or change them.
SELECT tracker FROM user_watchlist_selections
WHERE watchlist_id = @watchlist_id AND user_id = @user_id
ORDER BY tracker;

-- name: DeleteWatchlist :execrows
DELETE FROM watchlists WHERE id = @id AND user_id = @user_id;

-- name: WatchlistsByName :many
-- Which of the given names are the user's lists, for validating a universe selection.
SELECT id, name FROM watchlists
WHERE user_id = @user_id AND name = ANY(@names::text[])
ORDER BY name;

-- name: DeleteUserWatchlistSelection :execrows
-- First half of replacing one tracker's watchlist universes; the insert follows in the
-- same transaction (see DeleteUserSelection).
DELETE FROM user_watchlist_selections
WHERE user_id = @user_id AND tracker = @tracker;

-- name: InsertUserWatchlistSelection :execrows
INSERT INTO user_watchlist_selections (user_id, tracker, watchlist_id)
SELECT @user_id::bigint, @tracker::text, l.id
FROM unnest(@watchlist_ids::bigint[]) AS l(id);

-- name: LoadWatchlistSelections :many
-- The watchlist universes many users' trackers select, each with its symbols sorted: what
-- the settings of those users resolve WL: names with. Under db.WithUser it sees only that
-- user's rows; the publisher's batch load runs it under db.WithSystem.
SELECT s.user_id, s.tracker, w.name,
       coalesce((SELECT array_agg(ws.symbol ORDER BY ws.symbol)
                 FROM watchlist_symbols ws WHERE ws.watchlist_id = w.id), '{}')::text[] AS symbols
FROM user_watchlist_selections s
JOIN watchlists w ON w.id = s.watchlist_id AND w.user_id = s.user_id
WHERE s.user_id = ANY(@user_ids::bigint[])
ORDER BY s.user_id, s.tracker, w.name;

-- name: AllWatchlistSymbols :many
-- Every symbol in anyone's watchlist, for the feed's symbols at start (run as the system).
SELECT DISTINCT symbol FROM watchlist_symbols ORDER BY symbol;

-- name: UserHasWatchlistSymbol :one
-- Whether one of the user's lists holds the symbol: such a symbol has a page ("no data
-- yet") even before any feed ticks it.
SELECT EXISTS (SELECT 1 FROM watchlist_symbols WHERE user_id = @user_id AND symbol = @symbol);
