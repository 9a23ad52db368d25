"""`mailbot providers add|list|import`, `mailbot traceback open|show|list|exempt`, `mailbot traceforward
open|show`, `mailbot dispute list|accept|reject`, `review` and `replies learn|export`."""

from __future__ import annotations

import json
import shlex
from pathlib import Path

import click

from mailbot.app import App
from mailbot.cli._common import pass_app
from mailbot.cli.options import creates_database, format_option
from mailbot.desk import disputes, learning, ops, providers, views, workflow
from mailbot.domain.timeutil import parse_instant
from mailbot.domain.vocabulary import ExemptReason, ProviderStatus, TracebackDirection
from mailbot.intake import pipeline
from mailbot.parsers import ops_commands
from mailbot.parsers.phones import to_e164
from mailbot.store.db import session_scope
from mailbot.store.tables.messages import Incident


@click.group("providers")
def providers_group() -> None:
    """The directory of providers: who gets notices, and who may answer them."""


@providers_group.command("add")
@click.argument("name")
@click.option(
    "--email",
    "emails",
    multiple=True,
    help="Contact address; the first is the dedicated contact, later ones are backups. Repeatable.",
)
@click.option("--alias", "aliases", multiple=True, help="Another name the provider goes by. Repeatable.")
@click.option("--domain", "domains", multiple=True, help="A domain whose every address may answer. Repeatable.")
@click.option("--status", type=click.Choice([status.value for status in ProviderStatus], case_sensitive=False))
@click.option(
    "--foreign/--domestic",
    default=None,
    help="Not a U.S. provider (as the FCC's Robocall Mitigation "
    "Database says); decides U.S. Point of Entry hop labels. Unchanged when omitted; new ones are domestic.",
)
@click.option("--country", help="ISO code or name; a country other than the U.S. implies --foreign.")
@click.option(
    "--require-dkim/--no-require-dkim",
    "require_dkim",
    default=None,
    help="Its answers count only with a passing DKIM signature aligned with the From domain "
    "(README \"Security model\"). Unchanged when omitted; new ones do not require it.",
)
@click.option("--language", help="Language of its notices where a template has it (es: Spanish). Default English.")
@creates_database
@pass_app
def providers_add(
    app: App,
    name: str,
    emails: tuple[str, ...],
    aliases: tuple[str, ...],
    domains: tuple[str, ...],
    status: str | None,
    foreign: bool | None,
    country: str | None,
    require_dkim: bool | None,
    language: str | None,
) -> None:
    """Add provider NAME, or change it: add addresses and aliases, set its flags."""
    with session_scope(app.engine) as session:
        try:
            provider = providers.add(
                session,
                name,
                emails=emails[:1],
                backups=emails[1:],
                aliases=aliases,
                domains=domains,
                status=status,
                foreign=foreign,
                country=country,
                require_dkim=require_dkim,
                language=language,
                now=app.now(),
            )
        except ValueError as exc:
            raise click.ClickException(str(exc)) from exc
        click.echo(f"provider {provider.id}: {provider.name}")


@providers_group.command("list")
@format_option("text", "json")
@click.option(
    "--non-cooperative",
    "non_cooperative",
    is_flag=True,
    help="Only providers designated Non-Cooperative now, with why and since when.",
)
@pass_app
def providers_list(app: App, fmt: str, non_cooperative: bool) -> None:
    """Every provider with its aliases, contacts and status."""
    if non_cooperative:
        _non_cooperative(app, fmt)
        return
    with session_scope(app.engine) as session:
        rows = providers.listing(session)
    if fmt == "json":
        click.echo(json.dumps(rows, indent=2))
        return
    for row in rows:
        contacts = ", ".join(
            c["address"]
            + (" (backup)" if c["role"] == "backup" else "")
            + (" UNDELIVERABLE" if c["undeliverable"] else "")
            for c in row["contacts"]
        )
        aliases = f" aka {' / '.join(row['aliases'])}" if row["aliases"] else ""
        where = (
            f"  [foreign{', ' + row['country'] if row['country'] else ''}]"
            if row["foreign"]
            else (f"  [{row['country']}]" if row["country"] else "")
        )
        where += "  [requires DKIM]" if row["require_dkim"] else ""
        click.echo(f"{row['id']:>4}  {row['status']:<6} {row['name']}{aliases}{where}  <{contacts or 'no contact'}>")


