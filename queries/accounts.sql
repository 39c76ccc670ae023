-- name: SetUserPassword :exec
UPDATE users SET password_hash = @password_hash, updated_at = now()
WHERE id = @id;

-- name: DeleteUser :execrows
DELETE FROM users WHERE id = @id;

-- name: CreatePasswordReset :exec
INSERT INTO password_resets (user_id, token_hash, created_at, expires_at)
VALUES (@user_id, @token_hash, @created_at, @expires_at);

-- name: GetPasswordReset :one
SELECT user_id, expires_at, used_at FROM password_resets WHERE token_hash = @token_hash;

-- UsePasswordReset spends a link: only an unused, unexpired one, and only once however
-- many requests race for it.
-- name: UsePasswordReset :one
UPDATE password_resets SET used_at = @now
WHERE token_hash = @token_hash AND used_at IS NULL AND expires_at > @now
RETURNING user_id;

-- RetireUserResets spends every link of a user still open, once the password has changed.
-- name: RetireUserResets :exec
UPDATE password_resets SET used_at = @now
WHERE user_id = @user_id AND used_at IS NULL;

-- name: PrunePasswordResets :exec
DELETE FROM password_resets WHERE expires_at < @before;
