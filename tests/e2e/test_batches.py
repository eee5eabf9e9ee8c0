"""Files and batches end to end with the official openai SDK (files.create, batches.create,
batches.retrieve, files.content): a batch of good lines, invalid lines and provider failures
completes with the right counts, output and error files, and usage equal to the output's; a
batch is cancelled mid-way; the worker and the sink are killed mid-batch and the result is the
same; a batch past its window ends expired; files are the tenant's own."""
import io
import json
import os
import time
import uuid

import openai
import pytest
import requests

from conftest import Stack, create_tenant, poll, run, BUILD

FINAL = ("completed", "failed", "expired", "cancelled")


@pytest.fixture(scope="module")
def batch_stack(pg_url, brokers, log_dir):
    prefix = "bat" + uuid.uuid4().hex[:6]
    run([os.path.join(BUILD, "llmqctl"), "--brokers", brokers, "topics", "create", "--partitions", "2",
         "--prefix", prefix])
    s = Stack(pg_url, brokers, log_dir, prefix=prefix,
              worker_settings={"mock.latency_ms": 5},
              ingest_settings={"batches.poll_ms": 100, "batches.lines_per_step": 25}).start()
    yield s
    s.stop()


def client_for(stack, key):
    return openai.OpenAI(base_url=f"{stack.url}/v1", api_key=key, max_retries=0, timeout=60)


def batch_lines(n, bad_every=0, fail_every=0, tag="x"):
    """n request lines; every bad_every-th is not a valid request, every fail_every-th asks the
    mock provider to fail (model mock-error)."""
    out = []
    for i in range(n):
        if bad_every and i % bad_every == bad_every - 1:
            out.append(json.dumps({"custom_id": f"{tag}-{i}", "method": "POST", "url": "/v1/chat/completions",
                                   "body": {"model": "mock", "messages": "not a list"}}))
            continue
        model = "mock-error" if fail_every and i % fail_every == fail_every - 1 else "mock"
        out.append(json.dumps({"custom_id": f"{tag}-{i}", "method": "POST", "url": "/v1/chat/completions",
                               "body": {"model": model, "max_tokens": 20,
                                        "messages": [{"role": "user", "content": f"line {i} of {tag}"}]}}))
    return ("\n".join(out) + "\n").encode()


def upload(client, data, name="input.jsonl"):
    return client.files.create(file=(name, io.BytesIO(data)), purpose="batch")


def wait_final(client, batch_id, seconds=120):
    b = poll(lambda: client.batches.retrieve(batch_id), lambda b: b.status in FINAL, seconds, 0.3)
    assert b.status in FINAL, f"batch {batch_id} still {b.status}: {b.request_counts}"
    return b


def jsonl(client, file_id):
    if not file_id:
        return []
    return [json.loads(line) for line in client.files.content(file_id).text.splitlines() if line]


def test_files_upload_list_read_delete(batch_stack, pg_url):
    _, key = create_tenant(pg_url)
    _, other_key = create_tenant(pg_url)
    client, other = client_for(batch_stack, key), client_for(batch_stack, other_key)
    data = batch_lines(3)
    f = upload(client, data, "three.jsonl")
    assert f.object == "file" and f.purpose == "batch" and f.filename == "three.jsonl"
    assert f.bytes == len(data) and f.id.startswith("file-") and f.status == "processed"
    assert f.expires_at - f.created_at == 30 * 86400  # batch files expire after 30 days by default
    assert client.files.retrieve(f.id).bytes == len(data)
    assert client.files.content(f.id).content == data
    assert f.id in [x.id for x in client.files.list(purpose="batch")]
    # another tenant sees nothing of it
    with pytest.raises(openai.NotFoundError):
        other.files.retrieve(f.id)
    with pytest.raises(openai.NotFoundError):
        other.files.content(f.id)
    with pytest.raises(openai.NotFoundError):
        other.files.delete(f.id)
    assert f.id not in [x.id for x in other.files.list()]
    d = client.files.delete(f.id)
    assert d.deleted and d.id == f.id
    with pytest.raises(openai.NotFoundError):
        client.files.retrieve(f.id)


