/* llmq-kafka-embedded: an in-memory Kafka-compatible cluster (librdkafka's mock cluster)
 * for first runs and benchmarks without a JVM. Prints its bootstrap address and serves
 * until SIGTERM/SIGINT. Data lives in memory only: use a real Kafka for anything durable. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

static void usage(void)
{
    fprintf(stderr,
            "usage: llmq-kafka-embedded [--brokers N] [--partitions N] [--bootstrap-file PATH]\n"
            "Creates the llmq topics (llmq.requests, llmq.cancels, llmq.requests.deferred,\n"
            "llmq.requests.batch, "
            "llmq.responses, llmq.usage, llmq.traces "
            "with N partitions, llmq.requests.dlq with 1) and prints the bootstrap address.\n");
}

int main(int argc, char **argv)
{
    const char *topics[] = {"llmq.requests",       "llmq.cancels",   "llmq.requests.deferred",
                            "llmq.requests.batch", "llmq.responses", "llmq.usage",
                            "llmq.traces"};
    int brokers = 1, partitions = 8, i, sig = 0;
    const char *bootstrap_file = NULL;
    char errstr[256];
    rd_kafka_conf_t *conf;
    rd_kafka_t *rk;
    rd_kafka_mock_cluster_t *mc;
    sigset_t set;

    for (i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--brokers") && i + 1 < argc)
            brokers = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--partitions") && i + 1 < argc)
            partitions = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--bootstrap-file") && i + 1 < argc)
            bootstrap_file = argv[++i];
        else {
            usage();
            return strcmp(argv[i], "--help") == 0 ? 0 : 2;
        }
    }
    if (brokers < 1 || brokers > 9 || partitions < 1 || partitions > 1024) {
        usage();
        return 2;
    }
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set, NULL);

    conf = rd_kafka_conf_new();
    rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
    if (!rk) {
        fprintf(stderr, "llmq-kafka-embedded: %s\n", errstr);
        return 1;
    }
    mc = rd_kafka_mock_cluster_new(rk, brokers);
    if (!mc) {
        fprintf(stderr, "llmq-kafka-embedded: cannot create the cluster\n");
        rd_kafka_destroy(rk);
        return 1;
    }
    for (i = 0; i < (int)(sizeof(topics) / sizeof(topics[0])); i++)
        rd_kafka_mock_topic_create(mc, topics[i], partitions, brokers < 3 ? brokers : 3);
    rd_kafka_mock_topic_create(mc, "llmq.requests.dlq", 1, 1);
    printf("%s\n", rd_kafka_mock_cluster_bootstraps(mc));
    fflush(stdout);
    if (bootstrap_file) {
        FILE *fp = fopen(bootstrap_file, "w");
        if (fp) {
            fprintf(fp, "%s\n", rd_kafka_mock_cluster_bootstraps(mc));
            fclose(fp);
        }
    }
    sigwait(&set, &sig);
    rd_kafka_mock_cluster_destroy(mc);
    rd_kafka_destroy(rk);
    return 0;
}
