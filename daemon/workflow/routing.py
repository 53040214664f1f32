"""Who handles a case: the `responsible` official whose topics match the text, else the contact official.

Staff topics in the configuration are either names of the built-in topics (`parsers.topics`,
e.g. «ЖКХ», which bring their keyword lists) or free words and phrases of their own, which
match any word form (lemmas). The contact official gets what nobody's topics match, and
re-assigns it (Algorithm п. 7: only the official whose area it is writes the comment).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from sqlalchemy.orm import Session

from daemon import absence
from daemon.app import App
from daemon.config import Settings, StaffMember, per_settings
from daemon.db.models import Case, StoredMessage
from daemon.notices import contact_addresses
from daemon.reports.settings import topic_table
from daemon.workflow.machine import Event, apply
from parsers.topics import FALLBACK_TOPIC, match_topic


@dataclass(frozen=True, slots=True)
class Route:
    """The chosen assignee, the topic found (if any), the words that matched, and why."""

    assignee: str | None
    topic: str | None
    words: tuple[str, ...]
    by: str  # topic | contact | nobody


@dataclass(frozen=True, slots=True)
class _Taxonomy:
    staff_topics: Mapping[str, tuple[str, ...]]  # topics some responsible official claims
    owners: Mapping[str, tuple[str, ...]]  # topic -> e-mails of responsible staff, config order
    all_topics: Mapping[str, tuple[str, ...]]  # staff topics + the defaults: for the case's topic label


@per_settings
def taxonomy(settings: Settings) -> _Taxonomy:
    """The topic table of this configuration: staff topics first (their order is the priority), then the taxonomy.

    The taxonomy is `[topics]` when configured, else the built-in municipal one (issue 6, п. 10.2).
    """
    configured = topic_table(settings)
    staff_topics: dict[str, tuple[str, ...]] = {}
    owners: dict[str, list[str]] = {}
    for member in settings.staff_with_role("responsible"):
        for topic in member.topics:
            name = topic.strip()
            if not name:
                continue
            keywords = tuple(configured.get(name, ()))
            staff_topics.setdefault(name, keywords if name in keywords else (*keywords, name))
            owners.setdefault(name, []).append(member.email)
    defaults = {k: v for k, v in configured.items() if k not in staff_topics and k != FALLBACK_TOPIC}
    return _Taxonomy(
        staff_topics=staff_topics,
        owners={k: tuple(v) for k, v in owners.items()},
        all_topics={**staff_topics, **defaults},
    )


def contact_official(app: App) -> str | None:
    """The first contact official (the supervisor when none is configured)."""
    addresses = contact_addresses(app)
    return addresses[0] if addresses else None


def route(app: App, text: str) -> Route:
    """Choose the assignee for a case about `text`."""
    table = taxonomy(app.settings)
    hit = match_topic(text, table.staff_topics) if table.staff_topics else None
    if hit is not None:
        return Route(assignee=table.owners[hit.topic][0], topic=hit.topic, words=hit.words, by="topic")
    label = match_topic(text, table.all_topics)
    contact = contact_official(app)
    return Route(
        assignee=contact,
        topic=label.topic if label else None,
        words=label.words if label else (),
        by="contact" if contact else "nobody",
    )


def assign(
    session: Session, app: App, case: Case, route_: Route, *, actor: str, message: StoredMessage | None = None
) -> None:
    """Record the routing decision: assignee and topic on the case, the ROUTED move in the audit trail.

    A chosen assignee who is away («#отсутствую») is replaced by the stand-in (daemon.absence).
    """
    chosen = route_.assignee
    assignee = absence.stand_in(session, app, chosen)
    case.assignee = assignee
    if route_.topic and not case.topic:
        case.topic = route_.topic[:100]
    detail = {"assignee": assignee, "topic": route_.topic, "words": list(route_.words), "by": route_.by}
    if assignee != chosen:
        detail["instead_of"] = chosen  # the history and the reports show who was away
    apply(session, app, case, Event.ROUTED, actor=actor, message=message, detail=detail)


def find_staff(settings: Settings, who: str) -> StaffMember | None:
    """A staff member by e-mail or by surname (the first word of the name), case-insensitively."""
    who = who.strip().lower()
    if "@" in who:
        return settings.staff_by_email(who)
    for member in settings.staff:
        surname = member.name.split()[0].lower() if member.name.split() else ""
        if who and who.replace("ё", "е") == surname.replace("ё", "е"):
            return member
    return None


def name_for_commands(settings: Settings, email: str) -> str:
    """How a command names this member: the surname when find_staff finds nobody else by it, else the e-mail."""
    member = find_staff(settings, email)
    words = member.name.split() if member else []
    return words[0] if words and find_staff(settings, words[0]) is member else email


def reassign(
    session: Session, app: App, case: Case, new_assignee: str, *, actor: str, message: StoredMessage | None = None
) -> None:
    """Give the case to another staff member (the contact official's `#назначить`); IllegalTransition when closed."""
    previous = case.assignee
    apply(session, app, case, Event.REASSIGNED, actor=actor, message=message,
          detail={"assignee": new_assignee, "previous": previous})
    case.assignee = new_assignee