def _non_cooperative(app: App, fmt: str) -> None:
    from mailbot.archive.export import noncooperative

    with session_scope(app.engine) as session:
        rows = noncooperative(session, only_current=True)
    if fmt == "json":
        click.echo(json.dumps(rows, indent=2))
        return
    for row in rows:
        tracebacks = " ".join(f"#{t}" for t in row["traceback_ids"])
        click.echo(f"{row['provider_id']:>4}  {row['provider']}  since {row['at']}  {row['reasons']}  [{tracebacks}]")


@providers_group.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@creates_database
@pass_app
def providers_import(app: App, file: Path) -> None:
    """Import providers from a CSV with columns name,emails,backups,aliases,domains,status and optional
    foreign (yes/no), country (lists split by ';')."""
    with session_scope(app.engine) as session:
        try:
            count = providers.import_csv(session, file, app.now())
        except (ValueError, UnicodeDecodeError) as exc:
            raise click.ClickException(str(exc)) from exc
    click.echo(f"imported {count} provider row(s) from {file}")


@click.group("traceback")
def traceback_group() -> None:
    """Tracebacks: open one, follow it hop by hop."""


@traceback_group.command("open")
@click.option("--provider", "provider_name", required=True, help="The provider that delivered the call.")
@click.option("--from-incident", "incident_id", help="Take the call details from this stored incident.")
@click.option("--campaign")
@click.option("--call-time", help="ISO time of the call, e.g. 2026-10-30T14:05:00Z.")
@click.option("--called", help="Called number (E.164).")
@click.option("--caller", help="Calling number (E.164).")
@click.option("--description")
@pass_app
def traceback_open(
    app: App,
    provider_name: str,
    incident_id: str | None,
    campaign: str | None,
    call_time: str | None,
    called: str | None,
    caller: str | None,
    description: str | None,
) -> None:
    """Open a traceback; its first hop asks PROVIDER. Prints the traceback number."""
    try:
        moment = parse_instant(call_time) if call_time else None
    except ValueError as exc:
        raise click.BadParameter(f"not an ISO time: {call_time!r}", param_hint="--call-time") from exc
    numbers = {}
    for label, value in (("--called", called), ("--caller", caller)):
        if value:
            normal = to_e164(value)
            if normal is None:
                raise click.BadParameter(f"not a phone number: {value!r}", param_hint=label)
            numbers[label] = normal
    with session_scope(app.engine) as session:
        if incident_id:
            incident = session.get(Incident, incident_id.lstrip("#"))
            if incident is None:
                raise click.ClickException(f"no stored incident #{incident_id}")
            campaign = campaign or incident.campaign or ""
            moment = moment or incident.call_time
            numbers.setdefault("--called", incident.called or "")
            numbers.setdefault("--caller", incident.caller or "")
            description = description or incident.description
        if not campaign:
            raise click.UsageError("--campaign is required (or --from-incident)")
        if moment is None or not numbers.get("--called") or not numbers.get("--caller"):
            raise click.UsageError("--call-time, --called and --caller are required (or --from-incident)")
        try:
            tb = workflow.open_traceback(
                app,
                session,
                provider_name=provider_name,
                campaign=campaign,
                now=app.now(),
                call_time=moment,
                called=numbers["--called"],
                caller=numbers["--caller"],
                description=description,
                incident_id=incident_id,
            )
        except workflow.DeskError as exc:
            raise click.ClickException(str(exc)) from exc
        click.echo(tb.id)


