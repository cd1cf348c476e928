"""The ClickUp wire client against the local ClickUp server: paging by ``last_page``, every
comment past the newest 25, rate limits read from ``X-RateLimit-*`` (slowed down before the
429, paused on it), a revoked token refused without a refresh, the OAuth code exchange."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from connections.providers import clickup, errors, oauth2
from tests.fakes.clickup_server import FakeClickUp


@pytest.fixture
def fake() -> Iterator[FakeClickUp]:
    with FakeClickUp() as server:
        yield server


@pytest.fixture
def team(fake: FakeClickUp) -> tuple[str, str]:
    """(team id, list id) of a workspace with one list."""
    team = fake.store.team_add("Acme")
    space = fake.store.space_add(team, "Ops")
    return team, fake.store.list_add(space, "Inbox")


def client_for(fake: FakeClickUp, *, sleeps: list[float] | None = None) -> clickup.ClickUpClient:
    token = fake.grant()
    record = sleeps if sleeps is not None else []

    def sleep(seconds: float) -> None:
        record.append(seconds)
        import time

        time.sleep(seconds)

    return clickup.ClickUpClient(api_url=fake.api_url, token=lambda _refused: token, sleep=sleep)


def test_tasks_are_paged_until_clickup_says_last_page_not_until_a_short_page(
    fake: FakeClickUp, team: tuple[str, str]
) -> None:
    fake.page_size = 3
    team_id, list_id = team
    for n in range(7):
        fake.store.task_add(list_id, f"task {n}")
    with client_for(fake) as api:
        pages = list(api.tasks(team_id=team_id, list_ids=(list_id,)))
    assert [len(p.tasks) for _, p in pages] == [3, 3, 1]
    assert [t.name for _, p in pages for t in p.tasks] == [f"task {n}" for n in range(7)]
    assert [r.query["page"] for r in fake.requests_to("/task")] == ["0", "1", "2"]


def test_every_comment_is_read_past_the_newest_25_with_start_and_start_id(
    fake: FakeClickUp, team: tuple[str, str]
) -> None:
    task = fake.store.task_add(team[1], "busy task")
    for n in range(60):
        fake.store.comment_add(task, f"comment {n}")
    with client_for(fake) as api:
        comments = api.comments(task)
    assert [c.text for c in comments] == [f"comment {n}" for n in reversed(range(60))]
    calls = fake.requests_to("/comment")
    assert len(calls) == 3
    assert "start" not in calls[0].query
    assert calls[1].query["start_id"] == comments[24].id and calls[1].query["start"] == str(comments[24].date)


def test_few_requests_left_slow_the_client_down_so_it_never_meets_the_429(
    fake: FakeClickUp, team: tuple[str, str]
) -> None:
    fake.rate_limit(limit=12, window=1.0)
    sleeps: list[float] = []
    with client_for(fake, sleeps=sleeps) as api:
        for _ in range(30):
            api.user()
    assert fake.over_limit == 0
    assert sleeps and api.slept == pytest.approx(sum(sleeps))
    assert all(s <= clickup.MAX_INLINE_WAIT for s in sleeps)


def test_a_used_up_limit_with_a_distant_reset_pauses_before_sending_rather_than_waiting(
    fake: FakeClickUp, team: tuple[str, str]
) -> None:
    fake.rate_limit(limit=3, window=120.0)
    sleeps: list[float] = []
    with client_for(fake, sleeps=sleeps) as api:
        for _ in range(3):
            api.user()
        with pytest.raises(errors.Throttled) as caught:
            api.user()
    assert 100 < caught.value.retry_after <= 120
    assert len(fake.requests_to("/user")) == 3  # the fourth was never sent
    assert fake.over_limit == 0


def test_a_429_is_throttling_until_the_rate_limit_reset(fake: FakeClickUp) -> None:
    fake.throttle_next(1, retry_after="42")
    with client_for(fake) as api, pytest.raises(errors.Throttled) as caught:
        api.teams()
    assert 40 <= caught.value.retry_after <= 42


def test_a_revoked_token_is_refused_without_asking_for_another(fake: FakeClickUp) -> None:
    asked: list[str | None] = []

    def token(refused: str | None) -> str:
        asked.append(refused)
        return "revoked-token"

    with clickup.ClickUpClient(api_url=fake.api_url, token=token) as api, pytest.raises(errors.AuthRefused) as caught:
        api.user()
    assert caught.value.code == "OAUTH_019"
    assert asked == [None]


def test_a_deleted_task_answers_item_gone_and_an_archived_one_says_so(
    fake: FakeClickUp, team: tuple[str, str]
) -> None:
    gone, shelved = fake.store.task_add(team[1], "gone"), fake.store.task_add(team[1], "shelved")
    fake.store.task_delete(gone)
    fake.store.task_archive(shelved)
    with client_for(fake) as api:
        with pytest.raises(errors.ItemGone):
            api.task(gone)
        assert api.task(shelved).archived
        assert [t.id for _, p in api.tasks(team_id=team[0]) for t in p.tasks] == []


def test_the_code_exchange_posts_client_id_secret_and_code_and_gets_a_token_without_expiry(fake: FakeClickUp) -> None:
    import httpx

    at = httpx.get(f"{fake.auth_url}?client_id={fake.client_id}&redirect_uri=http://kb.test/cb&state=s1")
    code = at.headers["Location"].split("code=")[1].split("&")[0]
    endpoint = oauth2.TokenEndpoint(token_url=f"{fake.api_url}/oauth/token", client_id=fake.client_id,
                                    client_secret=fake.client_secret, style="clickup")
    with oauth2.OAuth2Client(endpoint) as client:
        token_set = client.exchange_code(code=code, redirect_uri="http://kb.test/cb", code_verifier=None)
        assert token_set.refresh_token is None and token_set.expires_in is None
        with pytest.raises(oauth2.TokenRefused):
            client.exchange_code(code=code, redirect_uri="http://kb.test/cb", code_verifier=None)
    with clickup.ClickUpClient(api_url=fake.api_url, token=lambda _r: token_set.access_token) as api:
        assert api.user().label == "dana@brightsmile.example"


def test_the_sandbox_control_endpoints_throttle_and_revoke(fake: FakeClickUp) -> None:
    import httpx

    with client_for(fake) as api:
        assert httpx.post(f"{fake.base_url}/_sandbox/throttle", json={"count": 1, "retry_after": "9"}).status_code == 200
        with pytest.raises(errors.Throttled):
            api.user()
        with pytest.raises(errors.Throttled):  # the 429 said none are left until the reset: not even sent
            api.user()
    assert len(fake.requests_to("/user")) == 1
    with client_for(fake) as api:
        assert api.user().id
        assert httpx.post(f"{fake.base_url}/_sandbox/revoke").status_code == 200
        with pytest.raises(errors.AuthRefused):
            api.user()
