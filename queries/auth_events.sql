-- name: InsertAuthEvent :exec
INSERT INTO auth_events (user_id, kind, email_hash, ip)
VALUES (sqlc.narg(user_id), @kind, @email_hash, @ip);

-- name: ListAuthEvents :many
SELECT e.id, e.kind, e.email_hash, e.ip, e.created_at, u.handle AS user_handle, u.username
FROM auth_events e
LEFT JOIN users u ON u.id = e.user_id
ORDER BY e.created_at DESC, e.id DESC
LIMIT @max_rows;

-- name: ListUserAuthEvents :many
-- One user's most recent auth events, for the admin's page about them.
SELECT kind, ip, created_at
FROM auth_events
WHERE user_id = @user_id
ORDER BY created_at DESC, id DESC
LIMIT @max_rows;
