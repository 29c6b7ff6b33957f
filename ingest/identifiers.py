"""Find contact identifiers in posting text and normalise single contact fields.

Why: postings, people and seizures are linked through the contacts they share, so every
identifier must get one canonical value however it was written, and look-alikes (CAS
numbers, dates, prices, order numbers, wallet fragments) must never become contact nodes.

How: cheap anchors (a "+" or digit run, "@", ":", ".", "0x", "bc1") find candidates; a
messenger label ("WhatsApp/Telegram:") is read backwards from a candidate with one anchored
match on the reversed text, so no keyword scan of the whole posting is needed. The costly
checks (phonenumbers, the bundled Public Suffix List, base58 checksums) run only on
candidates and are cached. Passes run in a fixed order and claim the spans they use, so an
email's domain never becomes a domain and its local part never a handle.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from functools import lru_cache
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import base58
import phonenumbers
import tldextract

IDENTIFIER_KINDS: tuple[str, ...] = (
    "phone", "email", "telegram", "wickr", "whatsapp", "signal", "threema", "wechat", "skype",
    "domain", "url", "btc", "eth", "tron",
)  # fmt: skip

# Messengers that run on a phone number: named next to a number they become its channels.
PHONE_CHANNELS: frozenset[str] = frozenset({"whatsapp", "telegram", "signal", "viber", "wechat"})


@dataclass(frozen=True, slots=True)
class Identifier:
    """One contact identifier: `value` is the node key, `raw` the evidence as written."""

    kind: str
    value: str
    raw: str
    channels: frozenset[str] = frozenset()


# --- text preparation -----------------------------------------------------------------------

# Length-preserving folds, so that offsets in the folded text are offsets in the original.
_WIDTH_FOLD: dict[int, str] = {cp: chr(cp - 0xFEE0) for cp in range(0xFF01, 0xFF5F)}
_WIDTH_FOLD.update(dict.fromkeys((0x00A0, 0x3000, 0x202F, 0x205F, 0xFEFF), " "))
_WIDTH_FOLD.update(dict.fromkeys(range(0x2000, 0x200E), " "))
_WIDTH_FOLD.update(dict.fromkeys((*range(0x2010, 0x2016), 0x2212), "-"))
_WIDTH_FOLD.update({0x3002: ".", 0xFF61: ".", 0x3001: ",", 0xFE6B: "@"})
_FOLDABLE = re.compile("[" + "".join(map(chr, sorted(_WIDTH_FOLD))) + "]")
_ASCII_LOWER = {cp: cp + 32 for cp in range(ord("A"), ord("Z") + 1)}


def fold_width(text: str) -> str:
    """Map full-width forms, odd spaces and dashes to ASCII, keeping every offset."""
    if text.isascii() or not _FOLDABLE.search(text):
        return text
    return _FOLDABLE.sub(lambda match: _WIDTH_FOLD[ord(match.group())], text)


def ascii_twin(pattern: re.Pattern[str]) -> re.Pattern[str]:
    """`pattern` compiled for ASCII-only text, on which it matches exactly what `pattern`
    matches, but faster: \\d, \\w, \\s and case-insensitive letters test ASCII only."""
    if pattern.flags & re.IGNORECASE and not pattern.pattern.isascii():
        raise ValueError("a non-ASCII letter may match an ASCII one only without re.ASCII")
    return re.compile(pattern.pattern, (pattern.flags & ~re.UNICODE) | re.ASCII)


def _positions(text: str, chars: str) -> list[int]:
    """Ascending offsets of `chars` in `text`: str.find runs several times faster than a
    regex character class over the whole text, and anchors are few."""
    found: list[int] = []
    for char in chars:
        position = text.find(char)
        while position != -1:
            found.append(position)
            position = text.find(char, position + 1)
    found.sort()
    return found


def _lower(text: str) -> str:
    low = text.lower()
    return low if len(low) == len(text) else text.translate(_ASCII_LOWER)


# --- messenger labels -----------------------------------------------------------------------

# "phone" words give a number phone context; "other" services own the value after them, so
# "Instagram: @name" is not read as a Telegram handle.
_LABEL_WORDS: dict[str, tuple[str, ...]] = {
    "telegram": ("telegram", "telegramm", "tg", "电报"),
    "whatsapp": ("whatsapp", "whats app", "whatsap", "watsapp", "wapp", "wa"),
    "signal": ("signal",),
    "viber": ("viber",),
    "wechat": ("wechat", "we chat", "weixin", "wx", "vx", "微信"),
    "wickr": ("wickr", "wickr me", "wickrme"),
    "threema": ("threema",),
    "skype": ("skype",),
    "phone": ("telephone", "tele", "tel", "phone", "ph", "mobile", "mob", "cellphone", "cell",
              "call", "sms", "text", "hotline", "contact"),
    "other": ("instagram", "insta", "ig", "twitter", "facebook", "fb", "tiktok", "snapchat",
              "snap", "kik", "discord", "session", "line", "vk", "email", "e-mail", "mail"),
}  # fmt: skip
_SERVICE_OF_WORD = {word: service for service, words in _LABEL_WORDS.items() for word in words}
_PHONE_ONLY = frozenset({"phone"})
_PHONE_LABELS = PHONE_CHANNELS | _PHONE_ONLY
_FILLERS = ("id", "no", "nr", "num", "number", "account", "acc", "username", "user", "name",
            "handle", "me", "is", "at", "on", "via")  # fmt: skip


def _alternation(words: Iterable[str]) -> str:
    return "|".join(re.escape(word) for word in sorted(words, key=len, reverse=True))


_WORD = rf"(?:{_alternation(_SERVICE_OF_WORD)})(?![a-z])"
_JOIN = r"[ \t]*+(?:[/&|,+\\]|or|and)?[ \t]*+"
_MORE_WORDS = "{0,7}"
"""A label names at most 8 services ("WhatsApp/Telegram/WeChat/..."): bounded, so a text
of "tg tg tg ..." costs each match 8 words, not the rest of the text."""
_LABEL_WORD = re.compile(_WORD)
# Read backwards from a value (on the reversed text): separators or filler words, then
# "word (/ word)*", each word whole. One separator character per repetition, never a run
# (`(?:[...]+|...)*` splits a run of n separators 2**n ways when the label is missing).
_REVERSED_WORD = rf"(?:{_alternation(word[::-1] for word in _SERVICE_OF_WORD)})(?![a-z])"
_REVERSED_JOIN = r"[ \t]*+(?:[/&|,+\\]|ro|dna)?[ \t]*+"
_REVERSED_LABEL = re.compile(
    rf"(?:[\s:=\->~#.()\[\]]|(?:{_alternation(f[::-1] for f in _FILLERS)})(?![a-z]))*"
    rf"(?P<label>{_REVERSED_WORD}(?:{_REVERSED_JOIN}{_REVERSED_WORD}){_MORE_WORDS})"
)
_LABEL_AFTER = re.compile(  # "+86 138 0013 8000 (WhatsApp/WeChat)" ending the phrase
    rf"[ \t(\[/\-]*(?P<label>{_WORD}(?:{_JOIN}{_WORD}){_MORE_WORDS})[ \t)\]]*(?:[,;.|!\n]|$)"
)
_LABEL_WINDOW = 64


@lru_cache(maxsize=1024)
def _services(label: str) -> frozenset[str]:
    return frozenset(_SERVICE_OF_WORD[word] for word in _LABEL_WORD.findall(label))


# --- phones ---------------------------------------------------------------------------------


def _phone_candidate(digit: str) -> re.Pattern[str]:
    """A run of digits and separators that may be a phone, `digit` being the digit class."""
    return re.compile(rf"[+({digit}][{digit} .\-()]{{5,24}}[{digit}]")


_PHONE_CANDIDATE = _phone_candidate(r"\d")
_ASCII_PHONE_CANDIDATE = _phone_candidate("0-9")
"""For ASCII text, where \\d is 0-9: a plain character set is tested faster than \\d."""
_NON_DIGIT = re.compile(r"\D")
_SEVEN_DIGITS = re.compile(r"(?:\D*+\d){7}")  # the fewest digits a phone has
_CAS_SHAPE = re.compile(r"(?<!\d)\d{2,7}-\d{2}-\d(?!\d)")
_DATE_SHAPE = re.compile(
    r"(?<!\d)(?:(?:19|20)\d\d[-./ ]\d{1,2}[-./ ]\d{1,2}"
    r"|\d{1,2}[-./]\d{1,2}[-./](?:19|20)?\d\d)(?!\d)"
)
_NOT_BEFORE_PHONE = frozenset("abcdefghijklmnopqrstuvwxyz0123456789_/.#&=%$€£¥+-@")
_NOT_AFTER_PHONE = frozenset("abcdefghijklmnopqrstuvwxyz0123456789_%")
_NOT_A_PHONE_BEFORE = re.compile(
    r"(?<![a-z])(?:order|invoice|tracking|track|ref|batch|lot|sku|cas|item|serial|awb|price|"
    r"qty|code|no|nr|id|#)\W{0,3}$"
)
_SIBLING_GAP = re.compile(r"[\s,;/|&]*(?:(?:or|and)[\s,;/|&]*)?")


@lru_cache(maxsize=1 << 16)
def _e164(number: str, region: str | None) -> str | None:
    try:
        parsed = phonenumbers.parse(number, region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(parsed):
        return None
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


@lru_cache(maxsize=256)
def _region_prefixes(region: str) -> tuple[str, str]:
    """(country calling code, national trunk prefix or "") of a region."""
    metadata = phonenumbers.PhoneMetadata.metadata_for_region(region)
    trunk = (metadata.national_prefix or "") if metadata else ""
    return str(phonenumbers.country_code_for_region(region)), trunk


def _resolve_phone(
    digits: str, international: bool, region: str | None, context: bool
) -> str | None:
    """E.164 for a digit string, or None when phonenumbers finds no valid number."""
    if international:
        return _e164("+" + digits, None)
    if region and (context or len(digits) >= 8):
        country_code, trunk = _region_prefixes(region)
        if trunk and digits.startswith(country_code) and not digits.startswith(trunk):
            # "4915123456789" in Germany: national numbers start with the trunk prefix "0",
            # so a leading "49" is the country code written without "+".
            written_with_country_code = _e164("+" + digits, None)
            if written_with_country_code:
                return written_with_country_code
        national = _e164(digits, region)
        if national:
            return national
    if context or len(digits) >= 11:  # country code written without "+" or "00"
        return _e164("+" + digits, None)
    return None


def _phone_digits(raw: str) -> tuple[str, bool]:
    """(digits, written in international form) for a phone candidate."""
    digits = _NON_DIGIT.sub("", raw)
    if raw.startswith("+"):
        return digits, True
    if digits.startswith("00") and not digits.startswith("000"):
        return digits[2:], True
    return digits, False


# --- handles --------------------------------------------------------------------------------

_HANDLE_ANCHORS = ":=@"
# Labels that may be followed by their value after a mere space ("Telegram Name", "wickr id x").
_SPACED_LABEL_WORDS = ("telegram", "tg", "wickr", "wechat", "weixin", "threema", "skype")
_SPACED_LABEL = re.compile(
    rf"(?P<label>{_WORD}(?:{_JOIN}{_WORD}){_MORE_WORDS})(?:[ \t]+(?:id|me|username|user name))?"
    r"(?:[ \t]+-[ \t]+|[ \t]+)(?P<at>@?)(?P<value>[a-z0-9_][a-z0-9_.:\-]*)"
)
_PHRASE_END = re.compile(r"[ \t]*(?:$|[,;|/\n)]|\.(?:\s|$))")
_SKYPE_LIVE = re.compile(r"live:(?:\.cid\.[0-9a-f]+|[a-z][a-z0-9_.\-]{2,31})")
# At most 8 separators after a label ("Wickr:- name") and a value of at most 128 characters
# (no handle is longer; a longer token is not one): each anchor of ":::..." or "a:a:a:..."
# reads a bounded run, not the rest of the text.
_HANDLE_VALUE = re.compile(
    r"[:=>\-]{0,8}+[ \t]*+(?P<at>@?)[ \t]*+"
    r"(?P<value>[a-z0-9_][a-z0-9_.:\-]{0,127}+)(?![a-z0-9_.:\-])"
)
_HANDLE_RULES: dict[str, re.Pattern[str]] = {
    "telegram": re.compile(r"[a-z][a-z0-9_]{4,31}"),
    "wickr": re.compile(r"(?=[a-z0-9_.\-]*[a-z])[a-z0-9][a-z0-9_.\-]{2,31}"),
    "threema": re.compile(r"[a-z0-9]{8}"),
    "wechat": re.compile(r"[a-z][a-z0-9_\-]{5,31}"),  # WeChat allows 6-20; sellers write more
    "skype": re.compile(rf"{_SKYPE_LIVE.pattern}|[a-z][a-z0-9_.,\-]{{5,31}}"),
    "signal": re.compile(r"[a-z_][a-z0-9_]{2,31}\.\d{2,9}"),
    "whatsapp": re.compile(r"[a-z][a-z0-9._]{2,34}"),
}  # fmt: skip
_HANDLE_NEEDS_AT = frozenset({"whatsapp"})  # a bare word after "WhatsApp:" is too ambiguous
_NOT_HANDLES = frozenset({
    "available", "only", "same", "contact", "number", "below", "above", "ask", "dm", "pm", "inbox",
    "here", "online", "or", "and", "me", "us", "id", "username", "account", "group", "channel",
    "support", "admin", "link", "please", "yes", "no", "for", "details", "info", "now", "direct",
    "message", "chat", "call", "app", "the", "our", "my", "add", "messenger", "preferred",
    "today", "anytime", "asap", "thanks", "thank", "bot", "web", "desktop", "with",
})  # fmt: skip
_AT_HANDLE = re.compile(r"@([a-z0-9_]{1,40})")
_EMAIL_LOCAL_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789._%+-")
_EMAIL_LOCAL_RUN = re.compile("[" + re.escape("".join(sorted(_EMAIL_LOCAL_CHARS))) + "]*")
"""The local part's characters, matched backwards from the "@" on the reversed text."""
_NOT_BEFORE_AT_HANDLE = _EMAIL_LOCAL_CHARS | {"/"}


