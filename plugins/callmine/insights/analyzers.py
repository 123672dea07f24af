"""Which analyzer a run uses (DAG param ``insights``) and what identifies its output."""

from __future__ import annotations

from dataclasses import dataclass

KINDS = ("lexical", "llm", "off")


@dataclass(frozen=True, slots=True)
class AnalyzerIdentity:
    """Insights made by another analyzer, model or prompt version are stale."""

    analyzer: str
    model: str
    prompt_version: str


def analyzer_identity(kind: str, llm_conn_id: str = "llm_default") -> AnalyzerIdentity | None:
    """None for ``off``. For ``llm`` this reads the connection (its model): a missing one is an error."""
    if kind not in KINDS:
        raise ValueError(f"unknown insights analyzer {kind!r}; choose one of {', '.join(KINDS)}")
    if kind == "off":
        return None
    if kind == "lexical":
        from callmine.insights.lexical import MODEL, NAME, PROMPT_VERSION

        return AnalyzerIdentity(NAME, MODEL, PROMPT_VERSION)
    from callmine.hooks.llm import LLMHook
    from callmine.insights.prompts import PROMPT_VERSION as LLM_PROMPT_VERSION

    return AnalyzerIdentity("llm", LLMHook(llm_conn_id).model, LLM_PROMPT_VERSION)
