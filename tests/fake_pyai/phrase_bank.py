"""Support / sales call dialogue the fake "transcribes".

The bank deliberately repeats the words downstream analytics look for (pricing,
competitor, contract, discount, refund, "price increase", "cancel my subscription")
and includes questions, so keyword and question metrics have something to find.

``[words|digits]`` marks a number spoken as words or written as numerals,
chosen by the job's ``numerals`` flag.
"""

from __future__ import annotations

import re

AGENT_LINES: tuple[str, ...] = (
    "Thank you for calling, my name is Alex, how can I help you today?",
    "Can I have your account number please?",
    "I understand your concern about the pricing.",
    "Let me check what discount I can offer on your contract.",
    "I can offer you a [twenty percent|20%] discount for the next [twelve|12] months.",
    "Our pricing is still lower than any competitor in your area.",
    "The price increase takes effect on the [first|1st] of next month.",
    "I can process a refund to your original payment method.",
    "The refund should arrive within [five to seven|5-7] business days.",
    "Is there anything else I can help you with?",
    "Your contract renews automatically every [twelve|12] months.",
    "Would you like me to walk you through the new pricing plans?",
    "I see you have been with us for [three|3] years, thank you for that.",
    "If you sign a [two|2] year contract I can lock in the current pricing.",
    "Let me put you on a brief hold while I check with my supervisor.",
    "Which competitor offer are you comparing us with?",
    "I have applied the discount, you will see it on your next invoice.",
    "Can you confirm the email address on the account?",
)

CUSTOMER_LINES: tuple[str, ...] = (
    "Hi, I am calling about my last invoice.",
    "I want to cancel my subscription.",
    "Why did I get a price increase without any notice?",
    "A competitor offered me the same plan for [thirty|30] dollars less.",
    "Can I get a refund for last month?",
    "What does my contract say about early termination?",
    "Honestly the pricing is too high for what we use.",
    "Is there any discount for annual billing?",
    "I have been a customer for years and this is frustrating.",
    "Okay, that sounds reasonable.",
    "Could you send me the contract terms by email?",
    "How long will the refund take?",
    "If you cannot match the competitor I will cancel my subscription.",
    "Sure, my account number is [four five six seven|4567].",
    "Yes, that works for me, thank you.",
    "Do you offer a discount if we add more seats?",
    "I never agreed to this price increase.",
    "Alright, please go ahead.",
)

_NUMBER = re.compile(r"\[([^|\]]+)\|([^\]]+)\]")


def render(line: str, numerals: bool) -> str:
    """Resolve ``[words|digits]`` markers for the job's ``numerals`` setting."""
    return _NUMBER.sub(lambda m: m.group(2) if numerals else m.group(1), line)


def lines_for(speaker_index: int) -> tuple[str, ...]:
    """Even speakers / channel 0 talk like the agent, odd ones like the customer."""
    return AGENT_LINES if speaker_index % 2 == 0 else CUSTOMER_LINES
