"""The demo world keeps its public contract and behaves like the real trade it stands in for."""

from __future__ import annotations

import csv
import json
import os
import re
import subprocess
import sys
import unicodedata
from collections import Counter, defaultdict
from pathlib import Path

import base58
import phonenumbers
import pytest

from ingest.demo import (
    CONTACT_COLUMNS,
    OPERATOR_COLUMNS,
    PLATFORM_COLUMNS,
    PLATFORM_SPECS,
    ROUTE_COLUMNS,
    SEIZURE_COLUMNS,
    DemoSummary,
    write_demo_world,
)

POSTINGS = 2000
PMK_METHYL = "13605-48-6"
PMK_ETHYL = "28578-16-7"
POSTING_REQUIRED = {"id", "platform", "url", "posted_at", "title", "text", "author", "country",
                    "price", "quantity"}
POSTING_OPTIONAL = {"kind", "contacts", "removed_at"}
PHONE_LIKE = re.compile(r"[+\d][\d \t().\-/]{5,}\d")


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> DemoSummary:
    return write_demo_world(tmp_path_factory.mktemp("demo"), postings=POSTINGS, seed=7)


def _jsonl(path: Path) -> list[dict]:
    with path.open(encoding="utf-8") as handle:
        return [json.loads(line) for line in handle]


