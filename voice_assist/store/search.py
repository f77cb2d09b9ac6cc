"""Full-text search of stored transcripts, in the database: SQLite FTS5 or PostgreSQL GIN.

What a search means, on every backend alike: the query is split into *terms*, words and
``"quoted phrases"``; a word ending in ``*`` is a prefix.  Words are matched whole and
case-insensitively (``refund`` does not find ``refunds``; ``refund*`` does), with no
stemming and no stop words, so the transcript's language does not matter.  A call
matches when every term occurs in one of its final utterances (different terms may be
in different utterances; a phrase must be within one).

How:

* **SQLite**: an FTS5 table ``utterances_fts`` over ``utterances.text`` (external
  content, ``rowid`` = ``utterances.id``, the ``unicode61`` tokenizer), kept in step by
  triggers on insert, update and delete of ``utterances``, so the writer does nothing
  new.  A term is ``"word"`` or ``"first second"`` (a phrase), with ``*`` for a prefix.
* **PostgreSQL**: a stored generated column ``utterances.text_tsv`` =
  ``to_tsvector('simple', text)`` (the ``simple`` configuration: lower-cased words, no
  stemming, like FTS5's tokenizer) with a GIN index, queried with
  ``text_tsv @@ to_tsquery('simple', 'first <-> second:*')``.  Stored rather than an
  expression index because a GIN index keeps no word positions: a phrase is checked
  against each candidate row's vector, which must not be recomputed from the text for
  thousands of rows.  Chosen over a trigram index (``pg_trgm``) because it needs no
  extension and matches whole words the way the SQLite side does.
* **Anything else** (or an SQLite built without FTS5): ``lower(text) LIKE '%...%'``, a
  scan, not indexed, and matching inside words (``refund`` also finds ``refunds``).

Words are reduced to ``\\w+`` runs before they reach SQL, and go in as bound
parameters, so no query text is ever SQL or FTS syntax.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from voice_assist.store import schema

log = logging.getLogger(__name__)

FTS_TABLE = "utterances_fts"
PG_COLUMN = "text_tsv"
PG_INDEX = "ix_utterances_text_tsv"
MAX_QUERY_CHARS = 200
MAX_TERMS = 8

_TOKEN = re.compile(r'"([^"]*)"?|(\S+)')
_WORD = re.compile(r"\w+")


class SearchQueryError(ValueError):
    """A search query with nothing to search for, or too long."""


@dataclass(frozen=True, slots=True)
class Term:
    """One thing every matching call must contain: a word or a phrase (``words`` in order)."""

    words: tuple[str, ...]
    prefix: bool = False

    def __str__(self) -> str:
        text = " ".join(self.words) + ("*" if self.prefix else "")
        return f'"{text}"' if len(self.words) > 1 else text


def parse_query(text: str) -> tuple[Term, ...]:
    """The terms of a search query.

    Raises
    ------
    SearchQueryError
        Longer than ``MAX_QUERY_CHARS``, more than ``MAX_TERMS`` terms, or no word in it.
    """
    if len(text) > MAX_QUERY_CHARS:
        raise SearchQueryError(f"the search is longer than {MAX_QUERY_CHARS} characters")
    terms: list[Term] = []
    for m in _TOKEN.finditer(text):
        raw = m.group(1) if m.group(1) is not None else m.group(2)
        words = tuple(w.lower() for w in _WORD.findall(raw))
        if words:
            terms.append(Term(words, prefix=raw.rstrip().endswith("*")))
    if not terms:
        raise SearchQueryError("the search has no word in it")
    if len(terms) > MAX_TERMS:
        raise SearchQueryError(f"the search has more than {MAX_TERMS} terms")
    return tuple(dict.fromkeys(terms))


# -- schema objects ------------------------------------------------------------------------------


def install(conn: sa.Connection) -> str:
    """Create the search index of this backend (and fill it from ``utterances``).

    Returns the method now in use: ``fts5``, ``tsvector`` or ``like``.
    """
    dialect = conn.dialect.name
    if dialect == "postgresql":
        conn.execute(
            sa.text(
                f"ALTER TABLE utterances ADD COLUMN IF NOT EXISTS {PG_COLUMN} tsvector "
                "GENERATED ALWAYS AS (to_tsvector('simple', text)) STORED"
            )
        )
        conn.execute(
            sa.text(f"CREATE INDEX IF NOT EXISTS {PG_INDEX} ON utterances USING gin ({PG_COLUMN})")
        )
        return "tsvector"
    if dialect != "sqlite":
        return "like"
    try:
        conn.execute(
            sa.text(
                f"CREATE VIRTUAL TABLE IF NOT EXISTS {FTS_TABLE} USING fts5("
                "text, content='utterances', content_rowid='id', tokenize='unicode61')"
            )
        )
    except sa.exc.OperationalError as exc:  # an SQLite built without FTS5
        log.warning("SQLite has no FTS5 (%s): transcript search scans instead", exc)
        return "like"
    for stmt in (
        f"CREATE TRIGGER IF NOT EXISTS {FTS_TABLE}_ai AFTER INSERT ON utterances BEGIN "
        f"INSERT INTO {FTS_TABLE}(rowid, text) VALUES (new.id, new.text); END",
        f"CREATE TRIGGER IF NOT EXISTS {FTS_TABLE}_ad AFTER DELETE ON utterances BEGIN "
        f"INSERT INTO {FTS_TABLE}({FTS_TABLE}, rowid, text) VALUES ('delete', old.id, old.text); "
        "END",
        f"CREATE TRIGGER IF NOT EXISTS {FTS_TABLE}_au AFTER UPDATE OF text ON utterances BEGIN "
        f"INSERT INTO {FTS_TABLE}({FTS_TABLE}, rowid, text) VALUES ('delete', old.id, old.text); "
        f"INSERT INTO {FTS_TABLE}(rowid, text) VALUES (new.id, new.text); END",
        f"INSERT INTO {FTS_TABLE}({FTS_TABLE}) VALUES ('rebuild')",
    ):
        conn.execute(sa.text(stmt))
    return "fts5"


def method(conn: sa.Connection) -> str:
    """The search method this database supports: ``fts5``, ``tsvector`` or ``like``."""
    dialect = conn.dialect.name
    if dialect == "postgresql":
        return "tsvector"
    if dialect == "sqlite" and FTS_TABLE in sa.inspect(conn).get_table_names():
        return "fts5"
    return "like"


# -- queries -------------------------------------------------------------------------------------


def _fts5_query(term: Term) -> str:
    return '"' + " ".join(term.words) + '"' + (" *" if term.prefix else "")


def _tsquery(term: Term) -> str:
    lexemes = [f"'{w}'" for w in term.words]
    if term.prefix:
        lexemes[-1] += ":*"
    return " <-> ".join(lexemes)


def _like_pattern(term: Term) -> str:
    text = " ".join(term.words).replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{text}%"


def utterances_matching(term: Term, how: str) -> sa.Select[tuple[int, str]]:
    """``SELECT id, call_id FROM utterances`` that contain ``term``, by method ``how``."""
    u = schema.utterances
    if how == "fts5":
        fts = sa.table(FTS_TABLE, sa.column("rowid"))
        match = sa.literal_column(FTS_TABLE).op("MATCH")(sa.literal(_fts5_query(term)))
        hits = sa.select(fts.c.rowid).where(match)
        return sa.select(u.c.id, u.c.call_id).where(u.c.id.in_(hits))
    if how == "tsvector":
        vector: sa.ColumnElement[Any] = sa.literal_column(f"{u.name}.{PG_COLUMN}")
        query = sa.func.to_tsquery(sa.literal_column("'simple'"), _tsquery(term))
        return sa.select(u.c.id, u.c.call_id).where(vector.bool_op("@@")(query))
    return sa.select(u.c.id, u.c.call_id).where(
        sa.func.lower(u.c.text).like(_like_pattern(term), escape="\\")
    )


def calls_matching(terms: tuple[Term, ...], how: str) -> list[sa.ColumnElement[bool]]:
    """Conditions on ``calls``: one ``id IN (calls whose utterances contain the term)`` each."""
    c = schema.calls
    out: list[sa.ColumnElement[bool]] = []
    for term in terms:
        ids = sa.select(utterances_matching(term, how).subquery().c.call_id)
        if how == "tsvector":
            # OFFSET 0 keeps PostgreSQL from turning this into a semi-join that, under a
            # LIMIT, walks the calls newest first and searches each one's utterances (its
            # GIN estimates are rough): the matches are found once, then hashed.
            ids = ids.offset(0)
        out.append(c.c.id.in_(ids))
    return out
