"""SQLite storage of the sandbox: payment links and their charges, per API key.

The stdlib ``sqlite3`` module, called synchronously from the event loop: every statement is a
small indexed lookup, cheaper than a hop to a worker thread, and a test sandbox needs no more.
Amounts are stored as decimal text and read back as ``Decimal``; times as the provider's
``YYYY-MM-DD HH:MM:SS`` Kigali text, whose string order is time order.
"""

from __future__ import annotations

import json
import re
import sqlite3
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

ALL_PAYMENT_TYPES: tuple[str, ...] = ("card", "mobile_money", "ussd", "bank_transfer")

# A marker no client text can produce: it carries a Decimal's text through json.dumps, which
# knows no Decimal and would otherwise force a detour through binary floats.
_DECIMAL_MARK = f"\x00{uuid.uuid4().hex}:"
_DECIMAL_MARK_RE = re.compile(r'"\\u0000' + _DECIMAL_MARK[1:] + r'([0-9.eE+-]+)"')


def _mark_decimals(value: Any) -> Any:
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError("a JSON number must be finite")
        return _DECIMAL_MARK + str(value)
    if isinstance(value, dict):
        return {key: _mark_decimals(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_mark_decimals(item) for item in value]
    return value


def json_dumps(value: Any, *, compact: bool = False) -> str:
    """JSON text in which every ``Decimal`` is written as the exact number it holds."""
    text = json.dumps(
        _mark_decimals(value),
        ensure_ascii=False,
        separators=(",", ":") if compact else None,
    )
    return _DECIMAL_MARK_RE.sub(lambda match: match.group(1), text)


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def json_loads(text: str | bytes) -> Any:
    """Parse JSON exactly: non-integers become ``Decimal``; NaN and Infinity are refused."""
    return json.loads(text, parse_float=Decimal, parse_constant=_reject_constant)


def amount_number(value: Decimal) -> Decimal | int:
    """An amount as a JSON number: integral amounts as integers, others without exponent."""
    if value == value.to_integral_value():
        return int(value)
    return Decimal(format(value.normalize(), "f"))


@dataclass
class LinkRecord:
    id: str
    api_key: str
    slug: str
    title: str
    amount_type: str
    currency: str
    created_at: str
    amount: Decimal | None = None
    min_amount: Decimal | None = None
    max_amount: Decimal | None = None
    payment_types: list[str] = field(default_factory=lambda: list(ALL_PAYMENT_TYPES))
    description: str | None = None
    redirect_url: str | None = None
    logo_url: str | None = None
    max_uses: int | None = None
    expires_at: str | None = None
    collect_phone: bool = True
    collect_name: bool = True
    collect_address: bool = False
    metadata: dict[str, Any] | None = None
    archived: bool = False
    # Derived on read: successful charges.
    use_count: int = 0


@dataclass
class ChargeRecord:
    id: str
    link_id: str
    amount: Decimal
    currency: str
    status: str
    created_at: str
    payment_type: str | None = None
    payer_name: str | None = None
    payer_phone: str | None = None
    payer_address: str | None = None


@dataclass(frozen=True)
class ChargeStats:
    total: int
    successful: int
    pending: int
    failed: int
    collected: Decimal


_SCHEMA = """
CREATE TABLE IF NOT EXISTS links (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    api_key TEXT NOT NULL,
    slug TEXT NOT NULL UNIQUE,
    title TEXT NOT NULL,
    amount_type TEXT NOT NULL,
    amount TEXT,
    min_amount TEXT,
    max_amount TEXT,
    currency TEXT NOT NULL,
    payment_types TEXT NOT NULL,
    description TEXT,
    redirect_url TEXT,
    logo_url TEXT,
    max_uses INTEGER,
    expires_at TEXT,
    collect_phone INTEGER NOT NULL,
    collect_name INTEGER NOT NULL,
    collect_address INTEGER NOT NULL,
    metadata TEXT,
    created_at TEXT NOT NULL,
    archived INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS links_by_key ON links (api_key, seq);
CREATE TABLE IF NOT EXISTS charges (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    link_id TEXT NOT NULL REFERENCES links (id),
    amount TEXT NOT NULL,
    currency TEXT NOT NULL,
    status TEXT NOT NULL,
    created_at TEXT NOT NULL,
    payment_type TEXT,
    payer_name TEXT,
    payer_phone TEXT,
    payer_address TEXT
);
CREATE INDEX IF NOT EXISTS charges_by_link ON charges (link_id, seq);
CREATE INDEX IF NOT EXISTS charges_by_status ON charges (link_id, status);
"""

_LINK_COLUMNS = (
    "id",
    "api_key",
    "slug",
    "title",
    "amount_type",
    "amount",
    "min_amount",
    "max_amount",
    "currency",
    "payment_types",
    "description",
    "redirect_url",
    "logo_url",
    "max_uses",
    "expires_at",
    "collect_phone",
    "collect_name",
    "collect_address",
    "metadata",
    "created_at",
    "archived",
)
_UPDATABLE = frozenset(_LINK_COLUMNS) - {"id", "api_key", "created_at"}
_DECIMAL_COLUMNS = frozenset({"amount", "min_amount", "max_amount"})
_BOOL_COLUMNS = frozenset({"collect_phone", "collect_name", "collect_address", "archived"})

# SQL text assembled from the constant column names above, never from input.
_USE_COUNT = "(SELECT COUNT(*) FROM charges c WHERE c.link_id = links.id AND c.status = 'success')"
_SELECT_LINK = f"SELECT {', '.join(_LINK_COLUMNS)}, {_USE_COUNT} FROM links"  # noqa: S608


def _insert_sql(table: str, columns: Sequence[str]) -> str:
    marks = ", ".join("?" * len(columns))
    return f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})"  # noqa: S608


