"""Normalise company and person names so that spelling variants of one entity meet.

Why: the same supplier appears as "Hubei Xinyuan Chemical Co., Ltd.", "HUBEI XINYUAN
CHEMICAL CO LTD" and "Hubei Xinyuan Chemical Company Limited" across platforms, customs
records and seizure reports; the graph needs one key for them, and a similarity score for
the near misses an analyst should review.
"""

from __future__ import annotations

import re
from functools import lru_cache

from anyascii import anyascii
from rapidfuzz import fuzz

_NON_ALNUM = re.compile(r"[^0-9a-z]+")
# Characters written without spaces between words (Han, kana, Hangul): transliterated one by
# one with spaces, so "张伟" becomes "zhang wei" and token order no longer matters.
_SYLLABIC = re.compile(r"[\u2e80-\u9fff\uac00-\ud7af\uf900-\ufaff]")
# Chinese legal forms are removed before transliteration, where they are still recognisable.
_CJK_LEGAL_SUFFIX = re.compile(r"(?:股份有限公司|有限责任公司|有限公司|集团公司|公司)$")

# Legal forms, as token sequences after normalisation (dotted abbreviations such as "S.A."
# or "B.V." arrive here as one token, "sa", "bv"). Only stripped at the ends of a name.
_LEGAL_SUFFIXES: tuple[tuple[str, ...], ...] = tuple(sorted(
    (tuple(form.split()) for form in (
        "co", "company", "corp", "corporation", "ltd", "limited", "llc", "lllp", "llp", "lp", "inc",
        "incorporated", "plc", "gmbh", "mbh", "ag", "kg", "ug", "ev", "sa", "sas", "sarl", "sl",
        "slu", "srl", "spa", "sro", "as", "bv", "bvba", "nv", "vof", "ab", "oy", "oyj", "aps",
        "kft", "sti", "ltd sti", "sirketi", "ltd sirketi", "zrt", "sp zoo", "sp z oo", "ooo", "zao",
        "oao", "pao", "ao", "tov", "pvt", "private", "pte", "pty", "sdn bhd", "bhd", "tbk", "kk",
        "yk", "gk", "ltda", "sa de cv", "s de rl de cv", "de cv", "cv", "eirl", "sac", "saic",
        "jsc", "ojsc", "cjsc", "pjsc", "and co", "and co kg", "gmbh and co kg", "trading",
        "trading co", "trading company", "trading ltd", "trading limited", "import and export",
        "imp and exp", "group co", "holding co",
    )),
    key=len, reverse=True,
))  # fmt: skip
_LEGAL_PREFIXES: tuple[tuple[str, ...], ...] = tuple(
    (form,) for form in ("ooo", "zao", "oao", "pao", "ao", "tov", "ip", "pt", "cv")
)


def _by_end_token(
    forms: tuple[tuple[str, ...], ...], end: int
) -> dict[str, tuple[tuple[str, ...], ...]]:
    """Forms grouped by their first (`end=0`) or last (`end=-1`) token, each group in the
    order of `forms`: only forms ending in a name's edge token can match there, and the
    first of them that does is the one a scan of all of `forms` would find."""
    groups: dict[str, list[tuple[str, ...]]] = {}
    for form in forms:
        groups.setdefault(form[end], []).append(form)
    return {token: tuple(group) for token, group in groups.items()}


_SUFFIXES_BY_LAST = _by_end_token(_LEGAL_SUFFIXES, -1)
_PREFIXES_BY_FIRST = _by_end_token(_LEGAL_PREFIXES, 0)

_TITLES = frozenset(
    {"mr", "mrs", "ms", "miss", "mx", "dr", "prof", "sir", "madam", "mme", "herr", "frau"}
)


def _transliterate(name: str) -> str:
    """Latin-script lower-case text; syllabic scripts get a space per character."""
    spaced = _SYLLABIC.sub(lambda match: f" {match.group()} ", name)
    return anyascii(spaced).casefold()


