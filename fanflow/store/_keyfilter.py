"""Which content keys may be in the store: a compact filter in front of the cache lookup.

Every task of a run asks the cache, and in a fresh run every answer is no. A Python set
of the stored keys' hashes answered that without SQL, but cost about 78 MB per million
keys (an int object and a set slot each), and a run adds its own keys as it goes. This
is a Bloom filter instead (two bits per key in a bit array of 32 bits per key: about
5 MB per million keys, under 1% false positives, each of which costs one indexed query
that finds nothing). It never forgets a key it was told, so a key it does not know is
certainly not stored; when its array fills up, a new one four times larger takes the
new keys (a scalable Bloom filter), so nothing is ever rebuilt and no key is ever lost.
"""

from __future__ import annotations

__all__ = ["KeyFilter"]

_BITS_PER_KEY = 32
_GROWTH = 4
_FIRST_CAPACITY = 1 << 16  # 256 KB
_MASK64 = (1 << 64) - 1


class KeyFilter:
    """A set of keys that may answer "maybe" for a key it never saw, never "no" for one it did.

    Keys are hashed with the built-in `hash` (seeded per process): the filter lives in
    one process only. Each bit array is probed at two places: the low bits of the hash,
    and the bits from the 33rd on.
    """

    def __init__(self, expected: int = 0) -> None:
        self._arrays: list[tuple[bytearray, int, int]] = []  # (bits, mask, second shift)
        self._capacity = self._count = 0
        self.rowid_seen = 0  # the highest store rowid whose key it was given (`_shared_keys`)
        self._grow(max(expected, _FIRST_CAPACITY))

    def add(self, key: str) -> None:
        if self._count >= self._capacity:
            self._grow(self._capacity * _GROWTH)
        array, mask, shift = self._arrays[-1]
        code = hash(key) & _MASK64
        first, second = code & mask, (code >> shift) & mask
        array[first >> 3] |= 1 << (first & 7)
        array[second >> 3] |= 1 << (second & 7)
        self._count += 1

    def __contains__(self, key: str) -> bool:
        code = hash(key) & _MASK64
        for array, mask, shift in self._arrays:  # inlined: this runs for every task
            first = code & mask
            if array[first >> 3] >> (first & 7) & 1:
                second = (code >> shift) & mask
                if array[second >> 3] >> (second & 7) & 1:
                    return True
        return False

    @property
    def nbytes(self) -> int:
        """The memory the bit arrays take."""
        return sum(len(array) for array, _, _ in self._arrays)

    def _grow(self, capacity: int) -> None:
        """Start a new bit array for the next `capacity` keys."""
        size = (capacity * _BITS_PER_KEY - 1).bit_length()  # log2 of the bits, rounded up
        shift = 32 if size <= 32 else 64 - size
        self._arrays.append((bytearray(1 << (size - 3)), (1 << size) - 1, shift))
        self._capacity, self._count = capacity, 0
