-- Tenancy: tiers and limits, users and roles, keys with roles/scopes/users, the
-- tamper-evident audit log, and the admin operations as functions (each change and its
-- audit entry in one statement; errors carry SQLSTATEs the ingest node maps to HTTP:
-- LQ400 bad request, LQ404 not found, LQ409 conflict).

ALTER TABLE tenants ADD COLUMN tier text NOT NULL DEFAULT 'free',
                    ADD COLUMN limits jsonb NOT NULL DEFAULT '{}';
ALTER TABLE projects ADD COLUMN disabled boolean NOT NULL DEFAULT false;

CREATE TABLE users (
    tenant_id   text NOT NULL REFERENCES tenants(id),
    id          text NOT NULL CHECK (id ~ '^[a-z0-9][a-z0-9_.@-]{0,126}$'),
    email       text NOT NULL DEFAULT '',
    name        text NOT NULL DEFAULT '',
    role        text NOT NULL CHECK (role IN ('viewer', 'developer', 'admin', 'owner')),
    disabled    boolean NOT NULL DEFAULT false,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id)
);

-- platform: operators of the llmq installation (manage tenants); their key's tenant is
-- the operators' own.
ALTER TABLE api_keys
    ADD COLUMN user_id text,
    ADD COLUMN role text NOT NULL DEFAULT 'developer'
        CHECK (role IN ('viewer', 'developer', 'admin', 'owner', 'platform')),
    ADD COLUMN scopes text[] NOT NULL DEFAULT '{}';
CREATE INDEX api_keys_prefix ON api_keys (key_prefix);

