"""Merkle trees as RFC 9162 (Certificate Transparency v2) §2.1 defines them, for the service's log.

- ``leaf_hash(d) = SHA-256(0x00 || d)``, ``node_hash(l, r) = SHA-256(0x01 || l || r)``; the hash of
  the empty tree is ``SHA-256("")``. A tree of ``n > 1`` leaves splits at ``k``, the largest power of
  two below ``n``: ``MTH(D[n]) = node_hash(MTH(D[0:k]), MTH(D[k:n]))``.
- Inclusion proofs (``PATH(m, D[n])``, §2.1.3) and consistency proofs (``PROOF(m, D[n])``, §2.1.4)
  are lists of 32-byte node hashes, nearest the leaf first; :func:`verify_inclusion` and
  :func:`verify_consistency` follow the verification algorithms of §2.1.3.2 and §2.1.4.2.
- Beyond the RFC (which defines consistency for ``0 < m < n``): from size ``0`` and between equal
  sizes the proof is empty; ``m == n`` then requires equal roots.

:class:`MerkleTree` keeps every level of the tree in flat ``bytearray`` s (32 bytes per node, about
64 bytes per leaf in all), so roots and proofs for any size up to its length cost ``O(log n)``
hashes: every complete, aligned subtree is read, not recomputed. Appending is amortised O(1).

Pure functions and one class; the standard library only. Hashes are ``bytes``; the JSON forms use
lowercase hex (:func:`hex_list`, :func:`from_hex`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence

from nce.errors import NceError

HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()


class ProofError(NceError):
    """A proof that does not verify, or a request for a proof that cannot exist (sizes out of range)."""


def leaf_hash(leaf: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + leaf).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def _split(n: int) -> int:
    """The largest power of two strictly below ``n`` (``n >= 2``)."""
    return 1 << ((n - 1).bit_length() - 1)


def tree_hash(leaf_hashes: Sequence[bytes]) -> bytes:
    """``MTH`` of a list of leaf hashes, straight from the definition (O(n); tests and small trees)."""
    n = len(leaf_hashes)
    if n == 0:
        return EMPTY_ROOT
    if n == 1:
        return leaf_hashes[0]
    k = _split(n)
    return node_hash(tree_hash(leaf_hashes[:k]), tree_hash(leaf_hashes[k:]))


class MerkleTree:
    """An append-only tree of leaf hashes with every complete subtree kept (see the module doc)."""

    def __init__(self, leaf_hashes: Iterable[bytes] = ()) -> None:
        self._levels: list[bytearray] = [bytearray()]
        self.extend(leaf_hashes)

    def __len__(self) -> int:
        return len(self._levels[0]) // HASH_SIZE

    def append(self, leaf: bytes) -> int:
        """Add a leaf (its data; hashed here); return its index."""
        return self.append_hash(leaf_hash(leaf))

    def append_hash(self, h: bytes) -> int:
        """Add a leaf by its leaf hash; return its index."""
        if len(h) != HASH_SIZE:
            raise ValueError(f"a leaf hash is {HASH_SIZE} bytes, got {len(h)}")
        index = len(self)
        node = bytes(h)
        level = 0
        while True:
            self._levels[level] += node
            count = len(self._levels[level]) // HASH_SIZE
            if count % 2:
                break
            node = node_hash(self._node(level, count - 2), node)
            level += 1
            if level == len(self._levels):
                self._levels.append(bytearray())
        return index

    def extend(self, leaf_hashes: Iterable[bytes]) -> None:
        """Add many leaves by their leaf hashes: level by level, each new node hashed once."""
        new = list(leaf_hashes)
        for h in new:
            if len(h) != HASH_SIZE:
                raise ValueError(f"a leaf hash is {HASH_SIZE} bytes, got {len(h)}")
        self._levels[0] += b"".join(new)
        level = 0
        while True:
            below = self._levels[level]
            want = len(below) // (2 * HASH_SIZE)
            if want == 0:
                break
            if level + 1 == len(self._levels):
                self._levels.append(bytearray())
            above = self._levels[level + 1]
            have = len(above) // HASH_SIZE
            if have == want:
                break
            step = 2 * HASH_SIZE
            # two siblings lie side by side: node_hash(left, right) = SHA-256(0x01 || left || right)
            above += b"".join(
                hashlib.sha256(b"\x01" + below[i * step : (i + 1) * step]).digest() for i in range(have, want)
            )
            level += 1

    def leaf_hash(self, index: int) -> bytes:
        if not 0 <= index < len(self):
            raise ProofError(f"leaf index {index} is outside the tree of {len(self)} leaves")
        return self._node(0, index)

    def _node(self, level: int, i: int) -> bytes:
        start = i * HASH_SIZE
        return bytes(self._levels[level][start : start + HASH_SIZE])

    def _size(self, size: int | None) -> int:
        n = len(self) if size is None else size
        if not 0 <= n <= len(self):
            raise ProofError(f"tree size {n} is outside 0..{len(self)} (the leaves this log holds)")
        return n

    def _mth(self, lo: int, hi: int) -> bytes:
        """``MTH(D[lo:hi])`` for ``0 <= lo < hi <= len``: complete, aligned subtrees are read."""
        n = hi - lo
        if n & (n - 1) == 0 and lo % n == 0:  # a complete, aligned subtree: stored
            return self._node(n.bit_length() - 1, lo // n)
        k = _split(n)
        return node_hash(self._mth(lo, lo + k), self._mth(lo + k, hi))

    def root(self, size: int | None = None) -> bytes:
        """The tree hash of the first ``size`` leaves (default: all)."""
        n = self._size(size)
        return EMPTY_ROOT if n == 0 else self._mth(0, n)

    def inclusion_proof(self, index: int, size: int | None = None) -> list[bytes]:
        """``PATH(index, D[size])``: the audit path of leaf ``index`` in the tree of ``size`` leaves."""
        n = self._size(size)
        if not 0 <= index < n:
            raise ProofError(f"leaf index {index} is not in a tree of {n} leaves")
        path: list[bytes] = []
        lo, hi, m = 0, n, index
        while hi - lo > 1:
            k = _split(hi - lo)
            if m < k:
                path.append(self._mth(lo + k, hi))
                hi = lo + k
            else:
                path.append(self._mth(lo, lo + k))
                lo, m = lo + k, m - k
        path.reverse()  # nearest the leaf first
        return path

    def consistency_proof(self, first: int, second: int | None = None) -> list[bytes]:
        """``PROOF(first, D[second])``: that the tree of ``first`` leaves is a prefix of the one of
        ``second`` leaves. Empty when ``first`` is 0 or equals ``second``."""
        n = self._size(second)
        if not 0 <= first <= n:
            raise ProofError(f"first size {first} is not within 0..{n} (the second size)")
        if first in (0, n):
            return []
        proof: list[bytes] = []
        lo, hi, m, whole = 0, n, first, True
        while m != hi - lo:  # SUBPROOF(m, D[lo:hi], whole)
            k = _split(hi - lo)
            if m <= k:
                proof.append(self._mth(lo + k, hi))
                hi = lo + k
            else:
                proof.append(self._mth(lo, lo + k))
                lo, m, whole = lo + k, m - k, False
        if not whole:
            proof.append(self._mth(lo, hi))
        proof.reverse()
        return proof


def root_from_inclusion(leaf: bytes, index: int, size: int, proof: Sequence[bytes]) -> bytes:
    """The root that ``proof`` leads to from the leaf hash ``leaf`` (RFC 9162 §2.1.3.2, steps 1-4)."""
    if not 0 <= index < size:
        raise ProofError(f"leaf index {index} is not in a tree of {size} leaves")
    fn, sn = index, size - 1
    r = leaf
    for p in proof:
        _check_len(p)
        if sn == 0:
            raise ProofError(f"inclusion proof is longer than a tree of {size} leaves allows")
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofError(f"inclusion proof is shorter than a tree of {size} leaves needs")
    return r


def verify_inclusion(leaf: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes) -> None:
    """Raise :class:`ProofError` unless ``proof`` shows leaf hash ``leaf`` at ``index`` in the tree of
    ``size`` leaves whose hash is ``root``."""
    if root_from_inclusion(leaf, index, size, proof) != root:
        raise ProofError(f"inclusion proof of leaf {index} does not lead to the root of the {size}-leaf tree")


def verify_consistency(
    first: int, second: int, first_root: bytes, second_root: bytes, proof: Sequence[bytes]
) -> None:
    """Raise :class:`ProofError` unless ``proof`` shows that the tree of ``first`` leaves with hash
    ``first_root`` is a prefix of the tree of ``second`` leaves with hash ``second_root``
    (RFC 9162 §2.1.4.2; sizes 0 and equal sizes as the module doc says)."""
    if not 0 <= first <= second:
        raise ProofError(f"sizes out of order: first {first}, second {second}")
    for p in proof:
        _check_len(p)
    if first == 0:
        if proof:
            raise ProofError("a consistency proof from the empty tree is empty")
        if first_root != EMPTY_ROOT:
            raise ProofError("the root of the empty tree is SHA-256 of nothing")
        return
    if first == second:
        if proof:
            raise ProofError("a consistency proof between equal sizes is empty")
        if first_root != second_root:
            raise ProofError(f"two different roots for the same tree size {first}")
        return
    if not proof:
        raise ProofError(f"consistency proof from {first} to {second} is empty")
    path = list(proof)
    if first & (first - 1) == 0:
        path.insert(0, first_root)
    fn, sn = first - 1, second - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            raise ProofError(f"consistency proof from {first} to {second} is too long")
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofError(f"consistency proof from {first} to {second} is too short")
    if fr != first_root:
        raise ProofError(f"consistency proof does not lead to the root of the {first}-leaf tree")
    if sr != second_root:
        raise ProofError(f"consistency proof does not lead to the root of the {second}-leaf tree")


def _check_len(h: bytes) -> None:
    if len(h) != HASH_SIZE:
        raise ProofError(f"a proof node is {HASH_SIZE} bytes, got {len(h)}")


def hex_list(hashes: Iterable[bytes]) -> list[str]:
    return [h.hex() for h in hashes]


def from_hex(value: str, what: str = "hash") -> bytes:
    """A 32-byte hash from lowercase hex, or :class:`ProofError` naming ``what``."""
    try:
        raw = bytes.fromhex(value)
    except (ValueError, TypeError) as exc:
        raise ProofError(f"{what} is not hex: {value!r}") from exc
    if len(raw) != HASH_SIZE or value != raw.hex():
        raise ProofError(f"{what} must be 64 lowercase hex digits, got {value!r}")
    return raw
