"""Negotiation policy: validation, JSON round trip, limits and instalment plans."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from agent import terms
from agent.errors import ConfigError
from agent.events import Promise
from agent.terms import NegotiationPolicy

TODAY, DUE = date(2026, 12, 10), date(2026, 12, 15)


def test_round_trip_through_dict() -> None:
    policy = NegotiationPolicy(min_partial_share=0.3, max_delay_days=7, max_instalments=2,
                               counter_offers=False, max_reprompts=1)
    assert NegotiationPolicy.from_dict(policy.to_dict()) == policy


@pytest.mark.parametrize(("data", "message"), [
    ({"min_partial_share": 0}, "min_partial_share"),
    ({"max_instalments": 0}, "max_instalments"),
    ({"max_delay_days": "7"}, "max_delay_days must be int"),
    ({"counter_offers": 1}, "counter_offers must be bool"),
    ({"colour": 1}, "unknown key 'colour'"),
])
def test_bad_policy_fails_naming_the_key(data: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        NegotiationPolicy.from_dict(data)


def test_load_policy_from_toml_table(tmp_path: Path) -> None:
    path = tmp_path / "p.toml"
    path.write_text("[negotiation]\nmin_partial_share = 1\nmax_delay_days = 3\n", "utf-8")
    policy = terms.load_policy(path)
    assert (policy.min_partial_share, policy.max_delay_days) == (1.0, 3)


def test_deadline_counts_from_the_later_of_today_and_due() -> None:
    policy = NegotiationPolicy(max_delay_days=10)
    assert terms.deadline(policy, TODAY, DUE) == date(2026, 12, 25)
    assert terms.deadline(policy, date(2026, 12, 20), DUE) == date(2026, 12, 30)


def test_allowed_checks_amount_and_date() -> None:
    policy = NegotiationPolicy(min_partial_share=0.5, max_delay_days=10)
    ok = [Promise(amount=500, date="2026-12-25")]
    assert terms.allowed(policy, ok, 1000, TODAY, DUE)
    assert not terms.allowed(policy, [Promise(amount=499, date="2026-12-11")], 1000, TODAY, DUE)
    assert not terms.allowed(policy, [Promise(amount=1000, date="2026-12-26")], 1000, TODAY, DUE)
    assert not terms.allowed(policy, [Promise(amount=1000, date="2026-12-09")], 1000, TODAY, DUE)


def test_plan_splits_the_whole_amount_up_to_the_deadline() -> None:
    policy = NegotiationPolicy(max_delay_days=10, max_instalments=3)
    plan = terms.plan(policy, 1000, TODAY, DUE)
    assert [(p.amount, p.date, p.instalment) for p in plan] == [
        (333, "2026-12-10", 1), (333, "2026-12-17", 2), (334, "2026-12-25", 3)]
    assert terms.allowed(policy, plan, 1000, TODAY, DUE)


def test_no_plan_when_instalments_are_off() -> None:
    assert terms.plan(NegotiationPolicy(max_instalments=1), 1000, TODAY, DUE) == ()


def test_config_negotiation_section_file_and_env(tmp_path: Path) -> None:
    from agent.config import load_config

    path = tmp_path / "tagih.toml"
    path.write_text("[negotiation]\nmax_delay_days = 3\ncounter_offers = false\n", "utf-8")
    cfg = load_config(path, env={"TAGIH_NEGOTIATION_MIN_PARTIAL_SHARE": "0.7"})
    assert cfg.negotiation == NegotiationPolicy(min_partial_share=0.7, max_delay_days=3,
                                                counter_offers=False)
