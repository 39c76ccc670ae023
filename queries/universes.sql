-- name: ListUniverses :many
SELECT u.name, u.description, count(s.symbol)::int AS size
FROM universes u
LEFT JOIN universe_symbols s ON s.universe_name = u.name
GROUP BY u.name
ORDER BY u.name;

-- name: ListUniverseMembers :many
SELECT universe_name, symbol FROM universe_symbols ORDER BY universe_name, symbol;
