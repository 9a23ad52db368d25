"""What ops decide about reviews, from a shell or by email: the same functions either way.

`resolve` records the hop's answer for the carrier (upstream, origin, not_found) and moves
the traceback on with the desk's own `forward`/`close`, or just marks the review dealt
with; `accept_contact` registers an unregistered sender for the hop's provider and reads
its message again, so its answer applies. `mailbot review resolve|accept-contact` call
them; so does the desk when an ops address replies to the digest with commands
(`parsers/ops_commands.py`), and it answers with what each line did.

Who may command by email: a sender read exactly (the desk's address checks) that is one
of `[ops] email`, in mail no robot wrote, replying to a digest (or to an earlier answer
to ops) mailbot sent to that very address. A reply that fails these is left to the other
dispositions, as any stranger's mail.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import update
from sqlmodel import Session, select

from mailbot.desk import notices, providers, workflow
from mailbot.desk.workflow import DeskError
from mailbot.domain.vocabulary import ContactRole, HopOutcome, MessageStatus, NoticeKind, ReviewKind, TracebackStatus
from mailbot.outbound import outbox
from mailbot.parsers.ops_commands import GRAMMARS, Command, Rejected, parse
from mailbot.store.ingest import clear_derived
from mailbot.store.queries import last_hop
from mailbot.store.tables.desk import Hop, Provider, Review, Traceback
from mailbot.store.tables.messages import Message
from mailbot.store.tables.outbox import OutboxMessage

if TYPE_CHECKING:
    from mailbot.app import App
    from mailbot.desk.inbound import Inbound

ANSWERS = (HopOutcome.UPSTREAM, HopOutcome.ORIGIN, HopOutcome.NOT_FOUND)
# What ops may reply to: mail mailbot sent them.
REPLIES_TO = ("digest", NoticeKind.OPS_REPLY)


def _review(session: Session, review_id: int) -> Review:
    review = session.get(Review, review_id)
    if review is None:
        raise DeskError(f"no review {review_id}")
    if review.resolved:
        raise DeskError(f"review {review_id} was resolved already")
    return review


def _named_provider(session: Session, name: str | None, address: str | None, now: datetime) -> Provider:
    """The upstream ops named: by its address, else by a sure name match, else a new provider (name and address)."""
    if address and (owner := providers.by_address(session, address)) is not None:
        return owner
    if name:
        match = providers.find(session, name)
        if match.sure and match.provider is not None and match.provider.id is not None:
            if address:
                providers.add_contact(session, match.provider.id, address, ContactRole.PRIMARY)
            return match.provider
        if address:
            try:
                return providers.add(session, name, emails=[address], now=now)
            except ValueError as exc:
                raise DeskError(str(exc)) from exc
        closest = f" (closest: {match.matched!r}, {match.score:.0f}%)" if match.provider else ""
        raise DeskError(f'no provider named {name!r}{closest}; give its address too: upstream "{name}" ADDRESS')
    raise DeskError(f"no provider has the address {address}; give its name too: upstream \"NAME\" {address}")


def resolve(
    app: App,
    session: Session,
    review_id: int,
    now: datetime,
    *,
    answer: str | None = None,
    name: str | None = None,
    address: str | None = None,
) -> str:
    """Settle review `review_id`; with an answer, record it on the review's hop and move the traceback.

    Returns what was done, in a line."""
    review = _review(session, review_id)
    if answer is None:
        workflow.resolve_review(session, review_id, now)
        return f"review {review_id} resolved"
    if answer not in ANSWERS:
        raise DeskError(f"an answer is upstream, origin or not_found, not {answer!r}")
    hop = session.get(Hop, review.hop_id) if review.hop_id is not None else None
    if hop is None:
        raise DeskError(f"review {review_id} is about no hop: resolve it without an answer")
    tb = session.get(Traceback, hop.traceback_id)
    assert tb is not None and tb.id is not None
    if tb.status != TracebackStatus.OPEN:
        raise DeskError(f"traceback #{tb.id} is closed ({tb.result})")
    last = last_hop(session, tb.id)
    if last is None or last.id != hop.id:
        raise DeskError(f"traceback #{tb.id} has moved past this hop; use forward or close on it")
    upstream = _named_provider(session, name, address, now) if answer == HopOutcome.UPSTREAM else None
    if upstream is not None and upstream.id is not None and not providers.notice_addresses(session, upstream.id):
        raise DeskError(
            f'provider {upstream.name!r} has no deliverable contact address; add one: upstream "NAME" ADDRESS'
        )
    # Ops' reading replaces the carrier's (a dispute, a vague answer, an unknown upstream).
    hop.outcome, hop.evidence = answer, f"recorded by staff (review {review_id})"
    hop.answered_at = hop.answered_at or now
    hop.next_reminder_at = None
    review.resolved, review.resolved_at = True, now
    if upstream is not None:
        hop.upstream_name, hop.upstream_email = upstream.name, address
        nxt = workflow.forward(app, session, tb.id, upstream.name, now)
        return (
            f"review {review_id}: traceback #{tb.id} hop {hop.position} upstream {upstream.name}; "
            f"hop {nxt.position} requested"
        )
    if answer == HopOutcome.ORIGIN:
        hop.customer_name = tb.origin_customer = name
    workflow.close(session, tb.id, answer, now)
    return f"review {review_id}: traceback #{tb.id} closed ({answer}{', customer ' + name if name else ''})"


def accept_contact(app: App, session: Session, review_id: int, now: datetime) -> str:
    """An `unauthorized_sender` review: its sender may answer for the hop's provider (a backup contact),
    and its message is queued to be read again, so its answer applies. What was done."""
    review = _review(session, review_id)
    if review.kind != ReviewKind.UNAUTHORIZED_SENDER:
        raise DeskError(f"review {review_id} is {review.kind}, not an unregistered sender")
    message = session.get(Message, review.message_pk) if review.message_pk is not None else None
    hop = session.get(Hop, review.hop_id) if review.hop_id is not None else None
    if message is None or not message.sender or hop is None:
        raise DeskError(f"review {review_id} names no stored message, sender and hop")
    provider = session.get(Provider, hop.provider_id)
    assert provider is not None and provider.id is not None and message.id is not None
    providers.add_contact(session, provider.id, message.sender, ContactRole.BACKUP)
    # Processed again as it arrived: the pipeline reads it and the desk now accepts the sender.
    clear_derived(session, [message.id])
    session.execute(
        update(Message).where(Message.id == message.id).values(status=MessageStatus.NEW, disposition=None)  # type: ignore[arg-type]
    )
    review.resolved, review.resolved_at = True, now
    return (
        f"review {review_id}: {message.sender} may now answer for {provider.name}; "
        f"its message #{message.id} is read again"
    )


def _forward(app: App, session: Session, c: Command, now: datetime) -> str:
    assert c.number is not None and c.name is not None
    hop = workflow.forward(app, session, c.number, c.name, now)
    return f"traceback #{c.number}: hop {hop.position} requested"


def _close(app: App, session: Session, c: Command, now: datetime) -> str:
    assert c.number is not None and c.result is not None
    workflow.close(session, c.number, c.result, now)
    return f"traceback #{c.number}: closed ({c.result})"


def _resolve(app: App, session: Session, c: Command, now: datetime) -> str:
    assert c.number is not None
    return resolve(app, session, c.number, now, answer=c.answer, name=c.name, address=c.address)


def _accept(app: App, session: Session, c: Command, now: datetime) -> str:
    assert c.number is not None
    return accept_contact(app, session, c.number, now)


def _help(app: App, session: Session, c: Command, now: datetime) -> str:
    return "the commands are listed below"


# Each verb of the grammar (parsers/ops_commands.py) to the desk function it runs.
DO: dict[str, Callable[[App, Session, Command, datetime], str]] = {
    "resolve": _resolve,
    "forward": _forward,
    "close": _close,
    "accept-contact": _accept,
    "help": _help,
}


# --- by email -------------------------------------------------------------------------------


def is_ops_command(app: App, session: Session, m: Inbound) -> bool:
    """From an ops address, by a person, in reply to mail mailbot sent that address."""
    sender = (m.sender or "").lower()
    ops = {a.lower() for a in app.settings.ops.email}
    if not sender or sender not in ops or m.facts.is_automatic or m.parsed.envelope.lookalikes:
        return False
    env = m.parsed.envelope
    ids = [i for i in (env.in_reply_to, *env.references) if i]
    if not ids:
        return False
    sent = session.exec(
        select(OutboxMessage.recipients).where(
            OutboxMessage.message_id.in_(ids),  # type: ignore[attr-defined]
            OutboxMessage.kind.in_(REPLIES_TO),  # type: ignore[attr-defined]
        )
    ).all()
    return any(sender in {r.lower() for r in recipients} for recipients in sent)


def run_commands(app: App, session: Session, text: str, now: datetime) -> tuple[list[dict[str, Any]], bool]:
    """Each command line applied in order: the results, and whether to list the commands
    (asked for, or nothing understood)."""
    results: list[dict[str, Any]] = []
    for item in parse(text):
        if isinstance(item, Rejected):
            results.append({"line": item.line, "ok": False, "said": item.error})
            continue
        try:
            said = DO[item.verb](app, session, item, now)
            session.flush()
        except DeskError as exc:
            results.append({"line": item.line, "ok": False, "said": str(exc)})
            continue
        results.append({"line": item.line, "ok": True, "said": said})
    wants_help = any(r["line"].split()[:1] == ["help"] for r in results) or not any(r["ok"] for r in results)
    return results, wants_help


def answer_ops(app: App, session: Session, m: Inbound, now: datetime) -> None:
    """Apply ops' commands and answer with what each line did (the outbox makes it once per message)."""
    assert m.sender is not None
    results, wants_help = run_commands(app, session, m.facts.own_text, now)
    commands = [{"usage": g.usage, "does": g.does} for g in GRAMMARS.values()] if wants_help else []
    outbox.enqueue(
        session,
        mail=app.mail,
        dedupe_key=notices.ops_reply_key(m.delivery.pk),
        kind=NoticeKind.OPS_REPLY,
        to=[m.sender],
        context={"results": results, "commands": commands},
        now=now,
        in_reply_to=m.parsed.envelope.message_id,
    )
