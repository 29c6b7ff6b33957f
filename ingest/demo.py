"""A deterministic synthetic world of online precursor trafficking, with its ground truth.

Why: real casework data cannot leave the agencies, yet the ingester, the identifier clustering
and the UI need a world that behaves like the real one. Traffickers reuse the same phone,
e-mail, handle or wallet across many postings and platforms and write them in many styles;
they switch substances when one is scheduled; and a few identifiers (platform service lines,
an escrow, a forwarder, brokers) are shared by unrelated actors and must not merge them.

The world is written in the public ingest formats (``postings.jsonl``, ``platforms.csv``,
``contacts.csv``, ``seizures.csv``, ``routes.csv``, ``operators.csv``) and the truth beside it
(``truth/``), so tests and benchmarks can score the pipeline. Everything is drawn from a single
``random.Random(seed)`` and postings are streamed, so the same seed gives byte-identical files
at any size and memory does not grow with the number of postings (only with the number of
actors, about one per 40 postings).
"""

from __future__ import annotations

import bisect
import csv
import hashlib
import json
import math
import random
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from itertools import pairwise
from pathlib import Path
from typing import Generic, TypeVar

import phonenumbers
from phonenumbers import PhoneNumberFormat, PhoneNumberType

__all__ = [
    "CONTACT_COLUMNS",
    "IDENTIFIER_KINDS",
    "OPERATOR_COLUMNS",
    "PLATFORM_COLUMNS",
    "PLATFORM_SPECS",
    "ROUTE_COLUMNS",
    "SEIZURE_COLUMNS",
    "SUBSTANCES",
    "DemoSummary",
    "Substance",
    "write_demo_world",
]

FIRST_YEAR = 2008
LAST_YEAR = 2024
YEARS = tuple(range(FIRST_YEAR, LAST_YEAR + 1))
MONTHS = tuple((year, month) for year in YEARS for month in range(1, 13))
LAST_DAY = date(LAST_YEAR, 12, 31)

IDENTIFIER_KINDS = (
    "phone", "email", "telegram", "wickr", "threema", "wechat", "skype", "btc", "eth", "tron",
)
WALLET_KINDS = frozenset({"btc", "eth", "tron"})
# First year each kind of identifier shows up in adverts (messengers and USDT-on-TRON came late).
KIND_IN_USE_FROM = {"phone": 2008, "second phone": 2008, "email": 2008, "skype": 2008,
                    "wechat": 2011, "btc": 2011, "wickr": 2013, "threema": 2013,
                    "telegram": 2014, "eth": 2016, "tron": 2019}

# Public contract: the exact columns of each CSV file.
PLATFORM_COLUMNS = ("name", "domain", "kind", "country", "cooperation")
CONTACT_COLUMNS = ("value", "kind", "owner", "note")
SEIZURE_COLUMNS = (
    "id", "date", "substance", "cas", "quantity", "unit", "country", "origin_country",
    "transit_countries", "destination_country", "consignor", "consignee", "contacts",
    "route_id", "source",
)
ROUTE_COLUMNS = ("id", "origin_country", "transit_countries", "destination_country", "mode")
OPERATOR_COLUMNS = (
    "id", "name", "country", "registration_no", "substances", "contacts", "valid_from",
    "valid_to",
)

# Dates of international control (CND decisions entering into force), as given for the demo.
CONTROLLED_2014 = "2014-10-06"
CONTROLLED_2017 = "2017-10-18"
CONTROLLED_2019 = "2019-11-19"
CONTROLLED_2020 = "2020-11-03"
CONTROLLED_2024 = "2024-12-03"


def _decimal_year(iso_date: str) -> float:
    """Turn an ISO date into a decimal year, the time axis of the popularity curves."""
    day = date.fromisoformat(iso_date)
    return day.year + (day.timetuple().tm_yday - 1) / 365.0


def _drop(iso_date: str, before: float, after: float) -> tuple[tuple[float, float], ...]:
    """Two knots making a popularity curve fall (or jump) sharply on a scheduling date."""
    when = _decimal_year(iso_date)
    return ((when, before), (when + 1 / 365.0, after))


@dataclass(frozen=True)
class Substance:
    """A precursor as postings and seizures name it.

    ``intensity`` is a piecewise-linear curve of postings per month over decimal years; it is
    what makes scheduled substances fall and their substitutes rise, and seizures follow it with
    a lag. ``family`` is the drug it is a precursor for; vendors specialise by family.
    """

    cas: str
    name: str
    synonyms: tuple[str, ...]
    family: str
    controlled_from: str | None
    liquid: bool
    usd_per_kg: tuple[int, int]
    intensity: tuple[tuple[float, float], ...]

    @property
    def names(self) -> tuple[str, ...]:
        return (self.name, *self.synonyms)

    @property
    def slug(self) -> str:
        return re.sub(r"[^a-z0-9]+", "-", self.name.lower()).strip("-")

    def intensity_at(self, year: float) -> float:
        knots = self.intensity
        if year < knots[0][0]:
            return 0.0
        for (x0, y0), (x1, y1) in pairwise(knots):
            if year < x1:
                return y0 + (y1 - y0) * (year - x0) / (x1 - x0)
        return knots[-1][1]


# Synonyms are unique across substances, so an ingester dictionary can map them one to one.
SUBSTANCES: tuple[Substance, ...] = (
    Substance(
        "13605-48-6", "PMK methyl glycidate",
        ("PMK glycidate", "PMK powder", "3,4-MDP-2-P methyl glycidate"),
        "MDMA", CONTROLLED_2019, False, (350, 900),
        ((2010.0, 0.0), (2013.0, 1.0), *_drop(CONTROLLED_2019, 9.0, 1.0), (2025.0, 0.4)),
    ),
    Substance(
        "28578-16-7", "PMK ethyl glycidate",
        ("New PMK oil", "PMK oil", "3,4-MDP-2-P ethyl glycidate"),
        "MDMA", CONTROLLED_2024, True, (300, 800),
        ((2016.5, 0.0), *_drop(CONTROLLED_2019, 1.0, 4.0), *_drop(CONTROLLED_2024, 14.0, 2.0),
         (2025.0, 2.0)),
    ),
    Substance(
        "80532-66-7", "BMK methyl glycidate",
        ("BMK glycidate", "methyl 2-methyl-3-phenylglycidate"),
        "amphetamine", CONTROLLED_2024, True, (250, 700),
        ((2016.0, 0.0), *_drop(CONTROLLED_2020, 1.0, 3.0), *_drop(CONTROLLED_2024, 10.0, 1.5),
         (2025.0, 1.5)),
    ),
    Substance(
        "41232-97-7", "BMK ethyl glycidate",
        ("ethyl 2-methyl-3-phenylglycidate", "BMK ethyl ester"),
        "amphetamine", CONTROLLED_2024, True, (250, 700),
        ((2017.0, 0.0), *_drop(CONTROLLED_2020, 0.8, 2.0), *_drop(CONTROLLED_2024, 7.0, 1.0),
         (2025.0, 1.0)),
    ),
    Substance(
        "5449-12-7", "BMK glycidic acid sodium salt",
        ("BMK powder", "BMK glycidic acid", "sodium BMK glycidate"),
        "amphetamine", None, False, (200, 600),
        ((2015.0, 0.0), *_drop(CONTROLLED_2019, 2.0, 4.0), (2025.0, 4.0)),
    ),
    Substance(
        "16648-44-5", "MAPA",
        ("methyl alpha-phenylacetoacetate", "methyl 3-oxo-2-phenylbutanoate"),
        "amphetamine", CONTROLLED_2020, False, (150, 500),
        ((2014.8, 0.0), *_drop(CONTROLLED_2019, 0.5, 4.0), *_drop(CONTROLLED_2020, 6.0, 0.6),
         (2025.0, 0.3)),
    ),
    Substance(
        "4468-48-8", "APAAN",
        ("alpha-phenylacetoacetonitrile", "2-phenylacetoacetonitrile"),
        "amphetamine", CONTROLLED_2014, False, (100, 400),
        ((2008.0, 2.0), *_drop(CONTROLLED_2014, 8.0, 0.8), (2025.0, 0.3)),
    ),
    Substance(
        "4433-77-6", "APAA",
        ("alpha-phenylacetoacetamide", "2-phenylacetoacetamide"),
        "amphetamine", CONTROLLED_2019, False, (150, 450),
        ((2012.0, 0.0), *_drop(CONTROLLED_2014, 0.5, 3.0), *_drop(CONTROLLED_2019, 6.0, 0.6),
         (2025.0, 0.3)),
    ),
    Substance(
        "39742-60-4", "NPP",
        ("N-phenethyl-4-piperidone", "1-phenethyl-4-piperidone"),
        "fentanyl", CONTROLLED_2017, False, (400, 1500),
        ((2012.0, 0.0), *_drop(CONTROLLED_2017, 5.0, 0.5), (2025.0, 0.3)),
    ),
    Substance(
        "21409-26-7", "4-ANPP",
        ("4-anilino-N-phenethylpiperidine", "despropionyl fentanyl"),
        "fentanyl", CONTROLLED_2017, False, (600, 2000),
        ((2012.5, 0.0), *_drop(CONTROLLED_2017, 4.0, 0.4), (2025.0, 0.3)),
    ),
    Substance(
        "79099-07-3", "1-boc-4-piperidone",
        ("N-Boc-4-piperidone", "tert-butyl 4-oxopiperidine-1-carboxylate"),
        "fentanyl", CONTROLLED_2024, False, (150, 600),
        ((2015.0, 0.0), *_drop(CONTROLLED_2017, 0.5, 2.0), *_drop(CONTROLLED_2024, 7.0, 1.0),
         (2025.0, 1.0)),
    ),
    Substance(
        "41661-47-6", "4-piperidone",
        ("piperidin-4-one", "4-oxopiperidine"),
        "fentanyl", CONTROLLED_2024, False, (100, 500),
        ((2015.0, 0.0), *_drop(CONTROLLED_2017, 0.4, 1.5), *_drop(CONTROLLED_2024, 5.0, 0.8),
         (2025.0, 0.8)),
    ),
    Substance(
        "108-24-7", "acetic anhydride",
        ("ethanoic anhydride", "Ac2O"),
        "heroin", "1990-11-11", True, (20, 120),
        ((2008.0, 1.5), (2025.0, 2.0)),
    ),
    Substance(
        "1451-82-7", "2-bromo-4'-methylpropiophenone",
        ("2-bromo-4-methylpropiophenone", "2B4M"),
        "cathinone", None, False, (80, 300),
        ((2008.0, 1.2), (2025.0, 1.2)),
    ),
    Substance(
        "96-48-0", "GBL",
        ("gamma-butyrolactone", "γ-butyrolactone"),
        "GHB", None, True, (10, 60),
        ((2008.0, 2.0), (2025.0, 2.0)),
    ),
)
FAMILIES = tuple(dict.fromkeys(substance.family for substance in SUBSTANCES))
SEIZURE_LAG_YEARS = 0.75


