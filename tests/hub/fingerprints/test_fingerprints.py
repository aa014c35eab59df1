"""Fingerprint backup on the hub: device routes, ownership, encryption at
rest, the key file, operator scoping, and the migration matching the models."""

from __future__ import annotations

import base64
import os
import stat

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text

from hub.config import Settings
from hub.db import Base
from hub.fingerprints.crypto import KEY_FILE, TemplateCipher, TemplateKeyError
from tests.hub.conftest import County

TEMPLATE = bytes(range(256)) * 2  # 512 bytes, like an R307 template


def dev(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def put(client: TestClient, token: str, member_id: int, slot: int, data: bytes = TEMPLATE, finger: str | None = "right_index"):
    return client.put("/api/v1/fingerprints/templates", headers=dev(token),
                      json={"member_id": member_id, "slot": slot, "template_b64": base64.b64encode(data).decode(), "finger": finger})


def test_backup_and_restore_round_trip(client: TestClient, county: County) -> None:
    token = county.tokens["东城一村"]
    r = put(client, token, county.members["张三"], 0)
    assert r.status_code == 200, r.text
    assert r.json()["template_size"] == 512
    assert put(client, token, county.members["李四"], 1, TEMPLATE[::-1]).status_code == 200
    # upsert: same slot again replaces it
    assert put(client, token, county.members["李四"], 1, TEMPLATE).status_code == 200
    r = client.get("/api/v1/fingerprints/templates", headers=dev(token))
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["branch_id"] == county.branches["东城一村"]
    assert [(t["member_id"], t["slot"]) for t in body["templates"]] == [(county.members["张三"], 0), (county.members["李四"], 1)]
    assert all(base64.b64decode(t["template_b64"]) == TEMPLATE for t in body["templates"])
    # the other branch's device sees nothing of it
    assert client.get("/api/v1/fingerprints/templates", headers=dev(county.tokens["西山一村"])).json()["templates"] == []


def test_device_must_own_the_member(client: TestClient, county: County) -> None:
    r = put(client, county.tokens["西山一村"], county.members["张三"], 0)
    assert r.status_code == 404
    assert r.json()["code"] == "not_in_branch"
    assert "roster" in r.json()["detail"]
    assert put(client, "wrong-token", county.members["张三"], 0).status_code == 401
    assert client.get("/api/v1/fingerprints/templates").status_code == 401
    r = client.put("/api/v1/fingerprints/templates", headers=dev(county.tokens["东城一村"]),
                   json={"member_id": county.members["张三"], "slot": 0, "template_b64": "not base64!!"})
    assert r.status_code == 422
    assert "base64" in r.json()["detail"]


def test_templates_are_encrypted_at_rest(client: TestClient, county: County, settings: Settings) -> None:
    assert put(client, county.tokens["东城一村"], county.members["张三"], 3).status_code == 200
    engine = create_engine(settings.database_url or "")
    with engine.connect() as conn:
        sealed, key_id = conn.execute(text("SELECT ciphertext, key_id FROM fingerprint_enrolments")).one()
    engine.dispose()
    sealed = bytes(sealed)
    assert TEMPLATE not in sealed and TEMPLATE[:32] not in sealed
    assert len(sealed) == 12 + 512 + 16  # nonce + ciphertext + GCM tag
    key_path = settings.data_dir / KEY_FILE
    assert stat.S_IMODE(os.stat(key_path).st_mode) == 0o600
    cipher = TemplateCipher.from_settings(settings)
    assert cipher.key_id == key_id
    branch = county.branches["东城一村"]
    assert cipher.open(sealed, key_id=key_id, branch_id=branch, member_id=county.members["张三"], slot=3) == TEMPLATE
    with pytest.raises(TemplateKeyError, match="does not decrypt"):  # bound to its member
        cipher.open(sealed, key_id=key_id, branch_id=branch, member_id=county.members["李四"], slot=3)
    other = TemplateCipher.from_material(b"another hub's secret")
    with pytest.raises(TemplateKeyError, match="another hub secret"):
        other.open(sealed, key_id=key_id, branch_id=branch, member_id=county.members["张三"], slot=3)


def test_secret_key_setting_is_used(tmp_path) -> None:
    a = TemplateCipher.from_settings(Settings(data_dir=tmp_path / "a", secret_key="s3cret-one"))
    b = TemplateCipher.from_settings(Settings(data_dir=tmp_path / "b", secret_key="s3cret-one"))
    assert a.key_id == b.key_id
    assert not (tmp_path / "a" / KEY_FILE).exists()
    generated = TemplateCipher.from_settings(Settings(data_dir=tmp_path / "c"))
    assert generated.key_id == TemplateCipher.from_settings(Settings(data_dir=tmp_path / "c")).key_id
    assert generated.key_id != a.key_id


def test_operators_list_and_delete_within_their_area(client: TestClient, county: County) -> None:
    token, branch = county.tokens["东城一村"], county.branches["东城一村"]
    assert put(client, token, county.members["张三"], 0).status_code == 200
    assert put(client, token, county.members["张三"], 1, finger="left_index").status_code == 200
    assert put(client, token, county.members["李四"], 2).status_code == 200
    east, west = county.operators["东城镇"], county.operators["西山乡"]
    r = client.get(f"/api/v1/branches/{branch}/fingerprints", headers=east)
    assert r.status_code == 200, r.text
    listed = {m["name"]: [f["slot"] for f in m["fingers"]] for m in r.json()}
    assert listed == {"张三": [0, 1], "李四": [2]}
    assert "template_b64" not in r.text
    assert client.get(f"/api/v1/branches/{branch}/fingerprints", headers=west).status_code == 404
    assert client.delete(f"/api/v1/members/{county.members['张三']}/fingerprints", headers=west).status_code == 404
    r = client.delete(f"/api/v1/members/{county.members['张三']}/fingerprints", headers=east)
    assert r.status_code == 200, r.text
    assert r.json()["slots"] == [0, 1]
    restored = client.get("/api/v1/fingerprints/templates", headers=dev(token)).json()["templates"]
    assert [t["slot"] for t in restored] == [2]
    # the device clears a slot itself
    assert client.delete("/api/v1/fingerprints/templates/2", headers=dev(token)).status_code == 204
    assert client.get("/api/v1/fingerprints/templates", headers=dev(token)).json()["templates"] == []


def test_removed_member_is_not_restored_nor_backed_up(client: TestClient, county: County) -> None:
    token = county.tokens["东城一村"]
    assert put(client, token, county.members["王五"], 5).status_code == 200
    r = client.patch(f"/api/v1/members/{county.members['王五']}", headers=county.admin, json={"active": False})
    assert r.status_code == 200, r.text
    assert client.get("/api/v1/fingerprints/templates", headers=dev(token)).json()["templates"] == []
    r = put(client, token, county.members["王五"], 5)
    assert r.status_code == 409
    assert r.json()["code"] == "member_inactive"


def test_migration_matches_the_models(client: TestClient, settings: Settings) -> None:
    """After upgrading all heads, autogenerate finds nothing to add for this package."""
    engine = create_engine(settings.database_url or "")
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    engine.dispose()
    mine = [d for d in diff if "fingerprint" in repr(d)]
    assert mine == []
