-- +goose Up

-- When the user last signed in (set by the login path), for the admin's user list.
ALTER TABLE users ADD COLUMN last_login_at timestamptz;

-- The admin's user list is ordered by username (case-insensitive), then handle, and paged.
CREATE INDEX users_username_lower_idx ON users (lower(username), handle);

-- admin_audit records every admin action: who did what to whom, when, and the state before
-- and after as JSON. actor_name and target_name keep what the rows were called at the time,
-- so an entry still reads right after a rename or a deletion (the ids then become NULL).
CREATE TABLE admin_audit (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    actor_id       bigint REFERENCES users (id) ON DELETE SET NULL,
    actor_name     text        NOT NULL,
    action         text        NOT NULL CHECK (action ~ '^[a-z_.]{1,64}$'),
    target_kind    text        NOT NULL CHECK (target_kind IN ('user', 'universe')),
    target_user_id bigint REFERENCES users (id) ON DELETE SET NULL,
    target_name    text        NOT NULL,
    before         jsonb,
    after          jsonb,
    created_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX admin_audit_created_idx ON admin_audit (created_at DESC, id DESC);
CREATE INDEX admin_audit_target_idx ON admin_audit (target_user_id, created_at DESC);
CREATE INDEX admin_audit_actor_idx ON admin_audit (actor_id, created_at DESC);

-- The audit is admin-only data: no user may read it, not even the user it is about (it
-- names the admins and their reasons). Only system transactions (db.WithSystem /
-- db.ReadSystem, which the admin handlers use after checking the admin role) see or write
-- rows, so a query run for one user sees none, whatever its WHERE clause says. The app role
-- may insert and read but not update or delete: the trail is append-only.
ALTER TABLE admin_audit ENABLE ROW LEVEL SECURITY;
ALTER TABLE admin_audit FORCE ROW LEVEL SECURITY;
CREATE POLICY admin_audit_system_only ON admin_audit
    USING (app_is_system())
    WITH CHECK (app_is_system());
GRANT SELECT, INSERT ON admin_audit TO tickstock_app;

-- +goose Down
DROP TABLE admin_audit;
DROP INDEX users_username_lower_idx;
ALTER TABLE users DROP COLUMN last_login_at;
