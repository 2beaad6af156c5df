"""The official `openai` and `anthropic` Python clients against `llmtrace proxy`.

Run by tests/python/run.sh, which starts the upstream and the proxy and sets PROXY_URL,
PROXY_KEY and TRACE_FILE.
"""

import json
import os
import time

import anthropic
import openai
import pytest

URL = os.environ["PROXY_URL"]
KEY = os.environ["PROXY_KEY"]


def oai(key=KEY):
    return openai.OpenAI(base_url=f"{URL}/v1", api_key=key, max_retries=0)


def claude(key=KEY):
    return anthropic.Anthropic(base_url=URL, api_key=key, max_retries=0)


def traced(trace_id):
    """The trace with this id from the proxy's JSONL file (written in batches: poll)."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with open(os.environ["TRACE_FILE"], encoding="utf-8") as f:
            for line in f:
                record = json.loads(line)
                if record["trace_id"] == trace_id:
                    return record
        time.sleep(0.05)
    raise AssertionError(f"trace {trace_id} never written")


WEATHER = {"name": "weather", "description": "Weather in a city",
           "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}


def test_openai_non_streaming_is_traced_with_header_metadata():
    raw = oai().chat.completions.with_raw_response.create(
        model="gpt-4o-mini",
        messages=[{"role": "user", "content": "Say hello"}],
        temperature=0,
        extra_headers={"x-llmtrace-session-id": "py-1", "x-llmtrace-metadata-team": "web"},
    )
    completion = raw.parse()
    assert completion.choices[0].message.content == "Hello from upstream"
    assert completion.usage.total_tokens == 8
    trace = traced(raw.headers["x-llmtrace-trace-id"])
    assert trace["metadata"]["session_id"] == "py-1"
    assert trace["metadata"]["team"] == "web"
    assert trace["parameters"]["temperature"] == 0


def test_openai_streaming_yields_the_chunks():
    stream = oai().chat.completions.create(
        model="gpt-4o-mini", stream=True, messages=[{"role": "user", "content": "Say hello"}])
    pieces = [c.choices[0].delta.content for c in stream if c.choices and c.choices[0].delta.content]
    assert pieces == ["Hello ", "from ", "upstream"]


def test_openai_tools():
    completion = oai().chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "Weather in Paris?"}],
        tools=[{"type": "function", "function": WEATHER}])
    call = completion.choices[0].message.tool_calls[0]
    assert call.function.name == "weather"
    assert json.loads(call.function.arguments) == {"city": "Paris"}
    assert completion.choices[0].finish_reason == "tool_calls"


def test_openai_upstream_429_is_rate_limit_error():
    with pytest.raises(openai.RateLimitError) as error:
        oai().chat.completions.create(
            model="m", messages=[{"role": "user", "content": "status 429"}])
    assert "upstream says 429" in str(error.value)


def test_openai_upstream_500_is_internal_server_error():
    with pytest.raises(openai.InternalServerError):
        oai().chat.completions.create(
            model="m", messages=[{"role": "user", "content": "status 500"}])


def test_openai_wrong_proxy_key_is_authentication_error():
    with pytest.raises(openai.AuthenticationError) as error:
        oai("wrong").chat.completions.create(
            model="m", messages=[{"role": "user", "content": "hi"}])
    assert error.value.status_code == 401


def test_anthropic_non_streaming():
    message = claude().messages.create(
        model="claude-sonnet-4", max_tokens=50, messages=[{"role": "user", "content": "Say hello"}])
    assert message.content[0].text == "Hello from upstream"
    assert message.stop_reason == "end_turn"
    assert message.usage.output_tokens == 3


def test_anthropic_streaming_yields_the_text():
    with claude().messages.stream(
            model="claude-sonnet-4", max_tokens=50,
            messages=[{"role": "user", "content": "Say hello"}]) as stream:
        pieces = list(stream.text_stream)
        final = stream.get_final_message()
    assert pieces == ["Hello ", "from ", "upstream"]
    assert final.stop_reason == "end_turn"


def test_anthropic_tools():
    message = claude().messages.create(
        model="claude-sonnet-4", max_tokens=50,
        messages=[{"role": "user", "content": "Weather in Paris?"}],
        tools=[{"name": "weather", "description": "Weather in a city",
                "input_schema": WEATHER["parameters"]}])
    block = message.content[0]
    assert block.type == "tool_use" and block.name == "weather"
    assert block.input == {"city": "Paris"}
    assert message.stop_reason == "tool_use"


def test_anthropic_upstream_429_is_rate_limit_error():
    with pytest.raises(anthropic.RateLimitError):
        claude().messages.create(
            model="c", max_tokens=5, messages=[{"role": "user", "content": "status 429"}])


def test_anthropic_upstream_500_is_internal_server_error():
    with pytest.raises(anthropic.InternalServerError):
        claude().messages.create(
            model="c", max_tokens=5, messages=[{"role": "user", "content": "status 500"}])


def test_anthropic_wrong_proxy_key_is_authentication_error():
    with pytest.raises(anthropic.AuthenticationError):
        claude("wrong").messages.create(
            model="c", max_tokens=5, messages=[{"role": "user", "content": "hi"}])