-- Append-only, hash-chained per tenant ('' = the platform's own chain). Each entry's hash
-- covers the previous entry's hash and its own fields, so editing, deleting or
-- reordering an entry breaks the chain from there (llmqctl audit verify).
CREATE TABLE audit_log (
    tenant_id   text NOT NULL,
    seq         bigint NOT NULL,
    ts_us       bigint NOT NULL,
    actor       text NOT NULL,
    action      text NOT NULL,
    target      text NOT NULL DEFAULT '',
    details     jsonb NOT NULL DEFAULT '{}',
    prev_hash   text NOT NULL,
    hash        text NOT NULL,
    PRIMARY KEY (tenant_id, seq)
);

CREATE FUNCTION audit_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only' USING ERRCODE = 'LQ403';
END $$;
CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_refuse_change();

-- The hashed text: prev|tenant|seq|ts_us|actor|action|target|details (jsonb's text form).
CREATE FUNCTION audit_append(p_tenant text, p_actor text, p_action text, p_target text,
                             p_details jsonb) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    prev text;
    n bigint;
    now_us bigint := (extract(epoch FROM clock_timestamp()) * 1000000)::bigint;
    d jsonb := coalesce(p_details, '{}'::jsonb);
BEGIN
    PERFORM pg_advisory_xact_lock(hashtextextended('llmq.audit:' || p_tenant, 0));
    SELECT hash, seq INTO prev, n FROM audit_log WHERE tenant_id = p_tenant
        ORDER BY seq DESC LIMIT 1;
    IF prev IS NULL THEN
        prev := repeat('0', 64);
        n := 0;
    END IF;
    n := n + 1;
    INSERT INTO audit_log (tenant_id, seq, ts_us, actor, action, target, details, prev_hash, hash)
    VALUES (p_tenant, n, now_us, p_actor, p_action, coalesce(p_target, ''), d, prev,
            encode(sha256(convert_to(prev || '|' || p_tenant || '|' || n || '|' || now_us || '|' ||
                                     p_actor || '|' || p_action || '|' || coalesce(p_target, '') ||
                                     '|' || d::text, 'UTF8')), 'hex'));
    RETURN n;
END $$;

-- Only the owner of the tables (and functions running as it) may append to the log.
REVOKE EXECUTE ON FUNCTION audit_append(text, text, text, text, jsonb) FROM PUBLIC;

-- Running ingest nodes drop cached keys when these change (LISTEN llmq_auth).
CREATE FUNCTION auth_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('llmq_auth', TG_TABLE_NAME);
    RETURN NULL;
END $$;
CREATE TRIGGER api_keys_changed AFTER INSERT OR UPDATE OR DELETE ON api_keys
    FOR EACH STATEMENT EXECUTE FUNCTION auth_changed();
CREATE TRIGGER tenants_changed AFTER UPDATE ON tenants
    FOR EACH STATEMENT EXECUTE FUNCTION auth_changed();
CREATE TRIGGER projects_changed AFTER UPDATE ON projects
    FOR EACH STATEMENT EXECUTE FUNCTION auth_changed();
CREATE TRIGGER users_changed AFTER UPDATE ON users
    FOR EACH STATEMENT EXECUTE FUNCTION auth_changed();

-- ---------- admin operations (actor = who asked, for the audit log) ----------

CREATE FUNCTION admin_tenant_json(t tenants) RETURNS jsonb LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object('object', 'tenant', 'id', t.id, 'name', t.name, 'tier', t.tier,
                              'limits', t.limits, 'disabled', t.disabled,
                              'created_at', extract(epoch FROM t.created_at)::bigint)
$$;

CREATE FUNCTION admin_create_tenant(p_actor text, p_id text, p_name text, p_tier text)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE t tenants;
BEGIN
    IF p_id IS NULL OR p_id !~ '^[a-z0-9][a-z0-9_-]{0,62}$' THEN
        RAISE EXCEPTION 'id must be 1-63 of a-z 0-9 _ - (starting with a letter or digit)'
            USING ERRCODE = 'LQ400';
    END IF;
    INSERT INTO tenants (id, name, tier) VALUES (p_id, coalesce(p_name, p_id), coalesce(p_tier, 'free'))
        ON CONFLICT (id) DO NOTHING RETURNING * INTO t;
    IF t.id IS NULL THEN
        RAISE EXCEPTION 'tenant % exists', p_id USING ERRCODE = 'LQ409';
    END IF;
    PERFORM audit_append('', p_actor, 'tenant.create', p_id,
                         jsonb_build_object('name', t.name, 'tier', t.tier));
    PERFORM audit_append(p_id, p_actor, 'tenant.create', p_id,
                         jsonb_build_object('name', t.name, 'tier', t.tier));
    RETURN admin_tenant_json(t);
END $$;

-- p_changes: {"name", "tier", "limits", "disabled"}, each optional.
CREATE FUNCTION admin_update_tenant(p_actor text, p_id text, p_changes jsonb)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE t tenants;
BEGIN
    IF p_changes ? 'limits' AND jsonb_typeof(p_changes->'limits') <> 'object' THEN
        RAISE EXCEPTION 'limits must be an object' USING ERRCODE = 'LQ400';
    END IF;
    IF p_changes ? 'disabled' AND jsonb_typeof(p_changes->'disabled') <> 'boolean' THEN
        RAISE EXCEPTION 'disabled must be a boolean' USING ERRCODE = 'LQ400';
    END IF;
    UPDATE tenants SET name = coalesce(p_changes->>'name', name),
                       tier = coalesce(p_changes->>'tier', tier),
                       limits = coalesce(p_changes->'limits', limits),
                       disabled = coalesce((p_changes->>'disabled')::boolean, disabled)
        WHERE id = p_id RETURNING * INTO t;
    IF t.id IS NULL THEN
        RAISE EXCEPTION 'no tenant %', p_id USING ERRCODE = 'LQ404';
    END IF;
    PERFORM audit_append('', p_actor, 'tenant.update', p_id, p_changes);
    PERFORM audit_append(p_id, p_actor, 'tenant.update', p_id, p_changes);
    RETURN admin_tenant_json(t);
END $$;

CREATE FUNCTION admin_create_project(p_actor text, p_tenant text, p_id text, p_name text)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE p projects;
BEGIN
    IF p_id IS NULL OR p_id !~ '^[a-z0-9][a-z0-9_-]{0,62}$' THEN
        RAISE EXCEPTION 'id must be 1-63 of a-z 0-9 _ -' USING ERRCODE = 'LQ400';
    END IF;
    INSERT INTO projects (tenant_id, id, name) VALUES (p_tenant, p_id, coalesce(p_name, p_id))
        ON CONFLICT DO NOTHING RETURNING * INTO p;
    IF p.id IS NULL THEN
        RAISE EXCEPTION 'project % exists', p_id USING ERRCODE = 'LQ409';
    END IF;
    PERFORM audit_append(p_tenant, p_actor, 'project.create', p_id, jsonb_build_object('name', p.name));
    RETURN jsonb_build_object('object', 'project', 'id', p.id, 'name', p.name, 'disabled', p.disabled);
END $$;

CREATE FUNCTION admin_update_project(p_actor text, p_tenant text, p_id text, p_changes jsonb)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE p projects;
BEGIN
    IF p_changes ? 'disabled' AND jsonb_typeof(p_changes->'disabled') <> 'boolean' THEN
        RAISE EXCEPTION 'disabled must be a boolean' USING ERRCODE = 'LQ400';
    END IF;
    UPDATE projects SET name = coalesce(p_changes->>'name', name),
                        disabled = coalesce((p_changes->>'disabled')::boolean, disabled)
        WHERE tenant_id = p_tenant AND id = p_id RETURNING * INTO p;
    IF p.id IS NULL THEN
        RAISE EXCEPTION 'no project %', p_id USING ERRCODE = 'LQ404';
    END IF;
    PERFORM audit_append(p_tenant, p_actor, 'project.update', p_id, p_changes);
    RETURN jsonb_build_object('object', 'project', 'id', p.id, 'name', p.name, 'disabled', p.disabled);
END $$;

CREATE FUNCTION admin_create_user(p_actor text, p_tenant text, p_id text, p_email text,
                                  p_name text, p_role text)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE u users;
BEGIN
    IF p_id IS NULL OR p_id !~ '^[a-z0-9][a-z0-9_.@-]{0,126}$' THEN
        RAISE EXCEPTION 'id must be 1-127 of a-z 0-9 _ . @ -' USING ERRCODE = 'LQ400';
    END IF;
    IF p_role NOT IN ('viewer', 'developer', 'admin', 'owner') THEN
        RAISE EXCEPTION 'role must be viewer, developer, admin or owner' USING ERRCODE = 'LQ400';
    END IF;
    INSERT INTO users (tenant_id, id, email, name, role)
        VALUES (p_tenant, p_id, coalesce(p_email, ''), coalesce(p_name, ''), p_role)
        ON CONFLICT DO NOTHING RETURNING * INTO u;
    IF u.id IS NULL THEN
        RAISE EXCEPTION 'user % exists', p_id USING ERRCODE = 'LQ409';
    END IF;
    PERFORM audit_append(p_tenant, p_actor, 'user.create', p_id,
                         jsonb_build_object('role', u.role, 'email', u.email));
    RETURN jsonb_build_object('object', 'user', 'id', u.id, 'email', u.email, 'name', u.name,
                              'role', u.role, 'disabled', u.disabled);
END $$;

-- Admins manage developers and viewers; owners (and platform operators) also manage
-- admins and owners.
CREATE FUNCTION admin_may_manage(p_caller_role text, p_role text) RETURNS boolean
LANGUAGE sql IMMUTABLE AS $$
    SELECT p_caller_role = 'platform'
        OR (p_caller_role = 'owner' AND p_role <> 'platform')
        OR (p_caller_role = 'admin' AND p_role IN ('viewer', 'developer'))
$$;

CREATE FUNCTION admin_update_user(p_actor text, p_caller_role text, p_tenant text, p_id text,
                                  p_changes jsonb)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE u users;
BEGIN
    SELECT * INTO u FROM users WHERE tenant_id = p_tenant AND id = p_id FOR UPDATE;
    IF u.id IS NULL THEN
        RAISE EXCEPTION 'no user %', p_id USING ERRCODE = 'LQ404';
    END IF;
    IF NOT admin_may_manage(p_caller_role, u.role)
       OR (p_changes ? 'role' AND NOT admin_may_manage(p_caller_role, p_changes->>'role')) THEN
        RAISE EXCEPTION 'only an owner manages admins and owners' USING ERRCODE = 'LQ403';
    END IF;
    IF p_changes ? 'role' AND (p_changes->>'role') NOT IN ('viewer', 'developer', 'admin', 'owner') THEN
        RAISE EXCEPTION 'role must be viewer, developer, admin or owner' USING ERRCODE = 'LQ400';
    END IF;
    IF p_changes ? 'disabled' AND jsonb_typeof(p_changes->'disabled') <> 'boolean' THEN
        RAISE EXCEPTION 'disabled must be a boolean' USING ERRCODE = 'LQ400';
    END IF;
    UPDATE users SET role = coalesce(p_changes->>'role', role),
                     disabled = coalesce((p_changes->>'disabled')::boolean, disabled),
                     name = coalesce(p_changes->>'name', name),
                     email = coalesce(p_changes->>'email', email)
        WHERE tenant_id = p_tenant AND id = p_id RETURNING * INTO u;
    IF u.id IS NULL THEN
        RAISE EXCEPTION 'no user %', p_id USING ERRCODE = 'LQ404';
    END IF;
    PERFORM audit_append(p_tenant, p_actor, 'user.update', p_id, p_changes);
    RETURN jsonb_build_object('object', 'user', 'id', u.id, 'email', u.email, 'name', u.name,
                              'role', u.role, 'disabled', u.disabled);
END $$;

-- The key itself never reaches the database: its SHA-256 and a 12-character prefix do.
CREATE FUNCTION admin_create_key(p_actor text, p_tenant text, p_id uuid, p_project text,
                                 p_user text, p_name text, p_role text, p_scopes text[],
                                 p_expires_at timestamptz, p_prefix text, p_sha256 text)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE k api_keys;
BEGIN
    IF p_role NOT IN ('viewer', 'developer', 'admin', 'owner', 'platform') THEN
        RAISE EXCEPTION 'role must be viewer, developer, admin or owner' USING ERRCODE = 'LQ400';
    END IF;
    IF p_project IS NOT NULL AND NOT EXISTS
        (SELECT 1 FROM projects WHERE tenant_id = p_tenant AND id = p_project) THEN
        RAISE EXCEPTION 'no project %', p_project USING ERRCODE = 'LQ400';
    END IF;
    IF p_user IS NOT NULL AND NOT EXISTS
        (SELECT 1 FROM users WHERE tenant_id = p_tenant AND id = p_user) THEN
        RAISE EXCEPTION 'no user %', p_user USING ERRCODE = 'LQ400';
    END IF;
    IF NOT coalesce(p_scopes, '{}') <@ ARRAY['chat', 'jobs', 'admin'] THEN
        RAISE EXCEPTION 'scopes are chosen among chat, jobs, admin' USING ERRCODE = 'LQ400';
    END IF;
    IF p_expires_at IS NOT NULL AND p_expires_at <= now() THEN
        RAISE EXCEPTION 'expires_at is in the past' USING ERRCODE = 'LQ400';
    END IF;
    INSERT INTO api_keys (id, tenant_id, project_id, user_id, name, role, scopes, expires_at,
                          key_prefix, key_sha256)
        VALUES (p_id, p_tenant, p_project, p_user, coalesce(p_name, ''), p_role,
                coalesce(p_scopes, '{}'), p_expires_at, p_prefix, p_sha256)
        RETURNING * INTO k;
    PERFORM audit_append(p_tenant, p_actor, 'key.create', k.id::text,
                         jsonb_build_object('prefix', k.key_prefix, 'role', k.role,
                                            'project', k.project_id, 'user', k.user_id));
    RETURN jsonb_build_object('object', 'api_key', 'id', k.id, 'prefix', k.key_prefix,
                              'name', k.name, 'role', k.role, 'project', k.project_id,
                              'user', k.user_id, 'scopes', to_jsonb(k.scopes),
                              'expires_at', extract(epoch FROM k.expires_at)::bigint);
END $$;

CREATE FUNCTION admin_revoke_key(p_actor text, p_caller_role text, p_tenant text, p_id uuid)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE k api_keys;
BEGIN
    SELECT * INTO k FROM api_keys WHERE tenant_id = p_tenant AND id = p_id AND revoked_at IS NULL;
    IF k.id IS NOT NULL AND NOT admin_may_manage(p_caller_role, k.role) THEN
        RAISE EXCEPTION 'only an owner revokes admin and owner keys' USING ERRCODE = 'LQ403';
    END IF;
    k := NULL;
    UPDATE api_keys SET revoked_at = now()
        WHERE tenant_id = p_tenant AND id = p_id AND revoked_at IS NULL RETURNING * INTO k;
    IF k.id IS NULL THEN
        RAISE EXCEPTION 'no active key %', p_id USING ERRCODE = 'LQ404';
    END IF;
    PERFORM audit_append(p_tenant, p_actor, 'key.revoke', k.id::text,
                         jsonb_build_object('prefix', k.key_prefix, 'role', k.role));
    RETURN jsonb_build_object('object', 'api_key', 'id', k.id, 'revoked', true);
END $$;
