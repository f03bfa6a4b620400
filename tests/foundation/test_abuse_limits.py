"""Brute-force and abuse limits (issue 9: 300 wrong passwords on the token API and 120 on /login/ were
all answered). Sign-in attempts per username and per IP, voice creations and chat turns per user, a
daily TTS character budget, and DRF's request throttles, all counted in the shared cache.

The suite switches every limit off (tests/settings.py); each test here switches one on. Usernames and
client addresses are unique per test: on the Redis profile the counters outlive a test's transaction.
"""

import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from conversations.models import Message
from tests.audio import wav_bytes
from tests.factories import UserFactory
from tests.live import LiveStack, request

pytestmark = pytest.mark.django_db

PASSWORD = "correct horse battery staple"  # UserFactory's


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def unique_ip() -> str:
    n = uuid.uuid4().int
    return f"10.{n % 250 + 1}.{n // 250 % 250 + 1}.{n // 62500 % 250 + 1}"


def token_attempt(client, username, password, ip):
    return client.post("/api/v1/auth/token/", {"username": username, "password": password}, format="json",
                       REMOTE_ADDR=ip)


def test_token_api_throttles_wrong_passwords_per_username(client, settings):
    settings.LOGIN_RATE_PER_USERNAME = (10, 900)
    user = UserFactory(username=unique("victim"))
    ip = unique_ip()
    statuses = [token_attempt(client, user.username, f"guess-{i}", ip).status_code for i in range(300)]
    assert statuses[:10] == [400] * 10
    assert statuses[10:] == [429] * 290  # 290 of 300 brute-force attempts throttled

    refused = token_attempt(client, user.username, PASSWORD, ip)  # even the right password waits
    assert refused.status_code == 429
    body = refused.json()
    assert body["code"] == "throttled" and "Too many sign-in attempts" in body["detail"]
    assert 1 <= int(refused["Retry-After"]) <= 900 and body["retry_after_s"] == int(refused["Retry-After"])
    # Case variants share the allowance; another account is not affected.
    assert token_attempt(client, user.username.upper(), PASSWORD, ip).status_code == 429
    other = UserFactory(username=unique("other"))
    assert token_attempt(client, other.username, PASSWORD, ip).status_code == 200


def test_token_api_throttles_attempts_per_client_address(client, settings):
    settings.LOGIN_RATE_PER_IP = (8, 900)
    ip = unique_ip()
    statuses = [token_attempt(client, unique("sprayed"), "Winter2026!", ip).status_code for _ in range(20)]
    assert statuses == [400] * 8 + [429] * 12
    user = UserFactory(username=unique("elsewhere"))
    assert token_attempt(client, user.username, PASSWORD, unique_ip()).status_code == 200


def test_login_page_throttles_with_a_clear_message(client, settings):
    settings.LOGIN_RATE_PER_USERNAME = (10, 900)
    user = UserFactory(username=unique("pageuser"))
    ip = unique_ip()
    responses = [client.post("/login/", {"username": user.username, "password": f"guess-{i}"}, REMOTE_ADDR=ip)
                 for i in range(120)]
    assert [r.status_code for r in responses[:10]] == [200] * 10
    assert [r.status_code for r in responses[10:]] == [429] * 110  # 110 of 120 throttled
    page = responses[-1].content.decode()
    assert "Too many sign-in attempts" in page and "try again in" in page
    assert int(responses[-1]["Retry-After"]) >= 1
    right = client.post("/login/", {"username": user.username, "password": PASSWORD}, REMOTE_ADDR=ip)
    assert right.status_code == 429 and "_auth_user_id" not in client.session


