"""The OpenAI-compatible engine against a fake chat-completions server (see conftest.py)."""

from __future__ import annotations

import httpx
import pytest

from voiceclone.replies import OpenAICompatibleEngine, ReplyEngineError, ReplyRequest, Turn

PERSONA = "You are Ada, a cheerful baker from Leeds. You love sourdough."


def _request(*texts: str, language: str = "en") -> ReplyRequest:
    """History from alternating texts, user first; the last must be the user's."""
    history = [Turn(role="user" if i % 2 == 0 else "assistant", text=t) for i, t in enumerate(texts)]
    return ReplyRequest(persona=PERSONA, voice_name="Ada", history=history, language=language)


def _engine(base_url: str, **kwargs) -> OpenAICompatibleEngine:
    return OpenAICompatibleEngine(base_url, **{"model": "test-model", "timeout_s": 5, **kwargs})


def _engine_error(engine: OpenAICompatibleEngine, request: ReplyRequest) -> ReplyEngineError:
    with pytest.raises(ReplyEngineError) as caught:
        engine.reply(request)
    assert not isinstance(caught.value, httpx.HTTPError)
    return caught.value


def test_reply_posts_to_chat_completions_under_base_url(fake_llm):
    # A trailing slash on the base URL must not produce "/v1//chat/completions".
    _engine(fake_llm.base_url + "/", api_key="sk-test").reply(_request("Hi there"))

    request = fake_llm.last
    assert request.method == "POST"
    assert request.path == "/v1/chat/completions"
    assert request.headers["authorization"] == "Bearer sk-test"
    assert request.headers["content-type"] == "application/json"
    assert request.body["model"] == "test-model"
    assert request.body["max_tokens"] == 300
    assert request.body["temperature"] == 0.7


def test_base_url_that_already_names_the_endpoint_is_used_as_is(fake_llm):
    _engine(fake_llm.base_url + "/chat/completions").reply(_request("Hi"))

    assert fake_llm.last.path == "/v1/chat/completions"


def test_request_has_no_authorization_header_without_key(fake_llm):
    # Ollama and a local vLLM need no key; an empty "Bearer " would confuse proxies.
    _engine(fake_llm.base_url, api_key="").reply(_request("Hi"))

    assert "authorization" not in fake_llm.last.headers


def test_system_prompt_carries_persona_and_speech_instructions(fake_llm):
    _engine(fake_llm.base_url).reply(_request("Bonjour", language="fr"))

    system = fake_llm.last.body["messages"][0]
    assert system["role"] == "system"
    assert PERSONA in system["content"]
    assert "Ada" in system["content"]
    assert "no markdown" in system["content"]
    assert "one to three short sentences" in system["content"]
    assert "Reply in French" in system["content"]


def test_history_follows_system_prompt_oldest_first(fake_llm):
    _engine(fake_llm.base_url).reply(
        _request("What do you bake?", "Mostly sourdough.", "Any tips for rye?")
    )

    assert fake_llm.last.body["messages"][1:] == [
        {"role": "user", "content": "What do you bake?"},
        {"role": "assistant", "content": "Mostly sourdough."},
        {"role": "user", "content": "Any tips for rye?"},
    ]


def test_history_budget_keeps_most_recent_turns_and_latest_user_message(fake_llm):
    engine = _engine(fake_llm.base_url, history_char_budget=80)

    engine.reply(_request("a" * 50, "b" * 30, "c" * 20, "d" * 20, "Latest question?"))

    # 16 + 20 + 20 = 56 characters fit; adding the 30-character turn would not.
    assert fake_llm.last.body["messages"][1:] == [
        {"role": "user", "content": "c" * 20},
        {"role": "assistant", "content": "d" * 20},
        {"role": "user", "content": "Latest question?"},
    ]


def test_history_budget_never_starts_with_an_assistant_turn(fake_llm):
    # Mistral-style chat templates reject a conversation whose first turn is the assistant's.
    engine = _engine(fake_llm.base_url, history_char_budget=60)

    engine.reply(_request("a" * 50, "b" * 30, "Latest question?"))

    assert fake_llm.last.body["messages"][1:] == [{"role": "user", "content": "Latest question?"}]


def test_latest_user_message_over_budget_keeps_its_end(fake_llm):
    engine = _engine(fake_llm.base_url, history_char_budget=50)
    long_message = "blah " * 40 + "so what should I bake for Sunday?"

    engine.reply(_request("Earlier message", "Earlier answer", long_message))

    messages = fake_llm.last.body["messages"][1:]
    assert len(messages) == 1
    assert messages[0]["role"] == "user"
    assert len(messages[0]["content"]) <= 50
    assert messages[0]["content"].endswith("so what should I bake for Sunday?")


def test_consecutive_user_messages_are_sent_as_one_turn(fake_llm):
    # Happens when the previous reply failed; strict templates want alternating roles.
    history = [Turn("user", "Hello?"), Turn("user", "Are you there?")]

    _engine(fake_llm.base_url).reply(ReplyRequest(persona=PERSONA, voice_name="Ada", history=history))

    assert fake_llm.last.body["messages"][1:] == [{"role": "user", "content": "Hello?\nAre you there?"}]


def test_reply_text_comes_from_first_choice(fake_llm):
    fake_llm.answer_completion("  Oh, rye is lovely! Keep the dough wetter than you think.  \n")

    result = _engine(fake_llm.base_url).reply(_request("Any tips for rye?"))

    assert result.text == "Oh, rye is lovely! Keep the dough wetter than you think."
    assert result.engine == "openai-compatible"
    assert result.is_offline is False


