"""Campaign clustering on the sample's real campaign names: which merge, which stay apart."""

from __future__ import annotations

import pytest
from helpers.paths import SAMPLE
from mailbot.parsers.campaigns import canonical_names, same_campaign
from mailbot.store.db import create_schema, make_engine, session_scope

from mailbot.archive import export
from mailbot.archive.importer import import_paths


@pytest.fixture(scope="module")
def sample_campaigns(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """campaign as written -> campaign_canonical, from importing the sample mailbox."""
    engine = make_engine(f"sqlite:///{tmp_path_factory.mktemp('campaigns') / 'db.sqlite3'}")
    create_schema(engine)
    import_paths(engine, [SAMPLE], progress=False)
    with session_scope(engine) as session:
        rows = export.incidents(session)
    engine.dispose()
    return {r["campaign"]: r["campaign_canonical"] for r in rows}


def test_sample_has_one_misspelling_and_it_merges(sample_campaigns: dict[str, str]) -> None:
    assert len(sample_campaigns) == 62
    merged = {name: canonical for name, canonical in sample_campaigns.items() if name != canonical}
    assert merged == {"Apple-iCloud-AccountBreachd": "Apple-iCloud-AccountBreached"}


# Real names from the sample that look alike but are different campaigns.
APART = [
    ("Utility-30MinDisconnect", "Utility-30MinDisconnect - NC"),  # regional variant
    ("Amazon-AuthorizeOrder", "Amazon-AuthorizeOrder-P3"),  # priority tag
    ("Amazon-SuspiciousCharge", "Amazon-SuspiciousCharge-P1"),
    ("StudentLoan-Payments", "StudentLoan-Payments-P1"),
    ("StudentLoan-Forgiveness", "StudentLoan-ForgivenessCenter"),
    ("SSA-KindlyPressOne", "SSA-KindlyPressOne-2"),
    ("SSA-P1-BenefitsCanceled (GovtImpers)", "SSA-P1-BenefitsCanceled (GImpS)"),  # different tag
    ("AutoWarranty-Variious-P2", "AutoWarranty-Various-P3"),  # typo, but the tag differs too
    ("USTreas-SSA-EnforceAction (GovtImpers)", "USTreas-EnforcementAction-GImp"),
    ("CCIRR-Expire", "CCIRR - VisaAlert"),
    ("Utility-DisconnectDept", "Utility-30MinDisconnect"),
]


@pytest.mark.parametrize(("a", "b"), APART)
def test_real_lookalikes_stay_apart(sample_campaigns: dict[str, str], a: str, b: str) -> None:
    assert not same_campaign(a, b)
    if a in sample_campaigns and b in sample_campaigns:
        assert sample_campaigns[a] != sample_campaigns[b]


# Obvious misspellings of the sample's names, as staff or a portal might type them.
TYPOS = [
    ("Apple-iCloud-AccountBreachd", "Apple-iCloud-AccountBreached"),
    ("Utility-30MinDisconect", "Utility-30MinDisconnect"),
    ("Hotel-ComplimentaryStya", "Hotel-ComplimentaryStay"),
    ("TestCall-StaySafeStayHome", "TestCall-StaySafeStayHome "),  # trailing space
    ("spanish-autowarranty-upgrade", "Spanish-AutoWarranty-Upgrade"),  # case
]


@pytest.mark.parametrize(("typo", "name"), TYPOS)
def test_obvious_misspellings_merge_into_the_most_used_spelling(typo: str, name: str) -> None:
    mapping = canonical_names({name: 10, typo: 1})
    assert mapping == {name: name, typo: name}


def test_clusters_do_not_depend_on_order() -> None:
    counts = {"Apple-iCloud-AccountBreached": 19, "Apple-iCloud-AccountBreachd": 1, "Apple-SuspiciousActivity": 1}
    shuffled = dict(reversed(list(counts.items())))
    assert canonical_names(counts) == canonical_names(shuffled)
