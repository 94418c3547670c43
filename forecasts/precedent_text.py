"""The earlier roll calls a forecast reads as most like its bill (``forecasts.precedents``), in words: for the
pages, the summary and the command line. Apart from the finding, so that the report stage reads the precedents
from whip_counts.json without importing the features' code."""

from __future__ import annotations

from forecasts import names

SHOWN_PARTIES = {"R": "Republicans", "D": "Democrats"}


def label(description: str, limit: int | None = None) -> str:
    """A roll call's description without its repeats, cut to ``limit``: the House's first part already reads
    'question: bill title' (the other parts repeat it); the Senate's names the question and the measure, and
    its longest part that is not a question is the title ('On the Resolution of Ratification Treaty Doc. 114-12:
    Protocol to the North Atlantic Treaty of 1949 on the Accession of Montenegro')."""
    parts = [" ".join(part.split()) for part in str(description).split(" | ") if part.strip()]
    text = parts[0] if parts else ""
    titles = [part for part in parts[1:] if not part.lower().startswith(("on ", "motion to"))]
    if titles and ": " not in text:
        text = f"{text}: {max(titles, key=len)}"
    return names.short_title(text, limit) if limit else text


def party_percent(precedent: dict, party: str) -> str:
    """'87%': the party's alliance-side share of its Yea and Nay votes on the roll call; '' when it cast none."""
    shares = precedent.get("alliance_share", {})
    return f"{shares[party]:.0%}" if party in shares else ""


def share_text(precedent: dict) -> str:
    """'Republicans 12%, Democrats 98% on the alliance side' (a party without Yea/Nay votes there is left out)."""
    percents = {word: party_percent(precedent, code) for code, word in SHOWN_PARTIES.items()}
    parts = [f"{word} {percent}" for word, percent in percents.items() if percent]
    return (", ".join(parts) + " on the alliance side") if parts else "no Republican or Democratic votes"


def precedent_line(precedent: dict) -> str:
    """One line of the command line's output for a precedent."""
    return (
        f"{precedent['date']}  {precedent['rollcall_id']}  similarity {precedent['similarity']:.2f}; Yea was "
        f"{precedent['yea_is']}; {share_text(precedent)}: {label(precedent['description'], 110)}"
    )


def matched_words(search: dict | None, limit: int = 160) -> str:
    """The words the bill was matched with (its title, then its stance's reason when a rule set it), quoted."""
    text = " ".join(str((search or {}).get("text", "")).split()).strip(" |")
    return f"“{names.short_title(text, limit)}”" if text else "no words"


def how_found(search: dict | None) -> str:
    """The sentence that says what picks the precedents: the title's words, not a reader's judgement."""
    rule = (
        f" (up to {search['k']} catalogued {search['chamber'].capitalize()} roll calls before {search['before']}, "
        f"cosine similarity of words {search['min_similarity']:g} or more)"
        if search
        else ""
    )
    return (
        f"The words of the bill's title, and of its stance's reason when a rule set it ({matched_words(search)}), "
        f"pick these earlier votes{rule}; the parties' and members' records on them move the forecast, so another "
        "wording of the title can move it a lot."
    )


def none_matched(search: dict | None) -> str:
    """Why a forecast lists no precedent, in words."""
    if not search:
        return "No earlier roll call was searched for this bill."
    return (
        f"No earlier catalogued {search['chamber'].capitalize()} roll call before {search['before']} shares enough "
        f"words with this bill's title (cosine similarity {search['min_similarity']:g} or more): the party's and "
        "members' records on similar votes are missing from this forecast."
    )
