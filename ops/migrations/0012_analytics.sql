-- Analytics (docs/analytics.md): hourly rollups the sinks maintain as they write usage events
-- and traces, partitioned by month and dropped after analytics.retention_days, and the
-- functions of the analytics API over them. A rollup row is added to only by the rows a sink
-- batch really inserted, so a redelivered event is never counted twice.

-- Requests, tokens, cost and time by hour and by who and what.
CREATE TABLE usage_hourly (
    hour              timestamptz NOT NULL,
    tenant_id         text NOT NULL,
    project_id        text NOT NULL DEFAULT '',
    user_id           text NOT NULL DEFAULT '',
    api_key_id        text NOT NULL DEFAULT '',
    model             text NOT NULL,
    provider          text NOT NULL,
    requests          bigint NOT NULL,
    failed            bigint NOT NULL,
    prompt_tokens     bigint NOT NULL,
    completion_tokens bigint NOT NULL,
    cost_usd          numeric(20, 8) NOT NULL DEFAULT 0,
    latency_ms_sum    bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (tenant_id, hour, project_id, user_id, api_key_id, model, provider)
) PARTITION BY RANGE (hour);

-- Latency histograms of the requests that succeeded (not lines of batches, which wait in the
-- queue by design): kind 'l' the whole time (total_ms of the trace), 't' the time to the first
-- token of streams; bucket b counts times in
-- [1.05^b - 1, 1.05^(b+1) - 1) ms, so a percentile read from it is within 5 %.
CREATE TABLE latency_hourly (
    hour        timestamptz NOT NULL,
    tenant_id   text NOT NULL,
    project_id  text NOT NULL DEFAULT '',
    model       text NOT NULL,
    provider    text NOT NULL,
    kind        "char" NOT NULL,
    bucket      smallint NOT NULL,
    n           bigint NOT NULL,
    PRIMARY KEY (tenant_id, hour, project_id, model, provider, kind, bucket)
) PARTITION BY RANGE (hour);

