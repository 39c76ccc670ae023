-- The admin audit (db/migrations/00003_admin.sql). Its rows are visible only to system
-- transactions (db.WithSystem, db.ReadSystem), which only the admin handlers open for it.

-- name: InsertAdminAudit :exec
INSERT INTO admin_audit (actor_id, actor_name, action, target_kind, target_user_id, target_name, before, after)
VALUES (@actor_id, @actor_name, @action, @target_kind, sqlc.narg(target_user_id), @target_name, @before, @after);

-- name: ListAdminAudit :many
-- Newest first, optionally only one admin's actions (by handle), only those about one user
-- (by handle) or one universe (by name), or one action.
SELECT a.action, a.actor_name, actor.handle AS actor_handle, a.target_kind, a.target_name,
       target.handle AS target_handle, a.before, a.after, a.created_at
FROM admin_audit a
LEFT JOIN users actor ON actor.id = a.actor_id
LEFT JOIN users target ON target.id = a.target_user_id
WHERE (sqlc.narg(actor_handle)::text IS NULL OR actor.handle = sqlc.narg(actor_handle)::text)
  AND (sqlc.narg(target_handle)::text IS NULL OR target.handle = sqlc.narg(target_handle)::text)
  AND (sqlc.narg(universe)::text IS NULL OR (a.target_kind = 'universe' AND a.target_name = sqlc.narg(universe)::text))
  AND (sqlc.narg(action)::text IS NULL OR a.action = sqlc.narg(action)::text)
ORDER BY a.created_at DESC, a.id DESC
LIMIT @max_rows OFFSET @skip;

-- name: CountAdminAudit :one
SELECT count(*)
FROM admin_audit a
LEFT JOIN users actor ON actor.id = a.actor_id
LEFT JOIN users target ON target.id = a.target_user_id
WHERE (sqlc.narg(actor_handle)::text IS NULL OR actor.handle = sqlc.narg(actor_handle)::text)
  AND (sqlc.narg(target_handle)::text IS NULL OR target.handle = sqlc.narg(target_handle)::text)
  AND (sqlc.narg(universe)::text IS NULL OR (a.target_kind = 'universe' AND a.target_name = sqlc.narg(universe)::text))
  AND (sqlc.narg(action)::text IS NULL OR a.action = sqlc.narg(action)::text);
