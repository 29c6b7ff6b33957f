"""Recognise controlled precursors and their substitutes in text, by CAS number and by name.

Why: a posting or a seizure links to a substance node, and the question an investigator
asks is whether the substance was under international control at that time, and which
scheduled chemical it stands in for. The reference is the project's own checked copy in
`ingest/reference/precursors.csv` (see the README there).

Keys: the CAS number when known, else "name:" + the name's tokens joined by "-"
(`substance_key`). Names are matched on word tokens, so case, hyphens, spaces and
underscores do not matter ("pmk-ethyl-glycidate" == "PMK ethyl glycidate"); one dict
lookup per token finds the longest name starting there.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from functools import lru_cache
from importlib import resources
from pathlib import Path

from ingest.identifiers import fold_width

_CAS = re.compile(r"([1-9]\d{1,6})-(\d{2})-(\d)(?!\d)(?!-\d)")  # what precedes: see _cas_at
# Names are compared as tuples of word tokens. Splitting the UTF-8 bytes on ASCII
# punctuation is several times faster than a Unicode word regex and gives the same tokens
# for the Latin-script names of the reference.
_NON_WORD_BYTES = bytes(c if chr(c).isascii() and chr(c).isalnum() else 0x20 for c in range(256))
_GREEK_LETTERS = {"α": " alpha ", "β": " beta ", "γ": " gamma "}
_GREEK_TABLE = str.maketrans(_GREEK_LETTERS)
_GREEK_PREFIXES = {"alpha": "a", "beta": "b", "gamma": "g"}
_ASCII_WORD = frozenset("0123456789abcdefghijklmnopqrstuvwxyz")
_NAME_CAS_GAP = re.compile(r"[\s,:;()\[\]/-]*(?:cas(?:[\s.]*(?:no|nr|number|#))?[\s.:#]*)?", re.I)
_MAX_NAME_CAS_GAP = 24
_DIGIT_DASH = frozenset(f"{digit}-" for digit in range(10))


def _tokens(text: str) -> tuple[bytes, ...]:
    return _low_tokens(text.lower())


def _low_tokens(low: str) -> tuple[bytes, ...]:
    """The tokens of lower-cased text (`_tokens` for a caller that needs `low` itself too)."""
    if not low.isascii():
        low = low.translate(_GREEK_TABLE)
    return tuple(low.encode().translate(_NON_WORD_BYTES).split())


@lru_cache(maxsize=1024)
def _written_form(tokens: tuple[bytes, ...]) -> re.Pattern[str]:
    """A pattern for a token sequence as written in lower-cased text."""
    words = ["(?:alpha|α)" if token == b"alpha" else re.escape(token.decode()) for token in tokens]
    return re.compile("[^0-9a-z]+".join(words))


def _locate(low: str, tokens: tuple[bytes, ...], start: int) -> tuple[int, int] | None:
    """Span of the first whole-word occurrence of `tokens` in `low` from `start`."""
    for match in _written_form(tokens).finditer(low, start):
        begin, end = match.span()
        if (begin == 0 or low[begin - 1] not in _ASCII_WORD) and low[
            end : end + 1
        ] not in _ASCII_WORD:
            return begin, end
    return None


@dataclass(frozen=True, slots=True)
class Substance:
    """A substance of the reference (or an unlisted one seen by its CAS number)."""

    key: str
    name: str
    cas: str | None
    synonyms: tuple[str, ...]
    table: str  # "I", "II", or a note such as "none (EU Cat.1 2022)" / "unlisted"
    in_force: date | None  # international control took effect
    analogue_of: str | None  # key of the substance it substitutes
    family: str | None = None  # "BMK", "PMK": sold under one trade name
    family_names: tuple[str, ...] = field(default=())  # that trade name; yields to a CAS

    def controlled_at(self, when: date | None) -> bool:
        """Under international control on `when` (today when None)?"""
        return self.in_force is not None and self.in_force <= (when or date.today())


@dataclass(frozen=True, slots=True)
class SubstanceMention:
    substance: Substance
    raw: str
    via: str  # "cas" | "name"


@dataclass(frozen=True, slots=True)
class InvalidCas:
    """A well-formed CAS number whose check digit is wrong: reported, never linked."""

    raw: str
    reason: str


@lru_cache(maxsize=4096)
def _cas_check_digit(body: str) -> int:
    return sum(int(digit) * weight for weight, digit in enumerate(reversed(body), 1)) % 10


def is_valid_cas(text: str) -> bool:
    """A CAS registry number ("28578-16-7") whose check digit is right."""
    match = _CAS.fullmatch(text.strip())
    return match is not None and _cas_check_digit(match[1] + match[2]) == int(match[3])


def substance_key(name: str, cas: str | None) -> str:
    """The node key of a substance: its CAS number, else "name:" + its name's tokens."""
    return cas or "name:" + b"-".join(_tokens(name)).decode()