def _normalise_handle(kind: str, value: str) -> str | None:
    """Canonical handle for `kind`, or None when `value` cannot be one."""
    value = value.strip().lstrip("@").rstrip(".:-,").lower()
    rule = _HANDLE_RULES.get(kind)
    if rule is None or not rule.fullmatch(value):
        return None
    return value.upper() if kind == "threema" else value


# --- emails ---------------------------------------------------------------------------------

_EMAIL_AT = re.compile(r"@|[\[({<] ?(?:at|@) ?[\])}>]|[ \t]at[ \t]")
_EMAIL_AT_STARTS = "@[({<"
_EMAIL_AT_SPACED = re.compile(r"[@\[({<]|[ \t]at[ \t]")  # only when " dot " is written
_OBFUSCATED_DOT = r"[ \t]*[\[({<][ \t]*(?:dot|\.)[ \t]*[\])}>][ \t]*|[ \t]+dot[ \t]+"
_EMAIL_HOST = re.compile(
    rf"[ \t]*(?P<host>[a-z0-9](?:[a-z0-9\-]*[a-z0-9])?"
    rf"(?:(?:\.|{_OBFUSCATED_DOT})[a-z0-9](?:[a-z0-9\-]*[a-z0-9])?)+)"
)
_DOT_WRITTEN = re.compile(_OBFUSCATED_DOT)
_PROSE_BEFORE_AT = frozenset({"us", "me", "you", "them", "him", "her", "it", "we", "or", "and"})

