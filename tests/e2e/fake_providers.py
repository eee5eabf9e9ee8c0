"""Fake LLM provider HTTP servers for tests, speaking each provider's real wire format
(JSON shapes, headers, SSE framing), bad days included. Standard library only.

Every server listens on 127.0.0.1 on a free port, serves HTTP/1.1 from threads, and is
stopped with close(). Point llmq at `server.base_url`:

  class             endpoint(s)                                           base_url
  OpenAIServer      POST /v1/chat/completions                             http://127.0.0.1:PORT/v1
  OpenRouterServer  POST /api/v1/chat/completions                         http://127.0.0.1:PORT/api/v1
  PerplexityServer  POST /chat/completions                                http://127.0.0.1:PORT
  AnthropicServer   POST /v1/messages                                     http://127.0.0.1:PORT/v1
  GeminiServer      POST /v1beta/models/{model}:generateContent           http://127.0.0.1:PORT/v1beta
                    POST /v1beta/models/{model}:streamGenerateContent?alt=sse
                    (without alt=sse it answers a JSON array of chunks, as Google does)

Credentials (constructor argument api_key, defaults below):
  OpenAI/OpenRouter/Perplexity  Authorization: Bearer <key>    ("sk-test-key", "sk-or-v1-test-key", "pplx-test-key")
  Anthropic                     x-api-key: <key> + anthropic-version: <any>   ("sk-ant-test-key");
                                Authorization: Bearer <key> is accepted too, as the real API does
                                (anthropic SDK 2.x sends that); calls[] shows which one came
  Gemini                        x-goog-api-key: <key>, or ?key=<key> in the URL ("AIza-test-key")
A wrong key gives 401 (Gemini: 400 API_KEY_INVALID; no key at all: 403 PERMISSION_DENIED);
the error message never repeats the key in full. Perplexity answers 401 with nginx's HTML
page, as the real one does (a non-JSON error body).

Behaviour by the request's model name (Gemini: the model in the URL path):

  model               non-streaming                        streaming
  ------------------  -----------------------------------  ------------------------------------------
  (any other)         200, content "echo: <last user       one delta per word, spaces kept, so the
                      text>"; usage 11 prompt tokens,      deltas concatenate to the full content;
                      completion tokens = number of words  same usage
  flaky-429           first call per prompt: 429 with      same (the 429 comes before any stream)
                      Retry-After: 1 (OpenAI also
                      x-ratelimit-*, Anthropic
                      anthropic-ratelimit-*, Gemini
                      RetryInfo 1s), later calls: echo
  always-500          500 in the provider's error shape    same
  always-503          503 in the provider's error shape    same
  bad-request         400 in the provider's error shape    same
  stream-cut          echo                                 two deltas, then the socket is closed
                                                           mid-body: no end marker, no final chunk
  stream-error-mid    echo                                 two deltas, then an in-band error, then
                                                           the body ends cleanly (see below)
  slow-first-byte     waits server.slow_seconds (default 3) before the status line, then echo
  slow-bytes          status line and headers at once, then the body one byte every
                      server.byte_interval seconds (default 0.2; a chat.completion is ~300 bytes)
  malformed           200 application/json whose body      a data line that is not JSON after the
                      is truncated JSON                    first delta, then the stream goes on
                                                           to its normal end
  tool-call           OpenAI wires: tool_calls get_weather({"city":"Paris"}), content null,
                      finish_reason "tool_calls" (streamed as tool_calls argument deltas);
                      Gemini: a functionCall part get_weather {"city":"Paris"}
  tool-use            Anthropic: content [text "Let me check the weather.", tool_use get_weather
                      {"city":"Paris"}], stop_reason "tool_use" (streamed with input_json_delta)
  no-credits          OpenRouter: 402 {"error":{"code":402,...}}
  overloaded          Anthropic: 529 overloaded_error
  safety              Gemini: finishReason SAFETY, candidate without content (streamed: one
                      text chunk, then a SAFETY chunk)

In-band stream errors ("stream-error-mid"):
  OpenAI       data: {"error":{"message":"The server had an error while processing your request.","type":"server_error","param":null,"code":null}}
  OpenRouter   data: {"error":{"code":502,"message":"Provider disconnected"},"choices":[{"index":0,"delta":{"content":""},"finish_reason":"error"}]}
  Perplexity   as OpenAI
  Anthropic    event: error / data: {"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}
  Gemini       data: {"error":{"code":503,"message":"The model is overloaded. Please try again later.","status":"UNAVAILABLE"}}
No [DONE] / message_stop / finishReason follows an in-band error.

Stream framing: status 200, Content-Type text/event-stream, Transfer-Encoding: chunked, and
each SSE event is written (and so flushed: the socket writer is unbuffered) as its own HTTP
chunk, so a client really receives events one at a time. A finished stream ends with the
zero-length chunk and the connection stays open for the next request (keep-alive); only
"stream-cut" closes the socket without that last chunk, which a client sees as a truncated
body. OpenAI/OpenRouter/Perplexity end with `data: [DONE]`; Anthropic with message_stop;
Gemini has no end marker (its events are separated by CRLF CRLF, as Google's are).
OpenRouter also writes `: OPENROUTER PROCESSING` comment lines: one before the first chunk
and one a second while it waits for the first token. Usage in OpenAI streams only with
stream_options.include_usage (a last chunk with "choices": [] and every earlier chunk with
"usage": null); OpenRouter also honours "usage": {"include": true}; Perplexity puts usage,
"citations" and "search_results" in its chunks, the usage on the finish chunk.

Server-wide switches (plain attributes, change them any time):
  down = True            every call answers 503 in the provider's shape (until False again)
  delay_first_token = s  seconds before the first streamed delta (non-streaming answers wait
                         delay_first_token + token_interval * (deltas - 1) before answering,
                         as a real provider generates the whole answer first)
  token_interval = s     seconds between streamed deltas
  answer_pieces = [...]  every wire answers "".join(pieces) instead of the echo; the OpenAI
                         wires stream exactly these pieces as their deltas (None: echo)
  slow_seconds = 3, byte_interval = 0.2   (see the table)

What every server records (all under server.lock):
  calls          list of Call(path, headers, body): path with query string, headers a dict
                 whose lookups ignore case, body the parsed JSON (None if it was not JSON);
                 every request is recorded, refused ones too
  seen           {prompt: calls} counted for calls that got past auth, validation and `down`
                 (the prompt is the last user text, whatever the model)
  count(model=None)  calls recorded (for that model)
  disconnects    times a client went away before its answer was complete (while streaming,
                 waiting for the first token, or trickling); detected while the server waits
                 (it watches the socket) and on write errors, never raised out of the thread
  completed      answers (streamed or not, errors too) written to the end; counted just after
                 the last write, so it may lag what the client already holds by a moment
  in_flight      requests being served right now; peak_in_flight, the most at once so far
OpenRouterServer also keeps app_headers: a list of (HTTP-Referer, X-Title) per call.
"""
import collections
import json
import re
import select
import socket
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlsplit

