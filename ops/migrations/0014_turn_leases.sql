-- Turns whose request never reached Kafka are undone within seconds, not left pending.
--
-- A turn begins with a short busy mark (a lease: the ingest node's enqueue timeout and a
-- margin); once Kafka has the turn's request the node extends it to the turn's full time
-- (conversation_turn_queued). A node that dies between the two leaves a lease that runs out:
-- the sinks (conversation_turns_expire, every few seconds) and the conversation's next turn
-- remove the expired turn's pending messages and free the conversation. A turn whose request
-- was queued all the same (its acknowledgement lost with the node) still runs; its reply finds
-- nothing pending and is not stored, as its caller never had an answer.

-- the conversations busy with a turn: few at any time
CREATE INDEX conversations_busy ON conversations (busy_job) WHERE busy_job IS NOT NULL;

-- Kafka has the turn's request: its busy mark lasts p_busy_ms from now (a turn already ended
-- is left alone).
CREATE FUNCTION conversation_turn_queued(p_job uuid, p_busy_ms int) RETURNS void
LANGUAGE sql AS $$
    UPDATE conversations SET busy_until = now() + make_interval(secs => p_busy_ms / 1000.0)
     WHERE busy_job = p_job;
$$;

-- Undo the turns whose busy mark ran out: their pending messages go, the conversation is free.
-- Returns how many. Several sinks may run it at once (each takes the rows it can lock).
CREATE FUNCTION conversation_turns_expire() RETURNS int
LANGUAGE plpgsql AS $$
DECLARE
    c record;
    n int := 0;
BEGIN
    FOR c IN SELECT id, busy_job FROM conversations
              WHERE busy_job IS NOT NULL AND busy_until < now()
              ORDER BY busy_until
              LIMIT 1000
              FOR UPDATE SKIP LOCKED LOOP
        DELETE FROM conversation_messages
         WHERE conversation_id = c.id AND job_id = c.busy_job AND state = 'pending';
        UPDATE conversations SET busy_job = NULL, busy_until = NULL WHERE id = c.id;
        n := n + 1;
    END LOOP;
    RETURN n;
END $$;

-- The next turn removes an expired turn's pending messages too ("an expired turn" below).
CREATE OR REPLACE FUNCTION conversation_turn_begin(p_caller jsonb, p_id text, p_job uuid, p_messages jsonb,
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
    IF c.busy_job IS NOT NULL AND c.busy_job <> p_job THEN -- an expired turn: undone
        DELETE FROM conversation_messages
         WHERE conversation_id = c.id AND job_id = c.busy_job AND state = 'pending';
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