@traceback_group.command("show")
@click.argument("number", type=int)
@format_option("text", "json")
@pass_app
def traceback_show(app: App, number: int, fmt: str) -> None:
    """The whole timeline of traceback NUMBER: hops, answers, messages in and out."""
    with session_scope(app.engine) as session:
        try:
            shown = views.timeline(session, number)
        except workflow.DeskError as exc:
            raise click.ClickException(str(exc)) from exc
    _print_timeline(shown, fmt)


def _print_timeline(shown: dict, fmt: str) -> None:
    if fmt == "json":
        click.echo(json.dumps(shown, indent=2))
        return
    forward = shown["direction"] == TracebackDirection.FORWARD
    click.echo(
        ("Trace Forward" if forward else "Traceback")
        + f" #{shown['traceback_id']}  {shown['status']}"
        + (f" ({shown['result']})" if shown["result"] else "")
        + f"  campaign {shown['campaign']}"
        + (f"  STRIKE EXEMPT ({shown['exempt_reason']})" if shown["strike_exempt"] else "")
    )
    if forward:
        click.echo(f"  call-back number {shown['called']}")
    else:
        click.echo(f"  call {shown['call_time']}  from {shown['caller']}  to {shown['called']}")
    for dispute in shown["disputes"]:
        click.echo(f"  dispute {dispute['id']} ({dispute['status']}) by {dispute['provider']}: {dispute['reason']}")
    for hop in shown["hops"]:
        answer = hop["outcome"] or "awaiting answer"
        named = hop["upstream_name"] or hop["customer_name"]
        click.echo(
            f"  hop {hop['position']}: {hop['provider']}  requested {hop['requested_at']}  "
            f"-> {answer}{f' ({named})' if named else ''}"
            + (f"  [{hop['label']}]" if hop.get("label") else "")
            + (f"  answered {hop['answered_at']}" if hop["answered_at"] else "")
        )
        if hop["evidence"]:
            click.echo(f"      \"{hop['evidence']}\"")
        if hop["proposed"]:
            p = hop["proposed"]
            named = p["upstream_name"] or p["customer_name"] or ""
            address = f" <{p['upstream_email']}>" if p["upstream_email"] else ""
            click.echo(f"      proposed, awaiting YES: {p['outcome']} {named}{address} ({p['confidence']:.2f})")
        for m in hop["messages"]:
            who = ", ".join(m["to"]) if m["direction"] == "out" else m["from"]
            click.echo(f"      {m['at']}  {m['direction']:<3} {m['kind']:<22} {who}")


@traceback_group.command("list")
@click.option("--open", "only_open", is_flag=True, help="Only open tracebacks.")
@format_option("text", "json")
@pass_app
def traceback_list(app: App, only_open: bool, fmt: str) -> None:
    """Tracebacks, newest last."""
    with session_scope(app.engine) as session:
        rows = views.listing(session, only_open=only_open)
    if fmt == "json":
        click.echo(json.dumps(rows, indent=2))
        return
    for row in rows:
        click.echo(
            f"#{row['traceback_id']:<6} {row['kind']:<13} {row['status']:<6} {row['result'] or '':<10} "
            f"hops {row['hops']:<3} at {row['current'] or '-'}  {row['campaign']}"
            + ("  [strike exempt]" if row["strike_exempt"] else "")
        )


@traceback_group.command("forward")
@click.argument("number", type=int)
@click.option("--provider", "provider_name", required=True, help="The upstream provider to ask next.")
@pass_app
def traceback_forward(app: App, number: int, provider_name: str) -> None:
    """Open the next hop of traceback NUMBER to PROVIDER (after a review); resolves its reviews."""
    with session_scope(app.engine) as session:
        try:
            hop = workflow.forward(app, session, number, provider_name, app.now())
        except workflow.DeskError as exc:
            raise click.ClickException(str(exc)) from exc
        click.echo(f"traceback #{number}: hop {hop.position} requested")


