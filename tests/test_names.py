"""Spelling variants of one company or person meet on one normalised name."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ingest.names import name_similarity, normalise_company, normalise_person


@pytest.mark.parametrize(
    ("variants", "normalised"),
    [
        (
            [
                "Hubei Xinyuan Chemical Co., Ltd.",
                "HUBEI XINYUAN CHEMICAL CO LTD",
                "Hubei Xinyuan Chemical Company Limited",
                "Hubei Xinyuan Chemical Co.,Ltd",
                "hubei  xinyuan chemical co. ltd",
                "Hubei Xinyuan Chemical Corp.",
            ],
            "hubei xinyuan chemical",
        ),
        (["Sun Pharma Pvt. Ltd.", "Sun Pharma Private Limited", "SUN PHARMA PVT LTD"],
         "sun pharma"),
        (["Maas Chemie B.V.", "Maas Chemie BV", "MAAS CHEMIE B V"], "maas chemie"),
        (["Müller Chemie GmbH", "Müller Chemie G.m.b.H.", "Muller Chemie GmbH & Co. KG"],
         "muller chemie"),
        (["Polchem Sp. z o.o.", "Polchem Sp.z o.o.", "POLCHEM SP Z OO"], "polchem"),
        (["Solmar S.A. de C.V.", "Solmar SA de CV"], "solmar"),
        (["ООО «Ромашка»", "OOO Romashka", "Romashka OOO"], "romashka"),
        (["Chimie Lyon SARL", "Chimie Lyon S.A.R.L."], "chimie lyon"),
        (["Kemdel Solvents Ltd. Şti.", "KEMDEL SOLVENTS LTD STI"], "kemdel solvents"),
        (["Maasdijk Chemicals BVBA", "Maasdijk Chemicals N.V."], "maasdijk chemicals"),
        (["Acme Chemicals Inc.", "Acme Chemicals, Inc", "ACME CHEMICALS INCORPORATED"],
         "acme chemicals"),
        (["Hubei Xinyuan Trading Co., Ltd.", "Hubei Xinyuan Trading Company Limited"],
         "hubei xinyuan"),
        (["Wuhan Kemi Import and Export Co., Ltd.", "Wuhan Kemi Imp & Exp Co Ltd"],
         "wuhan kemi"),
    ],
)  # fmt: skip
def test_company_variants_meet(variants: list[str], normalised: str) -> None:
    assert {normalise_company(name) for name in variants} == {normalised}


def test_company_words_that_are_not_legal_forms_are_kept() -> None:
    assert normalise_company("Xinyuan Chemical Co., Ltd.") == "xinyuan chemical"
    assert normalise_company("Xinyuan Pharmaceutical Technology Group Co., Ltd.") == (
        "xinyuan pharmaceutical technology"
    )
    assert normalise_company("Company Chemicals Ltd") == "company chemicals"  # leading word kept


def test_company_name_of_legal_forms_only_keeps_a_token() -> None:
    assert normalise_company("Co. Ltd") == "co"
    assert normalise_company("") == ""


def test_chinese_legal_form_is_dropped_and_the_name_transliterated() -> None:
    assert normalise_company("湖北鑫源化工有限公司") == "hu bei xin yuan hua gong"
    assert normalise_company("湖北鑫源化工股份有限公司") == "hu bei xin yuan hua gong"


@pytest.mark.parametrize(
    ("variants", "normalised"),
    [
        (["Zhang Wei", "WEI, Zhang", "zhang  wei", "张伟"], "wei zhang"),
        (["Dr. John Smith", "SMITH John", "Mr John Smith"], "john smith"),
        (["Иван Петров", "Petrov, Ivan"], "ivan petrov"),
        (["José Álvarez", "Jose ALVAREZ"], "alvarez jose"),
    ],
)
def test_person_variants_meet(variants: list[str], normalised: str) -> None:
    assert {normalise_person(name) for name in variants} == {normalised}


def test_name_similarity() -> None:
    assert name_similarity("Hubei Xinyuan Chemical Co., Ltd.",
                           "HUBEI XINYUAN CHEMICAL COMPANY LIMITED") == 1.0  # fmt: skip
    assert name_similarity("Xinyuan Chemical Hubei", "Hubei Xinyuan Chemical Co Ltd") == 1.0
    near = name_similarity("Hubei Xinyuan Chemical", "Hubei Xinyuan Chemicals")
    far = name_similarity("Hubei Xinyuan Chemical", "Shanghai Foo Trading")
    assert 0.9 < near < 1.0
    assert 0.0 <= far < 0.5


def _strip_by_scanning_every_form(tokens: list[str]) -> list[str]:
    """The plain definition: at each step the first form (longest first) that ends the name."""
    from ingest.names import _LEGAL_PREFIXES, _LEGAL_SUFFIXES

    first, end, stripped = 0, len(tokens), True
    while stripped:
        stripped = False
        for form in _LEGAL_SUFFIXES:
            if end - first > len(form) and tuple(tokens[end - len(form) : end]) == form:
                end, stripped = end - len(form), True
                break
        for form in _LEGAL_PREFIXES:
            if end - first > len(form) and tuple(tokens[first : first + len(form)]) == form:
                first, stripped = first + len(form), True
                break
    return tokens[first:end]


_NAME_WORDS = (
    "co", "ltd", "and", "kg", "gmbh", "sa", "de", "cv", "sp", "z", "oo", "ooo", "pt", "trading",
    "import", "export", "ao", "acme", "sti", "x",
)  # fmt: skip


@settings(max_examples=500, deadline=None)
@given(
    st.lists(
        st.sampled_from(_NAME_WORDS),
        max_size=9,
    )
)
def test_legal_forms_looked_up_by_edge_token_strip_like_a_scan_of_all(tokens: list[str]) -> None:
    from ingest.names import _strip_legal_forms

    assert _strip_legal_forms(tokens) == _strip_by_scanning_every_form(tokens)
