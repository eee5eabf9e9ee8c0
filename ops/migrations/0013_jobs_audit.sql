-- A tenant's jobs, listed and read whole (the console's Jobs page): GET /v1/jobs and
-- GET /v1/jobs/{id}/trace. Read as llmq_tenant_reader, so row-level security stands behind the
-- tenant filter (0005_row_security.sql).

-- The request as the sink stored it from llmq.requests: model, sampling parameters and the
-- messages (as the prompt policy left them; {"messages_not_kept", "bytes"} past 64 KiB).
ALTER TABLE jobs ADD COLUMN request jsonb;

CREATE FUNCTION tenant_job_json(j jobs) RETURNS jsonb LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object('id', j.id, 'object', 'job', 'status', j.status, 'model', j.model,
                              'mode', j.mode, 'provider', j.provider,
                              'created_at', floor(extract(epoch FROM j.created_at))::bigint,
                              'started_at', floor(extract(epoch FROM j.started_at))::bigint,
                              'completed_at', floor(extract(epoch FROM j.finished_at))::bigint,
                              'conversation_id', j.conversation_id,
                              'error', j.error)
$$;

-- GET /v1/jobs: newest first; status (one of the job states), after (a job id), limit 1-100.
CREATE FUNCTION tenant_job_list(p_caller jsonb, p_status text, p_after text, p_limit text)
RETURNS text LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = public AS $$
DECLARE
    lim int := page_limit(p_limit);
    t text := p_caller->>'tenant';
    cursor_at timestamptz;
    cursor_id uuid;
BEGIN
    PERFORM set_config('llmq.tenant', t, true);
    IF p_status IS NOT NULL AND p_status NOT IN ('queued', 'running', 'succeeded', 'failed',
                                                 'cancelled') THEN
        RAISE EXCEPTION 'status: queued, running, succeeded, failed or cancelled'
            USING ERRCODE = 'LQP01';
    END IF;
    IF p_after IS NOT NULL THEN
        IF p_after !~* '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$' THEN
            RAISE EXCEPTION 'after: a job id' USING ERRCODE = 'LQP01';
        END IF;
        cursor_id := p_after::uuid;
        SELECT created_at INTO cursor_at FROM jobs WHERE id = cursor_id AND tenant_id = t;
    END IF;
    RETURN page_of((SELECT coalesce(jsonb_agg(tenant_job_json(x) ORDER BY x.created_at DESC, x.id DESC), '[]')
                      FROM (SELECT * FROM jobs j
                             WHERE j.tenant_id = t
                               AND (p_status IS NULL OR j.status = p_status)
                               AND (cursor_at IS NULL OR (j.created_at, j.id) < (cursor_at, cursor_id))
                             ORDER BY j.created_at DESC, j.id DESC LIMIT lim + 1) x), lim)::text;
END $$;
ALTER FUNCTION tenant_job_list(jsonb, text, text, text) OWNER TO llmq_tenant_reader;

-- GET /v1/jobs/{id}/trace: the job with its request, result and error, and its trace (route,
-- worker, times, spans: queue, each attempt, publish) once the sinks have it.
CREATE FUNCTION tenant_job_trace(p_caller jsonb, p_id text) RETURNS text
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
                              'total_ms', x.total_ms, 'ttft_ms', x.ttft_ms, 'spans', x.spans)
      INTO tr FROM traces x WHERE x.job_id = j.id AND x.tenant_id = t
     ORDER BY x.created_at DESC LIMIT 1;
    RETURN (tenant_job_json(j) || jsonb_build_object('request', j.request, 'result', j.result,
                                                     'trace', tr))::text;
END $$;
ALTER FUNCTION tenant_job_trace(jsonb, text) OWNER TO llmq_tenant_reader;

CREATE INDEX traces_job ON traces (job_id);

-- GET /admin/v1/tenants/{t}/audit/verify: walk the tenant's hash chain as llmqctl audit verify
-- does (each entry's hash recomputed from its fields and the previous hash; no seq missing).
CREATE FUNCTION audit_verify(p_tenant text) RETURNS jsonb LANGUAGE plpgsql STABLE AS $$
DECLARE
    r audit_log;
    prev text := repeat('0', 64);
    n bigint := 0;
    why text;
BEGIN
    FOR r IN SELECT * FROM audit_log WHERE tenant_id = p_tenant ORDER BY seq LOOP
        why := CASE
            WHEN r.seq <> n + 1 THEN 'an entry is missing before it'
            WHEN r.prev_hash <> prev THEN 'it does not follow the entry before it'
            WHEN r.hash <> encode(sha256(convert_to(r.prev_hash || '|' || r.tenant_id || '|' || r.seq
                                                    || '|' || r.ts_us || '|' || r.actor || '|'
                                                    || r.action || '|' || r.target || '|'
                                                    || r.details::text, 'UTF8')), 'hex')
                THEN 'its content does not match its hash'
            END;
        IF why IS NOT NULL THEN
            RETURN jsonb_build_object('object', 'audit_verification', 'tenant', p_tenant,
                                      'intact', false, 'entries', n, 'broken_seq', r.seq,
                                      'action', r.action, 'reason', why);
        END IF;
        prev := r.hash;
        n := n + 1;
    END LOOP;
    RETURN jsonb_build_object('object', 'audit_verification', 'tenant', p_tenant, 'intact', true,
                              'entries', n);
END $$;

-- Each worker's state, written every 5 s (workers/status.c): jobs in flight and queued, batch
-- jobs, paused partitions, breakers, the lag of each partition it owns, the dead-letter
-- topic's size. A worker that stops removes its row.
CREATE TABLE worker_status (
    worker_id  text PRIMARY KEY,
    group_id   text NOT NULL,
    updated_at timestamptz NOT NULL,
    status     jsonb NOT NULL
);

-- GET /admin/v1/queue (platform): the workers seen in the last 30 s, and the totals.
CREATE FUNCTION queue_status() RETURNS jsonb LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object('object', 'queue',
        'workers', coalesce(jsonb_agg(jsonb_build_object('worker_id', worker_id, 'group', group_id,
                       'seen_s_ago', round(extract(epoch FROM now() - updated_at)::numeric, 1))
                       || status ORDER BY worker_id), '[]'),
        'inflight', coalesce(sum((status->>'inflight')::bigint), 0),
        'queued', coalesce(sum((status->>'queued')::bigint), 0),
        'lag', coalesce(sum((SELECT coalesce(sum((p->>'lag')::bigint) FILTER (WHERE (p->>'lag')::bigint > 0), 0)
                              FROM jsonb_array_elements(status->'partitions') p)), 0),
        'dead_letters', max((status->>'dead_letters')::bigint))
      FROM worker_status WHERE updated_at > now() - interval '30 seconds'
$$;