Call = collections.namedtuple("Call", "path headers body")


class Headers(dict):
    """A dict of request headers whose lookups ignore case (keys are stored lower-cased)."""

    def __init__(self, items=()):
        super().__init__()
        for k, v in items:
            self[k] = v

    def __setitem__(self, k, v):
        super().__setitem__(k.lower(), v)

    def __getitem__(self, k):
        return super().__getitem__(k.lower())

    def __contains__(self, k):
        return super().__contains__(k.lower())

    def get(self, k, default=None):
        return super().get(k.lower(), default)


class ClientGone(Exception):
    """The client closed its connection while we were answering."""


class Abort(Exception):
    """Stop answering and close the socket without ending the body (stream-cut)."""


def words(text):
    """Split text into deltas, one per word, spaces kept so they concatenate back to text."""
    pieces = re.findall(r"\S+\s*", text)
    lead = text[:len(text) - len(text.lstrip())]
    if not pieces:
        return [text]
    pieces[0] = lead + pieces[0]
    return pieces


def mask(key):
    """How providers quote a wrong key: a few characters at each end, stars between."""
    key = key or ""
    if len(key) <= 8:
        return "*" * len(key)
    return key[:4] + "*" * (len(key) - 8) + key[-4:]


def compact(obj):
    return json.dumps(obj, separators=(",", ":"))


class Exchange:
    """One request being answered: what was asked and the means to answer it."""

    def __init__(self, fake, handler, path, query, headers, body):
        self.fake = fake
        self.h = handler
        self.path = path
        self.query = query
        self.headers = headers
        self.body = body if isinstance(body, dict) else {}
        self.model = ""
        self.prompt = ""
        self.stream = False
        self.trickle = False        # slow-bytes
        self.streaming = False      # the stream's headers went out
        self.id = uuid.uuid4().hex

    # -- waiting, watching the client -------------------------------------------------------
    def sleep(self, seconds):
        """Sleep, but notice (and raise ClientGone) when the client closes its socket."""
        if seconds < 0.01:      # too short to watch: a write will tell if the client went away
            time.sleep(max(seconds, 0))
            return
        end = time.monotonic() + seconds
        sock = self.h.connection
        while True:
            left = end - time.monotonic()
            if left <= 0:
                return
            step = min(left, 0.05)
            try:
                readable, _, _ = select.select([sock], [], [], step)
            except (OSError, ValueError):
                raise ClientGone()
            if not readable:
                continue
            try:
                data = sock.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT)
            except BlockingIOError:
                continue
            except OSError:
                raise ClientGone()
            if not data:
                raise ClientGone()
            time.sleep(step)        # the client sent more (pipelining): don't spin

    # -- writing ----------------------------------------------------------------------------
    def write(self, data):
        if not self.trickle:
            self.h.wfile.write(data)
            return
        for i in range(len(data)):
            self.h.wfile.write(data[i:i + 1])
            self.sleep(self.fake.byte_interval)

    def send_raw(self, status, data, content_type="application/json", headers=None):
        h = self.h
        h.send_response(status)
        h.send_header("Content-Type", content_type)
        h.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            h.send_header(k, v)
        h.end_headers()
        self.write(data)
        with self.fake.lock:
            self.fake.completed += 1

    def send_json(self, status, obj, headers=None):
        self.send_raw(status, compact(obj).encode(), "application/json", headers)

    def start_stream(self, content_type, headers=None):
        h = self.h
        h.send_response(200)
        h.send_header("Content-Type", content_type)
        h.send_header("Cache-Control", "no-cache")
        h.send_header("Transfer-Encoding", "chunked")
        for k, v in (headers or {}).items():
            h.send_header(k, v)
        h.end_headers()
        self.streaming = True

    def event(self, data):
        """One SSE event (or comment) as its own HTTP chunk."""
        if isinstance(data, str):
            data = data.encode()
        if self.trickle:    # every byte its own chunk, so every byte really arrives alone
            for i in range(len(data)):
                self.h.wfile.write(b"1\r\n" + data[i:i + 1] + b"\r\n")
                self.sleep(self.fake.byte_interval)
            return
        self.h.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))

    def end_stream(self):
        self.h.wfile.write(b"0\r\n\r\n")
        with self.fake.lock:
            self.fake.completed += 1


class StreamPlan:
    """What a stream says: events before the deltas, the deltas, events after them, the
    in-band error event and the garbage line for "malformed"."""

    def __init__(self, opening, deltas, closing, error, garbage, content_type=None):
        self.opening, self.deltas, self.closing = opening, deltas, closing
        self.error, self.garbage = error, garbage
        self.content_type = content_type
        self.tokens = len(deltas)   # completion tokens: one per delta unless the provider says otherwise


