"""Signed object envelopes: RFC 8785 canonical JSON and `eddsa-jcs-2022` integrity proofs.

Pure functions, no database and no Flask, so the serving side, the reading side and tests all
sign and verify with exactly the same bytes. docs/federation.md is the normative description;
keep the two in step.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import json
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

import base58
import rfc8785
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

OBJECT_TYPES = ("Coalition", "Campaign", "Endorsement", "Event", "Tombstone")
PROOF_TYPE = "DataIntegrityProof"
CRYPTOSUITE = "eddsa-jcs-2022"
PROOF_PURPOSE = "assertionMethod"
DISCOVERY_PATH = "/.well-known/solidarity-federation"
OBJECTS_PATH = "/federation/v1/objects/"
# The largest envelope (its canonical bytes) a reader accepts: docs/federation.md, limits.
OBJECT_MAX_BYTES = 64 * 1024
# Multicodec prefix of an Ed25519 public key (varint 0xed), as Multikey documents carry it.
_ED25519_PUB_PREFIX = b"\xed\x01"


class ProofError(ValueError):
    """An envelope whose proof is missing, malformed, or does not verify."""


class FloatInSignedData(TypeError):
    """Floats are refused in signed data: their canonical text differs between languages."""


def timestamp(moment: dt.datetime) -> str:
    """UTC to the second, `Z` suffix: the only time format inside envelopes."""
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def object_url(origin: str, object_id: object) -> str:
    """An object's global id: a URL on its origin."""
    return f"{origin}{OBJECTS_PATH}{object_id}"


def key_id(origin: str, key_name: str) -> str:
    return f"{origin}{DISCOVERY_PATH}#{key_name}"


# Integers beyond this are printed differently by JCS (which formats numbers as IEEE doubles).
_MAX_EXACT_INT = 2**53 - 1


def _float_path(value: Any, path: str = "$") -> str | None:
    if isinstance(value, float):
        return path
    items: Any = ()
    if isinstance(value, Mapping):
        items = ((f"{path}.{name}", item) for name, item in value.items())
    elif isinstance(value, list | tuple):
        items = ((f"{path}[{index}]", item) for index, item in enumerate(value))
    for item_path, item in items:
        found = _float_path(item, item_path)
        if found:
            return found
    return None


def _check_signable(value: Any) -> bool:
    """Refuse floats; return whether `json.dumps` gives the RFC 8785 bytes of `value`.

    For JSON without floats, with integers an IEEE double holds exactly and ASCII member names
    (whose code point order is their UTF-16 order), JCS is sorted-key compact JSON with
    unescaped UTF-8: the same bytes the standard library writes, five times faster than the
    general algorithm. Anything else takes the general path.
    """
    simple = True
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str) or item is None or isinstance(item, bool):
            continue
        if isinstance(item, Mapping):
            for name, member in item.items():
                simple = simple and isinstance(name, str) and name.isascii()
                stack.append(member)
        elif isinstance(item, list | tuple):
            stack.extend(item)
        elif isinstance(item, int):
            simple = simple and -_MAX_EXACT_INT <= item <= _MAX_EXACT_INT
        elif isinstance(item, float):
            raise FloatInSignedData(
                f"float at {_float_path(value)}: send numbers with a fraction as strings"
            )
        else:
            simple = False
    return simple


_ENCODER = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _dumps(value: Any) -> str:
    """JCS text of a value `_check_signable` found simple."""
    return _ENCODER.encode(value)


def canonical(value: Any) -> bytes:
    """RFC 8785 (JCS) bytes of a JSON value that holds no float."""
    if _check_signable(value):
        text = _dumps(value)
        try:
            return text.encode("utf-8")
        except UnicodeEncodeError:
            pass  # a lone surrogate: let the general algorithm reject it
    return rfc8785.dumps(value)


def canonical_signed(envelope: Mapping[str, Any]) -> tuple[bytes, bytes]:
    """RFC 8785 bytes of a signed envelope, and of the same envelope without its proof.

    A reader needs both for every object (the first is what it keeps and relays, the second is
    what the proof signs). JCS sorts members by name, so both are joins of the same members,
    each written once.
    """
    if _check_signable(envelope):
        members = [(name, f"{_dumps(name)}:{_dumps(envelope[name])}") for name in sorted(envelope)]
        try:
            return (
                ("{" + ",".join(member for _, member in members) + "}").encode("utf-8"),
                ("{" + ",".join(m for name, m in members if name != "proof") + "}").encode("utf-8"),
            )
        except UnicodeEncodeError:
            pass  # a lone surrogate: let the general algorithm reject it
    unsigned = {name: value for name, value in envelope.items() if name != "proof"}
    return canonical(envelope), canonical(unsigned)


def multibase_b58(raw: bytes) -> str:
    return "z" + base58.b58encode(raw).decode("ascii")


def from_multibase_b58(text: str) -> bytes:
    if not isinstance(text, str) or not text.startswith("z"):
        raise ValueError("not a base58btc multibase value (must start with 'z')")
    return base58.b58decode(text[1:])


def public_key_multibase(key: Ed25519PublicKey) -> str:
    """A Multikey `publicKeyMultibase`: base58btc of 0xed01 + the 32 raw key bytes."""
    return multibase_b58(_ED25519_PUB_PREFIX + key.public_bytes(Encoding.Raw, PublicFormat.Raw))


def public_key_from_multibase(text: str) -> Ed25519PublicKey:
    raw = from_multibase_b58(text)
    if len(raw) != 34 or not raw.startswith(_ED25519_PUB_PREFIX):
        raise ValueError("not an Ed25519 Multikey")
    return Ed25519PublicKey.from_public_bytes(raw[2:])