# --- wallets --------------------------------------------------------------------------------

_ETH = re.compile(r"0x[0-9a-f]{40}")
_BECH32 = re.compile(r"bc1[02-9ac-hj-np-z]{8,87}")
_BASE58 = re.compile(r"[13T][1-9A-HJ-NP-Za-km-z]{25,34}")
_BECH32_CHARSET = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"
_BECH32_GENERATORS = (0x3B6A57B2, 0x26508E6D, 0x1EA119FA, 0x3D4233DD, 0x2A1462B3)
_BECH32M_CONST = 0x2BC830A3


def _bech32_polymod(values: list[int]) -> int:
    checksum = 1
    for value in values:
        top = checksum >> 25
        checksum = (checksum & 0x1FFFFFF) << 5 ^ value
        for i, generator in enumerate(_BECH32_GENERATORS):
            if (top >> i) & 1:
                checksum ^= generator
    return checksum


def is_valid_segwit_address(address: str) -> bool:
    """BIP-173 (bech32, witness v0) / BIP-350 (bech32m, v1+) mainnet address check."""
    if address != address.lower() and address != address.upper():
        return False
    hrp, _, data_part = address.lower().rpartition("1")
    data = [_BECH32_CHARSET.find(char) for char in data_part]
    if hrp != "bc" or len(data) < 7 or -1 in data:
        return False
    expanded_hrp = [ord(c) >> 5 for c in hrp] + [0] + [ord(c) & 31 for c in hrp]
    version = data[0]
    if _bech32_polymod(expanded_hrp + data) != (1 if version == 0 else _BECH32M_CONST):
        return False
    bits, accumulator, program = 0, 0, []
    for value in data[1:-6]:
        accumulator = (accumulator << 5) | value
        bits += 5
        if bits >= 8:
            bits -= 8
            program.append((accumulator >> bits) & 0xFF)
    if bits >= 5 or (accumulator << (8 - bits)) & 0xFF:
        return False  # padding must be short and zero
    if version > 16 or not 2 <= len(program) <= 40:
        return False
    return version != 0 or len(program) in (20, 32)