def _month_midpoint(month_index: int) -> float:
    return FIRST_YEAR + month_index / 12.0 + 1 / 24.0


def _month_substance_table(lag: float) -> _Weighted[tuple[int, Substance]]:
    """(month index, substance) drawn jointly from the popularity curves, ``lag`` years late:
    this is what makes volumes and substitution follow the scheduling dates."""
    cells = [(index, substance) for index in range(len(MONTHS)) for substance in SUBSTANCES]
    return _Weighted(cells, [substance.intensity_at(_month_midpoint(index) - lag)
                             for index, substance in cells])


def _offer_share(year: float) -> float:
    """Share of offers among postings: buyer-led markets early on, vendor-led from ~2013."""
    return 0.2 + 0.65 / (1.0 + math.exp(-1.2 * (year - 2012.5)))


def _cas_only_share(year: float) -> float:
    """Later postings increasingly name a substance by CAS number alone (evading keywords)."""
    return 0.03 + 0.45 * max(0.0, year - FIRST_YEAR) / (LAST_YEAR + 1 - FIRST_YEAR)


T = TypeVar("T")


class _Weighted(Generic[T]):
    """Items drawn with fixed weights in O(log n): the hot path of the posting generator."""

    __slots__ = ("cumulative", "items", "total")

    def __init__(self, items: Sequence[T], weights: Sequence[float]) -> None:
        kept = [(item, weight) for item, weight in zip(items, weights, strict=True) if weight > 0]
        if not kept:
            raise ValueError("nothing to draw from")
        self.items = [item for item, _ in kept]
        self.cumulative: list[float] = []
        running = 0.0
        for _, weight in kept:
            running += weight
            self.cumulative.append(running)
        self.total = running

    def pick(self, rng: random.Random) -> T:
        return self.items[bisect.bisect_right(self.cumulative, rng.random() * self.total)]


def _chooser(rng: random.Random) -> Callable[[Sequence[T]], T]:
    """``rng.choice`` without its rejection sampling: about three times faster, and choosing
    phrases is most of the work of writing a posting. Still drawn from the seeded rng only."""
    draw = rng.random

    def choose(options: Sequence[T]) -> T:
        return options[int(draw() * len(options))]

    return choose


# --------------------------------------------------------------------------- identifiers

Labels = tuple[str, ...]
PHONE_LABELS: Labels = (
    "WhatsApp/Telegram: ", "WhatsApp: ", "Signal - ", "Tel: ", "Tel/WhatsApp: ", "Mobile: ",
    "Call or text ", "WhatsApp/Signal: ",
)
WHATSAPP_LINK_LABELS: Labels = ("WhatsApp: ", "Chat: ", "", "https://")
EMAIL_LABELS: Labels = ("Email: ", "E-mail: ", "Mail: ", "email - ", "")
TELEGRAM_LABELS: Labels = ("Telegram: ", "TG: ", "Telegram ", "telegram - ")
TELEGRAM_LINK_LABELS: Labels = ("", "Telegram: ", "Join ")
WICKR_LABELS: Labels = ("Wickr: ", "Wickr Me: ", "wickr id ")
THREEMA_LABELS: Labels = ("Threema: ", "Threema ID: ")
WECHAT_LABELS: Labels = ("WeChat: ", "Wechat ID: ", "WeChat/Weixin: ")
SKYPE_LABELS: Labels = ("Skype: ", "skype ", "")
WALLET_LABELS: dict[str, Labels] = {
    "btc": ("BTC: ", "Bitcoin wallet: ", "BTC address "),
    "eth": ("ETH: ", "USDT ERC20: ", "ETH/USDT (ERC20) wallet "),
    "tron": ("USDT TRC20: ", "USDT (TRC-20) wallet: ", "TRON/USDT: "),
}
HANDLE_SUFFIXES = ("chem", "_chem", "lab", "supply", "_supplier", "trade", "pharma", "bio", "",
                   "_official", "store")
FULLWIDTH_DIGITS = str.maketrans("+0123456789", "＋０１２３４５６７８９")
BASE58_ALPHABET = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
THREEMA_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
BTC_VERSION = 0x00
TRON_VERSION = 0x41


@dataclass(slots=True)
class Contact:
    """One identifier with the ways its owner writes it.

    ``value`` is the normalised form used in the truth files; ``styles`` pairs label choices
    with shown forms for free text; ``field_forms`` are the cleaner forms of the contacts field.
    ``national`` is a phone's national format, used only when the posting's country matches.
    """

    kind: str
    value: str
    styles: tuple[tuple[Labels, str], ...]
    field_forms: tuple[str, ...]
    region: str | None = None
    national: str | None = None
    truth: dict[str, str] = field(init=False)

    def __post_init__(self) -> None:
        self.truth = {"kind": self.kind, "value": self.value}


def base58check(version: int, payload: bytes) -> str:
    """Bitcoin-style address encoding (version byte, payload, 4-byte double-SHA256 checksum)."""
    raw = bytes([version]) + payload
    raw += hashlib.sha256(hashlib.sha256(raw).digest()).digest()[:4]
    number = int.from_bytes(raw, "big")
    encoded: list[str] = []
    while number:
        number, remainder = divmod(number, 58)
        encoded.append(BASE58_ALPHABET[remainder])
    leading_zeros = len(raw) - len(raw.lstrip(b"\0"))
    return "1" * leading_zeros + "".join(reversed(encoded))


class _IdentifierFactory:
    """Mints identifiers that are valid (phones per libphonenumber, wallets per checksum) and
    never repeat, so that the only links between actors are the hubs placed on purpose."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.used: set[str] = set()
        self.mobile_templates: dict[str, tuple[int, str]] = {}

    def _claim(self, value: str) -> bool:
        if value in self.used:
            return False
        self.used.add(value)
        return True

    def phone(self, region: str) -> Contact:
        template = self.mobile_templates.get(region)
        if template is None:
            example = phonenumbers.example_number_for_type(region, PhoneNumberType.MOBILE)
            template = (example.country_code, str(example.national_number))
            self.mobile_templates[region] = template
        country_code, national_digits = template
        varied = min(7, len(national_digits) - 2)
        while True:
            digits = f"{national_digits[:-varied]}{self.rng.randrange(10**varied):0{varied}d}"
            number = phonenumbers.PhoneNumber(country_code=country_code,
                                              national_number=int(digits))
            if not phonenumbers.is_valid_number_for_region(number, region):
                continue
            e164 = phonenumbers.format_number(number, PhoneNumberFormat.E164)
            if self._claim(e164):
                break
        international = phonenumbers.format_number(number, PhoneNumberFormat.INTERNATIONAL)
        national = phonenumbers.format_number(number, PhoneNumberFormat.NATIONAL)
        groups = re.split(r"[ \-]", international)
        bracketed = (f"{groups[0]} ({groups[1]}) {'-'.join(groups[2:])}"
                     if len(groups) >= 3 else international)
        styles = (
            (PHONE_LABELS, international),
            (PHONE_LABELS, e164),
            (PHONE_LABELS, "00" + "-".join(groups)[1:]),
            (PHONE_LABELS, e164[1:]),
            (PHONE_LABELS, ".".join(groups)),
            (PHONE_LABELS, bracketed),
            (PHONE_LABELS, international.translate(FULLWIDTH_DIGITS)),
            (WHATSAPP_LINK_LABELS, f"wa.me/{e164[1:]}"),
        )
        field_forms = (e164, international, f"WhatsApp: {international}")
        return Contact("phone", e164, styles, field_forms, region, national)

    def email(self, local_parts: Sequence[str], domains: Sequence[str]) -> Contact:
        rng = self.rng
        address = f"{rng.choice(local_parts)}@{rng.choice(domains)}"
        while not self._claim(address):
            address = f"{rng.choice(local_parts)}{rng.randint(1, 9999)}@{rng.choice(domains)}"
        local, domain = address.split("@")
        obfuscated_domain = domain.replace(".", "[dot]")
        styles = (
            (EMAIL_LABELS, address),
            (EMAIL_LABELS, address),
            (EMAIL_LABELS, f"{local.capitalize()}@{domain.capitalize()}"),
            (EMAIL_LABELS, address.upper()),
            (EMAIL_LABELS, f"{local}[at]{obfuscated_domain}"),
            (EMAIL_LABELS, f"{local} (at) {domain.replace('.', ' (dot) ')}"),
            (("", "Email "), f"mailto:{address}"),
        )
        return Contact("email", address, styles, (address,))

    def handle(self, hint: str, suffixes: Sequence[str]) -> tuple[str, str]:
        """A messenger handle from a name hint: returns (display form, normalised form)."""
        rng = self.rng
        while True:
            suffix = rng.choice(suffixes)
            digits = str(rng.randint(1, 999)) if rng.random() < 0.6 else ""
            tail = (suffix[:1] + suffix[1:].capitalize()) if suffix.startswith("_") else (
                suffix.capitalize())
            display = f"{hint.capitalize()}{tail}{digits}"
            normalised = display.lower()
            if len(normalised) >= 5 and self._claim(normalised):
                return display, normalised

    def telegram(self, hint: str) -> Contact:
        display, handle = self.handle(hint, HANDLE_SUFFIXES)
        styles = (
            (TELEGRAM_LABELS, f"@{display}"),
            (TELEGRAM_LABELS, f"@{handle}"),
            (TELEGRAM_LABELS, display),
            (TELEGRAM_LABELS, display.upper()),
            (TELEGRAM_LINK_LABELS, f"t.me/{handle}"),
            (TELEGRAM_LINK_LABELS, f"https://t.me/{display}"),
        )
        return Contact("telegram", handle, styles, (f"@{handle}", f"t.me/{handle}",
                                                    f"Telegram: {display}"))

    def labelled_handle(self, kind: str, hint: str, labels: Labels) -> Contact:
        """Wickr and WeChat ids: a handle always written after its messenger's name."""
        display, handle = self.handle(hint, HANDLE_SUFFIXES)
        styles = ((labels, display), (labels, handle))
        return Contact(kind, handle, styles, (f"{labels[0]}{handle}",))

    def threema(self) -> Contact:
        identity = "".join(self.rng.choices(THREEMA_ALPHABET, k=8))
        while not self._claim(identity):
            identity = "".join(self.rng.choices(THREEMA_ALPHABET, k=8))
        return Contact("threema", identity, ((THREEMA_LABELS, identity),),
                       (f"Threema: {identity}",))

    def skype(self) -> Contact:
        value = f"live:.cid.{self.rng.getrandbits(64):016x}"
        self._claim(value)
        return Contact("skype", value, ((SKYPE_LABELS, value),), (value,))

    def wallet(self, kind: str) -> Contact:
        payload = self.rng.randbytes(20)
        if kind == "eth":
            value = "0x" + payload.hex()
            shown: tuple[str, ...] = (value, "0x" + payload.hex().upper())
        else:
            value = base58check(BTC_VERSION if kind == "btc" else TRON_VERSION, payload)
            shown = (value,)
        self._claim(value)
        labels = WALLET_LABELS[kind]
        return Contact(kind, value, tuple((labels, form) for form in shown), (value,))