class FakeProvider:
    """Shared machinery: the HTTP server, recording, switches and the model-name behaviours.
    A provider subclass supplies routing, auth, validation, error shapes and answers."""

    default_key = "test-key"
    sse_content_type = "text/event-stream; charset=utf-8"

    def __init__(self, api_key=None):
        self.api_key = api_key or self.default_key
        self.lock = threading.Lock()
        self.calls = []
        self.seen = {}
        self.disconnects = 0
        self.completed = 0
        self.in_flight = 0
        self.peak_in_flight = 0
        self.down = False
        self.delay_first_token = 0.0
        self.token_interval = 0.0
        self.answer_pieces = None
        self.slow_seconds = 3.0
        self.byte_interval = 0.2
        self._closing = False
        self._sockets = set()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            server_version = "fake"
            sys_version = ""

            def log_message(self, *args):
                pass

            def setup(self):
                super().setup()
                with fake.lock:
                    fake._sockets.add(self.connection)

            def finish(self):
                try:
                    super().finish()
                except OSError:
                    pass
                with fake.lock:
                    fake._sockets.discard(self.connection)

            def do_POST(self):
                fake._handle(self)

            do_GET = do_PUT = do_DELETE = do_POST

        class Server(ThreadingHTTPServer):
            daemon_threads = True
            block_on_close = False
            request_queue_size = 1024  # a worker opening hundreds of connections at once

            def handle_error(self, request, client_address):
                import sys
                if isinstance(sys.exc_info()[1], OSError):
                    return      # a client that went away between requests: not news
                super().handle_error(request, client_address)

        self.server = Server(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.origin = f"http://127.0.0.1:{self.port}"
        self.base_url = self.origin + self.base_path
        self._thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True,
                                        name=f"{type(self).__name__}:{self.port}")
        self._thread.start()

    base_path = ""

    # -- public helpers -----------------------------------------------------------------------
    def close(self):
        self._closing = True
        self.server.shutdown()
        self.server.server_close()
        with self.lock:
            socks = list(self._sockets)
        for s in socks:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def count(self, model=None):
        with self.lock:
            calls = list(self.calls)
        return sum(1 for c in calls if model is None or self.model_of(c.path, c.body) == model)

    def model_of(self, path, body):
        return body.get("model") if isinstance(body, dict) else None

    # -- hooks for providers ----------------------------------------------------------------
    def route(self, ex):
        """Return True if ex.path is an endpoint; may set ex.model/ex.stream."""
        raise NotImplementedError

    def authorize(self, ex):
        """None, or an answer (status, body, headers) refusing the credentials."""
        raise NotImplementedError

    def validate(self, ex):
        """None, or an error answer for a request the provider would refuse."""
        return None

    def error(self, ex, kind):
        """(status, body, headers) in the provider's shape for kind: bad_request, rate_limit,
        server (500), unavailable (503), not_found, bad_json."""
        raise NotImplementedError

    def special(self, ex):
        """Provider-only model names answering an error: None or (status, body, headers)."""
        return None

    def prompt_of(self, ex):
        raise NotImplementedError

    def answer(self, ex, kind, text, n):
        """The non-streaming body for kind (text, tool, safety)."""
        raise NotImplementedError

    def plan(self, ex, kind, text):
        """The StreamPlan for kind."""
        raise NotImplementedError

    def malformed_body(self, ex):
        return b'{"id":"broken","object":"chat.completion","choices":[{"index":0,"message":{"role":'

    def keepalive_comment(self):
        """An SSE comment some providers send while waiting (OpenRouter), or None."""
        return None

    def stream_headers(self, ex):
        return {}

    def answer_headers(self, ex):
        return {}

    def answer_kind(self, ex):
        return "text"

    # -- the flow common to every provider -----------------------------------------------------
    def _read_body(self, h):
        if "chunked" in (h.headers.get("Transfer-Encoding") or "").lower():
            parts = []
            while True:
                size = int(h.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while h.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    break
                parts.append(h.rfile.read(size))
                h.rfile.readline()
            return b"".join(parts)
        return h.rfile.read(int(h.headers.get("Content-Length") or 0))

    def _handle(self, h):
        with self.lock:
            self.in_flight += 1
            self.peak_in_flight = max(self.peak_in_flight, self.in_flight)
        ex = None
        try:
            raw = self._read_body(h)
            try:
                body = json.loads(raw) if raw else None
            except ValueError:
                body = None
            parts = urlsplit(h.path)
            headers = Headers(h.headers.items())
            ex = Exchange(self, h, parts.path, parse_qs(parts.query), headers, body)
            with self.lock:
                self.calls.append(Call(h.path, headers, body))
            self._serve(ex, raw, body)
        except Abort:
            h.close_connection = True
        except (ClientGone, BrokenPipeError, ConnectionResetError, ConnectionAbortedError):
            h.close_connection = True
            if not self._closing:
                with self.lock:
                    self.disconnects += 1
        finally:
            with self.lock:
                self.in_flight -= 1

    def _refuse(self, ex, answer):
        status, body, headers = answer
        if isinstance(body, bytes):
            ct = (headers or {}).pop("Content-Type", "text/html")
            ex.send_raw(status, body, ct, headers)
        else:
            ex.send_json(status, body, headers)

    def _serve(self, ex, raw, body):
        if ex.h.command != "POST" or not self.route(ex):
            return self._refuse(ex, self.error(ex, "not_found"))
        refusal = self.authorize(ex)
        if refusal:
            return self._refuse(ex, refusal)
        if not isinstance(body, dict):
            return self._refuse(ex, self.error(ex, "bad_json"))
        ex.prompt = self.prompt_of(ex)
        refusal = self.validate(ex)
        if refusal:
            return self._refuse(ex, refusal)
        model = ex.model
        if model == "slow-first-byte":
            ex.sleep(self.slow_seconds)
        if self.down:
            return self._refuse(ex, self.error(ex, "unavailable"))
        with self.lock:
            calls = self.seen[ex.prompt] = self.seen.get(ex.prompt, 0) + 1
        if model == "flaky-429" and calls == 1:
            return self._refuse(ex, self.error(ex, "rate_limit"))
        named = {"always-500": "server", "always-503": "unavailable", "bad-request": "bad_request"}
        if model in named:
            return self._refuse(ex, self.error(ex, named[model]))
        refusal = self.special(ex)
        if refusal:
            return self._refuse(ex, refusal)
        ex.trickle = model == "slow-bytes"
        kind = self.answer_kind(ex)
        text = "".join(self.answer_pieces) if self.answer_pieces else "echo: " + ex.prompt
        if ex.stream:
            return self._stream(ex, kind, text)
        if model == "malformed":
            return ex.send_raw(200, self.malformed_body(ex), "application/json", self.answer_headers(ex))
        plan = self.plan(ex, kind, text)
        n = plan.tokens
        wait = self.delay_first_token + self.token_interval * max(n - 1, 0)
        if wait > 0:
            ex.sleep(wait)
        ex.send_json(200, self.answer(ex, kind, text, n), self.answer_headers(ex))

    def _wait_first_token(self, ex):
        comment = self.keepalive_comment()
        left = self.delay_first_token
        while left > 0:
            step = min(left, 1.0) if comment else left
            ex.sleep(step)
            left -= step
            if comment and left > 0:
                ex.event(comment)

    def _stream(self, ex, kind, text):
        plan = self.plan(ex, kind, text)
        ex.start_stream(plan.content_type or self.sse_content_type, self.stream_headers(ex))
        comment = self.keepalive_comment()
        if comment:
            ex.event(comment)
        for e in plan.opening:
            ex.event(e)
        for i, d in enumerate(plan.deltas):
            if ex.model in ("stream-cut", "stream-error-mid") and i == 2:
                break
            if i == 0:
                self._wait_first_token(ex)
            elif self.token_interval:
                ex.sleep(self.token_interval)
            ex.event(d)
            if ex.model == "malformed" and i == 0:
                ex.event(plan.garbage)
        if ex.model == "stream-cut":
            raise Abort()
        if ex.model == "stream-error-mid":
            ex.event(plan.error)
            return ex.end_stream()
        for e in plan.closing:
            ex.event(e)
        ex.end_stream()


def sse(obj, event=None, sep="\n"):
    data = obj if isinstance(obj, str) else compact(obj)
    return (f"event: {event}{sep}" if event else "") + f"data: {data}{sep}{sep}"


TOOL_ARGS = ['{"city"', ':"Pa', 'ris"}']   # concatenated: {"city":"Paris"}


# =============================================================================================
class OpenAIServer(FakeProvider):
    """OpenAI Chat Completions at /v1/chat/completions."""

    default_key = "sk-test-key"
    base_path = "/v1"
    endpoint = "/v1/chat/completions"
    model_suffix = "-2024-08-06"     # OpenAI answers with the dated snapshot of the model

    def route(self, ex):
        if ex.path != self.endpoint:
            return False
        ex.model = str(ex.body.get("model", ""))
        ex.stream = bool(ex.body.get("stream"))
        return True

    # -- errors ---------------------------------------------------------------------------------
    def err(self, message, type_, param=None, code=None):
        return {"error": {"message": message, "type": type_, "param": param, "code": code}}

    def ratelimit_headers(self, remaining_requests=59):
        return {"x-ratelimit-limit-requests": "60", "x-ratelimit-remaining-requests": str(remaining_requests),
                "x-ratelimit-reset-requests": "1s", "x-ratelimit-limit-tokens": "150000",
                "x-ratelimit-remaining-tokens": "149984" if remaining_requests else "0",
                "x-ratelimit-reset-tokens": "6ms" if remaining_requests else "1s"}

    def authorize(self, ex):
        auth = ex.headers.get("Authorization") or ""
        if not auth.startswith("Bearer ") or not auth[7:].strip():
            return 401, self.err("You didn't provide an API key. You need to provide your API key in an "
                                 "Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).",
                                 "invalid_request_error"), {}
        if auth[7:] != self.api_key:
            return 401, self.err(f"Incorrect API key provided: {mask(auth[7:])}. You can find your API key "
                                 "at https://platform.openai.com/account/api-keys.",
                                 "invalid_request_error", None, "invalid_api_key"), {}
        return None

    def error(self, ex, kind):
        if kind == "not_found":
            return 404, self.err(f"Invalid URL ({ex.h.command} {ex.path})", "invalid_request_error"), {}
        if kind == "bad_json":
            return 400, self.err("We could not parse the JSON body of your request.",
                                 "invalid_request_error"), {}
        if kind == "bad_request":
            return 400, self.err("Invalid value for 'temperature': must be between 0 and 2.",
                                 "invalid_request_error", "temperature", "invalid_value"), {}
        if kind == "rate_limit":
            return 429, self.err(f"Rate limit reached for {ex.model} on requests per min (RPM): Limit 60, "
                                 "Used 60, Requested 1. Please try again in 1s.", "requests", None,
                                 "rate_limit_exceeded"), {"Retry-After": "1", **self.ratelimit_headers(0)}
        if kind == "server":
            return 500, self.err("The server had an error while processing your request. Sorry about that!",
                                 "server_error"), {}
        if kind == "unavailable":
            return 503, self.err("The engine is currently overloaded, please try again later.",
                                 "server_error"), {}
        raise ValueError(kind)

    def validate(self, ex):
        if not ex.body.get("model"):
            return 400, self.err("you must provide a model parameter", "invalid_request_error"), {}
        msgs = ex.body.get("messages")
        if not isinstance(msgs, list) or not msgs:
            return 400, self.err("Missing required parameter: 'messages'.", "invalid_request_error",
                                 "messages", "missing_required_parameter"), {}
        return None

    def prompt_of(self, ex):
        for m in reversed(ex.body.get("messages") or []):
            if isinstance(m, dict) and m.get("role") == "user":
                c = m.get("content")
                if isinstance(c, list):
                    return "".join(p.get("text", "") for p in c if isinstance(p, dict))
                return c if isinstance(c, str) else ""
        return ""

    def answer_kind(self, ex):
        return "tool" if ex.model == "tool-call" else "text"

    def answer_headers(self, ex):
        return {"x-request-id": "req_" + ex.id, "openai-processing-ms": "42", **self.ratelimit_headers()}

    stream_headers = answer_headers

    # -- answers ------------------------------------------------------------------------------
    def completion_id(self, ex):
        return "chatcmpl-" + ex.id[:24]

    def answer_model(self, ex):
        return ex.model + self.model_suffix

    def usage(self, n):
        return {"prompt_tokens": 11, "completion_tokens": n, "total_tokens": 11 + n,
                "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
                "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0,
                                              "accepted_prediction_tokens": 0,
                                              "rejected_prediction_tokens": 0}}

    def tool_call(self, ex):
        return {"id": "call_" + ex.id[:24], "type": "function",
                "function": {"name": "get_weather", "arguments": "".join(TOOL_ARGS)}}

    def decorate(self, ex, obj):
        """Provider extras added to every answer and chunk."""
        obj["system_fingerprint"] = "fp_fake"
        obj["service_tier"] = "default"
        return obj

    def answer(self, ex, kind, text, n):
        if kind == "tool":
            message = {"role": "assistant", "content": None, "tool_calls": [self.tool_call(ex)],
                       "refusal": None, "annotations": []}
            finish = "tool_calls"
        else:
            message = {"role": "assistant", "content": text, "refusal": None, "annotations": []}
            finish = "stop"
        obj = {"id": self.completion_id(ex), "object": "chat.completion", "created": int(time.time()),
               "model": self.answer_model(ex),
               "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": finish}],
               "usage": self.usage(n)}
        return self.decorate(ex, obj)

    def wants_usage(self, ex):
        so = ex.body.get("stream_options")
        return isinstance(so, dict) and bool(so.get("include_usage"))

    def chunk(self, ex, delta, finish=None, choices=True):
        obj = {"id": self.completion_id(ex), "object": "chat.completion.chunk", "created": int(time.time()),
               "model": self.answer_model(ex),
               "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}]
               if choices else []}
        if self.wants_usage(ex):
            obj["usage"] = None
        return self.decorate(ex, obj)

    def stream_error(self, ex):
        return self.err("The server had an error while processing your request. Sorry about that!",
                        "server_error")

    def plan(self, ex, kind, text):
        if kind == "tool":
            call = self.tool_call(ex)
            first = {"role": "assistant", "content": None, "refusal": None,
                     "tool_calls": [{"index": 0, "id": call["id"], "type": "function",
                                     "function": {"name": "get_weather", "arguments": ""}}]}
            deltas = [{"tool_calls": [{"index": 0, "function": {"arguments": a}}]} for a in TOOL_ARGS]
            finish = "tool_calls"
        else:
            first = {"role": "assistant", "content": "", "refusal": None}
            deltas = [{"content": w} for w in (self.answer_pieces or words(text))]
            finish = "stop"
        n = len(deltas)
        closing = [sse(self.finish_chunk(ex, finish, n))]
        if self.wants_usage(ex):
            last = self.chunk(ex, {}, choices=False)
            last["usage"] = self.usage(n)
            closing.append(sse(last))
        closing.append(sse("[DONE]"))
        return StreamPlan([sse(self.chunk(ex, first))], [sse(self.chunk(ex, d)) for d in deltas], closing,
                          sse(self.stream_error(ex)), "data: {\"id\":\"chatcmpl-broken\",\"choices\":[{\n\n")

    def finish_chunk(self, ex, finish, n):
        return self.chunk(ex, {}, finish)


