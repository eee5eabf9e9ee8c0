#include "ops/llmqctl/topics.h"

#include <stdio.h>
#include <stdlib.h>

#include "common/kafka.h"

/* llmq's topics, P.<suffix>. The dead letters have one partition: they are read rarely and in
 * order. cancels and requests.deferred have as many as requests: the worker that owns a
 * tenant's partition of one owns it in the others (range assignment), so it sees that
 * tenant's cancellations, the requests it set aside and its batch jobs. */
static const struct {
    const char *suffix;
    int single;
} topics[] = {{"requests", 0},
              {"responses", 0},
              {"usage", 0},
              {"traces", 0},
              {"requests.dlq", 1},
              {"cancels", 0},
              {"requests.deferred", 0},
              {"requests.batch", 0}};

#define N_TOPICS (sizeof(topics) / sizeof(topics[0]))

int ctl_topics_create(const ctl_call_t *c)
{
    lq_kafka_spec_t spec = {.role = LQ_KAFKA_ADMIN, .brokers = c->brokers, .client_id = "llmqctl"};
    int parts = atoi(ctl_opt_or(c, "--partitions", "8")), partitions[N_TOPICS];
    char n[N_TOPICS][256], errstr[512];
    const char *names[N_TOPICS];
    rd_kafka_t *rk;
    size_t k;
    int rc = 0;

    if (parts < 1)
        return ctl_fail(2, "--partitions must be at least 1");
    for (k = 0; k < N_TOPICS; k++) {
        snprintf(n[k], sizeof(n[k]), "%s.%s", ctl_opt_or(c, "--prefix", "llmq"), topics[k].suffix);
        names[k] = n[k];
        partitions[k] = topics[k].single ? 1 : parts;
    }
    rk = lq_kafka_new(&spec, errstr, sizeof(errstr));
    if (!rk)
        return ctl_fail(1, "%s", errstr);
    if (lq_kafka_create_topics(rk, names, partitions, N_TOPICS, NULL, 15000, errstr,
                               sizeof(errstr)))
        rc = ctl_fail(1, "%s", errstr);
    else
        printf("topics ready: %s, %s, %s, %s, %s, %s (%d partitions), %s\n", n[0], n[5], n[6], n[1],
               n[2], n[3], parts, n[4]);
    rd_kafka_destroy(rk);
    return rc;
}