def test_sign_up_page_limits_accounts_per_client_address(client, settings):
    """From outside, /signup/ made accounts without limit: a script could mint accounts, each with its own
    allowances. Accounts per client address are capped; a form with mistakes does not use the allowance."""
    settings.SIGNUP_RATE_PER_IP = (3, 3600)
    ip = unique_ip()

    def sign_up(name, password="Correct-horse-7"):
        client.logout()
        return client.post("/signup/", {"username": name, "password1": password, "password2": password},
                           REMOTE_ADDR=ip)

    assert sign_up(unique("typo"), password="short").status_code == 200  # invalid: not counted
    made = [sign_up(unique("minted")) for _ in range(3)]
    assert [r.status_code for r in made] == [302] * 3
    refused = sign_up(unique("minted"))
    assert refused.status_code == 429 and int(refused["Retry-After"]) >= 1
    assert "Too many accounts were made from your network" in refused.content.decode()
    client.logout()
    other = client.post("/signup/", {"username": unique("elsewhere"), "password1": "Correct-horse-7",
                                     "password2": "Correct-horse-7"}, REMOTE_ADDR=unique_ip())
    assert other.status_code == 302


def test_admin_login_counts_attempts_too(client, settings):
    settings.LOGIN_RATE_PER_USERNAME = (3, 900)
    staff = UserFactory(username=unique("admin"), is_staff=True, is_superuser=True)
    ip = unique_ip()
    for i in range(3):
        client.post("/admin/login/", {"username": staff.username, "password": f"guess-{i}"}, REMOTE_ADDR=ip)
    response = client.post("/admin/login/?next=/admin/", {"username": staff.username, "password": PASSWORD},
                           REMOTE_ADDR=ip)
    assert "Too many sign-in attempts" in response.content.decode()
    assert "_auth_user_id" not in client.session


def test_api_request_throttle_is_a_json_429(alice_api, settings):
    settings.API_THROTTLE_USER = "3/hour"
    statuses = [alice_api.get("/api/v1/voices/") for _ in range(4)]
    assert [r.status_code for r in statuses] == [200, 200, 200, 429]
    assert statuses[-1].json()["code"] == "throttled" and int(statuses[-1]["Retry-After"]) > 0


def test_voice_creations_are_limited_per_user(alice_api, bob_api, settings, emulator_ctl, run_tasks):
    settings.VOICE_CREATE_RATE = (2, 3600)

    def create(api):
        samples = [SimpleUploadedFile("one.wav", wav_bytes(3, seed=1), content_type="audio/wav")]
        with run_tasks():
            return api.post("/api/v1/voices/", {"name": "Ada", "persona": "A baker.", "consent": "true",
                                                "samples": samples}, format="multipart")

    assert [create(alice_api).status_code for _ in range(2)] == [202, 202]
    refused = create(alice_api)
    assert refused.status_code == 429 and refused.json()["code"] == "throttled"
    assert "voice creations" in refused.json()["detail"] and int(refused["Retry-After"]) <= 3600
    assert create(bob_api).status_code == 202  # per user


def test_voice_creation_page_shows_the_limit(client, alice, settings):
    settings.VOICE_CREATE_RATE = (1, 3600)
    client.force_login(alice)
    for _ in range(2):
        response = client.post("/voices/new/", {
            "name": "Ada", "persona": "A baker.", "language": "en", "consent": "on",
            "samples": [SimpleUploadedFile("one.wav", wav_bytes(3, seed=1), content_type="audio/wav")]})
    assert response.status_code == 400
    assert "Too many voice creations" in response.content.decode()


def test_chat_turns_are_limited_per_user_and_replays_do_not_count(alice_api, alice_conversation, settings):
    settings.CHAT_TURN_RATE = (3, 60)
    url = f"/api/v1/conversations/{alice_conversation}/messages/"
    sent = [alice_api.post(url, {"text": f"Hi {i}"}, format="json", headers={"Idempotency-Key": f"k{i}"})
            for i in range(4)]
    assert [r.status_code for r in sent] == [202, 202, 202, 429]
    assert sent[-1].json()["code"] == "throttled" and "messages" in sent[-1].json()["detail"]
    replay = alice_api.post(url, {"text": "Hi 0"}, format="json", headers={"Idempotency-Key": "k0"})
    assert replay.status_code == 202  # the original turn, not a new one
    assert Message.objects.filter(conversation_id=alice_conversation, role="user").count() == 3


