"""The store-and-forward queue behind :meth:`AE.publish() <m2mclient.onem2m.ae.AE.publish>`.

A reading a device takes while its link is down must reach the CSE later,
exactly once. Three choices make that hold:

* **Each publish is one item with a fixed identity.** Its request identifier
  (``rqi``) and the resource name (``rn``) of the <contentInstance> it creates
  are chosen once, when the reading is queued, and every retry sends the very
  same request. A retry whose first attempt did reach the CSE (the response was
  lost) is answered 4105 CONFLICT, because that ``rn`` now exists: that counts
  as delivered, so no retry can create a duplicate.
* **The queue survives restarts.** It lives in one small JSON file, rewritten
  atomically (temporary file + fsync + rename, then fsync of the directory;
  DESIGN rule 6) with mode 0600. A crash between a delivery and the rewrite
  only means a retry that the CSE answers with 4105.
* **Nothing is dropped silently.** An item the CSE refuses for good (say the
  container was deleted: 4004) moves to the file's ``rejected`` list with the
  reason, where a person or the app can find it.

The file is written only when a publish could not be delivered at once (or
while older items wait), not for every reading: flash wears out, and a reading
whose first send is still in flight when the power fails was never confirmed
to the app either.
"""

from __future__ import annotations

import base64
import contextlib
import json
import logging
import os
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from m2mclient.errors import M2MError
from m2mclient.onem2m.serialization import Format, deserialize_content, serialize_content

log = logging.getLogger(__name__)

#: Version of the queue file layout; a file with another version is set aside, not misread.
QUEUE_FILE_VERSION = 1

#: Items kept before :meth:`OfflineQueue.add` refuses more: a week of one reading a
#: minute fits, and a device that has been offline longer needs an app decision
#: (aggregate, drop old readings), not an ever-growing file.
DEFAULT_MAX_ITEMS = 10_000

#: Rejected items kept for inspection; older ones are logged and forgotten.
MAX_REJECTED = 100


class OfflineQueueFullError(M2MError):
    """The offline queue holds :data:`DEFAULT_MAX_ITEMS` (or the configured maximum) readings."""


# ---------------------------------------------------------------------------
# Atomic files (DESIGN rule 6)
# ---------------------------------------------------------------------------


def write_atomically(path: Path, data: bytes, *, mode: int = 0o600) -> None:
    """Replace ``path`` with ``data`` so that a reader (or a reboot) sees the old file or the new one.

    The temporary file is created in the same directory (rename is atomic only
    within one file system) with ``mode`` from the start, fsynced before the
    rename, and the directory is fsynced after it so the rename itself survives
    a power loss.
    """
    directory = path.parent
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise
    _fsync_directory(directory)