@lru_cache(maxsize=1 << 14)
def _base58_kind(address: str) -> str | None:
    """Kind ("btc" or "tron") of a base58check address with a verified checksum; else None."""
    try:
        payload = base58.b58decode_check(address)
    except ValueError:
        return None
    if len(payload) != 21:
        return None
    if payload[0] in (0x00, 0x05) and address[0] in "13":
        return "btc"
    if payload[0] == 0x41 and address[0] == "T":
        return "tron"
    return None


def _wallet(kind: str, raw: str) -> str | None:
    """Normalised wallet address of `kind`, or None if `raw` is not a valid one."""
    if kind == "eth":
        return raw.lower() if re.fullmatch(r"0[xX][0-9a-fA-F]{40}", raw) else None
    if kind == "btc" and raw[:3].lower() == "bc1":
        return raw.lower() if is_valid_segwit_address(raw) else None
    return raw if _BASE58.fullmatch(raw) and _base58_kind(raw) == kind else None


# --- links and domains ----------------------------------------------------------------------

_SUFFIXES = tldextract.TLDExtract(
    suffix_list_urls=(), cache_dir=None, fallback_to_snapshot=True, include_psl_private_domains=True
)  # bundled Public Suffix List snapshot: never downloads
_LINK = re.compile(
    r"(?:(?P<scheme>https?|ftp)://)?"
    r"(?P<host>(?:[a-z0-9](?:[a-z0-9\-]{0,61}[a-z0-9])?\.)+(?:[a-z]{2,63}|xn--[a-z0-9\-]{1,59}))"
    r"(?P<port>:\d{1,5})?(?P<rest>[/?#][^\s<>\"'`]*)?"
)
_HOST_DOT = re.compile(r"\.(?<=[a-z0-9]\.)(?=[^\W\d_])")
"""A dot after a host character and before what may be a letter (a superset of isalpha):
the dots where a link may be; most dots end a sentence."""
_TOKEN_STOP = frozenset(" \t\r\n<>\"'`()[]{},;|@:")
_URL_TRAILING = ".,;:!?'\")]}>"
# Bare hosts (no scheme, no path) are accepted on common TLDs only: "Co.Ltd" or "end.Contact"
# must not become domains. Two-letter country codes are common, bar file-extension look-alikes.
_COMMON_GTLDS = frozenset({
    "com", "net", "org", "info", "biz", "io", "co", "me", "shop", "store", "online", "site", "xyz",
    "top", "vip", "club", "app", "dev", "tech", "pro", "asia", "cc", "tv", "ws", "mobi", "name",
    "eu", "website", "space", "live", "link", "cloud", "email", "world", "global", "group",
    "company", "trade", "market", "bio", "chem",
})  # fmt: skip
_FILE_LIKE_TLDS = frozenset({"md", "py", "sh", "ps", "js", "rs", "pl", "gz"})
_CAPITALISED_LABEL = re.compile(r"\.[A-Z][a-z]")
_TRACKING_PARAM = re.compile(r"utm_.*|fbclid|gclid|yclid|mc_eid|igshid", re.I)
_TELEGRAM_HOSTS = frozenset({"t.me", "telegram.me", "telegram.dog"})
_TELEGRAM_RESERVED = frozenset({
    "joinchat", "addstickers", "addemoji", "share", "proxy", "socks", "iv", "login",
    "setlanguage", "addtheme", "boost", "confirmphone", "contact", "addlist",
})  # fmt: skip
_WHATSAPP_HOSTS = frozenset({"wa.me", "api.whatsapp.com", "web.whatsapp.com", "whatsapp.com"})
_MESSENGER_HOSTS = _TELEGRAM_HOSTS | _WHATSAPP_HOSTS | {"threema.id", "signal.me"}
# Messenger platforms: their links are handles or invites, never a seller's own domain.
_PLATFORM_DOMAINS = frozenset({
    "t.me", "telegram.me", "telegram.dog", "telegram.org", "wa.me", "whatsapp.com",
    "threema.id", "threema.ch", "signal.me", "signal.group", "signal.org",
})  # fmt: skip