def _csv_rows(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    with path.open(encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle)
        return list(reader.fieldnames or []), list(reader)


def _file_bytes(summary: DemoSummary) -> dict[str, bytes]:
    return {name: path.read_bytes() for name, path in summary.files.items()}


@pytest.fixture(scope="module")
def postings(world: DemoSummary) -> list[dict]:
    return _jsonl(world.files["postings"])


@pytest.fixture(scope="module")
def truth(world: DemoSummary) -> list[dict]:
    return _jsonl(world.files["truth_postings"])


@pytest.fixture(scope="module")
def actors(world: DemoSummary) -> dict[str, dict]:
    return {actor["actor"]: actor for actor in _jsonl(world.files["truth_actors"])}


def test_same_seed_gives_identical_bytes_and_another_seed_does_not(
        world: DemoSummary, tmp_path: Path) -> None:
    again = write_demo_world(tmp_path / "again", postings=POSTINGS, seed=7)
    other = write_demo_world(tmp_path / "other", postings=POSTINGS, seed=8)
    assert _file_bytes(again) == _file_bytes(world)
    differing = [name for name, data in _file_bytes(other).items()
                 if data != _file_bytes(world)[name]]
    assert "postings" in differing and "truth_actors" in differing


def test_summary_counts_match_the_files(world: DemoSummary, postings: list[dict],
                                        truth: list[dict], actors: dict[str, dict]) -> None:
    assert world.postings == len(postings) == len(truth) == POSTINGS
    assert world.offers + world.requests == POSTINGS
    assert world.actors == len(actors) >= 20
    assert world.seizures == len(_jsonl(world.files["truth_seizures"])) >= 30
    assert world.routes == 20 and world.operators == 15 and world.platforms >= 12
    assert world.contacts == len(_csv_rows(world.files["contacts"])[1]) >= POSTINGS // 100
    assert [p["id"] for p in postings] == [t["id"] for t in truth]
    assert len({p["id"] for p in postings}) == POSTINGS
    assert len({p["url"] for p in postings}) == POSTINGS
    assert world.files["truth_readme"].read_text(encoding="utf-8").startswith("# Prexus demo")


@pytest.mark.parametrize(("name", "columns"), [
    ("platforms", PLATFORM_COLUMNS), ("contacts", CONTACT_COLUMNS),
    ("seizures", SEIZURE_COLUMNS), ("routes", ROUTE_COLUMNS), ("operators", OPERATOR_COLUMNS),
])
def test_csv_files_have_exactly_the_contracted_columns(world: DemoSummary, name: str,
                                                       columns: tuple[str, ...]) -> None:
    header, rows = _csv_rows(world.files[name])
    assert tuple(header) == columns
    assert rows and all(None not in row and all(v is not None for v in row.values())
                        for row in rows)


def test_jsonl_files_have_exactly_the_contracted_fields(
        world: DemoSummary, postings: list[dict], truth: list[dict],
        actors: dict[str, dict]) -> None:
    for posting in postings:
        assert POSTING_REQUIRED <= posting.keys() <= POSTING_REQUIRED | POSTING_OPTIONAL
        assert posting.get("kind", "offer") in ("offer", "request")
        assert re.fullmatch(r"[A-Z]{2}", posting["country"])
        assert re.fullmatch(r"\d{4}-\d\d-\d\d(T\d\d:\d\d:\d\dZ)?", posting["posted_at"])
    missing_kind = sum("kind" not in posting for posting in postings) / len(postings)
    assert 0.05 < missing_kind < 0.15
    assert any("contacts" not in p for p in postings)
    assert any(p.get("contacts") == [] for p in postings)
    assert any(p.get("contacts") for p in postings)
    assert any("removed_at" in p for p in postings)
    for line in truth:
        assert set(line) == {"id", "actor", "identifiers", "hub_identifiers", "substances",
                             "kind"}
    for actor in actors.values():
        assert set(actor) == {"actor", "role", "identifiers", "company"}
        assert actor["role"] in ("vendor", "buyer", "broker")
    for seizure in _jsonl(world.files["truth_seizures"]):
        assert set(seizure) == {"id", "actor"}
        assert seizure["actor"] is None or actors[seizure["actor"]]["role"] == "vendor"


def _all_identifiers(actors: dict[str, dict], truth: list[dict]) -> list[dict[str, str]]:
    found = [i for actor in actors.values() for i in actor["identifiers"]]
    for line in truth:
        found.extend(line["identifiers"])
        found.extend(line["hub_identifiers"])
    return found


def test_identifiers_are_valid_and_normalised(actors: dict[str, dict],
                                              truth: list[dict]) -> None:
    kinds = Counter()
    for identifier in _all_identifiers(actors, truth):
        kind, value = identifier["kind"], identifier["value"]
        kinds[kind] += 1
        if kind == "phone":
            number = phonenumbers.parse(value)
            assert phonenumbers.is_valid_number(number), value
            assert phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164) == value
        elif kind in ("btc", "tron"):
            decoded = base58.b58decode_check(value)  # raises on a bad checksum
            assert len(decoded) == 21 and decoded[0] == (0x00 if kind == "btc" else 0x41)
        elif kind == "eth":
            assert re.fullmatch(r"0x[0-9a-f]{40}", value)
        elif kind == "email":
            assert re.fullmatch(r"[a-z0-9._\-]+@[a-z0-9.\-]+\.[a-z]+", value)
        elif kind in ("telegram", "wickr", "wechat"):
            assert re.fullmatch(r"[a-z][a-z0-9_]{4,31}", value)
        elif kind == "threema":
            assert re.fullmatch(r"[A-Z0-9]{8}", value)
        elif kind == "skype":
            assert re.fullmatch(r"live:\.cid\.[0-9a-f]{16}", value)
        else:
            pytest.fail(f"unknown identifier kind {kind}")
    assert {"phone", "email", "telegram"} <= kinds.keys()
    assert kinds.keys() & {"btc", "eth", "tron"}


def test_no_identifier_belongs_to_two_actors(actors: dict[str, dict]) -> None:
    owners = Counter(i["value"] for actor in actors.values() for i in actor["identifiers"])
    assert max(owners.values()) == 1
    for actor in actors.values():
        assert 1 <= len(actor["identifiers"]) <= 4


def _searchable(posting: dict) -> str:
    """Title, text and contacts with full-width digits folded and e-mail obfuscation undone."""
    raw = "\n".join([posting["title"], posting["text"], *posting.get("contacts", [])])
    text = unicodedata.normalize("NFKC", raw).lower()
    for written, meant in (("[at]", "@"), (" (at) ", "@"), ("[dot]", "."), (" (dot) ", ".")):
        text = text.replace(written, meant)
    return text


def _appears(identifier: dict[str, str], searchable: str) -> bool:
    kind, value = identifier["kind"], identifier["value"]
    if kind == "phone":
        national = str(phonenumbers.parse(value).national_number)
        return any(re.sub(r"\D", "", match).endswith(national)
                   for match in PHONE_LIKE.findall(searchable))
    return value.lower() in searchable


