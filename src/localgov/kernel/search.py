"""Thai full-text search: words segmented in the application, matched and ranked by PostgreSQL.

Thai is written without spaces between words and PostgreSQL has no Thai parser, so a document's
text is cut into words here with PyThaiNLP's ``newmm`` (dictionary maximal matching; the
dictionary ships in the wheel: no network) and stored as a ``tsvector`` written in PostgreSQL's
input syntax (:func:`document_vector`: each word a lexeme with its position and its field's
weight; no parser, no stemming). A query is cut the same way and becomes a ``tsquery`` of those
words, every word required (:func:`parse_query`). A GIN index on the vector serves ``@@``;
:func:`rank` (``ts_rank``) orders by where the words are: A the subject, B the body, C the
attachments' text.

A word inside a longer one: ``newmm`` keeps dictionary compounds whole (``ถนนลาดยาง``,
``โรงพยาบาล``), so a search for ``ถนน`` would miss a letter about ``ซ่อมแซมถนนลาดยาง``. Each
compound is therefore also indexed as its parts (:func:`cover`: the fewest dictionary words that
make it up exactly, cut at Thai character-cluster boundaries; then their parts in turn), each part
at its own position: ``ถนนลาดยาง`` → ``ถนน``, ``ลาดยาง``, ``ลาด``, ``ยาง``. A part must be a whole
dictionary word and the parts must cover the compound, so ``ยา`` is *not* found in ``ยาง`` (``ง``
is no word), as a substring or trigram search would find it. A query's compound matches itself or
its parts next to each other (``ถนน <-> ลาดยาง``: ``ถนน ลาดยาง`` written with a space).

Why this and not ``pg_trgm``: measured on the Thai test set of ``tests/test_search.py`` (128
queries over 400 letters; figures in docs/kernel/search.md), newmm words alone find 64 % of the
relevant letters; substring (trigram) matching finds every one but a sixth of what it returns is
wrong (``ยา`` in ``ยาง``, ``นา`` in
``หนา``), it cannot use its index for a query shorter than three characters (many Thai words
are), and it ranks by similarity, not by field. The segmented index finds 99.5 % of the relevant
letters at a precision of 99.9 %, and a one-word query is one GIN probe.

A service keeps a ``tsvector`` column with a GIN index on its own table, writes it with
:func:`vector_param` bound to :func:`document_vector`, and searches with :func:`parse_query`,
:func:`query_param`, :func:`matches` and :func:`rank` next to its own access filter in one SQL
statement, so a caller never sees a row the filter hides, not even as a count.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Iterable

import msgspec
from sqlalchemy import Boolean, Float, bindparam, cast, func
from sqlalchemy.dialects.postgresql import TSQUERY, TSVECTOR
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.types import Text

from localgov.kernel.thai import to_arabic_digits

#: PyThaiNLP's engine: dictionary-based maximal matching, fast, offline.
ENGINE = "newmm"
#: Distinct terms kept per field (a very long attachment is indexed by its first terms).
MAX_TERMS = 20_000
#: Longest lexeme PostgreSQL accepts is 2 KB; longer "words" (hashes, base64) are dropped.
MAX_TERM_BYTES = 200
#: The shortest part of a compound (code points), and the length from which a part is "long": a
#: cover may not have more short parts than long ones, so ``กรรม`` is not ``กร`` + ``รม`` and
#: ``หนอง`` not ``หน`` + ``อง`` (coincidences of spelling), while ``ตลาดสด`` is ``ตลาด`` + ``สด``.
MIN_PART = 2
LONG_PART = 3
#: Positions kept per lexeme (PostgreSQL keeps at most 256).
MAX_POSITIONS = 256
#: A query of more words than this is cut (each word is an index probe).
MAX_QUERY_WORDS = 16
_ZERO_WIDTH = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u2060\ufeff"))
_WORDLIKE = re.compile(r"\w", re.UNICODE)


class SearchQuery(msgspec.Struct, frozen=True):
    """A parsed query: ``tsquery`` in PostgreSQL's input syntax, and the words it was made of."""

    tsquery: str
    words: tuple[str, ...]


@functools.cache
def _dictionary() -> frozenset[str]:
    from pythainlp.corpus import thai_words

    return frozenset(thai_words())


def _normalise(text: str) -> str:
    return to_arabic_digits(unicodedata.normalize("NFC", text).translate(_ZERO_WIDTH)).casefold()


def words(text: str, *, keep_whitespace: bool = False) -> list[str]:
    """``text`` cut into words by ``newmm`` (whitespace kept as tokens when asked: for line breaking)."""
    from pythainlp.tokenize import word_tokenize

    if not text:
        return []
    out: list[str] = word_tokenize(text, engine=ENGINE, keep_whitespace=keep_whitespace)
    return out


def _is_term(token: str) -> bool:
    return bool(_WORDLIKE.search(token)) and len(token.encode()) <= MAX_TERM_BYTES