def _spellings(name: str) -> set[tuple[bytes, ...]]:
    """Token spellings of a name: as written, and "alpha-X" also as "a-X" and "X"."""
    tokens = _tokens(name)
    spellings = {tokens}
    prefix = tokens[0].decode() if tokens else ""
    if len(tokens) > 1 and prefix in _GREEK_PREFIXES:
        spellings |= {(_GREEK_PREFIXES[prefix].encode(), *tokens[1:]), tokens[1:]}
    return spellings


def _split(cell: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in cell.split(";") if part.strip())


def _unlisted(cas: str) -> Substance:
    return Substance(cas, cas, cas, (), "unlisted", None, None)


class SubstanceReference:
    """The substance reference, with fast CAS and name recognition."""

    def __init__(self, substances: list[Substance]) -> None:
        self._substances = substances
        self._by_key = {substance.key: substance for substance in substances}
        # first token -> [(tokens, substance, is_family_name)], longest first
        self._names: dict[bytes, list[tuple[tuple[bytes, ...], Substance, bool]]] = {}
        owner: dict[tuple[bytes, ...], Substance] = {}
        for substance in substances:
            written = [(n, False) for n in (substance.name, *substance.synonyms)]
            for name, is_family in written + [(n, True) for n in substance.family_names]:
                for spelling in _spellings(name):
                    previous = owner.setdefault(spelling, substance)
                    if previous is not substance:
                        raise ValueError(f"{name!r} names both {previous.key} and {substance.key}")
                    entries = self._names.setdefault(spelling[0], [])
                    if all(tokens != spelling for tokens, _, _ in entries):
                        entries.append((spelling, substance, is_family))
        for entries in self._names.values():
            entries.sort(key=lambda entry: len(entry[0]), reverse=True)
        self._exact = {tokens: s for entries in self._names.values() for tokens, s, _ in entries}
        for substance in substances:
            if substance.analogue_of and substance.analogue_of not in self._by_key:
                raise ValueError(f"{substance.key}: unknown analogue_of {substance.analogue_of}")

    @classmethod
    def load(cls, path: Path | None = None) -> SubstanceReference:
        """Read a reference CSV; by default the one bundled with the package."""
        if path is None:
            source = resources.files("ingest").joinpath("reference/precursors.csv")
            text = source.read_text(encoding="utf-8")
        else:
            text = Path(path).read_text(encoding="utf-8")
        return cls([_substance(row) for row in csv.DictReader(io.StringIO(text))])

    def __iter__(self) -> Iterator[Substance]:
        return iter(self._substances)

    def __len__(self) -> int:
        return len(self._substances)

    def by_key(self, key: str) -> Substance | None:
        return self._by_key.get(key)

    def by_name(self, name: str) -> Substance | None:
        """The substance a name (or CAS number) denotes, e.g. a seizure record's field."""
        if is_valid_cas(name):
            return self.by_key(name.strip())
        exact = self._exact.get(_tokens(fold_width(name)))
        if exact is not None:
            return exact
        mentions, _ = self.find(name)
        return mentions[0].substance if len(mentions) == 1 else None

    def analogues(self) -> list[tuple[Substance, Substance]]:
        """(scheduled substance, the substitute that replaced it) pairs."""
        return [
            (self._by_key[substance.analogue_of], substance)
            for substance in self._substances
            if substance.analogue_of
        ]

    def find(self, text: str) -> tuple[list[SubstanceMention], list[InvalidCas]]:
        """Substances mentioned in `text` (one per key, by first appearance) and bad CAS numbers.

        A family trade name ("BMK glycidate", "PMK oil") written right next to a CAS number of
        the same family yields to it: "BMK glycidate CAS 16648-44-5" is MAPA only.
        """
        text = fold_width(text)
        mentions: list[tuple[int, SubstanceMention, bool]] = []  # (position, mention, family)
        invalid: list[InvalidCas] = []
        if "-" in text:
            for match in _CAS.finditer(text):
                start, cas = match.start(), match.group()
                if start and (text[start - 1].isdigit() or text[start - 2 : start] in _DIGIT_DASH):
                    continue  # part of a longer number
                expected = _cas_check_digit(match[1] + match[2])
                if expected != int(match[3]):
                    invalid.append(InvalidCas(cas, f"check digit {match[3]}, expected {expected}"))
                    continue
                substance = self._by_key.get(cas) or _unlisted(cas)
                mentions.append((start, SubstanceMention(substance, cas, "cas"), False))
        mentions += self._find_names(text)
        mentions.sort(key=lambda item: item[0])
        chosen: dict[str, tuple[int, SubstanceMention]] = {}
        for index, (position, mention, is_family) in enumerate(mentions):
            if is_family and _named_by_cas(text, mentions, index):
                continue
            key = mention.substance.key
            if key not in chosen:
                chosen[key] = (position, mention)
            elif mention.via == "cas":  # a CAS number is the stronger evidence
                chosen[key] = (chosen[key][0], mention)
        return [mention for _, mention in chosen.values()], invalid

    def _find_names(self, text: str) -> list[tuple[int, SubstanceMention, bool]]:
        low, names = text.lower(), self._names
        tokens = _low_tokens(low)
        found: list[tuple[int, SubstanceMention, bool]] = []
        next_token, next_char = 0, 0
        for index in [i for i, token in enumerate(tokens) if token in names]:
            if index < next_token:
                continue
            for name_tokens, substance, is_family in names[tokens[index]]:
                end = index + len(name_tokens)
                if tokens[index:end] == name_tokens:
                    span = _locate(low, name_tokens, next_char) if len(low) == len(text) else None
                    begin, next_char = span or (next_char, next_char)
                    raw = text[begin:next_char] if span else b" ".join(name_tokens).decode()
                    found.append((begin, SubstanceMention(substance, raw, "name"), is_family))
                    next_token = end
                    break
        return found