def test_file_expires_after_and_refusals(batch_stack, pg_url):
    _, key = create_tenant(pg_url)
    client = client_for(batch_stack, key)
    f = client.files.create(file=("e.jsonl", io.BytesIO(batch_lines(1))), purpose="batch",
                            expires_after={"anchor": "created_at", "seconds": 3600})
    assert f.expires_at - f.created_at == 3600
    with pytest.raises(openai.BadRequestError) as e:
        client.files.create(file=("e.jsonl", io.BytesIO(b"{}\n")), purpose="fine-tune")
    assert e.value.body["param"] == "purpose"
    with pytest.raises(openai.BadRequestError):
        client.files.create(file=("e.jsonl", io.BytesIO(b"{}\n")), purpose="batch",
                            expires_after={"anchor": "created_at", "seconds": 5})
    # no key: refused before the body is read
    r = requests.post(f"{batch_stack.url}/v1/files", files={"file": ("a.jsonl", b"{}\n")},
                      data={"purpose": "batch"}, timeout=10)
    assert r.status_code == 401 and r.json()["error"]["type"]
    # a key no node has seen (looked up in the database before the body is read): 401
    r = requests.post(f"{batch_stack.url}/v1/files", files={"file": ("a.jsonl", b"{}\n" * 1000)},
                      data={"purpose": "batch"}, headers={"Authorization": "Bearer llmq_bogus_key_1234567890"},
                      timeout=10)
    assert r.status_code == 401
    # chunked: the size must be declared
    r = requests.post(f"{batch_stack.url}/v1/files", headers={"Authorization": f"Bearer {key}",
                                                              "Content-Type": "multipart/form-data; boundary=x"},
                      data=iter([b"--x\r\n", b"--x--\r\n"]), timeout=10)
    assert r.status_code == 411
    # a declared size over the limit: 413 at once
    r = requests.post(f"{batch_stack.url}/v1/files", headers={"Authorization": f"Bearer {key}",
                                                              "Content-Length": str(300 * 1024 * 1024),
                                                              "Content-Type": "multipart/form-data; boundary=x"},
                      data=b"", timeout=10)
    assert r.status_code == 413 and r.json()["error"]["code"] == "file_too_large"
    # not multipart
    r = requests.post(f"{batch_stack.url}/v1/files", headers={"Authorization": f"Bearer {key}"},
                      json={"purpose": "batch"}, timeout=10)
    assert r.status_code == 400 and r.json()["error"]["type"] == "invalid_request_error"


def test_large_file_streams_in_chunks(batch_stack, pg_url, db):
    """A file of several chunks comes back byte for byte; its lines are counted."""
    _, key = create_tenant(pg_url)
    client = client_for(batch_stack, key)
    line = json.dumps({"custom_id": "c", "method": "POST", "url": "/v1/chat/completions",
                       "body": {"model": "mock", "messages": [{"role": "user", "content": "y" * 900}]}})
    data = "\n".join(line.replace('"c"', f'"c{i}"') for i in range(4000)).encode()  # ~4 MB, no last newline
    f = upload(client, data, "big.jsonl")
    assert f.bytes == len(data)
    n_chunks, n_lines = db.execute("SELECT (SELECT count(*) FROM file_chunks WHERE file_id = f.id), f.lines "
                                   "FROM files f WHERE f.id = %s", (f.id,)).fetchone()
    assert n_chunks >= 4 and n_lines == 4000
    assert client.files.content(f.id).content == data


def usage_of_batch(db, batch_id):
    return db.execute("SELECT count(*), coalesce(sum(prompt_tokens), 0), coalesce(sum(completion_tokens), 0) "
                      "FROM usage_events WHERE batch_id = %s", (batch_id,)).fetchone()


