"""Scale-out: a second worker doubles what a provider-bound worker drains; workers joining, dying
(SIGKILL) and stopping under load lose no job and count none twice. The same code measures the
full figures in ops/bench-scale.sh (tests/bench/scale_bench.py)."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "bench"))
import scale_bench  # noqa: E402


def test_second_worker_doubles_throughput(pg_url, brokers, log_dir):
    out = scale_bench.part_workers(pg_url, brokers, log_dir, [1, 2], 5)
    bound = scale_bench.SLOTS * 1000 / scale_bench.PROVIDER_MS
    one, two = out["jobs_per_s"][1], out["jobs_per_s"][2]
    # the provider bounds a worker (its slots / the provider's time): llmq is not the limit
    assert one >= 0.75 * bound, out
    assert two >= 1.6 * one, out


def test_workers_join_die_and_stop_under_load(pg_url, brokers, log_dir):
    out = scale_bench.part_membership(pg_url, brokers, log_dir, 3000, 3)
    assert out["succeeded"] == out["usage_rows"] == 3000, out
    assert out["counted_twice"] == 0, out
    # a third worker adds throughput once it has partitions
    assert out["rate_3_workers"] > out["rate_2_workers"], out
    # the group never stops for long: a join is one rebalance, a SIGKILLed worker's
    # partitions wait for its session to time out (10 s) while the others go on
    assert out["pause_after_add_s"] < 10 and out["pause_after_kill_s"] < 10, out


def test_large_tenant_spreads_over_workers(pg_url, brokers, log_dir, db):
    """One tenant's requests share one partition, so one worker, unless the tenant is spread
    over shards (tenants.request_shards): then every worker serves it, and its limits stay
    exact (counted in the limit ledger, not per partition)."""
    stack = scale_bench.make_stack(pg_url, brokers, log_dir, "shard", 2, slots=16, provider_ms=50)
    try:
        stack.start()
        ctl = [os.path.join(scale_bench.BUILD, "llmqctl"), "--pg", pg_url]
        spread, plain = scale_bench.create_tenant(pg_url), scale_bench.create_tenant(pg_url)
        scale_bench.run(ctl + ["tenant", "set", spread[0], "--request-shards", "16",
                               "--limits", '{"rpm": 300}'])
        scale_bench.run(ctl + ["tenant", "set", plain[0], "--limits", '{"rpm": 300}'])
        for tenant_id, key in (spread, plain):
            codes = scale_bench.submit_codes(stack, key, 400)
            assert codes.count(200) == 300 and codes.count(429) == 100, codes
        for tenant_id, want in ((spread[0], 2), (plain[0], 1)):
            rows = scale_bench.poll_rows(
                db, "SELECT worker_id, count(*) FROM traces WHERE tenant_id = %s GROUP BY 1", (tenant_id,), 300)
            assert sum(n for _, n in rows) == 300, rows
            assert len(rows) == want, rows
            assert min(n for _, n in rows) >= 30, rows
    finally:
        stack.stop()
