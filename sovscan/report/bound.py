"""The score's upper bound as every format words it beside the headline score."""

from __future__ import annotations

from sovscan.model import Score, Status


def bound_text(score: Score) -> str:
    """'up to 78 if the 2 unknown findings are risks; 0% of findings known', or '' when no
    unknown finding could raise the score: unknown is not safe, so a score that unknowns could
    raise never reads alone."""
    if score.upper_bound == score.value:
        return ""
    unknown = score.by_status.get(Status.UNKNOWN.value, 0)
    these = (
        "the unknown finding is a risk"
        if unknown == 1
        else f"the {unknown} unknown findings are risks"
    )
    return f"up to {score.upper_bound} if {these}; {score.known_share}% of findings known"
