"""GET /v2/voices: paging with opaque tokens, filters and validation."""

import base64
import json

PREMADE_COUNT = 4


def _all_pages(http, **params):
    pages, token = [], None
    while True:
        query = dict(params, **({"next_page_token": token} if token else {}))
        page = http.get("/v2/voices", params=query).json()
        pages.append(page)
        if not page["has_more"]:
            return pages
        token = page["next_page_token"]


def test_default_page_size_is_10_with_total_count_and_token(emulator_http, create_voice):
    for i in range(12):
        create_voice(name=f"voice {i:02d}")

    page = emulator_http.get("/v2/voices").json()

    assert len(page["voices"]) == 10
    assert page["has_more"] is True
    assert page["total_count"] == 12 + PREMADE_COUNT
    assert isinstance(page["next_page_token"], str)
    json.loads(base64.urlsafe_b64decode(page["next_page_token"]))  # opaque, but base64


def test_paging_visits_every_voice_once(emulator_http, create_voice):
    created = {create_voice(name=f"voice {i:02d}") for i in range(23)}

    pages = _all_pages(emulator_http, category="cloned", page_size=5)

    seen = [v["voice_id"] for page in pages for v in page["voices"]]
    assert [len(page["voices"]) for page in pages] == [5, 5, 5, 5, 3]
    assert sorted(seen) == sorted(created)
    assert pages[-1]["next_page_token"] is None
    assert all(page["total_count"] == 23 for page in pages)


def test_deleting_a_seen_voice_between_pages_does_not_skip_others(emulator_http, create_voice):
    for i in range(6):
        create_voice(name=f"voice {i:02d}")
    first = emulator_http.get("/v2/voices", params={"category": "cloned", "page_size": 3, "sort": "name"}).json()

    emulator_http.delete(f"/v1/voices/{first['voices'][0]['voice_id']}")
    second = emulator_http.get(
        "/v2/voices",
        params={"category": "cloned", "page_size": 3, "sort": "name", "next_page_token": first["next_page_token"]},
    ).json()

    assert [v["name"] for v in first["voices"]] == ["voice 00", "voice 01", "voice 02"]
    assert [v["name"] for v in second["voices"]] == ["voice 03", "voice 04", "voice 05"]
    assert second["has_more"] is False


def test_filters_by_voice_type_search_and_voice_ids(emulator_http, create_voice):
    alice = create_voice(name="Alice clone", description="warm narrator")
    bob = create_voice(name="Bob clone")

    personal = emulator_http.get("/v2/voices", params={"voice_type": "personal", "page_size": 100}).json()
    default = emulator_http.get("/v2/voices", params={"voice_type": "default", "page_size": 100}).json()
    by_text = emulator_http.get("/v2/voices", params={"search": "NARRATOR", "category": "cloned"}).json()
    by_ids = emulator_http.get("/v2/voices", params=[("voice_ids", alice), ("voice_ids", bob)]).json()

    assert {v["voice_id"] for v in personal["voices"]} == {alice, bob}
    assert {v["category"] for v in default["voices"]} == {"premade"}
    assert [v["voice_id"] for v in by_text["voices"]] == [alice]
    assert {v["voice_id"] for v in by_ids["voices"]} == {alice, bob}
    assert by_ids["total_count"] == 2


def test_page_size_over_100_is_a_422(emulator_http):
    response = emulator_http.get("/v2/voices", params={"page_size": 101})

    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["query", "page_size"]


def test_garbage_page_token_is_a_400(emulator_http):
    response = emulator_http.get("/v2/voices", params={"next_page_token": "not-a-token"})

    assert response.status_code == 400
    assert response.json()["detail"]["param"] == "next_page_token"
