"""Long conversations keep a memory of their older messages, summarised in the background, and the reply
engine receives it inside LLM_HISTORY_CHAR_BUDGET."""

import pytest

from conversations.models import Conversation, Message
from personas.models import ConversationMemory
from tests.factories import MessageFactory
from tests.kits.helpers import send_text
from voiceclone.replies import ReplyRequest, Turn
from voiceclone.replies.openai_compatible import OpenAICompatibleEngine

pytestmark = pytest.mark.django_db

FACTS = ["I live in York.", "My dog is called Rex.", "What bread should I bake for a picnic?",
         "I work as a nurse on night shifts.", "Do you like rye bread?", "My sister is getting married in June."]


def long_history(conversation_id, pairs=12):
    conversation = Conversation.objects.get(pk=conversation_id)
    for n in range(pairs):
        MessageFactory(conversation=conversation, role="user", text=FACTS[n % len(FACTS)])
        MessageFactory(conversation=conversation, role="assistant", text=f"That is lovely to hear, number {n}.")
    return conversation


@pytest.fixture
def thresholds(settings):
    settings.CONVERSATION_MEMORY_THRESHOLD_MESSAGES = 20
    settings.CONVERSATION_MEMORY_REFRESH_MESSAGES = 4


def test_a_long_conversation_gets_a_deterministic_offline_memory(alice_api, alice_conversation, run_tasks, thresholds):
    long_history(alice_conversation)
    send_text(alice_api, alice_conversation, "Tell me about your bakery.", run_tasks)
    memory = ConversationMemory.objects.get(conversation_id=alice_conversation)
    # 24 earlier messages + the new turn's two; the newest 20 are sent as they are, the rest summarised.
    assert memory.covered_messages == 26 - 20 and memory.is_offline
    assert memory.summary.startswith("Earlier messages 1–6 (offline summary).")
    assert "- The user said: I live in York." in memory.summary
    assert "- The user asked: What bread should I bake for a picnic?" in memory.summary
    first = memory.summary
    # A refresh that has nothing new to cover changes nothing; the same messages give the same text.
    from personas.services import conversation_memory_refresh

    assert conversation_memory_refresh(conversation_id=alice_conversation).summary == first


def test_short_conversations_have_no_memory(alice_api, alice_conversation, run_tasks, thresholds):
    send_text(alice_api, alice_conversation, "Hello!", run_tasks)
    assert not ConversationMemory.objects.filter(conversation_id=alice_conversation, covered_messages__gt=0).exists()


def test_the_reply_engine_receives_the_memory_within_its_budget(alice_api, alice_conversation, run_tasks, thresholds,
                                                                fake_llm, settings):
    settings.LLM_BASE_URL = fake_llm.base_url
    settings.LLM_HISTORY_CHAR_BUDGET = 900
    long_history(alice_conversation)
    fake_llm.answer_completion("- The user lives in York and has a dog called Rex.")
    send_text(alice_api, alice_conversation, "Tell me about your bakery.", run_tasks)
    memory = ConversationMemory.objects.get(conversation_id=alice_conversation)
    assert memory.summary == "- The user lives in York and has a dog called Rex." and not memory.is_offline
    summary_request = next(r for r in fake_llm.requests if "keep the memory" in r.body["messages"][0]["content"])
    assert "I live in York." in summary_request.body["messages"][1]["content"]

    fake_llm.answer_completion("Rex must love the bakery smells!")
    send_text(alice_api, alice_conversation, "Do you remember my dog?", run_tasks)
    messages = fake_llm.last.body["messages"]
    assert "What you remember from earlier in this conversation" in messages[0]["content"]
    assert "dog called Rex" in messages[0]["content"]
    sent = len(memory.summary) + sum(len(m["content"]) for m in messages[1:])
    assert sent <= settings.LLM_HISTORY_CHAR_BUDGET
    assert Message.objects.filter(conversation_id=alice_conversation, status="ready").last().text.startswith("Rex")


def test_the_memory_never_takes_more_than_a_third_of_the_budget():
    engine = OpenAICompatibleEngine("http://127.0.0.1:9/v1", history_char_budget=600)
    memory = "\n".join(f"- fact number {n} about the user" for n in range(40))
    history = [Turn("user", "x" * 150), Turn("assistant", "y" * 150), Turn("user", "z" * 150)]
    payload = engine.build_payload(ReplyRequest(persona="You are Ada.", voice_name="Ada", history=history,
                                                memory=memory))
    system = payload["messages"][0]["content"]
    kept = system.split("follow as they were said):\n", 1)[1]
    assert len(kept) <= 200 and kept.endswith("about the user")  # whole lines only
    assert sum(len(m["content"]) for m in payload["messages"][1:]) <= 600 - len(kept)