def test_truth_identifiers_occur_in_each_posting(postings: list[dict],
                                                 truth: list[dict]) -> None:
    for posting, line in zip(postings, truth, strict=True):
        assert line["identifiers"], posting["id"]
        searchable = _searchable(posting)
        for identifier in line["identifiers"] + line["hub_identifiers"]:
            assert _appears(identifier, searchable), (posting["id"], identifier)


def test_identifiers_are_written_in_varied_styles(postings: list[dict]) -> None:
    texts = "\n".join(p["text"] for p in postings)
    styles = {
        "international": r"\+\d{1,3} \d{2,5} \d",
        "e164": r"\+\d{10,14}\b",
        "double-zero dashes": r"\b00\d{1,3}-\d+-",
        "dots": r"\+\d{1,3}\.\d+\.",
        "brackets": r"\+\d{1,3} \(\d+\) ",
        "full-width": r"＋[０-９]",
        "whatsapp link": r"wa\.me/\d{10,}",
        "national, from the number's own country": r"(Tel|Mobile|WhatsApp): 1[3-9]\d \d{4} \d{4}\b",
        "labelled phone": r"WhatsApp/Telegram: \+|Signal - |Tel: ",
        "email [at]": r"\w\[at\]\w+\[dot\]",
        "email (at)": r"\w \(at\) \w+ \(dot\) ",
        "mailto": r"mailto:\S+@",
        "telegram": r"@\w{5,}|t\.me/\w{5,}|Telegram: [A-Za-z]",
        "wickr": r"Wickr( Me)?: \w",
        "threema": r"Threema( ID)?: [A-Z0-9]{8}\b",
        "wechat": r"(WeChat|Wechat ID|WeChat/Weixin): \w",
        "skype": r"live:\.cid\.[0-9a-f]{16}",
        "wallet": r"(BTC|USDT TRC20|TRON/USDT|ETH)[^\n]{0,20}?\b(1|T|0x)[0-9A-Za-z]{25,}",
    }
    for style, pattern in styles.items():
        assert re.search(pattern, texts), style


def _posting_years(postings: list[dict], truth: list[dict]) -> list[tuple[int, dict]]:
    return [(int(p["posted_at"][:4]), line) for p, line in zip(postings, truth, strict=True)]


def test_market_turns_from_buyer_led_to_vendor_led(postings: list[dict],
                                                   truth: list[dict]) -> None:
    early, late = Counter(), Counter()
    for year, line in _posting_years(postings, truth):
        if year < 2011:
            early[line["kind"]] += 1
        elif year > 2018:
            late[line["kind"]] += 1
    assert early["request"] > early["offer"] > 0
    assert late["offer"] > 2 * late["request"] > 0


def test_pmk_methyl_glycidate_is_replaced_by_the_ethyl_ester_after_2019(
        postings: list[dict], truth: list[dict]) -> None:
    methyl, ethyl = Counter(), Counter()
    for year, line in _posting_years(postings, truth):
        methyl[year] += PMK_METHYL in line["substances"]
        ethyl[year] += PMK_ETHYL in line["substances"]
    rising = [methyl[year] for year in range(2011, 2020)]
    assert sum(rising[-3:]) > sum(rising[-6:-3]) > sum(rising[:3])
    for year in range(2020, 2025):
        assert methyl[year] < methyl[2019] / 2, year
        assert ethyl[year] > ethyl[2019], year


def test_platform_footer_hubs_appear_on_many_actors_postings(
        postings: list[dict], truth: list[dict], actors: dict[str, dict]) -> None:
    owned = {i["value"] for actor in actors.values() for i in actor["identifiers"]}
    footer_emails = {spec.name: spec.footer_email for spec in PLATFORM_SPECS if spec.footer_email}
    domains = {spec.domain: spec.name for spec in PLATFORM_SPECS}
    actors_by_hub: dict[str, set[str]] = defaultdict(set)
    for posting, line in zip(postings, truth, strict=True):
        platform = domains.get(posting["platform"], posting["platform"])
        hubs = {h["value"] for h in line["hub_identifiers"]}
        if platform in footer_emails:
            assert footer_emails[platform] in hubs
            assert footer_emails[platform] in posting["text"]
        assert not hubs & {i["value"] for i in line["identifiers"]}
        for hub in hubs:
            actors_by_hub[hub].add(line["actor"])
    for email in footer_emails.values():
        assert email not in owned
        assert len(actors_by_hub[email]) >= 10
    assert len(actors_by_hub["info@example-escrow.com"]) >= 5


