"""The Python examples of the model pages (GET /models/{id}.md) run as written, with the official
`openai` and `anthropic` SDKs, against the gateway the page names: on a model behind each
provider kind."""

import contextlib
import io
import re
import urllib.request

import pytest


def python_examples(base, model):
    with urllib.request.urlopen(f"{base}/models/{model}.md", timeout=10) as r:
        page = r.read().decode()
    return re.findall(r"```python\n(.*?)\n```", page, re.S)


@pytest.mark.parametrize("model", ["sdk-oa", "sdk-an"])
def test_the_python_examples_run_as_written(base_url, api_key, model, monkeypatch):
    monkeypatch.setenv("TOLLGATE_API_KEY", api_key)
    examples = python_examples(base_url, model)
    # Chat Completions, Responses, Messages, count_tokens.
    assert len(examples) == 4, examples
    for code in examples:
        assert base_url in code and f'"{model}"' in code, code
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            exec(compile(code, f"{model}.md", "exec"), {"__name__": "__example__"})
        assert out.getvalue().strip(), f"printed nothing:\n{code}"
