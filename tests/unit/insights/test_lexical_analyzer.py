"""The offline ``lexical`` analyzer, pinned on the four shipped sample calls.

The expectations come from reading each dialogue (include/samples/calls/*.truth.json);
the reason is written next to each.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from callmine.insights import lexical
from callmine.insights.lexical import LexicalAnalyzer
from callmine.insights.lexical_cues import split
from callmine.insights.model import CallInsights, CallText, Turn

CALLS_DIR = Path(__file__).resolve().parents[3] / "include" / "samples" / "calls"
NORTHWIND = "2026-11-18_northwind-sales_mono"
CANCEL = "2026-11-19_subscription-cancel_mono"
RENEWAL = "2026-11-20_acme-renewal_stereo"
REFUND = "2026-11-21_billing-refund_stereo"
SAMPLES = (NORTHWIND, CANCEL, RENEWAL, REFUND)
TOLERANCE_S = 3.0


def truth(name: str) -> dict:
    return json.loads((CALLS_DIR / f"{name}.truth.json").read_text(encoding="utf-8"))


def sample_call(name: str) -> CallText:
    """The ground-truth turns as a transcript: ``chN`` keys for stereo, the truth's speaker map for mono."""
    data = truth(name)
    turns = tuple(
        Turn(i, f"ch{t['channel']}" if t["channel"] is not None else data["speakers"][t["speaker"]], t["speaker"],
             t["start"], t["end"], t["text"])
        for i, t in enumerate(data["turns"])
    )
    return CallText(call_id=name, duration_s=data["duration_s"], turns=turns, transcript_hash=f"hash-{name}")


def insights_of(call: CallText) -> CallInsights:
    result = LexicalAnalyzer().analyze(call)
    assert result.error is None and result.insights is not None
    return result.insights


def sample(name: str) -> CallInsights:
    return insights_of(sample_call(name))


def made_up_call(*rows: tuple[str, str | None, str], timed: bool = True) -> CallText:
    """Rows of (speaker key, role, text); each turn lasts 4 s after a 1 s pause."""
    turns = tuple(
        Turn(i, spk, role, 5.0 * i + 1 if timed else None, 5.0 * i + 5 if timed else None, text)
        for i, (spk, role, text) in enumerate(rows)
    )
    return CallText(call_id="made-up", duration_s=5.0 * len(rows) + 1 if timed else None, turns=turns)


def test_result_names_the_lexical_analyzer_its_model_and_prompt_version() -> None:
    result = LexicalAnalyzer().analyze(sample_call(REFUND))
    assert (result.analyzer, result.model, result.prompt_version) == ("lexical", "callmine-lexical-1", "lexical-1")
    assert (result.call_id, result.transcript_hash, result.error) == (REFUND, f"hash-{REFUND}", None)
    assert (LexicalAnalyzer.name, LexicalAnalyzer.model) == ("lexical", "callmine-lexical-1")


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        (NORTHWIND, "positive"),  # a willing prospect: "Sure, I have a few minutes", asks for a quote to review
        (CANCEL, "neutral"),  # wants to cancel over a price increase, then takes the discount "for now", thanks
        (RENEWAL, "negative"),  # price increase, a cheaper competitor, "thinking about switching"; accepts nothing
        (REFUND, "positive"),  # charged twice, but the refund and discount land: "Yes, that helps", "Thank you"
    ],
)
def test_customer_sentiment_matches_the_dialogue(name: str, expected: str) -> None:
    insights = sample(name)
    assert insights.sentiment == expected
    score = insights.sentiment_score
    assert score is not None
    assert {"positive": score >= 0.05, "neutral": -0.05 < score < 0.05, "negative": score <= -0.05}[expected]


def test_customer_sentiment_reads_the_customer_not_the_agent() -> None:
    call = made_up_call(
        ("ch0", "agent", "Hello! Wonderful to hear from you, I am so happy to help, this is great!"),
        ("ch1", "customer", "Your service is terrible and I am very angry about it."),
        ("ch0", "agent", "Fantastic, thank you so much, you are awesome!"),
    )
    assert insights_of(call).sentiment == "negative"


def test_complaints_vader_does_not_know_still_count_against_the_customer() -> None:
    """VADER alone scores "price increase" positive ("increase" +1.3) and "too expensive" neutral."""
    call = made_up_call(("ch1", "customer", "Hi, after the price increase it's just too expensive for us."))
    assert insights_of(call).sentiment == "negative"


