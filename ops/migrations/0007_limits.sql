-- Limits as data (docs/limits.md): tiers with a weight and default limits per scope,
-- overrides on tenants, projects, users and keys, installation-wide limits, one
-- validation used by every writer and one resolution that the key lookup returns.
-- Refusals naming a field: LQP00 (unknown field) and LQP01 (bad value), with messages
-- "field: why" - the admin API answers 400 with that field as `param`.

CREATE TABLE tiers (
    name        text PRIMARY KEY CHECK (length(name) BETWEEN 1 AND 63),
    weight      int NOT NULL DEFAULT 1 CHECK (weight BETWEEN 1 AND 1000),
    limits      jsonb NOT NULL DEFAULT '{}',
    description text NOT NULL DEFAULT '',
    updated_at  timestamptz NOT NULL DEFAULT now()
);

INSERT INTO tiers (name, weight, description, limits) VALUES
    ('free', 1, 'Trying llmq out: small, per-user limits.',
     '{"tenant":  {"rpm": 60, "rpd": 1000, "tpm": 100000, "tpd": 1000000,
                   "usd_per_day": 5, "usd_per_month": 50, "concurrent": 10},
       "project": {},
       "user":    {"rpm": 20, "rpd": 100, "concurrent": 3},
       "key":     {}}'),
    ('pro', 4, 'Production use.',
     '{"tenant":  {"rpm": 3000, "rpd": 500000, "tpm": 2000000, "tpd": 100000000,
                   "usd_per_day": 500, "usd_per_month": 10000, "concurrent": 200},
       "project": {},
       "user":    {"rpm": 300, "rpd": 50000, "concurrent": 20},
       "key":     {}}'),
    ('enterprise', 10, 'Large installations; limits are usually set per tenant.',
     '{"tenant":  {"rpm": 30000, "tpm": 20000000, "concurrent": 2000},
       "project": {},
       "user":    {"rpm": 3000, "concurrent": 200},
       "key":     {}}');

-- Tenants created before tiers existed may name others: they become tiers without limits.
INSERT INTO tiers (name) SELECT DISTINCT tier FROM tenants ON CONFLICT DO NOTHING;
ALTER TABLE tenants ADD CONSTRAINT tenants_tier_fkey FOREIGN KEY (tier) REFERENCES tiers(name);

ALTER TABLE projects ADD COLUMN limits jsonb NOT NULL DEFAULT '{}';
ALTER TABLE users ADD COLUMN limits jsonb NOT NULL DEFAULT '{}';
ALTER TABLE api_keys ADD COLUMN limits jsonb NOT NULL DEFAULT '{}';

-- The platform's own limits for the whole installation (one row), e.g. {"concurrent": 500}.
CREATE TABLE installation_limits (
    id          boolean PRIMARY KEY DEFAULT true CHECK (id),
    limits      jsonb NOT NULL DEFAULT '{}',
    updated_at  timestamptz NOT NULL DEFAULT now()
);
INSERT INTO installation_limits DEFAULT VALUES;

-- Limit changes reach the ingest nodes like key changes do (their caches are flushed).
CREATE TRIGGER tiers_changed AFTER INSERT OR UPDATE OR DELETE ON tiers
    FOR EACH STATEMENT EXECUTE FUNCTION auth_changed();
CREATE TRIGGER installation_limits_changed AFTER INSERT OR UPDATE OR DELETE ON installation_limits
    FOR EACH STATEMENT EXECUTE FUNCTION auth_changed();

-- ---------- validation ----------

-- The dimensions: counts are integers, money is USD with cents. The maxima keep every
-- value within a 64-bit integer of micro-USD (common/limits.c reads them).
CREATE FUNCTION limits_dimension_kind(p_name text) RETURNS text LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN p_name IN ('rpm', 'rph', 'rpd', 'tpm', 'tpd', 'concurrent') THEN 'count'
                WHEN p_name IN ('usd_per_day', 'usd_per_month') THEN 'usd' END
$$;

-- A limits object: {dimension: number or null}. Raises naming p_param || '.' || dimension.
CREATE FUNCTION limits_check(p_limits jsonb, p_param text) RETURNS void
LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
    k text;
    v jsonb;
    n numeric;
    kind text;
