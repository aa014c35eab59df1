"""Reproducible random samples: pure functions, no database.

The sample is the n population keys with the smallest SHA-256 of
"<seed>:<key>". Unlike random.sample this does not depend on the Python
version or on the order the population was read in, so anyone holding the
seed and the population snapshot can recompute it, and the population hash
shows the snapshot is the one used."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable


def new_seed() -> int:
    return secrets.randbits(48)


def population_hash(keys: Iterable[str]) -> str:
    h = hashlib.sha256()
    for k in sorted(set(keys)):
        h.update(k.encode())
        h.update(b"\n")
    return h.hexdigest()


def draw(keys: Iterable[str], seed: int, n: int) -> list[str]:
    if n < 1:
        raise ValueError("the sample needs at least one member")
    pop = sorted(set(keys))
    if not pop:
        raise ValueError("the population is empty")
    return sorted(pop, key=lambda k: hashlib.sha256(f"{seed}:{k}".encode()).digest())[:n]