EXPECTED_ACTION_ITEMS = {  # call -> {(sentence, role, turn index)}
    NORTHWIND: {
        ("Okay, send me a quote for forty users and I will review it with our finance team.", "customer", 7),
        ("Great, I will send it this afternoon.", "agent", 8),
    },
    CANCEL: {("Alright, I will take the discount for now.", "customer", 7)},
    RENEWAL: {
        ("Can you send me the new price in writing?", "customer", 7),  # a request, though a question
        ("Of course, I'll email the quote today.", "agent", 8),
    },
    REFUND: {  # offered, and the customer says "Yes, that helps" in the next turn
        ("As an apology, I can add a ten percent discount to your next three invoices.", "agent", 4),
    },
}


@pytest.mark.parametrize("name", SAMPLES)
def test_action_items_are_the_commitments_and_requests_the_dialogue_contains(name: str) -> None:
    assert {item.text for item in sample(name).action_items} == {text for text, _, _ in EXPECTED_ACTION_ITEMS[name]}


@pytest.mark.parametrize("name", SAMPLES)
def test_each_action_item_names_its_speaker_and_a_time_within_its_turn(name: str) -> None:
    data, items = truth(name), {item.text: item for item in sample(name).action_items}
    for text, role, turn_idx in EXPECTED_ACTION_ITEMS[name]:
        turn = data["turns"][turn_idx]
        assert turn["speaker"] == role and text in turn["text"]
        expected_speaker = f"ch{turn['channel']}" if turn["channel"] is not None else data["speakers"][role]
        assert items[text].speaker == expected_speaker
        assert items[text].start_s is not None and turn["start"] <= items[text].start_s <= turn["end"]


@pytest.mark.parametrize(
    ("name", "not_a_commitment"),
    [
        (NORTHWIND, "Is this a good time to talk about your team plan?"),  # a question
        (NORTHWIND, "Can we get a refund?"),  # asks about a policy, asks nobody to do anything
        (NORTHWIND, "Thanks for your time."),
        (CANCEL, "Hi, I want to cancel my subscription."),  # the reason for calling, not a promise
        (CANCEL, "May I ask if you are moving to another provider?"),
        (CANCEL, "No, you stay month to month, and if you cancel later you get a refund for the unused days."),
        (RENEWAL, "How can I help you today?"),
        (RENEWAL, "Our contract renews next month, and I just saw a price increase of almost twenty percent."),
        (RENEWAL, "I can offer a loyalty discount if you renew the contract for two years, which keeps your current "
                  "pricing."),  # never accepted: "Two years? What happens if we need to cancel early?"
        (RENEWAL, "What happens if we need to cancel early?"),
        (REFUND, "I can see the duplicate payment, and I have issued a full refund."),  # already done
        (REFUND, "To be honest, I was ready to cancel my subscription over this."),
        (REFUND, "Would that help?"),
    ],
)
def test_phrases_that_are_no_commitment_are_not_action_items(name: str, not_a_commitment: str) -> None:
    assert not_a_commitment not in {item.text for item in sample(name).action_items}


def test_a_question_is_no_commitment_unless_it_asks_for_something_to_be_done() -> None:
    call = made_up_call(
        ("ch0", "agent", "Will you be renewing this year? Shall we talk about the plan?"),
        ("ch1", "customer", "Maybe. Could you please send me the invoice?"),
    )
    assert [item.text for item in insights_of(call).action_items] == ["Could you please send me the invoice?"]


def test_a_repeated_commitment_is_one_action_item() -> None:
    call = made_up_call(
        ("ch0", "agent", "I'll call you back tomorrow."),
        ("ch1", "customer", "Okay."),
        ("ch0", "agent", "I'll call you back tomorrow!"),
    )
    assert [(i.text, i.start_s) for i in insights_of(call).action_items] == [("I'll call you back tomorrow.", 1.0)]


def test_a_deadline_counts_next_to_an_action_verb_only() -> None:
    call = made_up_call(
        ("ch0", "agent", "The refund gets processed within 24 hours. Our office is closed tomorrow."),
    )
    assert [item.text for item in insights_of(call).action_items] == ["The refund gets processed within 24 hours."]


