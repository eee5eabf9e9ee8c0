"""The fake providers checked against the official SDKs (openai, anthropic) and plain HTTP
(Gemini): no llmq daemon involved, so this runs in seconds."""
import json
import socket
import time

import anthropic
import openai
import pytest
import requests

from fake_providers import (AnthropicServer, GeminiServer, OpenAIServer, OpenRouterServer,
                            PerplexityServer)

USER = [{"role": "user", "content": "hello there fake world"}]
ECHO = "echo: hello there fake world"


def wait_for(predicate, seconds=5):
    deadline = time.time() + seconds
    while time.time() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return predicate()


def raw_post(url, body, headers, read=True):
    """POST with a raw socket: returns (status line + headers, raw body bytes as sent)."""
    from urllib.parse import urlsplit
    u = urlsplit(url)
    data = json.dumps(body).encode()
    head = [f"POST {u.path}{'?' + u.query if u.query else ''} HTTP/1.1", f"Host: {u.netloc}",
            "Content-Type: application/json", f"Content-Length: {len(data)}", "Connection: close"]
    head += [f"{k}: {v}" for k, v in headers.items()]
    s = socket.create_connection((u.hostname, u.port), timeout=10)
    s.sendall(("\r\n".join(head) + "\r\n\r\n").encode() + data)
    out = b""
    while True:
        b = s.recv(65536)
        if not b:
            break
        out += b
    s.close()
    top, _, rest = out.partition(b"\r\n\r\n")
    return top.decode(), rest


def dechunk(raw):
    """Decode a chunked body; returns (chunks, complete)."""
    chunks = []
    while raw:
        line, _, raw = raw.partition(b"\r\n")
        size = int(line, 16)
        if size == 0:
            return chunks, True
        chunks.append(raw[:size])
        raw = raw[size + 2:]
    return chunks, False


@pytest.fixture()
def oai():
    s = OpenAIServer()
    yield s
    s.close()


@pytest.fixture()
def oai_client(oai):
    return openai.OpenAI(base_url=oai.base_url, api_key=oai.api_key, max_retries=0, timeout=10)


# ---------------------------------------------------------------------------------------------- OpenAI
def test_openai_non_stream(oai, oai_client):
    r = oai_client.chat.completions.create(model="gpt-4o-mini", messages=USER, max_tokens=20)
    assert r.object == "chat.completion"
    assert r.choices[0].message.content == ECHO
    assert r.choices[0].finish_reason == "stop"
    assert r.model == "gpt-4o-mini-2024-08-06"
    assert (r.usage.prompt_tokens, r.usage.completion_tokens, r.usage.total_tokens) == (11, 5, 16)
    path, headers, body = oai.calls[0]
    assert path == "/v1/chat/completions"
    assert headers["authorization"] == f"Bearer {oai.api_key}"
    assert body["max_tokens"] == 20
    assert oai.seen["hello there fake world"] == 1
    assert oai.count() == 1 and oai.count("gpt-4o-mini") == 1 and oai.count("other") == 0
    assert wait_for(lambda: oai.completed == 1)


def test_openai_stream_with_usage_and_framing(oai, oai_client):
    chunks = list(oai_client.chat.completions.create(model="gpt-4o", messages=USER, stream=True,
                                                     stream_options={"include_usage": True}))
    assert chunks[0].choices[0].delta.role == "assistant" and chunks[0].choices[0].delta.content == ""
    deltas = [c.choices[0].delta.content for c in chunks[1:] if c.choices and c.choices[0].delta.content]
    assert deltas == ["echo: ", "hello ", "there ", "fake ", "world"]
    assert "".join(deltas) == ECHO
    assert chunks[-2].choices[0].finish_reason == "stop"
    assert chunks[-1].choices == [] and chunks[-1].usage.completion_tokens == 5
    assert all(c.usage is None for c in chunks[:-1])
    # the wire: chunked, one event per chunk, [DONE] last
    top, raw = raw_post(oai.base_url + "/chat/completions", {"model": "m", "messages": USER, "stream": True},
                        {"Authorization": f"Bearer {oai.api_key}"})
    assert top.startswith("HTTP/1.1 200")
    assert "Transfer-Encoding: chunked" in top and "Content-Type: text/event-stream" in top
    events, complete = dechunk(raw)
    assert complete
    assert all(e.startswith(b"data: ") and e.endswith(b"\n\n") for e in events)
    assert events[-1] == b"data: [DONE]\n\n"
    assert b'"usage"' not in b"".join(events)        # no include_usage: no usage at all
    assert json.loads(events[0][6:])["object"] == "chat.completion.chunk"


