-- Row-level security: a second wall behind the tenant filters of the queries. The API's
-- reads of tenant data run in functions owned by the role llmq_tenant_reader, which may
-- see only the rows of the tenant named by the setting llmq.tenant; the functions set it
-- from the caller's tenant. Even a read that forgot its tenant filter sees one tenant.
-- (Writers: sinks and admin functions run as the tables' owner, unaffected.)

DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'llmq_tenant_reader') THEN
        CREATE ROLE llmq_tenant_reader NOLOGIN;
    END IF;
END $$;

DO $$
DECLARE t text;
BEGIN
    EXECUTE format('GRANT USAGE ON SCHEMA %I TO llmq_tenant_reader', current_schema());
    FOREACH t IN ARRAY ARRAY['jobs', 'usage_events', 'usage_daily', 'traces', 'api_keys', 'users',
                             'projects', 'provider_keys', 'audit_log'] LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('CREATE POLICY tenant_rows ON %I TO llmq_tenant_reader'
                       ' USING (tenant_id <> '''' AND tenant_id = current_setting(''llmq.tenant'', true))', t);
        EXECUTE format('GRANT SELECT ON %I TO llmq_tenant_reader', t);
    END LOOP;
END $$;

-- GET /v1/jobs/{id}: the job if it is the tenant's. (search_path: llmq's tables live in
-- the schema public.)
CREATE FUNCTION tenant_job(p_tenant text, p_id uuid)
RETURNS TABLE (status text, model text, created_s bigint, started_s bigint, finished_s bigint,
               result text, error text)
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = public AS $$
BEGIN
    PERFORM set_config('llmq.tenant', p_tenant, true);
    RETURN QUERY
        SELECT j.status, j.model, floor(extract(epoch FROM j.created_at))::bigint,
               floor(extract(epoch FROM j.started_at))::bigint,
               floor(extract(epoch FROM j.finished_at))::bigint, j.result::text, j.error::text
        FROM jobs j WHERE j.id = p_id AND j.tenant_id = p_tenant;
END $$;
ALTER FUNCTION tenant_job(text, uuid) OWNER TO llmq_tenant_reader;

-- The admin API's lists of a tenant's projects, users, keys and audit entries, read as
-- llmq_tenant_reader too: row-level security stands behind their tenant filters.
CREATE FUNCTION tenant_list(p_tenant text, p_what text, p_limit int)
RETURNS text LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = public AS $$
DECLARE out jsonb;
BEGIN
    PERFORM set_config('llmq.tenant', p_tenant, true);
    IF p_what = 'projects' THEN
        SELECT coalesce(jsonb_agg(jsonb_build_object('object', 'project', 'id', id, 'name', name,
                   'disabled', disabled, 'created_at', extract(epoch FROM created_at)::bigint)
                   ORDER BY id), '[]') INTO out
            FROM projects WHERE tenant_id = p_tenant;
    ELSIF p_what = 'users' THEN
        SELECT coalesce(jsonb_agg(jsonb_build_object('object', 'user', 'id', id, 'email', email,
                   'name', name, 'role', role, 'disabled', disabled,
                   'created_at', extract(epoch FROM created_at)::bigint) ORDER BY id), '[]') INTO out
            FROM users WHERE tenant_id = p_tenant;
    ELSIF p_what = 'keys' THEN
        SELECT coalesce(jsonb_agg(jsonb_build_object('object', 'api_key', 'id', id,
                   'prefix', key_prefix, 'name', name, 'role', role, 'project', project_id,
                   'user', user_id, 'scopes', to_jsonb(scopes),
                   'created_at', extract(epoch FROM created_at)::bigint,
                   'expires_at', extract(epoch FROM expires_at)::bigint,
                   'revoked', revoked_at IS NOT NULL) ORDER BY created_at), '[]') INTO out
            FROM api_keys WHERE tenant_id = p_tenant;
    ELSIF p_what = 'audit' THEN
        SELECT coalesce(jsonb_agg(jsonb_build_object('seq', seq, 'ts', ts_us / 1000000.0,
                   'actor', actor, 'action', action, 'target', target, 'details', details,
                   'hash', hash) ORDER BY seq DESC), '[]') INTO out
            FROM (SELECT * FROM audit_log WHERE tenant_id = p_tenant ORDER BY seq DESC
                  LIMIT p_limit) a;
    ELSE
        RAISE EXCEPTION 'unknown list %', p_what USING ERRCODE = 'LQ400';
    END IF;
    RETURN jsonb_build_object('object', 'list', 'data', out)::text;
END $$;
ALTER FUNCTION tenant_list(text, text, int) OWNER TO llmq_tenant_reader;
