"""Sign-in, sessions and CSRF, API tokens and their revocation, login throttling and rate limits."""

from __future__ import annotations

import statistics
import time

from api.api_peers import OWNER_EMAIL, OWNER_PASSWORD, VIEWER_EMAIL


def test_login_sets_a_hardened_session_cookie_and_returns_the_csrf_token(live_api) -> None:
    api = live_api()
    client = api.anonymous()
    # When the owner signs in
    response = client.post("/auth/login", json={"email": OWNER_EMAIL, "password": OWNER_PASSWORD})
    # Then a session cookie is set HttpOnly and SameSite, and the answer carries the CSRF token
    assert response.status_code == 200
    cookie = response.headers["set-cookie"]
    assert "corral_session=" in cookie and "HttpOnly" in cookie and "SameSite=strict" in cookie
    assert "Secure" not in cookie  # plain HTTP on loopback
    body = response.json()
    assert body["account"]["email"] == OWNER_EMAIL and body["csrf_token"]
    assert "queues:read" in body["permissions"]
    # And the session reads data
    assert client.get("/owner/queues").status_code == 200


def test_cookie_is_secure_when_configured(live_api) -> None:
    api = live_api(secure_cookies="always")
    response = api.anonymous().post("/auth/login", json={"email": OWNER_EMAIL, "password": OWNER_PASSWORD})
    assert "Secure" in response.headers["set-cookie"]


def test_wrong_password_and_unknown_account_answer_alike_in_similar_time(live_api) -> None:
    api = live_api(rate_limit_login_ip="1000/minute", rate_limit_login_account="1000/minute")
    client = api.anonymous()

    def attempt(email: str) -> tuple[int, str, float]:
        started = time.perf_counter()
        response = client.post("/auth/login", json={"email": email, "password": "wrong password here"})
        return response.status_code, response.json()["detail"], time.perf_counter() - started

    # When a known account with a wrong password and an unknown account try alternately
    wrong = [attempt(OWNER_EMAIL) for _ in range(6)]
    unknown = [attempt("nobody@example.com") for _ in range(6)]
    # Then both answer 401 with the same words
    assert {(s, d) for s, d, _ in wrong} == {(s, d) for s, d, _ in unknown} == {(401, "email or password is wrong")}
    # And take about the same time (both verify an argon2 hash)
    wrong_time = statistics.median(t for *_, t in wrong)
    unknown_time = statistics.median(t for *_, t in unknown)
    assert 0.5 < wrong_time / unknown_time < 2.0, (wrong_time, unknown_time)


def test_login_is_throttled_per_account_then_per_address(live_api) -> None:
    api = live_api(rate_limit_login_account="3/minute", rate_limit_login_ip="5/minute")
    client = api.anonymous()
    # When an account gets three wrong passwords
    for _ in range(3):
        assert client.post("/auth/login", json={"email": OWNER_EMAIL, "password": "nope nope"}).status_code == 401
    # Then the fourth attempt, even with the right password, is refused with 429 and Retry-After
    blocked = client.post("/auth/login", json={"email": OWNER_EMAIL, "password": OWNER_PASSWORD})
    assert blocked.status_code == 429
    assert int(blocked.headers["Retry-After"]) >= 1
    assert blocked.headers["RateLimit-Limit"] == "3" and blocked.headers["RateLimit-Remaining"] == "0"
    # And once the address has spent its own budget, another account is refused too
    assert client.post("/auth/login", json={"email": VIEWER_EMAIL, "password": "x"}).status_code == 401
    assert client.post("/auth/login", json={"email": VIEWER_EMAIL, "password": "x"}).status_code == 429


def test_a_role_without_permissions_cannot_sign_in_and_is_refused_like_a_wrong_password(live_api) -> None:
    # Given an account whose role holds no permission
    api = live_api()
    client = api.anonymous()
    # When it signs in with its right password, and with a wrong one
    right = client.post("/auth/login", json={"email": VIEWER_EMAIL, "password": "another long password"})
    wrong = client.post("/auth/login", json={"email": VIEWER_EMAIL, "password": "not the password"})
    # Then both answers are the same 401 (a 403 would confirm the password), and no session is made
    assert (right.status_code, right.json()["detail"]) == (401, "email or password is wrong")
    assert (wrong.status_code, wrong.json()["detail"]) == (401, "email or password is wrong")
    assert "corral_session" not in right.headers.get("set-cookie", "")


