-- The W3C trace id each job ran in (a caller's traceparent, or a trace llmq started), so an
-- operator who holds a trace id from an application's traces finds the job (docs/observability.md).
ALTER TABLE traces ADD COLUMN IF NOT EXISTS otel_trace_id text;
CREATE INDEX IF NOT EXISTS traces_otel_trace_id ON traces (otel_trace_id)
    WHERE otel_trace_id IS NOT NULL;

-- GET /v1/jobs/{id}/trace names the trace id as well.
CREATE OR REPLACE FUNCTION tenant_job_trace(p_caller jsonb, p_id text) RETURNS text
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = public AS $$
DECLARE
    t text := p_caller->>'tenant';
    j jobs;
    tr jsonb;
BEGIN
    PERFORM set_config('llmq.tenant', t, true);
    IF p_id IS NULL OR p_id !~* '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$' THEN
        RAISE EXCEPTION 'No job found with id %.', left(coalesce(p_id, ''), 80) USING ERRCODE = 'LQ404';
    END IF;
    SELECT * INTO j FROM jobs WHERE id = p_id::uuid AND tenant_id = t;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'No job found with id %.', p_id USING ERRCODE = 'LQ404';
    END IF;
    SELECT jsonb_build_object('trace_id', x.trace_id, 'status', x.status, 'route', x.route,
                              'provider', x.provider, 'worker_id', x.worker_id,
                              'queue_ms', x.queue_ms, 'provider_ms', x.provider_ms,
                              'total_ms', x.total_ms, 'ttft_ms', x.ttft_ms, 'spans', x.spans,
                              'otel_trace_id', x.otel_trace_id)
      INTO tr FROM traces x WHERE x.job_id = j.id AND x.tenant_id = t
     ORDER BY x.created_at DESC LIMIT 1;
    RETURN (tenant_job_json(j) || jsonb_build_object('request', j.request, 'result', j.result,
                                                     'trace', tr))::text;
END $$;
ALTER FUNCTION tenant_job_trace(jsonb, text) OWNER TO llmq_tenant_reader;
