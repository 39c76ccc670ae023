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