def test_an_offer_is_an_action_item_only_when_the_other_side_accepts_it() -> None:
    accepted = made_up_call(("ch0", "agent", "I can waive the fee."), ("ch1", "customer", "Yes please."))
    declined = made_up_call(("ch0", "agent", "I can waive the fee."), ("ch1", "customer", "No, I want a refund."))
    assert [item.text for item in insights_of(accepted).action_items] == ["I can waive the fee."]
    assert insights_of(declined).action_items == []


EXPECTED_PHASES = {  # call -> [(phase, turn index it starts at)]; the first phase starts at 0 s
    # Greeting, then a sales conversation with no complaint, then "... Thanks for your time."
    NORTHWIND: [("Introduction", 0), ("Other", 1), ("Goodbye", 8)],
    # "I want to cancel" -> "I can offer you a discount" -> "Thanks for staying with us."
    CANCEL: [("Introduction", 0), ("Complaint", 1), ("Resolution", 4), ("Goodbye", 8)],
    # "price increase" -> "I can offer a loyalty discount"; ends on "I'll email the quote today", nobody says bye.
    RENEWAL: [("Introduction", 0), ("Complaint", 1), ("Resolution", 4)],
    # "charged twice" -> "I have issued a full refund" -> "No, that's all. Thank you, Daniel."
    REFUND: [("Introduction", 0), ("Complaint", 1), ("Resolution", 2), ("Goodbye", 7)],
}


@pytest.mark.parametrize("name", SAMPLES)
def test_phase_boundaries_match_the_turns_where_the_dialogue_moves_on(name: str) -> None:
    starts = [turn["start"] for turn in truth(name)["turns"]]
    phases = sample(name).phases
    assert [p.name for p in phases] == [phase for phase, _ in EXPECTED_PHASES[name]]
    for phase, (_, turn_idx) in zip(phases, EXPECTED_PHASES[name]):
        expected = 0.0 if turn_idx == 0 else starts[turn_idx]
        assert abs(phase.start_s - expected) <= TOLERANCE_S, (phase.name, phase.start_s, expected)


@pytest.mark.parametrize("name", SAMPLES)
def test_phases_are_contiguous_and_cover_the_whole_call(name: str) -> None:
    phases = sample(name).phases
    assert phases[0].start_s == 0.0
    assert phases[-1].end_s == pytest.approx(truth(name)["duration_s"])
    assert all(a.end_s == b.start_s for a, b in zip(phases, phases[1:]))


@pytest.mark.parametrize("name", SAMPLES)
def test_each_phase_is_summarised_by_a_sentence_spoken_in_it(name: str) -> None:
    turns = truth(name)["turns"]
    for phase in sample(name).phases:
        spoken = " ".join(t["text"] for t in turns if phase.start_s <= t["start"] < phase.end_s)
        assert phase.summary and phase.summary in spoken


def test_a_call_that_opens_with_a_complaint_has_no_introduction() -> None:
    call = made_up_call(
        ("ch1", "customer", "My internet is not working again."),
        ("ch0", "agent", "I have fixed the line on our side."),
    )
    assert [(p.name, p.start_s) for p in insights_of(call).phases] == [("Complaint", 0.0), ("Resolution", 6.0)]


@pytest.mark.parametrize("name", SAMPLES)
def test_summary_is_up_to_three_sentences_of_both_speakers_in_call_order(name: str) -> None:
    data = truth(name)
    sentences = [(i, s, t["speaker"]) for i, t in enumerate(data["turns"]) for s in split(t["text"])]
    summary = sample(name).summary
    assert summary
    picked = [(i, s, role) for i, s, role in sentences if s in summary]
    assert 1 <= len(picked) <= 3 and " ".join(s for _, s, _ in picked) == summary  # whole sentences, call order
    assert {role for _, _, role in picked} == {"agent", "customer"}


@pytest.mark.parametrize(
    ("name", "topics"),
    [(NORTHWIND, {"plan", "refund"}), (CANCEL, {"discount", "cancel"}), (RENEWAL, {"price", "competitor"}),
     (REFUND, {"refund", "invoice"})],
)
def test_key_topics_name_what_the_call_is_about(name: str, topics: set[str]) -> None:
    found = sample(name).dimensions.key_topics
    assert 3 <= len(found) <= 6 and topics <= set(found)
    assert not {"daniel", "acme", "the", "okay", "thanks"} & set(found)  # no names, no fillers


