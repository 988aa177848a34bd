"""The instance's Ed25519 signing keys, kept in a private JSON file (never in the database).

A stolen database dump must not let anyone sign as this instance, and a restored backup must
not roll the keys back: so the keys live beside the database, in a file only the service user
can read. The file holds every key this instance ever signed with; exactly one is active (it
signs), the others are retired (still published, so objects they signed keep verifying).
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import os
import secrets
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat

from federation.envelope import key_id, public_key_multibase, timestamp

FILE_FORMAT = "solidarity-federation-keys/1"
ACTIVE = "active"
RETIRED = "retired"


class KeyFileError(RuntimeError):
    """The key file cannot be used; the message says what to do."""


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass(frozen=True)
class SigningKey:
    name: str
    private_key: Ed25519PrivateKey
    status: str
    created: str

    @property
    def public_key(self) -> Ed25519PublicKey:
        return self.private_key.public_key()

    def key_id(self, origin: str) -> str:
        return key_id(origin, self.name)

    def describe(self, origin: str) -> dict[str, Any]:
        """The public half, as the discovery document lists it."""
        return {
            "id": self.key_id(origin),
            "type": "Multikey",
            "controller": origin,
            "algorithm": "Ed25519",
            "publicKeyMultibase": public_key_multibase(self.public_key),
            "status": self.status,
            "created": self.created,
        }

    def to_json(self) -> dict[str, str]:
        seed = self.private_key.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
        return {
            "name": self.name,
            "status": self.status,
            "created": self.created,
            "private_key": _b64(seed),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SigningKey:
        return cls(
            name=str(data["name"]),
            private_key=Ed25519PrivateKey.from_private_bytes(_unb64(str(data["private_key"]))),
            status=str(data["status"]),
            created=str(data["created"]),
        )

    @classmethod
    def generate(cls) -> SigningKey:
        now = dt.datetime.now(dt.UTC)
        # Names only need to be unique within this instance; the date helps operators.
        name = f"key-{now:%Y%m%d}-{secrets.token_hex(4)}"
        return cls(name, Ed25519PrivateKey.generate(), ACTIVE, timestamp(now))


class KeyRing:
    """The keys of one instance, loaded from (and written to) one file."""

    def __init__(self, path: Path, keys: list[SigningKey]) -> None:
        self.path = path
        self.keys = keys

    @property
    def active(self) -> SigningKey:
        return next(key for key in self.keys if key.status == ACTIVE)

    def public_keys(self, origin: str) -> list[dict[str, Any]]:
        return [key.describe(origin) for key in self.keys]

    @classmethod
    def open(cls, path: str | os.PathLike[str]) -> KeyRing:
        """Load the key file, creating it with a fresh key on first start."""
        path = Path(path)
        if not path.exists():
            _write_new(path, [SigningKey.generate()])
        return cls(path, _read(path))

    def rotate(self) -> SigningKey:
        """Add a new active key; every older key becomes retired (and stays published)."""
        new = SigningKey.generate()
        keys = [
            SigningKey(k.name, k.private_key, RETIRED, k.created) if k.status == ACTIVE else k
            for k in self.keys
        ]
        keys.append(new)
        _replace(self.path, keys)
        self.keys = keys
        return new


def _serialize(keys: list[SigningKey]) -> bytes:
    document = {"format": FILE_FORMAT, "keys": [key.to_json() for key in keys]}
    return (json.dumps(document, indent=2) + "\n").encode("utf-8")


def _write_private(path: Path, content: bytes) -> None:
    # O_EXCL + mode 0600 at creation: there is no moment at which the file exists with
    # wider permissions, and we never write through a file (or link) someone planted.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, content)
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_new(path: Path, keys: list[SigningKey]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(6)}")
    _write_private(temporary, _serialize(keys))
    try:
        # link() fails if the file appeared meanwhile (several workers starting at once): the
        # first one wins, the others read its complete file rather than a half-written one.
        os.link(temporary, path)
    except FileExistsError:
        pass
    finally:
        temporary.unlink()


def _replace(path: Path, keys: list[SigningKey]) -> None:
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(6)}")
    _write_private(temporary, _serialize(keys))
    os.replace(temporary, path)


def _read(path: Path) -> list[SigningKey]:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError as exc:
        raise KeyFileError(f"cannot open the federation key file {path}: {exc}") from exc
    with os.fdopen(fd, "rb") as handle:
        mode = os.fstat(handle.fileno()).st_mode
        if mode & 0o077:
            raise KeyFileError(
                f"the federation key file {path} is accessible to group or others "
                f"(mode {stat.S_IMODE(mode):04o}); it holds this instance's private keys. "
                f"Run `chmod 600 {path}` (and consider the keys exposed: rotate them)."
            )
        raw = handle.read()
    try:
        document = json.loads(raw)
        if document.get("format") != FILE_FORMAT:
            raise ValueError(f"unknown format {document.get('format')!r}")
        keys = [SigningKey.from_json(item) for item in document["keys"]]
    except (ValueError, KeyError, TypeError) as exc:
        raise KeyFileError(f"the federation key file {path} is not readable: {exc}") from exc
    if sum(key.status == ACTIVE for key in keys) != 1:
        raise KeyFileError(f"the federation key file {path} must hold exactly one active key")
    return keys