# =============================================================================================
class OpenRouterServer(OpenAIServer):
    """OpenRouter: the OpenAI wire at /api/v1/chat/completions, numeric error codes,
    `: OPENROUTER PROCESSING` comments in streams, errors inside 200 streams, 402 no credits."""

    default_key = "sk-or-v1-test-key"
    base_path = "/api/v1"
    endpoint = "/api/v1/chat/completions"
    model_suffix = ""

    def __init__(self, api_key=None):
        self.app_headers = []
        super().__init__(api_key)

    def route(self, ex):
        ok = super().route(ex)
        if ok:
            with self.lock:
                self.app_headers.append((ex.headers.get("HTTP-Referer"), ex.headers.get("X-Title")))
        return ok

    def oerr(self, code, message, metadata=None):
        e = {"code": code, "message": message}
        if metadata is not None:
            e["metadata"] = metadata
        return {"error": e, "user_id": "user_fake"}

    def authorize(self, ex):
        auth = ex.headers.get("Authorization") or ""
        if not auth.startswith("Bearer ") or not auth[7:].strip():
            return 401, {"error": {"message": "No auth credentials found", "code": 401}}, {}
        if auth[7:] != self.api_key:
            return 401, {"error": {"message": "User not found.", "code": 401}}, {}
        return None

    def error(self, ex, kind):
        if kind == "not_found":
            return 404, {"error": {"message": "Not Found", "code": 404}}, {}
        if kind == "bad_json":
            return 400, self.oerr(400, "Invalid JSON body"), {}
        if kind == "bad_request":
            return 400, self.oerr(400, "Provider returned error",
                                  {"raw": "temperature must be between 0 and 2", "provider_name": "OpenAI"}), {}
        if kind == "rate_limit":
            return 429, self.oerr(429, "Rate limit exceeded: free-models-per-min.",
                                  {"headers": {"X-RateLimit-Limit": "20", "X-RateLimit-Remaining": "0",
                                               "X-RateLimit-Reset": str(int(time.time() * 1000) + 1000)}}), \
                {"Retry-After": "1"}
        if kind == "server":
            return 500, self.oerr(500, "Internal Server Error"), {}
        if kind == "unavailable":
            return 503, self.oerr(503, "No instances available", {"provider_name": None}), {}
        raise ValueError(kind)

    def special(self, ex):
        if ex.model == "no-credits":
            return 402, self.oerr(402, "Insufficient credits. Add more using https://openrouter.ai/credits"), {}
        return None

    def completion_id(self, ex):
        return "gen-" + str(int(time.time())) + "-" + ex.id[:20]

    def answer_headers(self, ex):
        return {}

    stream_headers = answer_headers

    def decorate(self, ex, obj):
        obj["provider"] = "OpenAI"
        for c in obj.get("choices", []):
            c["native_finish_reason"] = c.get("finish_reason")
        return obj

    def usage(self, n):
        return {"prompt_tokens": 11, "completion_tokens": n, "total_tokens": 11 + n}

    def wants_usage(self, ex):
        u = ex.body.get("usage")
        return super().wants_usage(ex) or (isinstance(u, dict) and bool(u.get("include")))

    def keepalive_comment(self):
        return ": OPENROUTER PROCESSING\n\n"

    def stream_error(self, ex):
        return {"error": {"code": 502, "message": "Provider disconnected"},
                "choices": [{"index": 0, "delta": {"content": ""}, "finish_reason": "error"}]}