# --------------------------------------------------------------------------- names

CHINESE_SYLLABLES = (
    "Xin", "Yuan", "Hua", "Sheng", "Tai", "Kang", "Rui", "Jia", "Feng", "Long", "Hong", "Da",
    "Bo", "Hai", "Tian", "Fu", "Ming", "Chang", "Heng", "Jin", "Yi", "Zhong", "Lian", "Wei",
)
INDIAN_SYLLABLES = ("Ar", "Vi", "Sa", "Ma", "Ni", "Ra", "Ka", "Dev", "Shi", "Pra", "An", "Ja",
                    "Lax", "Sur", "Ved", "Har")
EUROPEAN_SYLLABLES = ("Rijn", "Maas", "Pol", "Kem", "Del", "Am", "Noord", "Zee", "Ha", "Berg",
                      "Dijk", "Ost", "Elb", "Wes", "Han", "Ker", "Bal", "Od", "Vis", "Lin")
SPANISH_SYLLABLES = ("Sol", "Mar", "Val", "Ri", "Cor", "Alt", "Nor", "San", "Ver", "Mon", "Ta",
                     "Lu")
COMPANY_SYLLABLES = {"CN": CHINESE_SYLLABLES, "HK": CHINESE_SYLLABLES, "IN": INDIAN_SYLLABLES,
                     "MX": SPANISH_SYLLABLES, "CO": SPANISH_SYLLABLES, "BR": SPANISH_SYLLABLES}
CHINESE_PLACES = ("Hubei", "Hebei", "Henan", "Shandong", "Jiangsu", "Zhejiang", "Shanghai",
                  "Guangdong", "Tianjin", "Anhui", "Wuhan", "Shijiazhuang", "Zhengzhou", "Jinan")
INDIAN_PREFIXES = ("Shree", "Sai", "Om", "Jay", "Maa", "Sri", "Balaji")
INDUSTRIES = {
    "CN": ("Chemical", "Biotech", "Pharmaceutical Technology", "New Material", "Trading",
           "Bio-Technology", "Fine Chemical"),
    "HK": ("International Trading", "Chemical Industry", "Biotech"),
    "IN": ("Organics", "Chemicals", "Pharma Chem", "Life Sciences", "Intermediates"),
}
DEFAULT_INDUSTRIES = ("Chemicals", "Fine Chemicals", "Chemie", "Trading", "Solvents", "Pharma")
LEGAL_FORMS = {
    "CN": "Co., Ltd.", "HK": "Limited", "IN": "Pvt. Ltd.", "NL": "B.V.", "BE": "BVBA",
    "DE": "GmbH", "PL": "Sp. z o.o.", "TR": "Ltd. Şti.", "MX": "S.A. de C.V.", "US": "LLC",
    "CA": "Inc.", "AU": "Pty Ltd", "GB": "Ltd", "NZ": "Ltd", "ZA": "(Pty) Ltd", "RU": "OOO",
    "UA": "TOV", "BR": "Ltda.", "CO": "S.A.S.", "FR": "SARL", "CH": "AG", "IT": "S.r.l.",
    "ES": "S.L.", "GT": "S.A.",
}
LEGAL_RESPELLINGS = (
    ("Co., Ltd.", ("Co.,Ltd", "Company Limited", "Co. Ltd")),
    ("Pvt. Ltd.", ("Pvt Ltd", "Private Limited")),
    ("S.A. de C.V.", ("SA de CV",)),
    ("Sp. z o.o.", ("Sp.z o.o.",)),
    ("GmbH", ("G.m.b.H.",)),
    ("B.V.", ("BV",)),
    ("Limited", ("Ltd.",)),
    ("LLC", ("L.L.C.",)),
    ("Ltd", ("Limited",)),
)
FIRST_NAMES = {
    "CN": ("Lily", "Amy", "Kevin", "Alice", "Coco", "Jack", "Linda", "Daisy", "Tony", "Sunny"),
    "IN": ("Rahul", "Amit", "Priya", "Vikram", "Anjali", "Suresh", "Neha", "Raj"),
    "ES": ("Carlos", "Juan", "Luis", "Miguel", "Jose", "Alejandro", "Maria", "Diego"),
    "EN": ("James", "Michael", "David", "Chris", "Ryan", "Jason", "Emily", "Luke"),
    "NL": ("Jan", "Pieter", "Kees", "Bram", "Sanne", "Joost", "Ruud"),
    "DE": ("Lukas", "Jonas", "Felix", "Stefan", "Anna", "Markus"),
    "PL": ("Piotr", "Tomasz", "Pawel", "Marek", "Kasia"),
    "RU": ("Dmitri", "Sergei", "Alexei", "Ivan", "Oleg", "Andrei"),
    "TR": ("Mehmet", "Ahmet", "Emre", "Murat"),
    "PT": ("Joao", "Pedro", "Lucas", "Rafael"),
}
SURNAMES = {
    "CN": ("Zhang", "Wang", "Li", "Chen", "Liu", "Yang", "Huang", "Zhao", "Wu", "Zhou"),
    "IN": ("Sharma", "Patel", "Gupta", "Singh", "Reddy", "Mehta", "Shah"),
    "ES": ("Mendoza", "Garcia", "Hernandez", "Lopez", "Ramirez", "Torres", "Castillo"),
    "EN": ("Smith", "Brown", "Wilson", "Taylor", "Miller", "Clarke", "Walker"),
    "NL": ("de Vries", "Jansen", "Bakker", "Visser", "Smit", "de Boer"),
    "DE": ("Schmidt", "Muller", "Weber", "Fischer", "Becker"),
    "PL": ("Nowak", "Kowalski", "Wisniewski", "Wojcik"),
    "RU": ("Ivanov", "Petrov", "Sokolov", "Kuznetsov", "Popov"),
    "TR": ("Yilmaz", "Kaya", "Demir", "Celik"),
    "PT": ("Silva", "Santos", "Oliveira", "Souza"),
}
NAME_GROUP = {
    "CN": "CN", "HK": "CN", "IN": "IN", "MX": "ES", "CO": "ES", "ES": "ES", "GT": "ES",
    "NL": "NL", "BE": "NL", "DE": "DE", "CH": "DE", "PL": "PL", "RU": "RU", "UA": "RU",
    "TR": "TR", "BR": "PT",
}
COUNTRY_NAMES = {
    "MX": "Mexico", "US": "USA", "CA": "Canada", "AU": "Australia", "NL": "the Netherlands",
    "BE": "Belgium", "GB": "UK", "DE": "Germany", "PL": "Poland", "RU": "Russia",
    "UA": "Ukraine", "ZA": "South Africa", "BR": "Brazil", "CO": "Colombia", "NZ": "New Zealand",
    "CN": "China", "IN": "India", "HK": "Hong Kong", "TR": "Turkey",
}
FREE_MAIL = {
    "CN": ("163.com", "126.com", "qq.com", "yeah.net", "outlook.com"),
    "HK": ("gmail.com", "outlook.com", "163.com"),
    "IN": ("gmail.com", "rediffmail.com", "yahoo.co.in"),
    "RU": ("mail.ru", "yandex.ru", "protonmail.com"),
    "UA": ("ukr.net", "gmail.com", "protonmail.com"),
}
GLOBAL_FREE_MAIL = ("gmail.com", "outlook.com", "protonmail.com", "yahoo.com", "tutanota.com",
                    "hotmail.com")
VENDOR_COUNTRIES = {"CN": 55, "IN": 17, "HK": 7, "NL": 9, "DE": 4, "PL": 5, "TR": 3}
BUYER_COUNTRIES = {"MX": 18, "US": 12, "CA": 8, "AU": 8, "NL": 10, "BE": 6, "GB": 6, "DE": 5,
                   "PL": 6, "RU": 6, "UA": 4, "ZA": 3, "BR": 3, "CO": 3, "NZ": 2}
FOREIGN_PHONE_REGIONS = ("HK", "NL", "GB", "DE", "US", "PL")


def _person_name(rng: random.Random, country: str) -> str:
    group = NAME_GROUP.get(country, "EN")
    return f"{rng.choice(FIRST_NAMES[group])} {rng.choice(SURNAMES[group])}"


def _company_core(rng: random.Random, country: str) -> str:
    syllables = COMPANY_SYLLABLES.get(country, EUROPEAN_SYLLABLES)
    count = 2 if rng.random() < 0.7 else 3
    return "".join(rng.choice(syllables).lower() for _ in range(count)).capitalize()


def _company_name(rng: random.Random, country: str, taken: set[str]) -> tuple[str, str]:
    """A fresh company name in the country's style: returns (name, core word)."""
    for attempt in range(1000):
        core = _company_core(rng, country)
        legal = LEGAL_FORMS.get(country, "Ltd")
        industry = rng.choice(INDUSTRIES.get(country, DEFAULT_INDUSTRIES))
        if country == "CN":
            name = f"{rng.choice(CHINESE_PLACES)} {core} {industry} {legal}"
        elif country == "IN":
            name = f"{rng.choice(INDIAN_PREFIXES)} {core} {industry} {legal}"
        elif country in ("MX", "CO", "GT"):
            name = f"{rng.choice(('Distribuidora', 'Quimica', 'Comercializadora'))} {core} {legal}"
        else:
            name = f"{core} {industry} {legal}"
        if attempt > 50:
            name = f"{name} ({attempt})"
        if name not in taken:
            taken.add(name)
            return name, core
    raise RuntimeError("company names exhausted")


