#include "ops/llmqctl/commands.h"

#include "ops/llmqctl/audit.h"
#include "ops/llmqctl/conversations.h"
#include "ops/llmqctl/db.h"
#include "ops/llmqctl/dlq_replay.h"
#include "ops/llmqctl/export.h"
#include "ops/llmqctl/keys.h"
#include "ops/llmqctl/limits.h"
#include "ops/llmqctl/policy.h"
#include "ops/llmqctl/provider_keys.h"
#include "ops/llmqctl/tenants.h"
#include "ops/llmqctl/topics.h"

/* group, verb, required arguments, optional arguments, help, what it needs, handler */
static const ctl_command_t rows[] = {
    {"migrate", NULL, "", "", "apply pending database migrations", CTL_PG, ctl_migrate},
    {"tenant", "create", "ID", "--name NAME --tier T", "create a tenant (ID: a-z 0-9 _ -)", CTL_PG,
     ctl_tenant_create},
    {"tenant", "list", "", "", "list tenants", CTL_PG, ctl_tenant_list},
    {"tenant", "set", "ID",
     "--tier T --limits JSON --name N --conversation-retention-days D --request-shards N",
     "change a tenant (limits: e.g. {\"rpm\":600,\"tpd\":null}; D: days, or off; N: "
     "partitions its requests spread over, 1-64)",
     CTL_PG, ctl_tenant_set},
    {"tenant", "disable", "ID", "", "stop every key of a tenant", CTL_PG, ctl_tenant_disable},
    {"tenant", "enable", "ID", "", "let a disabled tenant's keys work again", CTL_PG,
     ctl_tenant_enable},
    {"project", "create", "--tenant T ID", "--name N", "create a project", CTL_PG,
     ctl_project_create},
    {"project", "list", "--tenant T", "", "list a tenant's projects", CTL_PG, ctl_project_list},
    {"project", "disable", "--tenant T ID", "", "stop the project's keys", CTL_PG,
     ctl_project_disable},
    {"project", "set", "--tenant T --limits JSON ID", "", "set a project's limits", CTL_PG,
     ctl_project_set},
    {"user", "create", "--tenant T ID", "--role R --email E --name N", "create a user", CTL_PG,
     ctl_user_create},
    {"user", "list", "--tenant T", "", "list a tenant's users", CTL_PG, ctl_user_list},
    {"user", "disable", "--tenant T ID", "", "stop the user's keys", CTL_PG, ctl_user_disable},
    {"user", "set", "--tenant T --limits JSON ID", "", "set a user's limits", CTL_PG, ctl_user_set},
    {"key", "create", "--tenant T",
     "--role R --project P --user U --scopes chat,jobs,admin --expires-in-days N --name N",
     "create an API key; prints it once", CTL_PG, ctl_key_create},
    {"key", "list", "--tenant T", "", "list a tenant's keys (prefixes only)", CTL_PG, ctl_key_list},
    {"key", "revoke", "KEY_ID", "--tenant T", "revoke a key", CTL_PG, ctl_key_revoke},
    {"key", "set", "--limits JSON KEY_ID", "--tenant T", "set a key's limits", CTL_PG, ctl_key_set},
    {"key", "limits", "KEY_ID", "", "the limits that apply to a key's requests", CTL_PG,
     ctl_key_limits},
    {"tier", "list", "", "", "tiers: weight, default limits per scope", CTL_PG, ctl_tier_list},
    {"tier", "set", "NAME", "--weight N --limits JSON --description TEXT",
     "create or change a tier (options not given keep their values)", CTL_PG, ctl_tier_set},
    {"installation", "set", "--limits JSON", "", "the installation-wide limits", CTL_PG,
     ctl_installation_set},
    {"installation", "show", "", "", "the installation-wide limits", CTL_PG, ctl_installation_show},
    {"provider-key", "set", "--tenant T --endpoint E", "--master-key-file F",
     "store the tenant's own key for an endpoint (read from standard input)", CTL_PG,
     ctl_provider_key_set},
    {"provider-key", "list", "--tenant T", "", "the tenant's provider keys, masked", CTL_PG,
     ctl_provider_key_list},
    {"provider-key", "revoke", "--tenant T ID", "", "stop using a provider key", CTL_PG,
     ctl_provider_key_revoke},
    {"provider-key", "rotate", "--old-key-file F --new-key-file G", "",
     "re-encrypt every provider key under a new master key", CTL_PG, ctl_provider_key_rotate},
    {"policy", "set", "--tenant T JSON", "--project P", "set the prompt policy", CTL_PG,
     ctl_policy_set},
    {"policy", "show", "--tenant T", "", "the tenant's and its projects' policies", CTL_PG,
     ctl_policy_show},
    {"audit", "list", "--tenant T", "--limit N", "the tenant's audit log, newest first", CTL_PG,
     ctl_audit_list},
    {"audit", "verify", "", "--tenant T",
     "verify the audit log's hash chains; exit 1 names the first broken entry", CTL_PG,
     ctl_audit_verify},
    {"conversations", "purge", "--days N", "--tenant T",
     "delete conversations not changed for N days (every tenant's unless --tenant)", CTL_PG,
     ctl_conversations_purge},
    {"export", "usage", "--from T --to T --out FILE", "--tenant T",
     "usage events of [from, to) as an Avro object container file (schema UsageEvent)", CTL_PG,
     ctl_export_usage},
    {"export", "traces", "--from T --to T --out FILE", "--tenant T",
     "traces of [from, to) as an Avro object container file (schema TraceEvent)", CTL_PG,
     ctl_export_traces},
    {"export", "jobs", "--from T --to T --out FILE", "--tenant T",
     "jobs created in [from, to) as an Avro object container file (schema ChatResponse)", CTL_PG,
     ctl_export_jobs},
    {"topics", "create", "",
     "--partitions N --prefix P --replication-factor R --min-insync-replicas M "
     "--max-message-bytes B",
     "create the Kafka topics (P.*; existing ones are left as they are)", CTL_KAFKA,
     ctl_topics_create},
    {"dlq", "replay", "", "--prefix P --max N --dry-run --group G",
     "send dead-lettered requests back as async jobs", CTL_KAFKA, ctl_dlq_replay},
};