def test_openai_events_arrive_over_time(oai, oai_client):
    oai.delay_first_token = 0.3
    oai.token_interval = 0.1
    times = []
    start = time.monotonic()
    for c in oai_client.chat.completions.create(model="m", messages=USER, stream=True):
        if c.choices and c.choices[0].delta.content:
            times.append(time.monotonic() - start)
    assert len(times) == 5
    assert times[0] >= 0.28
    assert times[-1] - times[0] >= 0.35


def test_openai_429_retry_after_then_success(oai):
    client = openai.OpenAI(base_url=oai.base_url, api_key=oai.api_key, max_retries=1, timeout=10)
    start = time.monotonic()
    r = client.chat.completions.create(model="flaky-429", messages=[{"role": "user", "content": "retry me"}])
    assert r.choices[0].message.content == "echo: retry me"
    assert oai.seen["retry me"] == 2
    assert time.monotonic() - start >= 0.9          # Retry-After: 1 honoured
    top, _ = raw_post(oai.base_url + "/chat/completions",
                      {"model": "flaky-429", "messages": [{"role": "user", "content": "again"}]},
                      {"Authorization": f"Bearer {oai.api_key}"})
    assert top.startswith("HTTP/1.1 429")
    assert "Retry-After: 1" in top and "x-ratelimit-remaining-requests: 0" in top


def test_openai_tool_call(oai, oai_client):
    r = oai_client.chat.completions.create(model="tool-call", messages=USER)
    assert r.choices[0].finish_reason == "tool_calls" and r.choices[0].message.content is None
    call = r.choices[0].message.tool_calls[0]
    assert call.function.name == "get_weather" and json.loads(call.function.arguments) == {"city": "Paris"}
    args, name, finish = "", None, None
    for c in oai_client.chat.completions.create(model="tool-call", messages=USER, stream=True):
        for tc in c.choices[0].delta.tool_calls or []:
            name = name or tc.function.name
            args += tc.function.arguments or ""
        finish = c.choices[0].finish_reason or finish
    assert (name, json.loads(args), finish) == ("get_weather", {"city": "Paris"}, "tool_calls")


def test_openai_errors(oai, oai_client):
    bad = openai.OpenAI(base_url=oai.base_url, api_key="sk-wrong-secret-key-123", max_retries=0)
    with pytest.raises(openai.AuthenticationError) as e:
        bad.chat.completions.create(model="m", messages=USER)
    assert e.value.code == "invalid_api_key" and "sk-wrong-secret-key-123" not in str(e.value.body)
    with pytest.raises(openai.InternalServerError) as e:
        oai_client.chat.completions.create(model="always-503", messages=USER)
    assert e.value.status_code == 503 and e.value.type == "server_error"
    with pytest.raises(openai.InternalServerError) as e:
        oai_client.chat.completions.create(model="always-500", messages=USER)
    assert e.value.status_code == 500
    with pytest.raises(openai.BadRequestError) as e:
        oai_client.chat.completions.create(model="bad-request", messages=USER)
    assert e.value.param == "temperature"
    with pytest.raises(openai.APIError, match="The server had an error"):
        list(oai_client.chat.completions.create(model="stream-error-mid", messages=USER, stream=True))


def test_openai_stream_cut(oai, oai_client):
    got = []
    with pytest.raises(openai.APIConnectionError):
        for c in oai_client.chat.completions.create(model="stream-cut", messages=USER, stream=True):
            if c.choices and c.choices[0].delta.content:
                got.append(c.choices[0].delta.content)
    assert got == ["echo: ", "hello "]
    _, raw = raw_post(oai.base_url + "/chat/completions", {"model": "stream-cut", "messages": USER,
                                                           "stream": True},
                      {"Authorization": f"Bearer {oai.api_key}"})
    events, complete = dechunk(raw)
    assert not complete and len(events) == 3 and b"[DONE]" not in raw