def _fsync_directory(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:  # some platforms cannot open directories; the rename is still atomic
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def read_json_file(path: Path) -> Any:
    """The JSON value stored at ``path``; None when the file does not exist.

    A file that cannot be parsed is renamed to ``<name>.corrupt`` (kept for a
    person to look at, never deleted) and None is returned, so a device whose
    flash lost a block still starts.
    """
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return None
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        corrupt = path.with_name(path.name + ".corrupt")
        log.error("%s is not valid JSON (%s); moved to %s and starting without it", path, exc, corrupt)
        with contextlib.suppress(OSError):
            os.replace(path, corrupt)
        return None


def write_json_file(path: Path, value: Any, *, mode: int = 0o600) -> None:
    """Write ``value`` as JSON with :func:`write_atomically`."""
    write_atomically(path, json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8"), mode=mode)


# ---------------------------------------------------------------------------
# Items
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class QueuedPublish:
    """One reading on its way to a container, with the identity every retry reuses.

    ``content`` is the complete Content parameter (``{"m2m:cin": {"rn": ..., ...}}``),
    so the retried CREATE is byte-for-byte the first one.
    """

    id: str
    to: str
    rqi: str
    content: Mapping[str, Any]
    queued_at: float  # wall-clock seconds (time.time()); informs the app, never decides anything
    attempts: int = 0

    @property
    def rn(self) -> str:
        """The resource name of the <contentInstance> this item creates."""
        body = self.content.get("m2m:cin")
        return str(body.get("rn", "")) if isinstance(body, Mapping) else ""

    def to_json(self) -> dict[str, Any]:
        """The item as stored in the queue file."""
        record: dict[str, Any] = {
            "id": self.id,
            "to": self.to,
            "rqi": self.rqi,
            "queued_at": self.queued_at,
            "attempts": self.attempts,
        }
        try:
            json.dumps(self.content, allow_nan=False)
            record["pc"] = self.content
        except (TypeError, ValueError):  # bytes and the like: keep them exactly, as CBOR
            record["pc_cbor"] = base64.b64encode(serialize_content(self.content, Format.CBOR)).decode("ascii")
        return record

    @classmethod
    def from_json(cls, record: Mapping[str, Any]) -> QueuedPublish:
        """Parse a stored item; ValueError (with the reason) if it is not one."""
        try:
            if "pc_cbor" in record:
                content = deserialize_content(base64.b64decode(record["pc_cbor"]), Format.CBOR)
            else:
                content = record["pc"]
            if not isinstance(content, Mapping):
                raise ValueError("pc is not an object")
            return cls(
                id=str(record["id"]),
                to=str(record["to"]),
                rqi=str(record["rqi"]),
                content=dict(content),
                queued_at=float(record.get("queued_at", 0.0)),
                attempts=int(record.get("attempts", 0)),
            )
        except (KeyError, TypeError, ValueError, M2MError) as exc:
            raise ValueError(f"not a queued publish: {exc}") from None


@dataclass(frozen=True)
class RejectedPublish:
    """An item the CSE refused for good, with its reason (e.g. ``"4004 NOT_FOUND ..."``)."""

    item: QueuedPublish
    reason: str


# ---------------------------------------------------------------------------
# The queue
# ---------------------------------------------------------------------------


class OfflineQueue:
    """An ordered, optionally persistent list of :class:`QueuedPublish`.

    With ``path`` None it lives in memory only (it still bridges link outages,
    not restarts). Mutations update memory at once; :meth:`save` writes the
    file, and :meth:`add` / :meth:`reject` call it themselves so a queued
    reading is on disk before ``publish()`` returns. :meth:`remove` does not, so
    a flush of many items costs one write (see the module docstring for why a
    late write is safe).
    """

    def __init__(self, path: Path | None = None, *, max_items: int = DEFAULT_MAX_ITEMS) -> None:
        self.path = path
        self.max_items = max_items
        self._items: list[QueuedPublish] = []
        self._rejected: list[RejectedPublish] = []
        self._dirty = False
        if path is not None:
            self._load(path)

    def _load(self, path: Path) -> None:
        stored = read_json_file(path)
        if stored is None:
            return
        if not isinstance(stored, Mapping) or stored.get("version") != QUEUE_FILE_VERSION:
            aside = path.with_name(path.name + ".unknown-version")
            log.error("%s has an unknown layout; moved to %s, starting with an empty queue", path, aside)
            with contextlib.suppress(OSError):
                os.replace(path, aside)
            return
        for record in stored.get("items", []):
            try:
                self._items.append(QueuedPublish.from_json(record))
            except ValueError as exc:
                log.error("%s: skipping an unreadable item (%s): %.200r", path, exc, record)
        for record in stored.get("rejected", []):
            try:
                self._rejected.append(
                    RejectedPublish(QueuedPublish.from_json(record["item"]), str(record.get("reason", "")))
                )
            except (ValueError, KeyError, TypeError):
                log.error("%s: skipping an unreadable rejected item: %.200r", path, record)
        if self._items:
            log.info("offline queue %s: %d reading(s) waiting from an earlier run", path, len(self._items))

    # -- reading ------------------------------------------------------------

    def __len__(self) -> int:
        return len(self._items)

    def __bool__(self) -> bool:
        return bool(self._items)

    def __iter__(self) -> Iterator[QueuedPublish]:
        return iter(list(self._items))

    def __contains__(self, item_id: object) -> bool:
        return any(item.id == item_id for item in self._items)

    @property
    def items(self) -> list[QueuedPublish]:
        """The waiting items, oldest first (a copy)."""
        return list(self._items)

    @property
    def rejected(self) -> list[RejectedPublish]:
        """Items the CSE refused for good, oldest first (a copy)."""
        return list(self._rejected)

    # -- changing -----------------------------------------------------------

    def add(self, item: QueuedPublish) -> None:
        """Append ``item`` and persist; :class:`OfflineQueueFullError` when full."""
        if len(self._items) >= self.max_items:
            raise OfflineQueueFullError(
                f"the offline queue already holds {len(self._items)} readings (max_items={self.max_items}); "
                "the CSE has been unreachable for long: aggregate readings or raise max_items"
            )
        self._items.append(item)
        self._dirty = True
        self.save()

    def attempted(self, item_id: str) -> None:
        """Count one more send attempt of the item (persisted with the next save)."""
        self._items = [replace(i, attempts=i.attempts + 1) if i.id == item_id else i for i in self._items]

    def remove(self, item_id: str) -> None:
        """Forget a delivered item (call :meth:`save` afterwards)."""
        before = len(self._items)
        self._items = [item for item in self._items if item.id != item_id]
        self._dirty = self._dirty or len(self._items) != before

    def reject(self, item_id: str, reason: str) -> None:
        """Move an item the CSE refused for good to :attr:`rejected`, log it, and persist."""
        for item in self._items:
            if item.id == item_id:
                log.error("publish %s to %s refused for good, kept in the rejected list: %s", item.rn, item.to, reason)
                self._rejected.append(RejectedPublish(item, reason))
                break
        else:
            return
        del self._rejected[:-MAX_REJECTED]
        self.remove(item_id)
        self.save()

    def save(self) -> None:
        """Write the file if anything changed since the last write (no-op in memory-only mode)."""
        if self.path is None or not self._dirty:
            self._dirty = False
            return
        if not self._items and not self._rejected:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.path)
                _fsync_directory(self.path.parent)
        else:
            write_json_file(
                self.path,
                {
                    "version": QUEUE_FILE_VERSION,
                    "items": [item.to_json() for item in self._items],
                    "rejected": [{"item": r.item.to_json(), "reason": r.reason} for r in self._rejected],
                },
            )
        self._dirty = False