def check_result_files(client, b, n, bad_every, fail_every, tag):
    """The output holds every good line once with its completion, the error file every invalid
    and failed line once; together they cover each line of the input once."""
    out, err = jsonl(client, b.output_file_id), jsonl(client, b.error_file_id)
    bad = {f"{tag}-{i}" for i in range(n) if bad_every and i % bad_every == bad_every - 1}
    failing = {f"{tag}-{i}" for i in range(n)
               if fail_every and i % fail_every == fail_every - 1 and f"{tag}-{i}" not in bad}
    assert len(out) + len(err) == n
    assert {x["custom_id"] for x in out} | {x["custom_id"] for x in err} == {f"{tag}-{i}" for i in range(n)}
    for x in out:
        assert x["id"].startswith("batch_req_") and x["error"] is None
        assert x["response"]["status_code"] == 200 and x["response"]["request_id"]
        body = x["response"]["body"]
        assert body["object"] == "chat.completion" and body["choices"][0]["message"]["content"]
        assert x["custom_id"] not in bad | failing
    for x in err:
        if x["custom_id"] in bad:
            assert x["response"] is None and x["error"]["code"] and x["error"]["message"]
        else:
            assert x["custom_id"] in failing
            assert x["response"]["status_code"] == 400
            assert x["response"]["body"]["error"]["code"] == "mock_error"
    return out, err


def test_batch_of_mixed_lines(batch_stack, pg_url, db):
    """The official SDK's batch flow: 1,000 lines with invalid lines and provider failures."""
    _, key = create_tenant(pg_url)
    client = client_for(batch_stack, key)
    n, bad_every, fail_every = 1000, 50, 20
    f = upload(client, batch_lines(n, bad_every, fail_every, "mix"))
    b = client.batches.create(input_file_id=f.id, endpoint="/v1/chat/completions", completion_window="24h",
                              metadata={"job": "nightly"})
    assert b.object == "batch" and b.id.startswith("batch_") and b.status == "validating"
    assert b.metadata == {"job": "nightly"} and b.input_file_id == f.id
    assert b.expires_at - b.created_at == 86400
    b = wait_final(client, b.id)
    assert b.status == "completed", b
    n_bad = n // bad_every
    n_fail = len([i for i in range(n) if i % fail_every == fail_every - 1 and i % bad_every != bad_every - 1])
    assert (b.request_counts.total, b.request_counts.completed, b.request_counts.failed) == \
        (n, n - n_bad - n_fail, n_bad + n_fail)
    assert b.in_progress_at and b.finalizing_at and b.completed_at and b.output_file_id and b.error_file_id
    # invalid lines are named with their line numbers
    lines = sorted(e.line for e in b.errors.data)
    assert lines == [i + 1 for i in range(n) if i % bad_every == bad_every - 1]
    out, err = check_result_files(client, b, n, bad_every, fail_every, "mix")
    # usage: one row per job that ran, and the output's tokens are the batch's
    rows, prompt, completion = usage_of_batch(db, b.id)
    assert rows == n - n_bad
    assert prompt == sum(x["response"]["body"]["usage"]["prompt_tokens"] for x in out)
    assert completion == sum(x["response"]["body"]["usage"]["completion_tokens"] for x in out)
    assert b.usage.input_tokens == prompt and b.usage.output_tokens == completion
    # listed, newest first
    assert client.batches.list(limit=5).data[0].id == b.id


def test_all_failed_batch_is_completed_with_an_error_file(batch_stack, pg_url):
    _, key = create_tenant(pg_url)
    client = client_for(batch_stack, key)
    f = upload(client, batch_lines(10, fail_every=1, tag="allfail"))
    b = wait_final(client, client.batches.create(input_file_id=f.id, endpoint="/v1/chat/completions",
                                                 completion_window="24h").id)
    assert b.status == "completed" and b.output_file_id is None and b.error_file_id
    assert (b.request_counts.completed, b.request_counts.failed) == (0, 10)
    assert len(jsonl(client, b.error_file_id)) == 10


