"""Reply engine for any server that speaks OpenAI's chat-completions API.

OpenAI itself, Ollama (`http://localhost:11434/v1`), vLLM (`http://host:8000/v1`),
LM Studio and most hosted gateways accept the same request, so plain HTTP with
httpx is enough and we do not depend on the `openai` package.
"""

from __future__ import annotations

import json
from typing import Any

import httpx

from dataclasses import replace

from .prompting import build_system_prompt, history_within_budget, make_speakable, split_budget, strip_reasoning
from .types import ENGINE_OPENAI_COMPATIBLE, CompletionRequest, ReplyEngineError, ReplyRequest, ReplyResult

DEFAULT_MODEL = "gpt-4o-mini"
DEFAULT_TIMEOUT_S = 30.0
DEFAULT_MAX_TOKENS = 300
DEFAULT_HISTORY_CHAR_BUDGET = 6000
TEMPERATURE = 0.7

_CHAT_COMPLETIONS_PATH = "/chat/completions"
# 429 is a rate limit; 408 is the server's own request timeout. Other 4xx mean
# the request itself is wrong (key, model name, payload) and would fail again.
_RETRYABLE_STATUSES = frozenset({408, 429})
_ERROR_DETAIL_MAX_CHARS = 200


def chat_completions_url(base_url: str) -> str:
    """`{base_url}/chat/completions` without a doubled slash.

    A base URL that already ends with the endpoint (pasted from a provider's
    docs) is used as it is.
    """
    base = base_url.strip().rstrip("/")
    if base.endswith(_CHAT_COMPLETIONS_PATH):
        return base
    return base + _CHAT_COMPLETIONS_PATH


