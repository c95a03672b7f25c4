"""A minimal upstream speaking OpenAI Chat Completions and Anthropic Messages, for the SDK suite."""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

TEXT = ["Hello", " from", " the", " mock", " upstream"]
USAGE = {"input": 1000, "output": 500}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def _json(self, body):
        data = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _sse(self, events):
        self.send_response(200)
        self.send_header("content-type", "text/event-stream")
        self.send_header("connection", "close")
        self.end_headers()
        for e in events:
            self.wfile.write(e.encode())
            self.wfile.flush()
        self.close_connection = True

    def _bad_request(self, message):
        data = json.dumps({"type": "error", "error": {"type": "invalid_request_error", "message": message}}).encode()
        self.send_response(400)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["content-length"])))
        if not isinstance(body, dict) or not isinstance(body.get("model"), str):
            # As a real provider does with a body it cannot read (Schemathesis sends odd ones).
            return self._bad_request("unreadable request")
        if not isinstance(body.get("stream_options", {}), dict):
            body["stream_options"] = {}
        tools = bool(body.get("tools"))
        if self.path.endswith("/chat/completions"):
            self._openai(body, tools)
        elif self.path.endswith("/v1/messages"):
            self._anthropic(body, tools)
        else:
            self.send_error(404)

    def _openai(self, body, tools):
        model = body["model"]
        usage = {"prompt_tokens": USAGE["input"], "completion_tokens": USAGE["output"],
                 "total_tokens": USAGE["input"] + USAGE["output"]}
        if not body.get("stream"):
            if tools:
                message = {"role": "assistant", "content": None, "tool_calls": [
                    {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\": \"Paris\"}"}}]}
                finish = "tool_calls"
            else:
                message = {"role": "assistant", "content": "".join(TEXT)}
                finish = "stop"
            return self._json({"id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": model,
                               "choices": [{"index": 0, "message": message, "finish_reason": finish}], "usage": usage})

        def chunk(delta, finish=None):
            return "data: " + json.dumps({"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1, "model": model,
                                          "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}) + "\n\n"
        events = [chunk({"role": "assistant", "content": ""})] + [chunk({"content": t}) for t in TEXT] + [chunk({}, "stop")]
        if body.get("stream_options", {}).get("include_usage"):
            events.append("data: " + json.dumps({"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1,
                                                 "model": model, "choices": [], "usage": usage}) + "\n\n")
        events.append("data: [DONE]\n\n")
        self._sse(events)

    def _anthropic(self, body, tools):
        model = body["model"]
        if not body.get("stream"):
            if tools:
                content = [{"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "Paris"}}]
                stop = "tool_use"
            else:
                content = [{"type": "text", "text": "".join(TEXT)}]
                stop = "end_turn"
            return self._json({"id": "msg_1", "type": "message", "role": "assistant", "model": model, "content": content,
                               "stop_reason": stop, "stop_sequence": None,
                               "usage": {"input_tokens": USAGE["input"], "output_tokens": USAGE["output"]}})

        def ev(name, data):
            return f"event: {name}\ndata: {json.dumps(data)}\n\n"
        events = [
            ev("message_start", {"type": "message_start", "message": {"id": "msg_1", "type": "message", "role": "assistant",
                "model": model, "content": [], "stop_reason": None, "stop_sequence": None,
                "usage": {"input_tokens": USAGE["input"], "output_tokens": 1}}}),
            ev("content_block_start", {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}),
            ev("ping", {"type": "ping"}),
        ]
        events += [ev("content_block_delta", {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": t}}) for t in TEXT]
        events += [
            ev("content_block_stop", {"type": "content_block_stop", "index": 0}),
            ev("message_delta", {"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                                 "usage": {"output_tokens": USAGE["output"]}}),
            ev("message_stop", {"type": "message_stop"}),
        ]
        self._sse(events)


def start():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"
