"""Schemathesis hooks for test_schema.py (loaded through SCHEMATHESIS_HOOKS).

The gateway operations document their request bodies as free-form objects (they are the
providers' own formats), so generated bodies almost never name a model that exists. For half
of the generated objects these hooks put in a model the suite set up and one user message
(and `max_tokens` for Messages), keeping every other generated field, so that calls reach the mock upstream with odd fields
beside the valid ones."""

import hypothesis.strategies as st

import schemathesis

MESSAGE = [{"role": "user", "content": "Hello"}]
MODELS = {
    "/v1/chat/completions": "sdk-oa",
    "/api/v7/llm/chat/completions": "sdk-oa",
    "/v1/messages": "sdk-an",
    "/api/v7/llm/v1/messages": "sdk-an",
    "/v1/messages/count_tokens": "sdk-an",
    "/api/v7/llm/v1/messages/count_tokens": "sdk-an",
    "/v1/estimate": "sdk-oa",
}


@schemathesis.hook
def flatmap_body(context, body):
    operation = context.operation
    model = MODELS.get(operation.path) if operation is not None else None
    if model is None or not isinstance(body, dict):
        return st.just(body)
    patched = dict(body, model=model)
    if operation.path != "/v1/estimate":
        patched["messages"] = MESSAGE
    if "messages" in operation.path and not isinstance(body.get("max_tokens"), int):
        patched["max_tokens"] = 16  # required by Anthropic Messages
    return st.sampled_from([body, patched])


@schemathesis.hook
def flatmap_path_parameters(context, path_parameters):
    """Half of the model paths name a model that exists, so their 200 answers are checked too."""
    operation = context.operation
    if operation is None or "/models/{id}" not in operation.path or not isinstance(path_parameters, dict):
        return st.just(path_parameters)
    return st.sampled_from([path_parameters, dict(path_parameters, id="sdk-oa"), dict(path_parameters, id="sdk-an")])