def _named_by_cas(text: str, mentions: list[tuple[int, SubstanceMention, bool]], at: int) -> bool:
    """Is the trade-name mention `mentions[at]` right next to a CAS number of its family?"""
    position, mention, _ = mentions[at]
    for neighbour in (at - 1, at + 1):
        if not 0 <= neighbour < len(mentions):
            continue
        other_position, other, _ = mentions[neighbour]
        if other.via != "cas" or other.substance.family != mention.substance.family:
            continue
        if neighbour > at:
            gap = text[position + len(mention.raw) : other_position]
        else:
            gap = text[other_position + len(other.raw) : position]
        if len(gap) <= _MAX_NAME_CAS_GAP and _NAME_CAS_GAP.fullmatch(gap):
            return True
    return False


def _substance(row: dict[str, str]) -> Substance:
    cas = row["cas"].strip() or None
    if cas is not None and not is_valid_cas(cas):
        raise ValueError(f"reference CAS number fails its check digit: {cas} ({row['name']})")
    return Substance(
        key=substance_key(row["name"], cas),
        name=row["name"].strip(),
        cas=cas,
        synonyms=_split(row["synonyms"]),
        table=row["convention_table"].strip(),
        in_force=date.fromisoformat(row["in_force"]) if row["in_force"].strip() else None,
        analogue_of=row["analogue_of"].strip() or None,
        family=row["family"].strip() or None,
        family_names=_split(row["family_names"]),
    )
