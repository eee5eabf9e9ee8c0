-- Files and batches (docs/batches.md): OpenAI's Files API (purpose batch) and Batch API, run
-- on llmq's own queue. A file is stored in PostgreSQL as chunks of about 1 MiB (file_chunks),
-- written one by one while the upload streams in, so no process ever holds a whole file. A
-- batch is expanded by the ingest nodes' batch runners: each input line becomes an item
-- (batch_items) and, when valid, a job on topic.batch; the batch's counts come from the jobs
-- table the sinks write, and its output and error files are built here when every item is
-- final.
--
-- Every API function takes the caller as JSON {"tenant","user","project","key","admin"} and
-- sees only the caller's tenant: another tenant's file or batch is not found (LQ404).

CREATE TABLE files (
    id          text PRIMARY KEY,            -- file-<32 hex digits of a UUIDv7>
    tenant_id   text NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    project_id  text,
    purpose     text NOT NULL,
    filename    text NOT NULL,
    bytes       bigint NOT NULL DEFAULT 0,
    lines       int NOT NULL DEFAULT 0,      -- lines that are not blank
    status      text NOT NULL CHECK (status IN ('uploading', 'processed')),
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz
);
CREATE INDEX files_tenant ON files (tenant_id, id DESC);
CREATE INDEX files_expiry ON files (expires_at) WHERE expires_at IS NOT NULL;

CREATE TABLE file_chunks (
    file_id text NOT NULL REFERENCES files(id) ON DELETE CASCADE,
    seq     int NOT NULL,
    data    bytea NOT NULL,
    PRIMARY KEY (file_id, seq)
);

CREATE TABLE batches (
    id                text PRIMARY KEY,      -- batch_<32 hex digits of a UUIDv7>
    tenant_id         text NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    project_id        text,
    api_key_id        uuid,
    user_id           text,
    weight            int NOT NULL DEFAULT 1,
    limits            text,                  -- the creator's limits, as its jobs carry them
    topic             text NOT NULL,         -- where its jobs go: the runners of nodes that
                                             -- produce to this topic.batch take it
    endpoint          text NOT NULL,
    input_file_id     text NOT NULL,
    completion_window text NOT NULL,
    window_s          int NOT NULL,
    metadata          jsonb,
    status            text NOT NULL CHECK (status IN ('validating', 'in_progress', 'finalizing',
                          'completed', 'failed', 'expired', 'cancelling', 'cancelled')),
    errors            jsonb,                 -- a batch that failed: [{code, message, param, line}]
    output_file_id    text,
    error_file_id     text,
    total             int NOT NULL DEFAULT 0,
    completed         int NOT NULL DEFAULT 0,
    failed            int NOT NULL DEFAULT 0,
    input_tokens      bigint NOT NULL DEFAULT 0,
    output_tokens     bigint NOT NULL DEFAULT 0,
    cost_usd          numeric NOT NULL DEFAULT 0,
    created_at        timestamptz NOT NULL DEFAULT now(),
    in_progress_at    timestamptz,
    expires_at        timestamptz NOT NULL,
    finalizing_at     timestamptz,
    completed_at      timestamptz,
    failed_at         timestamptz,
    expired_at        timestamptz,
    cancelling_at     timestamptz,
    cancelled_at      timestamptz,
    -- the runner's progress: lines up to lines_read are items; the jobs of items up to
    -- lines_queued are in Kafka (those between are produced again after a crash, with the
    -- same job ids, so a job is never lost and counted once)
    lines_read        int NOT NULL DEFAULT 0,
    lines_queued      int NOT NULL DEFAULT 0,
    input_done        boolean NOT NULL DEFAULT false,
    cancel_sent_at    timestamptz,           -- the last cancellation sent to the workers
    runner            text,
    runner_until      timestamptz
);
CREATE INDEX batches_tenant ON batches (tenant_id, id DESC);
CREATE INDEX batches_active ON batches (created_at)
    WHERE status IN ('validating', 'in_progress', 'finalizing', 'cancelling');

-- One row per line that is not blank: its job, or why it is not one.
CREATE TABLE batch_items (
    batch_id  text NOT NULL REFERENCES batches(id) ON DELETE CASCADE,
    line      int NOT NULL,                  -- 1-based line of the input file
    custom_id text,
    job_id    uuid,                          -- NULL: an invalid line
    error     jsonb,                         -- an invalid line: {code, message, param}
    PRIMARY KEY (batch_id, line)
);
CREATE UNIQUE INDEX batch_items_job ON batch_items (job_id) WHERE job_id IS NOT NULL;
CREATE INDEX batch_items_custom ON batch_items (batch_id, custom_id);
CREATE INDEX batch_items_invalid ON batch_items (batch_id, line) WHERE job_id IS NULL;