@pytest.mark.parametrize(
    ("name", "risk"),
    [
        (NORTHWIND, "low"),  # no churn or escalation words
        (CANCEL, "medium"),  # "cancel my subscription", but mixed, not negative
        (RENEWAL, "high"),  # "thinking about switching" from a negative customer
        (REFUND, "low"),  # "ready to cancel", then mollified: positive
    ],
)
def test_escalation_risk_follows_churn_words_and_the_customers_mood(name: str, risk: str) -> None:
    assert sample(name).dimensions.escalation_risk == risk


def test_asking_for_a_manager_is_a_high_escalation_risk() -> None:
    call = made_up_call(("ch1", "customer", "Put me through to your manager."), ("ch0", "agent", "Certainly."))
    assert insights_of(call).dimensions.escalation_risk == "high"


@pytest.mark.parametrize(
    ("name", "resolution"),
    [
        (NORTHWIND, None),  # a sales call: no complaint to resolve
        (CANCEL, "resolved"),  # "I will take the discount" / "Done."
        (RENEWAL, "partially_resolved"),  # a discount offered, the customer only asks for it in writing
        (REFUND, "resolved"),  # "I have issued a full refund"
    ],
)
def test_resolution_is_read_from_remedy_and_acceptance_cues(name: str, resolution: str | None) -> None:
    assert sample(name).dimensions.resolution == resolution


def test_a_complaint_nobody_answers_is_unresolved() -> None:
    call = made_up_call(("ch1", "customer", "I was charged twice this month."), ("ch0", "agent", "I see."))
    assert insights_of(call).dimensions.resolution == "unresolved"


@pytest.mark.parametrize("name", SAMPLES)
def test_dimensions_without_an_honest_lexical_rule_stay_empty(name: str) -> None:
    dims = sample(name).dimensions
    assert (dims.intent, dims.agent_performance, dims.compliance, dims.satisfaction_score) == (None,) * 4


@pytest.mark.parametrize("turns", [(), (Turn(0, "ch0", "agent", 0.0, 1.0, "  "),)])
def test_an_empty_call_gives_empty_insights_not_an_error(turns: tuple[Turn, ...]) -> None:
    result = LexicalAnalyzer().analyze(CallText(call_id="empty", duration_s=0.0, turns=turns))
    assert result.error is None and result.insights == CallInsights()


def test_an_untimed_call_has_no_phases_but_still_sentiment_and_action_items() -> None:
    call = made_up_call(
        ("ch0", "agent", "Hello, this is Daniel from Acme."),
        ("ch1", "customer", "My internet is not working and I am really upset."),
        ("ch0", "agent", "I'll send a technician tomorrow. Thank you, bye."),
        timed=False,
    )
    insights = insights_of(call)
    assert insights.phases == []
    assert insights.sentiment == "negative"
    assert [(i.text, i.speaker, i.start_s) for i in insights.action_items] == [
        ("I'll send a technician tomorrow.", "ch0", None)]


def test_a_one_speaker_call_is_read_from_all_its_turns() -> None:
    """A voicemail: diarization found one speaker and gave it no role."""
    call = made_up_call(
        ("speaker_0", None, "Hi, this is Dana. The router you sent me is broken and I am really disappointed."),
        ("speaker_0", None, "Please call me back tomorrow. Thanks, bye."),
    )
    insights = insights_of(call)
    assert insights.sentiment == "negative"
    assert [i.text for i in insights.action_items] == ["Please call me back tomorrow."]
    assert insights.summary and len(split(insights.summary)) <= 3
    assert [p.name for p in insights.phases] == ["Complaint", "Goodbye"]  # the greeting carries the complaint


def test_phases_of_a_call_of_unknown_length_end_with_its_last_turn() -> None:
    call = sample_call(REFUND)
    call = CallText(call_id=call.call_id, duration_s=None, turns=call.turns)
    assert insights_of(call).phases[-1].end_s == truth(REFUND)["turns"][-1]["end"]


def test_a_failure_inside_the_analyzer_is_an_error_result_not_an_exception(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(call: CallText) -> CallInsights:
        raise ValueError("boom")

    monkeypatch.setattr(lexical, "_insights", broken)
    result = LexicalAnalyzer().analyze(sample_call(REFUND))
    assert result.insights is None and result.error is not None and "boom" in result.error
