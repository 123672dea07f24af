"""How the ``lexical`` analyzer reads text: cue phrases, stopwords, sentences and words.

All patterns are case-insensitive and matched per sentence (or per turn where
``lexical`` says so). Change a cue here and its effect shows in
tests/unit/insights/test_lexical_analyzer.py, which pins the shipped sample calls.
"""

from __future__ import annotations

import re


def _rx(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern, re.IGNORECASE)


_DEADLINE = (
    r"\bby (?:mon|tues|wednes|thurs|fri|satur|sun)day\b|\bby (?:tomorrow|tonight|noon|the end of|end of)\b"
    r"|\btomorrow\b|\bwithin \w+ (?:business )?(?:hours?|days?|weeks?)\b|\bnext week\b|\btoday\b"
    r"|\bthis (?:morning|afternoon|evening|week)\b|\btonight\b"
)
# Base or past form only: "for calling today" is a greeting, "gets processed today" a promise.
_ACTION_VERB = (
    r"\b(?:send|sent|email|call|ship|process|review|follow(?:ed)? up|get back|confirm|schedule|deliver|refund"
    r"|appl(?:y|ied))(?:s|ed)?\b"
)
_REMEDY_VERB = r"(?:offer|add|give|apply|waive|extend|credit|upgrade|refund|send|fix)"
_DONE_VERB = r"(?:issued|applied|processed|credited|refunded|fixed|updated|added|removed|reversed|resolved)"

# Action items: (kind, pattern). A question ("...?") counts only for kind "request", so
# "Will you be renewing?" is no commitment but "Could you please send the form?" is a request.
ACTION_CUES: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("commitment", _rx(r"\b(?:i|we)(?:'ll| will| shall)\b"  # I'll send, we will call; not "we'll see"
                       r"(?! (?:not|never|see|be honest|be right|put you on hold)\b)")),
    ("commitment", _rx(r"\b(?:i'm|i am|we're|we are) going to\b")),
    ("commitment", _rx(r"\blet me\b(?! (?:know|see|think|ask|say|be honest)\b)")),  # not the fillers
    ("request", _rx(r"\bplease (?!(?:hold|wait|note|bear with|do|let me know)\b)[a-z]")),  # not "yes please"
    ("request", _rx(r"\b(?:can|could|would|will) you (?:please )?(?:send|email|call|check|confirm|forward|update"
                    r"|cancel|refund|fix|look into|arrange|schedule|resend|change|remove|add)\b")),
    ("request", _rx(r"(?:^|, )(?:send|email|forward) me\b")),  # "Okay, send me a quote"
    ("deadline", _rx(rf"^(?=.*(?:{_DEADLINE}))(?=.*{_ACTION_VERB})")),  # a deadline next to an action verb
)
# An offer is an action item once the other side says yes in the very next turn.
OFFER = _rx(rf"\b(?:i|we) can {_REMEDY_VERB}\b|\bwould you like me to\b")
ACCEPT_REPLY = _rx(r"^(?:yes|yeah|yep|sure|okay|ok|alright|all right|great|perfect|deal|sounds good|that works"
                   r"|please do)\b")
# The customer takes a remedy, anywhere after it was offered.
ACCEPT = _rx(r"\b(?:i|we)(?:'ll| will) (?:take|stay)\b|\bsign me up\b|\bi accept\b|\bsounds good\b"
             r"|\bthat (?:works|helps)\b")

