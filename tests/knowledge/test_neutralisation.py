"""PII neutralisation (knowledge.neutralisation): pure, offline, no database."""

from __future__ import annotations

import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from knowledge import neutralisation
from knowledge.neutralisation import engine
from tests import pii_set

ROOT = Path(__file__).resolve().parents[2]


def _refuse(*args: Any, **kwargs: Any) -> Any:
    raise OSError("network is disabled in the neutralisation tests")


@pytest.fixture(autouse=True)
def no_network(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Every test here runs with Python's sockets unable to resolve or connect."""
    monkeypatch.setattr(socket.socket, "connect", _refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", _refuse)
    monkeypatch.setattr(socket, "create_connection", _refuse)
    monkeypatch.setattr(socket, "getaddrinfo", _refuse)
    yield


def neutralise(text: str, regions: tuple[str, ...] = ("DE",), **kwargs: Any) -> neutralisation.Neutralised:
    return neutralisation.neutralise(text, regions=regions, **kwargs)


def test_each_type_is_replaced_by_its_typed_placeholder() -> None:
    result = neutralise(
        "Mail anna.weber@example.de, call 030 1234567, card 5555 5555 5555 4444, "
        "IBAN DE89 3704 0044 0532 0130 00, Steuer-ID 86095742719."
    )

    assert result.text == ("Mail <EMAIL>, call <PHONE>, card <CARD>, IBAN <IBAN>, Steuer-ID <NATIONAL_ID>.")
    assert result.counts == {"EMAIL": 1, "PHONE": 1, "CARD": 1, "IBAN": 1, "NATIONAL_ID": 1}


def test_the_same_value_always_becomes_the_same_placeholder_and_each_occurrence_is_counted() -> None:
    result = neutralise("From a@example.com to b@example.org, cc a@example.com. Call +44 20 7946 0958 or +44 20 7946 0958.")

    assert result.text == "From <EMAIL> to <EMAIL>, cc <EMAIL>. Call <PHONE> or <PHONE>."
    assert result.counts == {"EMAIL": 3, "PHONE": 2}


def test_counts_name_types_and_numbers_never_values() -> None:
    result = neutralise("Reply to jo@example.com; SSN 536-90-4399.", regions=("US",))

    assert result.counts == {"EMAIL": 1, "NATIONAL_ID": 1}
    assert all(isinstance(count, int) for count in result.counts.values())


def test_the_tenants_own_contact_details_on_the_allow_list_are_kept_in_any_spelling() -> None:
    text = "Our line is 030 1234567, write to Info@BrightSmile.example. The patient's is 030 7654321, pat@example.com."

    result = neutralise(text, allow=["+49 30 1234567", "info@brightsmile.example", "Hauptstr. 1, 10115 Berlin"])

    assert result.text == ("Our line is 030 1234567, write to Info@BrightSmile.example. "
                           "The patient's is <PHONE>, <EMAIL>.")
    assert result.counts == {"PHONE": 1, "EMAIL": 1}


def test_national_numbers_count_only_for_the_configured_regions_international_ones_always() -> None:
    text = "Call 030 1234567 or +49 30 7654321 or (212) 555-0198."

    assert neutralise(text, regions=("US",)).text == "Call 030 1234567 or <PHONE> or <PHONE>."
    assert neutralise(text, regions=("DE",)).text == "Call <PHONE> or <PHONE> or (212) 555-0198."
    assert neutralise(text, regions=("DE", "US")).counts == {"PHONE": 3}


def test_cards_include_mastercard_2_series_and_19_digit_numbers_but_not_luhn_failures() -> None:
    result = neutralise("Cards 2221 0000 0000 0009, 4000000000000000006 and 4000 1234 5678 9011 (not Luhn).")

    assert result.text == "Cards <CARD>, <CARD> and 4000 1234 5678 9011 (not Luhn)."


def test_a_bare_nine_digit_id_is_neutralised_only_after_its_keyword() -> None:
    assert neutralise("Mijn BSN is 111222333.", regions=("NL",)).text == "Mijn BSN is <NATIONAL_ID>."
    assert neutralise("Ordernummer 111222333.", regions=("NL",)).text == "Ordernummer 111222333."


def test_structured_national_ids_need_no_keyword_and_invalid_ones_stay() -> None:
    text = "Ref AB 12 34 56 C, 12345678Z, RSSMRA85T10A562S; not AA 12 34 56 E, 12345678A."

    result = neutralise(text, regions=("GB",))

    assert result.text == "Ref <NATIONAL_ID>, <NATIONAL_ID>, <NATIONAL_ID>; not AA 12 34 56 E, 12345678A."


def test_an_id_is_never_cut_out_of_a_longer_number_or_glued_to_a_word() -> None:
    nl = neutralise("Mijn BSN is 439275088. Creditcard 4967912173297.", regions=("NL",))
    fr = neutralise("La commande 11883735 a été expédiée.", regions=("FR",))

    assert nl.text == "Mijn BSN is <NATIONAL_ID>. Creditcard <CARD>."
    assert fr.text == "La commande 11883735 a été expédiée."


def test_bare_digit_runs_are_phones_only_when_announced_or_alone_on_a_line() -> None:
    text = "Your order number is 4083187538.\nCall 4083187538 today.\n\nBest,\nJo\n4083187538\n"

    result = neutralise(text, regions=("US",))

    assert result.text == "Your order number is 4083187538.\nCall <PHONE> today.\n\nBest,\nJo\n<PHONE>\n"


def test_person_names_are_neutralised_only_when_asked() -> None:
    text = "Dear Anna Weber,\nplease call back.\n\nKind regards,\nTom Baker\n"

    assert neutralise(text).text == text
    named = neutralise(text, person_names=True)
    assert named.text == "Dear <PERSON>,\nplease call back.\n\nKind regards,\n<PERSON>\n"
    assert named.counts == {"PERSON": 2}


def test_an_unknown_region_or_a_non_text_raises() -> None:
    with pytest.raises(neutralisation.NeutralisationError):
        neutralise("call 030 1234567", regions=("Atlantis",))
    with pytest.raises(neutralisation.NeutralisationError):
        neutralise(b"call 030 1234567")  # type: ignore[arg-type]


def test_a_failure_inside_presidio_raises_and_never_returns_the_text(monkeypatch: pytest.MonkeyPatch) -> None:
    analyzer = engine.engines().analyzer

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("analyzer broke")

    monkeypatch.setattr(analyzer, "analyze", broken)

    with pytest.raises(neutralisation.NeutralisationError) as raised:
        neutralise("mail anna@example.com")
    assert "anna@example.com" not in str(raised.value)
    with pytest.raises(neutralisation.NeutralisationError):
        neutralisation.detect("mail anna@example.com", regions=("DE",))


def test_a_failure_in_the_anonymizer_raises(monkeypatch: pytest.MonkeyPatch) -> None:
    anonymizer = engine.engines().anonymizer
    monkeypatch.setattr(anonymizer, "anonymize", lambda **kwargs: None)

    with pytest.raises(neutralisation.NeutralisationError):
        neutralise("mail anna@example.com")


def test_the_engine_is_built_once_per_process() -> None:
    assert engine.engines() is engine.engines()


def test_detect_reports_the_spans_neutralise_replaces() -> None:
    text = "Mail jo@example.com or call 030 1234567."

    found = neutralisation.detect(text, regions=("DE",))

    assert [(text[f.start:f.end], f.entity) for f in found] == [("jo@example.com", "EMAIL"), ("030 1234567", "PHONE")]


def test_locales_map_to_phone_regions() -> None:
    assert neutralisation.regions_for_locale("en-US") == ("US",)
    assert neutralisation.regions_for_locale("de_DE") == ("DE",)
    assert neutralisation.regions_for_locale("en-GB") == ("GB",)
    assert neutralisation.regions_for_locale("fr") == ("FR", "BE", "CH")


def test_no_seeded_value_of_the_labelled_set_survives_and_every_distractor_does() -> None:
    samples = pii_set.build(seed=3, per_locale=8)

    for sample in samples:
        result = neutralise(sample.text, regions=(sample.region,))
        for entity in sample.entities:
            if entity.kind != "PERSON":
                assert entity.value not in result.text, (sample.locale, entity)
        for distractor in sample.distractors:
            assert distractor.value in result.text, (sample.locale, distractor)


_OFFLINE_SCRIPT = """
import socket, sys
def refuse(*args, **kwargs):
    raise OSError("network disabled")
socket.socket.connect = refuse
socket.socket.connect_ex = refuse
socket.create_connection = refuse
socket.getaddrinfo = refuse
import knowledge.neutralisation as n
assert "presidio_analyzer" not in sys.modules, "importing the package must not import Presidio"
result = n.neutralise("Write to anna@example.co.uk or ring +44 20 7946 0958.", regions=["GB"])
print(result.text)
"""


def test_a_fresh_process_builds_the_engine_and_neutralises_without_network_or_cache(tmp_path: Path) -> None:
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "XDG_CACHE_HOME": str(tmp_path / "cache"),
           "TLDEXTRACT_CACHE": str(tmp_path / "tld"), "PYTHONPATH": str(ROOT)}

    done = subprocess.run([sys.executable, "-c", _OFFLINE_SCRIPT], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)

    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "Write to <EMAIL> or ring <PHONE>."
    assert not any(tmp_path.rglob("*")), "nothing may be downloaded or cached"
