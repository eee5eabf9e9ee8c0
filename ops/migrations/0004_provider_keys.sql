-- Tenants' own provider keys ("bring your own key"), encrypted by the application with
-- AES-256-GCM under a master key the database never sees (common/secretbox.c). The
-- associated data is "tenant|endpoint|id", so a value copied to another row does not open.

CREATE TABLE provider_keys (
    id            uuid PRIMARY KEY,
    tenant_id     text NOT NULL REFERENCES tenants(id),
    endpoint      text NOT NULL CHECK (endpoint ~ '^[a-z0-9][a-z0-9_-]{0,62}$'),
    master_key_id text NOT NULL,
    nonce         bytea NOT NULL,
    ciphertext    bytea NOT NULL,
    tag           bytea NOT NULL,
    masked        text NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    revoked_at    timestamptz
);
CREATE UNIQUE INDEX provider_keys_active ON provider_keys (tenant_id, endpoint) WHERE revoked_at IS NULL;

-- Workers reload their tenants' keys when these change (LISTEN llmq_provider_keys).
CREATE FUNCTION provider_keys_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('llmq_provider_keys', '');
    RETURN NULL;
END $$;
CREATE TRIGGER provider_keys_changed AFTER INSERT OR UPDATE OR DELETE ON provider_keys
    FOR EACH STATEMENT EXECUTE FUNCTION provider_keys_changed();

CREATE FUNCTION provider_key_json(k provider_keys) RETURNS jsonb LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object('object', 'provider_key', 'id', k.id, 'endpoint', k.endpoint,
                              'masked', k.masked, 'master_key_id', k.master_key_id,
                              'created_at', extract(epoch FROM k.created_at)::bigint,
                              'revoked', k.revoked_at IS NOT NULL)
$$;

-- A new key for (tenant, endpoint) replaces the active one.
CREATE FUNCTION admin_store_provider_key(p_actor text, p_tenant text, p_id uuid, p_endpoint text,
                                         p_master_key_id text, p_nonce_hex text, p_ct_hex text,
                                         p_tag_hex text, p_masked text)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE k provider_keys;
BEGIN
    IF p_endpoint IS NULL OR p_endpoint !~ '^[a-z0-9][a-z0-9_-]{0,62}$' THEN
        RAISE EXCEPTION 'endpoint must name an endpoint (a-z 0-9 _ -)' USING ERRCODE = 'LQ400';
    END IF;
    UPDATE provider_keys SET revoked_at = now()
        WHERE tenant_id = p_tenant AND endpoint = p_endpoint AND revoked_at IS NULL;
    INSERT INTO provider_keys (id, tenant_id, endpoint, master_key_id, nonce, ciphertext, tag, masked)
        VALUES (p_id, p_tenant, p_endpoint, p_master_key_id, decode(p_nonce_hex, 'hex'),
                decode(p_ct_hex, 'hex'), decode(p_tag_hex, 'hex'), p_masked)
        RETURNING * INTO k;
    PERFORM audit_append(p_tenant, p_actor, 'provider_key.set', p_endpoint,
                         jsonb_build_object('id', k.id, 'masked', k.masked));
    RETURN provider_key_json(k);
END $$;

CREATE FUNCTION admin_revoke_provider_key(p_actor text, p_tenant text, p_id uuid)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE k provider_keys;
BEGIN
    UPDATE provider_keys SET revoked_at = now()
        WHERE tenant_id = p_tenant AND id = p_id AND revoked_at IS NULL RETURNING * INTO k;
    IF k.id IS NULL THEN
        RAISE EXCEPTION 'no active provider key %', p_id USING ERRCODE = 'LQ404';
    END IF;
    PERFORM audit_append(p_tenant, p_actor, 'provider_key.revoke', k.endpoint,
                         jsonb_build_object('id', k.id, 'masked', k.masked));
    RETURN provider_key_json(k);
END $$;

-- Reading the list is an access to the tenant's provider keys: it is audited too.
CREATE FUNCTION admin_list_provider_keys(p_actor text, p_tenant text)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE out jsonb;
BEGIN
    SELECT jsonb_build_object('object', 'list', 'data',
                              coalesce(jsonb_agg(provider_key_json(k) ORDER BY k.created_at), '[]'))
        INTO out FROM provider_keys k WHERE k.tenant_id = p_tenant;
    PERFORM audit_append(p_tenant, p_actor, 'provider_key.list', '', '{}');
    RETURN out;
END $$;
