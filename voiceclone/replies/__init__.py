"""Reply engines: write an AI voice clone's next text reply in its persona.

    from voiceclone.replies import ReplyRequest, Turn, generate_reply

    result = generate_reply(ReplyRequest(persona=..., voice_name=..., history=[Turn("user", "Hi")]))

With LLM_BASE_URL set, replies come from an OpenAI-compatible chat-completions
server (OpenAI, Ollama, vLLM); without it, from the deterministic offline
responder, whose results say so (`is_offline`, `label`).
"""

from .engines import complete_text, generate_reply, get_engine
from .offline import OfflineEngine
from .openai_compatible import OpenAICompatibleEngine
from .types import (
    ENGINE_OFFLINE,
    ENGINE_OPENAI_COMPATIBLE,
    OFFLINE_ENGINE_LABEL,
    CompletionRequest,
    ReplyEngine,
    ReplyEngineError,
    ReplyRequest,
    ReplyResult,
    Turn,
    engine_label,
    engine_tag,
)

__all__ = [
    "CompletionRequest",
    "complete_text",
    "ENGINE_OFFLINE",
    "ENGINE_OPENAI_COMPATIBLE",
    "OFFLINE_ENGINE_LABEL",
    "OfflineEngine",
    "OpenAICompatibleEngine",
    "ReplyEngine",
    "ReplyEngineError",
    "ReplyRequest",
    "ReplyResult",
    "Turn",
    "engine_label",
    "engine_tag",
    "generate_reply",
    "get_engine",
]