-- A failed job's HTTP status (the error file's status_code).
ALTER TABLE jobs ADD COLUMN error_status smallint;

-- A batch's cost: its jobs' usage rows carry it.
ALTER TABLE usage_events ADD COLUMN batch_id text;
CREATE INDEX usage_events_batch ON usage_events (batch_id) WHERE batch_id IS NOT NULL;

-- ---------- files ----------

CREATE FUNCTION file_json(f files) RETURNS jsonb LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object('id', f.id, 'object', 'file', 'bytes', f.bytes,
                              'created_at', extract(epoch FROM f.created_at)::bigint,
                              'expires_at', extract(epoch FROM f.expires_at)::bigint,
                              'filename', f.filename, 'purpose', f.purpose,
                              'status', 'processed', 'status_details', NULL)
$$;

CREATE FUNCTION file_find(p_caller jsonb, p_id text) RETURNS files
LANGUAGE plpgsql STABLE AS $$
DECLARE
    f files;
BEGIN
    SELECT * INTO f FROM files
     WHERE id = p_id AND tenant_id = p_caller->>'tenant' AND status = 'processed'
       AND (expires_at IS NULL OR expires_at > now());
    IF NOT FOUND THEN
        RAISE EXCEPTION 'No such File object: %', left(coalesce(p_id, ''), 80)
            USING ERRCODE = 'LQ404';
    END IF;
    RETURN f;
END $$;

-- One chunk of an upload. The file's row is made with the first chunk (status uploading:
-- invisible until file_finish; left by an interrupted upload, it is purged after a day).
CREATE FUNCTION file_chunk_put(p_id text, p_tenant text, p_seq int, p_data bytea) RETURNS void
LANGUAGE sql AS $$
    INSERT INTO files (id, tenant_id, purpose, filename, status)
    VALUES (p_id, p_tenant, '', '', 'uploading') ON CONFLICT (id) DO NOTHING;
    INSERT INTO file_chunks (file_id, seq, data) VALUES (p_id, p_seq, p_data);
$$;

-- The upload is whole: the file becomes visible. p_expires_s: seconds after creation, or NULL.
CREATE FUNCTION file_finish(p_caller jsonb, p_id text, p_purpose text, p_filename text,
                            p_bytes bigint, p_lines int, p_expires_s int) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    f files;
BEGIN
    INSERT INTO files (id, tenant_id, project_id, purpose, filename, bytes, lines, status,
                       expires_at)
    VALUES (p_id, p_caller->>'tenant', nullif(p_caller->>'project', ''), p_purpose,
            p_filename, p_bytes, p_lines, 'processed',
            now() + make_interval(secs => p_expires_s))
    ON CONFLICT (id) DO UPDATE SET project_id = EXCLUDED.project_id, purpose = EXCLUDED.purpose,
        filename = EXCLUDED.filename, bytes = EXCLUDED.bytes, lines = EXCLUDED.lines,
        status = 'processed', created_at = now(), expires_at = EXCLUDED.expires_at
    WHERE files.tenant_id = EXCLUDED.tenant_id AND files.status = 'uploading'
    RETURNING * INTO f;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'the upload cannot be finished' USING ERRCODE = 'LQ409';
    END IF;
    RETURN file_json(f);
END $$;

-- An upload given up: its chunks go.
CREATE FUNCTION file_abort(p_tenant text, p_id text) RETURNS void LANGUAGE sql AS $$
    DELETE FROM files WHERE id = p_id AND tenant_id = p_tenant AND status = 'uploading';
$$;

CREATE FUNCTION file_get(p_caller jsonb, p_id text) RETURNS jsonb LANGUAGE sql STABLE AS $$
    SELECT file_json(file_find(p_caller, p_id))
$$;

-- What a download needs: {"id","filename","bytes","chunks": [seq, ...]}.
CREATE FUNCTION file_content_plan(p_caller jsonb, p_id text) RETURNS jsonb
LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object('id', f.id, 'filename', f.filename, 'bytes', f.bytes,
                              'chunks', (SELECT coalesce(jsonb_agg(seq ORDER BY seq), '[]')
                                           FROM file_chunks WHERE file_id = f.id))
      FROM file_find(p_caller, p_id) f
$$;

-- A file a running batch reads is kept until the batch is done with it (409).
CREATE FUNCTION file_delete(p_caller jsonb, p_id text) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    f files := file_find(p_caller, p_id);
    busy text;
