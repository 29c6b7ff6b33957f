"""The substance reference is checked data, and postings name its substances by CAS number,
name, synonym or trade name in many spellings."""

from __future__ import annotations

import csv
from datetime import date
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ingest.substances import (
    InvalidCas,
    Substance,
    SubstanceReference,
    is_valid_cas,
    substance_key,
)

REFERENCE_CSV = Path(__file__).resolve().parent.parent / "ingest" / "reference" / "precursors.csv"
SHARED_COLUMNS = ["name", "synonyms", "cas", "convention_table", "year_in_force", "notes",
                  "confidence"]  # fmt: skip


@pytest.fixture(scope="module")
def reference() -> SubstanceReference:
    return SubstanceReference.load()


def keys(reference: SubstanceReference, text: str) -> list[str]:
    mentions, _ = reference.find(text)
    return [mention.substance.key for mention in mentions]


def cas_check_digit_ok(cas: str) -> bool:
    """Independent CAS check: digits right to left weighted 1, 2, 3, ... mod 10."""
    body, check = cas[: cas.rindex("-")].replace("-", ""), int(cas[-1])
    return sum(int(d) * w for w, d in enumerate(reversed(body), start=1)) % 10 == check


# --- the reference file ---------------------------------------------------------------------


def test_reference_rows_are_well_formed() -> None:
    with REFERENCE_CSV.open(encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle)
        rows = list(reader)
        columns = reader.fieldnames or []
    assert columns[: len(SHARED_COLUMNS)] == SHARED_COLUMNS
    assert {"in_force", "date_precision", "analogue_of"} <= set(columns)
    assert len(rows) == 73
    cas_numbers = [row["cas"] for row in rows if row["cas"]]
    assert len(cas_numbers) == len(set(cas_numbers)) == 60
    for row in rows:
        assert not row["cas"] or cas_check_digit_ok(row["cas"]), row["cas"]
        assert row["confidence"] in {"seen in public sources", "recalled"}
        if row["in_force"]:
            date.fromisoformat(row["in_force"])
            assert row["date_precision"] in {"day", "year"}
            if row["date_precision"] == "year":
                assert row["in_force"].endswith("-01-01")
        else:
            assert row["date_precision"] == ""


def test_known_traps_are_fixed(reference: SubstanceReference) -> None:
    norfentanyl = reference.by_name("norfentanyl")
    assert norfentanyl is not None and norfentanyl.cas == "1609-66-1"
    assert reference.by_key("1609-66-5") is None
    assert reference.by_key("16648-44-5").name == "Methyl alpha-phenylacetoacetate"  # MAPA
    assert reference.by_key("3612-20-2").name == "1-Benzyl-4-piperidone"
    assert reference.by_key("40064-34-4").name == "4-Piperidone hydrochloride monohydrate"


def test_every_substance_has_a_key_and_known_analogue(reference: SubstanceReference) -> None:
    substances = list(reference)
    assert len(substances) == len(reference) == 73
    assert len({s.key for s in substances}) == 73
    for substance in substances:
        assert substance.key == substance_key(substance.name, substance.cas)
        assert substance.analogue_of is None or reference.by_key(substance.analogue_of)


def test_key_without_cas_is_the_normalised_name(reference: SubstanceReference) -> None:
    ester = reference.by_name("BMK propyl glycidate")
    assert ester is not None and ester.cas is None
    assert ester.key == "name:p-2-p-methyl-glycidic-acid-propyl-ester"
    assert reference.by_key(ester.key) is ester


