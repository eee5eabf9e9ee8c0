-- A large tenant's requests spread over several partitions of llmq.requests, so more than one
-- worker serves it (docs/operations.md, "Scaling out"): request_shards = 1 keys its requests by
-- the tenant (one partition, one worker); N > 1 keys each by the tenant and one of N shards
-- (picked from the job id). Limits stay exact: they are counted in the limit ledger, not per
-- partition. A conversation keeps its order through its one-turn-at-a-time lock.
ALTER TABLE tenants ADD COLUMN IF NOT EXISTS request_shards int NOT NULL DEFAULT 1
    CHECK (request_shards BETWEEN 1 AND 64);

CREATE OR REPLACE FUNCTION admin_tenant_json(t tenants) RETURNS jsonb LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object('object', 'tenant', 'id', t.id, 'name', t.name, 'tier', t.tier,
                              'limits', t.limits, 'disabled', t.disabled,
                              'conversation_retention_days', t.conversation_retention_days,
                              'request_shards', t.request_shards,
                              'created_at', extract(epoch FROM t.created_at)::bigint)
$$;

CREATE OR REPLACE FUNCTION admin_update_tenant(p_actor text, p_id text, p_changes jsonb)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    t tenants;
    days jsonb := p_changes->'conversation_retention_days';
    shards jsonb := p_changes->'request_shards';
BEGIN
    PERFORM limits_change_check(p_changes);
    IF p_changes ? 'tier' AND jsonb_typeof(p_changes->'tier') <> 'string' THEN
        RAISE EXCEPTION 'tier: must be a string' USING ERRCODE = 'LQP01';
    END IF;
    PERFORM tier_check(p_changes->>'tier');
    IF p_changes ? 'disabled' AND jsonb_typeof(p_changes->'disabled') <> 'boolean' THEN
        RAISE EXCEPTION 'disabled must be a boolean' USING ERRCODE = 'LQ400';
    END IF;
    IF p_changes ? 'conversation_retention_days' AND jsonb_typeof(days) <> 'null'
       AND (jsonb_typeof(days) <> 'number' OR (days #>> '{}')::numeric NOT BETWEEN 1 AND 36500
            OR (days #>> '{}')::numeric <> floor((days #>> '{}')::numeric)) THEN
        RAISE EXCEPTION 'conversation_retention_days: a whole number of days from 1 to 36500, or null'
            USING ERRCODE = 'LQP01';
    END IF;
    IF p_changes ? 'request_shards'
       AND (jsonb_typeof(shards) <> 'number' OR (shards #>> '{}')::numeric NOT BETWEEN 1 AND 64
            OR (shards #>> '{}')::numeric <> floor((shards #>> '{}')::numeric)) THEN
        RAISE EXCEPTION 'request_shards: a whole number from 1 to 64' USING ERRCODE = 'LQP01';
    END IF;
    UPDATE tenants SET name = coalesce(p_changes->>'name', name),
                       tier = coalesce(p_changes->>'tier', tier),
                       limits = coalesce(p_changes->'limits', limits),
                       disabled = coalesce((p_changes->>'disabled')::boolean, disabled),
                       conversation_retention_days =
                           CASE WHEN p_changes ? 'conversation_retention_days'
                                THEN (days #>> '{}')::int ELSE conversation_retention_days END,
                       request_shards = coalesce((shards #>> '{}')::int, request_shards)
        WHERE id = p_id RETURNING * INTO t;
    IF t.id IS NULL THEN
        RAISE EXCEPTION 'no tenant %', p_id USING ERRCODE = 'LQ404';
    END IF;
    PERFORM audit_append('', p_actor, 'tenant.update', p_id, p_changes);
    PERFORM audit_append(p_id, p_actor, 'tenant.update', p_id, p_changes);
    RETURN admin_tenant_json(t);
END $$;