def _shouted(name: str) -> str:
    """The upper-case, punctuation-free spelling customs systems often store."""
    return " ".join(re.sub(r"[.,()]", " ", name).upper().split())


def _company_spellings(rng: random.Random, name: str) -> tuple[str, ...]:
    """Spelling variants of one company, as they appear on waybills and B2B profiles."""
    variants = [name, _shouted(name)]
    for legal, respellings in LEGAL_RESPELLINGS:
        if name.endswith(legal):
            variants.append(name[: -len(legal)] + rng.choice(respellings))
            break
    words = name.split()
    longest = max(range(len(words)), key=lambda index: len(words[index]))
    word = words[longest]
    if len(word) >= 5:
        position = rng.randrange(1, len(word) - 2)
        words[longest] = (word[:position] + word[position + 1] + word[position]
                          + word[position + 2:])
        variants.append(" ".join(words))
    return tuple(dict.fromkeys(variants))


# --------------------------------------------------------------------------- world


@dataclass(frozen=True)
class PlatformSpec:
    """A platform and how traffickers use it; ``footer`` is its service text on every post."""

    name: str
    domain: str
    kind: str
    country: str
    cooperation: bool
    launched: int
    vendor_weight: float
    buyer_weight: float
    url_path: str
    footer: str = ""
    footer_phone_region: str | None = None
    footer_email: str | None = None


PLATFORM_SPECS = (
    PlatformSpec("ChemB2B Market", "chemb2b-market.com", "b2b", "CN", False, 2008, 10, 4,
                 "/offer/{slug}-{n}.html",
                 "\n--\nChemB2B Market customer service: Tel {phone} | {email}", "CN",
                 "service@chemb2b-market.com"),
    PlatformSpec("TradeKeys Global", "tradekeys-global.com", "b2b", "PK", True, 2008, 6, 4,
                 "/selloffer/{n}/{slug}.htm"),
    PlatformSpec("ChemSourcing Hub", "chemsourcing-hub.com", "b2b", "CN", True, 2010, 7, 3,
                 "/products/{slug}/{n}",
                 "\n\nChemSourcing Hub - report abuse or get help: {email}", None,
                 "support@chemsourcing-hub.com"),
    PlatformSpec("Made-in-Asia Trade", "madeinasia-trade.com", "b2b", "HK", False, 2009, 5, 2,
                 "/product/{n}.html"),
    PlatformSpec("IndiaChem Mart", "indiachem-mart.in", "b2b", "IN", True, 2011, 4, 2,
                 "/listing/{slug}-{n}",
                 "\n— IndiaChem Mart buyer helpline {phone} (Mon-Sat 9:00-18:00 IST)", "IN"),
    PlatformSpec("EuroChem Exchange", "eurochem-exchange.eu", "b2b", "NL", True, 2012, 2, 3,
                 "/ads/{n}"),
    PlatformSpec("Linkbook", "linkbook.com", "social", "US", True, 2008, 4, 5,
                 "/groups/chemicals/posts/{n}"),
    PlatformSpec("Chirper", "chirper.com", "social", "US", True, 2009, 3, 3, "/status/{n}"),
    PlatformSpec("Kontakto", "kontakto.ru", "social", "RU", False, 2008, 3, 4, "/wall-{n}"),
    PlatformSpec("ChemTalk Forum", "chemtalk-forum.net", "forum", "US", False, 2008, 2, 6,
                 "/threads/{slug}.{n}/"),
    PlatformSpec("Greenroad Market", "greenroad-market.to", "marketplace", "TO", False, 2013,
                 2, 3, "/listing/{n}"),
    PlatformSpec("ChemDeals channel", "t.me", "messenger", "AE", False, 2015, 5, 2,
                 "/chemdeals/{n}"),
    PlatformSpec("PMK-BMK Online", "pmk-bmk-online.com", "website", "NL", False, 2016, 2, 0.3,
                 "/shop/{slug}-{n}"),
)
TIMESTAMPED_PLATFORM_KINDS = frozenset({"social", "forum", "messenger"})
ESCROW_EMAIL = "info@example-escrow.com"


@dataclass
class Platform:
    """A platform as built for this world, its footer hubs already minted."""

    spec: PlatformSpec
    index: int
    footer_text: str
    footer_contacts: tuple[Contact, ...]


@dataclass
class Actor:
    """A vendor, buyer or broker. ``broker`` is the agent a vendor sometimes names."""

    id: str
    role: str
    country: str
    company: str | None
    company_spellings: tuple[str, ...]
    person: str
    username: str
    families: tuple[str, ...]
    first_year: int
    last_year: int
    activity: float
    contacts: list[Contact]
    platforms: tuple[int, ...] = ()
    broker: Actor | None = None
    brokered_vendors: list[Actor] = field(default_factory=list)
    messengers: list[Contact] = field(default_factory=list)
    wallets: list[Contact] = field(default_factory=list)

    def own(self, contacts: list[Contact]) -> None:
        """Give the actor its identifiers, split into ways to reach it and ways to pay it."""
        self.contacts = contacts
        self.messengers = [contact for contact in contacts if contact.kind not in WALLET_KINDS]
        self.wallets = [contact for contact in contacts if contact.kind in WALLET_KINDS]


@dataclass(frozen=True)
class Route:
    id: str
    origin: str
    transit: tuple[str, ...]
    destination: str
    mode: str


@dataclass(frozen=True)
class Operator:
    id: str
    name: str
    country: str
    registration_no: str
    substances: tuple[str, ...]
    contacts: tuple[Contact, ...]
    valid_from: str
    valid_to: str


@dataclass
class World:
    """Everything except the streamed postings and seizures."""

    platforms: list[Platform]
    actors: list[Actor]
    actor_pools: dict[tuple[int | None, str, str], _Weighted[Actor]]
    routes: list[Route]
    operators: list[Operator]
    escrow: Contact
    forwarder: Contact
    impersonation: tuple[Actor, Operator] | None
    company_names: set[str]
    identifiers: _IdentifierFactory


ANY_FAMILY = "*"
VENDOR_KIND_WEIGHTS = {"phone": 9, "email": 8, "telegram": 6, "wechat": 3, "wickr": 2,
                       "threema": 1.5, "skype": 2, "second phone": 2, "btc": 2, "eth": 1,
                       "tron": 2.5}
BUYER_KIND_WEIGHTS = {"phone": 6, "email": 8, "telegram": 6, "wickr": 3, "threema": 2,
                      "skype": 1.5}


def _sample_without_replacement(rng: random.Random, weights: dict[str, float],
                                count: int) -> list[str]:
    remaining = dict(weights)
    chosen: list[str] = []
    while remaining and len(chosen) < count:
        kind = _Weighted(list(remaining), list(remaining.values())).pick(rng)
        chosen.append(kind)
        del remaining[kind]
    return chosen