# =============================================================================================
class PerplexityServer(OpenAIServer):
    """Perplexity: the OpenAI wire at /chat/completions (no /v1), with top-level citations and
    search_results in answers and chunks."""

    default_key = "pplx-test-key"
    base_path = ""
    endpoint = "/chat/completions"
    model_suffix = ""
    CITATIONS = ["https://example.com/one", "https://example.org/two"]

    def authorize(self, ex):
        auth = ex.headers.get("Authorization") or ""
        if auth != f"Bearer {self.api_key}":
            page = (b"<html>\r\n<head><title>401 Authorization Required</title></head>\r\n<body>\r\n"
                    b"<center><h1>401 Authorization Required</h1></center>\r\n<hr><center>openresty/1.25.3"
                    b"</center>\r\n</body>\r\n</html>\r\n")
            return 401, page, {"Content-Type": "text/html"}
        return None

    def perr(self, code, message, type_):
        return {"error": {"message": message, "type": type_, "code": code}}

    def error(self, ex, kind):
        if kind == "not_found":
            return 404, self.perr(404, "Not Found", "not_found"), {}
        if kind == "bad_json":
            return 400, self.perr(400, "Invalid JSON", "bad_request"), {}
        if kind == "bad_request":
            return 400, self.perr(400, "temperature must be in [0, 2)", "bad_request"), {}
        if kind == "rate_limit":
            return 429, self.perr(429, "Rate limit exceeded", "rate_limit_exceeded"), {"Retry-After": "1"}
        if kind == "server":
            return 500, self.perr(500, "Internal server error", "internal_server_error"), {}
        if kind == "unavailable":
            return 503, self.perr(503, "Service temporarily unavailable", "service_unavailable"), {}
        raise ValueError(kind)

    def completion_id(self, ex):
        return str(uuid.UUID(ex.id))

    def answer_headers(self, ex):
        return {}

    stream_headers = answer_headers

    def usage(self, n):
        return {"prompt_tokens": 11, "completion_tokens": n, "total_tokens": 11 + n,
                "search_context_size": "low", "cost": {"total_cost": 0.006}}

    def decorate(self, ex, obj):
        obj["citations"] = list(self.CITATIONS)
        obj["search_results"] = [{"title": f"Result {i + 1}", "url": u, "date": None}
                                 for i, u in enumerate(self.CITATIONS)]
        return obj

    def wants_usage(self, ex):
        return False        # Perplexity has no stream_options: usage rides on the finish chunk

    def finish_chunk(self, ex, finish, n):
        c = self.chunk(ex, {}, finish)
        c["usage"] = self.usage(n)
        return c