@traceback_group.command("close")
@click.argument("number", type=int)
@click.option("--result", required=True, help="origin, not_found, no_response, or another short label.")
@pass_app
def traceback_close(app: App, number: int, result: str) -> None:
    """End traceback NUMBER with RESULT (after a review); resolves its reviews."""
    with session_scope(app.engine) as session:
        try:
            workflow.close(session, number, result, app.now())
        except workflow.DeskError as exc:
            raise click.ClickException(str(exc)) from exc
    click.echo(f"traceback #{number}: closed ({result})")


@click.group("review")
def review_group() -> None:
    """Items waiting for a human: disputes, unclear answers, unknown upstreams, refusals, bounces."""


@review_group.command("list")
@click.option("--all", "include_resolved", is_flag=True, help="Resolved ones too.")
@format_option("text", "json")
@pass_app
def review_list(app: App, include_resolved: bool, fmt: str) -> None:
    with session_scope(app.engine) as session:
        rows = views.reviews(session, include_resolved)
    if fmt == "json":
        click.echo(json.dumps(rows, indent=2))
        return
    for row in rows:
        where = f"#{row['traceback_id']}" if row["traceback_id"] else "-"
        click.echo(
            f"{row['id']:>4}  {row['kind']:<20} {where:<7} {row['provider'] or '':<24} {row['detail']}"
            + ("  (resolved)" if row["resolved"] else "")
        )


@review_group.command("resolve")
@click.argument("review_id", type=int)
@click.argument("answer", nargs=-1)
@click.option(
    "--outcome",
    type=click.Choice(["upstream", "origin", "not_found"]),
    help="What the carrier's reply said (as ANSWER does): applied to its hop; the carrier's words and the "
    "answer are kept as a labelled example to learn from.",
)
@click.option("--upstream", "upstream_name", help="With --outcome upstream: the upstream provider's name.")
@click.option("--email", "upstream_email", help="With --outcome upstream: the upstream's contact address.")
@click.option("--customer", "customer_name", help="With --outcome origin: the originating customer's name.")
@click.option("--accept", is_flag=True, help="Apply the change the review proposes (a provider's new contact).")
@pass_app
def review_resolve(
    app: App,
    review_id: int,
    answer: tuple[str, ...],
    outcome: str | None,
    upstream_name: str | None,
    upstream_email: str | None,
    customer_name: str | None,
    accept: bool,
) -> None:
    """Settle review REVIEW_ID. With ANSWER (upstream "NAME" ADDRESS, origin ["CUSTOMER"] or not_found), or
    --outcome with --upstream/--email/--customer, record it on the review's hop for the carrier and move the
    traceback on (the carrier's words and the answer are kept as a labelled example: `replies learn`);
    without, mark it dealt with. The same line works in a reply to the digest. --accept applies the change a
    review proposes (a contact_change: the address becomes the provider's contact); without it the proposal is
    dropped."""
    if accept:
        if answer or outcome:
            raise click.UsageError("--accept takes no answer")
        with session_scope(app.engine) as session:
            try:
                review = workflow.resolve_review(session, review_id, app.now(), accept=True)
            except workflow.DeskError as exc:
                raise click.ClickException(str(exc)) from exc
            click.echo(f"review {review_id} resolved; accepted: {views.describe_proposal(review.proposal)}")
        return
    if outcome is None and (upstream_name or upstream_email or customer_name):
        raise click.UsageError("--upstream, --email and --customer go with --outcome")
    if outcome is not None:
        if answer:
            raise click.UsageError("give the answer as ANSWER or as --outcome, not both")
        if outcome == "upstream" and not (upstream_name or upstream_email):
            raise click.UsageError("--outcome upstream needs --upstream NAME or --email ADDR")
        named = upstream_name if outcome == "upstream" else customer_name if outcome == "origin" else None
        address = upstream_email if outcome == "upstream" else None
        answer = (outcome, *([named] if named else []), *([address] if address else []))
    command = ops_commands.parse_line(shlex.join(["resolve", str(review_id), *answer]))
    if isinstance(command, ops_commands.Rejected):
        raise click.UsageError(command.error)
    with session_scope(app.engine) as session:
        try:
            said = ops.resolve(
                app, session, review_id, app.now(), answer=command.answer, name=command.name, address=command.address
            )
        except workflow.DeskError as exc:
            raise click.ClickException(str(exc)) from exc
    click.echo(said)


