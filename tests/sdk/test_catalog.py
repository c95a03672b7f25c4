"""The official SDKs parse Tollgate's model list and model detail."""

import anthropic
import openai


def test_openai_models_list(base_url, api_key):
    client = openai.OpenAI(base_url=f"{base_url}/v1", api_key=api_key)
    models = list(client.models.list())
    assert len(models) == 25  # the 23 seeded models and the suite's two
    ids = {m.id for m in models}
    assert "mistralai-pixtral-large-2411" in ids
    pixtral = client.models.retrieve("mistralai-pixtral-large-2411")
    assert pixtral.id == "mistralai-pixtral-large-2411"
    assert pixtral.object == "model"
    assert pixtral.owned_by == "Mistral AI"


def test_openai_unknown_model_is_not_found(base_url, api_key):
    client = openai.OpenAI(base_url=f"{base_url}/v1", api_key=api_key)
    try:
        client.models.retrieve("no-such-model")
    except openai.NotFoundError as e:
        assert e.status_code == 404
    else:
        raise AssertionError("expected NotFoundError")


def test_anthropic_models_list_pages(base_url, api_key):
    client = anthropic.Anthropic(base_url=base_url, api_key=api_key)
    page = client.models.list(limit=7)
    assert len(page.data) == 7
    assert page.has_more
    all_models = list(client.models.list(limit=7))  # auto-pagination follows after_id
    assert len(all_models) == 25
    assert len({m.id for m in all_models}) == 25
    assert all(m.type == "model" for m in all_models)
    one = client.models.retrieve("anthropic-claude-opus-4.6")
    assert one.display_name == "Anthropic: Claude Opus 4.6"
