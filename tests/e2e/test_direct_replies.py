"""Direct replies: a worker hands a request's reply (a streamed answer's chunks, then the
response) straight to the ingest node that waits for it (HTTP POSTs to the request's
reply_url, one at a time per job) instead of through the node's reply topic; when the node
cannot be reached it falls back to the topic, in order, and nothing is lost.

  - on by default: sync answers and streams come directly (both sides count the pieces), in
    order;
  - an unreachable listener: every answer still arrives, through the topic;
  - off (direct_replies.port=-1): the topic only;
  - the listener takes nothing without its secret path, nor bytes that are not a ChatResponse,
    nor more than its bound, and the API port does not serve it."""
import json

import requests

from conftest import free_port, metric, own_stack, poll


def counter(port, name):
    return metric(f"http://127.0.0.1:{port}", name, 0.0)


def worker_posts(stack, want):
    """The worker's count of direct replies the node took, once it is want (or after 5 s). A
    post's 204 that nothing waits behind is read at the worker's next turn, so the count may
    lag the answer by that turn (at most 100 ms when the worker is idle)."""
    return poll(lambda: counter(worker_admin(stack), "llmq_worker_direct_replies_total"),
                lambda n: n >= want, 5)


def chat(stack, key, text, max_tokens=3):
    return requests.post(f"{stack.url}/v1/chat/completions", headers={"Authorization": f"Bearer {key}"},
                         json={"model": "mock", "max_tokens": max_tokens,
                               "messages": [{"role": "user", "content": text}]}, timeout=30)


def worker_admin(stack):
    return stack.workers[0].settings["admin.port"]


def stream_text(stack, key, text, max_tokens, model="mock"):
    """The streamed answer's text, and whether it ended with [DONE]."""
    with requests.post(f"{stack.url}/v1/chat/completions", headers={"Authorization": f"Bearer {key}"},
                       json={"model": model, "max_tokens": max_tokens, "stream": True,
                             "messages": [{"role": "user", "content": text}]},
                       stream=True, timeout=30) as s:
        assert s.status_code == 200
        body = s.text
    words = [json.loads(line[6:])["choices"][0]["delta"].get("content") or ""
             for line in body.splitlines() if line.startswith("data: {")]
    return "".join(words), body.rstrip().endswith("data: [DONE]")


def test_replies_come_directly_in_order(stack, tenant):
    _, key = tenant
    w0 = counter(worker_admin(stack), "llmq_worker_direct_replies_total")
    i0 = counter(stack.port, "llmq_ingest_direct_replies_total")
    answers = set()
    for i in range(20):
        r = chat(stack, key, f"direct {i}")
        assert r.status_code == 200, r.text
        answers.add(r.json()["choices"][0]["message"]["content"])
    assert "" not in answers
    assert worker_posts(stack, w0 + 20) - w0 == 20
    assert counter(stack.port, "llmq_ingest_direct_replies_total") - i0 == 20
    # a stream: every word, in order, then the end; its pieces posted one after another
    sync = chat(stack, key, "the same prompt", max_tokens=12).json()["choices"][0]["message"]["content"]
    text, done = stream_text(stack, key, "the same prompt", 12)
    assert done and text == sync
    pieces = worker_posts(stack, w0 + 21 + 3) - w0 - 21
    assert pieces >= 3  # chunks and the response
    assert counter(worker_admin(stack), "llmq_worker_direct_reply_fallbacks_total") == 0


def test_unreachable_listener_falls_back_to_the_reply_topic(pg_url, brokers, log_dir):
    # the node tells workers an address nothing listens on: every post fails to connect
    with own_stack(pg_url, brokers, log_dir, "direct", {"direct_replies.host": "127.0.0.2"}) as (s, key):
        for i in range(10):
            r = chat(s, key, f"fallback {i}")
            assert r.status_code == 200, r.text
        text, done = stream_text(s, key, "fallback stream", 8)
        assert done and len(text.split()) == 8
        assert counter(worker_admin(s), "llmq_worker_direct_reply_fallbacks_total") == 11
        assert counter(worker_admin(s), "llmq_worker_direct_replies_total") == 0


def test_off_uses_the_topic_only(pg_url, brokers, log_dir):
    with own_stack(pg_url, brokers, log_dir, "nodirect", {"direct_replies.port": -1}) as (s, key):
        for i in range(5):
            assert chat(s, key, f"topic {i}").status_code == 200
        assert counter(worker_admin(s), "llmq_worker_direct_replies_total") == 0
        assert counter(worker_admin(s), "llmq_worker_direct_reply_fallbacks_total") == 0


def test_listener_takes_nothing_without_its_secret(pg_url, brokers, log_dir):
    port = free_port()
    with own_stack(pg_url, brokers, log_dir, "secret", {"direct_replies.port": port}) as (s, key):
        prefix = s.prefix
        base = f"http://127.0.0.1:{port}"
        assert requests.post(f"{base}/replies/{'0' * 32}", data=b"\xc3\x01" + b"\0" * 20).status_code == 404
        assert requests.post(f"{base}/replies/", data=b"x").status_code == 404
        assert requests.get(f"{base}/").status_code == 404
        # the API port does not serve the listener's path
        assert requests.post(f"{s.url}/replies/{'0' * 32}", data=b"x").status_code == 404
        # the secret is in no log line
        log = s.ingest.log_text()
        assert "/replies/" not in log
        # the node still answers, directly
        assert chat(s, key, "after the probes").status_code == 200
        assert worker_posts(s, 1) == 1
        # with the URL a request carries on Kafka: what is not a ChatResponse is refused, and
        # so is a body over the bound (refused on its declared length, before reading)
        from test_avro_topics import SCHEMAS, decode, read_topic
        msgs = read_topic(brokers, f"{prefix}.requests", lambda ms: len(ms) >= 1)
        url = decode(msgs[0].value(), SCHEMAS["chat_request"])["reply_url"]
        assert url.startswith(f"http://127.0.0.1:{port}/replies/")
        assert requests.post(url, data=b"not avro").status_code == 400
        assert requests.post(url, data=b"\0" * (17 << 20)).status_code == 413
        assert counter(s.port, "llmq_ingest_direct_replies_refused_total") >= 5


def test_provider_streams_come_directly_to_a_node_named_by_host(pg_url, brokers, log_dir):
    # a node named by its host name is posted to through libcurl, and each streamed chunk's
    # post is asked for inside libcurl's callback of the provider's body, where libcurl takes
    # no new transfer: it starts at the worker's next turn, not on the reply topic
    from conftest import create_tenant, openai_stack
    from fake_providers import OpenAIServer

    with OpenAIServer() as fake:
        s = openai_stack(pg_url, brokers, log_dir, fake, "dirhost",
                         ingest_settings={"direct_replies.host": "localhost"})
        try:
            key = create_tenant(pg_url)[1]
            text, done = stream_text(s, key, "one two three four five", 20, model="gpt-4o-mini")
            assert done and text == "echo: one two three four five"
            assert counter(worker_admin(s), "llmq_worker_direct_reply_fallbacks_total") == 0
            assert counter(worker_admin(s), "llmq_worker_direct_replies_total") >= 6
        finally:
            s.stop()