def _hash_data(unsigned: bytes, proof_options: Mapping[str, Any]) -> bytes:
    # eddsa-jcs-2022 (W3C vc-di-eddsa, section 3.3): the signature covers
    # SHA-256(JCS(proof options)) || SHA-256(JCS(document without proof)), so the proof's own
    # fields (key, time, purpose) are signed as well as the object.
    return hashlib.sha256(canonical(proof_options)).digest() + hashlib.sha256(unsigned).digest()


def sign(
    envelope: Mapping[str, Any],
    private_key: Ed25519PrivateKey,
    verification_method: str,
    *,
    created: dt.datetime,
) -> dict[str, Any]:
    """Return `envelope` with a `proof` member added (any previous proof is replaced)."""
    unsigned = {name: value for name, value in envelope.items() if name != "proof"}
    options = {
        "type": PROOF_TYPE,
        "cryptosuite": CRYPTOSUITE,
        "verificationMethod": verification_method,
        "created": timestamp(created),
        "proofPurpose": PROOF_PURPOSE,
    }
    signature = private_key.sign(_hash_data(canonical(unsigned), options))
    return {**unsigned, "proof": {**options, "proofValue": multibase_b58(signature)}}


def proof_of(envelope: Mapping[str, Any]) -> Mapping[str, Any]:
    """The envelope's proof, checked for shape (not yet for the signature)."""
    proof = envelope.get("proof")
    if not isinstance(proof, Mapping):
        raise ProofError("the object has no proof")
    expected = {"type": PROOF_TYPE, "cryptosuite": CRYPTOSUITE, "proofPurpose": PROOF_PURPOSE}
    for name, value in expected.items():
        if proof.get(name) != value:
            raise ProofError(f"proof {name} must be {value!r}")
    for name in ("verificationMethod", "created", "proofValue"):
        if not isinstance(proof.get(name), str):
            raise ProofError(f"proof {name} is missing")
    return proof


def signed_input(
    envelope: Mapping[str, Any], *, unsigned: bytes | None = None
) -> tuple[bytes, bytes]:
    """The envelope's (signature, signed message): what its proof claims, checked for shape.

    `unsigned`: the envelope's canonical bytes without its proof, if the caller has them
    (`canonical_signed`). Raises ProofError.
    """
    proof = proof_of(envelope)
    options = {name: value for name, value in proof.items() if name != "proofValue"}
    try:
        signature = from_multibase_b58(proof["proofValue"])
        if unsigned is None:
            unsigned = canonical(
                {name: value for name, value in envelope.items() if name != "proof"}
            )
        return signature, _hash_data(unsigned, options)
    except (ValueError, FloatInSignedData) as exc:
        raise ProofError(f"proof cannot be checked: {exc}") from exc


SIGNATURE_MISMATCH = "the signature does not match the object"


def verify(
    envelope: Mapping[str, Any], public_key: Ed25519PublicKey, *, unsigned: bytes | None = None
) -> None:
    """Check the envelope's proof against `public_key`; raise ProofError if it does not hold.

    The caller decides which key is the right one (the origin's, named by
    `proof.verificationMethod`); this only checks the signature and the proof's shape.
    """
    signature, message = signed_input(envelope, unsigned=unsigned)
    if not signature_holds(public_key, signature, message):
        raise ProofError(SIGNATURE_MISMATCH)


def signature_holds(public_key: Ed25519PublicKey, signature: bytes, message: bytes) -> bool:
    try:
        public_key.verify(signature, message)
    except InvalidSignature:
        return False
    return True


def origin_of(url: str) -> str:
    """`scheme://host[:port]` of a URL, lowercased; ValueError if it has none."""
    parts = urlsplit(url)
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise ValueError(f"not an http(s) URL: {url!r}")
    host = parts.hostname
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    port = f":{parts.port}" if parts.port is not None else ""
    return f"{parts.scheme}://{host}{port}"


@functools.lru_cache(maxsize=1024)
def _is_origin(text: str) -> bool:
    """Whether `text` is an origin as `origin_of` writes it (lowercase, no path)."""
    try:
        return origin_of(text) == text
    except ValueError:
        return False


def check_identity(envelope: Mapping[str, Any]) -> str:
    """The envelope's origin, once its `id`, `origin` and signing key agree on it.

    Only the origin may speak for its objects: an object whose id, origin or key is on another
    host is a forgery, whatever its signature says. Raises ProofError.
    """
    proof = proof_of(envelope)
    origin, object_id = envelope.get("origin"), envelope.get("id")
    if not isinstance(origin, str) or not isinstance(object_id, str):
        raise ProofError("the object has no id or origin")
    if (
        _is_origin(origin)
        and object_id.startswith(f"{origin}{OBJECTS_PATH}")
        and proof["verificationMethod"].startswith(f"{origin}{DISCOVERY_PATH}#")
    ):
        # URLs that start with an origin followed by a path are on that origin: no need to
        # parse them (the checks below, which name what is wrong, agree).
        return origin
    try:
        claimed = origin_of(origin)
        same = origin_of(object_id) == claimed == origin_of(proof["verificationMethod"])
    except ValueError as exc:
        raise ProofError(str(exc)) from exc
    if claimed != origin or not same:
        raise ProofError("id, origin and signing key are not all on the object's origin")
    if not object_id.startswith(f"{origin}{OBJECTS_PATH}"):
        raise ProofError("the object's id is not an object URL of its origin")
    if not proof["verificationMethod"].startswith(f"{origin}{DISCOVERY_PATH}#"):
        raise ProofError("the signing key is not one of the origin's published keys")
    return origin


def decode(raw: bytes) -> dict[str, Any]:
    """Parse envelope bytes (a JSON object); the proof is not checked here."""
    value = json.loads(raw)
    if not isinstance(value, dict):
        raise ValueError("an envelope is a JSON object")
    return value
