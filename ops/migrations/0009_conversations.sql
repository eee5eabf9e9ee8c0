-- Conversations kept on the server (docs/conversations.md): a conversation belongs to a tenant,
-- and to a user when the key that made it is bound to one; its messages are stored turn by
-- turn. A turn is begun by an ingest node (its new messages stored `pending`, the conversation
-- marked busy with the turn's job) and ended exactly once by whoever sees the job's end first
-- (the ingest node that waits for it, or the sink): the assistant's reply is stored with the
-- pending messages, or they are removed when the job failed.
--
-- Every function takes the caller as JSON {"tenant","user","project","key","admin"} and sees
-- only what the caller may: another tenant's conversation, or another user's for a caller who
-- is not an admin of the tenant, is not found (LQ404).

CREATE TABLE conversations (
    id                  uuid PRIMARY KEY,
    tenant_id           text NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    project_id          text,
    user_id             text,
    title               text NOT NULL DEFAULT '',
    model               text,
    system_prompt       text NOT NULL DEFAULT '',
    metadata            jsonb NOT NULL DEFAULT '{}',
    context             jsonb NOT NULL DEFAULT '{}',
    context_template    text,
    window_last_n       int,
    window_token_budget int,
    message_count       int NOT NULL DEFAULT 0,
    prompt_tokens       bigint NOT NULL DEFAULT 0,
    completion_tokens   bigint NOT NULL DEFAULT 0,
    cost_usd            numeric NOT NULL DEFAULT 0,
    busy_job            uuid,
    busy_until          timestamptz,
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX conversations_tenant ON conversations (tenant_id, id DESC);

CREATE TABLE conversation_messages (
    conversation_id uuid NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
    seq             int NOT NULL,
    job_id          uuid NOT NULL,
    role            text NOT NULL,
    message         jsonb NOT NULL, -- the OpenAI message object as sent or answered
    state           text NOT NULL DEFAULT 'done' CHECK (state IN ('pending', 'done')),
    sent_with       jsonb,          -- a turn's messages: the history its prompt carried
                                    -- {"from_seq","to_seq","sent","dropped"}
    created_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (conversation_id, seq)
);
CREATE INDEX conversation_messages_job ON conversation_messages (job_id);

ALTER TABLE jobs ADD COLUMN conversation_id uuid;
ALTER TABLE usage_events ADD COLUMN conversation_id uuid;
ALTER TABLE traces ADD COLUMN conversation_id uuid;
CREATE INDEX usage_events_conversation ON usage_events (conversation_id)
    WHERE conversation_id IS NOT NULL;

-- ---------- reading ----------

CREATE FUNCTION conversation_visible(c conversations, p_caller jsonb) RETURNS boolean
LANGUAGE sql STABLE AS $$
    SELECT c.tenant_id = p_caller->>'tenant'
       AND (coalesce((p_caller->>'admin')::boolean, false)
            OR c.user_id IS NOT DISTINCT FROM nullif(p_caller->>'user', ''))
$$;

CREATE FUNCTION conversation_json(c conversations) RETURNS jsonb LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object(
        'id', c.id, 'object', 'conversation',
        'created_at', extract(epoch FROM c.created_at)::bigint,
        'updated_at', extract(epoch FROM c.updated_at)::bigint,
        'title', c.title, 'model', c.model, 'system_prompt', c.system_prompt,
        'metadata', c.metadata, 'context', c.context, 'context_template', c.context_template,
        'window', jsonb_build_object('last_n', c.window_last_n,
                                     'token_budget', c.window_token_budget),
        'message_count', c.message_count, 'user', c.user_id, 'project', c.project_id,
        'usage', jsonb_build_object('prompt_tokens', c.prompt_tokens,
                                    'completion_tokens', c.completion_tokens,
                                    'total_tokens', c.prompt_tokens + c.completion_tokens,
                                    'cost_usd', c.cost_usd::float8))
$$;

-- The conversation the caller may see, locked when p_lock; LQ404 otherwise.
CREATE FUNCTION conversation_find(p_caller jsonb, p_id text, p_lock boolean)
RETURNS conversations LANGUAGE plpgsql AS $$
DECLARE
    c conversations;
BEGIN
    IF p_id IS NULL OR p_id !~* '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$' THEN
        RAISE EXCEPTION 'No conversation found with id %.', left(coalesce(p_id, ''), 80)
            USING ERRCODE = 'LQ404';
    END IF;
    IF p_lock THEN
        SELECT * INTO c FROM conversations WHERE id = p_id::uuid FOR UPDATE;
    ELSE
        SELECT * INTO c FROM conversations WHERE id = p_id::uuid;
    END IF;
    IF c.id IS NULL OR NOT conversation_visible(c, p_caller) THEN
        RAISE EXCEPTION 'No conversation found with id %.', p_id USING ERRCODE = 'LQ404';
    END IF;
    RETURN c;
END $$;

CREATE FUNCTION conversation_get(p_caller jsonb, p_id text) RETURNS jsonb
LANGUAGE sql AS $$
    SELECT conversation_json(conversation_find(p_caller, p_id, false))
$$;

-- The page size a list asks for: 1-100, 20 when not given; LQP01 otherwise.
CREATE FUNCTION page_limit(p_limit text) RETURNS int LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    IF p_limit IS NOT NULL AND (p_limit !~ '^[0-9]{1,4}$' OR p_limit::int NOT BETWEEN 1 AND 100) THEN
        RAISE EXCEPTION 'limit: a whole number from 1 to 100' USING ERRCODE = 'LQP01';
    END IF;
    RETURN coalesce(p_limit::int, 20);
END $$;

-- OpenAI's list object from up to p_lim + 1 rows (one more than the page: there is more).
CREATE FUNCTION page_of(p_rows jsonb, p_lim int) RETURNS jsonb LANGUAGE sql IMMUTABLE AS $$
    SELECT jsonb_build_object('object', 'list', 'data', page, 'first_id', page->0->'id',
                              'last_id', page->-1->'id',
                              'has_more', jsonb_array_length(p_rows) > p_lim)
      FROM (SELECT CASE WHEN jsonb_array_length(p_rows) > p_lim THEN p_rows - p_lim
                        ELSE p_rows END AS page) x
$$;

-- A page of at most p_limit (1-100, default 20) after the cursor p_after, newest first.
CREATE FUNCTION conversation_list(p_caller jsonb, p_after text, p_limit text) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
DECLARE
    lim int := page_limit(p_limit);
    cursor_id uuid;
BEGIN
    IF p_after IS NOT NULL THEN
        IF p_after !~* '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$' THEN
            RAISE EXCEPTION 'after: a conversation id' USING ERRCODE = 'LQP01';
        END IF;
        cursor_id := p_after::uuid;
    END IF;
    RETURN page_of((SELECT coalesce(jsonb_agg(conversation_json(x) ORDER BY x.id DESC), '[]')
                      FROM (SELECT * FROM conversations c
                             WHERE c.tenant_id = p_caller->>'tenant'
                               AND conversation_visible(c, p_caller)
                               AND (cursor_id IS NULL OR c.id < cursor_id)
                             ORDER BY c.id DESC LIMIT lim + 1) x), lim);
END $$;

-- ---------- changing ----------

-- The fields a creation or a change may set, checked; LQP00 unknown field, LQP01 bad value.
CREATE FUNCTION conversation_fields_check(p_body jsonb) RETURNS void
LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
    k text;
    v jsonb;
BEGIN
    IF jsonb_typeof(p_body) <> 'object' THEN
        RAISE EXCEPTION 'the body must be a JSON object' USING ERRCODE = 'LQP01';
    END IF;
    FOR k, v IN SELECT * FROM jsonb_each(p_body) LOOP
        CASE k
        WHEN 'title' THEN
            IF jsonb_typeof(v) <> 'string' OR length(v #>> '{}') > 512 THEN
                RAISE EXCEPTION 'title: a string of at most 512 characters' USING ERRCODE = 'LQP01';
            END IF;
        WHEN 'model' THEN
            IF jsonb_typeof(v) NOT IN ('string', 'null') OR length(v #>> '{}') NOT BETWEEN 1 AND 256 THEN
                RAISE EXCEPTION 'model: a model name (1-256 characters) or null' USING ERRCODE = 'LQP01';
            END IF;
        WHEN 'system_prompt' THEN
            IF jsonb_typeof(v) <> 'string' OR octet_length(v #>> '{}') > 65536 THEN
                RAISE EXCEPTION 'system_prompt: a string of at most 64 KiB' USING ERRCODE = 'LQP01';
            END IF;
        WHEN 'metadata', 'context' THEN
            IF jsonb_typeof(v) <> 'object' OR octet_length(v::text) > 16384 THEN
                RAISE EXCEPTION '%: a JSON object of at most 16 KiB', k USING ERRCODE = 'LQP01';
            END IF;
        WHEN 'context_template' THEN
            IF jsonb_typeof(v) NOT IN ('string', 'null') OR octet_length(v #>> '{}') > 16384 THEN
                RAISE EXCEPTION 'context_template: a string of at most 16 KiB, or null'
                    USING ERRCODE = 'LQP01';
            END IF;
        WHEN 'window' THEN
            IF jsonb_typeof(v) <> 'object' OR EXISTS (SELECT 1 FROM jsonb_object_keys(v) x
                                                      WHERE x NOT IN ('last_n', 'token_budget')) THEN
                RAISE EXCEPTION 'window: an object of last_n and token_budget' USING ERRCODE = 'LQP01';
            END IF;
            IF jsonb_typeof(v->'last_n') NOT IN ('number', 'null')
               OR (v->>'last_n')::numeric NOT BETWEEN 1 AND 1000
               OR (v->>'last_n')::numeric <> floor((v->>'last_n')::numeric) THEN
                RAISE EXCEPTION 'window.last_n: a whole number from 1 to 1000, or null'
                    USING ERRCODE = 'LQP01';
            END IF;
            IF jsonb_typeof(v->'token_budget') NOT IN ('number', 'null')
               OR (v->>'token_budget')::numeric NOT BETWEEN 100 AND 10000000
               OR (v->>'token_budget')::numeric <> floor((v->>'token_budget')::numeric) THEN
                RAISE EXCEPTION 'window.token_budget: a whole number from 100 to 10000000, or null'
                    USING ERRCODE = 'LQP01';
            END IF;
        ELSE
            RAISE EXCEPTION '%: not a field of a conversation', left(k, 60) USING ERRCODE = 'LQP00';
        END CASE;
    END LOOP;
END $$;

CREATE FUNCTION conversation_apply(c conversations, p_body jsonb) RETURNS conversations
LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    IF p_body ? 'title' THEN c.title := p_body->>'title'; END IF;
    IF p_body ? 'model' THEN c.model := p_body->>'model'; END IF;
    IF p_body ? 'system_prompt' THEN c.system_prompt := p_body->>'system_prompt'; END IF;
    IF p_body ? 'metadata' THEN c.metadata := p_body->'metadata'; END IF;
    IF p_body ? 'context' THEN c.context := p_body->'context'; END IF;
    IF p_body ? 'context_template' THEN c.context_template := p_body->>'context_template'; END IF;
    IF p_body ? 'window' THEN
        IF p_body->'window' ? 'last_n' THEN
            c.window_last_n := (p_body->'window'->>'last_n')::int;
        END IF;
        IF p_body->'window' ? 'token_budget' THEN
            c.window_token_budget := (p_body->'window'->>'token_budget')::int;
        END IF;
    END IF;
    RETURN c;
END $$;

CREATE FUNCTION conversation_create(p_caller jsonb, p_id uuid, p_body jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    c conversations;
BEGIN
    PERFORM conversation_fields_check(p_body);
    c.id := p_id;
    c.tenant_id := p_caller->>'tenant';
    c.project_id := nullif(p_caller->>'project', '');
    c.user_id := nullif(p_caller->>'user', '');
    c.title := '';
    c.system_prompt := '';
    c.metadata := '{}';
    c.context := '{}';
    c.message_count := 0;
    c.prompt_tokens := 0;
    c.completion_tokens := 0;
    c.cost_usd := 0;
    c.created_at := now();
    c.updated_at := now();
    c := conversation_apply(c, p_body);
    INSERT INTO conversations SELECT c.*;
    RETURN conversation_json(c);
END $$;

CREATE FUNCTION conversation_update(p_caller jsonb, p_id text, p_body jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    c conversations;
BEGIN
    PERFORM conversation_fields_check(p_body);
    c := conversation_apply(conversation_find(p_caller, p_id, true), p_body);
    c.updated_at := now();
    UPDATE conversations SET title = c.title, model = c.model, system_prompt = c.system_prompt,
           metadata = c.metadata, context = c.context, context_template = c.context_template,
           window_last_n = c.window_last_n, window_token_budget = c.window_token_budget,
           updated_at = c.updated_at
     WHERE id = c.id;
    RETURN conversation_json(c);
END $$;

-- Deletes the conversation and every message of it (its jobs and usage rows stay, as
-- accounting, without its text).
CREATE FUNCTION conversation_delete(p_caller jsonb, p_id text) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    c conversations := conversation_find(p_caller, p_id, true);
BEGIN
    DELETE FROM conversations WHERE id = c.id;
    RETURN jsonb_build_object('id', c.id, 'object', 'conversation.deleted', 'deleted', true);
END $$;

CREATE FUNCTION conversation_message_json(m conversation_messages) RETURNS jsonb
LANGUAGE sql STABLE AS $$
    SELECT m.message || jsonb_build_object('id', 'msg_' || m.seq, 'object', 'conversation.message',
                                           'seq', m.seq, 'job_id', m.job_id,
                                           'created_at', extract(epoch FROM m.created_at)::bigint)
           || CASE WHEN m.sent_with IS NULL THEN '{}'::jsonb
                   ELSE jsonb_build_object('sent_with', m.sent_with) END
$$;

-- Stored messages (not those of a turn under way), oldest first by default; p_after a
-- message id ("msg_12"); p_order "asc" or "desc".
CREATE FUNCTION conversation_messages_list(p_caller jsonb, p_id text, p_after text,
                                           p_limit text, p_order text) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
DECLARE
    c conversations := conversation_find(p_caller, p_id, false);
    lim int := page_limit(p_limit);
    after_seq int;
    descending boolean := coalesce(p_order, 'asc') = 'desc';
BEGIN
    IF coalesce(p_order, 'asc') NOT IN ('asc', 'desc') THEN
        RAISE EXCEPTION 'order: asc or desc' USING ERRCODE = 'LQP01';
    END IF;
    IF p_after IS NOT NULL THEN
        IF p_after !~ '^msg_[0-9]{1,9}$' THEN
            RAISE EXCEPTION 'after: a message id (msg_<n>)' USING ERRCODE = 'LQP01';
        END IF;
        after_seq := substr(p_after, 5)::int;
    END IF;
    RETURN page_of((SELECT coalesce(jsonb_agg(conversation_message_json(x)
                                              ORDER BY CASE WHEN descending THEN -x.seq
                                                            ELSE x.seq END), '[]')
                      FROM (SELECT * FROM conversation_messages m
                             WHERE m.conversation_id = c.id AND m.state = 'done'
                               AND (after_seq IS NULL OR (CASE WHEN descending
                                                               THEN m.seq < after_seq
                                                               ELSE m.seq > after_seq END))
                             ORDER BY CASE WHEN descending THEN -m.seq ELSE m.seq END
                             LIMIT lim + 1) x), lim);
END $$;

-- ---------- turns ----------

-- A message's size in tokens, estimated: a token per four bytes of its JSON, and four more.
CREATE FUNCTION conversation_tokens(p_message jsonb) RETURNS int LANGUAGE sql IMMUTABLE AS $$
    SELECT octet_length(p_message::text) / 4 + 4
$$;

-- Begin a turn: the conversation becomes busy with job p_job until it ends (at most p_busy_ms),
-- the turn's messages are stored pending, and the answer holds what the prompt is made of:
-- {"conversation": {...}, "history": [messages], "window": {"from_seq","to_seq","dropped"}}.
-- The history is the latest stored messages, at most the conversation's last_n (default 50)
-- and at most its token budget (default: the model's context less the answer's max_tokens,
-- 4096 when not set; 8,000 for a model of unknown context) less
-- what the system prompt, the context and the new messages take; a window never starts with
-- a tool result whose call it left out. LQB09 (409 conversation_busy) while another turn runs.
CREATE FUNCTION conversation_turn_begin(p_caller jsonb, p_id text, p_job uuid, p_messages jsonb,
                                        p_busy_ms int, p_model text, p_max_tokens int)
RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    c conversations := conversation_find(p_caller, p_id, true);
    budget int;
    used int := 0;
    picked jsonb := '[]';
    m record;
    first_seq int;
    last_seq int;
    kept int := 0;
    total int;
BEGIN
    IF c.busy_job IS NOT NULL AND c.busy_until > now() AND c.busy_job <> p_job THEN
        RAISE EXCEPTION 'Another turn of this conversation is under way; send the next when it has ended.'
            USING ERRCODE = 'LQB09';
    END IF;
    IF c.busy_job = p_job THEN -- the same turn again (a retried request): its messages are kept
        DELETE FROM conversation_messages WHERE conversation_id = c.id AND job_id = p_job;
    END IF;
    budget := coalesce(c.window_token_budget,
                       model_context(coalesce(p_model, c.model)) - coalesce(p_max_tokens, 4096),
                       8000)
              - conversation_tokens(to_jsonb(c.system_prompt)) - conversation_tokens(c.context)
              - coalesce((SELECT sum(conversation_tokens(x)) FROM jsonb_array_elements(p_messages) x), 0);
    FOR m IN SELECT seq, role, message FROM conversation_messages
              WHERE conversation_id = c.id AND state = 'done'
              ORDER BY seq DESC LIMIT coalesce(c.window_last_n, 50) LOOP
        used := used + conversation_tokens(m.message);
        EXIT WHEN used > budget;
        picked := jsonb_build_array(jsonb_build_object('seq', m.seq, 'role', m.role,
                                                       'message', m.message)) || picked;
        kept := kept + 1;
    END LOOP;
    WHILE jsonb_array_length(picked) > 0 AND picked->0->>'role' = 'tool' LOOP
        picked := picked - 0; -- its call was left out: so is it
        kept := kept - 1;
    END LOOP;
    SELECT count(*) INTO total FROM conversation_messages WHERE conversation_id = c.id AND state = 'done';
    first_seq := (picked->0->>'seq')::int;
    last_seq := (picked->-1->>'seq')::int;
    INSERT INTO conversation_messages (conversation_id, seq, job_id, role, message, state, sent_with)
    SELECT c.id, coalesce((SELECT max(seq) FROM conversation_messages WHERE conversation_id = c.id), 0)
                 + x.n::int, p_job, x.m->>'role', x.m, 'pending',
           jsonb_build_object('from_seq', first_seq, 'to_seq', last_seq, 'sent', kept,
                              'dropped', total - kept)
      FROM jsonb_array_elements(p_messages) WITH ORDINALITY AS x(m, n);
    UPDATE conversations SET busy_job = p_job,
           busy_until = now() + make_interval(secs => p_busy_ms / 1000.0)
     WHERE id = c.id;
    RETURN jsonb_build_object(
        'conversation', conversation_json(c),
        'history', coalesce((SELECT jsonb_agg(x->'message') FROM jsonb_array_elements(picked) x), '[]'),
        'window', jsonb_build_object('from_seq', first_seq, 'to_seq', last_seq, 'sent', kept,
                                     'dropped', total - kept));
END $$;

-- End turns exactly once: [{"job","ok","reply"}] - a turn's pending messages are stored
-- with its reply (an assistant message) when ok, removed otherwise; the conversation is free
-- again. A turn ended already (or unknown) is skipped. Returns how many ended now.
CREATE FUNCTION conversation_turns_end(p_turns jsonb) RETURNS int
LANGUAGE plpgsql AS $$
DECLARE
    t record;
    conv uuid;
    next_seq int;
    n int := 0;
    added int;
BEGIN
    FOR t IN SELECT x.job, x.ok, x.reply
               FROM jsonb_to_recordset(p_turns) AS x(job uuid, ok boolean, reply jsonb)
              ORDER BY x.job LOOP
        SELECT conversation_id INTO conv FROM conversation_messages
         WHERE job_id = t.job AND state = 'pending' LIMIT 1;
        CONTINUE WHEN conv IS NULL;
        PERFORM 1 FROM conversations WHERE id = conv FOR UPDATE;
        IF t.ok AND t.reply IS NOT NULL THEN
            UPDATE conversation_messages SET state = 'done'
             WHERE conversation_id = conv AND job_id = t.job AND state = 'pending';
            GET DIAGNOSTICS added = ROW_COUNT;
            CONTINUE WHEN added = 0; -- another ended it meanwhile
            SELECT coalesce(max(seq), 0) + 1 INTO next_seq FROM conversation_messages
             WHERE conversation_id = conv;
            INSERT INTO conversation_messages (conversation_id, seq, job_id, role, message)
            VALUES (conv, next_seq, t.job, coalesce(t.reply->>'role', 'assistant'), t.reply);
            UPDATE conversations SET message_count = message_count + added + 1,
                   updated_at = now(),
                   busy_job = CASE WHEN busy_job = t.job THEN NULL ELSE busy_job END,
                   busy_until = CASE WHEN busy_job = t.job THEN NULL ELSE busy_until END
             WHERE id = conv;
        ELSE
            DELETE FROM conversation_messages
             WHERE conversation_id = conv AND job_id = t.job AND state = 'pending';
            UPDATE conversations
               SET busy_job = CASE WHEN busy_job = t.job THEN NULL ELSE busy_job END,
                   busy_until = CASE WHEN busy_job = t.job THEN NULL ELSE busy_until END
             WHERE id = conv;
        END IF;
        n := n + 1;
    END LOOP;
    RETURN n;
END $$;

-- Retention: conversations of tenant p_tenant (all tenants when NULL) not changed for p_days.
CREATE FUNCTION conversations_purge(p_tenant text, p_days int) RETURNS int
LANGUAGE plpgsql AS $$
DECLARE
    n int;
BEGIN
    IF p_days IS NULL OR p_days < 0 THEN
        RAISE EXCEPTION 'days: a whole number >= 0' USING ERRCODE = 'LQP01';
    END IF;
    DELETE FROM conversations
     WHERE (p_tenant IS NULL OR tenant_id = p_tenant)
       AND updated_at < now() - make_interval(days => p_days)
       AND (busy_job IS NULL OR busy_until < now());
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END $$;

-- Retention per tenant: conversations not changed for conversation_retention_days are deleted
-- by the sinks (hourly, conversations_purge_due); NULL keeps them.
ALTER TABLE tenants ADD COLUMN conversation_retention_days int
    CHECK (conversation_retention_days BETWEEN 1 AND 36500);

CREATE FUNCTION conversations_purge_due() RETURNS int LANGUAGE plpgsql AS $$
DECLARE
    n int;
BEGIN
    DELETE FROM conversations c USING tenants t
     WHERE c.tenant_id = t.id AND t.conversation_retention_days IS NOT NULL
       AND c.updated_at < now() - make_interval(days => t.conversation_retention_days)
       AND (c.busy_job IS NULL OR c.busy_until < now());
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END $$;

CREATE OR REPLACE FUNCTION admin_tenant_json(t tenants) RETURNS jsonb LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object('object', 'tenant', 'id', t.id, 'name', t.name, 'tier', t.tier,
                              'limits', t.limits, 'disabled', t.disabled,
                              'conversation_retention_days', t.conversation_retention_days,
                              'created_at', extract(epoch FROM t.created_at)::bigint)
$$;

CREATE OR REPLACE FUNCTION admin_update_tenant(p_actor text, p_id text, p_changes jsonb)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    t tenants;
    days jsonb := p_changes->'conversation_retention_days';
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
    UPDATE tenants SET name = coalesce(p_changes->>'name', name),
                       tier = coalesce(p_changes->>'tier', tier),
                       limits = coalesce(p_changes->'limits', limits),
                       disabled = coalesce((p_changes->>'disabled')::boolean, disabled),
                       conversation_retention_days =
                           CASE WHEN p_changes ? 'conversation_retention_days'
                                THEN (days #>> '{}')::int ELSE conversation_retention_days END
        WHERE id = p_id RETURNING * INTO t;
    IF t.id IS NULL THEN
        RAISE EXCEPTION 'no tenant %', p_id USING ERRCODE = 'LQ404';
    END IF;
    PERFORM audit_append('', p_actor, 'tenant.update', p_id, p_changes);
    PERFORM audit_append(p_id, p_actor, 'tenant.update', p_id, p_changes);
    RETURN admin_tenant_json(t);
END $$;
