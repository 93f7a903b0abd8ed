"""The optional language-model summary, over any OpenAI-compatible chat-completions API.

Only the computed findings are sent (titles, summaries, key figures), never rows. Any
failure (no key, timeout, HTTP error, odd answer) falls back to the built-in summary with
one warning line: the job's result must not depend on a remote service being up.
"""

from __future__ import annotations

import json
import os
import re
import urllib.request
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from loguru import logger

from runner.errors import SoftTimeLimitExceeded
from runner.insights.model import Insight

DEFAULT_TIMEOUT = 30.0
MAX_ANSWER_BYTES = 1 << 20
MAX_PROMPT_CHARS = 12_000
# Bulky lists that add nothing to a summary and could leak many values.
DROPPED_DETAILS = frozenset({"values", "points", "column_profile", "segments", "leaders", "source"})

SYSTEM_PROMPT = (
    "You are a business analyst. Write an executive summary of at most 120 words in plain "
    "language for a business reader, using only the findings given. Start with the one or "
    "two sentences that matter most for the stated goal. Do not invent figures; no headings, "
    "no markdown."
)


class AIConfigError(ValueError):
    """The [ai] table lacks something the request needs."""


def ai_summary(
    ai: Mapping[str, Any], description: str | None, findings: list[Insight], builtin: Insight
) -> Insight:
    """The summary written by the model, or builtin if anything goes wrong."""
    try:
        text = complete(ai, build_prompt(description, findings))
    except SoftTimeLimitExceeded:
        raise
    except Exception as exc:  # any failure of the optional step falls back, by design
        logger.warning("AI summary unavailable ({}); using the built-in summary", _one_line(exc))
        return builtin
    sentences = re.split(r"(?<=[.!?])\s+", text)
    details = {**builtin.details, "narrative": text, "written_by": f"ai:{ai['model']}"}
    return replace(builtin, summary=" ".join(sentences[:2]), details=details)


def build_prompt(description: str | None, findings: list[Insight]) -> str:
    """The user message: the goal and the findings as compact JSON."""
    payload = [
        {
            "type": f.insight_type,
            "title": f.title,
            "summary": f.summary,
            "confidence": round(f.confidence, 2),
            "details": {k: v for k, v in f.details.items() if k not in DROPPED_DETAILS},
        }
        for f in findings
    ]
    # A description can be a whole document: the model gets its start, like the summary.
    goal = (description or "").strip()[: MAX_PROMPT_CHARS // 4] or "(none given)"
    body = json.dumps(payload, default=str, ensure_ascii=False)[:MAX_PROMPT_CHARS]
    return f"Business goal: {goal}\n\nFindings (ranked, most relevant first):\n{body}"


def complete(ai: Mapping[str, Any], prompt: str) -> str:
    """One chat-completions round trip; the answer's text."""
    base_url, model = ai.get("base_url"), ai.get("model")
    if not base_url or not model:
        raise AIConfigError("[ai] needs base_url and model")
    headers = {"Content-Type": "application/json"}
    key_env = ai.get("api_key_env")
    if key_env:
        key = os.environ.get(str(key_env))
        if not key:
            raise AIConfigError(f"environment variable {key_env} (ai.api_key_env) is not set")
        headers["Authorization"] = f"Bearer {key}"
    body = {
        "model": model,
        "messages": [
            {"role": "system", "content": SYSTEM_PROMPT},
            {"role": "user", "content": prompt},
        ],
        "temperature": 0.2,
    }
    url = str(base_url).rstrip("/") + "/chat/completions"
    if not url.startswith(("http://", "https://")):
        raise AIConfigError(f"[ai] base_url must be an http(s) URL, got {base_url!r}")
    request = urllib.request.Request(url, json.dumps(body).encode(), headers, method="POST")
    timeout = float(ai.get("timeout", DEFAULT_TIMEOUT))
    with urllib.request.urlopen(request, timeout=timeout) as response:  # nosec B310  # http(s)
        answer = json.loads(response.read(MAX_ANSWER_BYTES))
    text = answer["choices"][0]["message"]["content"]
    if not isinstance(text, str) or not text.strip():
        raise ValueError("the model returned no text")
    return text.strip()


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return f"{type(exc).__name__}: {text}"[:300]