def test_load_refuses_a_bad_check_digit(tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text(
        "name,synonyms,cas,convention_table,year_in_force,notes,confidence,in_force,"
        "date_precision,analogue_of,family,family_names\n"
        "Norfentanyl,,1609-66-5,I,2022,,recalled,2022-11-23,day,,,\n",
        encoding="utf-8",
    )
    with pytest.raises(ValueError, match="check digit"):
        SubstanceReference.load(bad)


def test_load_refuses_a_name_shared_by_two_substances(tmp_path: Path) -> None:
    clash = tmp_path / "clash.csv"
    clash.write_text(
        "name,synonyms,cas,convention_table,year_in_force,notes,confidence,in_force,"
        "date_precision,analogue_of,family,family_names\n"
        "Safrole,sassafras oil,94-59-7,I,1992,,recalled,1992-01-01,year,,,\n"
        "Isosafrole,Sassafras-Oil,120-58-1,I,1992,,recalled,1992-01-01,year,,,\n",
        encoding="utf-8",
    )
    with pytest.raises(ValueError, match="names both"):
        SubstanceReference.load(clash)


# --- CAS numbers ----------------------------------------------------------------------------


@pytest.mark.parametrize("cas", ["28578-16-7", "13605-48-6", "108-24-7", "2167189-50-4", "50-00-0"])
def test_valid_cas_numbers(cas: str) -> None:
    assert is_valid_cas(cas)


@pytest.mark.parametrize("text", ["28578-16-8", "1609-66-5", "28578-16-", "2857816-7", "PMK", ""])
def test_invalid_cas_numbers(text: str) -> None:
    assert not is_valid_cas(text)


def test_find_by_cas(reference: SubstanceReference) -> None:
    mentions, invalid = reference.find("Hot sale CAS 28578-16-7, also CAS NO.13605-48-6!")
    assert [(m.substance.key, m.raw, m.via) for m in mentions] == [
        ("28578-16-7", "28578-16-7", "cas"),
        ("13605-48-6", "13605-48-6", "cas"),
    ]
    assert invalid == []


def test_full_width_cas_number(reference: SubstanceReference) -> None:
    assert keys(reference, "ＣＡＳ １３６０５－４８－６") == ["13605-48-6"]


def test_failing_check_digit_is_reported_not_linked(reference: SubstanceReference) -> None:
    mentions, invalid = reference.find("norfentanyl CAS 1609-66-5")
    assert invalid == [InvalidCas("1609-66-5", "check digit 5, expected 1")]
    assert [m.via for m in mentions] == ["name"]  # the name still counts; the number does not


def test_unknown_valid_cas_becomes_an_unlisted_substance(reference: SubstanceReference) -> None:
    mentions, invalid = reference.find("formaldehyde 50-00-0")
    assert invalid == []
    assert mentions[0].substance == Substance("50-00-0", "50-00-0", "50-00-0", (), "unlisted",
                                              None, None)  # fmt: skip


@pytest.mark.parametrize(
    "text",
    ["tel 138-00-13800", "ref 1234567890-12-3", "5-28578-16-7", "28578-16-7-1", "v28578-16-7x1"],
)
def test_cas_inside_longer_numbers_is_ignored(reference: SubstanceReference, text: str) -> None:
    mentions, invalid = reference.find(text)
    assert [m for m in mentions if m.via == "cas" and m.raw != "28578-16-7"] == []
    assert invalid == []


# --- names ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("PMK ethyl glycidate", "28578-16-7"),
        ("pmk-ethyl-glycidate", "28578-16-7"),
        ("PMK_ETHYL_GLYCIDATE", "28578-16-7"),
        ("3,4-MDP-2-P ethyl glycidate", "28578-16-7"),
        ("PMK methyl glycidate", "13605-48-6"),
        ("3,4-MDP-2-P methyl glycidate", "13605-48-6"),
        ("PMK glycidic acid", "2167189-50-4"),
        ("BMK methyl glycidate", "80532-66-7"),
        ("BMK ethyl glycidate", "41232-97-7"),
        ("BMK sodium glycidate", "5449-12-7"),
        ("APAAN", "4468-48-8"),
        ("alpha-phenylacetoacetonitrile", "4468-48-8"),
        ("α-phenylacetoacetonitrile", "4468-48-8"),
        ("a-phenylacetoacetonitrile", "4468-48-8"),
        ("APAA", "4433-77-6"),
        ("MAPA", "16648-44-5"),
        ("methyl alpha-phenylacetoacetate", "16648-44-5"),
        ("NPP", "39742-60-4"),
        ("N-phenethyl-4-piperidone", "39742-60-4"),
        ("4-ANPP", "21409-26-7"),
        ("ANPP", "21409-26-7"),
        ("1-boc-4-piperidone", "79099-07-3"),
        ("N-Boc-4-piperidone", "79099-07-3"),
        ("tert-butyl 4-oxopiperidine-1-carboxylate", "79099-07-3"),
        ("4-piperidone", "41661-47-6"),
        ("4-piperidone HCl", "40064-34-4"),
        ("1-boc-4-AP", "125541-22-2"),
        ("4-AP", "23056-29-3"),
        ("acetic anhydride", "108-24-7"),
        ("Ac2O", "108-24-7"),
        ("ACETIC ANHYDRIDE", "108-24-7"),
        ("potassium permanganate", "7722-64-7"),
        ("sulfuric acid", "7664-93-9"),
        ("sulphuric acid", "7664-93-9"),
        ("P2P", "103-79-7"),
        ("phenylacetone", "103-79-7"),
        ("MDP2P", "4676-39-5"),
        ("GBL", "96-48-0"),
        ("γ-butyrolactone", "96-48-0"),
        ("2-bromo-4'-methylpropiophenone", "1451-82-7"),
        ("2-bromo-4-methylpropiophenone", "1451-82-7"),
        ("BMK propyl glycidate", "name:p-2-p-methyl-glycidic-acid-propyl-ester"),
    ],
)
def test_find_by_name_and_synonym(reference: SubstanceReference, text: str, key: str) -> None:
    assert keys(reference, f"We supply {text} with safe delivery.") == [key]