def test_openai_down_switch(oai, oai_client):
    oai.down = True
    for _ in range(3):
        with pytest.raises(openai.InternalServerError) as e:
            oai_client.chat.completions.create(model="m", messages=USER)
        assert e.value.status_code == 503
    oai.down = False
    assert oai_client.chat.completions.create(model="m", messages=USER).choices[0].message.content == ECHO
    assert oai.seen["hello there fake world"] == 1     # refused calls are not "seen"
    assert oai.count() == 4


def test_openai_slow_and_malformed(oai, oai_client):
    oai.slow_seconds = 0.4
    start = time.monotonic()
    oai_client.chat.completions.create(model="slow-first-byte", messages=USER)
    assert time.monotonic() - start >= 0.4
    oai.byte_interval = 0.0005
    short = [{"role": "user", "content": "hi"}]
    start = time.monotonic()
    r = oai_client.chat.completions.create(model="slow-bytes", messages=short)
    assert r.choices[0].message.content == "echo: hi" and time.monotonic() - start >= 0.25
    deltas = [c.choices[0].delta.content for c in oai_client.chat.completions.create(
        model="slow-bytes", messages=short, stream=True) if c.choices and c.choices[0].delta.content]
    assert "".join(deltas) == "echo: hi"
    r = requests.post(oai.base_url + "/chat/completions", json={"model": "malformed", "messages": USER},
                      headers={"Authorization": f"Bearer {oai.api_key}"})
    assert r.status_code == 200
    with pytest.raises(ValueError):
        r.json()
    _, raw = raw_post(oai.base_url + "/chat/completions", {"model": "malformed", "messages": USER,
                                                           "stream": True},
                      {"Authorization": f"Bearer {oai.api_key}"})
    events, complete = dechunk(raw)
    bad = []
    for e in events:
        try:
            json.loads(e[6:]) if e != b"data: [DONE]\n\n" else None
        except ValueError:
            bad.append(e)
    assert complete and len(bad) == 1


def test_openai_client_disconnect_is_counted(oai):
    oai.token_interval = 0.3
    r = requests.post(oai.base_url + "/chat/completions", stream=True, timeout=10,
                      json={"model": "m", "messages": USER, "stream": True},
                      headers={"Authorization": f"Bearer {oai.api_key}"})
    first = next(r.iter_lines())
    assert first.startswith(b"data: ")
    r.close()
    assert wait_for(lambda: oai.disconnects == 1)
    assert wait_for(lambda: oai.in_flight == 0)
    assert oai.completed == 0
    # a client that gives up while the server waits for the first token counts too
    oai.delay_first_token = 5
    with pytest.raises(requests.exceptions.ReadTimeout):
        requests.post(oai.base_url + "/chat/completions", timeout=0.3,
                      json={"model": "m", "messages": USER},
                      headers={"Authorization": f"Bearer {oai.api_key}"})
    assert wait_for(lambda: oai.disconnects == 2)


# ---------------------------------------------------------------------------------------------- OpenRouter
def test_openrouter():
    s = OpenRouterServer()
    try:
        assert s.base_url.endswith("/api/v1")
        c = openai.OpenAI(base_url=s.base_url, api_key=s.api_key, max_retries=0,
                          default_headers={"HTTP-Referer": "https://llmq.test", "X-Title": "llmq"})
        r = c.chat.completions.create(model="openai/gpt-4o-mini", messages=USER)
        assert r.choices[0].message.content == ECHO and r.model == "openai/gpt-4o-mini"
        assert r.model_extra["provider"] == "OpenAI" and r.id.startswith("gen-")
        assert s.app_headers == [("https://llmq.test", "llmq")]
        chunks = list(c.chat.completions.create(model="x", messages=USER, stream=True,
                                                stream_options={"include_usage": True}))
        assert "".join(ch.choices[0].delta.content or "" for ch in chunks if ch.choices) == ECHO
        assert chunks[-1].usage.prompt_tokens == 11
        _, raw = raw_post(s.base_url + "/chat/completions", {"model": "x", "messages": USER, "stream": True},
                          {"Authorization": f"Bearer {s.api_key}"})
        events, complete = dechunk(raw)
        assert complete and events[0] == b": OPENROUTER PROCESSING\n\n"
        with pytest.raises(openai.APIStatusError) as e:
            c.chat.completions.create(model="no-credits", messages=USER)
        assert e.value.status_code == 402 and e.value.body["code"] == 402
        with pytest.raises(openai.InternalServerError) as e:
            c.chat.completions.create(model="always-503", messages=USER)
        assert e.value.body["code"] == 503
        with pytest.raises(openai.APIError, match="Provider disconnected"):
            list(c.chat.completions.create(model="stream-error-mid", messages=USER, stream=True))
        _, raw = raw_post(s.base_url + "/chat/completions",
                          {"model": "stream-error-mid", "messages": USER, "stream": True},
                          {"Authorization": f"Bearer {s.api_key}"})
        events, complete = dechunk(raw)
        last = json.loads(events[-1][6:])
        assert last["error"] == {"code": 502, "message": "Provider disconnected"}
        assert last["choices"][0]["finish_reason"] == "error" and b"[DONE]" not in raw
        with pytest.raises(openai.AuthenticationError) as e:
            openai.OpenAI(base_url=s.base_url, api_key="nope", max_retries=0).chat.completions.create(
                model="x", messages=USER)
        assert e.value.body["code"] == 401
    finally:
        s.close()


