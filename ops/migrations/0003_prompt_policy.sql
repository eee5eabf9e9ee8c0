-- Prompt policy (secrets and blocked keywords) per tenant, overridable per project:
-- {"secrets": "block"|"redact"|"allow", "kinds": {"<kind>": "block"|"redact"|"allow"},
--  "blocked_keywords": ["..."]}. docs/security.md.

ALTER TABLE tenants ADD COLUMN policy jsonb NOT NULL DEFAULT '{}';
ALTER TABLE projects ADD COLUMN policy jsonb;

CREATE FUNCTION policy_valid(p jsonb) RETURNS boolean LANGUAGE sql IMMUTABLE AS $$
    SELECT jsonb_typeof(p) = 'object'
       AND (NOT p ? 'secrets' OR p->>'secrets' IN ('block', 'redact', 'allow'))
       AND (NOT p ? 'kinds' OR (jsonb_typeof(p->'kinds') = 'object' AND NOT EXISTS
            (SELECT 1 FROM jsonb_each_text(p->'kinds') k WHERE k.value NOT IN ('block', 'redact', 'allow'))))
       AND (NOT p ? 'blocked_keywords' OR (jsonb_typeof(p->'blocked_keywords') = 'array'
            AND jsonb_array_length(p->'blocked_keywords') <= 32 AND NOT EXISTS
            (SELECT 1 FROM jsonb_array_elements(p->'blocked_keywords') w
              WHERE jsonb_typeof(w) <> 'string' OR length(w #>> '{}') NOT BETWEEN 1 AND 63)))
       AND NOT EXISTS (SELECT 1 FROM jsonb_object_keys(p) k
                        WHERE k NOT IN ('secrets', 'kinds', 'blocked_keywords'))
$$;

-- p_project NULL: the tenant's policy; else the project's (NULL policy = the tenant's).
CREATE FUNCTION admin_set_policy(p_actor text, p_tenant text, p_project text, p_policy jsonb)
RETURNS jsonb LANGUAGE plpgsql AS $$
BEGIN
    IF p_policy IS NOT NULL AND NOT policy_valid(p_policy) THEN
        RAISE EXCEPTION 'policy: secrets and kinds values are block, redact or allow; '
                        'blocked_keywords at most 32 strings of 1-63 characters; no other fields'
            USING ERRCODE = 'LQ400';
    END IF;
    IF p_project IS NULL THEN
        UPDATE tenants SET policy = coalesce(p_policy, '{}') WHERE id = p_tenant;
    ELSE
        UPDATE projects SET policy = p_policy WHERE tenant_id = p_tenant AND id = p_project;
    END IF;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'no such %', coalesce('project ' || p_project, 'tenant') USING ERRCODE = 'LQ404';
    END IF;
    PERFORM audit_append(p_tenant, p_actor, 'policy.set', coalesce(p_project, p_tenant),
                         coalesce(p_policy, 'null'::jsonb));
    RETURN jsonb_build_object('object', 'policy', 'tenant', p_tenant, 'project', p_project,
                              'policy', p_policy);
END $$;