def test_names_match_whole_words_only(reference: SubstanceReference) -> None:
    assert keys(reference, "pseudoephedrine") == ["90-82-4"]
    assert keys(reference, "norephedrine and ephedrine") == ["14838-15-4", "299-42-3"]
    assert keys(reference, "xPMK PMKx MAPAAN apaans") == []


def test_names_next_to_chinese_text(reference: SubstanceReference) -> None:
    assert keys(reference, "我们供应PMK乙基缩水甘油酸酯") == ["4676-39-5"]


def test_longest_name_wins(reference: SubstanceReference) -> None:
    mentions, _ = reference.find("Sale: PMK ethyl glycidate oil")
    assert [(m.substance.key, m.raw) for m in mentions] == [("28578-16-7", "PMK ethyl glycidate")]


def test_mentions_are_deduplicated_with_the_cas_as_evidence(
    reference: SubstanceReference,
) -> None:
    mentions, _ = reference.find("PMK ethyl glycidate CAS 28578-16-7; pmk ethyl glycidate")
    assert [(m.substance.key, m.raw, m.via) for m in mentions] == [
        ("28578-16-7", "28578-16-7", "cas")
    ]


# --- trade names ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("BMK glycidate in stock", ["80532-66-7"]),
        ("BMK glycidate CAS 16648-44-5", ["16648-44-5"]),  # MAPA sold under that label
        ("BMK glycidate (CAS No. 5449-12-7)", ["5449-12-7"]),
        ("BMK glycidic acid CAS 5449-12-7", ["5449-12-7"]),
        ("BMK glycidic acid", ["5449-12-7"]),  # as sold: the sodium salt
        ("BMK powder", ["5449-12-7"]),
        ("PMK glycidate 28578-16-7", ["28578-16-7"]),
        ("PMK glycidate", ["13605-48-6"]),
        ("PMK powder", ["13605-48-6"]),
        ("new PMK oil", ["28578-16-7"]),
        ("PMK", ["4676-39-5"]),
        ("BMK", ["103-79-7"]),
        ("CAS 5449-12-7 in stock. Other products: BMK glycidate.", ["5449-12-7", "80532-66-7"]),
        ("BMK methyl glycidate CAS 5449-12-7", ["80532-66-7", "5449-12-7"]),  # specific name
        ("PMK oil 21409-26-7", ["28578-16-7", "21409-26-7"]),  # other family: both
    ],
)
def test_trade_names_yield_to_an_adjacent_cas_of_their_family(
    reference: SubstanceReference, text: str, expected: list[str]
) -> None:
    assert keys(reference, text) == expected