def test_reply_reports_model_and_usage_from_server(fake_llm):
    fake_llm.answer_completion("Sure.", model="llama3.2:3b",
                               usage={"prompt_tokens": 10, "completion_tokens": 2, "total_tokens": 12})

    result = _engine(fake_llm.base_url).reply(_request("Hi"))

    assert result.model == "llama3.2:3b"
    assert result.usage == {"prompt_tokens": 10, "completion_tokens": 2, "total_tokens": 12}


def test_reply_text_is_stripped_of_markdown_emphasis(fake_llm):
    fake_llm.answer_completion("**Honestly?** I'd use *strong* flour and __patience__, not `magic`.")

    result = _engine(fake_llm.base_url).reply(_request("Tips?"))

    assert result.text == "Honestly? I'd use strong flour and patience, not magic."


def test_reply_keeps_underscores_inside_words(fake_llm):
    fake_llm.answer_completion("My handle is bread_lover_42, come say hi.")

    result = _engine(fake_llm.base_url).reply(_request("Handle?"))

    assert result.text == "My handle is bread_lover_42, come say hi."


def test_reasoning_model_think_block_is_not_spoken(fake_llm):
    # deepseek-r1 and qwen3 on Ollama put their reasoning in the content.
    fake_llm.answer_completion("<think>The user wants a tip.\nBe brief.</think>\n\nUse a hotter oven.")

    result = _engine(fake_llm.base_url).reply(_request("Tip?"))

    assert result.text == "Use a hotter oven."


def test_reply_cut_off_by_max_tokens_drops_unfinished_sentence(fake_llm):
    fake_llm.answer_completion(
        "Start with a good starter. Then feed it twice a day and", finish_reason="length"
    )

    result = _engine(fake_llm.base_url).reply(_request("How?"))

    assert result.text == "Start with a good starter."


def test_server_error_is_retryable(fake_llm):
    fake_llm.answer(status=500, json_body={"error": {"message": "upstream exploded"}})

    error = _engine_error(_engine(fake_llm.base_url), _request("Hi"))

    assert error.retryable is True
    assert error.status_code == 500
    assert "upstream exploded" in str(error)


def test_rate_limit_is_retryable_with_retry_after(fake_llm):
    fake_llm.answer(status=429, json_body={"error": {"message": "Rate limit reached"}},
                    headers={"Retry-After": "7"})

    error = _engine_error(_engine(fake_llm.base_url), _request("Hi"))

    assert error.retryable is True
    assert error.status_code == 429
    assert error.retry_after_s == 7.0


def test_bad_request_is_not_retryable(fake_llm):
    fake_llm.answer(status=400, json_body={"error": {"message": "max_tokens is too large",
                                                     "type": "invalid_request_error"}})

    error = _engine_error(_engine(fake_llm.base_url), _request("Hi"))

    assert error.retryable is False
    assert error.status_code == 400
    assert "max_tokens is too large" in str(error)


def test_unknown_model_is_not_retryable_and_names_the_model(fake_llm):
    # Ollama's shape: a plain string under "error".
    fake_llm.answer(
        status=404, json_body={"error": 'model "test-model" not found, try pulling it first'}
    )

    error = _engine_error(_engine(fake_llm.base_url), _request("Hi"))

    assert error.retryable is False
    assert "'test-model'" in str(error)
    assert "try pulling it first" in str(error)


def test_rejected_api_key_is_not_retryable_and_does_not_echo_the_key(fake_llm):
    fake_llm.answer(status=401, json_body={"error": {"message": "Incorrect API key provided"}})

    error = _engine_error(_engine(fake_llm.base_url, api_key="sk-secret-value"), _request("Hi"))

    assert error.retryable is False
    assert "LLM_API_KEY" in str(error)
    assert "sk-secret-value" not in str(error)
    assert "sk-secret-value" not in repr(_engine(fake_llm.base_url, api_key="sk-secret-value"))


def test_connection_refused_is_retryable(refused_base_url):
    error = _engine_error(_engine(refused_base_url), _request("Hi"))

    assert error.retryable is True
    assert error.status_code is None


def test_timeout_is_retryable(fake_llm):
    fake_llm.is_stalled = True

    error = _engine_error(_engine(fake_llm.base_url, timeout_s=0.2), _request("Hi"))

    assert error.retryable is True
    assert "did not answer" in str(error)


def test_garbage_json_is_not_retryable(fake_llm):
    fake_llm.answer(raw_body=b"<html>502 Bad Gateway... just kidding, 200</html>")

    error = _engine_error(_engine(fake_llm.base_url), _request("Hi"))

    assert error.retryable is False
    assert "not JSON" in str(error)


def test_json_without_choices_is_not_retryable(fake_llm):
    fake_llm.answer(json_body={"object": "chat.completion", "choices": []})

    error = _engine_error(_engine(fake_llm.base_url), _request("Hi"))

    assert error.retryable is False
    assert "choices[0].message.content" in str(error)


@pytest.mark.parametrize("content", ["", "   ", None, "** **"])
def test_empty_content_is_not_retryable(fake_llm, content):
    fake_llm.answer_completion(content)

    error = _engine_error(_engine(fake_llm.base_url), _request("Hi"))

    assert error.retryable is False
    assert "empty reply" in str(error)


def test_unsupported_scheme_in_base_url_is_not_retryable():
    error = _engine_error(_engine("ftp://example.invalid/v1"), _request("Hi"))

    assert error.retryable is False