_INSERT_LINK = _insert_sql("links", _LINK_COLUMNS)


def _to_column(name: str, value: Any) -> Any:
    if value is None:
        return None
    if name in _DECIMAL_COLUMNS:
        return str(value)
    if name in _BOOL_COLUMNS:
        return int(bool(value))
    if name == "payment_types":
        return json.dumps(list(value))
    if name == "metadata":
        return json_dumps(value, compact=True)
    return value


def _link_from_row(row: Sequence[Any]) -> LinkRecord:
    values = dict(zip(_LINK_COLUMNS, row, strict=False))
    return LinkRecord(
        id=values["id"],
        api_key=values["api_key"],
        slug=values["slug"],
        title=values["title"],
        amount_type=values["amount_type"],
        currency=values["currency"],
        created_at=values["created_at"],
        amount=None if values["amount"] is None else Decimal(values["amount"]),
        min_amount=None if values["min_amount"] is None else Decimal(values["min_amount"]),
        max_amount=None if values["max_amount"] is None else Decimal(values["max_amount"]),
        payment_types=list(json.loads(values["payment_types"])),
        description=values["description"],
        redirect_url=values["redirect_url"],
        logo_url=values["logo_url"],
        max_uses=values["max_uses"],
        expires_at=values["expires_at"],
        collect_phone=bool(values["collect_phone"]),
        collect_name=bool(values["collect_name"]),
        collect_address=bool(values["collect_address"]),
        metadata=None if values["metadata"] is None else json_loads(values["metadata"]),
        archived=bool(values["archived"]),
        use_count=int(row[len(_LINK_COLUMNS)]),
    )


_CHARGE_COLUMNS = (
    "id",
    "link_id",
    "amount",
    "currency",
    "status",
    "created_at",
    "payment_type",
    "payer_name",
    "payer_phone",
    "payer_address",
)


_SELECT_CHARGE = f"SELECT {', '.join(_CHARGE_COLUMNS)} FROM charges"  # noqa: S608
_INSERT_CHARGE = _insert_sql("charges", _CHARGE_COLUMNS)


def _charge_from_row(row: Sequence[Any]) -> ChargeRecord:
    values = dict(zip(_CHARGE_COLUMNS, row, strict=True))
    values["amount"] = Decimal(values["amount"])
    return ChargeRecord(**values)


