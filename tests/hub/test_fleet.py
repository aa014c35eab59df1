"""Fleet view: each agent's hello carries its version and settings digest;
`GET /api/v1/fleet` lists them, within the operator's scope, and counts the
halls whose agent is older than the hub."""

from __future__ import annotations

from fastapi.testclient import TestClient

from hub.devices.fleet import hub_release, is_older
from tests.hub.conftest import County
from tests.hub.test_edge_ws import edge, msg


def say_hello(client: TestClient, token: str, version: str, digest: str | None) -> None:
    with edge(client, token) as ws:
        ws.send_json(msg("hello", agent_version=version, roster_version=None, settings_digest=digest))
        while ws.receive_json()["type"] != "welcome":
            pass
        # The hello is noted before the roster goes out: wait for the roster.
        while ws.receive_json()["type"] != "roster":
            pass


def test_fleet_lists_versions_and_outdated_halls(client: TestClient, county: County) -> None:
    expected = hub_release()
    say_hello(client, county.tokens["东城一村"], "0.0.1", "aaaa1111bbbb2222")
    say_hello(client, county.tokens["西山一村"], expected, "cccc3333dddd4444")
    fleet = client.get("/api/v1/fleet", headers=county.admin).json()
    assert fleet["expected_agent_version"] == expected
    by_branch = {d["branch_name"]: d for d in fleet["devices"]}
    assert by_branch["东城一村"]["agent_version"] == "0.0.1" and by_branch["东城一村"]["outdated"] is True
    assert by_branch["东城一村"]["settings_digest"] == "aaaa1111bbbb2222"
    assert by_branch["西山一村"]["agent_version"] == expected and by_branch["西山一村"]["outdated"] is False
    assert fleet["outdated"] == 1 and fleet["versions"] == {"0.0.1": 1, expected: 1}
    # a township operator sees only the township's halls
    town = client.get("/api/v1/fleet", headers=county.operators["西山乡"]).json()
    assert [d["branch_name"] for d in town["devices"]] == ["西山一村"]
    # the hall upgrades: no longer outdated
    say_hello(client, county.tokens["东城一村"], expected, "aaaa1111bbbb2222")
    assert client.get("/api/v1/fleet", headers=county.admin).json()["outdated"] == 0


def test_version_order() -> None:
    assert is_older("0.1.0", "0.2.0") and is_older("0.9.9", "1.0.0") and not is_older("1.0.0", "1.0.0")
    assert not is_older(None, "1.0.0") and not is_older("", "1.0.0") and not is_older("1.2.0", "1.1.9")


def test_the_demos_simulated_halls_are_not_outdated_agents() -> None:
    from branchlive import simhall

    assert not is_older(simhall.SIM_AGENT_VERSION, hub_release())


def test_edge_settings_digest_ignores_secrets_and_follows_settings(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from devices.config import load_settings

    base = {"hub_url": "http://10.0.0.5:8600", "data_dir": tmp_path, "admin_pin": "246810"}
    a = load_settings(None, **base, enrolment_code="K7QP-M3XD")
    b = load_settings(None, **{**base, "admin_pin": "135790"})
    c = load_settings(None, **base, video_fps=10)
    assert a.digest() == b.digest() != c.digest() and len(a.digest()) == 16
