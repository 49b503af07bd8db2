"""The record key (``TGSYNC_RECORD_KEY``): a KMS HMAC key that signs tgsync's ownership
records, through the one AWS call path (:mod:`tgsync.aws`).

``GenerateMac`` and ``VerifyMac`` with ``HMAC_SHA_256`` (the key: ``KeySpec`` ``HMAC_256``,
``KeyUsage`` ``GENERATE_VERIFY_MAC``). A MAC travels in a tag value as unpadded
base64url (43 characters). ``VerifyMac`` answers a MAC that does not verify with
``KMSInvalidMacException`` (KMS API Reference, VerifyMac): that is a verdict, not a
failure; every other error is a failure of the call (an
:class:`~tgsync.errors.AwsError`), so nothing is decided on it.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

from tgsync.aws import Aws
from tgsync.aws_service import Service
from tgsync.deadline import NONE, Deadline
from tgsync.errors import AwsError

#: Every KMS operation tgsync calls: the role allows exactly these, on the record key.
OPERATIONS = ("GenerateMac", "VerifyMac")
#: KMS as the one AWS call path knows it.
KMS = Service(
    "kms",
    "kms",
    "KMS",
    OPERATIONS,
    not_found=frozenset({"NotFoundException"}),
    not_found_hint="deleted, or in another account or region? TGSYNC_RECORD_KEY names it",
)
ALGORITHM = "HMAC_SHA_256"
#: KMS's verdict that a MAC does not verify.
INVALID_MAC = "KMSInvalidMacException"


def _text(mac: bytes) -> str:
    return base64.urlsafe_b64encode(mac).rstrip(b"=").decode()


def _bytes(text: str) -> bytes | None:
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        return None


class KmsKey:
    """The record key: ``key_id`` (a key id, key ARN, alias or alias ARN) in ``region``."""

    def __init__(self, aws: Aws, key_id: str, region: str) -> None:
        self._aws = aws
        self.key_id = key_id
        self._region = key_id.split(":")[3] if key_id.startswith("arn:") else region

    def mac(self, message: bytes, deadline: Deadline = NONE) -> str:
        """The MAC of ``message``, as it is written in a tag value."""
        answer: dict[str, Any] = self._call("GenerateMac", deadline, Message=message)
        return _text(answer["Mac"])

    def verify(self, message: bytes, mac: str, deadline: Deadline = NONE) -> bool:
        """True if ``mac`` is the key's MAC of ``message`` (a call; see :class:`Signatures`
        for the cache)."""
        raw = _bytes(mac)
        if raw is None:
            return False
        try:
            answer: dict[str, Any] = self._call("VerifyMac", deadline, Message=message, Mac=raw)
        except AwsError as exc:
            if exc.code == INVALID_MAC:
                return False
            raise
        return bool(answer.get("MacValid"))

    def _call(self, operation: str, deadline: Deadline, **params: Any) -> Any:
        return self._aws.call(
            KMS,
            operation,
            region=self._region,
            about=f"record key {self.key_id}",
            deadline=deadline,
            KeyId=self.key_id,
            MacAlgorithm=ALGORITHM,
            **params,
        )
