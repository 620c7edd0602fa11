import csv
from pathlib import Path

import pytest

from riskengine.signals.email import email_signals
from riskengine.signals.mailbox import fold, load_providers, providers

CASES = Path(__file__).resolve().parents[1] / "data" / "identity" / "alias_cases.tsv"


def _cases(kind):
    with CASES.open(encoding="utf-8") as f:
        rows = csv.DictReader((line for line in f if not line.startswith("#")), delimiter="\t")
        return [pytest.param(r["address"], r["mailbox"], id=f"{r['rule']}: {r['address']}")
                for r in rows if r["kind"] == kind]


@pytest.mark.parametrize("address, mailbox", _cases("alias"))
def test_documented_alias_folds(address, mailbox):
    s = email_signals(address)
    assert (s.mailbox, s.alias_folded) == (mailbox, True)


@pytest.mark.parametrize("address, mailbox", _cases("canonical"))
def test_canonical_spelling_is_the_same_mailbox_but_no_alias(address, mailbox):
    s = email_signals(address)
    assert (s.mailbox, s.alias_folded) == (mailbox, False)


@pytest.mark.parametrize("address, mailbox", _cases("keep"))
def test_no_false_fold(address, mailbox):
    s = email_signals(address)
    assert (s.mailbox, s.alias_folded) == (mailbox, False)


def test_every_rule_of_the_table_is_exercised_by_a_case():
    with CASES.open(encoding="utf-8") as f:
        rules = {line.split("\t")[3].strip() for line in f if not line.startswith(("#", "address"))}
    for provider in set(providers().values()):
        first = provider.name.split()[0].split("/")[0]
        for rule in ("canonical_domain", "tag_separators", "ignored_characters", "same_characters",
                     "subdomain_addressing"):
            value = getattr(provider, rule)
            if value:
                assert f"{first} {rule}" in rules, f"{provider.name}: no case for {rule}"


def test_every_country_domain_takes_the_provider_rule():
    for domain, provider in providers().items():
        if provider.tag_separators and not provider.canonical_domain:
            sep = provider.tag_separators[0]
            box = fold(f"bob{sep}x", domain)
            assert box.aliased and box.domain == domain, domain


def test_yahoo_key_never_equals_a_yahoo_id():
    # Yahoo IDs cannot contain '-': the disposable family's key is distinct from "bob@yahoo.com"
    assert fold("bob-x", "yahoo.com").address != fold("bob", "yahoo.com").address
    assert fold("bob-x", "yahoo.com").address == fold("bob-y", "yahoo.com").address


def test_subdomain_addressing_with_a_tag_in_the_local_part():
    assert fold("shop+promo", "bob.sent.com").address == "bob@sent.com"


def test_a_rule_without_documentation_is_refused():
    with pytest.raises(ValueError, match="cites no documentation"):
        load_providers('[[provider]]\nname = "X"\ndomains = ["x.example"]\ntag_separators = ["+"]\n')


def test_a_domain_in_two_providers_is_refused():
    with pytest.raises(ValueError, match="listed twice"):
        load_providers('[[provider]]\nname = "A"\ndomains = ["x.example"]\n'
                       '[[provider]]\nname = "B"\ndomains = ["x.example"]\n')


def test_unknown_tag_key_is_refused():
    with pytest.raises(ValueError, match="tag_key"):
        load_providers('[[provider]]\nname = "A"\ndomains = ["x.example"]\ntag_key = "nope"\n')
