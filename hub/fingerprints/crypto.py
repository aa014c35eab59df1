"""Templates encrypted at rest: AES-256-GCM, key derived with HKDF-SHA256.

The input key material is `Settings.secret_key` when set; otherwise 32
random bytes kept in `<data_dir>/secret.key` (mode 0600), created on first
use with O_EXCL so two hub processes starting together agree on one key.
The associated data binds each ciphertext to its branch, member and slot:
a sealed template copied onto another member's row does not decrypt.
"""

from __future__ import annotations

import base64
import hashlib
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from hub.config import Settings

KEY_FILE = "secret.key"
NONCE_SIZE = 12
_INFO = b"branchlive fingerprint templates v1"


class TemplateKeyError(Exception):
    """The template key cannot be loaded, or a template does not decrypt with it."""


def _read_or_create_key_file(path: Path) -> bytes:
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        pass
    else:
        try:
            os.write(fd, base64.urlsafe_b64encode(secrets.token_bytes(32)) + b"\n")
            os.fsync(fd)
        finally:
            os.close(fd)
    try:
        raw = path.read_bytes().strip()
        material = base64.urlsafe_b64decode(raw)
    except (OSError, ValueError) as exc:
        raise TemplateKeyError(
            f"cannot read the hub secret {path} ({exc}); restore it from backup or set BRANCHLIVE_SECRET_KEY"
        ) from exc
    if len(material) < 16:
        raise TemplateKeyError(f"the hub secret {path} is too short; restore it from backup")
    return material


def key_material(settings: Settings) -> bytes:
    if settings.secret_key:
        return settings.secret_key.encode()
    return _read_or_create_key_file(settings.data_dir / KEY_FILE)


@dataclass(frozen=True)
class TemplateCipher:
    key: bytes
    key_id: str

    @classmethod
    def from_material(cls, material: bytes) -> TemplateCipher:
        key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_INFO).derive(material)
        return cls(key=key, key_id=hashlib.sha256(b"key-id:" + key).hexdigest()[:16])

    @classmethod
    def from_settings(cls, settings: Settings) -> TemplateCipher:
        return cls.from_material(key_material(settings))

    @staticmethod
    def associated_data(branch_id: int, member_id: int, slot: int) -> bytes:
        return f"branch:{branch_id}/member:{member_id}/slot:{slot}".encode()

    def seal(self, template: bytes, *, branch_id: int, member_id: int, slot: int) -> bytes:
        nonce = secrets.token_bytes(NONCE_SIZE)
        aad = self.associated_data(branch_id, member_id, slot)
        return nonce + AESGCM(self.key).encrypt(nonce, template, aad)

    def open(self, sealed: bytes, *, key_id: str, branch_id: int, member_id: int, slot: int) -> bytes:
        if key_id != self.key_id:
            raise TemplateKeyError(
                f"this template was sealed with another hub secret (key {key_id}, this hub has {self.key_id}); "
                "restore the old secret.key / BRANCHLIVE_SECRET_KEY, or enrol the finger again"
            )
        aad = self.associated_data(branch_id, member_id, slot)
        try:
            return AESGCM(self.key).decrypt(sealed[:NONCE_SIZE], sealed[NONCE_SIZE:], aad)
        except InvalidTag as exc:
            raise TemplateKeyError(
                f"the template of branch {branch_id} slot {slot} does not decrypt (tampered or moved); enrol the finger again"
            ) from exc