class OpenAICompatibleEngine:
    """Writes replies with a chat-completions model.

    `reply()` raises ReplyEngineError and nothing else for transport, HTTP and
    parsing failures; `retryable` is True for connection errors, timeouts, 5xx
    and 429. It never holds a database transaction; callers make the call
    between their own short transactions.
    """

    name = ENGINE_OPENAI_COMPATIBLE

    def __init__(
        self,
        base_url: str,
        *,
        api_key: str | None = None,
        model: str = DEFAULT_MODEL,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        max_tokens: int = DEFAULT_MAX_TOKENS,
        history_char_budget: int = DEFAULT_HISTORY_CHAR_BUDGET,
    ) -> None:
        if not base_url or not base_url.strip():
            raise ValueError("base_url is required")
        if timeout_s <= 0:
            raise ValueError(f"timeout_s must be positive, not {timeout_s!r}")
        if max_tokens <= 0:
            raise ValueError(f"max_tokens must be positive, not {max_tokens!r}")
        if history_char_budget <= 0:
            raise ValueError(f"history_char_budget must be positive, not {history_char_budget!r}")
        self.base_url = base_url.strip()
        self.url = chat_completions_url(self.base_url)
        # A key read from a file or a secret store often carries a trailing newline.
        self.api_key = (api_key or "").strip() or None
        if self.api_key is not None and not self.api_key.isascii():
            # httpx would raise UnicodeEncodeError at request time; fail at start-up instead.
            raise ValueError("api_key must be ASCII")
        self.model = model or DEFAULT_MODEL
        self.timeout_s = float(timeout_s)
        self.max_tokens = int(max_tokens)
        self.history_char_budget = int(history_char_budget)

    def __repr__(self) -> str:
        # No api_key here: reprs end up in logs and error reports.
        return f"OpenAICompatibleEngine(url={self.url!r}, model={self.model!r})"

    def build_payload(self, request: ReplyRequest) -> dict[str, Any]:
        # The conversation's memory and its recent turns share one budget (docs/personas.md).
        memory, turns_budget = split_budget(request.memory, char_budget=self.history_char_budget)
        request = replace(request, memory=memory)
        history = history_within_budget(request.history, char_budget=turns_budget)
        messages = [{"role": "system", "content": build_system_prompt(request)}]
        messages += [{"role": turn.role, "content": turn.text} for turn in history]
        return {
            "model": self.model,
            "messages": messages,
            "max_tokens": self.max_tokens,
            "temperature": TEMPERATURE,
        }

    def reply(self, request: ReplyRequest) -> ReplyResult:
        return self._parse(self._post(self.build_payload(request)))

    def complete(self, request: CompletionRequest) -> ReplyResult:
        """Answer a writing job (persona draft, memory summary); same errors as `reply()`.

        The text keeps its line breaks; only reasoning blocks are removed.
        """
        payload = {
            "model": self.model,
            "messages": [
                {"role": "system", "content": request.instructions},
                {"role": "user", "content": request.material},
            ],
            "max_tokens": request.max_tokens,
            "temperature": TEMPERATURE,
        }
        return self._parse(self._post(payload), speakable=False)

    def _post(self, payload: dict[str, Any]) -> httpx.Response:
        headers = {"Accept": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        try:
            with httpx.Client(timeout=self.timeout_s) as client:
                response = client.post(self.url, json=payload, headers=headers)
        except httpx.TimeoutException as exc:
            raise ReplyEngineError(
                f"The language model at {self.url} did not answer within {self.timeout_s:g}s",
                retryable=True,
            ) from exc
        except (httpx.UnsupportedProtocol, httpx.LocalProtocolError, httpx.InvalidURL) as exc:
            # A mistyped LLM_BASE_URL or an unusable header: retrying cannot help.
            raise ReplyEngineError(
                f"Cannot send a request to {self.url}: {exc}", retryable=False
            ) from exc
        except httpx.TransportError as exc:
            raise ReplyEngineError(
                f"Cannot reach the language model at {self.url}: {exc}", retryable=True
            ) from exc

        if not response.is_success:
            raise self._status_error(response)
        return response

    def _status_error(self, response: httpx.Response) -> ReplyEngineError:
        status = response.status_code
        detail = _error_detail(response)
        message = f"The language model at {self.url} answered HTTP {status}"
        if status in (401, 403):
            message += " (check LLM_API_KEY)"
        elif status == 404:
            message += f" (check LLM_BASE_URL and that model {self.model!r} exists)"
        if detail:
            message += f": {detail}"
        retryable = status >= 500 or status in _RETRYABLE_STATUSES
        return ReplyEngineError(
            message,
            retryable=retryable,
            status_code=status,
            retry_after_s=_retry_after_s(response) if retryable else None,
        )

    def _parse(self, response: httpx.Response, *, speakable: bool = True) -> ReplyResult:
        try:
            data = response.json()
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise ReplyEngineError(
                f"The language model at {self.url} sent a reply that is not JSON",
                retryable=False,
                status_code=response.status_code,
            ) from exc
        try:
            choice = data["choices"][0]
            content = choice["message"]["content"]
        except (KeyError, IndexError, TypeError) as exc:
            raise ReplyEngineError(
                f"The language model at {self.url} sent JSON without choices[0].message.content",
                retryable=False,
                status_code=response.status_code,
            ) from exc
        if speakable:
            text = make_speakable(_content_text(content), was_cut_off=choice.get("finish_reason") == "length")
        else:
            text = strip_reasoning(_content_text(content))
        if not text:
            raise ReplyEngineError(
                f"The language model at {self.url} sent an empty reply",
                retryable=False,
                status_code=response.status_code,
            )
        usage = data.get("usage")
        model = data.get("model")
        return ReplyResult(
            text=text,
            engine=self.name,
            model=model if isinstance(model, str) and model else self.model,
            is_offline=False,
            usage=usage if isinstance(usage, dict) else None,
        )


def _content_text(content: Any) -> str:
    """Content is a string, null (refusals, tool calls) or, on some servers, a list of parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(
            part["text"]
            for part in content
            if isinstance(part, dict) and isinstance(part.get("text"), str)
        )
    return ""


def _error_detail(response: httpx.Response) -> str:
    """The server's own error message: OpenAI nests it under error.message, Ollama sends a string."""
    try:
        body = response.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        detail = response.text
    else:
        error = body.get("error") if isinstance(body, dict) else None
        if isinstance(error, dict):
            detail = str(error.get("message") or "")
        elif isinstance(error, str):
            detail = error
        else:
            detail = response.text
    detail = " ".join(detail.split())
    if len(detail) > _ERROR_DETAIL_MAX_CHARS:
        detail = detail[: _ERROR_DETAIL_MAX_CHARS - 1] + "…"
    return detail


def _retry_after_s(response: httpx.Response) -> float | None:
    # Only the delay-seconds form; OpenAI and vLLM do not send HTTP dates here.
    value = response.headers.get("retry-after", "").strip()
    try:
        seconds = float(value)
    except ValueError:
        return None
    return seconds if seconds >= 0 else None