BEGIN
    SELECT id INTO busy FROM batches
     WHERE input_file_id = f.id AND NOT input_done
       AND status IN ('validating', 'in_progress', 'cancelling') LIMIT 1;
    IF busy IS NOT NULL THEN
        RAISE EXCEPTION 'The file is the input of batch %, which is still reading it.', busy
            USING ERRCODE = 'LQ409';
    END IF;
    DELETE FROM files WHERE id = f.id;
    RETURN jsonb_build_object('id', f.id, 'object', 'file', 'deleted', true);
END $$;

-- GET /v1/files: newest first (order=asc: oldest), purpose filter, limit 1-10000 (10000).
CREATE FUNCTION file_list(p_caller jsonb, p_purpose text, p_after text, p_limit text,
                          p_order text) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
DECLARE
    lim int;
    asc_order boolean := coalesce(p_order, 'desc') = 'asc';
BEGIN
    IF p_limit IS NOT NULL AND (p_limit !~ '^[0-9]{1,5}$' OR p_limit::int NOT BETWEEN 1 AND 10000) THEN
        RAISE EXCEPTION 'limit: a whole number from 1 to 10000' USING ERRCODE = 'LQP01';
    END IF;
    IF coalesce(p_order, 'desc') NOT IN ('asc', 'desc') THEN
        RAISE EXCEPTION 'order: asc or desc' USING ERRCODE = 'LQP01';
    END IF;
    lim := coalesce(p_limit::int, 10000);
    RETURN page_of((SELECT coalesce(jsonb_agg(file_json(x) ORDER BY
                                              CASE WHEN asc_order THEN x.id END,
                                              CASE WHEN NOT asc_order THEN x.id END DESC), '[]')
                      FROM (SELECT * FROM files f
                             WHERE f.tenant_id = p_caller->>'tenant' AND f.status = 'processed'
                               AND (f.expires_at IS NULL OR f.expires_at > now())
                               AND (p_purpose IS NULL OR f.purpose = p_purpose)
                               AND (p_after IS NULL OR (CASE WHEN asc_order THEN f.id > p_after
                                                             ELSE f.id < p_after END))
                             ORDER BY CASE WHEN asc_order THEN f.id END,
                                      CASE WHEN NOT asc_order THEN f.id END DESC
                             LIMIT lim + 1) x), lim);
END $$;

-- ---------- batches: the API ----------

CREATE FUNCTION batch_json(b batches) RETURNS jsonb LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object(
        'id', b.id, 'object', 'batch', 'endpoint', b.endpoint,
        'errors', (SELECT CASE WHEN e IS NULL THEN NULL
                               ELSE jsonb_build_object('object', 'list', 'data', e) END
                     FROM (SELECT coalesce(b.errors, (
                               SELECT jsonb_agg(x.error || jsonb_build_object('line', x.line)
                                                ORDER BY x.line)
                                 FROM (SELECT i.line, i.error FROM batch_items i
                                        WHERE i.batch_id = b.id AND i.job_id IS NULL
                                        ORDER BY i.line LIMIT 1000) x)) AS e) y),
        'input_file_id', b.input_file_id, 'completion_window', b.completion_window,
        'status', b.status, 'output_file_id', b.output_file_id,
        'error_file_id', b.error_file_id,
        'created_at', extract(epoch FROM b.created_at)::bigint,
        'in_progress_at', extract(epoch FROM b.in_progress_at)::bigint,
        'expires_at', extract(epoch FROM b.expires_at)::bigint,
        'finalizing_at', extract(epoch FROM b.finalizing_at)::bigint,
        'completed_at', extract(epoch FROM b.completed_at)::bigint,
        'failed_at', extract(epoch FROM b.failed_at)::bigint,
        'expired_at', extract(epoch FROM b.expired_at)::bigint,
        'cancelling_at', extract(epoch FROM b.cancelling_at)::bigint,
        'cancelled_at', extract(epoch FROM b.cancelled_at)::bigint,
        'request_counts', jsonb_build_object('total', b.total, 'completed', b.completed,
                                             'failed', b.failed),
        'usage', jsonb_build_object('input_tokens', b.input_tokens,
                                    'output_tokens', b.output_tokens,
                                    'total_tokens', b.input_tokens + b.output_tokens,
                                    'input_tokens_details', jsonb_build_object('cached_tokens', 0),
                                    'output_tokens_details',
                                    jsonb_build_object('reasoning_tokens', 0)),
        'metadata', b.metadata,
        'llmq', jsonb_build_object('cost_usd', b.cost_usd))
$$;