@lru_cache(maxsize=1 << 14)
def _registrable(host: str) -> tuple[str, str] | None:
    """(registrable domain, public suffix) of a host, or None (unknown suffix, IP address)."""
    parts = _SUFFIXES(host)
    if not parts.suffix or not parts.domain:
        return None
    return parts.top_domain_under_public_suffix, parts.suffix


def normalise_url(url: str) -> str | None:
    """Canonical URL: scheme and host lower-cased; default port, trailing slash, fragment and
    tracking parameters (utm_*, fbclid, ...) dropped; "http://" assumed when none is written."""
    try:
        parts = urlsplit(url if "://" in url else "http://" + url)
        port = parts.port
    except ValueError:
        return None
    host = (parts.hostname or "").rstrip(".")
    if not host:
        return None
    scheme = parts.scheme.lower()
    netloc = host if port in (None, 80 if scheme == "http" else 443) else f"{host}:{port}"
    params = parse_qsl(parts.query, keep_blank_values=True)
    query = urlencode([(k, v) for k, v in params if not _TRACKING_PARAM.fullmatch(k)])
    return urlunsplit((scheme, netloc, parts.path.rstrip("/"), query, ""))


# --- the scan -------------------------------------------------------------------------------


class _Scan:
    """One pass over one text: collects identifiers by (kind, value), remembers claimed spans."""

    __slots__ = ("found", "low", "original", "phone_context", "region", "rev", "taken", "text")

    def __init__(self, text: str, region: str | None, phone_context: bool) -> None:
        self.original = text  # evidence is cut from here; offsets equal those of `text`
        self.text = fold_width(text)
        self.low = _lower(self.text)
        self.rev = self.low[::-1]  # for reading backwards from a position with one match
        self.region = region.upper() if region else None
        self.phone_context = phone_context
        self.found: dict[tuple[str, str], tuple[int, int, str, set[str]]] = {}
        self.taken = bytearray(len(text))  # 1 where a found identifier claims the character

    def run(self) -> list[Identifier]:
        self.scan_emails()
        self.scan_handles()
        self.scan_links()
        self.scan_wallets()
        self.scan_phones()
        # by start, then by when found: a stable sort keeps the dict's order on equal starts
        ordered = sorted(self.found.items(), key=lambda item: item[1][0])
        return [
            Identifier(kind, value, raw, frozenset(channels))
            for (kind, value), (_, _, raw, channels) in ordered
        ]

    # bookkeeping

    def add(
        self, span: tuple[int, int], kind: str, value: str, channels: Iterable[str] = ()
    ) -> None:
        """Record an identifier found at `span` (the original text there is its evidence)."""
        key = (kind, value)
        if key in self.found:
            self.found[key][3].update(channels)
        else:
            raw = self.original[span[0] : span[1]]
            self.found[key] = (span[0], len(self.found), raw, set(channels))

    def take(self, start: int, end: int) -> None:
        """Claim characters; a per-character mask, so a text with thousands of identifiers
        does not compare every span with every earlier one."""
        self.taken[start:end] = b"\x01" * (end - start)

    def is_taken(self, start: int, end: int) -> bool:
        return self.taken.find(1, start, end) != -1

    def label_before(self, position: int) -> frozenset[str]:
        """Services named by a label right before `position` ("WhatsApp/Telegram: ")."""
        start = len(self.rev) - position  # in `rev`; the window ends where the text starts
        match = _REVERSED_LABEL.match(self.rev, start, start + _LABEL_WINDOW)
        return _services(match.group("label")[::-1]) if match else frozenset()

    def label_after(self, position: int) -> frozenset[str]:
        """Services named right after a number, ending the phrase ("... (WhatsApp)")."""
        match = _LABEL_AFTER.match(self.low, position)
        return _services(match.group("label")) if match else frozenset()

    # passes

    def scan_emails(self) -> None:
        low = self.low
        spaced = " dot " in low or "\tdot" in low
        if spaced:
            anchors = [anchor.start() for anchor in _EMAIL_AT_SPACED.finditer(low)]
        else:
            anchors = _positions(low, _EMAIL_AT_STARTS)
        for anchor in anchors:
            at = _EMAIL_AT.match(low, anchor)
            if at is None:
                continue
            written_at = at.group() != "@"
            local_end = at.start()
            while written_at and local_end and low[local_end - 1] in " \t":
                local_end -= 1
            local_start = local_end - len(_EMAIL_LOCAL_RUN.match(self.rev, len(low) - local_end)[0])
            while local_start < local_end and low[local_start] == ".":
                local_start += 1
            host = _EMAIL_HOST.match(low, at.end())
            if local_start == local_end or host is None:
                continue
            if not written_at and host.start("host") != at.end():
                continue
            local, host_written = low[local_start:local_end], host.group("host")
            domain = _DOT_WRITTEN.sub(".", host_written)
            if written_at and local in _PROSE_BEFORE_AT:
                continue  # "contact us at shop dot com"
            if at.group().strip() == "at" and domain == host_written:
                continue  # "meet us at shop.com" is prose, not an obfuscated address
            if _registrable(domain) is None:
                continue
            self.add((local_start, host.end()), "email", f"{local}@{domain}")
            self.take(local_start, host.end())

    def scan_handles(self) -> None:
        """Handles after a label ("Wickr: name", "TG: @name", "wickr id name"), bare "@name"
        (Telegram), and Skype "live:" ids."""
        low = self.low
        for position in _positions(low, _HANDLE_ANCHORS):
            value = _HANDLE_VALUE.match(low, position)
            if value is None or self.is_taken(position, position + 1):
                continue  # nothing handle-like follows ("Tel: +86 ...")
            services = self.label_before(position)
            if services and services != _PHONE_ONLY:
                self.labelled_handle(value, services, spaced=False)
            elif low[position] == "@":
                self.bare_handle(position)
        for word in _SPACED_LABEL_WORDS:
            position = low.find(word)
            while position != -1:
                if not (position and "a" <= low[position - 1] <= "z"):
                    match = _SPACED_LABEL.match(low, position)
                    if match and not self.is_taken(*match.span("value")):
                        self.labelled_handle(match, _services(match.group("label")), spaced=True)
                position = low.find(word, position + 1)
        if "live:" in low:
            for match in _SKYPE_LIVE.finditer(low):
                if not self.is_taken(*match.span()):
                    self.add(match.span(), "skype", match.group())
                    self.take(*match.span())

    def labelled_handle(self, match: re.Match[str], services: frozenset[str], spaced: bool) -> None:
        """Read the value after a label; `spaced`: label and value are only a space apart."""
        start, end = match.span("value")
        if self.low.startswith("/", end):
            return  # a link ("Telegram: t.me/name"): the link pass reads it
        value = self.low[start:end].rstrip(".:-,")
        end = start + len(value)
        with_at = bool(match.group("at"))
        raw_start = match.start("at") if with_at else start
        if not with_at and value in _NOT_HANDLES:
            return
        if spaced and not with_at and not self.handle_like(start, end):
            return  # "Telegram preferred for ...": prose, not a handle
        looks_like_phone, emitted = value[0].isdigit(), False
        for service in sorted(services & _HANDLE_RULES.keys()):  # not set order: hash seed
            if looks_like_phone and service in PHONE_CHANNELS:
                continue  # "WeChat: 138..." is a number: the phone pass reads it
            if service in _HANDLE_NEEDS_AT and not with_at:
                continue
            handle = _normalise_handle(service, value)
            if handle:
                self.add((raw_start, end), service, handle)
                emitted = True
        if emitted or not (looks_like_phone or spaced):
            self.take(raw_start, end)  # the label owns its value, valid or not

    def handle_like(self, start: int, end: int) -> bool:
        """A word written as a handle: digits, "_" or ".", inner capitals, or ending a phrase."""
        written = self.text[start:end]
        return (
            any(char.isdigit() or char in "_." for char in written)
            or any(char.isupper() for char in written[1:])
            or _PHRASE_END.match(self.low, end) is not None
        )

    def bare_handle(self, at: int) -> None:
        low = self.low
        match = _AT_HANDLE.match(low, at)
        if match is None or (at and low[at - 1] in _NOT_BEFORE_AT_HANDLE):
            return  # a failed email or a path ("medium.com/@name")
        end = match.end()
        if low.startswith(".", end) and low[end + 1 : end + 2].isalpha():
            return  # "@domain.com"
        handle = _normalise_handle("telegram", match.group(1))
        if handle:
            self.add((at, end), "telegram", handle)
            self.take(at, end)

    def scan_links(self) -> None:
        """Each dot between host characters may be inside a link: read the token around it.

        Linear, not quadratic, in a text such as "a.a.a.a...": the walk back to a token's
        start stops at the previous dot's walk (which already knows the start), and a token
        start whose link failed, or ended before this dot, is not read again.
        """
        low, resume = self.low, 0
        walked_dot, walked_start, failed_start = -1, 0, -1
        for candidate in _HOST_DOT.finditer(low):
            dot = candidate.start()
            if dot >= resume and low[dot + 1].isalpha() and not self.is_taken(dot, dot + 1):
                start = self.token_start(dot, walked_dot, walked_start)
                walked_dot, walked_start = dot, start
                if start != failed_start:
                    resume = self.link_at(dot, start)
                    if resume == dot + 1:
                        failed_start = start

    def token_start(self, dot: int, known_dot: int, known_start: int) -> int:
        """Where the token holding `dot` starts; `known_start` is that of an earlier dot
        `known_dot`, reused when the walk back reaches it."""
        low, start = self.low, dot
        while start and (low[start - 1] not in _TOKEN_STOP or low.startswith("://", start - 1)):
            start -= 1
            if start == known_dot:
                return known_start
        return start

    def link_at(self, dot: int, start: int) -> int:
        """Read the link or host around the dot at `dot` in the token from `start`; returns
        where it ends (`dot + 1` when there is none)."""
        low = self.low
        while not low[start].isalnum():
            start += 1
        match = _LINK.match(low, start)
        if match is None or match.end() <= dot:
            return dot + 1
        end = match.end()
        while end > match.end("host") and low[end - 1] in _URL_TRAILING:
            end -= 1
        span, raw = (start, end), self.text[start:end]
        host, rest = match.group("host"), low[match.end("host") : end]
        self.take(start, end)
        if self.messenger_link(span, host, self.text[match.end("host") : end]):
            return end
        registrable = _registrable(host)
        has_path = bool(rest.strip("/"))
        if not match.group("scheme") and not host.startswith("www.") and not has_path:
            tld = registrable[1].rpartition(".")[2] if registrable else ""
            if tld in _FILE_LIKE_TLDS or (len(tld) != 2 and tld not in _COMMON_GTLDS):
                return end
            if _CAPITALISED_LABEL.search(raw):
                return end  # "Chemical.Co", "worldwide.Contact": a missing space
        if match.group("scheme") or has_path:
            self.add_url(span)
        if registrable and registrable[0] not in _PLATFORM_DOMAINS:
            self.add(span, "domain", registrable[0])
        return end

    def messenger_link(self, span: tuple[int, int], host: str, rest: str) -> bool:
        """Read t.me / wa.me / threema.id / signal.me links; True when the link is one."""
        path = rest.split("?", 1)[0].split("#", 1)[0].strip("/").split("/")
        if host in _MESSENGER_HOSTS and not rest.strip("/"):
            return True  # the bare site: nothing to read
        if host in _TELEGRAM_HOSTS:
            name = path[1] if path[0] == "s" and len(path) > 1 else path[0]
            handle = _normalise_handle("telegram", name)
            if name.startswith("+") and name[1:].isdigit():
                self.add_phone(span, name[1:], True, {"telegram"})
            elif handle and handle not in _TELEGRAM_RESERVED:
                self.add(span, "telegram", handle)
            else:
                self.add_url(span)  # an invite or other non-handle link
            return True
        if host in _WHATSAPP_HOSTS:
            query = dict(parse_qsl(rest.partition("?")[2]))
            digits = _NON_DIGIT.sub("", path[0] if host == "wa.me" else query.get("phone", ""))
            if not (digits and self.add_phone(span, digits, True, {"whatsapp"})):
                self.add_url(span)
            return True
        if host == "threema.id":
            if handle := _normalise_handle("threema", path[0]):
                self.add(span, "threema", handle)
            return True
        if host == "signal.me":
            digits = _NON_DIGIT.sub("", rest.partition("#p/+")[2])
            if not (digits and self.add_phone(span, digits, True, {"signal"})):
                self.add_url(span)
            return True
        return False

    def add_url(self, span: tuple[int, int]) -> None:
        url = normalise_url(self.text[span[0] : span[1]])
        if url:
            self.add(span, "url", url)

    def scan_wallets(self) -> None:
        low = self.low
        if "0x" in low:
            self.wallet_matches("eth", _ETH.finditer(low))
        if "bc1" in low:
            self.wallet_matches("btc", _BECH32.finditer(low))
        self.wallet_matches("", _BASE58.finditer(self.text))

    def wallet_matches(self, kind: str, matches: Iterator[re.Match[str]]) -> None:
        text = self.text
        for match in matches:
            start, end = match.span()
            if (start and text[start - 1].isalnum()) or (end < len(text) and text[end].isalnum()):
                continue
            raw = text[start:end]
            wallet_kind = kind or _base58_kind(raw)
            value = _wallet(wallet_kind, raw) if wallet_kind else None
            if value and not self.is_taken(start, end):
                self.add((start, end), wallet_kind, value)
                self.take(start, end)

    def scan_phones(self) -> None:
        low = self.low
        previous: tuple[int, bool, frozenset[str]] | None = None  # end, context, channels
        candidates = _ASCII_PHONE_CANDIDATE if low.isascii() else _PHONE_CANDIDATE
        for match in candidates.finditer(low):
            start, end = match.span()
            raw = match.group()  # digits and separators: the same in `low` and `text`
            if "(" in raw or ")" in raw:
                stripped = raw.strip("()") if raw.count("(") != raw.count(")") else raw
                start += raw.index(stripped)
                end, raw = start + len(stripped), stripped
            before = low[start - 1] if start else " "
            if before in _NOT_BEFORE_PHONE and not (raw[0] == "+" and not before.isalnum()):
                continue
            if end < len(low) and low[end] in _NOT_AFTER_PHONE:
                continue
            if ("-" in raw and _CAS_SHAPE.search(raw)) or self.is_taken(start, end):
                continue
            digits, international = _phone_digits(raw)
            if not 7 <= len(digits) <= 15 or (not international and _DATE_SHAPE.search(raw)):
                continue
            context, channels = self.phone_labels(start, end)
            if not context and previous and _SIBLING_GAP.fullmatch(low, previous[0], start):
                context, channels = previous[1], previous[2]  # "WhatsApp: +86 ..., +86 ..."
            if not (context or international) and _NOT_A_PHONE_BEFORE.search(
                low, max(0, start - 24), start
            ):
                continue
            if self.add_phone((start, end), digits, international, channels, context):
                self.take(start, end)
                previous = (end, context, channels)

    def phone_labels(self, start: int, end: int) -> tuple[bool, frozenset[str]]:
        """(written in a phone context, messengers named with it) for a number at start..end."""
        context, channels = self.phone_context, frozenset[str]()
        for services in (self.label_before(start), self.label_after(end)):
            if services & _PHONE_LABELS:
                context, channels = True, channels | (services & PHONE_CHANNELS)
        return context, channels

    def add_phone(
        self, span: tuple[int, int], digits: str, international: bool, channels: Iterable[str],
        context: bool = True,
    ) -> bool:  # fmt: skip
        value = _resolve_phone(digits, international, self.region, context)
        if value:
            self.add(span, "phone", value, channels)
        return value is not None


