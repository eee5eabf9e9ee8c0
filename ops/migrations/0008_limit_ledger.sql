-- The limit ledger (docs/limits.md "Enforcement"): what every node took of each limit.
-- Nodes do not ask the database for each request: a node takes a grant of allowance for a
-- scope (a tenant, project, user, key, or the installation), admits requests from it
-- locally, and gives back what it did not use when the grant's lease ends. Grants are
-- written into time buckets at the lease's end, so a sliding window that counts the
-- buckets never admits more than its limit, whichever node admitted what and when.
-- Concurrency slots are held per node with an expiry that the node renews: a node that
-- dies frees its slots when they expire.

-- series: 1 requests in 100 ms buckets (rpm), 2 requests in minute buckets (rph, rpd),
-- 3 tokens in 100 ms buckets (tpm), 4 tokens in minute buckets (tpd), 5 micro-USD per UTC
-- day, 6 micro-USD per UTC month (year * 12 + month - 1).
CREATE TABLE limit_ledger (
    scope_key text NOT NULL,
    series    smallint NOT NULL CHECK (series BETWEEN 1 AND 6),
    bucket    bigint NOT NULL,
    amount    bigint NOT NULL,
    PRIMARY KEY (scope_key, series, bucket)
);

CREATE TABLE limit_slots (
    scope_key  text NOT NULL,
    node_id    text NOT NULL,
    slots      int NOT NULL CHECK (slots >= 0),
    expires_at timestamptz NOT NULL,
    PRIMARY KEY (scope_key, node_id)
);

-- Nodes that exchanged with the ledger lately: a node that cannot reach it admits at most
-- its share (limit / nodes) of each limit.
CREATE TABLE limit_nodes (
    node_id text PRIMARY KEY,
    seen_at timestamptz NOT NULL
);

-- A dimension's series, bucket width and window (ms); calendar dimensions have width 0.
CREATE FUNCTION limit_dim(p_dim text, OUT series smallint, OUT width bigint, OUT win bigint,
                          OUT unit text) LANGUAGE sql IMMUTABLE AS $$
    SELECT x.s::smallint, x.w, x.v, x.u FROM (VALUES
        ('rpm', 1, 100, 60000, 'req'), ('rph', 2, 60000, 3600000, 'req'),
        ('rpd', 2, 60000, 86400000, 'req'), ('tpm', 3, 100, 60000, 'tok'),
        ('tpd', 4, 60000, 86400000, 'tok'), ('usd_per_day', 5, 0, 0, 'usd'),
        ('usd_per_month', 6, 0, 0, 'usd')) AS x(d, s, w, v, u)
    WHERE x.d = p_dim
$$;

-- The bucket of series s at time t (ms since the epoch, UTC).
CREATE FUNCTION limit_bucket(p_series smallint, p_t bigint) RETURNS bigint
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE p_series
        WHEN 1 THEN p_t / 100 WHEN 3 THEN p_t / 100
        WHEN 2 THEN p_t / 60000 WHEN 4 THEN p_t / 60000
        WHEN 5 THEN p_t / 86400000
        ELSE (extract(year FROM to_timestamp(p_t / 1000.0) AT TIME ZONE 'UTC') * 12
              + extract(month FROM to_timestamp(p_t / 1000.0) AT TIME ZONE 'UTC') - 1)::bigint
    END
$$;

-- When the calendar bucket b of series 5 or 6 ends (ms).
CREATE FUNCTION limit_bucket_end(p_series smallint, p_b bigint) RETURNS bigint
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE p_series
        WHEN 5 THEN (p_b + 1) * 86400000
        ELSE (extract(epoch FROM make_timestamptz(((p_b + 1) / 12)::int,
                                                  ((p_b + 1) % 12)::int + 1, 1, 0, 0, 0, 'UTC'))
              * 1000)::bigint
    END
$$;

