-- Embed links and API tokens (package credentials). Lookups by hash run as the system
-- (the user is not known yet) and see only live credentials of enabled users; everything
-- else runs as the owner under row-level security. An embed's last_viewed_at is read as
-- last_used_at, so both kinds scan into rows of the same shape.

-- name: CreateEmbed :one
INSERT INTO embed_tokens (handle, user_id, name, token_hash)
VALUES (@handle, @user_id, @name, @token_hash)
RETURNING handle, name, created_at, last_viewed_at AS last_used_at;

-- name: CountActiveEmbeds :one
SELECT count(*) FROM embed_tokens WHERE user_id = @user_id AND revoked_at IS NULL;

-- name: ListActiveEmbeds :many
SELECT handle, name, created_at, last_viewed_at AS last_used_at
FROM embed_tokens
WHERE user_id = @user_id AND revoked_at IS NULL
ORDER BY created_at DESC, id DESC;

-- name: RevokeEmbed :one
UPDATE embed_tokens SET revoked_at = now()
WHERE handle = @handle AND user_id = @user_id AND revoked_at IS NULL
RETURNING handle, name, created_at, last_viewed_at AS last_used_at;

-- name: FindEmbedByHash :one
SELECT e.handle, e.name, e.user_id, e.created_at, e.last_viewed_at AS last_used_at, u.handle AS owner_handle
FROM embed_tokens e
JOIN users u ON u.id = e.user_id
WHERE e.token_hash = @token_hash AND e.revoked_at IS NULL AND NOT u.disabled;

-- name: EmbedIsLive :one
SELECT EXISTS (
    SELECT 1 FROM embed_tokens e JOIN users u ON u.id = e.user_id
    WHERE e.handle = @handle AND e.revoked_at IS NULL AND NOT u.disabled
);

-- name: TouchEmbed :exec
UPDATE embed_tokens SET last_viewed_at = @at
WHERE handle = @handle AND (last_viewed_at IS NULL OR last_viewed_at < @stale_before);

-- name: CreateAPIToken :one
INSERT INTO api_tokens (handle, user_id, name, token_hash)
VALUES (@handle, @user_id, @name, @token_hash)
RETURNING handle, name, created_at, last_used_at;

-- name: CountActiveAPITokens :one
SELECT count(*) FROM api_tokens WHERE user_id = @user_id AND revoked_at IS NULL;

-- name: ListActiveAPITokens :many
SELECT handle, name, created_at, last_used_at
FROM api_tokens
WHERE user_id = @user_id AND revoked_at IS NULL
ORDER BY created_at DESC, id DESC;

-- name: RevokeAPIToken :one
UPDATE api_tokens SET revoked_at = now()
WHERE handle = @handle AND user_id = @user_id AND revoked_at IS NULL
RETURNING handle, name, created_at, last_used_at;

-- name: FindAPITokenByHash :one
SELECT t.handle, t.name, t.user_id, t.created_at, t.last_used_at, u.handle AS owner_handle
FROM api_tokens t
JOIN users u ON u.id = t.user_id
WHERE t.token_hash = @token_hash AND t.revoked_at IS NULL AND NOT u.disabled;

-- name: APITokenIsLive :one
SELECT EXISTS (
    SELECT 1 FROM api_tokens t JOIN users u ON u.id = t.user_id
    WHERE t.handle = @handle AND t.revoked_at IS NULL AND NOT u.disabled
);

-- name: TouchAPIToken :exec
UPDATE api_tokens SET last_used_at = @at
WHERE handle = @handle AND (last_used_at IS NULL OR last_used_at < @stale_before);