def test_by_name_for_seizure_records(reference: SubstanceReference) -> None:
    assert reference.by_name("PMK ethyl glycidate").key == "28578-16-7"
    assert reference.by_name("  pmk-ethyl-glycidate ").key == "28578-16-7"
    assert reference.by_name("BMK glycidate").key == "80532-66-7"
    assert reference.by_name("28578-16-7").key == "28578-16-7"
    assert reference.by_name("PMK ethyl glycidate (oil, 25 l drums)").key == "28578-16-7"
    assert reference.by_name("cocaine") is None
    assert reference.by_name("APAAN and MAPA") is None  # two substances: not one name


# --- control dates and analogues ------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "in_force"),
    [
        ("28578-16-7", date(2024, 12, 3)),  # CND 67
        ("5449-12-7", date(2024, 12, 3)),  # salt of a CND 67 substance
        ("13605-48-6", date(2019, 11, 19)),  # CND March 2019
        ("2167189-50-4", date(2019, 11, 19)),
        ("4433-77-6", date(2019, 11, 19)),
        ("4468-48-8", date(2014, 10, 6)),  # APAAN
        ("16648-44-5", date(2020, 11, 3)),  # MAPA
        ("108-24-7", date(1990, 11, 11)),  # 1988 Convention in force
    ],
)
def test_controlled_at_turns_on_the_in_force_date(
    reference: SubstanceReference, key: str, in_force: date
) -> None:
    substance = reference.by_key(key)
    assert substance.in_force == in_force
    assert not substance.controlled_at(date.fromordinal(in_force.toordinal() - 1))
    assert substance.controlled_at(in_force)
    assert substance.controlled_at(None)  # today


def test_substitutes_without_international_control(reference: SubstanceReference) -> None:
    eapa = reference.by_key("5413-05-8")
    assert eapa.in_force is None and eapa.table.startswith("none")
    assert not eapa.controlled_at(date(2030, 1, 1))
    assert not eapa.controlled_at(None)


def test_analogues_declare_the_substitution_pairs(reference: SubstanceReference) -> None:
    pairs = {(scheduled.key, substitute.key) for scheduled, substitute in reference.analogues()}
    assert {
        ("13605-48-6", "28578-16-7"),  # PMK methyl -> ethyl glycidate
        ("4676-39-5", "13605-48-6"),  # PMK -> PMK glycidate
        ("103-79-7", "4468-48-8"),  # BMK -> APAAN
        ("4468-48-8", "16648-44-5"),  # APAAN -> MAPA
        ("16648-44-5", "5449-12-7"),  # MAPA -> BMK glycidate sodium salt
        ("16648-44-5", "80532-66-7"),
        ("21409-26-7", "23056-29-3"),  # ANPP -> 4-AP
        ("39742-60-4", "79099-07-3"),  # NPP -> 1-boc-4-piperidone
    } <= pairs
    for scheduled, substitute in reference.analogues():
        assert substitute.analogue_of == scheduled.key


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.sampled_from(["PMK", " glycidate", "BMK", "CAS ", "28578-16-7", "1609-66-5", "-",
                         " ", "α-", "phenylacetoacetonitrile", "（", "，"])
        | st.text(max_size=6),
        max_size=12,
    ).map("".join)
)  # fmt: skip
def test_any_text_gives_well_formed_mentions(reference: SubstanceReference, text: str) -> None:
    mentions, invalid = reference.find(text)
    assert len({m.substance.key for m in mentions}) == len(mentions)
    for mention in mentions:
        assert mention.via in {"cas", "name"}
        assert mention.via == "name" or is_valid_cas(mention.raw)
    assert all(not is_valid_cas(bad.raw) for bad in invalid)