# Complaint cue -> extra valence on VADER's word scale (-4..4), net of what VADER already gives
# its words ("increase" is +1.3 in VADER; "expensive", "charged twice" are unknown to it).
COMPLAINT_CUES: tuple[tuple[re.Pattern[str], float], ...] = (
    (_rx(r"\bprices? (?:increase|hike)|\bprices? (?:went|have gone|has gone|going) up"
         r"|\braised? (?:the |our |my )?price"), -3.0),
    (_rx(r"\bexpensive\b|\boverpriced\b|\bcan't afford\b"), -2.0),
    (_rx(r"\bcharged (?:twice|double|two times)|\bdouble[- ]charged|\bovercharged|\bduplicate (?:charge|payment)"),
     -2.0),
    (_rx(r"\bcancel(?:l?ing|led|lation)?\b"), -1.0),  # VADER has -1.0; from a customer it is a churn threat
    (_rx(r"\bswitch(?:ing)?\b|\bmoving to another\b|\bleav(?:e|ing) (?:you|your company)\b"), -1.5),
    (_rx(r"\bnot working\b|\b(?:doesn't|does not|isn't|is not|won't) work\b(?! out)|\bstopped working\b"
         r"|\bbroken\b"), -2.0),
    (_rx(r"\bissues?\b|\bnot happy\b|\bstill (?:no|not)\b"), -1.5),
    # VADER scores these itself; here they only mark the Complaint phase.
    (_rx(r"\bproblems?\b|\bcomplain|\bdisappointed\b|\bfrustrat|\bunacceptable\b|\bwrong\b|\berror\b"), 0.0),
)
ESCALATION_STRONG = _rx(r"\b(?:manager|supervisor|lawyer|attorney|legal|sue|regulator|ombudsman|complaint)\b")
ESCALATION_CHURN = _rx(r"\bcancel|\bswitch(?:ing)?\b|\banother provider\b|\bclose (?:my|the) account\b")

# Remedy: starts the Resolution phase (agent side, after a complaint).
REMEDY = _rx(rf"\b(?:i|we) can {_REMEDY_VERB}\b|\bdiscount|\brefund|\bcredit\b|\b(?:i|we)(?:'ve| have) "
             rf"(?:{_DONE_VERB}|cancell?ed)\b|\bresolved\b|\bfixed\b")
# Done: the agent reports the remedy as carried out (resolution = resolved).
DONE = _rx(rf"\b(?:i|we)(?:'ve| have) {_DONE_VERB}\b|^done\b|\ball set\b|\bis (?:now )?(?:fixed|resolved)\b")
INTRO = _rx(r"\b(?:hi|hello|hey)\b|\bgood (?:morning|afternoon|evening)\b|\bthanks? (?:you )?for calling\b"
            r"|\bthis is \w+|\bspeaking\b|\bmy name is\b|\bhow (?:can|may) i help\b|\bwhat can i do for you\b")
CLOSING = _rx(r"\bthanks?\b|\bthank you\b|\bbye\b|\bgoodbye\b|\bhave a (?:nice|good|great) (?:day|one|evening"
              r"|weekend)\b|\bthat's all\b|\btake care\b")

# Not topics: function words, backchannels, politeness, numbers and units of time and money.
STOPWORDS = frozenset("""
a about above after again against all also am an and any are aren't as at be because been before being below
between both but by can can't could couldn't did didn't do does doesn't doing don't down during each few for from
further get got had hasn't have haven't having he her here hers him his how i i'd i'll i'm i've if in into is isn't
it it's its just let's me more most my no nor not now of off on once only or other our ours out over own same she
should so some such than that that's the their them then there there's these they they're this those through to
too under until up very was wasn't we we'd we'll we're we've were what what's when where which while who whom why
will with won't would you you'd you'll you're you've your yours yes yeah okay ok alright sure hi hello hey thanks
thank please well oh um uh like really right great good fine sorry bye goodbye today tomorrow day days week weeks
month months year years time minutes percent one two three four five six seven eight nine ten eleven twelve
thirteen fourteen fifteen twenty thirty forty fifty sixty hundred thousand dollar dollars per first second next
last may might must shall see know think want need go going say said tell ask help anything something everything
else much many lot bit honestly actually roughly though understand
""".split())
_WORD = re.compile(r"[A-Za-z][A-Za-z']*")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


def split(text: str) -> list[str]:
    """Sentences, cut after ``.``/``!``/``?`` (transcripts have no abbreviations worth a model)."""
    return [part for part in _SENTENCE_END.split(text.strip()) if part]


def words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def content_terms(text: str) -> tuple[str, ...]:
    """Lowercased content words, plural folded; capitalised words inside a sentence (names) are dropped."""
    out = []
    for k, word in enumerate(_WORD.findall(text)):
        low = word.lower()
        if low in STOPWORDS or len(low) < 3 or (k > 0 and word[0].isupper()):
            continue
        out.append(low[:-1] if low.endswith("s") and not low.endswith("ss") and len(low) > 3 else low)
    return tuple(out)