# =============================================================================================
class AnthropicServer(FakeProvider):
    """Anthropic Messages API at /v1/messages."""

    default_key = "sk-ant-test-key"
    base_path = "/v1"

    def aerr(self, ex, type_, message):
        return {"type": "error", "error": {"type": type_, "message": message},
                "request_id": "req_" + (ex.id if ex else uuid.uuid4().hex)[:24]}

    def route(self, ex):
        if ex.path != "/v1/messages":
            return False
        ex.model = str(ex.body.get("model", ""))
        ex.stream = bool(ex.body.get("stream"))
        return True

    def authorize(self, ex):
        key = ex.headers.get("x-api-key")
        auth = ex.headers.get("Authorization") or ""
        if not key and auth.startswith("Bearer "):
            key = auth[7:]      # the API takes the key as a bearer token too (what the SDK now sends)
        if not key:
            return 401, self.aerr(ex, "authentication_error", "x-api-key header is required"), {}
        if key != self.api_key:
            return 401, self.aerr(ex, "authentication_error", "invalid x-api-key"), {}
        if not ex.headers.get("anthropic-version"):
            return 400, self.aerr(ex, "invalid_request_error", "anthropic-version: header is required"), {}
        return None

    def error(self, ex, kind):
        if kind == "not_found":
            return 404, self.aerr(ex, "not_found_error", "Not Found"), {}
        if kind == "bad_json":
            return 400, self.aerr(ex, "invalid_request_error", "There was an issue with your request body: "
                                  "it is not valid JSON"), {}
        if kind == "bad_request":
            return 400, self.aerr(ex, "invalid_request_error", "temperature: range: 0..1"), {}
        if kind == "rate_limit":
            reset = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 1))
            return 429, self.aerr(ex, "rate_limit_error", "Number of request tokens has exceeded your "
                                  "per-minute rate limit"), {
                "retry-after": "1", "anthropic-ratelimit-requests-limit": "50",
                "anthropic-ratelimit-requests-remaining": "0", "anthropic-ratelimit-requests-reset": reset}
        if kind == "server":
            return 500, self.aerr(ex, "api_error", "Internal server error"), {}
        if kind == "unavailable":
            return 503, self.aerr(ex, "api_error", "Service unavailable"), {}
        raise ValueError(kind)

    def special(self, ex):
        if ex.model == "overloaded":
            return 529, self.aerr(ex, "overloaded_error", "Overloaded"), {}
        return None

    def validate(self, ex):
        b = ex.body
        if not b.get("model"):
            return 400, self.aerr(ex, "invalid_request_error", "model: Field required"), {}
        if "max_tokens" not in b:
            return 400, self.aerr(ex, "invalid_request_error", "max_tokens: Field required"), {}
        if not isinstance(b["max_tokens"], int) or b["max_tokens"] < 1:
            return 400, self.aerr(ex, "invalid_request_error", "max_tokens: must be at least 1"), {}
        msgs = b.get("messages")
        if not isinstance(msgs, list) or not msgs:
            return 400, self.aerr(ex, "invalid_request_error", "messages: Field required"
                                  if msgs is None else "messages: at least one message is required"), {}
        prev = None
        for i, m in enumerate(msgs):
            role = m.get("role") if isinstance(m, dict) else None
            if role == "system":
                return 400, self.aerr(ex, "invalid_request_error", "messages: Unexpected role \"system\". The "
                                      "Messages API accepts a top-level `system` parameter, not \"system\" as "
                                      "an input message role."), {}
            if role not in ("user", "assistant"):
                return 400, self.aerr(ex, "invalid_request_error",
                                      f"messages.{i}.role: Input should be 'user' or 'assistant'"), {}
            if i == 0 and role != "user":
                return 400, self.aerr(ex, "invalid_request_error",
                                      "messages: first message must use the \"user\" role"), {}
            if role == prev:
                return 400, self.aerr(ex, "invalid_request_error", "messages: roles must alternate between "
                                      f"\"user\" and \"assistant\", but found multiple \"{role}\" roles in a row"), {}
            prev = role
        system = b.get("system")
        if system is not None and not isinstance(system, (str, list)):
            return 400, self.aerr(ex, "invalid_request_error", "system: Input should be a valid string"), {}
        return None

    def prompt_of(self, ex):
        for m in reversed(ex.body.get("messages") or []):
            if isinstance(m, dict) and m.get("role") == "user":
                c = m.get("content")
                if isinstance(c, list):
                    return "".join(p.get("text", "") for p in c if isinstance(p, dict) and p.get("type") == "text")
                return c if isinstance(c, str) else ""
        return ""

    def answer_kind(self, ex):
        return "tool" if ex.model == "tool-use" else "text"

    def answer_headers(self, ex):
        return {"request-id": "req_" + ex.id[:24], "anthropic-organization-id": "org-fake"}

    stream_headers = answer_headers

    def msg_id(self, ex):
        return "msg_" + ex.id[:24]

    def tool_id(self, ex):
        return "toolu_" + ex.id[:24]

    TOOL_TEXT = ["Let me ", "check the weather."]

    def usage(self, input_tokens, output_tokens):
        return {"input_tokens": input_tokens, "output_tokens": output_tokens,
                "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0}

    def answer(self, ex, kind, text, n):
        if kind == "tool":
            content = [{"type": "text", "text": "".join(self.TOOL_TEXT)},
                       {"type": "tool_use", "id": self.tool_id(ex), "name": "get_weather",
                        "input": json.loads("".join(TOOL_ARGS))}]
            stop = "tool_use"
        else:
            content = [{"type": "text", "text": text}]
            stop = "end_turn"
        return {"id": self.msg_id(ex), "type": "message", "role": "assistant", "model": ex.model,
                "content": content, "stop_reason": stop, "stop_sequence": None, "usage": self.usage(11, n)}

    def plan(self, ex, kind, text):
        def ev(name, obj):
            obj = {"type": name, **obj}
            return sse(obj, event=name)

        start = ev("message_start", {"message": {
            "id": self.msg_id(ex), "type": "message", "role": "assistant", "model": ex.model, "content": [],
            "stop_reason": None, "stop_sequence": None, "usage": self.usage(11, 1)}})
        opening = [start, ev("content_block_start", {"index": 0, "content_block": {"type": "text", "text": ""}}),
                   ev("ping", {})]
        if kind == "tool":
            deltas = [ev("content_block_delta", {"index": 0, "delta": {"type": "text_delta", "text": t}})
                      for t in self.TOOL_TEXT]
            deltas[-1] += ev("content_block_stop", {"index": 0}) + ev("content_block_start", {
                "index": 1, "content_block": {"type": "tool_use", "id": self.tool_id(ex), "name": "get_weather",
                                              "input": {}}})
            deltas += [ev("content_block_delta", {"index": 1, "delta": {"type": "input_json_delta",
                                                                         "partial_json": a}}) for a in TOOL_ARGS]
            last_index, stop = 1, "tool_use"
        else:
            deltas = [ev("content_block_delta", {"index": 0, "delta": {"type": "text_delta", "text": w}})
                      for w in words(text)]
            last_index, stop = 0, "end_turn"
        closing = [ev("content_block_stop", {"index": last_index}),
                   ev("message_delta", {"delta": {"stop_reason": stop, "stop_sequence": None},
                                        "usage": {"output_tokens": len(deltas)}}),
                   ev("message_stop", {})]
        error = sse({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}},
                    event="error")
        garbage = "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\n\n"
        return StreamPlan(opening, deltas, closing, error, garbage)

    def malformed_body(self, ex):
        return b'{"id":"msg_broken","type":"message","role":"assistant","content":[{"type":"text","text":"ec'