const ctl_table_t ctl_commands = {
    "llmqctl [--pg URL] [--brokers HOST:PORT] COMMAND ...",
    rows,
    sizeof(rows) / sizeof(rows[0]),
    "R is a role: viewer, developer (the default), admin or owner; a key's role may\n"
    "also be platform. provider-key set reads the key from standard input and\n"
    "encrypts it with the master key (--master-key-file F, or LLMQ_MASTER_KEY).\n"
    "policy set's JSON, e.g. '{\"kinds\":{\"jwt\":\"allow\"},\"blocked_keywords\":[\"x\"]}'.\n"
    "Limits (docs/limits.md): JSON objects of rpm, rph, rpd, tpm, tpd, usd_per_day,\n"
    "usd_per_month, concurrent; null = no limit, absent = the tier's default. A tier's\n"
    "--limits has one such object per scope: '{\"tenant\":{...},\"user\":{...}}'.\n"
    "topics create: R copies of each partition (default: one per broker, at most 3),\n"
    "M of which must take a write (default 2 with 3 copies, else 1); B is every topic's\n"
    "max.message.bytes (default 1048588, Kafka's: a record of ingest's largest body fits).\n"
    "dlq replay reads P.requests.dlq and writes P.requests; G is the consumer group\n"
    "that remembers how far it got (default llmq-dlq-replay).\n"
    "A command missing an argument it needs says which, with its usage line (exit 2);\n"
    "COMMAND --help prints that line.\n"
    "\n"
    "PostgreSQL comes from --pg or LLMQ_PG_URL; Kafka from --brokers or\n"
    "LLMQ_KAFKA_BROKERS.\n",
};
