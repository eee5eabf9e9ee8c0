-- Tenants, API keys, jobs, usage and traces: the tables the request pipeline needs.

CREATE TABLE tenants (
    id          text PRIMARY KEY CHECK (id ~ '^[a-z0-9][a-z0-9_-]{0,62}$'),
    name        text NOT NULL,
    disabled    boolean NOT NULL DEFAULT false,
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE projects (
    tenant_id   text NOT NULL REFERENCES tenants(id),
    id          text NOT NULL CHECK (id ~ '^[a-z0-9][a-z0-9_-]{0,62}$'),
    name        text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id)
);

-- The key itself is never stored: only its SHA-256 and a short prefix to recognise it.
CREATE TABLE api_keys (
    id          uuid PRIMARY KEY,
    tenant_id   text NOT NULL REFERENCES tenants(id),
    project_id  text,
    name        text NOT NULL DEFAULT '',
    key_prefix  text NOT NULL,
    key_sha256  text NOT NULL UNIQUE,
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz,
    revoked_at  timestamptz
);
CREATE INDEX api_keys_tenant ON api_keys (tenant_id);

-- One row per request. status_rank orders the states so a late or redelivered event can
-- never move a job backwards (queued 0 < running 1 < final 2).
CREATE TABLE jobs (
    id           uuid PRIMARY KEY,
    tenant_id    text NOT NULL,
    project_id   text,
    api_key_id   uuid,
    model        text NOT NULL,
    mode         text NOT NULL,
    status       text NOT NULL CHECK (status IN ('queued','running','succeeded','failed','cancelled')),
    status_rank  smallint NOT NULL,
    provider     text,
    created_at   timestamptz NOT NULL,
    started_at   timestamptz,
    finished_at  timestamptz,
    result       jsonb,
    error        jsonb,
    updated_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX jobs_tenant_created ON jobs (tenant_id, created_at DESC);

-- One row per job (event_id = job id): a redelivered usage event is counted once.
CREATE TABLE usage_events (
    event_id           uuid PRIMARY KEY,
    job_id             uuid NOT NULL,
    tenant_id          text NOT NULL,
    project_id         text,
    api_key_id         uuid,
    model              text NOT NULL,
    provider           text NOT NULL,
    provider_model     text,
    status             text NOT NULL,
    prompt_tokens      integer NOT NULL,
    completion_tokens  integer NOT NULL,
    cost_usd           numeric(18, 8),
    latency_ms         integer NOT NULL,
    ts                 timestamptz NOT NULL
);
CREATE INDEX usage_events_tenant_ts ON usage_events (tenant_id, ts);

-- Daily rollup, maintained per batch from the rows a batch actually inserted.
CREATE TABLE usage_daily (
    day                date NOT NULL,
    tenant_id          text NOT NULL,
    project_id         text NOT NULL DEFAULT '',
    model              text NOT NULL,
    provider           text NOT NULL,
    requests           bigint NOT NULL,
    failed             bigint NOT NULL,
    prompt_tokens      bigint NOT NULL,
    completion_tokens  bigint NOT NULL,
    cost_usd           numeric(20, 8),
    PRIMARY KEY (day, tenant_id, project_id, model, provider)
);

CREATE TABLE traces (
    trace_id     uuid PRIMARY KEY,
    job_id       uuid NOT NULL,
    tenant_id    text NOT NULL,
    project_id   text,
    model        text NOT NULL,
    provider     text NOT NULL,
    status       text NOT NULL,
    route        text NOT NULL,
    worker_id    text NOT NULL,
    created_at   timestamptz NOT NULL,
    queue_ms     integer NOT NULL,
    provider_ms  integer NOT NULL,
    total_ms     integer NOT NULL,
    spans        jsonb NOT NULL
);
CREATE INDEX traces_tenant_created ON traces (tenant_id, created_at DESC);

-- Messages a sink could not decode, kept rather than dropped.
CREATE TABLE dead_letters (
    id           bigserial PRIMARY KEY,
    topic        text NOT NULL,
    partition    integer NOT NULL,
    "offset"     bigint NOT NULL,
    error        text NOT NULL,
    payload      bytea,
    received_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (topic, partition, "offset")
);
