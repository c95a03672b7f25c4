"""The official `openai` SDK drives `POST /v1/responses` — plain, streamed, function tools across
two turns, `text.format` json_schema parsed by the SDK, refusals — against a model behind each
kind of provider (the upstream speaks Chat Completions or Messages). Every answer and event is
also validated strictly against the SDK's own types, which the SDK itself does not do (it builds
its objects without checking); `usage` is checked apart, in `test_usage_is_the_sdk_usage_type`."""

import json
import typing
import uuid
from typing import Literal

import openai
import pydantic
import pytest
from openai.types.responses import Response, ResponseStreamEvent, ResponseUsage

MODELS = ["sdk-oa", "sdk-an"]  # behind an OpenAI-kind and an Anthropic-kind provider
UPSTREAM_PATH = {"sdk-oa": "/v1/chat/completions", "sdk-an": "/v1/messages"}
TEXT = "Hello from the mock upstream"
COST = "0.005000"  # 1000 input × $2 + 500 output × $6, per 1M tokens
TOOLS = [{"type": "function", "name": "get_weather", "description": "Weather for a city",
          "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                         "required": ["city"], "additionalProperties": False}}]
# The SDK's event types by their `type`.
EVENT_TYPES = {typing.get_args(cls.model_fields["type"].annotation)[0]: cls
               for cls in typing.get_args(typing.get_args(ResponseStreamEvent)[0])}


class Weather(pydantic.BaseModel):
    city: str
    temperature_c: int
    sky: Literal["sunny", "cloudy"]


# What the mock upstream makes from Weather's schema.
PARIS = Weather(city="Paris", temperature_c=21, sky="sunny")


@pytest.fixture
def oai(base_url, api_key):
    return openai.OpenAI(base_url=f"{base_url}/v1", api_key=api_key, max_retries=0)


def marker():
    """A word to put in the input, to find the request the upstream got for this call."""
    return f"m{uuid.uuid4().hex[:12]}"


def without_usage(response):
    """A response's fields, `usage` left out (checked by `test_usage_is_the_sdk_usage_type`)."""
    return dict(response, usage=None)


def strict(response):
    """Validates a response as the SDK's `Response` type would if it validated; returns it."""
    Response.model_validate(without_usage(response.to_dict(warnings=False)))
    return response


def check_events(events):
    """Every event is an SDK event type with all its fields valid; sequence numbers count up."""
    for i, e in enumerate(events):
        event = e.to_dict(warnings=False)
        event.pop("snapshot", None)  # added by the SDK's stream helper
        if "response" in event:
            event["response"] = without_usage(event["response"])
        assert event["type"] in EVENT_TYPES, event["type"]
        EVENT_TYPES[event["type"]].model_validate(event)
        assert e.sequence_number == i, (i, e.type)


def check_usage(response, record):
    """The response's usage is the mock's, and the gateway's record of the call says the same."""
    assert (response.usage.input_tokens, response.usage.output_tokens, response.usage.total_tokens) == (1000, 500, 1500)
    assert record["input_tokens"] == response.usage.input_tokens
    assert record["output_tokens"] == response.usage.output_tokens
    assert record["endpoint"] == "openai_responses"
    assert record["status"] == "ok"
    assert record["cost_usd"] == COST


@pytest.mark.parametrize("model", MODELS)
def test_responses_create(oai, generation, upstream_request, model):
    m = marker()
    raw = oai.responses.with_raw_response.create(model=model, input=f"Say hello {m}", instructions="be brief",
                                                 max_output_tokens=100)
    resp = strict(raw.parse())
    assert resp.output_text == TEXT
    assert resp.status == "completed"
    assert resp.model == model
    assert resp.id.startswith("resp_")
    assert resp.instructions == "be brief"
    assert [item.type for item in resp.output] == ["message"]
    assert raw.headers["x-tollgate-cost"] == COST
    record = generation(raw.headers["x-request-id"])
    check_usage(resp, record)
    assert record["streamed"] is False

    seen = upstream_request(m)
    assert seen["path"] == UPSTREAM_PATH[model]
    if model == "sdk-oa":
        assert seen["body"]["messages"][0] == {"role": "system", "content": "be brief"}
    else:
        assert seen["body"]["system"] == "be brief"
    assert seen["body"]["max_tokens"] == 100


@pytest.mark.parametrize("model", MODELS)
def test_responses_stream_helper(oai, model):
    with oai.responses.stream(model=model, input="Say hello", instructions="be brief") as stream:
        events = list(stream)
        final = strict(stream.get_final_response())
    check_events(events)
    text = "".join(e.delta for e in events if e.type == "response.output_text.delta")
    assert text == TEXT
    assert final.output_text == TEXT
    assert final.status == "completed"
    assert (final.usage.input_tokens, final.usage.output_tokens) == (1000, 500)


@pytest.mark.parametrize("model", MODELS)
def test_responses_create_stream_event_sequence(oai, generation, model):
    raw = oai.responses.with_raw_response.create(model=model, input="Say hello", stream=True)
    events = list(raw.parse())
    check_events(events)
    assert [e.type for e in events] == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
        *["response.output_text.delta"] * 5,  # one a chunk of the mock's text
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.completed",
    ]
    assert events[0].response.status == "in_progress"
    done = events[-1].response
    strict(done)
    assert done.status == "completed"
    assert done.output_text == TEXT
    assert events[-4].text == TEXT
    record = generation(raw.headers["x-request-id"])
    check_usage(done, record)
    assert record["streamed"] is True


@pytest.mark.parametrize("model", MODELS)
def test_function_tools_across_two_turns(oai, generation, upstream_request, model):
    m = marker()
    conversation = [{"role": "user", "content": f"What is the weather in Paris? {m}"}]
    first = strict(oai.responses.create(model=model, input=conversation, tools=TOOLS))
    assert [item.type for item in first.output] == ["function_call"]
    call = first.output[0]
    assert call.name == "get_weather"
    assert json.loads(call.arguments) == {"city": "Paris"}
    assert call.call_id
    seen = upstream_request(m)["body"]
    if model == "sdk-oa":
        assert seen["tools"][0]["function"]["name"] == "get_weather"
    else:
        assert seen["tools"][0]["input_schema"]["required"] == ["city"]

    # The second turn sends the SDK's own output items back with the tool's result.
    raw = oai.responses.with_raw_response.create(
        model=model, tools=TOOLS,
        input=conversation + first.output + [{"type": "function_call_output", "call_id": call.call_id, "output": "sunny, 21 C"}])
    second = strict(raw.parse())
    assert second.output_text == TEXT
    assert generation(raw.headers["x-request-id"])["status"] == "ok"
    messages = upstream_request(m)["body"]["messages"]
    if model == "sdk-oa":
        assert messages[-2]["tool_calls"][0]["id"] == call.call_id
        assert messages[-2]["tool_calls"][0]["function"]["name"] == "get_weather"
        assert messages[-1] == {"role": "tool", "tool_call_id": call.call_id, "content": "sunny, 21 C"}
    else:
        use = messages[-2]["content"][-1]
        assert (use["type"], use["id"], use["input"]) == ("tool_use", call.call_id, {"city": "Paris"})
        result = messages[-1]["content"][0]
        assert (result["type"], result["tool_use_id"]) == ("tool_result", call.call_id)
        content = result["content"]
        assert "sunny, 21 C" in (content if isinstance(content, str) else " ".join(b["text"] for b in content))


@pytest.mark.parametrize("model", MODELS)
def test_function_call_streamed(oai, model):
    with oai.responses.stream(model=model, input="What is the weather in Paris?", tools=TOOLS,
                              tool_choice="required") as stream:
        events = list(stream)
        final = strict(stream.get_final_response())
    check_events(events)
    args = "".join(e.delta for e in events if e.type == "response.function_call_arguments.delta")
    assert json.loads(args) == {"city": "Paris"}
    done = [e for e in events if e.type == "response.function_call_arguments.done"]
    assert len(done) == 1 and done[0].arguments == args
    assert [item.type for item in final.output] == ["function_call"]
    assert final.output[0].name == "get_weather"
    assert final.output[0].arguments == args


@pytest.mark.parametrize("model", MODELS)
def test_structured_output_parsed_by_the_sdk(oai, upstream_request, model):
    m = marker()
    resp = oai.responses.parse(model=model, input=f"Weather in Paris as JSON {m}", text_format=Weather)
    strict(resp)
    assert resp.output_parsed == PARIS
    assert [item.type for item in resp.output] == ["message"]
    seen = upstream_request(m)["body"]
    if model == "sdk-oa":
        assert seen["response_format"]["type"] == "json_schema"
        assert seen["response_format"]["json_schema"]["name"] == "Weather"
        assert seen["response_format"]["json_schema"]["strict"] is True
    else:
        # To an Anthropic-kind model the answer is a forced tool, unwrapped into the text.
        assert seen["tool_choice"] == {"type": "tool", "name": "Weather"}
        assert seen["tools"][0]["name"] == "Weather"
        assert set(seen["tools"][0]["input_schema"]["required"]) == {"city", "temperature_c", "sky"}


@pytest.mark.parametrize("model", MODELS)
def test_structured_output_streamed(oai, model):
    with oai.responses.stream(model=model, input="Weather in Paris as JSON", text_format=Weather) as stream:
        events = list(stream)
        final = strict(stream.get_final_response())
    check_events(events)
    assert "response.function_call_arguments.delta" not in {e.type for e in events}
    assert final.output_parsed == PARIS


@pytest.mark.parametrize("model", MODELS)
def test_usage_is_the_sdk_usage_type(oai, model):
    resp = oai.responses.create(model=model, input="Say hello")
    with oai.responses.stream(model=model, input="Say hello") as stream:
        final = stream.get_final_response()
    for usage in (resp.usage, final.usage):
        ResponseUsage.model_validate(usage.to_dict())


@pytest.mark.parametrize("model", MODELS)
def test_previous_response_id_is_refused(oai, model):
    # The gateway stores no responses: the whole conversation goes in `input`.
    with pytest.raises(openai.BadRequestError) as e:
        oai.responses.create(model=model, input="hi", previous_response_id="resp_x")
    assert e.value.status_code == 400
    assert e.value.param == "previous_response_id"


def test_unknown_model_is_not_found(oai):
    with pytest.raises(openai.NotFoundError) as e:
        oai.responses.create(model="no-such-model", input="hi")
    assert e.value.status_code == 404