def test_batch_refusals(batch_stack, pg_url):
    _, key = create_tenant(pg_url)
    _, other_key = create_tenant(pg_url)
    client, other = client_for(batch_stack, key), client_for(batch_stack, other_key)
    f = upload(client, batch_lines(2))
    with pytest.raises(openai.BadRequestError):
        client.batches.create(input_file_id=f.id, endpoint="/v1/embeddings", completion_window="24h")
    with pytest.raises(openai.BadRequestError):
        client.batches.create(input_file_id=f.id, endpoint="/v1/chat/completions", completion_window="2d")
    with pytest.raises(openai.NotFoundError):  # another tenant's file
        other.batches.create(input_file_id=f.id, endpoint="/v1/chat/completions", completion_window="24h")
    b = client.batches.create(input_file_id=f.id, endpoint="/v1/chat/completions", completion_window="24h")
    with pytest.raises(openai.NotFoundError):
        other.batches.retrieve(b.id)
    with pytest.raises(openai.NotFoundError):
        other.batches.cancel(b.id)
    assert b.id not in [x.id for x in other.batches.list()]
    b = wait_final(client, b.id)
    with pytest.raises(openai.ConflictError):
        client.batches.cancel(b.id)
    # a file of only invalid lines fails as a whole, with its errors
    bad = upload(client, b"not json\n{\"custom_id\": 1}\n")
    b = wait_final(client, client.batches.create(input_file_id=bad.id, endpoint="/v1/chat/completions",
                                                 completion_window="24h").id)
    assert b.status == "failed" and b.failed_at and b.request_counts.failed == 2
    assert [e.line for e in b.errors.data] == [1, 2]
    assert b.output_file_id is None


@pytest.fixture(scope="module")
def slow_stack(pg_url, brokers, log_dir):
    """A provider that takes 200 ms and a worker that runs 16 calls at once, 4 of them batch
    lines: a batch takes seconds, long enough to cancel it or kill daemons under it."""
    prefix = "bslow" + uuid.uuid4().hex[:6]
    run([os.path.join(BUILD, "llmqctl"), "--brokers", brokers, "topics", "create", "--partitions", "2",
         "--prefix", prefix])
    s = Stack(pg_url, brokers, log_dir, prefix=prefix,
              worker_settings={"mock.latency_ms": 200, "worker.max_inflight": 16,
                               "worker.batch_max_inflight": 4},
              ingest_settings={"batches.poll_ms": 100, "batches.lines_per_step": 50}).start()
    yield s
    s.stop()


def test_cancel_mid_way(slow_stack, pg_url, db):
    _, key = create_tenant(pg_url)
    client = client_for(slow_stack, key)
    f = upload(client, batch_lines(300, tag="cancel"))
    b = client.batches.create(input_file_id=f.id, endpoint="/v1/chat/completions", completion_window="24h")
    poll(lambda: client.batches.retrieve(b.id), lambda x: x.request_counts.completed >= 10, 60, 0.2)
    c = client.batches.cancel(b.id)
    assert c.status == "cancelling" and c.cancelling_at
    b = wait_final(client, b.id, 90)
    assert b.status == "cancelled" and b.cancelled_at
    done = b.request_counts.completed
    assert 10 <= done < 300 and b.request_counts.total == done + b.request_counts.failed
    out, err = jsonl(client, b.output_file_id), jsonl(client, b.error_file_id)
    assert len(out) == done and all(x["response"]["status_code"] == 200 for x in out)
    assert all(x["error"]["code"] == "batch_cancelled" for x in err)
    # usage: exactly the jobs that ended, each once
    rows = db.execute("SELECT count(*), count(DISTINCT job_id) FROM usage_events WHERE batch_id = %s",
                      (b.id,)).fetchone()
    assert rows[0] == rows[1]


def test_interactive_requests_overtake_a_batch(slow_stack, pg_url):
    """While a batch keeps the worker busy, a sync request still runs at once: batch lines hold
    at most worker.batch_max_inflight of its slots."""
    _, key = create_tenant(pg_url)
    client = client_for(slow_stack, key)
    f = upload(client, batch_lines(200, tag="busy"))
    b = client.batches.create(input_file_id=f.id, endpoint="/v1/chat/completions", completion_window="24h")
    poll(lambda: client.batches.retrieve(b.id), lambda x: x.request_counts.completed >= 8, 60, 0.2)
    took = []
    for i in range(5):
        t = time.time()
        client.chat.completions.create(model="mock", messages=[{"role": "user", "content": f"now {i}"}])
        took.append(time.time() - t)
    took.sort()
    assert took[2] < 1.0, took  # 200 ms of provider time, not a place behind 200 lines
    assert client.batches.retrieve(b.id).status == "in_progress"
    client.batches.cancel(b.id)
    wait_final(client, b.id, 90)