# ---------------------------------------------------------------------------------------------- Perplexity
def test_perplexity():
    s = PerplexityServer()
    try:
        assert s.base_url == f"http://127.0.0.1:{s.port}"
        c = openai.OpenAI(base_url=s.base_url, api_key=s.api_key, max_retries=0)
        r = c.chat.completions.create(model="sonar", messages=USER)
        assert r.choices[0].message.content == ECHO
        assert r.model_extra["citations"] == PerplexityServer.CITATIONS
        assert r.model_extra["search_results"][0]["url"] == PerplexityServer.CITATIONS[0]
        assert s.calls[0].path == "/chat/completions"
        chunks = list(c.chat.completions.create(model="sonar", messages=USER, stream=True))
        assert all(ch.model_extra["citations"] == PerplexityServer.CITATIONS for ch in chunks)
        assert "".join(ch.choices[0].delta.content or "" for ch in chunks) == ECHO
        assert chunks[-1].choices[0].finish_reason == "stop" and chunks[-1].usage.completion_tokens == 5
        with pytest.raises(openai.AuthenticationError):
            openai.OpenAI(base_url=s.base_url, api_key="nope", max_retries=0).chat.completions.create(
                model="sonar", messages=USER)
    finally:
        s.close()


# ---------------------------------------------------------------------------------------------- Anthropic
@pytest.fixture()
def ant():
    s = AnthropicServer()
    yield s
    s.close()


@pytest.fixture()
def ant_client(ant):
    return anthropic.Anthropic(base_url=ant.origin, api_key=ant.api_key, max_retries=0, timeout=10)


def test_anthropic_non_stream(ant, ant_client):
    assert ant.base_url == ant.origin + "/v1"
    m = ant_client.messages.create(model="claude-x", max_tokens=50, system="be brief", messages=USER)
    assert m.type == "message" and m.role == "assistant" and m.id.startswith("msg_")
    assert m.content[0].type == "text" and m.content[0].text == ECHO
    assert m.stop_reason == "end_turn" and m.stop_sequence is None
    assert (m.usage.input_tokens, m.usage.output_tokens) == (11, 5)
    path, headers, body = ant.calls[0]
    # SDK 2.x sends the key as a bearer token; x-api-key (what llmq sends) is checked below
    assert path == "/v1/messages" and ant.api_key in (headers.get("x-api-key"), (headers.get("authorization") or "")[7:])
    assert headers["anthropic-version"] and body["system"] == "be brief"