@functools.lru_cache(maxsize=65_536)
def cover(word: str) -> tuple[str, ...]:
    """The fewest dictionary words other than ``word`` that make up ``word`` exactly, cut at Thai
    character-cluster boundaries (empty when there are none: a simple word, or not Thai)."""
    from pythainlp.tokenize.tcc import tcc_pos

    if len(word) < 4 or not any("\u0e00" <= c <= "\u0e7f" for c in word):
        return ()
    dictionary = _dictionary()
    bounds = sorted({0, len(word), *tcc_pos(word)})
    # best[i]: the fewest words covering word[:bounds[i]], as (count, previous index).
    best: list[tuple[int, int] | None] = [None] * len(bounds)
    best[0] = (0, -1)
    for end in range(1, len(bounds)):
        for start in range(end):
            prev = best[start]
            if prev is None:
                continue
            piece = word[bounds[start] : bounds[end]]
            if piece == word or len(piece) < MIN_PART or piece not in dictionary:
                continue
            current = best[end]
            if current is None or prev[0] + 1 < current[0]:
                best[end] = (prev[0] + 1, start)
    pieces: list[str] = []
    index = len(bounds) - 1
    while index > 0:
        step = best[index]
        if step is None:
            return ()
        pieces.append(word[bounds[step[1]] : bounds[index]])
        index = step[1]
    short = sum(1 for piece in pieces if len(piece) < LONG_PART)
    if short > len(pieces) - short:
        return ()
    return tuple(reversed(pieces))


@functools.lru_cache(maxsize=65_536)
def parts(word: str) -> tuple[str, ...]:
    """Every part of a compound: its :func:`cover`, and the parts of those in turn."""
    out: list[str] = []
    for piece in cover(word):
        out.append(piece)
        out.extend(parts(piece))
    return tuple(dict.fromkeys(out))


def terms(text: str, *, limit: int = MAX_TERMS) -> list[str]:
    """The distinct index terms of ``text``: its words (case-folded, Arabic digits) and the parts
    of its compounds, in order of first appearance, at most ``limit``."""
    seen: dict[str, None] = {}
    for token in words(_normalise(text)):
        token = token.strip()
        if not _is_term(token):
            continue
        seen.setdefault(token)
        for piece in parts(token):
            seen.setdefault(piece)
        if len(seen) >= limit:
            break
    return list(seen)[:limit]


def document_vector(*, title: str = "", body: str = "", attachments: Iterable[str] = ()) -> str:
    """A document's ``tsvector`` as PostgreSQL's input text (cast it: :func:`vector_param`).

    Words are numbered in reading order with their field's weight: A the title (subject), B the
    body, C the attachments' text. A compound takes as many positions as its :func:`cover` has
    parts, each part at its own, so ``ถนน <-> ลาดยาง`` matches ``ถนนลาดยาง``; deeper parts share
    their parent's position. CPU work (a few milliseconds a letter): a thread for big texts.
    """
    positions: dict[str, list[str]] = {}

    def add(lexeme: str, position: int, weight: str) -> None:
        found = positions.setdefault(lexeme, [])
        if len(found) < MAX_POSITIONS:
            found.append(f"{min(position, 16383)}{weight}")

    position = 1
    for text, weight in ((title, "A"), (body, "B"), ("\n".join(attachments), "C")):
        for token in words(_normalise(text)):
            token = token.strip()
            if not _is_term(token):
                continue
            if token not in positions and len(positions) >= MAX_TERMS:
                continue
            add(token, position, weight)
            pieces = cover(token)
            for offset, piece in enumerate(pieces):
                add(piece, position + offset, weight)
                for sub in parts(piece):
                    add(sub, position + offset, weight)
            position += max(1, len(pieces))
    return " ".join(f"{_lexeme(lexeme)}:{','.join(found)}" for lexeme, found in positions.items())


def vector_param(name: str = "search_vector") -> ColumnElement[str]:
    """The bind parameter of a :func:`document_vector` text, cast to ``tsvector``."""
    return cast(bindparam(name, type_=Text), TSVECTOR)


def _lexeme(word: str) -> str:
    return "'" + word.replace("\\", "\\\\").replace("'", "''") + "'"


def parse_query(text: str) -> SearchQuery | None:
    """A query of every word of ``text`` (a compound: itself, or all of its parts); ``None`` when
    ``text`` holds no word."""
    found: list[str] = []
    for token in words(_normalise(text)):
        token = token.strip()
        if _is_term(token) and token not in found:
            found.append(token)
    found = found[:MAX_QUERY_WORDS]
    if not found:
        return None
    clauses = []
    for word in found:
        pieces = cover(word)
        direct = _lexeme(word)
        # A compound also matches its parts written apart, next to each other (``ถนน ลาดยาง``).
        clauses.append(f"({direct} | ({' <-> '.join(_lexeme(p) for p in pieces)}))" if pieces else direct)
    return SearchQuery(tsquery=" & ".join(clauses), words=tuple(found))


def query_param(name: str = "search_query") -> ColumnElement[str]:
    """The bind parameter of a query's ``tsquery`` text, cast to ``tsquery``."""
    return cast(bindparam(name, type_=Text), TSQUERY)


def matches(vector: ColumnElement[str], query: ColumnElement[str]) -> ColumnElement[bool]:
    """``vector @@ query`` (served by the vector's GIN index)."""
    return vector.op("@@", return_type=Boolean)(query)


def rank(vector: ColumnElement[str], query: ColumnElement[str]) -> ColumnElement[float]:
    """``ts_rank`` with the weights {D 0.1, C 0.3, B 0.6, A 1.0}, normalised by document length."""
    return func.ts_rank(vector, query, 1, type_=Float)