BEGIN
    IF p_limits IS NULL OR jsonb_typeof(p_limits) <> 'object' THEN
        RAISE EXCEPTION '%: must be an object of limits', p_param USING ERRCODE = 'LQP01';
    END IF;
    FOR k, v IN SELECT * FROM jsonb_each(p_limits) LOOP
        kind := limits_dimension_kind(k);
        IF kind IS NULL THEN
            RAISE EXCEPTION '%.%: unknown limit (known: rpm, rph, rpd, tpm, tpd, usd_per_day, '
                            'usd_per_month, concurrent)', p_param, left(k, 40)
                USING ERRCODE = 'LQP00';
        END IF;
        CONTINUE WHEN jsonb_typeof(v) = 'null';
        IF jsonb_typeof(v) <> 'number' THEN
            RAISE EXCEPTION '%.%: must be a number, or null for no limit', p_param, k
                USING ERRCODE = 'LQP01';
        END IF;
        n := v::text::numeric;
        IF kind = 'count' AND (n < 0 OR n <> trunc(n) OR n > 1000000000000000) THEN
            RAISE EXCEPTION '%.%: must be a whole number from 0 to 10^15', p_param, k
                USING ERRCODE = 'LQP01';
        END IF;
        IF kind = 'usd' AND (n < 0 OR n * 100 <> trunc(n * 100) OR n > 1000000000) THEN
            RAISE EXCEPTION '%.%: must be an amount of USD from 0 to 10^9, in cents', p_param, k
                USING ERRCODE = 'LQP01';
        END IF;
    END LOOP;
END $$;

-- A tier's limits: {"tenant": {...}, "project": {...}, "user": {...}, "key": {...}}.
CREATE FUNCTION tier_limits_check(p_limits jsonb) RETURNS void LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
    k text;
    v jsonb;
BEGIN
    IF p_limits IS NULL OR jsonb_typeof(p_limits) <> 'object' THEN
        RAISE EXCEPTION 'limits: must be an object of scopes' USING ERRCODE = 'LQP01';
    END IF;
    FOR k, v IN SELECT * FROM jsonb_each(p_limits) LOOP
        IF k NOT IN ('tenant', 'project', 'user', 'key') THEN
            RAISE EXCEPTION 'limits.%: unknown scope (known: tenant, project, user, key)', left(k, 40)
                USING ERRCODE = 'LQP00';
        END IF;
        PERFORM limits_check(v, 'limits.' || k);
    END LOOP;
END $$;

-- ---------- resolution ----------

-- One scope: the tier's defaults under the entity's overrides, without the nulls (no limit).
CREATE FUNCTION limits_merge(p_defaults jsonb, p_overrides jsonb) RETURNS jsonb
LANGUAGE sql IMMUTABLE AS $$
    SELECT jsonb_strip_nulls(coalesce(p_defaults, '{}') || coalesce(p_overrides, '{}'))
$$;

-- The limits that apply to a request of a key: NULL overrides for the project or the user
-- mean the key has none (that scope is then empty: nothing to count against).
CREATE FUNCTION limits_resolved(p_tier text, p_tenant jsonb, p_project jsonb, p_user jsonb,
                                p_key jsonb) RETURNS jsonb LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object(
        'tier', t.name, 'weight', t.weight,
        'tenant', limits_merge(t.limits->'tenant', p_tenant),
        'project', CASE WHEN p_project IS NULL THEN '{}'::jsonb
                        ELSE limits_merge(t.limits->'project', p_project) END,
        'user', CASE WHEN p_user IS NULL THEN '{}'::jsonb
                     ELSE limits_merge(t.limits->'user', p_user) END,
        'key', limits_merge(t.limits->'key', p_key),
        'installation', (SELECT jsonb_strip_nulls(limits) FROM installation_limits))
    FROM tiers t WHERE t.name = p_tier
$$;

