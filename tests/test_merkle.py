"""nce.merkle against hand-computed trees, the published RFC 6962 test vectors, the definition, and
properties over random sizes 1..300 (every proof verifies; any flipped bit, wrong index, size or
root fails)."""

from __future__ import annotations

import hashlib
import random

import pytest

from nce.merkle import (
    EMPTY_ROOT,
    MerkleTree,
    ProofError,
    from_hex,
    leaf_hash,
    node_hash,
    root_from_inclusion,
    tree_hash,
    verify_consistency,
    verify_inclusion,
)


def sha(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


# ---------------------------------------------------------------------------------------------
# Hand-computed: three leaves a, b, c, written out with hashlib only

A, B, C = (sha(b"\x00" + x) for x in (b"a", b"b", b"c"))
AB = sha(b"\x01" + A + B)
ROOT3 = sha(b"\x01" + AB + C)


def test_hashes_are_rfc9162_domain_separated() -> None:
    assert leaf_hash(b"a") == A
    assert node_hash(A, B) == AB
    assert EMPTY_ROOT.hex() == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"


def test_three_leaves_by_hand() -> None:
    tree = MerkleTree()
    assert [tree.append(x) for x in (b"a", b"b", b"c")] == [0, 1, 2]
    assert tree.root(0) == EMPTY_ROOT and tree.root(1) == A and tree.root(2) == AB
    assert tree.root() == ROOT3
    assert tree.inclusion_proof(0) == [B, C]
    assert tree.inclusion_proof(1) == [A, C]
    assert tree.inclusion_proof(2) == [AB]
    assert tree.inclusion_proof(1, 2) == [A]
    assert tree.inclusion_proof(0, 1) == []
    assert tree.consistency_proof(1, 3) == [B, C]
    assert tree.consistency_proof(2, 3) == [C]
    assert tree.consistency_proof(1, 2) == [B]
    assert tree.consistency_proof(3, 3) == [] and tree.consistency_proof(0, 3) == []
    verify_inclusion(C, 2, 3, [AB], ROOT3)
    verify_consistency(2, 3, AB, ROOT3, [C])
    verify_consistency(1, 3, A, ROOT3, [B, C])


# ---------------------------------------------------------------------------------------------
# The RFC 6962 reference test data (certificate-transparency's own test vectors)

CT_LEAVES = [
    b"",
    b"\x00",
    b"\x10",
    b"\x20\x21",
    b"\x30\x31",
    b"\x40\x41\x42\x43",
    b"\x50\x51\x52\x53\x54\x55\x56\x57",
    b"\x60\x61\x62\x63\x64\x65\x66\x67\x68\x69\x6a\x6b\x6c\x6d\x6e\x6f",
]
CT_ROOTS = [
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]
# (leaf index, tree size, audit path)
CT_INCLUSION = [
    (0, 1, []),
    (
        0,
        8,
        [
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ],
    ),
    (
        5,
        8,
        [
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
    (
        2,
        3,
        ["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"],
    ),
    (
        1,
        5,
        [
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ],
    ),
]
# (first size, second size, consistency proof)
CT_CONSISTENCY = [
    (
        1,
        8,
        [
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ],
    ),
    (
        6,
        8,
        [
            "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
    (
        2,
        5,
        [
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ],
    ),
]


@pytest.fixture(scope="module")
def ct_tree() -> MerkleTree:
    tree = MerkleTree()
    for leaf in CT_LEAVES:
        tree.append(leaf)
    return tree


def test_ct_roots(ct_tree: MerkleTree) -> None:
    assert [ct_tree.root(n).hex() for n in range(1, 9)] == CT_ROOTS


@pytest.mark.parametrize(("index", "size", "path"), CT_INCLUSION)
def test_ct_inclusion(ct_tree: MerkleTree, index: int, size: int, path: list[str]) -> None:
    assert [h.hex() for h in ct_tree.inclusion_proof(index, size)] == path
    verify_inclusion(
        leaf_hash(CT_LEAVES[index]), index, size, [bytes.fromhex(h) for h in path], ct_tree.root(size)
    )


@pytest.mark.parametrize(("first", "second", "proof"), CT_CONSISTENCY)
def test_ct_consistency(ct_tree: MerkleTree, first: int, second: int, proof: list[str]) -> None:
    assert [h.hex() for h in ct_tree.consistency_proof(first, second)] == proof
    verify_consistency(
        first, second, ct_tree.root(first), ct_tree.root(second), [bytes.fromhex(h) for h in proof]
    )


# ---------------------------------------------------------------------------------------------
# Properties over random sizes

SIZES = sorted(
    {1, 2, 3, 4, 5, 7, 8, 9, 16, 17, 255, 256, 257, 300, *random.Random(14).sample(range(1, 301), 20)}
)


@pytest.fixture(scope="module")
def big() -> MerkleTree:
    rng = random.Random(9162)
    return MerkleTree(leaf_hash(rng.randbytes(rng.randint(0, 40))) for _ in range(300))


def _flip(proof: list[bytes], rng: random.Random) -> list[bytes]:
    i = rng.randrange(len(proof))
    node = bytearray(proof[i])
    node[rng.randrange(32)] ^= 1 << rng.randrange(8)
    return [*proof[:i], bytes(node), *proof[i + 1 :]]


def _fails(check: object, *args: object) -> bool:
    try:
        check(*args)  # type: ignore[operator]
    except ProofError:
        return True
    return False


def test_stored_levels_equal_the_definition(big: MerkleTree) -> None:
    leaves = [big.leaf_hash(i) for i in range(len(big))]
    for n in range(0, 301):
        assert big.root(n) == tree_hash(leaves[:n]), n
    # built in one go, leaf by leaf or in random chunks: the same tree, the same proofs
    one_by_one = MerkleTree()
    for h in leaves:
        one_by_one.append_hash(h)
    chunked, rng = MerkleTree(), random.Random(3)
    while len(chunked) < 300:
        chunked.extend(leaves[len(chunked) : len(chunked) + rng.randint(1, 40)])
    for tree in (one_by_one, chunked):
        assert [tree.root(n) for n in range(301)] == [big.root(n) for n in range(301)]
        assert tree.inclusion_proof(123, 257) == big.inclusion_proof(123, 257)
        assert tree.consistency_proof(77, 300) == big.consistency_proof(77, 300)


@pytest.mark.parametrize("size", SIZES)
def test_every_inclusion_proof_verifies_and_any_change_fails(big: MerkleTree, size: int) -> None:
    rng = random.Random(size)
    root = big.root(size)
    for index in range(size):
        leaf = big.leaf_hash(index)
        proof = big.inclusion_proof(index, size)
        verify_inclusion(leaf, index, size, proof, root)
        assert root_from_inclusion(leaf, index, size, proof) == root
        if proof:
            assert _fails(verify_inclusion, leaf, index, size, _flip(proof, rng), root)
            assert _fails(verify_inclusion, leaf, index, size, proof[:-1], root)
        flipped_leaf = bytes([leaf[0] ^ 0x80]) + leaf[1:]
        assert _fails(verify_inclusion, flipped_leaf, index, size, proof, root)
        assert _fails(verify_inclusion, leaf, index, size, [*proof, leaf], root)
        if size > 1:
            other = (index + 1) % size
            assert _fails(verify_inclusion, leaf, other, size, proof, root)
            assert _fails(verify_inclusion, leaf, index, size, proof, big.root(size - 1))
        if size < 300:  # the same proof against the next tree
            assert _fails(verify_inclusion, leaf, index, size + 1, proof, big.root(size + 1))
    assert _fails(verify_inclusion, big.leaf_hash(0), size, size, [], root)


@pytest.mark.parametrize("second", SIZES)
def test_every_consistency_proof_verifies_and_any_change_fails(big: MerkleTree, second: int) -> None:
    rng = random.Random(second * 7)
    second_root = big.root(second)
    for first in range(0, second + 1):
        first_root = big.root(first)
        proof = big.consistency_proof(first, second)
        verify_consistency(first, second, first_root, second_root, proof)
        if proof:
            assert _fails(verify_consistency, first, second, first_root, second_root, _flip(proof, rng))
            assert _fails(verify_consistency, first, second, first_root, second_root, proof[:-1])
            assert _fails(verify_consistency, first, second, first_root, second_root, [*proof, proof[0]])
        if first > 0:
            bad_first = bytes([first_root[0] ^ 1]) + first_root[1:]
            assert _fails(verify_consistency, first, second, bad_first, second_root, proof)
        if 0 < first < second:  # (from the empty tree, every tree is consistent: nothing to check)
            bad_second = bytes([second_root[0] ^ 1]) + second_root[1:]
            assert _fails(verify_consistency, first, second, first_root, bad_second, proof)
        if 0 < first < second - 1:  # the proof for one size pair is not one for another
            assert _fails(verify_consistency, first + 1, second, big.root(first + 1), second_root, proof)


BAD_REQUESTS = [
    ("index beyond size", lambda t: t.inclusion_proof(5, 5), "not in a tree of 5"),
    ("size beyond the log", lambda t: t.root(11), "outside 0..10"),
    ("inclusion in empty tree", lambda t: t.inclusion_proof(0, 0), "not in a tree of 0"),
    ("consistency reversed", lambda t: t.consistency_proof(6, 5), "not within 0..5"),
    ("consistency beyond the log", lambda t: t.consistency_proof(1, 11), "outside 0..10"),
    ("leaf beyond the log", lambda t: t.leaf_hash(10), "outside the tree"),
]


@pytest.mark.parametrize(("make", "why"), [b[1:] for b in BAD_REQUESTS], ids=[b[0] for b in BAD_REQUESTS])
def test_impossible_proofs_are_refused(make: object, why: str) -> None:
    tree = MerkleTree(leaf_hash(bytes([i])) for i in range(10))
    with pytest.raises(ProofError, match=why):
        make(tree)  # type: ignore[operator]


BAD_VERIFY = [
    ("empty proof between different sizes", lambda: verify_consistency(1, 2, A, AB, []), "is empty"),
    ("sizes out of order", lambda: verify_consistency(3, 2, ROOT3, AB, [C]), "out of order"),
    ("equal sizes, different roots", lambda: verify_consistency(2, 2, AB, ROOT3, []), "different roots"),
    ("proof from the empty tree", lambda: verify_consistency(0, 3, EMPTY_ROOT, ROOT3, [C]), "is empty"),
    ("short node", lambda: verify_inclusion(C, 2, 3, [AB[:31]], ROOT3), "32 bytes"),
    ("index past size", lambda: verify_inclusion(C, 3, 3, [AB], ROOT3), "not in a tree"),
]


@pytest.mark.parametrize(("check", "why"), [b[1:] for b in BAD_VERIFY], ids=[b[0] for b in BAD_VERIFY])
def test_bad_proofs_say_why(check: object, why: str) -> None:
    with pytest.raises(ProofError, match=why):
        check()  # type: ignore[operator]


@pytest.mark.parametrize(
    ("value", "why"),
    [
        ("zz", "not hex"),
        ("ab" * 31, "64 lowercase"),
        ("AB" * 32, "64 lowercase"),
        ("ab" * 33, "64 lowercase"),
    ],
)
def test_from_hex_refuses_what_is_not_a_hash(value: str, why: str) -> None:
    with pytest.raises(ProofError, match=why):
        from_hex(value)
