"""The Authorship tab's words: a lineage as Markdown, and what a picture's credentials say."""

from __future__ import annotations

from studio.authorship.credentials import SELF_ISSUED, Verification
from studio.authorship.lineage import HUMAN, Step
from studio.authorship.outside import OutsideCloseness
from studio.ui.present import closeness as closeness_text
from studio.ui.present.results import markdown_literal


def story_markdown(steps: list[Step], story: str, published: list[str]) -> str:
    lines = [f"**{story}**", ""]
    for step in steps:
        human = "; ".join(act.words for act in step.acts if act.by == HUMAN) or "nothing by hand"
        machine = "; ".join(act.words for act in step.acts if act.by != HUMAN)
        lines.append(f"- `{step.node_id}` {step.action}: **you** {human}. *Machine:* {machine}.")
        for source in step.outside:
            lines.append(
                f"  - outside picture `{source.sha256[:12]}…`: from {source.origin}, licence **{source.licence}**"
            )
    if steps and steps[-1].closeness:
        lines += ["", "**How close this picture stays to the outside pictures of its lineage:**"]
        lines += [f"- {markdown_literal(words)}" for words in closeness_text.lines(steps[-1].closeness)]
    lines += ["", "**An export publishes:**", *(f"- {line}" for line in published)]
    return "\n".join(lines)


def _closeness_lines(check: Verification) -> str:
    """What the signed record says of how close the picture stays to each outside picture it was made from."""
    said = []
    for entry in check.closeness:
        try:
            said.append(OutsideCloseness.from_dict(entry).words())
        except (KeyError, TypeError, ValueError):
            continue  # another tool's entry this studio cannot read: not shown as if it were understood
    if not said:
        return ""
    lines = "\n".join(f"- {markdown_literal(words)}" for words in said)
    return f"\n\n**It says how close the picture stays to the outside pictures it was made from:**\n{lines}"


def verdict_markdown(check: Verification) -> str:
    if check.state == "none":
        return "**No Content Credentials** in this picture."
    signer = check.signer + (" — a key the studio made itself" if check.signer == SELF_ISSUED else "")
    if check.valid:
        untrusted = any(code == "signingCredential.untrusted" for code in check.codes)
        text = f"**Valid credentials**, unchanged since they were signed. Signed by: {signer}." + (
            " The signer is not on a trust list: anyone could make such a key." if untrusted else ""
        )
        return text + _closeness_lines(check)
    if check.changed_after_signing:
        return f"**Invalid: the picture was changed after it was signed.** Signed by: {signer}."
    return f"**Invalid credentials** ({', '.join(check.codes) or 'unreadable'}). Signed by: {signer}."