-- The same for a key by its id (operators' checks; the key lookup joins the rows itself).
CREATE FUNCTION limits_of_key(p_key uuid) RETURNS jsonb LANGUAGE sql STABLE AS $$
    SELECT limits_resolved(t.tier, t.limits, p.limits, u.limits, k.limits)
    FROM api_keys k JOIN tenants t ON t.id = k.tenant_id
    LEFT JOIN projects p ON p.tenant_id = k.tenant_id AND p.id = k.project_id
    LEFT JOIN users u ON u.tenant_id = k.tenant_id AND u.id = k.user_id
    WHERE k.id = p_key
$$;

-- ---------- admin operations ----------

CREATE FUNCTION tier_json(t tiers) RETURNS jsonb LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object('object', 'tier', 'name', t.name, 'weight', t.weight,
                              'limits', t.limits, 'description', t.description,
                              'updated_at', extract(epoch FROM t.updated_at)::bigint)
$$;

CREATE FUNCTION admin_list_tiers() RETURNS jsonb LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object('object', 'list', 'data',
                              coalesce(jsonb_agg(tier_json(t) ORDER BY t.weight, t.name), '[]'))
    FROM tiers t
$$;

-- PUT: creates the tier or replaces it whole (absent fields take their defaults).
CREATE FUNCTION admin_put_tier(p_actor text, p_name text, p_body jsonb)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    t tiers;
    w jsonb := coalesce(p_body->'weight', '1');
    d jsonb := coalesce(p_body->'description', '""');
BEGIN
    IF p_name IS NULL OR p_name !~ '^[a-z0-9][a-z0-9_-]{0,62}$' THEN
        RAISE EXCEPTION 'tier: a name is 1-63 of a-z 0-9 _ -' USING ERRCODE = 'LQP01';
    END IF;
    IF jsonb_typeof(w) <> 'number' OR w::text::numeric <> trunc(w::text::numeric)
       OR w::text::numeric NOT BETWEEN 1 AND 1000 THEN
        RAISE EXCEPTION 'weight: must be a whole number from 1 to 1000' USING ERRCODE = 'LQP01';
    END IF;
    IF jsonb_typeof(d) <> 'string' OR length(d->>0) > 1000 THEN
        RAISE EXCEPTION 'description: must be a text of at most 1000 characters'
            USING ERRCODE = 'LQP01';
    END IF;
    PERFORM tier_limits_check(coalesce(p_body->'limits', '{}'));
    INSERT INTO tiers (name, weight, limits, description)
        VALUES (p_name, w::text::numeric::int, coalesce(p_body->'limits', '{}'), d->>0)
        ON CONFLICT (name) DO UPDATE SET weight = excluded.weight, limits = excluded.limits,
                                         description = excluded.description, updated_at = now()
        RETURNING * INTO t;
    PERFORM audit_append('', p_actor, 'tier.set', p_name,
                         jsonb_build_object('weight', t.weight, 'limits', t.limits,
                                            'description', t.description));
    RETURN tier_json(t);
END $$;

CREATE FUNCTION installation_limits_json() RETURNS jsonb LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object('object', 'installation_limits', 'limits', limits,
                              'updated_at', extract(epoch FROM updated_at)::bigint)
    FROM installation_limits
$$;

-- p_body: {"limits": {...}} - the installation's limits, replaced whole.
CREATE FUNCTION admin_set_installation_limits(p_actor text, p_body jsonb)
RETURNS jsonb LANGUAGE plpgsql AS $$
BEGIN
    IF NOT p_body ? 'limits' THEN
        RAISE EXCEPTION 'limits: required' USING ERRCODE = 'LQP01';
    END IF;
    PERFORM limits_check(p_body->'limits', 'limits');
    UPDATE installation_limits SET limits = p_body->'limits', updated_at = now();
    PERFORM audit_append('', p_actor, 'installation.limits', '', p_body->'limits');
    RETURN installation_limits_json();
END $$;

-- A tier a tenant names must exist (400 naming the field).
CREATE FUNCTION tier_check(p_tier text) RETURNS void LANGUAGE plpgsql STABLE AS $$
BEGIN
    IF p_tier IS NOT NULL AND NOT EXISTS (SELECT 1 FROM tiers WHERE name = p_tier) THEN
        RAISE EXCEPTION 'tier: no tier %', left(p_tier, 63) USING ERRCODE = 'LQP01';
    END IF;
END $$;

CREATE OR REPLACE FUNCTION admin_create_tenant(p_actor text, p_id text, p_name text, p_tier text)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE t tenants;
BEGIN
    IF p_id IS NULL OR p_id !~ '^[a-z0-9][a-z0-9_-]{0,62}$' THEN
        RAISE EXCEPTION 'id must be 1-63 of a-z 0-9 _ - (starting with a letter or digit)'
            USING ERRCODE = 'LQ400';
    END IF;
    PERFORM tier_check(p_tier);
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

-- The "limits" of a PATCH replace the entity's overrides whole ({} = the tier's defaults).
CREATE FUNCTION limits_change_check(p_changes jsonb) RETURNS void LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    IF p_changes ? 'limits' THEN
        PERFORM limits_check(p_changes->'limits', 'limits');
    END IF;
