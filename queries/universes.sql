-- name: ListUniverses :many
SELECT u.name, u.description, count(s.symbol)::int AS size
FROM universes u
LEFT JOIN universe_symbols s ON s.universe_name = u.name
GROUP BY u.name
ORDER BY u.name;

-- name: ListUniverseMembers :many
SELECT universe_name, symbol FROM universe_symbols ORDER BY universe_name, symbol;

-- name: GetUniverseForUpdate :one
-- An edit locks the universe it changes, so two admins' edits apply one after the other
-- and each audit entry's "before" is what that edit replaced.
SELECT name, description FROM universes WHERE name = @name FOR UPDATE;

-- name: GetUniverse :one
SELECT name, description FROM universes WHERE name = @name;

-- name: UniverseSymbols :many
SELECT symbol FROM universe_symbols WHERE universe_name = @name ORDER BY symbol;

-- name: CreateUniverse :exec
INSERT INTO universes (name, description) VALUES (@name, @description);

-- name: UpdateUniverseDescription :exec
UPDATE universes SET description = @description, updated_at = now() WHERE name = @name;

-- name: DeleteUniverseSymbolsNotIn :exec
-- First half of replacing a universe's symbols: drop those not in the new list.
DELETE FROM universe_symbols
WHERE universe_name = @name AND NOT (symbol = ANY(@keep::text[]));

-- name: InsertUniverseSymbols :exec
-- Second half: add the new list's symbols not there yet.
INSERT INTO universe_symbols (universe_name, symbol)
SELECT @name::text, s FROM unnest(@symbols::text[]) AS s
ON CONFLICT DO NOTHING;
