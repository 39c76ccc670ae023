-- Per-user universe selections and filters (SPEC section 5). Every query here runs inside
-- db.WithUser (one user's own rows) or db.WithSystem (the publisher's batch load), so
-- row-level security backs up the WHERE clauses. Universe lists and members come from
-- universes.sql (ListUniverses, ListUniverseMembers).

-- name: ListUserSelections :many
-- One user's selections. No rows for a tracker means that tracker uses the default.
SELECT tracker, universe_name
FROM user_universe_selections
WHERE user_id = @user_id
ORDER BY tracker, universe_name;

-- name: DeleteUserSelection :execrows
-- First half of replacing one tracker's selection; InsertUserSelection follows in the same
-- transaction.
DELETE FROM user_universe_selections
WHERE user_id = @user_id AND tracker = @tracker;

-- name: InsertUserSelection :execrows
-- Second half of the replace: every universe of the new selection in one statement.
INSERT INTO user_universe_selections (user_id, tracker, universe_name)
SELECT @user_id::bigint, @tracker::text, u.name
FROM unnest(@universes::text[]) AS u(name);

-- name: ExistingUniverses :many
-- Which of the given names are universes right now, checked inside the saving transaction
-- so a universe an admin just created on another instance is accepted.
SELECT name FROM universes WHERE name = ANY(@names::text[]) ORDER BY name;

-- name: GetUserFilters :one
SELECT filters FROM user_filters WHERE user_id = @user_id;

-- name: EnsureUserFilters :exec
-- Makes sure the user's filters row exists, so GetUserFiltersForUpdate has a row to lock and
-- two concurrent partial updates cannot lose each other's change.
INSERT INTO user_filters (user_id, filters) VALUES (@user_id, @filters)
ON CONFLICT (user_id) DO NOTHING;

-- name: GetUserFiltersForUpdate :one
SELECT filters FROM user_filters WHERE user_id = @user_id FOR UPDATE;

-- name: UpsertUserFilters :exec
INSERT INTO user_filters (user_id, filters) VALUES (@user_id, @filters)
ON CONFLICT (user_id) DO UPDATE SET filters = EXCLUDED.filters, updated_at = now();

-- name: LoadUserSettings :many
-- Many users' selections and filters in one round trip: one row per requested id, with
-- each tracker's universes sorted (empty when the user has none, meaning the default) and
-- the filters JSON (NULL when the user never saved any). Under db.WithUser it sees only that
-- user's rows; the publisher runs it under db.WithSystem.
SELECT
    ids.id::bigint AS user_id,
    coalesce((SELECT array_agg(s.universe_name ORDER BY s.universe_name)
              FROM user_universe_selections s
              WHERE s.user_id = ids.id AND s.tracker = 'highlow'), '{}')::text[] AS highlow,
    coalesce((SELECT array_agg(s.universe_name ORDER BY s.universe_name)
              FROM user_universe_selections s
              WHERE s.user_id = ids.id AND s.tracker = 'market'), '{}')::text[] AS market,
    f.filters AS filters
FROM unnest(@user_ids::bigint[]) AS ids(id)
LEFT JOIN user_filters f ON f.user_id = ids.id
ORDER BY ids.id;