@review_group.command("accept-contact")
@click.argument("review_id", type=int)
@pass_app
def review_accept_contact(app: App, review_id: int) -> None:
    """An unregistered sender's answer (review REVIEW_ID): register the sender as a backup contact of the
    hop's provider and read its message again, so the answer applies."""
    with session_scope(app.engine) as session:
        try:
            said = ops.accept_contact(app, session, review_id, app.now())
        except workflow.DeskError as exc:
            raise click.ClickException(str(exc)) from exc
    pipeline.process_pending(app, app.now())  # as `serve` would next: the answer is applied now
    click.echo(said)


@click.group("replies")
def replies_group() -> None:
    """What mailbot learns from the answers people read in carriers' replies."""


@replies_group.command("learn")
@pass_app
def replies_learn(app: App) -> None:
    """Build the nearest-neighbour model from every labelled example; later replies close to one read the same."""
    with session_scope(app.engine) as session:
        count, right, new = learning.learn(session)
    click.echo(
        f"{count} labelled example(s) in the model ({new} new); read right leaving each one out: {right}/{count}"
    )


@replies_group.command("export")
@click.option("--output", "-o", type=click.Path(dir_okay=False, path_type=Path), help="Write here instead of stdout.")
@pass_app
def replies_export(app: App, output: Path | None) -> None:
    """The labelled set as JSONL, one example a line (the reply benchmark's batch format)."""
    with session_scope(app.engine) as session:
        rows = learning.labelled(session)
    text = "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)
    if output:
        output.write_text(text, encoding="utf-8")
    else:
        click.echo(text, nl=False)


def _reassess(app: App, provider_ids: list[int]) -> None:
    """A Strike Exempt mark takes effect at once: each provider's status and designation again."""
    from mailbot.scheduler.jobs import reassess

    summary = reassess(app, provider_ids, app.now())
    if summary.status_changes:
        click.echo(f"status re-evaluated: {summary.status_changes} provider(s) changed")


@traceback_group.command("exempt")
@click.argument("number", type=int)
@click.option("--reason", required=True, type=click.Choice([r.value for r in ExemptReason]))
@click.option("--note", help="Why, in words (kept in the record and shown in reports).")
@pass_app
def traceback_exempt(app: App, number: int, reason: str, note: str | None) -> None:
    """Mark traceback NUMBER Strike Exempt: kept in the record and exports, counted toward no status,
    Non-Cooperative designation or metrics; its providers' status is re-evaluated now."""
    with session_scope(app.engine) as session:
        try:
            affected = disputes.exempt(session, number, reason, app.now(), note=note)
        except disputes.DisputeError as exc:
            raise click.ClickException(str(exc)) from exc
    click.echo(f"traceback #{number}: strike exempt ({reason})")
    _reassess(app, affected)


@click.group("traceforward")
def traceforward_group() -> None:
    """Trace Forward: follow a call-back number downstream, provider by provider, to who answers it."""


@traceforward_group.command("open")
@click.option("--number", required=True, help="The call-back number (E.164).")
@click.option("--provider", "provider_name", required=True, help="The provider that serves the number.")
@click.option("--campaign", required=True)
@click.option("--description")
@pass_app
def traceforward_open(app: App, number: str, provider_name: str, campaign: str, description: str | None) -> None:
    """Open a Trace Forward of NUMBER; its first hop asks PROVIDER. Prints its number (shared with tracebacks)."""
    normal = to_e164(number)
    if normal is None:
        raise click.BadParameter(f"not a phone number: {number!r}", param_hint="--number")
    with session_scope(app.engine) as session:
        try:
            tb = workflow.open_traceback(
                app,
                session,
                provider_name=provider_name,
                campaign=campaign,
                now=app.now(),
                called=normal,
                description=description,
                direction=TracebackDirection.FORWARD,
            )
        except workflow.DeskError as exc:
            raise click.ClickException(str(exc)) from exc
        click.echo(tb.id)


