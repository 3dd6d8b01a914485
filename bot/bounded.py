"""Bounded in-memory maps and sets for state kept per user, chat or key.

The bot meets an unbounded number of people over its life; anything it keeps in memory for
each of them must forget the least recently used ones past a size, or memory grows until the
process dies. Reading or writing an entry makes it the most recent; the oldest goes first.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable, Iterable, Iterator, MutableMapping, MutableSet
from typing import TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


def _check(max_size: int) -> int:
    if max_size < 1:
        raise ValueError("max_size must be at least 1")
    return max_size


class LRUDict(MutableMapping[K, V]):
    """A dict of at most ``max_size`` entries; past that, the least recently used go."""

    __slots__ = ("_data", "max_size")

    def __init__(self, max_size: int) -> None:
        self.max_size = _check(max_size)
        self._data: OrderedDict[K, V] = OrderedDict()

    def __getitem__(self, key: K) -> V:
        value = self._data[key]
        self._data.move_to_end(key)
        return value

    def __setitem__(self, key: K, value: V) -> None:
        self._data[key] = value
        self._data.move_to_end(key)
        while len(self._data) > self.max_size:
            self._data.popitem(last=False)

    def __delitem__(self, key: K) -> None:
        del self._data[key]

    def __contains__(self, key: object) -> bool:
        # Membership is not a use: a check must not keep an entry alive.
        return key in self._data

    def __iter__(self) -> Iterator[K]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)


class LRUSet(MutableSet[K]):
    """A set of at most ``max_size`` members; past that, the least recently added go."""

    __slots__ = ("_data", "max_size")

    def __init__(self, max_size: int, members: Iterable[K] = ()) -> None:
        self.max_size = _check(max_size)
        self._data: OrderedDict[K, None] = OrderedDict()
        for member in members:
            self.add(member)

    def add(self, value: K) -> None:
        self._data[value] = None
        self._data.move_to_end(value)
        while len(self._data) > self.max_size:
            self._data.popitem(last=False)

    def discard(self, value: K) -> None:
        self._data.pop(value, None)

    def __contains__(self, value: object) -> bool:
        return value in self._data

    def __iter__(self) -> Iterator[K]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)