def test_a_broker_handle_bridges_exactly_two_vendors(truth: list[dict],
                                                     actors: dict[str, dict]) -> None:
    broker_handles = {i["value"] for a in actors.values() if a["role"] == "broker"
                      for i in a["identifiers"]}
    vendors_by_handle: dict[str, set[str]] = defaultdict(set)
    for line in truth:
        if actors[line["actor"]]["role"] != "vendor":
            continue
        for hub in line["hub_identifiers"]:
            if hub["value"] in broker_handles:
                vendors_by_handle[hub["value"]].add(line["actor"])
    assert vendors_by_handle
    assert all(len(vendors) <= 2 for vendors in vendors_by_handle.values())
    assert any(len(vendors) == 2 for vendors in vendors_by_handle.values())


def test_removed_postings_reappear_elsewhere_with_the_same_contacts(
        postings: list[dict], truth: list[dict]) -> None:
    reappeared = 0
    for index, posting in enumerate(postings[:-1]):
        following, original, copy = postings[index + 1], truth[index], truth[index + 1]
        if "removed_at" not in posting or (copy["actor"], following["title"], following["text"][
                :100]) != (original["actor"], posting["title"], posting["text"][:100]):
            continue
        assert copy["identifiers"] == original["identifiers"]
        assert following["platform"] != posting["platform"]
        assert following.get("contacts") == posting.get("contacts")
        assert following["posted_at"][:10] >= posting["removed_at"]
        reappeared += 1
    assert reappeared >= 5


def test_seizures_name_vendors_in_spelling_variants(world: DemoSummary,
                                                    actors: dict[str, dict]) -> None:
    _, rows = _csv_rows(world.files["seizures"])
    seizure_truth = _jsonl(world.files["truth_seizures"])
    routes = {row["id"]: row for row in _csv_rows(world.files["routes"])[1]}
    linked = variant = with_contacts = 0
    for row, line in zip(rows, seizure_truth, strict=True):
        route = routes[row["route_id"]]
        assert (row["origin_country"], row["destination_country"]) == (
            route["origin_country"], route["destination_country"])
        assert float(row["quantity"]) > 0 and row["unit"] in ("kg", "l")
        if line["actor"] is None:
            continue
        linked += 1
        company = actors[line["actor"]]["company"]
        variant += row["consignor"] != company
        owned = {i["value"] for i in actors[line["actor"]]["identifiers"]}
        shown = {re.sub(r"[^\d+a-z@.\-_]", "", c.lower()) for c in row["contacts"].split(";")}
        with_contacts += any(
            re.sub(r"[^\d+a-z@.\-_]", "", c) in shown for c in owned)
    assert linked > len(rows) / 3
    assert variant > 0 and with_contacts > 0


def test_output_does_not_depend_on_the_interpreter_hash_seed(tmp_path: Path) -> None:
    """Set iteration order changes with PYTHONHASHSEED; none of it may leak into the files."""
    script = ("import sys; from pathlib import Path; from ingest.demo import write_demo_world; "
              "write_demo_world(Path(sys.argv[1]), postings=300, seed=3)")
    outputs = []
    for hash_seed in ("0", "1"):
        out = tmp_path / hash_seed
        subprocess.run([sys.executable, "-c", script, str(out)], check=True,
                       cwd=Path(__file__).resolve().parents[1],
                       env={**os.environ, "PYTHONHASHSEED": hash_seed})
        outputs.append({path.relative_to(out): path.read_bytes()
                        for path in sorted(out.rglob("*")) if path.is_file()})
    assert outputs[0] == outputs[1]
