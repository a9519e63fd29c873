"""A small in-process cache for hot registry reads (repository and manifest lookups).

Entries expire after a few seconds; writers invalidate a group (one repository) at once,
and `on_write` tells the other processes sharing the database (services/change_signals.py).
A per-group generation stops a reader that raced a writer from storing what it read
before the write.
"""

import threading
import time


class GroupedCache:
    def __init__(self, seconds: float, max_groups: int = 10000, on_write=None):
        self.seconds = seconds
        self.on_write = on_write  # called after a local invalidation (to tell other processes)
        self.max_groups = max_groups
        self._groups: dict = {}  # group -> {key: (expires, value)}
        self._generations: dict = {}
        self._lock = threading.Lock()

    def generation(self, group):
        with self._lock:
            return self._generations.get(group, 0)

    def get(self, group, key):
        with self._lock:
            entry = self._groups.get(group, {}).get(key)
        if entry is not None and entry[0] > time.monotonic():
            return entry[1]
        return None

    def put(self, group, key, value, generation):
        """Store unless the group was invalidated since `generation` was read."""
        if self.seconds <= 0:
            return
        with self._lock:
            if self._generations.get(group, 0) != generation:
                return
            if len(self._groups) >= self.max_groups and group not in self._groups:
                self._groups.clear()
            self._groups.setdefault(group, {})[key] = (time.monotonic() + self.seconds, value)

    def invalidate(self, group, announced=False):
        """After a commit that changed `group`: drop it here, and tell `on_write` (unless
        `announced`: the transaction that changed it told the other processes already)."""
        with self._lock:
            self._groups.pop(group, None)
            self._generations[group] = self._generations.get(group, 0) + 1
        if self.on_write is not None and not announced:
            self.on_write()

    def clear(self):
        """After a commit that changed many groups: drop them all, and tell `on_write`."""
        self.drop_all()
        if self.on_write is not None:
            self.on_write()

    def drop_all(self):
        """Drop every entry (another process changed what they were read from)."""
        with self._lock:
            for group in list(self._groups):
                self._generations[group] = self._generations.get(group, 0) + 1
            self._groups.clear()


class ExpiringCache:
    """Key -> value (None included) for `seconds`, dropped whole at once. A lookup that
    raced a drop is not stored: what it read may be older than the change that dropped."""

    MISS = object()

    def __init__(self, seconds: float, max_entries: int = 10000):
        self.seconds = seconds
        self.max_entries = max_entries
        self._entries: dict = {}  # key -> (expires, value)
        self._generation = 0
        self._lock = threading.Lock()

    def lookup(self, key):
        """(value or MISS, the generation to give `store`)."""
        with self._lock:
            entry = self._entries.get(key)
            generation = self._generation
        if entry is not None and entry[0] > time.monotonic():
            return entry[1], generation
        return self.MISS, generation

    def store(self, key, value, generation):
        with self._lock:
            if generation != self._generation or self.seconds <= 0:
                return
            if len(self._entries) >= self.max_entries:
                self._entries.clear()
            self._entries[key] = (time.monotonic() + self.seconds, value)

    def forget(self, key):
        with self._lock:
            self._entries.pop(key, None)
            self._generation += 1

    def drop_all(self):
        with self._lock:
            self._entries.clear()
            self._generation += 1