class SandboxStore:
    """Links and charges in one SQLite database (a file path or ``":memory:"``)."""

    def __init__(self, db_path: str = ":memory:") -> None:
        self._conn = sqlite3.connect(db_path, isolation_level=None)
        if db_path != ":memory:":
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=NORMAL")
        self._conn.executescript(_SCHEMA)

    def close(self) -> None:
        self._conn.close()

    def reset(self) -> None:
        """Forget every link and charge."""
        with self._transaction():
            self._conn.execute("DELETE FROM charges")
            self._conn.execute("DELETE FROM links")

    def _transaction(self) -> _Transaction:
        return _Transaction(self._conn)

    # Links

    def insert_link(self, link: LinkRecord) -> None:
        """Raise ``sqlite3.IntegrityError`` when the slug is taken."""
        self._conn.execute(
            _INSERT_LINK,
            [_to_column(name, getattr(link, name)) for name in _LINK_COLUMNS],
        )

    def seed_links(
        self,
        api_key: str,
        count: int,
        *,
        created_at: str,
        title: str = "Seeded link",
        currency: str = "RWF",
        amount: Decimal = Decimal(1000),
    ) -> list[str]:
        """Insert ``count`` fixed-amount links for one key in one transaction; return ids."""
        rows = []
        ids = []
        for index in range(count):
            link_id = str(uuid.uuid4())
            ids.append(link_id)
            link = LinkRecord(
                id=link_id,
                api_key=api_key,
                slug=f"seed-{link_id}",
                title=f"{title} {index + 1}",
                amount_type="fixed",
                currency=currency,
                created_at=created_at,
                amount=amount,
            )
            rows.append([_to_column(name, getattr(link, name)) for name in _LINK_COLUMNS])
        with self._transaction():
            self._conn.executemany(_INSERT_LINK, rows)
        return ids

    def get_link(self, link_id: str) -> LinkRecord | None:
        row = self._conn.execute(f"{_SELECT_LINK} WHERE id = ?", (link_id,)).fetchone()
        return None if row is None else _link_from_row(row)

    def get_link_by_slug(self, slug: str) -> LinkRecord | None:
        row = self._conn.execute(f"{_SELECT_LINK} WHERE slug = ?", (slug,)).fetchone()
        return None if row is None else _link_from_row(row)

    def slug_taken(self, slug: str) -> bool:
        row = self._conn.execute("SELECT 1 FROM links WHERE slug = ?", (slug,)).fetchone()
        return row is not None

    def count_links(self, api_key: str) -> int:
        row = self._conn.execute("SELECT COUNT(*) FROM links WHERE api_key = ?", (api_key,))
        return int(row.fetchone()[0])

    def list_links(self, api_key: str, *, limit: int, offset: int) -> list[LinkRecord]:
        """One page of a key's links, newest first."""
        rows = self._conn.execute(
            f"{_SELECT_LINK} WHERE api_key = ? ORDER BY seq DESC LIMIT ? OFFSET ?",
            (api_key, limit, offset),
        ).fetchall()
        return [_link_from_row(row) for row in rows]

    def update_link(self, link_id: str, changes: dict[str, Any]) -> None:
        """Raise ``sqlite3.IntegrityError`` when a new slug is taken."""
        unknown = set(changes) - _UPDATABLE
        if unknown:
            raise ValueError(f"not updatable: {sorted(unknown)}")
        if not changes:
            return
        names = list(changes)  # checked against _UPDATABLE above
        self._conn.execute(
            f"UPDATE links SET {', '.join(f'{name} = ?' for name in names)} WHERE id = ?",  # noqa: S608
            [*(_to_column(name, changes[name]) for name in names), link_id],
        )

    # Charges

    def insert_charge(self, charge: ChargeRecord) -> None:
        self._conn.execute(
            _INSERT_CHARGE,
            [
                str(charge.amount) if name == "amount" else getattr(charge, name)
                for name in _CHARGE_COLUMNS
            ],
        )

    def get_charge(self, charge_id: str) -> ChargeRecord | None:
        row = self._conn.execute(f"{_SELECT_CHARGE} WHERE id = ?", (charge_id,)).fetchone()
        return None if row is None else _charge_from_row(row)

    def set_charge_status(self, charge_id: str, status: str) -> None:
        self._conn.execute("UPDATE charges SET status = ? WHERE id = ?", (status, charge_id))

    def recent_charges(self, link_id: str, limit: int = 10) -> list[ChargeRecord]:
        rows = self._conn.execute(
            f"{_SELECT_CHARGE} WHERE link_id = ? ORDER BY seq DESC LIMIT ?",
            (link_id, limit),
        ).fetchall()
        return [_charge_from_row(row) for row in rows]

    def charge_stats(self, link_id: str) -> ChargeStats:
        counts: dict[str, int] = dict(
            self._conn.execute(
                "SELECT status, COUNT(*) FROM charges WHERE link_id = ? GROUP BY status",
                (link_id,),
            ).fetchall()
        )
        # Summed here, not by SQLite, whose SUM() of decimal text goes through binary floats.
        amounts: Iterable[tuple[str]] = self._conn.execute(
            "SELECT amount FROM charges WHERE link_id = ? AND status = 'success'", (link_id,)
        )
        collected = sum((Decimal(amount) for (amount,) in amounts), Decimal(0))
        return ChargeStats(
            total=sum(counts.values()),
            successful=counts.get("success", 0),
            pending=counts.get("pending", 0),
            failed=counts.get("failed", 0),
            collected=collected,
        )


class _Transaction:
    """``BEGIN`` … ``COMMIT`` (or ``ROLLBACK``) on an autocommit connection."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    def __enter__(self) -> None:
        self._conn.execute("BEGIN")

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        self._conn.execute("COMMIT" if exc_type is None else "ROLLBACK")
