"""Which content keys may be in the store: a compact filter in front of the cache lookup.

Every task of a run asks the cache, and in a fresh run every answer is no. A Python set
of the stored keys' hashes answered that without SQL, but cost about 78 MB per million
keys (an int object and a set slot each), and a run adds its own keys as it goes. This
is a Bloom filter instead (two bits per key in a bit array of 16 bits per key: about 2 MB
per million keys, 1-2% false positives, each of which costs one indexed query that finds
nothing). It never forgets a key it was told, so a key it does not know is certainly not
stored; when its array fills up, a new one eight times larger takes the new keys (a
scalable Bloom filter), so nothing is ever rebuilt and no key is ever lost.
"""

from __future__ import annotations

__all__ = ["KeyFilter"]

_BITS_PER_KEY = 16
_GROWTH = 8
_MASK64 = (1 << 64) - 1


class _Bits:
    """One bit array sized for `capacity` keys."""

    __slots__ = ("array", "capacity", "count", "mask", "shift")

    def __init__(self, capacity: int) -> None:
        size = max(1 << 16, capacity * _BITS_PER_KEY).bit_length()  # log2, rounded up
        self.array = bytearray(1 << (size - 3))
        self.capacity, self.count, self.mask = capacity, 0, (1 << size) - 1
        self.shift = 32 if size <= 32 else 64 - size  # the second probe's bits

    def add(self, code: int) -> None:
        array, mask = self.array, self.mask
        first, second = code & mask, (code >> self.shift) & mask
        array[first >> 3] |= 1 << (first & 7)
        array[second >> 3] |= 1 << (second & 7)
        self.count += 1

    def __contains__(self, code: int) -> bool:
        array, mask = self.array, self.mask
        first, second = code & mask, (code >> self.shift) & mask
        return bool(array[first >> 3] >> (first & 7) & 1 and array[second >> 3] >> (second & 7) & 1)


class KeyFilter:
    """A set of keys that may answer "maybe" for a key it never saw, never "no" for one it did.

    Keys are hashed with the built-in `hash` (seeded per process): the filter lives in
    one process only.
    """

    def __init__(self, expected: int = 0) -> None:
        self._arrays = [_Bits(max(expected, 1 << 12))]

    def add(self, key: str) -> None:
        current = self._arrays[-1]
        if current.count >= current.capacity:
            current = _Bits(current.capacity * _GROWTH)
            self._arrays.append(current)
        current.add(hash(key) & _MASK64)

    def __contains__(self, key: str) -> bool:
        code = hash(key) & _MASK64
        return any(code in bits for bits in self._arrays)

    @property
    def nbytes(self) -> int:
        """The memory the bit arrays take."""
        return sum(len(bits.array) for bits in self._arrays)
