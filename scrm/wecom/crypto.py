"""WeCom callback crypto (WXBizMsgCrypt), both directions.

The callback view decrypts with it; the sandbox encrypts with it. The algorithm, as WeCom's
published SDKs implement it:

- ``aes_key = base64(EncodingAESKey + "=")`` (32 bytes, AES-256-CBC), ``iv = aes_key[:16]``;
- frame ``random(16) ‖ uint32_be(len(msg)) ‖ msg ‖ receive_id``, padded with PKCS#7 on a
  **32-byte** block (a whole block of 32 when already aligned), then base64;
- ``msg_signature = sha1("".join(sorted([token, timestamp, nonce, encrypt])))``, hex.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
import string
import struct
import time

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

BLOCK_SIZE = 32
RANDOM_SIZE = 16
_NONCE_ALPHABET = string.ascii_letters + string.digits


class CallbackCryptoError(Exception):
    """A callback that cannot be trusted or read; ``code`` is the official SDK's error code."""

    code = -40007


class InvalidAESKey(CallbackCryptoError):
    code = -40004


class InvalidSignature(CallbackCryptoError):
    code = -40001


class DecryptError(CallbackCryptoError):
    """Bad base64, a length that is not a whole number of blocks, bad padding or a bad frame."""

    code = -40007


class ReceiveIdMismatch(CallbackCryptoError):
    code = -40005


def _pad(data: bytes) -> bytes:
    amount = BLOCK_SIZE - len(data) % BLOCK_SIZE
    return data + bytes([amount]) * amount


def _unpad(data: bytes) -> bytes:
    if not data:
        raise DecryptError("empty plaintext")
    amount = data[-1]
    if not 1 <= amount <= BLOCK_SIZE or amount > len(data) or data[-amount:] != bytes([amount]) * amount:
        raise DecryptError("bad padding")
    return data[:-amount]


class CallbackCrypto:
    """Signs, verifies, encrypts and decrypts callbacks for one (token, EncodingAESKey, receive id)."""

    def __init__(self, token: str, aes_key: str, receive_id: str):
        if len(aes_key) != 43:
            raise InvalidAESKey("EncodingAESKey must be 43 characters")
        try:
            key = base64.b64decode(aes_key + "=", validate=True)
        except (binascii.Error, ValueError) as error:
            raise InvalidAESKey("EncodingAESKey is not base64") from error
        if len(key) != 32:
            raise InvalidAESKey("EncodingAESKey must decode to 32 bytes")
        self.token = token
        self.receive_id = receive_id
        self._key = key
        self._iv = key[:16]

    def _cipher(self) -> Cipher:
        return Cipher(algorithms.AES(self._key), modes.CBC(self._iv))

    def signature(self, timestamp: str | int, nonce: str, encrypt: str) -> str:
        parts = sorted([self.token, str(timestamp), str(nonce), encrypt])
        return hashlib.sha1("".join(parts).encode()).hexdigest()

    def verify(self, signature: str, timestamp: str | int, nonce: str, encrypt: str) -> None:
        """Raise ``InvalidSignature`` unless ``signature`` signs (timestamp, nonce, encrypt)."""
        expected = self.signature(timestamp, nonce, encrypt)
        if not hmac.compare_digest(expected, (signature or "").lower()):
            raise InvalidSignature("signature mismatch")

    def encrypt(
        self,
        plaintext: str | bytes,
        nonce: str | None = None,
        timestamp: str | int | None = None,
        *,
        random_prefix: bytes | None = None,
    ) -> tuple[str, str, str, str]:
        """Encrypt and sign: returns ``(encrypt_b64, signature, timestamp, nonce)``.

        ``random_prefix`` (16 bytes) is for reproducing known vectors; leave it out otherwise.
        """
        message = plaintext.encode() if isinstance(plaintext, str) else plaintext
        if random_prefix is None:
            random_prefix = "".join(secrets.choice(_NONCE_ALPHABET) for _ in range(RANDOM_SIZE)).encode()
        if len(random_prefix) != RANDOM_SIZE:
            raise ValueError("random_prefix must be 16 bytes")
        frame = random_prefix + struct.pack(">I", len(message)) + message + self.receive_id.encode()
        encryptor = self._cipher().encryptor()
        encrypted = encryptor.update(_pad(frame)) + encryptor.finalize()
        encrypt_b64 = base64.b64encode(encrypted).decode()
        timestamp = str(int(time.time()) if timestamp is None else timestamp)
        nonce = nonce if nonce is not None else str(secrets.randbelow(10**10))
        return encrypt_b64, self.signature(timestamp, nonce, encrypt_b64), timestamp, nonce

    def decrypt(self, encrypt_b64: str) -> str:
        """The message inside ``encrypt_b64``; raises ``DecryptError`` or ``ReceiveIdMismatch``."""
        try:
            encrypted = base64.b64decode(encrypt_b64, validate=True)
        except (binascii.Error, ValueError) as error:
            raise DecryptError("bad base64") from error
        if not encrypted or len(encrypted) % 16:
            raise DecryptError("ciphertext is not a whole number of AES blocks")
        decryptor = self._cipher().decryptor()
        frame = _unpad(decryptor.update(encrypted) + decryptor.finalize())
        if len(frame) < RANDOM_SIZE + 4:
            raise DecryptError("frame too short")
        (length,) = struct.unpack(">I", frame[RANDOM_SIZE : RANDOM_SIZE + 4])
        start = RANDOM_SIZE + 4
        if start + length > len(frame):
            raise DecryptError("message length past the end of the frame")
        message, receive_id = frame[start : start + length], frame[start + length :]
        if not hmac.compare_digest(receive_id, self.receive_id.encode()):
            raise ReceiveIdMismatch("receive id mismatch")
        try:
            return message.decode()
        except UnicodeDecodeError as error:
            raise DecryptError("message is not UTF-8") from error

    def decrypt_verified(self, signature: str, timestamp: str | int, nonce: str, encrypt_b64: str) -> str:
        """Verify the signature first, then decrypt: nothing is decrypted for a forged request."""
        self.verify(signature, timestamp, nonce, encrypt_b64)
        return self.decrypt(encrypt_b64)