# =============================================================================================
class GeminiServer(FakeProvider):
    """Google Gemini (Generative Language API) at /v1beta/models/{model}:generateContent and
    :streamGenerateContent?alt=sse."""

    default_key = "AIza-test-key"
    base_path = "/v1beta"
    sse_content_type = "text/event-stream"
    PATH = re.compile(r"^/v1beta/models/([^/:]+):(generateContent|streamGenerateContent)$")

    def model_of(self, path, body):
        m = self.PATH.match(urlsplit(path).path)
        return unquote(m.group(1)) if m else None

    def gerr(self, code, message, status, details=None):
        e = {"code": code, "message": message, "status": status}
        if details:
            e["details"] = details
        return {"error": e}

    def route(self, ex):
        m = self.PATH.match(ex.path)
        if not m:
            return False
        ex.model = unquote(m.group(1))
        ex.stream = m.group(2) == "streamGenerateContent"
        ex.sse = ex.query.get("alt", [""])[0] == "sse"
        return True

    def authorize(self, ex):
        key = ex.headers.get("x-goog-api-key") or (ex.query.get("key") or [None])[0]
        if not key:
            return 403, self.gerr(403, "Method doesn't allow unregistered callers (callers without established "
                                  "identity). Please use API Key or other form of API consumer identity to call "
                                  "this API.", "PERMISSION_DENIED"), {}
        if key != self.api_key:
            return 400, self.gerr(400, "API key not valid. Please pass a valid API key.", "INVALID_ARGUMENT", [
                {"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID",
                 "domain": "googleapis.com", "metadata": {"service": "generativelanguage.googleapis.com"}}]), {}
        return None

    def error(self, ex, kind):
        if kind == "not_found":
            return 404, self.gerr(404, f"models/{ex.model or '?'} is not found for API version v1beta, or is "
                                  "not supported for generateContent.", "NOT_FOUND"), {}
        if kind == "bad_json":
            return 400, self.gerr(400, "Invalid JSON payload received.", "INVALID_ARGUMENT"), {}
        if kind == "bad_request":
            return 400, self.gerr(400, "* GenerateContentRequest.generation_config.temperature: must be in "
                                  "[0, 2]\n", "INVALID_ARGUMENT"), {}
        if kind == "rate_limit":
            return 429, self.gerr(429, "Resource has been exhausted (e.g. check quota).", "RESOURCE_EXHAUSTED", [
                {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "1s"}]), {"Retry-After": "1"}
        if kind == "server":
            return 500, self.gerr(500, "An internal error has occurred. Please retry or report in "
                                  "https://developers.generativeai.google/guide/troubleshooting", "INTERNAL"), {}
        if kind == "unavailable":
            return 503, self.gerr(503, "The model is overloaded. Please try again later.", "UNAVAILABLE"), {}
        raise ValueError(kind)

    def validate(self, ex):
        contents = ex.body.get("contents")
        if not isinstance(contents, list) or not contents:
            return 400, self.gerr(400, "* GenerateContentRequest.contents: contents is not specified\n",
                                  "INVALID_ARGUMENT"), {}
        for c in contents:
            if not isinstance(c, dict) or c.get("role", "user") not in ("user", "model"):
                return 400, self.gerr(400, "Please use a valid role: user, model.", "INVALID_ARGUMENT"), {}
            if not isinstance(c.get("parts"), list) or not c["parts"]:
                return 400, self.gerr(400, "* GenerateContentRequest.contents.parts: contents.parts must not "
                                      "be empty.\n", "INVALID_ARGUMENT"), {}
        gc = ex.body.get("generationConfig")
        if gc is not None and (not isinstance(gc, dict) or not isinstance(gc.get("maxOutputTokens", 1), int)):
            return 400, self.gerr(400, "Invalid value at 'generation_config.max_output_tokens' (TYPE_INT32)",
                                  "INVALID_ARGUMENT"), {}
        return None

    def prompt_of(self, ex):
        for c in reversed(ex.body.get("contents") or []):
            if isinstance(c, dict) and c.get("role", "user") == "user":
                return "".join(p.get("text", "") for p in c.get("parts") or [] if isinstance(p, dict))
        return ""

    def answer_kind(self, ex):
        return {"safety": "safety", "tool-call": "tool"}.get(ex.model, "text")

    def usage(self, n, final=True):
        u = {"promptTokenCount": 11, "totalTokenCount": 11 + (n if final else 0),
             "promptTokensDetails": [{"modality": "TEXT", "tokenCount": 11}]}
        if final:
            u["candidatesTokenCount"] = n
        return u

    SAFETY = [{"category": "HARM_CATEGORY_DANGEROUS_CONTENT", "probability": "HIGH", "blocked": True}]

    def response(self, ex, parts, finish, usage):
        cand = {"index": 0}
        if parts is not None:
            cand["content"] = {"parts": parts, "role": "model"}
        if finish:
            cand["finishReason"] = finish
        if finish == "SAFETY":
            cand["safetyRatings"] = self.SAFETY
        return {"candidates": [cand], "usageMetadata": usage, "modelVersion": ex.model,
                "responseId": ex.id[:22]}

    def answer(self, ex, kind, text, n):
        if kind == "safety":
            return self.response(ex, None, "SAFETY", self.usage(0))
        if kind == "tool":
            part = {"functionCall": {"name": "get_weather", "args": json.loads("".join(TOOL_ARGS))}}
            return self.response(ex, [part], "STOP", self.usage(n))
        return self.response(ex, [{"text": text}], "STOP", self.usage(n))

    def plan(self, ex, kind, text):
        if kind == "safety":
            deltas = [self.response(ex, [{"text": words(text)[0]}], None, self.usage(0, False))]
            closing = [self.response(ex, None, "SAFETY", self.usage(1))]
        elif kind == "tool":
            part = {"functionCall": {"name": "get_weather", "args": json.loads("".join(TOOL_ARGS))}}
            deltas = [self.response(ex, [part], None, self.usage(0, False))]
            closing = [self.response(ex, [{"text": ""}], "STOP", self.usage(1))]
        else:
            pieces = words(text)
            n = len(pieces)
            deltas = [self.response(ex, [{"text": w}], None, self.usage(n, False)) for w in pieces[:-1]]
            closing = [self.response(ex, [{"text": pieces[-1]}], "STOP", self.usage(n))]
        error = self.gerr(503, "The model is overloaded. Please try again later.", "UNAVAILABLE")
        plan = self._encode(ex, deltas, closing, error)
        plan.tokens = len(words(text)) if kind == "text" else 1
        return plan

    def _encode(self, ex, deltas, closing, error):
        if getattr(ex, "sse", True):
            enc = lambda o: sse(o, sep="\r\n")      # noqa: E731  Google separates events by CRLF CRLF
            return StreamPlan([], [enc(o) for o in deltas], [enc(o) for o in closing], enc(error),
                              "data: {\"candidates\": [{\"content\": {\r\n\r\n")
        # no alt=sse: Google streams one JSON array whose elements arrive over time
        items = ["[" + json.dumps(o) if i == 0 else ",\r\n" + json.dumps(o)
                 for i, o in enumerate(deltas + closing)]
        return StreamPlan([], items[:len(deltas)], items[len(deltas):] + ["]"],
                          ",\r\n" + json.dumps(error) + "]", ",\r\n{\"candidates\": [",
                          "application/json; charset=UTF-8")

    def answer_headers(self, ex):
        return {"Server-Timing": "gfet4t7; dur=42", "Vary": "Origin, X-Origin, Referer"}

    stream_headers = answer_headers

    def malformed_body(self, ex):
        return b'{"candidates":[{"content":{"parts":[{"text":"echo'
