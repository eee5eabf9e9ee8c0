/* The size limits on the way into Kafka: the body limit fits the record limit, and a
 * produce error about size is a 413, never a 503. */
#include "ingest/size_limits.h"
#include "testutil.h"

static void test_record_limit(void)
{
    /* the smaller of the producer's and the topic's, less the batch framing */
    CHECK_INT(ingest_record_limit(1000000, 0), 1000000 - INGEST_RECORD_FRAMING);
    CHECK_INT(ingest_record_limit(1000000, 1048588), 1000000 - INGEST_RECORD_FRAMING);
    CHECK_INT(ingest_record_limit(1000000, 200000), 200000 - INGEST_RECORD_FRAMING);
    CHECK_INT(ingest_record_limit(100, 0), 0);
}

static void test_body_limit(void)
{
    size_t rec = ingest_record_limit(1000000, 0);

    /* the default body limit fits librdkafka's default message.max.bytes */
    CHECK_INT(ingest_body_limit_for(983040, rec), 983040);
    /* 1 MiB does not: lowered to what fits with the encoding's headroom */
    CHECK_INT(ingest_body_limit_for(1048576, rec), rec - INGEST_RECORD_HEADROOM);
    CHECK(ingest_body_limit_for(1048576, rec) + INGEST_RECORD_HEADROOM <= rec);
    CHECK_INT(ingest_body_limit_for(4096, 8192), 4096);
}

static void test_too_large_errors(void)
{
    CHECK(ingest_kafka_err_too_large(RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE));
    CHECK(ingest_kafka_err_too_large(RD_KAFKA_RESP_ERR_RECORD_LIST_TOO_LARGE));
    CHECK(!ingest_kafka_err_too_large(RD_KAFKA_RESP_ERR__QUEUE_FULL));
    CHECK(!ingest_kafka_err_too_large(RD_KAFKA_RESP_ERR__MSG_TIMED_OUT));
    CHECK(!ingest_kafka_err_too_large(RD_KAFKA_RESP_ERR_NO_ERROR));
}

int main(void)
{
    test_record_limit();
    test_body_limit();
    test_too_large_errors();
    TEST_DONE();
}
