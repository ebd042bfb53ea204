from __future__ import annotations

import pytest

from service.rules import Rules, RulesError, Thresholds, load_rules, parse_rules

SCORES = {"incivility": 0.5, "personal_attack": 0.1, "off_topic": None, "threat": 0.02}


def test_banned_word_rejects_before_any_threshold():
    rules = Rules(banned_words=("buy now",), thresholds={"incivility": Thresholds(hold_at=0.1)})
    verdict = rules.judge("Great deals, BUY NOW!", SCORES, [])
    assert (verdict.status, verdict.rule) == ("rejected", "banned word 'buy now'")


def test_words_match_whole_words_only():
    rules = Rules(banned_words=("ass",), hold_on_model_flags=False)
    assert rules.judge("a class act", SCORES, []).status == "pending"


def test_thresholds_reject_hold_and_approve():
    limits = {"incivility": Thresholds(approve_below=0.6, hold_at=0.7, reject_at=0.9)}
    rules = Rules(thresholds=limits, hold_on_model_flags=False)
    assert rules.judge("x", {"incivility": 0.95}, []).rule == "incivility 0.95 >= reject_at 0.9"
    assert rules.judge("x", {"incivility": 0.75}, []).status == "flagged"
    approved = rules.judge("x", {"incivility": 0.5}, [])
    assert approved.status == "approved" and "incivility < 0.6" in approved.rule
    assert rules.judge("x", {"incivility": 0.65}, []).status == "pending"


def test_unscored_attribute_never_auto_approves():
    rules = Rules(thresholds={"off_topic": Thresholds(approve_below=0.5)})
    assert rules.judge("x", SCORES, []).status == "pending"


def test_model_flags_and_suspect_words_hold():
    assert Rules().judge("x", SCORES, ["incivility"]).rule == "model flagged incivility (0.50)"
    assert Rules().judge("x", SCORES, ["sarcasm"]).status == "pending"  # not a risk attribute
    held = Rules(suspect_words=("idiot",)).judge("What an Idiot", SCORES, [])
    assert (held.status, held.rule) == ("flagged", "suspect word 'idiot'")


def test_risk_is_the_highest_risk_score_with_the_sum_as_tie_breaker():
    assert Rules(risk_attributes=("incivility", "threat", "off_topic")).risk(SCORES) == (
        0.5, 0.52)


@pytest.mark.parametrize("data, key", [
    ({"attributes": {"rudeness": {"hold_at": 0.5}}}, "attributes.rudeness"),
    ({"attributes": {"incivility": {"hold_at": 2}}}, "attributes.incivility.hold_at"),
    ({"attributes": {"incivility": {"hold": 0.5}}}, "attributes.incivility.hold"),
    ({"banned_words": "spam"}, "banned_words"),
    ({"risk_attributes": []}, "risk_attributes"),
    ({"hold_on_model_flags": "yes"}, "hold_on_model_flags"),
    ({"colour": "red"}, "colour"),
])
def test_bad_rules_name_the_key(data, key):
    with pytest.raises(RulesError, match=key.replace(".", r"\.")):
        parse_rules(data)


def test_the_shipped_rules_file_loads(tmp_path):
    from pathlib import Path

    rules = load_rules(Path(__file__).resolve().parents[2] / "configs" / "rules.toml")
    assert rules.thresholds["incivility"].hold_at == 0.8
    (tmp_path / "bad.toml").write_text("hold_at = [", encoding="utf-8")
    with pytest.raises(RulesError, match="not valid TOML"):
        load_rules(tmp_path / "bad.toml")
    with pytest.raises(RulesError, match="not found"):
        load_rules(tmp_path / "missing.toml")


def test_a_bad_rules_file_stops_the_service_with_the_reason(app_client, tmp_path):
    (tmp_path / "rules.toml").write_text("[attributes.rudeness]\nhold_at = 0.5\n")
    with pytest.raises(RuntimeError, match="attributes.rudeness"):
        app_client(rules_file=tmp_path / "rules.toml")
