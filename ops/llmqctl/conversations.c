#include "ops/llmqctl/conversations.h"

#include <stdio.h>

#include "ops/llmqctl/db.h"

int ctl_conversations_purge(const ctl_call_t *c)
{
    const char *params[2] = {ctl_opt(c, "--tenant"), ctl_opt(c, "--days")};
    PGresult *res = ctl_query(c->conn, "SELECT conversations_purge($1, $2::int)", 2, params);

    if (!res)
        return 1;
    printf("%s conversation(s) deleted\n", PQgetvalue(res, 0, 0));
    PQclear(res);
    return 0;
}