def test_kill_worker_sink_and_ingest_mid_batch(slow_stack, pg_url, db):
    """SIGKILL the worker, the sink and the ingest node (whose batch runner holds the batch)
    mid-batch and start them again: every line ends once, usage counts each once."""
    _, key = create_tenant(pg_url)
    client = client_for(slow_stack, key)
    n = 120
    f = upload(client, batch_lines(n, tag="kill"))
    b = client.batches.create(input_file_id=f.id, endpoint="/v1/chat/completions", completion_window="24h")
    poll(lambda: client.batches.retrieve(b.id), lambda x: x.request_counts.completed >= 10, 60, 0.2)
    for d in (slow_stack.workers[0], slow_stack.sink, slow_stack.ingest):
        d.kill()
    time.sleep(1)
    slow_stack.sink.start()
    slow_stack.workers[0].start()
    slow_stack.ingest.start()
    from conftest import wait_http
    wait_http(f"{slow_stack.url}/readyz", 60, slow_stack.ingest)
    b = wait_final(client, b.id, 180)
    assert b.status == "completed", b
    assert (b.request_counts.total, b.request_counts.completed, b.request_counts.failed) == (n, n, 0)
    out = jsonl(client, b.output_file_id)
    assert sorted(x["custom_id"] for x in out) == sorted(f"kill-{i}" for i in range(n))
    rows, distinct = db.execute("SELECT count(*), count(DISTINCT job_id) FROM usage_events WHERE batch_id = %s",
                                (b.id,)).fetchone()
    assert rows == distinct == n


def test_ingest_killed_mid_expansion(batch_stack, pg_url, db):
    """SIGKILL the ingest node while its runner is turning lines into jobs (25 a step): the
    restarted runner goes on from the last queued line, and every line ends once."""
    _, key = create_tenant(pg_url)
    client = client_for(batch_stack, key)
    n = 2000
    f = upload(client, batch_lines(n, tag="exp"))
    b = client.batches.create(input_file_id=f.id, endpoint="/v1/chat/completions", completion_window="24h")
    queued = poll(lambda: db.execute("SELECT lines_queued FROM batches WHERE id = %s", (b.id,)).fetchone()[0],
                  lambda v: v >= 100, 60, 0.02)
    batch_stack.ingest.kill()
    assert queued < n, "the expansion ended before the kill"
    batch_stack.ingest.start()
    from conftest import wait_http
    wait_http(f"{batch_stack.url}/readyz", 60, batch_stack.ingest)
    b = wait_final(client, b.id, 180)
    assert b.status == "completed" and (b.request_counts.total, b.request_counts.completed) == (n, n), b
    out = jsonl(client, b.output_file_id)
    assert sorted(x["custom_id"] for x in out) == sorted(f"exp-{i}" for i in range(n))
    rows, distinct = db.execute("SELECT count(*), count(DISTINCT job_id) FROM usage_events WHERE batch_id = %s",
                                (b.id,)).fetchone()
    assert rows == distinct == n


def test_batch_past_its_window_expires(slow_stack, pg_url):
    """Lines still queued when the window ends are not run: the batch ends expired, the lines
    in its error file with batch_expired."""
    _, key = create_tenant(pg_url)
    client = client_for(slow_stack, key)
    slow_stack.workers[0].stop()
    try:
        f = upload(client, batch_lines(20, tag="late"))
        b = client.batches.create(input_file_id=f.id, endpoint="/v1/chat/completions", completion_window="2s")
        assert b.expires_at - b.created_at == 2
        time.sleep(3)
    finally:
        slow_stack.workers[0].start()
    b = wait_final(client, b.id, 90)
    assert b.status == "expired" and b.expired_at, b
    assert (b.request_counts.total, b.request_counts.completed, b.request_counts.failed) == (20, 0, 20)
    err = jsonl(client, b.error_file_id)
    assert len(err) == 20 and all(x["error"]["code"] == "batch_expired" for x in err)
