-- Idempotency-Key on POST /v1/jobs and the model list of GET /v1/models (docs/api.md).
--
-- Idempotency-Key: a retried submit returns the job of the
-- first, never a second job. A key is claimed with the job's id before the request is queued
-- (`pending`), marked `queued` once Kafka has the request, and forgotten when it could not be
-- queued. Keys are kept 24 hours per tenant.

CREATE TABLE idempotency_keys (
    tenant_id  text NOT NULL,
    key        text NOT NULL CHECK (length(key) BETWEEN 1 AND 255),
    job_id     uuid NOT NULL,
    state      text NOT NULL CHECK (state IN ('pending', 'queued')),
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, key)
);
CREATE INDEX idempotency_keys_created ON idempotency_keys (created_at);

-- {"state": "new"} when the key is now p_job's; else the job that has it and its state
-- ("pending": still being queued, "queued").
CREATE FUNCTION idempotency_claim(p_tenant text, p_key text, p_job uuid) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    k idempotency_keys;
BEGIN
    DELETE FROM idempotency_keys
     WHERE tenant_id = p_tenant AND key = p_key AND created_at < now() - interval '24 hours';
    IF random() < 0.01 THEN
        DELETE FROM idempotency_keys WHERE created_at < now() - interval '24 hours';
    END IF;
    INSERT INTO idempotency_keys (tenant_id, key, job_id, state)
    VALUES (p_tenant, p_key, p_job, 'pending')
    ON CONFLICT (tenant_id, key) DO NOTHING RETURNING * INTO k;
    IF k.job_id IS NOT NULL THEN
        RETURN jsonb_build_object('state', 'new', 'job', p_job);
    END IF;
    SELECT * INTO k FROM idempotency_keys WHERE tenant_id = p_tenant AND key = p_key;
    RETURN jsonb_build_object('state', k.state, 'job', k.job_id,
                              'created_at', extract(epoch FROM k.created_at)::bigint);
END $$;

-- The claimed request was queued (p_ok) or not (the key is free again).
CREATE FUNCTION idempotency_settle(p_tenant text, p_key text, p_job uuid, p_ok boolean)
RETURNS void LANGUAGE sql AS $$
    UPDATE idempotency_keys SET state = 'queued'
     WHERE p_ok AND tenant_id = p_tenant AND key = p_key AND job_id = p_job;
    DELETE FROM idempotency_keys
     WHERE NOT p_ok AND tenant_id = p_tenant AND key = p_key AND job_id = p_job;
$$;

-- GET /v1/models: what each worker serves (workers/model_catalogue.c), written when it
-- starts; the list is the union over the workers seen in the last 7 days.
CREATE TABLE worker_models (
    worker_id  text PRIMARY KEY,
    models     jsonb NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE FUNCTION worker_models_set(p_worker text, p_models jsonb) RETURNS void
LANGUAGE sql AS $$
    INSERT INTO worker_models (worker_id, models) VALUES (p_worker, p_models)
    ON CONFLICT (worker_id) DO UPDATE SET models = EXCLUDED.models, updated_at = now();
$$;

-- OpenAI's model list: {"object":"list","data":[{"id","object":"model","created","owned_by"}]},
-- or one model (p_id) and LQ404 when no worker serves it.
CREATE FUNCTION models_list(p_id text) RETURNS jsonb LANGUAGE plpgsql STABLE AS $$
DECLARE
    rows jsonb;
BEGIN
    SELECT coalesce(jsonb_agg(m ORDER BY m->>'id'), '[]') INTO rows FROM (
        SELECT DISTINCT ON (x->>'id')
               jsonb_build_object('id', x->>'id', 'object', 'model',
                                  'created', extract(epoch FROM w.updated_at)::bigint,
                                  'owned_by', x->>'owned_by') AS m
          FROM worker_models w, jsonb_array_elements(w.models) x
         WHERE w.updated_at > now() - interval '7 days'
           AND (p_id IS NULL OR x->>'id' = p_id)
         ORDER BY x->>'id', w.updated_at DESC) s;
    IF p_id IS NOT NULL THEN
        IF jsonb_array_length(rows) = 0 THEN
            RAISE EXCEPTION 'The model % does not exist or no worker serves it.', left(p_id, 100)
                USING ERRCODE = 'LQ404';
        END IF;
        RETURN rows->0;
    END IF;
    RETURN jsonb_build_object('object', 'list', 'data', rows);
END $$;

-- A model's context window in tokens, as the workers' price tables have it (NULL: unknown).
CREATE FUNCTION model_context(p_model text) RETURNS int LANGUAGE sql STABLE AS $$
    SELECT max((x->>'context')::int) FROM worker_models w, jsonb_array_elements(w.models) x
     WHERE x->>'id' = p_model AND (x->>'context')::int > 0
$$;