def test_a_reply_that_would_overrun_the_tts_budget_fails_before_the_provider_is_paid(
        alice_api, alice_conversation, settings, emulator_ctl, run_tasks):
    settings.TTS_DAILY_CHARS_PER_USER = 5  # shorter than any reply
    tts = r"^/v1/text-to-speech/"
    before = len(emulator_ctl.requests(path=tts))
    with run_tasks():
        turn = alice_api.post(f"/api/v1/conversations/{alice_conversation}/messages/", {"text": "Tell me a story"},
                              format="json").json()
    reply = alice_api.get(f"/api/v1/messages/{turn['assistant_message']['id']}/").json()
    assert reply["status"] == "failed" and reply["failure_code"] == "tts_budget_exhausted"
    assert "allowance" in reply["failure_reason"]
    assert len(emulator_ctl.requests(path=tts)) == before  # no TTS call was made


def test_a_spent_tts_budget_refuses_the_next_turn_at_send_time(alice_api, alice_conversation, settings, run_tasks):
    url = f"/api/v1/conversations/{alice_conversation}/messages/"
    with run_tasks():
        first = alice_api.post(url, {"text": "Hello!"}, format="json").json()
    reply = Message.objects.select_related("clip").get(pk=first["assistant_message"]["id"])
    assert reply.status == "ready"
    settings.TTS_DAILY_CHARS_PER_USER = reply.clip.character_cost or len(reply.clip.text)  # exactly spent
    refused = alice_api.post(url, {"text": "And again?"}, format="json")
    assert refused.status_code == 429
    body = refused.json()
    assert body["code"] == "tts_budget_exhausted" and "00:00 UTC" in body["detail"]
    assert 1 <= int(refused["Retry-After"]) <= 86400
    assert Message.objects.filter(conversation_id=alice_conversation, role="user").count() == 1


# --- across processes: two web servers sharing one database (its cache table) or Redis ---------------


@pytest.fixture(scope="module")
def two_servers(tmp_path_factory):
    stack = LiveStack(tmp_path_factory.mktemp("limits"), servers=2, env={
        "LOGIN_RATE_PER_USERNAME": "6/15m", "LOGIN_RATE_PER_IP": "", "API_THROTTLE_ANON": ""}).start()
    yield stack
    stack.stop()


def live_token_attempt(url, username, password):
    import json

    return request(f"{url}/api/v1/auth/token/", method="POST", headers={"Content-Type": "application/json"},
                   body=json.dumps({"username": username, "password": password}).encode())


def test_sign_in_limits_hold_across_processes(two_servers):
    username = unique("shared")
    two_servers.scenario("user", username)
    statuses = [live_token_attempt(two_servers.urls[i % 2], username, f"guess-{i}")[0] for i in range(12)]
    assert statuses == [400] * 6 + [429] * 6  # one allowance, whichever process answers


def test_sign_in_limits_are_exact_under_a_parallel_burst(two_servers):
    username = unique("burst")
    two_servers.scenario("user", username)
    with ThreadPoolExecutor(max_workers=16) as pool:
        statuses = list(pool.map(lambda i: live_token_attempt(two_servers.urls[i % 2], username, f"g{i}")[0],
                                 range(16)))
    assert sorted(statuses) == [400] * 6 + [429] * 10


def test_the_chat_page_shows_the_turn_limit(client, alice, alice_conversation, settings):
    settings.CHAT_TURN_RATE = (1, 60)
    client.force_login(alice)
    url = f"/conversations/{alice_conversation}/"
    client.post(url, {"text": "First"})
    response = client.post(url, {"text": "Second"}, follow=True)
    assert "Too many messages" in response.content.decode()
    assert Message.objects.filter(conversation_id=alice_conversation, role="user").count() == 1
