-- name: CreateUser :one
INSERT INTO users (handle, email, username, password_hash, role)
VALUES (@handle, @email, @username, @password_hash, @role)
RETURNING *;

-- name: GetUserByEmail :one
SELECT * FROM users WHERE lower(email) = lower(@email);

-- name: GetUserByHandle :one
SELECT * FROM users WHERE handle = @handle;

-- name: GetUserByID :one
SELECT * FROM users WHERE id = @id;

-- name: ListUsers :many
SELECT * FROM users ORDER BY lower(username), id;

-- name: SetUserDisabled :one
UPDATE users SET disabled = @disabled, updated_at = now()
WHERE handle = @handle
RETURNING *;

-- name: GetUserByHandleForUpdate :one
-- An admin change reads the row it changes under a lock, so its audit entry's "before" is
-- exactly what the change replaced.
SELECT * FROM users WHERE handle = @handle FOR UPDATE;

-- name: RecordLogin :exec
UPDATE users SET last_login_at = now() WHERE id = @id;

-- name: SearchUsers :many
-- The admin's user list: optionally only users whose email or username contains pattern
-- (a LIKE pattern the caller built with its wildcards escaped), of one role, or of one
-- status; ordered by username without case, then handle, so pages never overlap.
SELECT handle, email, username, role, disabled, created_at, last_login_at
FROM users
WHERE (sqlc.narg(pattern)::text IS NULL
       OR lower(email) LIKE lower(sqlc.narg(pattern)::text) ESCAPE '\'
       OR lower(username) LIKE lower(sqlc.narg(pattern)::text) ESCAPE '\')
  AND (sqlc.narg(role)::text IS NULL OR role = sqlc.narg(role)::text)
  AND (sqlc.narg(disabled)::boolean IS NULL OR disabled = sqlc.narg(disabled)::boolean)
ORDER BY lower(username), handle
LIMIT @max_rows OFFSET @skip;

-- name: CountUsers :one
-- How many users SearchUsers would list without paging.
SELECT count(*) FROM users
WHERE (sqlc.narg(pattern)::text IS NULL
       OR lower(email) LIKE lower(sqlc.narg(pattern)::text) ESCAPE '\'
       OR lower(username) LIKE lower(sqlc.narg(pattern)::text) ESCAPE '\')
  AND (sqlc.narg(role)::text IS NULL OR role = sqlc.narg(role)::text)
  AND (sqlc.narg(disabled)::boolean IS NULL OR disabled = sqlc.narg(disabled)::boolean);

-- name: ListAdmins :many
-- Every admin, for the audit page's filter.
SELECT handle, username FROM users WHERE role = 'admin' ORDER BY lower(username), handle;
