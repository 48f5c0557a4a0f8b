"""`X-Forwarded-For` and `-Proto` are believed only from trusted proxies, and read from the right.

The addresses in the headers are only text the test sends; every connection is to the loopback API.
"""

from __future__ import annotations

from api.api_peers import OWNER_EMAIL, OWNER_PASSWORD
from corral.security.audit import AuditFilter, AuditTrail
from corral.sql import Database


def audited_addresses(settings) -> list[str | None]:
    database = Database(settings.resolved_database_url)
    try:
        return [row.ip for row in AuditTrail(database).rows(AuditFilter(action="auth.login"))]
    finally:
        database.dispose()


def test_forwarded_headers_are_ignored_without_a_trusted_proxy(live_api) -> None:
    # Given the default settings (no trusted proxy) and a sign-in budget of 6 per address
    api = live_api(rate_limit_login_ip="6/minute", rate_limit_login_account="1000/minute")
    client = api.anonymous()
    # When the owner signs in claiming https through a proxy
    signed_in = client.post(
        "/auth/login",
        json={"email": OWNER_EMAIL, "password": OWNER_PASSWORD},
        headers={"X-Forwarded-Proto": "https", "X-Forwarded-For": "198.51.100.1"},
    )
    # Then the cookie is not Secure: the claim is not believed
    assert signed_in.status_code == 200 and "Secure" not in signed_in.headers["set-cookie"]
    # When six wrong passwords come, each claiming another address
    answers = [
        client.post(
            "/auth/login",
            json={"email": OWNER_EMAIL, "password": "wrong password"},
            headers={"X-Forwarded-For": f"203.0.113.{n}"},
        ).status_code
        for n in range(6)
    ]
    # Then they all counted against the real address: the budget of six ran out at the sixth attempt in all
    assert answers == [401, 401, 401, 401, 401, 429]
    # And the audit log records the real address, not the claimed ones
    assert set(audited_addresses(api.settings)) == {"127.0.0.1"}


def test_behind_trusted_proxies_the_right_most_untrusted_address_is_the_client(live_api) -> None:
    # Given the loopback connection and a private network configured as trusted proxies
    api = live_api(trusted_proxies=["127.0.0.1", "10.0.0.0/8"], rate_limit_login_account="1000/minute")
    client = api.anonymous()
    # When a request comes through a proxy chain whose left part the client wrote itself
    chain = "203.0.113.66, 198.51.100.9, 10.1.2.3"
    refused = client.post(
        "/auth/login", json={"email": OWNER_EMAIL, "password": "wrong password"}, headers={"X-Forwarded-For": chain}
    )
    # And another whose every hop is trusted
    trusted_only = client.post(
        "/auth/login",
        json={"email": OWNER_EMAIL, "password": "wrong password"},
        headers={"X-Forwarded-For": "10.9.9.9, 10.1.2.3"},
    )
    # Then the client is the right-most address that is not a trusted proxy (or the farthest trusted hop)
    assert refused.status_code == trusted_only.status_code == 401
    assert sorted(audited_addresses(api.settings)) == ["10.9.9.9", "198.51.100.9"]
    # And the trusted proxy's https makes the cookie Secure
    signed_in = client.post(
        "/auth/login",
        json={"email": OWNER_EMAIL, "password": OWNER_PASSWORD},
        headers={"X-Forwarded-For": "198.51.100.9", "X-Forwarded-Proto": "https"},
    )
    assert signed_in.status_code == 200 and "Secure" in signed_in.headers["set-cookie"]