def _name_tokens(name: str) -> list[str]:
    """Word tokens; runs of single letters ("s a", from "S.A.") are joined into one."""
    tokens: list[str] = []
    initials: list[str] = []
    for token in [*_NON_ALNUM.sub(" ", _transliterate(name).replace("&", " and ")).split(), ""]:
        if len(token) == 1 and token.isalpha():
            initials.append(token)
            continue
        if initials:
            tokens.append("".join(initials))
            initials = []
        if token:
            tokens.append(token)
    return tokens


def _strip_legal_forms(tokens: list[str]) -> list[str]:
    """Drop legal forms from both ends, repeatedly ("Co., Ltd."), keeping at least one token.

    Moves two indices rather than slicing the list at each step, so a name of thousands of
    "Co." costs linear time, not quadratic."""
    first, end = 0, len(tokens)
    stripped = True
    while stripped and end - first > 1:
        stripped = False
        for form in _SUFFIXES_BY_LAST.get(tokens[end - 1], ()):
            size = len(form)
            if end - first > size and tuple(tokens[end - size : end]) == form:
                end, stripped = end - size, True
                break
        for form in _PREFIXES_BY_FIRST.get(tokens[first], ()):
            size = len(form)
            if end - first > size and tuple(tokens[first : first + size]) == form:
                first, stripped = first + size, True
                break
    return tokens[first:end]


def normalise_company(name: str) -> str:
    """Company key: transliterated, case-folded, punctuation and legal forms removed."""
    name = _CJK_LEGAL_SUFFIX.sub("", name.strip())
    return " ".join(_strip_legal_forms(_name_tokens(name)))


def normalise_person(name: str) -> str:
    """Person key: transliterated, case-folded, titles dropped, tokens sorted."""
    tokens = [token for token in _name_tokens(name) if token not in _TITLES]
    return " ".join(sorted(tokens))


def name_similarity(a: str, b: str) -> float:
    """0..1 similarity of two names after company normalisation (token order ignored)."""
    return fuzz.token_sort_ratio(normalise_company(a), normalise_company(b)) / 100


_LEGAL_FORM_IN_TEXT = (
    r"(?:Co\.?,?\s*Ltd\.?|Company\s+Limited|Co\.?,?\s*Limited|Private\s+Limited|"
    r"Pvt\.?\s*Ltd\.?|Limited|Ltd\.?|LLC|L\.L\.C\.|Inc\.?|Corp\.?|GmbH|AG|B\.V\.|BV|N\.V\.|"
    r"S\.A\.|S\.L\.|SARL|S\.r\.l\.|PLC|OOO|Sp\.\s*z\s*o\.o\.|A\.S\.|Ltd\.?\s*Sti\.?)"
)
_LEGAL_FORM = re.compile(_LEGAL_FORM_IN_TEXT)
_COMPANY_IN_TEXT = re.compile(
    r"(?<![\w-])((?:[A-Z][\w&'\-]*,?\s+){1,6}?" + _LEGAL_FORM_IN_TEXT + r")(?![\w])"
)


_text_company_key = lru_cache(maxsize=4096)(normalise_company)
"""normalise_company for names found in text: one supplier is named in many postings."""


def find_company_names(text: str) -> list[str]:
    """Company names written out in free text: capitalised words ending in a legal form
    ("Hubei Xinyuan Chemical Co., Ltd.", "Sai Javi Intermediates Pvt. Ltd."). Deduplicated
    by normalised name, in order of first appearance."""
    found: dict[str, str] = {}
    if not _LEGAL_FORM.search(text):  # no legal form, no name: a cheap look rules most texts out
        return []
    for match in _COMPANY_IN_TEXT.finditer(text):
        name = match.group(1).strip(" ,")
        key = _text_company_key(name)
        if key and key not in found:
            found[key] = name
    return list(found.values())
