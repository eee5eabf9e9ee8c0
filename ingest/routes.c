#include "ingest/routes.h"

#include "ingest/admin_run.h"
#include "ingest/conversation_turn.h"
#include "ingest/conversations.h"
#include "ingest/jobs_poll.h"
#include "ingest/limits_get.h"
#include "ingest/models.h"
#include "ingest/ops_endpoints.h"
#include "ingest/submit.h"

const ingest_route_t ingest_routes[] = {
    {{"POST", "/v1/chat/completions"},
     INGEST_SCOPE_CHAT,
     ROLE_DEVELOPER,
     ingest_submit_chat,
     "/v1/chat/completions"},
    {{"POST", "/v1/jobs"}, INGEST_SCOPE_JOBS, ROLE_DEVELOPER, ingest_submit_job, "/v1/jobs"},
    {{"GET", "/v1/jobs/{id}"}, INGEST_SCOPE_JOBS, ROLE_VIEWER, ingest_jobs_poll, "/v1/jobs/{id}"},
    {{"GET", "/v1/conversations"},
     INGEST_SCOPE_CHAT,
     ROLE_VIEWER,
     ingest_conversations_list,
     "/v1/conversations"},
    {{"POST", "/v1/conversations"},
     INGEST_SCOPE_CHAT,
     ROLE_DEVELOPER,
     ingest_conversations_create,
     "/v1/conversations"},
    {{"GET", "/v1/conversations/{id}"},
     INGEST_SCOPE_CHAT,
     ROLE_VIEWER,
     ingest_conversation_get,
     "/v1/conversations/{id}"},
    {{"PATCH", "/v1/conversations/{id}"},
     INGEST_SCOPE_CHAT,
     ROLE_DEVELOPER,
     ingest_conversation_update,
     "/v1/conversations/{id}"},
    {{"DELETE", "/v1/conversations/{id}"},
     INGEST_SCOPE_CHAT,
     ROLE_DEVELOPER,
     ingest_conversation_delete,
     "/v1/conversations/{id}"},
    {{"GET", "/v1/conversations/{id}/messages"},
     INGEST_SCOPE_CHAT,
     ROLE_VIEWER,
     ingest_conversation_messages,
     "/v1/conversations/{id}/messages"},
    {{"POST", "/v1/conversations/{id}/messages"},
     INGEST_SCOPE_CHAT,
     ROLE_DEVELOPER,
     ingest_conversation_turn,
     "/v1/conversations/{id}/messages"},
    {{"GET", "/v1/models"}, INGEST_SCOPE_ANY, ROLE_VIEWER, ingest_models_list, "/v1/models"},
    {{"GET", "/v1/models/{id}"},
     INGEST_SCOPE_ANY,
     ROLE_VIEWER,
     ingest_model_get,
     "/v1/models/{id}"},
    /* any valid key reads its own limits, whatever its role and scopes */
    {{"GET", "/v1/limits"}, INGEST_SCOPE_ANY, ROLE_VIEWER, ingest_limits_get, "/v1/limits"},
    /* the admin API's own table (admin_routes.c) answers for its paths and methods */
    {{"*", "/admin/v1/{*}"}, INGEST_SCOPE_ADMIN, ROLE_VIEWER, ingest_admin_run, "/admin/v1"},
    {{"GET", "/healthz"}, 0, ROLE_NONE, ingest_healthz, "/healthz"},
    {{"GET", "/readyz"}, 0, ROLE_NONE, ingest_readyz, "/readyz"},
    {{"GET", "/metrics"}, 0, ROLE_NONE, ingest_metrics_page, "/metrics"},
};

const size_t ingest_routes_count = sizeof(ingest_routes) / sizeof(ingest_routes[0]);