-- One dimension of one scope now: what is counted (used), when all of it will have left
-- the window (reset, ms), and when `need` more will fit (free, ms; now when it fits, -1
-- when it never can).
CREATE FUNCTION limit_dim_state(p_key text, p_dim text, p_limit bigint, p_need bigint,
                                p_now bigint, OUT used bigint, OUT reset bigint,
                                OUT free bigint) LANGUAGE plpgsql STABLE AS $$
DECLARE
    d record := limit_dim(p_dim);
    lo bigint;
    hi bigint;
    cum bigint := 0;
    r record;
BEGIN
    IF d.width = 0 THEN
        lo := limit_bucket(d.series, p_now);
        SELECT coalesce(sum(amount), 0) INTO used FROM limit_ledger
         WHERE scope_key = p_key AND series = d.series AND bucket = lo;
        reset := limit_bucket_end(d.series, lo);
        free := CASE WHEN p_need > p_limit THEN -1
                     WHEN used + p_need <= p_limit THEN p_now ELSE reset END;
        RETURN;
    END IF;
    -- a grant in bucket b ends before (b + 1) * width: it counts in every window that
    -- ends before (b + 1) * width + win
    lo := (p_now - d.win) / d.width;
    SELECT coalesce(sum(amount), 0), max(bucket) INTO used, hi FROM limit_ledger
     WHERE scope_key = p_key AND series = d.series AND bucket >= lo;
    used := greatest(used, 0);
    reset := CASE WHEN hi IS NULL THEN p_now ELSE greatest(p_now, (hi + 1) * d.width + d.win) END;
    IF p_need > p_limit THEN
        free := -1;
    ELSIF used + p_need <= p_limit THEN
        free := p_now;
    ELSE
        free := reset;
        FOR r IN SELECT bucket, amount FROM limit_ledger
                  WHERE scope_key = p_key AND series = d.series AND bucket >= lo
                  ORDER BY bucket LOOP
            cum := cum + r.amount;
            IF used - cum + p_need <= p_limit THEN
                free := greatest(p_now, (r.bucket + 1) * d.width + d.win);
                EXIT;
            END IF;
        END LOOP;
    END IF;
END $$;

-- Add amount to the buckets of unit u's series that hold time t.
CREATE FUNCTION limit_record(p_key text, p_unit text, p_t bigint, p_amount bigint)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    s smallint;
    b bigint;
    out jsonb := '{}';
BEGIN
    FOREACH s IN ARRAY CASE p_unit WHEN 'req' THEN ARRAY[1, 2]::smallint[]
                                   WHEN 'tok' THEN ARRAY[3, 4]::smallint[]
                                   ELSE ARRAY[5, 6]::smallint[] END LOOP
        b := limit_bucket(s, p_t);
        IF p_amount <> 0 THEN
            INSERT INTO limit_ledger AS l (scope_key, series, bucket, amount)
                 VALUES (p_key, s, b, p_amount)
            ON CONFLICT (scope_key, series, bucket) DO UPDATE SET amount = l.amount + p_amount;
        END IF;
        out := out || jsonb_build_object(s::text, b);
    END LOOP;
    RETURN out;
END $$;

-- One scope's part of an exchange (its advisory lock is held). p_op:
--   {"k": scope key, "lim": {dimension: limit, money in micro-USD},
--    "want": {"req"|"tok"|"usd": amount}, "min": {...}, "lease": ms,
--    "slots": total this node wants to hold (with "con" in lim)}
-- Each unit's grant is the least of what is wanted and what every dimension of that unit
-- has left, or 0 when that is less than the unit's min. Answers the grants, the buckets
-- they were written to, the slots held, and per dimension [used, reset, free].
CREATE FUNCTION limit_take(p_node text, p_op jsonb, p_now bigint) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    k text := p_op->>'k';
    lim jsonb := coalesce(p_op->'lim', '{}');
    lease bigint := least(greatest(coalesce((p_op->>'lease')::bigint, 0), 0), 60000);
    unit text;
    dim text;
    want bigint;
    mn bigint;
    avail bigint;
    g bigint;
    t_end bigint;
    st record;
    dims jsonb := '{}';
    grants jsonb := '{}';
    buckets jsonb := '{}';
    others bigint;
    held bigint;
