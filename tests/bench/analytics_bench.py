#!/usr/bin/env python3
"""How fast the analytics API's queries answer over months of rollups (a benchmark, not a
test): fills usage_hourly and latency_hourly of a scratch tenant with MONTHS months of hourly
rows (MODELS models x KEYS keys each hour) and the daily rollups from them, as the sinks keep
them, runs each analytics function over the whole range REPEAT times (hour buckets over the
last week only: a call over months reads the daily rows), prints the median milliseconds of
each as one JSON object, and removes the rows.

usage: analytics_bench.py PG_URL [MONTHS] [MODELS] [KEYS] [REPEAT]
"""
import json
import statistics
import sys
import time

import psycopg

CALLS = {
    "usage_by_day_and_model": "SELECT analytics_usage(%(c)s, NULL, %(s)s, %(e)s, '1d', 'model')",
    "usage_by_hour_last_week": "SELECT analytics_usage(%(c)s, NULL, %(w)s, %(e)s, '1h', NULL)",
    "usage_total_by_key": "SELECT analytics_usage(%(c)s, NULL, %(s)s, %(e)s, 'total', 'key')",
    "top_keys": "SELECT analytics_top(%(c)s, NULL, %(s)s, %(e)s, 'key', '10')",
    "errors": "SELECT analytics_errors(%(c)s, NULL, %(s)s, %(e)s)",
    "latency_by_model": "SELECT analytics_latency(%(c)s, NULL, %(s)s, %(e)s, 'model')",
}


def main():
    url = sys.argv[1]
    months = int(sys.argv[2]) if len(sys.argv) > 2 else 6
    models = int(sys.argv[3]) if len(sys.argv) > 3 else 10
    keys = int(sys.argv[4]) if len(sys.argv) > 4 else 20
    repeat = int(sys.argv[5]) if len(sys.argv) > 5 else 5
    tenant = "bench-analytics"
    hours = months * 30 * 24
    with psycopg.connect(url, autocommit=True) as db:
        for t in ("usage_hourly", "latency_hourly", "usage_by_day", "latency_by_day"):
            db.execute(f"DELETE FROM {t} WHERE tenant_id = %s", (tenant,))
        for m in range(months + 1):
            db.execute("SELECT analytics_partition_ensure((current_date - make_interval(months => %s))::date)", (m,))
        t = time.perf_counter()
        db.execute("""
            INSERT INTO usage_hourly (hour, tenant_id, project_id, user_id, api_key_id, model, provider,
                                      requests, failed, prompt_tokens, completion_tokens, cost_usd, latency_ms_sum)
            SELECT date_trunc('hour', now(), 'UTC') - make_interval(hours => h), %s, '', '', 'key-' || k,
                   'model-' || mo, 'p' || (mo %% 3), 100, h %% 7, 10000, 5000, 0.25, 2000
              FROM generate_series(0, %s - 1) h, generate_series(1, %s) mo, generate_series(1, %s) k""",
                   (tenant, hours, models, keys))
        db.execute("""
            INSERT INTO latency_hourly (hour, tenant_id, project_id, model, provider, kind, bucket, n)
            SELECT date_trunc('hour', now(), 'UTC') - make_interval(hours => h), %s, '', 'model-' || mo,
                   'p' || (mo %% 3), 'l', b, 10
              FROM generate_series(0, %s - 1) h, generate_series(1, %s) mo, generate_series(60, 90) b""",
                   (tenant, hours, models))
        # the daily rollups the sinks keep alongside
        db.execute("""INSERT INTO usage_by_day SELECT date_trunc('day', hour, 'UTC'), tenant_id, project_id,
                          user_id, api_key_id, model, provider, sum(requests), sum(failed), sum(prompt_tokens),
                          sum(completion_tokens), sum(cost_usd), sum(latency_ms_sum)
                        FROM usage_hourly WHERE tenant_id = %s GROUP BY 1, 2, 3, 4, 5, 6, 7""", (tenant,))
        db.execute("""INSERT INTO latency_by_day SELECT date_trunc('day', hour, 'UTC'), tenant_id, project_id,
                          model, provider, kind, bucket, sum(n)
                        FROM latency_hourly WHERE tenant_id = %s GROUP BY 1, 2, 3, 4, 5, 6, 7""", (tenant,))
        db.execute("ANALYZE usage_by_day")
        db.execute("ANALYZE latency_by_day")
        db.execute("ANALYZE usage_hourly")
        db.execute("ANALYZE latency_hourly")
        fill_s = time.perf_counter() - t
        rows = db.execute("SELECT count(*) FROM usage_hourly WHERE tenant_id = %s", (tenant,)).fetchone()[0]
        now = int(time.time())
        params = {"c": json.dumps({"tenant": tenant}), "s": str(now - hours * 3600), "e": str(now),
                  "w": str(now - 7 * 86400)}
        out = {"months": months, "usage_rows": rows, "fill_seconds": round(fill_s, 1)}
        for name, sql in CALLS.items():
            times = []
            for _ in range(repeat):
                t = time.perf_counter()
                db.execute(sql, params).fetchone()
                times.append((time.perf_counter() - t) * 1000.0)
            out[name + "_ms"] = round(statistics.median(times), 1)
        for t in ("usage_hourly", "latency_hourly", "usage_by_day", "latency_by_day"):
            db.execute(f"DELETE FROM {t} WHERE tenant_id = %s", (tenant,))
    print(json.dumps(out))


if __name__ == "__main__":
    main()
