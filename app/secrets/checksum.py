"""CRC32C (Castagnoli), the checksum Secret Manager returns with every payload."""

from __future__ import annotations

# The reflected form of the Castagnoli polynomial 0x1EDC6F41, the CRC32C of iSCSI and SCTP.
_POLYNOMIAL = 0x82F63B78


def _table() -> tuple[int, ...]:
    entries = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ _POLYNOMIAL if crc & 1 else crc >> 1
        entries.append(crc)
    return tuple(entries)


_TABLE = _table()


def crc32c(data: bytes) -> int:
    """Return the CRC32C of `data` as an unsigned 32-bit integer.

    Pure Python and table-driven: slow for bulk data, but a secret payload is at most 64 KiB.
    """
    crc = 0xFFFFFFFF
    for byte in data:
        crc = (crc >> 8) ^ _TABLE[(crc ^ byte) & 0xFF]
    return crc ^ 0xFFFFFFFF