-- The same by day (`hour` holds the day's first hour, UTC): a call over months reads these for
-- its whole days, and the hourly rows only for the hours before its first whole day and after
-- its last, so it reads ~24 times fewer rows.
CREATE TABLE usage_by_day (LIKE usage_hourly INCLUDING DEFAULTS,
    PRIMARY KEY (tenant_id, hour, project_id, user_id, api_key_id, model, provider))
    PARTITION BY RANGE (hour);
CREATE TABLE latency_by_day (LIKE latency_hourly INCLUDING DEFAULTS,
    PRIMARY KEY (tenant_id, hour, project_id, model, provider, kind, bucket))
    PARTITION BY RANGE (hour);

-- Rows of a month without its own partition (made ahead hourly by the sinks) land here.
CREATE TABLE usage_hourly_default PARTITION OF usage_hourly DEFAULT;
CREATE TABLE latency_hourly_default PARTITION OF latency_hourly DEFAULT;
CREATE TABLE usage_by_day_default PARTITION OF usage_by_day DEFAULT;
CREATE TABLE latency_by_day_default PARTITION OF latency_by_day DEFAULT;

CREATE FUNCTION analytics_bucket(p_ms int) RETURNS smallint LANGUAGE sql IMMUTABLE AS $$
    SELECT least(floor(ln(greatest(p_ms, 0) + 1) / ln(1.05)), 32000)::smallint
$$;

-- A bucket's time: the geometric middle of its bounds, in ms.
CREATE FUNCTION analytics_bucket_ms(p_bucket int) RETURNS numeric LANGUAGE sql IMMUTABLE AS $$
    SELECT round((power(1.05, p_bucket + 0.5) - 1)::numeric, 1)
$$;

-- The partitions of the month holding p_day, made when missing (rows of that month in the
-- default partition move in).
CREATE FUNCTION analytics_partition_ensure(p_day date) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    m date := date_trunc('month', p_day)::date;
    t text;
    part text;
BEGIN
    FOREACH t IN ARRAY ARRAY['usage_hourly', 'latency_hourly', 'usage_by_day', 'latency_by_day'] LOOP
        part := t || '_' || to_char(m, 'YYYY_MM');
        CONTINUE WHEN to_regclass(part) IS NOT NULL;
        EXECUTE format('CREATE TABLE %I (LIKE %I INCLUDING DEFAULTS)', part, t);
        EXECUTE format('WITH moved AS (DELETE FROM %I WHERE hour >= %L AND hour < %L RETURNING *)'
                       ' INSERT INTO %I SELECT * FROM moved', t || '_default',
                       m::timestamptz, (m + interval '1 month')::timestamptz, part);
        EXECUTE format('ALTER TABLE %I ATTACH PARTITION %I FOR VALUES FROM (%L) TO (%L)', t, part,
                       m::timestamptz, (m + interval '1 month')::timestamptz);
    END LOOP;
END $$;

-- Hourly upkeep (the sinks): this month's and next month's partitions exist; months that
-- ended more than p_retention_days ago are dropped. Returns the partitions dropped.
CREATE FUNCTION analytics_maintain(p_retention_days int) RETURNS int LANGUAGE plpgsql AS $$
DECLARE
    r record;
    n int := 0;
BEGIN
    PERFORM analytics_partition_ensure(current_date);
    PERFORM analytics_partition_ensure((current_date + interval '1 month')::date);
    FOR r IN SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
              WHERE i.inhparent IN ('usage_hourly'::regclass, 'latency_hourly'::regclass,
                                    'usage_by_day'::regclass, 'latency_by_day'::regclass)
                AND c.relname ~ '_[0-9]{4}_[0-9]{2}$'
                AND (to_date(right(c.relname, 7), 'YYYY_MM') + interval '1 month')
                    < now() - make_interval(days => p_retention_days) LOOP
        EXECUTE format('DROP TABLE %I', r.relname);
        n := n + 1;
    END LOOP;
    RETURN n;
END $$;

-- What the usage events written before this migration add up to.
DO $$
DECLARE
    d date;
BEGIN
    FOR d IN SELECT DISTINCT date_trunc('month', ts, 'UTC')::date FROM usage_events LOOP
        PERFORM analytics_partition_ensure(d);
    END LOOP;
    PERFORM analytics_partition_ensure(current_date);
END $$;

INSERT INTO usage_hourly (hour, tenant_id, project_id, user_id, api_key_id, model, provider,
                          requests, failed, prompt_tokens, completion_tokens, cost_usd,
                          latency_ms_sum)
SELECT date_trunc('hour', ts, 'UTC'), tenant_id, coalesce(project_id, ''), coalesce(user_id, ''),
       coalesce(api_key_id::text, ''), model, provider, count(*),
       count(*) FILTER (WHERE status <> 'succeeded'), sum(prompt_tokens), sum(completion_tokens),
       coalesce(sum(cost_usd), 0), sum(latency_ms)
  FROM usage_events GROUP BY 1, 2, 3, 4, 5, 6, 7;

ALTER TABLE traces ADD COLUMN ttft_ms int;

INSERT INTO latency_hourly (hour, tenant_id, project_id, model, provider, kind, bucket, n)
SELECT date_trunc('hour', created_at, 'UTC'), tenant_id, coalesce(project_id, ''), model, provider,
       'l', analytics_bucket(total_ms), count(*)
  FROM traces WHERE status = 'succeeded' GROUP BY 1, 2, 3, 4, 5, 6, 7;

INSERT INTO usage_by_day
SELECT date_trunc('day', hour, 'UTC'), tenant_id, project_id, user_id, api_key_id, model, provider,
       sum(requests), sum(failed), sum(prompt_tokens), sum(completion_tokens), sum(cost_usd),
       sum(latency_ms_sum)
  FROM usage_hourly GROUP BY 1, 2, 3, 4, 5, 6, 7;

INSERT INTO latency_by_day
SELECT date_trunc('day', hour, 'UTC'), tenant_id, project_id, model, provider, kind, bucket, sum(n)
  FROM latency_hourly GROUP BY 1, 2, 3, 4, 5, 6, 7;

-- ---------- the API ----------

-- The tenant an analytics call reads: the caller's own; a platform key may name another, or
-- none (every tenant: NULL).
CREATE FUNCTION analytics_tenant(p_caller jsonb, p_tenant text) RETURNS text
LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    IF coalesce((p_caller->>'platform')::boolean, false) THEN
        RETURN p_tenant;
    END IF;
    IF p_tenant IS NOT NULL AND p_tenant <> p_caller->>'tenant' THEN
        RAISE EXCEPTION 'tenant: only platform keys read other tenants'' analytics'
            USING ERRCODE = 'LQ403';
    END IF;
    RETURN p_caller->>'tenant';
END $$;

-- A time of the API (unix seconds) or its default.
CREATE FUNCTION analytics_time(p_value text, p_name text, p_default timestamptz) RETURNS timestamptz
LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    IF p_value IS NULL THEN
        RETURN p_default;
    END IF;
    IF p_value !~ '^[0-9]{1,11}$' THEN
        RAISE EXCEPTION '%: unix seconds', p_name USING ERRCODE = 'LQP01';
    END IF;
    RETURN to_timestamp(p_value::bigint);
END $$;

-- The range of a call: whole hours from start_time (default 7 days ago) to end_time (now).
CREATE FUNCTION analytics_range(p_start text, p_end text, OUT t0 timestamptz, OUT t1 timestamptz)
LANGUAGE plpgsql STABLE AS $$
BEGIN
    t1 := analytics_time(p_end, 'end_time', now());
    t0 := date_trunc('hour', analytics_time(p_start, 'start_time', t1 - interval '7 days'), 'UTC');
    IF t1 <= t0 THEN
        RAISE EXCEPTION 'end_time: after start_time' USING ERRCODE = 'LQP01';
    END IF;
    IF t1 - t0 > interval '400 days' THEN
        RAISE EXCEPTION 'start_time: at most 400 days before end_time' USING ERRCODE = 'LQP01';
    END IF;
END $$;

-- group_by: a comma-separated list of model, provider, project, user, key (and tenant for a
-- platform key) as the columns of usage_hourly; NULL for none.
CREATE FUNCTION analytics_columns(p_caller jsonb, p_group text, p_allowed text[]) RETURNS text[]
LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
    g text;
    cols text[] := '{}';
BEGIN
    FOREACH g IN ARRAY coalesce(string_to_array(nullif(p_group, ''), ','), '{}') LOOP
        g := trim(g);
        IF NOT g = ANY (p_allowed) OR (g = 'tenant' AND
                NOT coalesce((p_caller->>'platform')::boolean, false)) THEN
            RAISE EXCEPTION 'group_by: some of %', array_to_string(array_remove(p_allowed, 'tenant'), ', ')
                USING ERRCODE = 'LQP01';
        END IF;
        cols := cols || CASE g WHEN 'project' THEN 'project_id' WHEN 'user' THEN 'user_id'
                               WHEN 'key' THEN 'api_key_id' WHEN 'tenant' THEN 'tenant_id' ELSE g END;
    END LOOP;
    RETURN (SELECT coalesce(array_agg(DISTINCT c), '{}') FROM unnest(cols) c);
END $$;

-- The whole days of a range [t0, t1): from the first midnight at or after t0 to the last
-- midnight at or before t1 (d1 <= d0: none).
CREATE FUNCTION analytics_days(t0 timestamptz, t1 timestamptz, OUT d0 timestamptz, OUT d1 timestamptz)
LANGUAGE sql IMMUTABLE AS $$
    SELECT date_trunc('day', t0 + interval '1 day' - interval '1 microsecond', 'UTC'),
           date_trunc('day', t1, 'UTC')
$$;

-- The rows a call may read: its tenant (all for a platform key without one), its key's
-- project, the range — its whole days from usage_by_day (unless p_hourly: hour buckets),
-- the rest from usage_hourly.
CREATE FUNCTION analytics_usage_rows(p_caller jsonb, p_tenant text, t0 timestamptz, t1 timestamptz,
                                     p_hourly boolean DEFAULT false)
RETURNS SETOF usage_hourly LANGUAGE plpgsql STABLE AS $$
DECLARE
    t text := analytics_tenant(p_caller, p_tenant);
    pr text := nullif(p_caller->>'project', '');
    d record := analytics_days(t0, t1);
BEGIN
    IF p_hourly OR d.d1 <= d.d0 THEN
        d.d0 := t1;
        d.d1 := t1;
    END IF;
    RETURN QUERY
        SELECT * FROM usage_hourly h
         WHERE (t IS NULL OR h.tenant_id = t) AND (pr IS NULL OR h.project_id = pr)
           AND ((h.hour >= t0 AND h.hour < d.d0) OR (h.hour >= d.d1 AND h.hour < t1))
        UNION ALL
        SELECT * FROM usage_by_day y
         WHERE (t IS NULL OR y.tenant_id = t) AND (pr IS NULL OR y.project_id = pr)
           AND y.hour >= d.d0 AND y.hour < d.d1;
END $$;

-- The latency histograms of a range, the same way.
CREATE FUNCTION analytics_latency_rows(p_tenant text, p_project text, t0 timestamptz, t1 timestamptz)
RETURNS SETOF latency_hourly LANGUAGE plpgsql STABLE AS $$
DECLARE
    pr text := nullif(p_project, '');
    d record := analytics_days(t0, t1);
BEGIN
    IF d.d1 <= d.d0 THEN
        d.d0 := t1;
        d.d1 := t1;
    END IF;
    RETURN QUERY
        SELECT * FROM latency_hourly h
         WHERE (p_tenant IS NULL OR h.tenant_id = p_tenant) AND (pr IS NULL OR h.project_id = pr)
           AND ((h.hour >= t0 AND h.hour < d.d0) OR (h.hour >= d.d1 AND h.hour < t1))
        UNION ALL
        SELECT * FROM latency_by_day y
         WHERE (p_tenant IS NULL OR y.tenant_id = p_tenant) AND (pr IS NULL OR y.project_id = pr)
           AND y.hour >= d.d0 AND y.hour < d.d1;
END $$;

-- GET /v1/analytics/usage: requests, failures, tokens and cost by bucket (1h, 1d or the whole
-- range) and by the group_by columns.
CREATE FUNCTION analytics_usage(p_caller jsonb, p_tenant text, p_start text, p_end text,
                                p_bucket text, p_group text) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
DECLARE
    r record := analytics_range(p_start, p_end);
    cols text[] := analytics_columns(p_caller, p_group,
                                     ARRAY['model', 'provider', 'project', 'user', 'key', 'tenant']);
    bucket text;
    keys text := '';
    c text;
    out jsonb;
BEGIN
    bucket := CASE coalesce(p_bucket, '1d')
        WHEN '1h' THEN 'hour'
        WHEN '1d' THEN 'date_trunc(''day'', hour, ''UTC'')'
        WHEN 'total' THEN format('%L::timestamptz', r.t0)
        END;
    IF bucket IS NULL THEN
        RAISE EXCEPTION 'bucket_width: 1h, 1d or total' USING ERRCODE = 'LQP01';
    END IF;
    FOREACH c IN ARRAY cols LOOP
        keys := keys || format(', %I', c);
    END LOOP;
    EXECUTE format(
        'SELECT coalesce(jsonb_agg(to_jsonb(x) ORDER BY x.start_time, x.cost_usd DESC), ''[]'')'
        ' FROM (SELECT extract(epoch FROM %s)::bigint AS start_time%s, sum(requests) AS requests,'
        ' sum(failed) AS failed, sum(prompt_tokens) AS prompt_tokens,'
        ' sum(completion_tokens) AS completion_tokens,'
        ' sum(prompt_tokens + completion_tokens) AS total_tokens, sum(cost_usd) AS cost_usd'
        ' FROM analytics_usage_rows($1, $2, $3, $4, $5) GROUP BY %s%s) x',
        bucket, keys, bucket, keys)
        INTO out USING p_caller, p_tenant, r.t0, r.t1, coalesce(p_bucket, '1d') = '1h';
    RETURN jsonb_build_object('object', 'list', 'data', out,
                              'start_time', extract(epoch FROM r.t0)::bigint,
                              'end_time', extract(epoch FROM r.t1)::bigint,
                              'bucket_width', coalesce(p_bucket, '1d'),
                              'group_by', to_jsonb(cols));
END $$;

-- GET /v1/analytics/top: the largest spenders of the range by one of key, user, project,
-- model (tenant for a platform key), most cost first.
CREATE FUNCTION analytics_top(p_caller jsonb, p_tenant text, p_start text, p_end text,
                              p_by text, p_limit text) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
DECLARE
    r record := analytics_range(p_start, p_end);
    cols text[] := analytics_columns(p_caller, coalesce(p_by, 'key'),
                                     ARRAY['model', 'project', 'user', 'key', 'tenant']);
    lim int := page_limit(coalesce(p_limit, '10'));
    out jsonb;
BEGIN
    IF array_length(cols, 1) IS DISTINCT FROM 1 THEN
        RAISE EXCEPTION 'by: one of model, project, user, key' USING ERRCODE = 'LQP01';
    END IF;
    EXECUTE format(
        'SELECT coalesce(jsonb_agg(to_jsonb(x) ORDER BY x.cost_usd DESC, x.requests DESC), ''[]'')'
        ' FROM (SELECT %I AS id, sum(requests) AS requests, sum(failed) AS failed,'
        ' sum(prompt_tokens + completion_tokens) AS total_tokens, sum(cost_usd) AS cost_usd'
        ' FROM analytics_usage_rows($1, $2, $3, $4) GROUP BY 1'
        ' ORDER BY sum(cost_usd) DESC, sum(requests) DESC LIMIT $5) x', cols[1])
        INTO out USING p_caller, p_tenant, r.t0, r.t1, lim;
    RETURN jsonb_build_object('object', 'list', 'data', out, 'by', coalesce(p_by, 'key'),
                              'start_time', extract(epoch FROM r.t0)::bigint,
                              'end_time', extract(epoch FROM r.t1)::bigint);
END $$;

-- GET /v1/analytics/errors: requests, failures and the error rate by provider and model.
CREATE FUNCTION analytics_errors(p_caller jsonb, p_tenant text, p_start text, p_end text)
RETURNS jsonb LANGUAGE plpgsql STABLE AS $$
DECLARE
    r record := analytics_range(p_start, p_end);
BEGIN
    RETURN jsonb_build_object('object', 'list',
        'start_time', extract(epoch FROM r.t0)::bigint, 'end_time', extract(epoch FROM r.t1)::bigint,
        'data', (SELECT coalesce(jsonb_agg(to_jsonb(x) ORDER BY x.error_rate DESC, x.requests DESC), '[]')
                   FROM (SELECT provider, model, sum(requests) AS requests, sum(failed) AS failed,
                                round(sum(failed)::numeric / nullif(sum(requests), 0), 6) AS error_rate
                           FROM analytics_usage_rows(p_caller, p_tenant, r.t0, r.t1)
                          GROUP BY provider, model) x));
END $$;

-- GET /v1/analytics/latency: p50, p95 and p99 of the whole time and of the time to the first
-- token, by model (or provider), from the histograms.
CREATE FUNCTION analytics_latency(p_caller jsonb, p_tenant text, p_start text, p_end text,
                                  p_group text) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
DECLARE
    r record := analytics_range(p_start, p_end);
    t text := analytics_tenant(p_caller, p_tenant);
    col text := coalesce(p_group, 'model');
    out jsonb;
BEGIN
    IF col NOT IN ('model', 'provider') THEN
        RAISE EXCEPTION 'group_by: model or provider' USING ERRCODE = 'LQP01';
    END IF;
    EXECUTE format($q$
        WITH b AS (SELECT %I AS k, kind, bucket, sum(n) AS n
                     FROM analytics_latency_rows($1, $2, $3, $4) GROUP BY 1, 2, 3),
             c AS (SELECT k, kind, bucket, n,
                          sum(n) OVER (PARTITION BY k, kind ORDER BY bucket) AS cum,
                          sum(n) OVER (PARTITION BY k, kind) AS total FROM b),
             p AS (SELECT k, kind, max(total) AS total,
                          min(bucket) FILTER (WHERE cum >= 0.50 * total) AS p50,
                          min(bucket) FILTER (WHERE cum >= 0.95 * total) AS p95,
                          min(bucket) FILTER (WHERE cum >= 0.99 * total) AS p99
                     FROM c GROUP BY k, kind),
             j AS (SELECT k, kind, jsonb_build_object('count', total,
                          'p50', analytics_bucket_ms(p50), 'p95', analytics_bucket_ms(p95),
                          'p99', analytics_bucket_ms(p99)) AS v FROM p)
        SELECT coalesce(jsonb_agg(jsonb_build_object(%L, k,
                   'latency_ms', (SELECT v FROM j j2 WHERE j2.k = ks.k AND j2.kind = 'l'),
                   'ttft_ms', (SELECT v FROM j j2 WHERE j2.k = ks.k AND j2.kind = 't')) ORDER BY k), '[]')
          FROM (SELECT DISTINCT k FROM j) ks $q$, col, col)
        INTO out USING t, p_caller->>'project', r.t0, r.t1;
    RETURN jsonb_build_object('object', 'list', 'data', out, 'group_by', col,
                              'start_time', extract(epoch FROM r.t0)::bigint,
                              'end_time', extract(epoch FROM r.t1)::bigint);
END $$;
