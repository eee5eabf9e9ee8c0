#include "ingest/authenticate.h"

#include "common/api_key.h"

static void looked_up(const PGresult *res, const char *errmsg, void *arg)
{
    req_ctx_t *c = arg;
    ingest_auth_t *auth = c->node->auth;
    int found = res ? ingest_auth_match(res, c->key_hash, &c->id) : -2;

    (void)errmsg;
    if (found == -2) {
        c->auth_state = INGEST_AUTH_UNAVAILABLE;
    } else if (found != 0) {
        ingest_auth_store_if(auth, c->key_hash, NULL, c->auth_generation);
        c->auth_state = INGEST_AUTH_REFUSED;
    } else {
        ingest_auth_store_if(auth, c->key_hash, &c->id, c->auth_generation);
        c->auth_state = INGEST_AUTH_ACCEPTED;
    }
    ingest_ctx_resume(c);
}

static ingest_step_t look_up(req_ctx_t *c)
{
    const char *params[1] = {c->key_prefix};

    c->auth_generation = ingest_auth_generation(c->node->auth);
    c->phase = REQ_AUTH;
    MHD_suspend_connection(c->conn);
    if (ingest_pg_submit(c->node->pg, INGEST_AUTH_SQL, 1, params, looked_up, c)) {
        c->auth_state = INGEST_AUTH_UNAVAILABLE;
        ingest_ctx_resume(c);
    }
    return INGEST_STEP_SUSPENDED;
}

static ingest_step_t refuse(req_ctx_t *c)
{
    ingest_ctx_set_error(c, 401, "Incorrect API key provided.", "invalid_request_error", NULL,
                         "invalid_api_key");
    return INGEST_STEP_ANSWER;
}

/* The presented key against the cache: ACCEPTED, REFUSED, or PENDING (a miss: look it up).
 * INGEST_STEP_ANSWER when there is no key to check. */
static ingest_step_t read_key(req_ctx_t *c)
{
    const char *h = MHD_lookup_connection_value(c->conn, MHD_HEADER_KIND, "Authorization");
    char key[INGEST_BEARER_MAX + 1];

    c->key_read = 1;
    if (ingest_bearer_parse(h, key, sizeof(key))) {
        ingest_ctx_set_error(c, 401,
                             "Missing API key: send it as an Authorization: Bearer <key> header.",
                             "invalid_request_error", NULL, "missing_api_key");
        return INGEST_STEP_ANSWER;
    }
    lq_api_key_prefix(key, c->key_prefix);
    if (lq_api_key_hash(key, c->key_hash)) {
        ingest_ctx_set_internal_error(c);
        return INGEST_STEP_ANSWER;
    }
    switch (ingest_auth_lookup(c->node->auth, c->key_hash, &c->id)) {
    case INGEST_AUTH_OK:
        c->auth_state = INGEST_AUTH_ACCEPTED;
        break;
    case INGEST_AUTH_DENIED:
        c->auth_state = INGEST_AUTH_REFUSED;
        break;
    case INGEST_AUTH_MISS:
    default:
        c->auth_state = INGEST_AUTH_PENDING;
        break;
    }
    return INGEST_STEP_NEXT;
}

ingest_step_t ingest_authenticate_early(req_ctx_t *c)
{
    if (read_key(c) == INGEST_STEP_ANSWER)
        return INGEST_STEP_ANSWER;
    return c->auth_state == INGEST_AUTH_REFUSED ? refuse(c) : INGEST_STEP_NEXT;
}

ingest_step_t ingest_authenticate(req_ctx_t *c)
{
    if (c->phase == REQ_NEW) {
        if (!c->key_read && read_key(c) == INGEST_STEP_ANSWER)
            return INGEST_STEP_ANSWER;
        if (c->auth_state == INGEST_AUTH_PENDING)
            return look_up(c);
    }
    switch (c->auth_state) {
    case INGEST_AUTH_ACCEPTED:
        return INGEST_STEP_NEXT;
    case INGEST_AUTH_UNAVAILABLE:
        ingest_ctx_set_unavailable(c, "Cannot check the API key right now; retry later.",
                                   "database_unavailable");
        return INGEST_STEP_ANSWER;
    case INGEST_AUTH_PENDING:
    case INGEST_AUTH_REFUSED:
    default:
        return refuse(c);
    }
}
