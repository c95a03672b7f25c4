"""A minimal upstream speaking OpenAI Chat Completions and Anthropic Messages, for the SDK suite.

It keeps every request it gets (`server.requests`, as {"path", "body"}), so tests can check
what the gateway sent. Given tools, it calls one — the named one when `tool_choice` names it,
else the first — with an input made from the tool's schema ([`sample`]), unless the
conversation already ends with a tool result and no tool use is forced: then it answers text.
Asked for `response_format` json_schema (Chat Completions), its text is a JSON value made
from that schema. Streams carry the same answers as deltas."""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

TEXT = ["Hello", " from", " the", " mock", " upstream"]
USAGE = {"input": 1000, "output": 500}
FALLBACK_CALL = ("get_weather", {"city": "Paris"})


def sample(schema, root=None):
    """A value valid for a (simple) JSON schema: strings are "Paris", integers 21, numbers 21.5,
    booleans true, enums their first value; `$ref`s into `$defs` are followed."""
    root = schema if root is None else root
    if not isinstance(schema, dict):
        return "Paris"
    ref = schema.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/"):
        target = root
        for part in ref[2:].split("/"):
            target = target.get(part, {}) if isinstance(target, dict) else {}
        return sample(target, root)
    if "const" in schema:
        return schema["const"]
    if isinstance(schema.get("enum"), list) and schema["enum"]:
        return schema["enum"][0]
    for key in ("anyOf", "oneOf", "allOf"):
        if isinstance(schema.get(key), list) and schema[key]:
            options = [s for s in schema[key] if not (isinstance(s, dict) and s.get("type") == "null")]
            return sample((options or schema[key])[0], root)
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind == "object" or (kind is None and "properties" in schema):
        props = schema.get("properties")
        return {k: sample(v, root) for k, v in props.items()} if isinstance(props, dict) else {}
    if kind == "array":
        return [sample(schema.get("items", {}), root)]
    return {"integer": 21, "number": 21.5, "boolean": True, "null": None}.get(kind, "Paris")


