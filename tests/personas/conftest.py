from tests.replies.conftest import fake_llm  # noqa: F401  (the fake chat-completions server)