CREATE FUNCTION batch_find(p_caller jsonb, p_id text) RETURNS batches
LANGUAGE plpgsql STABLE AS $$
DECLARE
    b batches;
BEGIN
    SELECT * INTO b FROM batches WHERE id = p_id AND tenant_id = p_caller->>'tenant';
    IF NOT FOUND THEN
        RAISE EXCEPTION 'No batch found with id %.', left(coalesce(p_id, ''), 80)
            USING ERRCODE = 'LQ404';
    END IF;
    RETURN b;
END $$;

-- A completion window: "24h", or (llmq) any "<n>s", "<n>m" or "<n>h" from 1 s to 7 days.
CREATE FUNCTION batch_window_s(p_window text) RETURNS int LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
    n bigint;
BEGIN
    IF p_window IS NULL OR p_window !~ '^[0-9]{1,6}[smh]$' THEN
        RETURN NULL;
    END IF;
    n := left(p_window, -1)::bigint * CASE right(p_window, 1) WHEN 's' THEN 1 WHEN 'm' THEN 60
                                                               ELSE 3600 END;
    RETURN CASE WHEN n BETWEEN 1 AND 7 * 86400 THEN n END;
END $$;

-- POST /v1/batches. p_body: the request's JSON object; p_owner: what the jobs carry
-- {"weight","limits"} and the topic they go to {"topic"}.
CREATE FUNCTION batch_create(p_caller jsonb, p_id text, p_body jsonb, p_owner jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    k text;
    win int;
    f files;
    b batches;
BEGIN
    IF jsonb_typeof(p_body) <> 'object' THEN
        RAISE EXCEPTION 'the body must be a JSON object' USING ERRCODE = 'LQP01';
    END IF;
    FOR k IN SELECT jsonb_object_keys(p_body) LOOP
        IF k NOT IN ('input_file_id', 'endpoint', 'completion_window', 'metadata',
                     'output_expires_after') THEN
            RAISE EXCEPTION '%', k USING ERRCODE = 'LQP00';
        END IF;
    END LOOP;
    IF jsonb_typeof(p_body->'input_file_id') IS DISTINCT FROM 'string' THEN
        RAISE EXCEPTION 'input_file_id: the id of a file uploaded with purpose batch'
            USING ERRCODE = 'LQP01';
    END IF;
    IF p_body->>'endpoint' IS DISTINCT FROM '/v1/chat/completions' THEN
        RAISE EXCEPTION 'endpoint: llmq runs batches of /v1/chat/completions'
            USING ERRCODE = 'LQP01';
    END IF;
    win := batch_window_s(p_body->>'completion_window');
    IF win IS NULL THEN
        RAISE EXCEPTION 'completion_window: 24h (or a duration from 1s to 168h)'
            USING ERRCODE = 'LQP01';
    END IF;
    IF p_body ? 'metadata' AND jsonb_typeof(p_body->'metadata') <> 'null' AND
       (jsonb_typeof(p_body->'metadata') <> 'object' OR
        (SELECT count(*) FROM jsonb_each(p_body->'metadata')) > 16 OR
        EXISTS (SELECT 1 FROM jsonb_each(p_body->'metadata') e
                 WHERE length(e.key) > 64 OR jsonb_typeof(e.value) <> 'string'
                    OR length(e.value #>> '{}') > 512)) THEN
        RAISE EXCEPTION 'metadata: at most 16 string values (keys up to 64, values up to 512 characters)'
            USING ERRCODE = 'LQP01';
    END IF;
    f := file_find(p_caller, p_body->>'input_file_id');
    IF f.purpose <> 'batch' THEN
        RAISE EXCEPTION 'input_file_id: the file''s purpose is %, not batch', f.purpose
            USING ERRCODE = 'LQP01';
    END IF;
    INSERT INTO batches (id, tenant_id, project_id, api_key_id, user_id, weight, limits, topic,
                         endpoint, input_file_id, completion_window, window_s, metadata, status,
                         expires_at)
    VALUES (p_id, p_caller->>'tenant', nullif(p_caller->>'project', ''),
            (p_caller->>'key')::uuid, nullif(p_caller->>'user', ''),
            coalesce((p_owner->>'weight')::int, 1), p_owner->>'limits', p_owner->>'topic',
            p_body->>'endpoint',
            f.id, p_body->>'completion_window', win,
            nullif(p_body->'metadata', 'null'::jsonb), 'validating',
            now() + make_interval(secs => win))
    RETURNING * INTO b;
    PERFORM pg_notify('llmq_batches', b.id);
    RETURN batch_json(b);
END $$;

CREATE FUNCTION batch_get(p_caller jsonb, p_id text) RETURNS jsonb LANGUAGE sql STABLE AS $$
    SELECT batch_json(batch_find(p_caller, p_id))
$$;

CREATE FUNCTION batch_list(p_caller jsonb, p_after text, p_limit text) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
DECLARE
    lim int := page_limit(p_limit);
BEGIN
    RETURN page_of((SELECT coalesce(jsonb_agg(batch_json(x) ORDER BY x.id DESC), '[]')
                      FROM (SELECT * FROM batches b
                             WHERE b.tenant_id = p_caller->>'tenant'
                               AND (p_after IS NULL OR b.id < p_after)
                             ORDER BY b.id DESC LIMIT lim + 1) x), lim);
END $$;

-- POST /v1/batches/{id}/cancel: a batch still running becomes cancelling (its runner stops
-- the expansion and tells the workers); cancelling one already ended is a conflict.
CREATE FUNCTION batch_cancel(p_caller jsonb, p_id text) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    b batches := batch_find(p_caller, p_id);
BEGIN
    IF b.status IN ('cancelling', 'cancelled') THEN
        RETURN batch_json(b);
    END IF;
    IF b.status NOT IN ('validating', 'in_progress') THEN
        RAISE EXCEPTION 'Cannot cancel a batch with status %.', b.status USING ERRCODE = 'LQ409';
    END IF;
    UPDATE batches SET status = 'cancelling', cancelling_at = now()
     WHERE id = b.id RETURNING * INTO b;
    PERFORM pg_notify('llmq_batches', b.id);
    RETURN batch_json(b);
END $$;

-- ---------- batches: the runner ----------

-- The batches a runner (an ingest node producing to p_topic) works on now: those it holds,
-- and those of its topic nobody holds (or whose holder's lease ran out), up to p_max; each
-- held for p_lease_ms more. A batch validating whose input is unusable fails here; a usable
-- one becomes in_progress.
CREATE FUNCTION batch_claim(p_runner text, p_topic text, p_lease_ms int, p_max int) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    b batches;
    f files;
    out jsonb := '[]';
BEGIN
    FOR b IN SELECT * FROM batches
              WHERE status IN ('validating', 'in_progress', 'finalizing', 'cancelling')
                AND topic = p_topic
                AND (runner = p_runner OR runner IS NULL OR runner_until < now())
              ORDER BY created_at LIMIT p_max FOR UPDATE SKIP LOCKED LOOP
        IF b.status = 'validating' THEN
            SELECT * INTO f FROM files WHERE id = b.input_file_id AND status = 'processed';
            IF NOT FOUND OR f.lines = 0 THEN
                UPDATE batches SET status = 'failed', failed_at = now(),
                       errors = jsonb_build_array(jsonb_build_object(
                           'code', CASE WHEN f.id IS NULL THEN 'file_not_found' ELSE 'empty_file' END,
                           'message', CASE WHEN f.id IS NULL THEN 'The input file was deleted.'
                                           ELSE 'The input file has no requests.' END,
                           'param', 'input_file_id', 'line', NULL))
                 WHERE id = b.id;
                CONTINUE;
            END IF;
            UPDATE batches SET status = 'in_progress', in_progress_at = now(), total = f.lines
             WHERE id = b.id RETURNING * INTO b;
        END IF;
        UPDATE batches SET runner = p_runner,
               runner_until = now() + make_interval(secs => p_lease_ms / 1000.0)
         WHERE id = b.id;
        out := out || jsonb_build_object(
            'id', b.id, 'tenant', b.tenant_id, 'project', b.project_id, 'key', b.api_key_id,
            'user', b.user_id, 'weight', b.weight, 'limits', b.limits,
            'file', b.input_file_id, 'status', b.status,
            'expires_ms', (extract(epoch FROM b.expires_at) * 1000)::bigint,
            'lines_read', b.lines_read, 'lines_queued', b.lines_queued,
            'input_done', b.input_done,
            'cancel_due', b.cancel_sent_at IS NULL OR b.cancel_sent_at < now() - interval '10 seconds',
            'policy', (SELECT coalesce(p.policy, t.policy)::text FROM tenants t
                         LEFT JOIN projects p ON p.id = b.project_id AND p.tenant_id = t.id
                        WHERE t.id = b.tenant_id));
    END LOOP;
    RETURN out;
END $$;

-- A slice of lines read: p_items [{line, custom_id, job_id, error}] become items (a custom_id
-- seen before in the batch makes its line invalid) and lines_read moves to p_read. Returns
-- the lines whose jobs are to be produced: [{line, job_id}]. Idempotent for lines already
-- read (after a crash the runner reads them again and gets their stored job ids).
CREATE FUNCTION batch_items_add(p_runner text, p_id text, p_items jsonb, p_read int,
                                p_input_done boolean) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    it jsonb;
    err jsonb;
BEGIN
    PERFORM 1 FROM batches WHERE id = p_id AND runner = p_runner FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'batch % is not held by %', p_id, p_runner USING ERRCODE = 'LQ409';
    END IF;
    FOR it IN SELECT * FROM jsonb_array_elements(p_items) LOOP
        CONTINUE WHEN EXISTS (SELECT 1 FROM batch_items
                               WHERE batch_id = p_id AND line = (it->>'line')::int);
        err := nullif(it->'error', 'null'::jsonb);
        IF err IS NULL AND EXISTS (SELECT 1 FROM batch_items WHERE batch_id = p_id
                                      AND custom_id = it->>'custom_id') THEN
            err := jsonb_build_object('code', 'duplicate_custom_id', 'param', 'custom_id',
                'message', format('The custom_id %s is used by an earlier line of the file.',
                                  left(it->>'custom_id', 64)));
        END IF;
        INSERT INTO batch_items (batch_id, line, custom_id, job_id, error)
        VALUES (p_id, (it->>'line')::int, it->>'custom_id',
                CASE WHEN err IS NULL THEN (it->>'job_id')::uuid END, err)
        ON CONFLICT (batch_id, line) DO NOTHING;
    END LOOP;
    UPDATE batches SET lines_read = greatest(lines_read, p_read),
           input_done = input_done OR p_input_done,
           runner_until = now() + interval '30 seconds'
     WHERE id = p_id;
    RETURN (SELECT coalesce(jsonb_agg(jsonb_build_object('line', i.line, 'job_id', i.job_id)
                                      ORDER BY i.line), '[]')
              FROM batch_items i
             WHERE i.batch_id = p_id AND i.job_id IS NOT NULL
               AND i.line IN (SELECT (e->>'line')::int FROM jsonb_array_elements(p_items) e));
END $$;

-- Kafka acknowledged the jobs of every line up to p_queued, but those of the lines
-- p_refused ([line, ...]) that can never be queued (a record larger than Kafka takes): their
-- items end as failed. The runner's lease goes on. Answers true (false: not its batch).
CREATE FUNCTION batch_queued(p_runner text, p_id text, p_queued int, p_refused jsonb)
RETURNS jsonb LANGUAGE plpgsql AS $$
BEGIN
    UPDATE batch_items SET job_id = NULL, error = jsonb_build_object('code', 'request_too_large',
               'param', 'body', 'message', 'The request cannot be queued: its record is larger than Kafka takes, or it no longer passes the checks it passed when the batch began.')
     WHERE batch_id = p_id AND line IN (SELECT (x #>> '{}')::int FROM jsonb_array_elements(p_refused) x);
    UPDATE batches SET lines_queued = greatest(lines_queued, p_queued),
           runner_until = now() + interval '30 seconds'
     WHERE id = p_id AND runner = p_runner;
    RETURN to_jsonb(FOUND);
END $$;

-- The workers were told (again: every 10 s while the batch is cancelling, so a worker that
-- took over a partition since, and does not remember the batch, hears of it too).
CREATE FUNCTION batch_cancel_sent(p_id text) RETURNS void LANGUAGE sql AS $$
    UPDATE batches SET cancel_sent_at = now() WHERE id = p_id;
$$;

-- The batch's counts from its jobs; 'final' when every item is final and the usage of every
-- job that ended is stored (the sinks write results and usage from different topics), or
-- p_grace_ms after the window ended or the cancellation (whatever is left is given up).
-- Answers {"status","final"}.
CREATE FUNCTION batch_progress(p_id text, p_grace_ms int) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    b batches;
    n_items int;
    n_ok int;
    n_bad int;
    n_ran int;
    n_usage int;
    give_up boolean;
BEGIN
    SELECT * INTO b FROM batches WHERE id = p_id;
    SELECT count(*), count(*) FILTER (WHERE j.status = 'succeeded'),
           count(*) FILTER (WHERE i.job_id IS NULL OR j.status IN ('failed', 'cancelled')),
           count(*) FILTER (WHERE j.status IN ('succeeded', 'failed', 'cancelled'))
      INTO n_items, n_ok, n_bad, n_ran
      FROM batch_items i LEFT JOIN jobs j ON j.id = i.job_id
     WHERE i.batch_id = p_id;
    SELECT count(DISTINCT job_id) INTO n_usage FROM usage_events WHERE batch_id = p_id;
    UPDATE batches SET completed = n_ok, failed = n_bad,
           total = CASE WHEN status = 'cancelling' AND input_done THEN n_items ELSE total END
     WHERE id = p_id RETURNING * INTO b;
    give_up := now() > coalesce(b.cancelling_at, b.expires_at) + make_interval(secs => p_grace_ms / 1000.0);
    RETURN jsonb_build_object('status', b.status,
        'final', b.input_done AND ((n_ok + n_bad = n_items AND n_usage >= n_ran) OR give_up));
END $$;

CREATE FUNCTION batch_result_id(p_job uuid) RETURNS text LANGUAGE sql IMMUTABLE AS $$
    SELECT 'batch_req_' || replace(p_job::text, '-', '')
$$;

-- A failed job's error, as the error file shows it when no response is.
CREATE FUNCTION batch_item_error(i batch_items, j jobs, p_given_up text) RETURNS jsonb
LANGUAGE sql STABLE AS $$
    SELECT CASE
        WHEN i.job_id IS NULL THEN i.error
        WHEN j.status IS NULL THEN jsonb_build_object('code', p_given_up, 'message',
            CASE p_given_up WHEN 'batch_expired'
                 THEN 'This request could not be executed before the batch''s completion window expired.'
                 ELSE 'The batch was cancelled before this request ran.' END)
        WHEN j.error->>'code' IN ('batch_expired', 'batch_cancelled') THEN
            jsonb_build_object('code', j.error->>'code', 'message', j.error->>'message')
        WHEN j.status = 'cancelled' THEN
            jsonb_build_object('code', 'batch_cancelled',
                               'message', 'The batch was cancelled before this request ended.')
        END
$$;

-- One line of the output or error file for item i and its job j (NULL: the job never ended):
-- {"id","custom_id","response":{"status_code","request_id","body"},"error"}.
CREATE FUNCTION batch_result_line(i batch_items, j jobs, p_given_up text) RETURNS text
LANGUAGE sql STABLE AS $$
    SELECT json_build_object(
        'id', coalesce(batch_result_id(i.job_id), 'batch_req_line_' || i.line),
        'custom_id', i.custom_id,
        'response', CASE
            WHEN j.status = 'succeeded' THEN
                json_build_object('status_code', 200,
                                  'request_id', 'req_' || replace(j.id::text, '-', ''),
                                  'body', j.result)
            WHEN j.status = 'failed' AND j.error IS NOT NULL
                 AND coalesce(j.error->>'code', '') NOT IN ('batch_expired', 'batch_cancelled') THEN
                json_build_object('status_code', coalesce(j.error_status, 500),
                                  'request_id', 'req_' || replace(j.id::text, '-', ''),
                                  'body', jsonb_build_object('error', j.error))
            END,
        'error', batch_item_error(i, j, p_given_up))::text
$$;

-- A new file id ordered by time, as the API's (a UUIDv7's 48 bits of milliseconds, then random).
CREATE FUNCTION file_new_id() RETURNS text LANGUAGE sql VOLATILE AS $$
    SELECT 'file-' || lpad(to_hex((extract(epoch FROM clock_timestamp()) * 1000)::bigint), 12, '0')
           || '7' || substr(replace(gen_random_uuid()::text, '-', ''), 14, 19)
$$;

-- Write the results of p_b's items (p_ok: those that succeeded, else the others) as a new
-- file of its tenant, in chunks of about 1 MiB; NULL when there are none.
CREATE FUNCTION batch_write_file(p_b batches, p_ok boolean, p_given_up text) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    fid text := file_new_id();
    n_bytes bigint;
    n_lines int;
BEGIN
    INSERT INTO files (id, tenant_id, project_id, purpose, filename, status, expires_at)
    VALUES (fid, p_b.tenant_id, p_b.project_id, 'batch_output',
            p_b.id || CASE WHEN p_ok THEN '_output.jsonl' ELSE '_error.jsonl' END, 'uploading',
            now() + interval '30 days');
    INSERT INTO file_chunks (file_id, seq, data)
    SELECT fid, x.g, convert_to(string_agg(x.l || E'\n', '' ORDER BY x.k), 'UTF8')
      FROM (SELECT y.k, y.l, (sum(octet_length(y.l) + 1) OVER (ORDER BY y.k) - 1) / 1048576 AS g
              FROM (SELECT row_number() OVER (ORDER BY i.line) AS k,
                           batch_result_line(i, j, p_given_up) AS l
                      FROM batch_items i LEFT JOIN jobs j ON j.id = i.job_id
                     WHERE i.batch_id = p_b.id
                       AND coalesce(j.status = 'succeeded', false) = p_ok) y) x
     GROUP BY x.g;
    SELECT coalesce(sum(octet_length(data)), 0), count(*) INTO n_bytes, n_lines
      FROM file_chunks WHERE file_id = fid;
    IF n_lines = 0 THEN
        DELETE FROM files WHERE id = fid;
        RETURN NULL;
    END IF;
    UPDATE files SET bytes = n_bytes, status = 'processed', created_at = now(),
           lines = (SELECT count(*) FROM batch_items i LEFT JOIN jobs j ON j.id = i.job_id
                     WHERE i.batch_id = p_b.id
                       AND coalesce(j.status = 'succeeded', false) = p_ok)
     WHERE id = fid;
    RETURN fid;
END $$;

CREATE FUNCTION batch_set_finalizing(p_id text) RETURNS void LANGUAGE sql AS $$
    UPDATE batches SET status = 'finalizing', finalizing_at = now()
     WHERE id = p_id AND status = 'in_progress';
$$;

-- Every item is final (or given up): the output and error files are written, the counts and
-- usage set, and the batch ends: cancelled when it was cancelled, failed when no line was a
-- valid request (its errors name them; no files), expired when its window ran out before
-- every request ran, else completed.
CREATE FUNCTION batch_finalize(p_runner text, p_id text) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    b batches;
    given_up text;
    ended text;
BEGIN
    SELECT * INTO b FROM batches WHERE id = p_id AND runner = p_runner
       AND status IN ('in_progress', 'finalizing', 'cancelling') FOR UPDATE;
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;
    given_up := CASE WHEN b.status = 'cancelling' THEN 'batch_cancelled' ELSE 'batch_expired' END;
    ended := CASE WHEN b.status = 'cancelling' THEN 'cancelled'
                  WHEN NOT EXISTS (SELECT 1 FROM batch_items i
                                    WHERE i.batch_id = b.id AND i.job_id IS NOT NULL)
                  THEN 'failed'
                  WHEN now() > b.expires_at AND EXISTS (
                      SELECT 1 FROM batch_items i LEFT JOIN jobs j ON j.id = i.job_id
                       WHERE i.batch_id = b.id AND i.job_id IS NOT NULL
                         AND (j.status IS NULL OR j.error->>'code' = 'batch_expired'))
                  THEN 'expired' ELSE 'completed' END;
    UPDATE batches x SET
           output_file_id = CASE WHEN ended <> 'failed' THEN batch_write_file(b, true, given_up) END,
           error_file_id = CASE WHEN ended <> 'failed' THEN batch_write_file(b, false, given_up) END,
           completed = c.ok, failed = c.n - c.ok,
           total = CASE WHEN b.status = 'cancelling' THEN c.n ELSE x.total END,
           input_tokens = u.p, output_tokens = u.q, cost_usd = u.cost,
           status = ended,
           finalizing_at = coalesce(x.finalizing_at, now()),
           completed_at = CASE WHEN ended = 'completed' THEN now() END,
           failed_at = CASE WHEN ended = 'failed' THEN now() END,
           expired_at = CASE WHEN ended = 'expired' THEN now() END,
           cancelled_at = CASE WHEN ended = 'cancelled' THEN now() END,
           runner = NULL, runner_until = NULL
      FROM (SELECT count(*) AS n, count(*) FILTER (WHERE j.status = 'succeeded') AS ok
              FROM batch_items i LEFT JOIN jobs j ON j.id = i.job_id WHERE i.batch_id = b.id) c,
           (SELECT coalesce(sum(prompt_tokens), 0) AS p, coalesce(sum(completion_tokens), 0) AS q,
                   coalesce(sum(cost_usd), 0) AS cost
              FROM usage_events WHERE batch_id = b.id) u
     WHERE x.id = b.id RETURNING x.* INTO b;
    RETURN jsonb_build_object('status', b.status);
END $$;

-- Files past their expiry, and uploads left unfinished for a day, are deleted (by the sinks,
-- hourly).
CREATE FUNCTION files_purge_due() RETURNS int LANGUAGE plpgsql AS $$
DECLARE
    n int;
BEGIN
    DELETE FROM files f WHERE (f.expires_at < now()
        OR (f.status = 'uploading' AND f.created_at < now() - interval '1 day'))
       AND NOT EXISTS (SELECT 1 FROM batches b WHERE b.input_file_id = f.id AND NOT b.input_done
                          AND b.status IN ('validating', 'in_progress', 'cancelling'));
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END $$;