def chunks(text, n=3):
    """`text` in `n` pieces (for deltas)."""
    size = max(1, -(-len(text) // n))
    return [text[i:i + size] for i in range(0, len(text), size)] or [""]


def tool_call(body, openai):
    """The (name, input) of the tool the answer calls, or None for a text answer."""
    try:
        tools = body.get("tools")
        if not tools or not isinstance(tools, list):
            return None
        choice = body.get("tool_choice")
        kind = choice.get("type") if isinstance(choice, dict) else choice
        if kind == "none":
            return None
        named = None
        if isinstance(choice, dict):
            named = choice["function"]["name"] if openai and kind == "function" else choice.get("name")
        forced = kind in ("required", "any", "tool", "function")
        last = (body.get("messages") or [{}])[-1]
        if openai:
            answered = last.get("role") == "tool"
        else:
            content = last.get("content")
            answered = isinstance(content, list) and any(
                isinstance(b, dict) and b.get("type") == "tool_result" for b in content)
        if answered and not forced:
            return None
        specs = [t["function"] if openai else t for t in tools]
        spec = next((s for s in specs if s["name"] == named), specs[0])
        schema = spec.get("parameters" if openai else "input_schema") or {"type": "object"}
        return spec["name"], sample(schema)
    except (AttributeError, KeyError, TypeError, IndexError, RecursionError):
        # An odd body (Schemathesis sends many): the old fixed call.
        return FALLBACK_CALL


def structured_text(body):
    """The JSON text answering a Chat Completions `response_format` json_schema, or None."""
    try:
        f = body.get("response_format")
        if isinstance(f, dict) and f.get("type") == "json_schema":
            return json.dumps(sample(f["json_schema"]["schema"]))
    except (AttributeError, KeyError, TypeError, RecursionError):
        pass
    return None


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
        with self.server.lock:
            self.server.requests.append({"path": self.path, "body": body})
        if not isinstance(body, dict) or not isinstance(body.get("model"), str):
            # As a real provider does with a body it cannot read (Schemathesis sends odd ones).
            return self._bad_request("unreadable request")
        if not isinstance(body.get("stream_options", {}), dict):
            body["stream_options"] = {}
        if self.path.endswith("/chat/completions"):
            self._openai(body, tool_call(body, True))
        elif self.path.endswith("/v1/messages"):
            self._anthropic(body, tool_call(body, False))
        else:
            self.send_error(404)

    def _openai(self, body, call):
        model = body["model"]
        usage = {"prompt_tokens": USAGE["input"], "completion_tokens": USAGE["output"],
                 "total_tokens": USAGE["input"] + USAGE["output"]}
        structured = structured_text(body)
        text = [structured] if structured is not None else TEXT
        if not body.get("stream"):
            if call:
                message = {"role": "assistant", "content": None, "tool_calls": [
                    {"id": "call_1", "type": "function", "function": {"name": call[0], "arguments": json.dumps(call[1])}}]}
                finish = "tool_calls"
            else:
                message = {"role": "assistant", "content": "".join(text)}
                finish = "stop"
            return self._json({"id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": model,
                               "choices": [{"index": 0, "message": message, "finish_reason": finish}], "usage": usage})

        def chunk(delta, finish=None):
            return "data: " + json.dumps({"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1, "model": model,
                                          "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}) + "\n\n"
        if call:
            events = [chunk({"role": "assistant", "content": None, "tool_calls": [{"index": 0, "id": "call_1", "type": "function",
                                                                                   "function": {"name": call[0], "arguments": ""}}]})]
            events += [chunk({"tool_calls": [{"index": 0, "function": {"arguments": a}}]}) for a in chunks(json.dumps(call[1]))]
            events.append(chunk({}, "tool_calls"))
        else:
            pieces = text if structured is None else chunks(structured)
            events = [chunk({"role": "assistant", "content": ""})] + [chunk({"content": t}) for t in pieces] + [chunk({}, "stop")]
        if body.get("stream_options", {}).get("include_usage"):
            events.append("data: " + json.dumps({"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1,
                                                 "model": model, "choices": [], "usage": usage}) + "\n\n")
        events.append("data: [DONE]\n\n")
        self._sse(events)

    def _anthropic(self, body, call):
        model = body["model"]
        if not body.get("stream"):
            if call:
                content = [{"type": "tool_use", "id": "toolu_1", "name": call[0], "input": call[1]}]
                stop = "tool_use"
            else:
                content = [{"type": "text", "text": "".join(TEXT)}]
                stop = "end_turn"
            return self._json({"id": "msg_1", "type": "message", "role": "assistant", "model": model, "content": content,
                               "stop_reason": stop, "stop_sequence": None,
                               "usage": {"input_tokens": USAGE["input"], "output_tokens": USAGE["output"]}})

        def ev(name, data):
            return f"event: {name}\ndata: {json.dumps(data)}\n\n"

        def delta(d):
            return ev("content_block_delta", {"type": "content_block_delta", "index": 0, "delta": d})
        events = [
            ev("message_start", {"type": "message_start", "message": {"id": "msg_1", "type": "message", "role": "assistant",
                "model": model, "content": [], "stop_reason": None, "stop_sequence": None,
                "usage": {"input_tokens": USAGE["input"], "output_tokens": 1}}}),
        ]
        if call:
            block = {"type": "tool_use", "id": "toolu_1", "name": call[0], "input": {}}
            events.append(ev("content_block_start", {"type": "content_block_start", "index": 0, "content_block": block}))
            events += [delta({"type": "input_json_delta", "partial_json": p}) for p in chunks(json.dumps(call[1]))]
            stop = "tool_use"
        else:
            events += [
                ev("content_block_start", {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}),
                ev("ping", {"type": "ping"}),
            ]
            events += [delta({"type": "text_delta", "text": t}) for t in TEXT]
            stop = "end_turn"
        events += [
            ev("content_block_stop", {"type": "content_block_stop", "index": 0}),
            ev("message_delta", {"type": "message_delta", "delta": {"stop_reason": stop, "stop_sequence": None},
                                 "usage": {"output_tokens": USAGE["output"]}}),
            ev("message_stop", {"type": "message_stop"}),
        ]
        self._sse(events)


def start():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.requests = []
    server.lock = threading.Lock()
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"
