"""The official SDKs complete plain and streaming calls, in both formats, to models behind both
kinds of provider; every call's record and cost are exact."""

import anthropic
import openai
import pytest

MODELS = ["sdk-oa", "sdk-an"]  # behind an OpenAI-kind and an Anthropic-kind provider
TEXT = "Hello from the mock upstream"
COST = "0.005000"  # 1000 input × $2 + 500 output × $6, per 1M tokens


@pytest.fixture
def oai(base_url, api_key):
    return openai.OpenAI(base_url=f"{base_url}/v1", api_key=api_key, max_retries=0)


@pytest.fixture
def anth(base_url, api_key):
    return anthropic.Anthropic(base_url=base_url, api_key=api_key, max_retries=0)


@pytest.mark.parametrize("model", MODELS)
def test_openai_chat(oai, generation, model):
    raw = oai.chat.completions.with_raw_response.create(model=model, messages=[{"role": "user", "content": "hi"}])
    completion = raw.parse()
    assert completion.choices[0].message.content == TEXT
    assert completion.model == model
    assert completion.usage.prompt_tokens == 1000
    assert raw.headers["x-tollgate-cost"] == COST
    record = generation(raw.headers["x-request-id"])
    assert record["cost_usd"] == COST
    assert record["status"] == "ok"


@pytest.mark.parametrize("model", MODELS)
def test_openai_stream(oai, generation, model):
    raw = oai.chat.completions.with_raw_response.create(
        model=model, messages=[{"role": "user", "content": "hi"}], stream=True, stream_options={"include_usage": True})
    chunks = list(raw.parse())
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == TEXT
    assert chunks[-1].usage.completion_tokens == 500
    record = generation(raw.headers["x-request-id"])
    assert record["streamed"] is True
    assert record["cost_usd"] == COST


@pytest.mark.parametrize("model", MODELS)
def test_openai_tool_call(oai, model):
    tools = [{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}]
    completion = oai.chat.completions.create(model=model, messages=[{"role": "user", "content": "weather?"}], tools=tools)
    call = completion.choices[0].message.tool_calls[0]
    assert call.function.name == "get_weather"
    assert "Paris" in call.function.arguments
    assert completion.choices[0].finish_reason == "tool_calls"


@pytest.mark.parametrize("model", MODELS)
def test_anthropic_message(anth, generation, model):
    raw = anth.messages.with_raw_response.create(model=model, max_tokens=100, messages=[{"role": "user", "content": "hi"}])
    message = raw.parse()
    assert message.content[0].text == TEXT
    assert message.stop_reason == "end_turn"
    assert message.usage.output_tokens == 500
    assert raw.headers["x-tollgate-cost"] == COST
    assert generation(raw.headers["x-request-id"])["cost_usd"] == COST


@pytest.mark.parametrize("model", MODELS)
def test_anthropic_stream(anth, model):
    with anth.messages.stream(model=model, max_tokens=100, messages=[{"role": "user", "content": "hi"}]) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert text == TEXT
    assert final.stop_reason == "end_turn"
    assert final.usage.output_tokens == 500


@pytest.mark.parametrize("model", MODELS)
def test_anthropic_tool_use(anth, model):
    tools = [{"name": "get_weather", "description": "weather", "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}}}]
    message = anth.messages.create(model=model, max_tokens=100, tools=tools, messages=[{"role": "user", "content": "weather?"}])
    assert message.stop_reason == "tool_use"
    block = message.content[0]
    assert block.type == "tool_use" and block.input == {"city": "Paris"}


def test_anthropic_count_tokens(anth):
    count = anth.messages.count_tokens(model="sdk-an", messages=[{"role": "user", "content": "hello world"}])
    assert count.input_tokens > 0


def test_errors_reach_the_sdks_as_their_own_exceptions(base_url, oai, anth):
    with pytest.raises(openai.AuthenticationError):
        openai.OpenAI(base_url=f"{base_url}/v1", api_key="tg-wrong", max_retries=0).chat.completions.create(
            model="sdk-oa", messages=[{"role": "user", "content": "hi"}])
    with pytest.raises(anthropic.NotFoundError):
        anth.messages.create(model="no-such-model", max_tokens=10, messages=[{"role": "user", "content": "hi"}])
    with pytest.raises(openai.BadRequestError):
        oai.chat.completions.create(model="Qwen-Qwen2.5-14B", messages=[{"role": "user", "content": "hi"}])