# --- public API -----------------------------------------------------------------------------


def extract_identifiers(text: str, region: str | None = None) -> list[Identifier]:
    """All contact identifiers in `text`, one per (kind, value), in order of first appearance.

    `region` (ISO 3166 alpha-2: the posting's country, else the platform's) lets numbers
    written in national format be read; without it only international numbers are found.
    """
    return _Scan(text, region, phone_context=False).run()


def region_matters(text: str) -> bool:
    """Can `region` change what extract_identifiers or parse_contact find in `text`? It only
    helps read a number written without its country code, and a phone has 7 digits or more:
    texts with fewer read the same in every region, so their memos can share one entry."""
    return _SEVEN_DIGITS.match(text) is not None


_KIND_ALIASES: dict[str, str] = {
    "tel": "phone", "telephone": "phone", "mobile": "phone", "cell": "phone", "sms": "phone",
    "mail": "email", "e-mail": "email", "tg": "telegram", "wa": "whatsapp", "wx": "wechat",
    "weixin": "wechat", "website": "url", "web": "url", "site": "url", "link": "url",
    "bitcoin": "btc", "ethereum": "eth", "trc20": "tron", "usdt-trc20": "tron",
}  # fmt: skip


def parse_contact(
    value: str, kind: str | None = None, region: str | None = None
) -> Identifier | None:
    """Normalise one contact field (or a search query) to an Identifier; None if it is not one.

    Without `kind` the kind is inferred; a bare number counts as a phone because the field is
    known to be a contact. With `kind` (an identifier kind, a phone messenger such as "viber",
    or an alias such as "tg") the value is read as that kind, trusting the field's label: a
    number given for a phone messenger becomes a phone with that channel.
    Raises ValueError for an unknown kind.
    """
    found = _Scan(value, region, phone_context=True).run() if value.strip() else []
    if kind is None:
        return found[0] if found else None
    kind = kind.strip().lower()
    kind = _KIND_ALIASES.get(kind, kind)
    if kind not in IDENTIFIER_KINDS and kind not in PHONE_CHANNELS:
        raise ValueError(f"unknown identifier kind: {kind!r}")
    if kind == "phone" or kind in PHONE_CHANNELS:
        phone = next((i for i in found if i.kind == "phone"), None)
        if phone is not None:
            return replace(phone, channels=phone.channels | ({kind} & PHONE_CHANNELS))
    of_kind = next((i for i in found if i.kind == kind), None)
    if of_kind is not None:
        return of_kind
    written = value.strip()
    folded = fold_width(written)
    if kind in _HANDLE_RULES:
        handle = _normalise_handle(kind, folded)
        return Identifier(kind, handle, written) if handle else None
    if kind in ("url", "domain") and _LINK.match(folded.lower()):
        if kind == "url":
            url = normalise_url(folded)
            return Identifier("url", url, written) if url else None
        registrable = _registrable(urlsplit(normalise_url(folded) or "").hostname or "")
        return Identifier("domain", registrable[0], written) if registrable else None
    return None
