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