def test_cookie_mutations_need_the_csrf_token(live_api) -> None:
    api = live_api()
    client, csrf = api.signed_in()
    # When a state-changing request comes with the cookie but no CSRF header
    refused = client.post("/owner/queues/email/pause")
    # Then it is refused and nothing changes
    assert refused.status_code == 403 and "CSRF" in refused.json()["detail"]
    assert client.get("/owner/queues/email").json()["paused"] is False
    # And with a wrong token it is refused too, with the right one it passes
    assert client.post("/owner/queues/email/pause", headers={"X-CSRF-Token": "forged"}).status_code == 403
    assert client.post("/owner/queues/email/pause", headers={"X-CSRF-Token": csrf}).status_code == 200
    assert client.get("/owner/queues/email").json()["paused"] is True


def test_logout_ends_the_session(live_api) -> None:
    api = live_api()
    client, csrf = api.signed_in()
    assert client.post("/auth/logout", headers={"X-CSRF-Token": csrf}).status_code == 204
    assert client.get("/owner/queues").status_code == 401


def test_tokens_are_shown_once_listed_without_secret_and_revocable(live_api) -> None:
    api = live_api()
    owner = api.owner()
    # When the owner creates a token
    created = owner.post("/auth/tokens", json={"name": "ci", "ttl_days": 30})
    assert created.status_code == 201
    token = created.json()["token"]
    assert token.startswith("crl_")
    # Then it works, and listings never show it again
    second = api.client(headers={"Authorization": f"Bearer {token}"})
    assert second.get("/owner/queues").status_code == 200
    listed = owner.get("/auth/tokens").json()
    assert all(item["token"] is None for item in listed)
    assert {item["name"] for item in listed} == {"tests", "ci"}
    # When it is revoked, it stops working at once
    assert owner.delete(f"/auth/tokens/{created.json()['id']}").status_code == 200
    refused = second.get("/owner/queues")
    assert refused.status_code == 401 and "revoked" in refused.json()["detail"]


def test_malformed_authorization_is_401(live_api) -> None:
    api = live_api()
    for header in ("Basic abc", "Bearer", "Bearer crl_unknown"):
        assert api.client(headers={"Authorization": header}).get("/owner/queues").status_code == 401


def test_read_budget_answers_429_with_rate_limit_headers(live_api) -> None:
    api = live_api(rate_limit_reads="4/minute")
    owner = api.owner()
    answers = [owner.get("/owner/queues") for _ in range(5)]
    assert [a.status_code for a in answers] == [200, 200, 200, 200, 429]
    assert answers[0].headers["RateLimit-Limit"] == "4"
    assert answers[2].headers["RateLimit-Remaining"] == "1"
    assert int(answers[4].headers["Retry-After"]) > 0
    # Mutations have their own budget
    assert owner.post("/owner/queues/email/pause").status_code == 200


def test_export_budget_is_separate(live_api) -> None:
    api = live_api(rate_limit_exports="1/minute")
    owner = api.owner()
    assert owner.get("/owner/audit.csv").status_code == 200
    assert owner.get("/owner/audit.csv").status_code == 429
    assert owner.get("/owner/audit").status_code == 200


def test_disabling_an_account_stops_its_tokens_at_once(live_api) -> None:
    api = live_api()
    owner = api.owner()
    # Given a second owner whose token has just been used (and so is cached)
    ops = {"email": "ops@example.com", "role": "owner", "password": "ops owner password"}
    assert owner.post("/owner/users", json=ops).status_code == 201
    session = api.anonymous()
    csrf = session.post("/auth/login", json={"email": ops["email"], "password": ops["password"]}).json()["csrf_token"]
    token = session.post("/auth/tokens", json={"name": "ops"}, headers={"X-CSRF-Token": csrf}).json()["token"]
    ops_client = api.client(headers={"Authorization": f"Bearer {token}"})
    assert ops_client.get("/owner/queues").status_code == 200
    # When the first owner disables the account
    assert owner.post("/owner/users/ops@example.com/disable").status_code == 200
    # Then its token and its session are refused on the next request
    assert ops_client.get("/owner/queues").status_code == 401
    assert session.get("/owner/queues").status_code == 401
