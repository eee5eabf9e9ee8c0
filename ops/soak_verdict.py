#!/usr/bin/env python3
"""The verdict of a soak run (ops/soak.sh) from its samples, one JSON object per minute:

    soak_verdict.py SAMPLES WARMUP_S MINUTE_S RSS_PCT LAG_FLOOR ANSWERED PERSISTED FAILED FDS

FDS is {"daemon": [descriptors before the load, after it], ...}. Prints the figures and what
failed; exits 1 when something did."""
import json, sys
path, warmup, minute, rss_pct, lag_floor, answered, persisted, failed, fds = sys.argv[1:]
fds = json.loads(fds)
rows = [json.loads(l) for l in open(path)]
warm = max(1, -(-int(warmup) // int(minute)))  # minutes of warm-up
base, last, after = rows[warm - 1], rows[-1], rows[warm - 1:]
bad = []
for d in ("ingest", "worker", "sink"):
    a, b = base[f"{d}_rss_kb"], last[f"{d}_rss_kb"]
    growth = 100.0 * (b - a) / a
    fd0, fd1 = fds[d]
    print(f"{d}: resident {a // 1024} -> {b // 1024} MiB ({growth:+.1f} %), "
          f"file descriptors {fd0} before the load, {fd1} after it")
    if growth > float(rss_pct):
        bad.append(f"{d}'s resident memory grew {growth:.1f} % after the warm-up")
    if fd1 > fd0 + 16:
        bad.append(f"{d} holds {fd1} file descriptors after the load, {fd0} before it")
for who in ("worker_lag", "sink_lag"):
    lags = [r[who] for r in after]
    if len(lags) > 1 and all(y > x for x, y in zip(lags, lags[1:])) and lags[-1] > int(lag_floor):
        bad.append(f"{who.replace('_', ' ')} rose at every sample: {lags}")
if int(failed):
    bad.append(f"{failed} requests failed")
if int(persisted) != int(answered):
    bad.append(f"{answered} requests answered but {persisted} usage rows persisted")
sync = sorted(r["sync"]["p99_ms"] for r in (rows[warm:] or rows[-1:]))
print(f"answered {answered}, persisted {persisted}, failed {failed}; "
      f"sync p99 per minute after the warm-up: median {sync[len(sync) // 2]:.1f} ms, worst {sync[-1]:.1f} ms")
for b in bad:
    print("FAIL:", b)
print("soak:", "failed" if bad else "passed")
sys.exit(1 if bad else 0)