@traceforward_group.command("show")
@click.argument("number", type=int)
@format_option("text", "json")
@pass_app
def traceforward_show(app: App, number: int, fmt: str) -> None:
    """The whole timeline of Trace Forward NUMBER (the `traceback show` contract, direction forward)."""
    with session_scope(app.engine) as session:
        try:
            shown = views.timeline(session, number)
        except workflow.DeskError as exc:
            raise click.ClickException(str(exc)) from exc
    if shown["direction"] != TracebackDirection.FORWARD:
        raise click.ClickException(f"#{number} is a traceback, not a Trace Forward: `mailbot traceback show {number}`")
    _print_timeline(shown, fmt)


@traceforward_group.command("list")
@click.option("--open", "only_open", is_flag=True, help="Only open ones.")
@format_option("text", "json")
@pass_app
def traceforward_list(app: App, only_open: bool, fmt: str) -> None:
    """Trace Forwards only (`traceback list` shows both kinds)."""
    with session_scope(app.engine) as session:
        rows = views.listing(session, only_open=only_open, direction=TracebackDirection.FORWARD)
    if fmt == "json":
        click.echo(json.dumps(rows, indent=2))
        return
    for row in rows:
        click.echo(
            f"#{row['traceback_id']:<6} {row['status']:<6} {row['result'] or '':<10} hops {row['hops']:<3} "
            f"at {row['current'] or '-'}  {row['called']}  {row['campaign']}"
        )


@click.group("dispute")
def dispute_group() -> None:
    """Disputes: a provider's challenge to a traceback's basis, kept with its evidence; ops decide."""


@dispute_group.command("list")
@click.option("--all", "include_decided", is_flag=True, help="Decided ones too.")
@format_option("text", "json")
@pass_app
def dispute_list(app: App, include_decided: bool, fmt: str) -> None:
    with session_scope(app.engine) as session:
        rows = disputes.listing(session, include_decided=include_decided)
    if fmt == "json":
        click.echo(json.dumps(rows, indent=2))
        return
    for row in rows:
        files = f"  [{', '.join(row['attachments'])}]" if row["attachments"] else ""
        click.echo(
            f"{row['id']:>4}  {row['status']:<8} #{row['traceback_id']:<6} {row['provider'] or '':<24} "
            f"{row['reason']}{files}"
        )


def _decide(app: App, dispute_id: int, accept: bool, reason: str) -> None:
    with session_scope(app.engine) as session:
        try:
            affected = disputes.decide(app, session, dispute_id, accept, reason, app.now())
        except disputes.DisputeError as exc:
            raise click.ClickException(str(exc)) from exc
    click.echo(f"dispute {dispute_id}: {'accepted' if accept else 'rejected'}; the provider is told")
    if affected:
        _reassess(app, affected)


@dispute_group.command("accept")
@click.argument("dispute_id", type=int)
@click.option("--reason", required=True, help="Why (sent to the provider).")
@pass_app
def dispute_accept(app: App, dispute_id: int, reason: str) -> None:
    """Accept dispute DISPUTE_ID: its traceback becomes Strike Exempt (accepted_dispute), statuses re-evaluated."""
    _decide(app, dispute_id, True, reason)


@dispute_group.command("reject")
@click.argument("dispute_id", type=int)
@click.option("--reason", required=True, help="Why (sent to the provider).")
@pass_app
def dispute_reject(app: App, dispute_id: int, reason: str) -> None:
    """Reject dispute DISPUTE_ID: the traceback stands; the provider is told why."""
    _decide(app, dispute_id, False, reason)


COMMANDS = (providers_group, traceback_group, review_group, traceforward_group, dispute_group, replies_group)