BEGIN
    FOREACH unit IN ARRAY ARRAY['req', 'tok', 'usd'] LOOP
        want := greatest(coalesce((p_op->'want'->>unit)::bigint, 0), 0);
        mn := greatest(coalesce((p_op->'min'->>unit)::bigint, want), 0);
        avail := NULL;
        FOR dim IN SELECT key FROM jsonb_each(lim) WHERE key <> 'con'
                    AND (limit_dim(key)).unit = unit LOOP
            st := limit_dim_state(k, dim, (lim->>dim)::bigint, greatest(mn, 1), p_now);
            avail := least(coalesce(avail, (lim->>dim)::bigint - st.used),
                           (lim->>dim)::bigint - st.used);
            dims := dims || jsonb_build_object(dim, jsonb_build_array(st.used, st.reset, st.free));
        END LOOP;
        g := least(want, greatest(coalesce(avail, 0), 0));
        IF g < mn OR g <= 0 THEN
            CONTINUE;
        END IF;
        t_end := p_now + lease;
        IF unit = 'usd' THEN -- a grant of money stays within its day
            t_end := least(t_end, limit_bucket_end(5::smallint, limit_bucket(5::smallint, p_now)) - 1);
        END IF;
        grants := grants || jsonb_build_object(unit, g);
        buckets := buckets || jsonb_build_object(unit, limit_record(k, unit, t_end, g));
        FOR dim IN SELECT key FROM jsonb_each(lim) WHERE key <> 'con'
                    AND (limit_dim(key)).unit = unit LOOP
            dims := jsonb_set(dims, ARRAY[dim, '0'], to_jsonb((dims->dim->>0)::bigint + g));
            IF (limit_dim(dim)).width > 0 THEN
                dims := jsonb_set(dims, ARRAY[dim, '1'], to_jsonb(greatest(
                    (dims->dim->>1)::bigint,
                    (limit_bucket((limit_dim(dim)).series, t_end) + 1) * (limit_dim(dim)).width
                    + (limit_dim(dim)).win)));
            END IF;
        END LOOP;
    END LOOP;
    IF lim ? 'con' AND p_op ? 'slots' THEN
        SELECT coalesce(sum(slots), 0) INTO others FROM limit_slots
         WHERE scope_key = k AND node_id <> p_node AND expires_at > clock_timestamp();
        held := least(greatest((p_op->>'slots')::bigint, 0),
                      greatest((lim->>'con')::bigint - others, 0));
        IF held > 0 THEN
            INSERT INTO limit_slots AS s (scope_key, node_id, slots, expires_at)
                 VALUES (k, p_node, held, clock_timestamp()
                         + make_interval(secs => coalesce((p_op->>'slot_lease')::int, 5000) / 1000.0))
            ON CONFLICT (scope_key, node_id) DO UPDATE
                SET slots = EXCLUDED.slots, expires_at = EXCLUDED.expires_at;
        ELSE
            DELETE FROM limit_slots WHERE scope_key = k AND node_id = p_node;
        END IF;
        grants := grants || jsonb_build_object('slots', held);
        dims := dims || jsonb_build_object('con', jsonb_build_array(others + held, p_now, p_now));
    END IF;
    RETURN jsonb_build_object('k', k, 'g', grants, 'b', buckets, 'd', dims);
END $$;