def test_anthropic_stream(ant, ant_client):
    texts = []
    with ant_client.messages.stream(model="claude-x", max_tokens=50, messages=USER) as stream:
        for t in stream.text_stream:
            texts.append(t)
        final = stream.get_final_message()
    assert texts == ["echo: ", "hello ", "there ", "fake ", "world"]
    assert final.content[0].text == ECHO and final.stop_reason == "end_turn"
    assert (final.usage.input_tokens, final.usage.output_tokens) == (11, 5)
    _, raw = raw_post(ant.base_url + "/messages", {"model": "c", "max_tokens": 5, "messages": USER,
                                                   "stream": True},
                      {"x-api-key": ant.api_key, "anthropic-version": "2023-06-01"})
    events, complete = dechunk(raw)
    names = [e.split(b"\n")[0].decode() for e in events]
    assert complete and names[:3] == ["event: message_start", "event: content_block_start", "event: ping"]
    assert names[-3:] == ["event: content_block_stop", "event: message_delta", "event: message_stop"]
    start = json.loads(events[0].split(b"\n")[1][6:])
    assert start["message"]["usage"]["output_tokens"] == 1
    delta = json.loads(events[-2].split(b"\n")[1][6:])
    assert delta["delta"] == {"stop_reason": "end_turn", "stop_sequence": None}
    assert delta["usage"]["output_tokens"] == 5


def test_anthropic_errors(ant, ant_client):
    with pytest.raises(anthropic.InternalServerError) as e:
        ant_client.messages.create(model="overloaded", max_tokens=5, messages=USER)
    assert e.value.status_code == 529 and e.value.body["error"]["type"] == "overloaded_error"
    assert type(e.value).__name__ in ("OverloadedError", "InternalServerError")
    with pytest.raises(anthropic.BadRequestError, match="alternate"):
        ant_client.messages.create(model="c", max_tokens=5, messages=USER + USER)
    with pytest.raises(anthropic.BadRequestError, match="first message"):
        ant_client.messages.create(model="c", max_tokens=5, messages=[{"role": "assistant", "content": "hi"}])
    with pytest.raises(anthropic.AuthenticationError, match="invalid x-api-key"):
        anthropic.Anthropic(base_url=ant.origin, api_key="bad", max_retries=0).messages.create(
            model="c", max_tokens=5, messages=USER)
    r = requests.post(ant.base_url + "/messages", json={"model": "c", "messages": USER},
                      headers={"x-api-key": ant.api_key, "anthropic-version": "2023-06-01"})
    assert r.status_code == 400 and r.json()["error"] == {"type": "invalid_request_error",
                                                         "message": "max_tokens: Field required"}
    r = requests.post(ant.base_url + "/messages", json={"model": "c", "max_tokens": 5, "messages": USER},
                      headers={"x-api-key": ant.api_key})
    assert r.status_code == 400 and r.json()["type"] == "error"
    with pytest.raises(anthropic.APIStatusError, match="overloaded_error"):
        with ant_client.messages.stream(model="stream-error-mid", max_tokens=5, messages=USER) as stream:
            for _ in stream.text_stream:
                pass
    with pytest.raises(Exception, match="incomplete chunked read"):      # the SDK leaves httpx's error as is
        with ant_client.messages.stream(model="stream-cut", max_tokens=5, messages=USER) as stream:
            for _ in stream.text_stream:
                pass
    ant.down = True
    with pytest.raises(anthropic.InternalServerError) as e:
        ant_client.messages.create(model="c", max_tokens=5, messages=USER)
    assert e.value.status_code == 503


def test_anthropic_tool_use(ant, ant_client):
    m = ant_client.messages.create(model="tool-use", max_tokens=50, messages=USER,
                                   tools=[{"name": "get_weather", "input_schema": {"type": "object"}}])
    assert m.stop_reason == "tool_use"
    tool = [b for b in m.content if b.type == "tool_use"][0]
    assert tool.name == "get_weather" and tool.input == {"city": "Paris"} and tool.id.startswith("toolu_")
    with ant_client.messages.stream(model="tool-use", max_tokens=50, messages=USER) as stream:
        final = stream.get_final_message()
    assert [b.type for b in final.content] == ["text", "tool_use"]
    assert final.content[1].input == {"city": "Paris"} and final.stop_reason == "tool_use"


# ---------------------------------------------------------------------------------------------- Gemini
@pytest.fixture()
def gem():
    s = GeminiServer()
    yield s
    s.close()


GBODY = {"systemInstruction": {"parts": [{"text": "be brief"}]},
         "contents": [{"role": "user", "parts": [{"text": "hi"}]}, {"role": "model", "parts": [{"text": "yo"}]},
                      {"role": "user", "parts": [{"text": "hello there fake world"}]}],
         "generationConfig": {"maxOutputTokens": 50}}


