"""A fake OpenAI Chat Completions server speaking the real wire format, with bad days on
request: the model name picks the behaviour.

  any model            200 chat.completion echoing the last user message
  "flaky-429"          429 with Retry-After: 1 on the first call per prompt, then 200
  "always-503"         503 with an OpenAI error body, every time
  "bad-request"        400 with an OpenAI error body
  "tool-call"          200 whose message has tool_calls and null content
"""
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class FakeOpenAI:
    def __init__(self, api_key="sk-test-key"):
        self.api_key = api_key
        self.requests = []          # (headers, body) of every call
        self.seen = {}              # prompt -> calls, for flaky behaviour
        self.lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def reply(self, status, body, headers=None):
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(data)

            def do_POST(self):
                length = int(self.headers.get("Content-Length", 0))
                body = json.loads(self.rfile.read(length))
                with fake.lock:
                    fake.requests.append((dict(self.headers), body))
                if self.path != "/v1/chat/completions":
                    return self.reply(404, {"error": {"message": "no such path", "type": "invalid_request_error",
                                                      "param": None, "code": None}})
                if self.headers.get("Authorization") != f"Bearer {fake.api_key}":
                    return self.reply(401, {"error": {"message": "Incorrect API key provided: sk-t***",
                                                      "type": "invalid_request_error", "param": None,
                                                      "code": "invalid_api_key"}})
                model = body["model"]
                prompt = body["messages"][-1]["content"]
                with fake.lock:
                    calls = fake.seen[prompt] = fake.seen.get(prompt, 0) + 1
                if model == "flaky-429" and calls == 1:
                    return self.reply(429, {"error": {"message": "Rate limit reached", "type": "requests",
                                                      "param": None, "code": "rate_limit_exceeded"}},
                                      {"Retry-After": "1", "x-ratelimit-remaining-requests": "0"})
                if model == "always-503":
                    return self.reply(503, {"error": {"message": "The engine is currently overloaded",
                                                      "type": "server_error", "param": None, "code": None}})
                if model == "bad-request":
                    return self.reply(400, {"error": {"message": "Invalid value for 'temperature'",
                                                      "type": "invalid_request_error", "param": "temperature",
                                                      "code": "invalid_value"}})
                message = {"role": "assistant", "content": f"echo: {prompt}", "refusal": None}
                finish = "stop"
                if model == "tool-call":
                    message = {"role": "assistant", "content": None, "tool_calls": [
                        {"id": "call_1", "type": "function",
                         "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}}]}
                    finish = "tool_calls"
                self.reply(200, {
                    "id": "chatcmpl-fake123", "object": "chat.completion", "created": int(time.time()),
                    "model": model + "-2024-08-06",
                    "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": finish}],
                    "usage": {"prompt_tokens": 11, "completion_tokens": 7, "total_tokens": 18},
                    "system_fingerprint": "fp_fake"})

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.base_url = f"http://127.0.0.1:{self.port}/v1"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