END $$;

CREATE OR REPLACE FUNCTION admin_update_tenant(p_actor text, p_id text, p_changes jsonb)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE t tenants;
BEGIN
    PERFORM limits_change_check(p_changes);
    IF p_changes ? 'tier' AND jsonb_typeof(p_changes->'tier') <> 'string' THEN
        RAISE EXCEPTION 'tier: must be a string' USING ERRCODE = 'LQP01';
    END IF;
    PERFORM tier_check(p_changes->>'tier');
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

CREATE OR REPLACE FUNCTION admin_update_project(p_actor text, p_tenant text, p_id text,
                                                p_changes jsonb)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE p projects;
BEGIN
    IF p_changes ? 'disabled' AND jsonb_typeof(p_changes->'disabled') <> 'boolean' THEN
        RAISE EXCEPTION 'disabled must be a boolean' USING ERRCODE = 'LQ400';
    END IF;
    PERFORM limits_change_check(p_changes);
    UPDATE projects SET name = coalesce(p_changes->>'name', name),
                        disabled = coalesce((p_changes->>'disabled')::boolean, disabled),
                        limits = coalesce(p_changes->'limits', limits)
        WHERE tenant_id = p_tenant AND id = p_id RETURNING * INTO p;
    IF p.id IS NULL THEN
        RAISE EXCEPTION 'no project %', p_id USING ERRCODE = 'LQ404';
    END IF;
    PERFORM audit_append(p_tenant, p_actor, 'project.update', p_id, p_changes);
    RETURN jsonb_build_object('object', 'project', 'id', p.id, 'name', p.name,
                              'disabled', p.disabled, 'limits', p.limits);
END $$;

CREATE OR REPLACE FUNCTION admin_update_user(p_actor text, p_caller_role text, p_tenant text,
                                             p_id text, p_changes jsonb)
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
    PERFORM limits_change_check(p_changes);
    UPDATE users SET role = coalesce(p_changes->>'role', role),
                     disabled = coalesce((p_changes->>'disabled')::boolean, disabled),
                     name = coalesce(p_changes->>'name', name),
                     email = coalesce(p_changes->>'email', email),
                     limits = coalesce(p_changes->'limits', limits)
        WHERE tenant_id = p_tenant AND id = p_id RETURNING * INTO u;
    IF u.id IS NULL THEN
        RAISE EXCEPTION 'no user %', p_id USING ERRCODE = 'LQ404';
    END IF;
    PERFORM audit_append(p_tenant, p_actor, 'user.update', p_id, p_changes);
    RETURN jsonb_build_object('object', 'user', 'id', u.id, 'email', u.email, 'name', u.name,
                              'role', u.role, 'disabled', u.disabled, 'limits', u.limits);
END $$;

-- p_changes: {"name", "limits"}, each optional. Admins change developer and viewer keys;
-- owners any of the tenant's (as for revoking).
CREATE FUNCTION admin_update_key(p_actor text, p_caller_role text, p_tenant text, p_id uuid,
                                 p_changes jsonb)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE k api_keys;
BEGIN
    SELECT * INTO k FROM api_keys WHERE tenant_id = p_tenant AND id = p_id AND revoked_at IS NULL
        FOR UPDATE;
    IF k.id IS NULL THEN
        RAISE EXCEPTION 'no active key %', p_id USING ERRCODE = 'LQ404';
    END IF;
    IF NOT admin_may_manage(p_caller_role, k.role) THEN
        RAISE EXCEPTION 'only an owner changes admin and owner keys' USING ERRCODE = 'LQ403';
    END IF;
    PERFORM limits_change_check(p_changes);
    IF p_changes ? 'name' AND jsonb_typeof(p_changes->'name') <> 'string' THEN
        RAISE EXCEPTION 'name: must be a string' USING ERRCODE = 'LQP01';
    END IF;
    UPDATE api_keys SET name = coalesce(p_changes->>'name', name),
                        limits = coalesce(p_changes->'limits', limits)
        WHERE id = k.id RETURNING * INTO k;
    PERFORM audit_append(p_tenant, p_actor, 'key.update', k.id::text, p_changes);
    RETURN jsonb_build_object('object', 'api_key', 'id', k.id, 'prefix', k.key_prefix,
                              'name', k.name, 'role', k.role, 'project', k.project_id,
                              'user', k.user_id, 'limits', k.limits);
END $$;