def test_gemini_non_stream(gem):
    r = requests.post(f"{gem.base_url}/models/gemini-2.0-flash:generateContent", json=GBODY,
                      headers={"x-goog-api-key": gem.api_key})
    assert r.status_code == 200, r.text
    j = r.json()
    cand = j["candidates"][0]
    assert cand["content"] == {"parts": [{"text": ECHO}], "role": "model"} and cand["finishReason"] == "STOP"
    u = j["usageMetadata"]
    assert (u["promptTokenCount"], u["candidatesTokenCount"], u["totalTokenCount"]) == (11, 5, 16)
    assert j["modelVersion"] == "gemini-2.0-flash"
    assert gem.count("gemini-2.0-flash") == 1
    # key in the URL is accepted too; the call records where it came from
    r = requests.post(f"{gem.base_url}/models/m:generateContent?key={gem.api_key}", json=GBODY)
    assert r.status_code == 200 and "key=" in gem.calls[-1].path and "x-goog-api-key" not in gem.calls[-1].headers
    r = requests.post(f"{gem.base_url}/models/m:generateContent", json=GBODY, headers={"x-goog-api-key": "bad"})
    assert r.status_code == 400 and r.json()["error"]["status"] == "INVALID_ARGUMENT"
    assert requests.post(f"{gem.base_url}/models/m:generateContent", json=GBODY).status_code == 403
    r = requests.post(f"{gem.base_url}/models/safety:generateContent", json=GBODY,
                      headers={"x-goog-api-key": gem.api_key})
    assert r.json()["candidates"][0]["finishReason"] == "SAFETY"
    for model, code, status in (("flaky-429", 429, "RESOURCE_EXHAUSTED"), ("always-503", 503, "UNAVAILABLE"),
                                ("always-500", 500, "INTERNAL"), ("bad-request", 400, "INVALID_ARGUMENT")):
        body = dict(GBODY, contents=[{"role": "user", "parts": [{"text": "new prompt " + model}]}])
        r = requests.post(f"{gem.base_url}/models/{model}:generateContent", json=body,
                          headers={"x-goog-api-key": gem.api_key})
        assert (r.status_code, r.json()["error"]["code"], r.json()["error"]["status"]) == (code, code, status)


def sse_data(resp):
    out = []
    for line in resp.iter_lines():
        if line.startswith(b"data: "):
            out.append(json.loads(line[6:]))
    return out


def test_gemini_stream(gem):
    r = requests.post(f"{gem.base_url}/models/gemini-2.0-flash:streamGenerateContent?alt=sse", json=GBODY,
                      headers={"x-goog-api-key": gem.api_key}, stream=True)
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("text/event-stream")
    chunks = sse_data(r)
    assert "".join(c["candidates"][0]["content"]["parts"][0]["text"] for c in chunks) == ECHO
    assert all("finishReason" not in c["candidates"][0] for c in chunks[:-1])
    assert chunks[-1]["candidates"][0]["finishReason"] == "STOP"
    assert chunks[-1]["usageMetadata"]["candidatesTokenCount"] == 5
    # without alt=sse: one JSON array
    r = requests.post(f"{gem.base_url}/models/m:streamGenerateContent", json=GBODY,
                      headers={"x-goog-api-key": gem.api_key})
    assert len(r.json()) == 5
    # stream-cut: truncated body; down: 503 UNAVAILABLE
    with pytest.raises(requests.exceptions.ChunkedEncodingError):
        sse_data(requests.post(f"{gem.base_url}/models/stream-cut:streamGenerateContent?alt=sse", json=GBODY,
                               headers={"x-goog-api-key": gem.api_key}, stream=True))
    gem.down = True
    r = requests.post(f"{gem.base_url}/models/m:streamGenerateContent?alt=sse", json=GBODY,
                      headers={"x-goog-api-key": gem.api_key})
    assert r.status_code == 503 and r.json()["error"]["status"] == "UNAVAILABLE"
    gem.down = False
    chunks = sse_data(requests.post(f"{gem.base_url}/models/stream-error-mid:streamGenerateContent?alt=sse",
                                    json=GBODY, headers={"x-goog-api-key": gem.api_key}, stream=True))
    assert len(chunks) == 3 and chunks[-1]["error"]["code"] == 503
