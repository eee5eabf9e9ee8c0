-- Who used it: the user an API key belongs to, on every usage and trace row (and the key
-- on traces), so usage can be read per user and per key.
ALTER TABLE usage_events ADD COLUMN user_id text;
ALTER TABLE traces ADD COLUMN api_key_id uuid, ADD COLUMN user_id text;
CREATE INDEX usage_events_tenant_user ON usage_events (tenant_id, user_id, ts) WHERE user_id IS NOT NULL;