-- One exchange of a node with the ledger: under the advisory locks of every scope it
-- touches (taken at once, in one order, so two nodes never wait for each other), give back
-- what it did not use ("back": [{"k","s","b","a"}], a negative amount adds), then take for
-- each scope of "ops" (limit_take). Answers {"now": ms, "nodes": n, "keys": [...]}. The
-- database's clock is the only one that places grants in time.
CREATE FUNCTION limits_exchange(p_node text, p_body jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    now_ms bigint := (extract(epoch FROM clock_timestamp()) * 1000)::bigint;
    n bigint;
    op jsonb;
    out jsonb := '[]';
BEGIN
    -- every scope this exchange touches, locked first, in one order for every node
    PERFORM pg_advisory_xact_lock(h) FROM (
        SELECT DISTINCT hashtextextended('llmq.limit:' || k, 0) AS h FROM (
            SELECT x->>'k' AS k FROM jsonb_array_elements(coalesce(p_body->'back', '[]')) x
            UNION SELECT x->>'k' FROM jsonb_array_elements(coalesce(p_body->'ops', '[]')) x) keys
        ORDER BY h) locks;
    INSERT INTO limit_ledger AS l (scope_key, series, bucket, amount)
    SELECT r.k, r.s, r.b, -sum(r.a) FROM jsonb_to_recordset(coalesce(p_body->'back', '[]'))
        AS r(k text, s smallint, b bigint, a bigint)
     GROUP BY 1, 2, 3 ORDER BY 1, 2, 3 -- one row each, in one order for every node
    ON CONFLICT (scope_key, series, bucket) DO UPDATE SET amount = l.amount + EXCLUDED.amount;
    INSERT INTO limit_nodes AS x (node_id, seen_at) VALUES (p_node, clock_timestamp())
    ON CONFLICT (node_id) DO UPDATE SET seen_at = EXCLUDED.seen_at;
    SELECT count(*) INTO n FROM limit_nodes WHERE seen_at > clock_timestamp() - interval '10 seconds';
    FOR op IN SELECT value FROM jsonb_array_elements(coalesce(p_body->'ops', '[]'))
               ORDER BY value->>'k' LOOP
        out := out || jsonb_build_array(limit_take(p_node, op, now_ms));
    END LOOP;
    IF random() < 0.01 THEN -- keep the ledger to the longest window
        DELETE FROM limit_ledger
         WHERE (series IN (1, 3) AND bucket < now_ms / 100 - 1200)
            OR (series IN (2, 4) AND bucket < now_ms / 60000 - 1500)
            OR (series = 5 AND bucket < now_ms / 86400000 - 2)
            OR (series = 6 AND bucket < limit_bucket(6::smallint, now_ms) - 2);
        DELETE FROM limit_slots WHERE expires_at < clock_timestamp() - interval '1 minute';
        DELETE FROM limit_nodes WHERE seen_at < clock_timestamp() - interval '1 day';
    END IF;
    RETURN jsonb_build_object('now', now_ms, 'nodes', n, 'keys', out);
END $$;

-- Tenants are created in a tier without limits unless one is named: an installation opts its
-- tenants into limits (free, pro, enterprise or its own tiers). Tenants that were in `free`
-- only by default before limits were enforced keep running as they did.
INSERT INTO tiers (name, weight, description, limits) VALUES
    ('unlimited', 1, 'No limits of its own: the tier of tenants created without one.', '{}')
ON CONFLICT (name) DO NOTHING;
ALTER TABLE tenants ALTER COLUMN tier SET DEFAULT 'unlimited';
UPDATE tenants SET tier = 'unlimited' WHERE tier = 'free';

CREATE OR REPLACE FUNCTION admin_create_tenant(p_actor text, p_id text, p_name text, p_tier text)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE t tenants;
BEGIN
    IF p_id IS NULL OR p_id !~ '^[a-z0-9][a-z0-9_-]{0,62}$' THEN
        RAISE EXCEPTION 'id must be 1-63 of a-z 0-9 _ - (starting with a letter or digit)'
            USING ERRCODE = 'LQ400';
    END IF;
    PERFORM tier_check(p_tier);
    INSERT INTO tenants (id, name, tier)
         VALUES (p_id, coalesce(p_name, p_id), coalesce(p_tier, 'unlimited'))
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