class _WorldBuilder:
    """Builds actors, platforms, routes and the register, all from the one seeded rng."""

    def __init__(self, rng: random.Random, postings: int) -> None:
        self.rng = rng
        self.postings = postings
        self.identifiers = _IdentifierFactory(rng)
        self.company_names: set[str] = set()
        self.offer_volume = {year: 0.0 for year in YEARS}
        self.request_volume = {year: 0.0 for year in YEARS}
        self.family_volume = {(year, family): 0.0 for year in YEARS for family in FAMILIES}
        for index, (year, _) in enumerate(MONTHS):
            midpoint = _month_midpoint(index)
            total = 0.0
            for substance in SUBSTANCES:
                level = substance.intensity_at(midpoint)
                self.family_volume[year, substance.family] += level
                total += level
            self.offer_volume[year] += total * _offer_share(midpoint)
            self.request_volume[year] += total * (1 - _offer_share(midpoint))
        self.countries = {
            "vendor": _Weighted(list(VENDOR_COUNTRIES), list(VENDOR_COUNTRIES.values())),
            "buyer": _Weighted(list(BUYER_COUNTRIES), list(BUYER_COUNTRIES.values())),
        }
        self.first_years = {
            "vendor": _Weighted(YEARS, [self.offer_volume[year] for year in YEARS]),
            "buyer": _Weighted(YEARS, [self.request_volume[year] for year in YEARS]),
        }

    def build(self) -> World:
        platforms = self._platforms()
        escrow = Contact("email", ESCROW_EMAIL, ((("Escrow: ", "escrow "), ESCROW_EMAIL),),
                         (ESCROW_EMAIL,))
        self.identifiers.used.add(ESCROW_EMAIL)
        forwarder = self.identifiers.phone("HK")
        actors = self._actors(platforms)
        operators = self._operators()
        impersonation = self._impersonate(actors, operators)
        return World(platforms, actors, self._pools(actors), self._routes(), operators, escrow,
                     forwarder, impersonation, self.company_names, self.identifiers)

    def _platforms(self) -> list[Platform]:
        built = []
        for index, spec in enumerate(PLATFORM_SPECS):
            contacts: list[Contact] = []
            fields: dict[str, str] = {}
            if spec.footer_phone_region:
                phone = self.identifiers.phone(spec.footer_phone_region)
                contacts.append(phone)
                fields["phone"] = phone.styles[0][1]
            if spec.footer_email:
                email = Contact("email", spec.footer_email, ((EMAIL_LABELS, spec.footer_email),),
                                (spec.footer_email,))
                self.identifiers.used.add(spec.footer_email)
                contacts.append(email)
                fields["email"] = spec.footer_email
            built.append(Platform(spec, index, spec.footer.format(**fields), tuple(contacts)))
        return built

    def _actors(self, platforms: list[Platform]) -> list[Actor]:
        rng = self.rng
        total = max(20, self.postings // 40)
        brokers = max(2, total // 100)
        vendors = round((total - brokers) * 0.55)
        roles = ["vendor"] * vendors + ["buyer"] * (total - brokers - vendors)
        actors = [self._actor(f"A{index + 1:06d}", role, platforms)
                  for index, role in enumerate(roles)]
        all_vendors = [actor for actor in actors if actor.role == "vendor"]
        busy_vendors = sorted(all_vendors, key=lambda actor: -actor.activity)
        candidates = busy_vendors[: max(2 * brokers, len(busy_vendors) // 2)]
        rng.shuffle(candidates)
        for index in range(brokers):
            pair = candidates[2 * index: 2 * index + 2]
            if len(pair) < 2:
                break
            broker = self._broker(f"A{len(actors) + 1:06d}", pair, platforms)
            actors.append(broker)
        return actors

    def _window(self, role: str) -> tuple[int, int]:
        first = self.first_years[role].pick(self.rng)
        duration = min(10, int(self.rng.expovariate(1 / 3.0)))
        return first, min(LAST_YEAR, first + duration)

    def _families(self, first_year: int) -> tuple[str, ...]:
        by_volume = _Weighted(FAMILIES, [self.family_volume[first_year, family] + 0.5
                                         for family in FAMILIES])
        families = [by_volume.pick(self.rng)]
        if self.rng.random() < 0.3:
            families.append(by_volume.pick(self.rng))
        return tuple(dict.fromkeys(families))

    def _favourite_platforms(self, role: str, platforms: list[Platform]) -> tuple[int, ...]:
        weights = [p.spec.vendor_weight if role != "buyer" else p.spec.buyer_weight
                   for p in platforms]
        pool = _Weighted([p.index for p in platforms], weights)
        favourites = {pool.pick(self.rng) for _ in range(self.rng.randint(2, 5))}
        return tuple(sorted(favourites))

    def _actor(self, actor_id: str, role: str, platforms: list[Platform]) -> Actor:
        rng = self.rng
        country = self.countries[role].pick(rng)
        person = _person_name(rng, country)
        company: str | None = None
        core = person.split()[0]
        if role == "vendor" or rng.random() < 0.3:
            company, core = _company_name(rng, country, self.company_names)
        first_year, last_year = self._window(role)
        actor = Actor(
            id=actor_id, role=role, country=country, company=company,
            company_spellings=_company_spellings(rng, company) if company else (),
            person=person, username="", families=self._families(first_year),
            first_year=first_year, last_year=last_year,
            activity=min(40.0, rng.paretovariate(1.3)), contacts=[],
            platforms=self._favourite_platforms(role, platforms),
        )
        actor.own(self._contacts(actor, core))
        actor.username = self.identifiers.handle(core.lower(), HANDLE_SUFFIXES)[0]
        return actor

    def _contacts(self, actor: Actor, core: str) -> list[Contact]:
        """1-4 identifiers of kinds in use while the actor is active; the first one always a
        way to reach it (not a wallet), so every posting can be linked."""
        rng = self.rng
        if actor.role == "vendor":
            weights = dict(VENDOR_KIND_WEIGHTS)
            if actor.country not in ("CN", "HK"):
                weights["wechat"] = 0.2
            count = _Weighted((1, 2, 3, 4), (1, 3, 4, 3)).pick(rng)
        else:
            weights = dict(BUYER_KIND_WEIGHTS)
            count = _Weighted((1, 2, 3), (2, 4, 3)).pick(rng)
        weights = {kind: weight for kind, weight in weights.items()
                   if KIND_IN_USE_FROM[kind] <= actor.last_year}
        messenger_weights = {kind: weight for kind, weight in weights.items()
                             if kind not in WALLET_KINDS and kind != "second phone"}
        first = _sample_without_replacement(rng, messenger_weights, 1)
        for kind in first:
            del weights[kind]
        kinds = first + _sample_without_replacement(rng, weights, count - 1)
        return [self._contact(kind, actor, core) for kind in kinds]

    def _contact(self, kind: str, actor: Actor, core: str) -> Contact:
        rng = self.rng
        hint = core.lower()
        if kind in ("phone", "second phone"):
            region = actor.country if rng.random() < 0.8 else rng.choice(FOREIGN_PHONE_REGIONS)
            return self.identifiers.phone(region)
        if kind == "email":
            first, surname = actor.person.lower().split(" ", 1)
            surname = surname.replace(" ", "")
            domains = FREE_MAIL.get(actor.country, GLOBAL_FREE_MAIL)
            if actor.company and rng.random() < 0.5:
                tld = rng.choice((".com", ".cn", ".com.cn", ".net")) if actor.country in (
                    "CN", "HK") else rng.choice((".com", ".net", f".{actor.country.lower()}"))
                domains = (f"{hint}{rng.choice(('chem', '-chem', 'bio', 'pharm', ''))}{tld}",)
                locals_ = ("sales", "info", "export", first, f"{first}.{surname}")
            else:
                locals_ = (f"{first}{surname}", f"{first}.{surname}", f"{hint}{first}",
                           f"{first}_{hint}")
            return self.identifiers.email(locals_, domains)
        if kind == "telegram":
            return self.identifiers.telegram(hint)
        if kind == "wickr":
            return self.identifiers.labelled_handle("wickr", hint, WICKR_LABELS)
        if kind == "wechat":
            return self.identifiers.labelled_handle("wechat", hint, WECHAT_LABELS)
        if kind == "threema":
            return self.identifiers.threema()
        if kind == "skype":
            return self.identifiers.skype()
        return self.identifiers.wallet(kind)

    def _broker(self, actor_id: str, vendors: list[Actor], platforms: list[Platform]) -> Actor:
        """An agent named in the postings of exactly two vendors: a one-identifier bridge."""
        rng = self.rng
        country = rng.choice(("HK", "CN", "NL", "TR"))
        person = _person_name(rng, country)
        hint = person.split()[0].lower()
        contacts = [self.identifiers.telegram(hint + "agent")]
        if rng.random() < 0.5:
            contacts.append(self.identifiers.labelled_handle("wickr", hint, WICKR_LABELS))
        families = tuple(dict.fromkeys(f for vendor in vendors for f in vendor.families))
        broker = Actor(
            id=actor_id, role="broker", country=country, company=None, company_spellings=(),
            person=person, username=self.identifiers.handle(hint, HANDLE_SUFFIXES)[0],
            families=families, first_year=min(v.first_year for v in vendors),
            last_year=max(v.last_year for v in vendors), activity=0.5, contacts=[],
            platforms=self._favourite_platforms("broker", platforms), brokered_vendors=vendors,
        )
        broker.own(contacts)
        for vendor in vendors:
            vendor.broker = broker
            vendor.activity = max(vendor.activity, 3.0)
        return broker

    def _pools(self, actors: list[Actor]) -> dict[tuple[int | None, str, str], _Weighted[Actor]]:
        """Who may post in a given year, role and substance family, weighted by activity."""
        members: dict[tuple[int | None, str, str], list[Actor]] = {}
        for actor in actors:
            members.setdefault((None, actor.role, ANY_FAMILY), []).append(actor)
            for year in range(actor.first_year, actor.last_year + 1):
                members.setdefault((year, actor.role, ANY_FAMILY), []).append(actor)
                for family in actor.families:
                    members.setdefault((year, actor.role, family), []).append(actor)
        return {key: _Weighted(group, [actor.activity for actor in group])
                for key, group in members.items()}

    def _routes(self) -> list[Route]:
        rng = self.rng
        origins = _Weighted(("CN", "IN", "HK", "TR"), (60, 30, 5, 5))
        transits = ("HK", "AE", "SG", "KR", "DE", "NL", "BE", "TR", "PL", "PA")
        destinations = ("MX", "NL", "BE", "US", "CA", "AU", "GB", "DE", "PL", "NZ", "GT", "ZA")
        modes = ("sea", "air", "courier", "road", "rail", "post")
        routes: list[Route] = []
        seen: set[tuple[str, tuple[str, ...], str]] = set()
        while len(routes) < 20:
            origin = origins.pick(rng)
            destination = rng.choice(destinations)
            options = [c for c in transits if c not in (origin, destination)]
            transit = tuple(rng.sample(options, rng.choice((0, 1, 1, 2))))
            if destination == origin or (origin, transit, destination) in seen:
                continue
            seen.add((origin, transit, destination))
            routes.append(Route(f"R{len(routes) + 1:02d}", origin, transit, destination,
                                rng.choice(modes)))
        return routes

    def _operators(self) -> list[Operator]:
        """Licensed companies: legitimate trade in the same chemicals, not the vendors."""
        rng = self.rng
        countries = ("DE", "NL", "BE", "FR", "GB", "IN", "CN", "US", "CH", "IT", "ES", "PL",
                     "DE", "NL", "IN")
        licit = _Weighted(("108-24-7", "96-48-0", "41661-47-6", "79099-07-3", "1451-82-7",
                           "39742-60-4", "4468-48-8"), (6, 5, 3, 3, 1, 1, 1))
        operators = []
        for index, country in enumerate(countries):
            name, core = _company_name(rng, country, self.company_names)
            valid_from = rng.randint(2005, 2018)
            valid_to = "" if rng.random() < 0.7 else f"{valid_from + rng.randint(3, 8)}-12-31"
            substances = tuple(sorted({licit.pick(rng) for _ in range(rng.randint(1, 3))}))
            contacts = (self.identifiers.phone(country),
                        self.identifiers.email(("info", "compliance", "office"),
                                               (f"{core.lower()}-chem.{country.lower()}",)))
            operators.append(Operator(
                f"OP{index + 1:02d}", name, country,
                f"{country}-PRE-{valid_from}-{rng.randint(1, 9999):04d}", substances, contacts,
                f"{valid_from}-{rng.randint(1, 12):02d}-01", valid_to))
        return operators

    def _impersonate(self, actors: list[Actor],
                     operators: list[Operator]) -> tuple[Actor, Operator] | None:
        """One vendor trades under a registered operator's name (its contacts stay its own)."""
        vendors = [actor for actor in actors if actor.role == "vendor" and actor.broker is None]
        if not vendors:
            return None
        vendor = self.rng.choice(vendors)
        operator = self.rng.choice(operators)
        vendor.company = operator.name
        vendor.company_spellings = _company_spellings(self.rng, operator.name)
        return vendor, operator


# --------------------------------------------------------------------------- postings

OFFER_TITLES = ("Supply", "Factory supply", "Hot sale", "High purity", "Best price",
                "In stock:", "Manufacturer of")
OFFER_TITLE_TAILS = ("", " 99%", " fast delivery", " safe shipping", " with best price")
REQUEST_TITLES = ("WTB", "Looking for", "Need", "Buying", "Request:", "Want to buy")
OFFER_OPENERS = (
    "We supply high purity {m}, purity {purity}% min.",
    "{company} is a professional manufacturer of {m} and other pharmaceutical intermediates.",
    "Factory direct supply {m} with best price and high quality.",
    "Hot sale {m}, large stock, fast and safe delivery.",
    "Top quality {m} available now, {purity}% purity, COA/MSDS on request.",
    "Good news! {m} in stock again, {purity}% purity.",
)
BROKER_OPENERS = (
    "Sourcing agent for {m}: I work with several factories, best price guaranteed.",
    "Can arrange {m} from reliable manufacturers, any quantity.",
)
OFFER_SECOND_PRODUCT = ("We also supply {m2}.", "Also available: {m2}.",
                        "Other products: {m2}, 99%.")
OFFER_LOGISTICS = (
    "Safe delivery to {regions}.",
    "Door to door service, 100% customs clearance to {regions}.",
    "Stock in {warehouse} warehouse, delivery within {days} days.",
    "Discreet packaging, free reship if seized by customs.",
    "Double vacuum bags, safe shipping by DHL/FedEx/EMS or by sea.",
)
OFFER_TERMS = (
    "MOQ 1 kg, free sample available.",
    "Sample 10 g for testing, bulk price negotiable.",
    "Big stock, 24 hours online service.",
    "Good feedback from our old customers.",
    "Professional team, 10 years export experience.",
)
OFFER_PAYMENTS = ("Payment: BTC, USDT, Western Union.", "We accept BTC, ETH and USDT.",
                  "Payment by crypto or bank transfer.", "Payment: USDT (TRC20) preferred.")
WALLET_PAYMENT = ("Payment to {wallet}", "Pay with crypto, {wallet}", "Payment: {wallet}")
OFFER_CONTACT_INTROS = ("Contact {block}", "For more details contact: {block}",
                        "Feel free to contact me, {block}", "Contact us now!\n{block}", "{block}")
REQUEST_OPENERS = (
    "Looking for {m} supplier, {qty}, delivery to {place}.",
    "WTB {m}, {qty} per month. Need reliable supplier with safe shipping to {place}.",
    "Need {m} urgently, {qty}. Please send price and COA.",
    "Buying {m} regularly, {qty}. Door to door to {place} only.",
    "Who can supply {m}? Need {qty} to {place}, long term cooperation.",
)
REQUEST_EXTRAS = ("Payment by crypto or escrow.", "Sample first, then big orders.",
                  "No scammers please, serious suppliers only.", "Also interested in {m2}.",
                  "Customs clearance must be guaranteed.")
REQUEST_CONTACT_INTROS = ("Contact me: {block}", "PM me or write {block}", "Offers to {block}",
                          "{block}")
CAS_ONLY_FORMS = ("CAS {cas}", "CAS {cas}", "CAS No. {cas}", "cas {cas}", "{cas}")
CONTACT_SEPARATORS = (", ", " | ", "\n", "; ", " / ")
DELIVERY_REGIONS = ("Europe, Mexico and Canada", "the Netherlands, Belgium, Germany and Poland",
                    "USA, Canada and Australia", "Mexico", "Russia and Ukraine",
                    "all over the world")
WAREHOUSES = ("Netherlands", "Germany", "Poland", "Mexico", "Canada", "Australia", "Russia")
ESCROW_LINES = ("Escrow service available, contact {email}",
                "Safe trade with escrow: {email}")
FORWARDER_LINES = ("Shipping by our forwarder, WhatsApp {phone}",
                   "Our logistics agent: Tel {phone}")
BROKER_LINES = ("Or contact our agent, {contact}", "Agent: {contact}",
                "For bulk orders ask our partner {contact}")
SHOW_PROBABILITY = {"phone": 0.8, "email": 0.6, "telegram": 0.75, "wickr": 0.6, "threema": 0.6,
                    "wechat": 0.6, "skype": 0.5, "btc": 0.3, "eth": 0.3, "tron": 0.35}


@dataclass
class _Draft:
    """A posting before its platform is chosen, kept so a removed one can reappear."""

    actor: Actor
    kind: str
    substances: list[str]
    title: str
    body: str
    contacts_field: list[str] | None
    identifiers: list[dict[str, str]]
    extra_hubs: list[dict[str, str]]
    price: str | None
    quantity: str | None


class _PostingGenerator:
    """Streams postings and their truth, one at a time (memory does not grow with N)."""

    def __init__(self, rng: random.Random, world: World) -> None:
        self.rng = rng
        self.choose = _chooser(rng)
        self.world = world
        midpoints = [_month_midpoint(index) for index in range(len(MONTHS))]
        self.month_substance = _month_substance_table(lag=0.0)
        self.offer_share = [_offer_share(midpoint) for midpoint in midpoints]
        self.family_by_month: dict[tuple[int, str], _Weighted[Substance]] = {}
        for index, midpoint in enumerate(midpoints):
            for family in FAMILIES:
                members = [s for s in SUBSTANCES if s.family == family]
                levels = [s.intensity_at(midpoint) for s in members]
                if sum(levels) > 0:
                    self.family_by_month[index, family] = _Weighted(members, levels)
        self.platform_pools: dict[tuple[int, str], _Weighted[Platform]] = {}
        for year in YEARS:
            for role in ("vendor", "buyer"):
                open_platforms = [p for p in world.platforms if p.spec.launched <= year]
                weights = [p.spec.buyer_weight if role == "buyer" else p.spec.vendor_weight
                           for p in open_platforms]
                self.platform_pools[year, role] = _Weighted(open_platforms, weights)
        self.brokers_shown: set[str] = set()
        self.stats = {"offers": 0, "requests": 0, "removed": 0, "reposted": 0}

    # -- choices -------------------------------------------------------------------------

    def _actor(self, year: int, role: str, family: str) -> Actor:
        pools = self.world.actor_pools
        pool = (pools.get((year, role, family)) or pools.get((year, role, ANY_FAMILY))
                or pools.get((None, role, ANY_FAMILY)) or pools[None, "vendor", ANY_FAMILY])
        return pool.pick(self.rng)

    def _platform(self, actor: Actor, year: int, exclude: Platform | None = None) -> Platform:
        rng = self.rng
        platforms = self.world.platforms
        if rng.random() < 0.85:
            favourites = [platforms[i] for i in actor.platforms
                          if platforms[i].spec.launched <= year and platforms[i] is not exclude
                          and (exclude is None or not platforms[i].spec.cooperation)]
            if favourites:
                return self.choose(favourites)
        pool = self.platform_pools[year, "buyer" if actor.role == "buyer" else "vendor"]
        for _ in range(20):
            platform = pool.pick(rng)
            if platform is not exclude and (exclude is None or not platform.spec.cooperation):
                return platform
        return next(p for p in platforms if not p.spec.cooperation and p is not exclude)

    def _mention(self, substance: Substance, year: float) -> str:
        rng = self.rng
        if rng.random() < _cas_only_share(year):
            return self.choose(CAS_ONLY_FORMS).format(cas=substance.cas)
        name = self.choose(substance.names)
        if rng.random() < 0.15:
            name = name.lower()
        roll = rng.random()
        if roll < 0.35:
            return f"{name} CAS {substance.cas}"
        if roll < 0.5:
            return f"{name} ({substance.cas})"
        return name

    def _render(self, contact: Contact, country: str) -> str:
        rng = self.rng
        if contact.national and contact.region == country and rng.random() < 0.4:
            return self.choose(PHONE_LABELS) + contact.national
        labels, shown = self.choose(contact.styles)
        return self.choose(labels) + shown

    def _quantity(self, substance: Substance) -> str:
        unit = "l" if substance.liquid and self.rng.random() < 0.5 else "kg"
        return f"{self.choose((1, 2, 5, 10, 20, 25, 50, 100, 200, 500))} {unit}"

    # -- one posting ---------------------------------------------------------------------

    def draft(self, month_index: int, substance: Substance) -> _Draft:
        """Who posts what about ``substance`` in this month, and how they write it."""
        rng = self.rng
        year = MONTHS[month_index][0]
        midpoint = _month_midpoint(month_index)
        is_offer = rng.random() < self.offer_share[month_index]
        role = ("broker" if rng.random() < 0.03 else "vendor") if is_offer else "buyer"
        actor = self._actor(year, role, substance.family)
        substances = [substance.cas]
        second: Substance | None = None
        if rng.random() < 0.35:
            candidate = self.family_by_month[month_index, substance.family].pick(rng)
            if candidate is not substance:
                second = candidate
                substances.append(candidate.cas)
        mention = self._mention(substance, midpoint)
        second_mention = self._mention(second, midpoint) if second else ""
        usable = [c for c in actor.messengers if KIND_IN_USE_FROM[c.kind] <= year]
        usable = usable or actor.messengers
        shown = [c for c in usable if rng.random() < SHOW_PROBABILITY[c.kind]]
        if not shown:
            shown = [self.choose(usable)]
        wallets = [c for c in actor.wallets if is_offer and KIND_IN_USE_FROM[c.kind] <= year
                   and rng.random() < SHOW_PROBABILITY[c.kind]]
        block = self.choose(CONTACT_SEPARATORS).join(self._render(c, actor.country) for c in shown)
        hubs: list[dict[str, str]] = []
        if is_offer:
            title = f"{self.choose(OFFER_TITLES)} {mention}{self.choose(OFFER_TITLE_TAILS)}"
            sentences = self._offer_sentences(actor, mention, second_mention, substance, wallets)
            sentences.append(self.choose(OFFER_CONTACT_INTROS).format(block=block))
            low, high = substance.usd_per_kg
            usd = rng.randint(low, high) // 10 * 10
            price = self.choose((f"USD {usd}/kg", f"${usd} per kg", f"{usd} USD/kg", "negotiable",
                                None))
            stock = f"{rng.randint(1, 50) * 20} kg in stock"
            quantity = self.choose(("MOQ 1 kg", "1-1000 kg", stock, "100 g sample, 1 kg MOQ", None))
        else:
            quantity = self._quantity(substance)
            place = COUNTRY_NAMES.get(actor.country, actor.country)
            title = f"{self.choose(REQUEST_TITLES)} {mention}" + self.choose(
                (" supplier", f" {quantity}", ""))
            sentences = [self.choose(REQUEST_OPENERS).format(m=mention, qty=quantity, place=place)]
            extra = self.choose(REQUEST_EXTRAS)
            if "{m2}" not in extra or second:
                sentences.append(extra.format(m2=second_mention))
            sentences.append(self.choose(REQUEST_CONTACT_INTROS).format(block=block))
            usd = rng.randint(*substance.usd_per_kg) // 10 * 10
            price = self.choose((None, None, "best price", f"target USD {usd}/kg"))
        body = " ".join(sentences) + "".join(f"\n{line}" for line in self._hub_lines(actor, hubs))
        contacts_field = self._contacts_field(actor, shown)
        listed = [*shown, *wallets]
        if contacts_field:
            listed.extend(contact for contact, _ in contacts_field)
        identifiers = list({id(c): c.truth for c in listed}.values())
        return _Draft(actor, "offer" if is_offer else "request", substances, title, body,
                      [form for _, form in contacts_field] if contacts_field is not None else None,
                      identifiers, hubs, price, quantity)

    def _offer_sentences(self, actor: Actor, mention: str, second_mention: str,
                         substance: Substance, wallets: list[Contact]) -> list[str]:
        rng = self.rng
        openers = BROKER_OPENERS if actor.role == "broker" else OFFER_OPENERS
        sentences = [self.choose(openers).format(
            m=mention, purity=self.choose((98, 99, 99.5, 99.9)),
            company=actor.company or "Our company")]
        if second_mention:
            sentences.append(self.choose(OFFER_SECOND_PRODUCT).format(m2=second_mention))
        sentences.append(self.choose(OFFER_LOGISTICS).format(
            regions=self.choose(DELIVERY_REGIONS), warehouse=self.choose(WAREHOUSES),
            days=rng.randint(3, 15)))
        if rng.random() < 0.6:
            sentences.append(self.choose(OFFER_TERMS))
        if substance.liquid and rng.random() < 0.3:
            sentences.append("Liquid, packed in 25 l drums.")
        if wallets:
            rendered = ", ".join(self._render(wallet, actor.country) for wallet in wallets)
            sentences.append(self.choose(WALLET_PAYMENT).format(wallet=rendered) + ".")
        else:
            sentences.append(self.choose(OFFER_PAYMENTS))
        return sentences

    def _hub_lines(self, actor: Actor, hubs: list[dict[str, str]]) -> list[str]:
        """Escrow, forwarder and broker mentions: identifiers in the text that are not the
        poster's own. Appends their truth to ``hubs`` and returns the lines."""
        rng = self.rng
        world = self.world
        lines = []
        if rng.random() < 0.05:
            lines.append(self.choose(ESCROW_LINES).format(email=world.escrow.value))
            hubs.append(world.escrow.truth)
        if actor.role != "buyer" and rng.random() < 0.04:
            lines.append(self.choose(FORWARDER_LINES).format(phone=world.forwarder.styles[0][1]))
            hubs.append(world.forwarder.truth)
        broker = actor.broker
        if broker is not None and (actor.id not in self.brokers_shown or rng.random() < 0.3):
            self.brokers_shown.add(actor.id)
            bridge = broker.contacts[0]
            lines.append(self.choose(BROKER_LINES).format(contact=self._render(bridge, "")))
            hubs.append(bridge.truth)
        return lines

    def _contacts_field(self, actor: Actor,
                        shown: list[Contact]) -> list[tuple[Contact, str]] | None:
        """The structured contacts field: often absent, sometimes empty, else 1-2 entries
        (occasionally one that the free text does not show)."""
        rng = self.rng
        roll = rng.random()
        if roll < 0.45:
            return None
        if roll < 0.52:
            return []
        chosen = rng.sample(shown, min(len(shown), rng.randint(1, 2)))
        if rng.random() < 0.15:
            chosen.append(self.choose(actor.contacts))
        unique = list({id(c): c for c in chosen}.values())
        return [(contact, self.choose(contact.field_forms)) for contact in unique]

    def publish(self, draft: _Draft, number: int, month_index: int, day: int,
                platform: Platform) -> tuple[dict, dict, date | None]:
        """Place a draft on a platform: the posting record, its truth, and its removal day."""
        rng = self.rng
        spec = platform.spec
        year, month = MONTHS[month_index]
        posted_at = f"{year:04d}-{month:02d}-{day:02d}"
        if spec.kind in TIMESTAMPED_PLATFORM_KINDS:
            posted_at += (f"T{rng.randrange(24):02d}:{rng.randrange(60):02d}:"
                          f"{rng.randrange(60):02d}Z")
        actor = draft.actor
        author = actor.username
        if actor.company and spec.kind in ("b2b", "website"):
            author = self.choose(actor.company_spellings[:2])
        posting_id = f"P{number:07d}"
        slug = SUBSTANCE_SLUGS[draft.substances[0]]
        record: dict[str, object] = {
            "id": posting_id,
            "platform": spec.domain if rng.random() < 0.15 else spec.name,
            "url": f"https://{spec.domain}{spec.url_path.format(slug=slug, n=100000 + number)}",
            "posted_at": posted_at,
            "kind": draft.kind,
            "title": draft.title,
            "text": draft.body + platform.footer_text,
            "author": author,
            "country": actor.country,
            "contacts": draft.contacts_field,
            "price": draft.price,
            "quantity": draft.quantity,
        }
        if rng.random() < 0.1:
            del record["kind"]
        if draft.contacts_field is None:
            del record["contacts"]
        removed: date | None = None
        if spec.cooperation and rng.random() < 0.12:
            removed = min(LAST_DAY, date(year, month, day) + timedelta(days=rng.randint(3, 120)))
            record["removed_at"] = removed.isoformat()
            self.stats["removed"] += 1
        hubs = [contact.truth for contact in platform.footer_contacts] + draft.extra_hubs
        truth = {"id": posting_id, "actor": actor.id, "identifiers": draft.identifiers,
                 "hub_identifiers": list({h["value"]: h for h in hubs}.values()),
                 "substances": draft.substances, "kind": draft.kind}
        self.stats["offers" if draft.kind == "offer" else "requests"] += 1
        return record, truth, removed

    def write(self, postings_path: Path, truth_path: Path, count: int) -> None:
        rng = self.rng
        encode = json.JSONEncoder(ensure_ascii=False, check_circular=False).encode
        with postings_path.open("w", encoding="utf-8", newline="\n") as postings_file, \
                truth_path.open("w", encoding="utf-8", newline="\n") as truth_file:
            pending: tuple[_Draft, Platform, date] | None = None
            for number in range(1, count + 1):
                if pending is not None:
                    draft, removed_from, removed_on = pending
                    pending = None
                    reposted = min(LAST_DAY, removed_on + timedelta(days=rng.randint(1, 14)))
                    month_index = (reposted.year - FIRST_YEAR) * 12 + reposted.month - 1
                    day = reposted.day
                    platform = self._platform(draft.actor, reposted.year, exclude=removed_from)
                    self.stats["reposted"] += 1
                else:
                    month_index, substance = self.month_substance.pick(rng)
                    draft = self.draft(month_index, substance)
                    day = rng.randint(1, 28)
                    platform = self._platform(draft.actor, MONTHS[month_index][0])
                record, truth, removed = self.publish(draft, number, month_index, day, platform)
                if removed is not None and rng.random() < 0.7:
                    pending = (draft, platform, removed)
                postings_file.write(encode(record) + "\n")
                truth_file.write(encode(truth) + "\n")


SUBSTANCE_SLUGS = {substance.cas: substance.slug for substance in SUBSTANCES}

# --------------------------------------------------------------------------- seizures etc.

SEIZURE_SOURCES = ("customs", "police", "PICS incident", "press release", "court record",
                   "PEN Online follow-up")
CASEWORK_NOTES = ("seizure case", "undercover purchase", "PEN Online notice", "partner agency tip",
                  "test purchase", "open-source research")


def _write_csv(path: Path, header: Sequence[str], rows: Iterable[Sequence[object]]) -> int:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(header)
        written = 0
        for row in rows:
            writer.writerow(row)
            written += 1
    return written


def _as_recorded(contact: Contact) -> str:
    """How a register or an earlier case file writes an identifier: phones in international
    format (``+86 131 2648 4642``), everything else in its normalised form."""
    return contact.field_forms[1] if contact.kind == "phone" else contact.value


def _platform_rows(world: World) -> Iterable[tuple[str, ...]]:
    for platform in world.platforms:
        spec = platform.spec
        yield (spec.name, spec.domain, spec.kind, spec.country,
               "yes" if spec.cooperation else "no")


def _route_rows(world: World) -> Iterable[tuple[str, ...]]:
    for route in world.routes:
        yield route.id, route.origin, ";".join(route.transit), route.destination, route.mode


def _operator_rows(world: World) -> Iterable[tuple[str, ...]]:
    for op in world.operators:
        yield (op.id, op.name, op.country, op.registration_no, ";".join(op.substances),
               ";".join(_as_recorded(contact) for contact in op.contacts),
               op.valid_from, op.valid_to)


def _casework_contact_rows(rng: random.Random, world: World,
                           wanted: int) -> Iterable[tuple[str, ...]]:
    """Identifiers analysts already attributed in earlier cases: a subset of the actors'."""
    attributed = [(actor, contact) for actor in world.actors for contact in actor.contacts]
    for actor, contact in rng.sample(attributed, min(wanted, len(attributed))):
        value = _as_recorded(contact) if rng.random() < 0.4 else contact.value
        owner = rng.choice(actor.company_spellings) if actor.company else actor.person
        year = rng.randint(actor.first_year, actor.last_year)
        yield value, contact.kind, owner, f"{rng.choice(CASEWORK_NOTES)} {year}"


def _seizure_rows(rng: random.Random, world: World, count: int,
                  truth_path: Path) -> Iterable[tuple[object, ...]]:
    """Seizures follow the posting curves with a lag; most ship from an actual vendor, named
    in a spelling variant and sometimes with that vendor's phone or e-mail on the waybill."""
    month_substance = _month_substance_table(lag=SEIZURE_LAG_YEARS)
    routes_by_origin: dict[str, list[Route]] = {}
    for route in world.routes:
        routes_by_origin.setdefault(route.origin, []).append(route)
    pools = world.actor_pools
    front_companies = set(world.company_names)
    with truth_path.open("w", encoding="utf-8", newline="\n") as truth_file:
        for number in range(1, count + 1):
            month_index, substance = month_substance.pick(rng)
            year, month = MONTHS[month_index]
            vendor: Actor | None = None
            if rng.random() < 0.65:
                pool = (pools.get((year, "vendor", substance.family))
                        or pools.get((None, "vendor", ANY_FAMILY)))
                vendor = pool.pick(rng) if pool else None
            route = rng.choice(routes_by_origin.get(vendor.country if vendor else "", [])
                               or world.routes)
            where = rng.random()
            if where < 0.2:
                seized_in = route.origin
            elif where < 0.5 and route.transit:
                seized_in = rng.choice(route.transit)
            else:
                seized_in = route.destination
            contacts: list[str] = []
            if vendor is not None:
                consignor = rng.choice(vendor.company_spellings)
                for contact in vendor.contacts:
                    if contact.kind in ("phone", "email") and rng.random() < 0.5:
                        contacts.append(rng.choice(contact.field_forms[:2]))
            else:
                consignor, _ = _company_name(rng, route.origin, front_companies)
            if rng.random() < 0.3:
                consignee_phone = world.identifiers.phone(route.destination)
                contacts.append(rng.choice(consignee_phone.field_forms[:2]))
            consignee, _ = _company_name(rng, route.destination, front_companies)
            unit = "l" if substance.liquid and rng.random() < 0.7 else "kg"
            quantity = round(min(20000.0, rng.lognormvariate(3.5, 1.3)), 1)
            truth_file.write(json.dumps({"id": f"S{number:06d}",
                                         "actor": vendor.id if vendor else None}) + "\n")
            yield (f"S{number:06d}", f"{year:04d}-{month:02d}-{rng.randint(1, 28):02d}",
                   rng.choice(substance.names), substance.cas if rng.random() < 0.9 else "",
                   quantity, unit, seized_in, route.origin, ";".join(route.transit),
                   route.destination, consignor, consignee, ";".join(contacts), route.id,
                   rng.choice(SEIZURE_SOURCES))


# --------------------------------------------------------------------------- entry point


@dataclass(frozen=True)
class DemoSummary:
    """What ``write_demo_world`` wrote: the files by logical name, and how many of each."""

    out_dir: Path
    files: dict[str, Path]
    postings: int
    offers: int
    requests: int
    removed: int
    reposted: int
    actors: int
    platforms: int
    contacts: int
    seizures: int
    routes: int
    operators: int


def _truth_actor_lines(world: World) -> Iterable[str]:
    for actor in world.actors:
        yield json.dumps({"actor": actor.id, "role": actor.role,
                          "identifiers": [contact.truth for contact in actor.contacts],
                          "company": actor.company}, ensure_ascii=False) + "\n"


README_TEMPLATE = """\
# Prexus demo world: ground truth

Generated by `ingest/demo.py` (`prexus demo --postings {postings} --seed {seed}`). The same
seed and size always give byte-identical files.

## How the world is made

* **Actors** (`truth/actors.jsonl`): {vendors} vendors (companies, mostly CN/IN, also HK, NL,
  DE, PL, TR), {buyers} buyers (MX, US, CA, AU, NL, BE, ...), {brokers} brokers. Each vendor and
  buyer owns 1-4 identifiers (phone, email, telegram, wickr, threema, wechat, skype and, for
  vendors, btc/eth/tron wallets) and is active over a window of years. No identifier is owned
  by two actors. Phones are valid per libphonenumber; BTC (version 0x00) and TRON (0x41)
  addresses are base58check with a double-SHA256 checksum; ETH is `0x` + 40 hex.
* **Postings** (`postings.jsonl`): a month and a substance are drawn together from
  per-substance popularity curves (below); the share of offers grows from about 20% (2008,
  buyer-led) to about 85% (2018 on, vendor-led). An offer is posted by a vendor (3%: a broker)
  of that substance's family, a request by a buyer, mostly on the actor's 2-5 favourite
  platforms. The text shows a random subset of the actor's identifiers in varied styles
  (`+86 138 0013 8000`, `0086-138-...`, `8613...`, national format when the posting's country
  is the number's region, dots, brackets, full-width digits, `wa.me/...`, `name[at]domain[dot]com`,
  `name (at) domain (dot) com`, `mailto:`, `@Handle`, `t.me/handle`, `Threema: ABCD1234`,
  `live:.cid.…`, wallets in the payment sentence). 45% of postings have no `contacts` field,
  7% an empty one, the rest 1-2 cleaner entries (sometimes one the text does not show).
  About 10% of postings omit `kind`; the text still says `We supply`/`Looking for`/`WTB`.
  `platform` is the platform's name, or its domain in about 15% of postings.
* **Removal and reappearance**: about 12% of postings on cooperating platforms carry
  `removed_at`; 70% of those are immediately followed (next id) by the same title, text body and
  contacts on a non-cooperating platform, posted 1-14 days after the removal.
* **Seizures** (`seizures.csv`): month and substance drawn from the same curves shifted by
  {lag} years. 65% ship from a vendor active that year in the substance's family: the
  consignor is a spelling variant of its company name (`Hubei Xinyuan Chemical Co., Ltd.` /
  `HUBEI XINYUAN CHEMICAL CO LTD` / `... Company Limited` / a transposed-letter typo), and
  each of its phones and e-mails is on the waybill with probability 1/2. Other seizures have
  a front company as consignor. 30% also list a fresh consignee phone that belongs to nobody.
* **Register** (`operators.csv`): licensed operators, none of them a vendor.{impersonation}
* **Known contacts** (`contacts.csv`): a random subset of actors' identifiers with the owner's
  company (a spelling variant) or person name and a casework note.

## Truth files

* `actors.jsonl`: `actor`, `role` (`vendor`, `buyer`, `broker`), `identifiers` (normalised:
  phone E.164, email lower-case, telegram/wickr/wechat lower-case without `@`, threema
  upper-case, skype `live:.cid.<hex>`, btc/tron as-is, eth lower-case), `company` or null.
* `postings.jsonl`: `id`, `actor`, `identifiers` (the actor's own identifiers that appear in
  the text or the `contacts` field, normalised), `hub_identifiers` (every other identifier in
  the text: platform footers, the escrow, the forwarder and broker handles), `substances` (CAS
  numbers, main one first), `kind` (always present here).
  `identifiers` + `hub_identifiers` is everything extractable from a posting.
* `seizures.jsonl`: `id`, `actor` (the vendor behind it, or null).

Correct clustering groups postings by `actor`. Hubs must not merge actors:

* Platform footers, appended to every posting on that platform:
{footers}
* Escrow `{escrow}` (about 5% of all postings) and forwarder `{forwarder}` (about 4% of
  offers), both shared by many unrelated actors.
* Brokers: a broker's first identifier (a telegram handle) is named as "agent" in the postings
  of exactly two vendors, a one-identifier bridge between two otherwise separate groups. A
  `hub_identifiers` value owned by a `broker` in `actors.jsonl` is such a bridge:
{broker_bridges}

## Substances

| CAS | name | synonyms | family | controlled from |
|---|---|---|---|---|
{substances}

Popularity: PMK methyl glycidate rises until its control (2019-11) and then collapses while PMK
ethyl glycidate rises (until its own control, 2024-12-03); APAAN (2014) -> APAA (2019) /
MAPA (2020) -> BMK glycidates (2024); NPP/4-ANPP (2017) -> 4-piperidone and
1-boc-4-piperidone (2024). 2-bromo-4'-methylpropiophenone, GBL and acetic anhydride are flat
controls. Postings name a substance by CAS number alone increasingly often (3% in 2008, about
48% in 2024).
"""


def _readme(world: World, postings: int, seed: int) -> str:
    roles = [actor.role for actor in world.actors]
    footers = "\n".join(
        f"  * {p.spec.name} ({'cooperating' if p.spec.cooperation else 'not cooperating'}): "
        + ", ".join(f"`{c.value}`" for c in p.footer_contacts)
        for p in world.platforms if p.footer_contacts)
    brokers = "\n".join(
        f"  * {broker.id} `{broker.contacts[0].value}` bridges "
        + " and ".join(vendor.id for vendor in broker.brokered_vendors)
        for broker in world.actors if broker.role == "broker") or "  * (none)"
    impersonation = ""
    if world.impersonation:
        vendor, operator = world.impersonation
        impersonation = (f" Vendor {vendor.id} trades under the registered name of {operator.id}"
                         f" (`{operator.name}`), with its own contacts.")
    substances = "\n".join(
        f"| {s.cas} | {s.name} | {', '.join(s.synonyms)} | {s.family} | "
        f"{s.controlled_from or 'not controlled'} |" for s in SUBSTANCES)
    return README_TEMPLATE.format(
        postings=postings, seed=seed, vendors=roles.count("vendor"), buyers=roles.count("buyer"),
        brokers=roles.count("broker"), lag=SEIZURE_LAG_YEARS, impersonation=impersonation,
        footers=footers, escrow=world.escrow.value, forwarder=world.forwarder.value,
        broker_bridges=brokers, substances=substances)


def write_demo_world(out_dir: Path, postings: int = 5000, seed: int = 7) -> DemoSummary:
    """Write a synthetic world of ``postings`` postings and its truth under ``out_dir``."""
    if postings < 1:
        raise ValueError("postings must be at least 1")
    out_dir = Path(out_dir)
    truth_dir = out_dir / "truth"
    truth_dir.mkdir(parents=True, exist_ok=True)
    files = {
        "postings": out_dir / "postings.jsonl",
        "platforms": out_dir / "platforms.csv",
        "contacts": out_dir / "contacts.csv",
        "seizures": out_dir / "seizures.csv",
        "routes": out_dir / "routes.csv",
        "operators": out_dir / "operators.csv",
        "truth_actors": truth_dir / "actors.jsonl",
        "truth_postings": truth_dir / "postings.jsonl",
        "truth_seizures": truth_dir / "seizures.jsonl",
        "truth_readme": truth_dir / "README.md",
    }
    rng = random.Random(seed)
    world = _WorldBuilder(rng, postings).build()
    platforms = _write_csv(files["platforms"], PLATFORM_COLUMNS, _platform_rows(world))
    routes = _write_csv(files["routes"], ROUTE_COLUMNS, _route_rows(world))
    operators = _write_csv(files["operators"], OPERATOR_COLUMNS, _operator_rows(world))
    contacts = _write_csv(files["contacts"], CONTACT_COLUMNS,
                          _casework_contact_rows(rng, world, max(10, postings // 100)))
    with files["truth_actors"].open("w", encoding="utf-8", newline="\n") as handle:
        handle.writelines(_truth_actor_lines(world))
    generator = _PostingGenerator(rng, world)
    generator.write(files["postings"], files["truth_postings"], postings)
    seizures = _write_csv(files["seizures"], SEIZURE_COLUMNS, _seizure_rows(
        rng, world, max(30, postings // 200), files["truth_seizures"]))
    files["truth_readme"].write_text(_readme(world, postings, seed), encoding="utf-8")
    stats = generator.stats
    return DemoSummary(
        out_dir=out_dir, files=files, postings=postings, offers=stats["offers"],
        requests=stats["requests"], removed=stats["removed"], reposted=stats["reposted"],
        actors=len(world.actors), platforms=platforms, contacts=contacts, seizures=seizures,
        routes=routes, operators=operators)
