/* The models this worker serves. See workers/model_catalogue.h. */
#include "workers/model_catalogue.h"

#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "common/log.h"
#include "common/pg.h"

typedef struct catalogue {
    worker_t *w;
    json_t *models; /* id -> {"id","owned_by","alias"} */
} catalogue_t;

static void add(catalogue_t *c, const char *model, int alias)
{
    lq_chat_request_t req;
    route_decision_t d;

    memset(&req, 0, sizeof(req));
    req.model = (char *)model;
    req.tenant_id = (char *)"";
    if (routing_decide(c->w->routing, &req, 0, &d) || d.n == 0)
        return;
    json_object_set_new(
        c->models, model,
        json_pack("{s:s,s:s,s:b,s:I}", "id", model, "owned_by",
                  worker_endpoint_name(c->w, d.candidates[0].endpoint), "alias", alias,
                  "context", /* the window of its first candidate's model */
                  (json_int_t)pricing_context(c->w->pricing, d.candidates[0].model)));
}

static void add_priced(const char *model, void *arg)
{
    add(arg, model, 0);
}

static int by_id(const void *a, const void *b)
{
    return strcmp(json_string_value(json_object_get(*(json_t *const *)a, "id")),
                  json_string_value(json_object_get(*(json_t *const *)b, "id")));
}

char *model_catalogue_json(worker_t *w)
{
    catalogue_t c = {w, json_object()};
    json_t **rows, *v, *out = json_array();
    const char *k;
    size_t i = 0, n;
    char *text = NULL;

    if (!c.models || !out) {
        json_decref(c.models);
        json_decref(out);
        return NULL;
    }
    pricing_foreach(w->pricing, add_priced, &c);
    for (n = 0; n < routing_alias_count(w->routing); n++)
        add(&c, routing_alias_name(w->routing, n), 1);
    n = json_object_size(c.models);
    rows = n ? malloc(n * sizeof(*rows)) : NULL;
    if (rows || !n) {
        json_object_foreach(c.models, k, v)
        {
            rows[i++] = v;
        }
        qsort(rows, n, sizeof(*rows), by_id);
        for (i = 0; i < n; i++)
            json_array_append(out, rows[i]);
        text = json_dumps(out, JSON_COMPACT);
    }
    free(rows);
    json_decref(c.models);
    json_decref(out);
    return text;
}

void model_catalogue_publish(worker_t *w)
{
    char errstr[256], *models = model_catalogue_json(w);
    const char *params[2] = {w->id, models};
    PGconn *conn = NULL;
    PGresult *res;

    if (!models ||
        lq_pg_connect(w->set.common.pg.url, "llmq-worker-models", &conn, errstr, sizeof(errstr))) {
        LQ_WARN("the models this worker serves are not listed (GET /v1/models): %s",
                models ? errstr : "out of memory");
        free(models);
        return;
    }
    res = PQexecParams(conn, "SELECT worker_models_set($1, $2::jsonb)", 2, NULL, params, NULL, NULL,
                       0);
    if (PQresultStatus(res) != PGRES_TUPLES_OK)
        LQ_WARN("the models this worker serves are not listed: %s", PQresultErrorMessage(res));
    PQclear(res);
    PQfinish(conn);
    free(models);
}
