"""`mailbot providers add|list|import` and `mailbot traceback open|show|list`."""

from __future__ import annotations

import json
import shlex
from pathlib import Path

import click

from mailbot.app import App
from mailbot.cli._common import pass_app
from mailbot.cli.options import creates_database, format_option
from mailbot.desk import ops, providers, views, workflow
from mailbot.domain.timeutil import parse_instant
from mailbot.domain.vocabulary import ProviderStatus
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
) -> None:
    """Add provider NAME (or add addresses and aliases to it)."""
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
    if fmt == "json":
        click.echo(json.dumps(shown, indent=2))
        return
    click.echo(
        f"Traceback #{shown['traceback_id']}  {shown['status']}"
        + (f" ({shown['result']})" if shown["result"] else "")
        + f"  campaign {shown['campaign']}"
    )
    click.echo(f"  call {shown['call_time']}  from {shown['caller']}  to {shown['called']}")
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
            f"#{row['traceback_id']:<6} {row['status']:<6} {row['result'] or '':<10} hops {row['hops']:<3} "
            f"at {row['current'] or '-'}  {row['campaign']}"
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
@click.option("--accept", is_flag=True, help="Apply the change the review proposes (a provider's new contact).")
@pass_app
def review_resolve(app: App, review_id: int, answer: tuple[str, ...], accept: bool) -> None:
    """Settle review REVIEW_ID. With ANSWER (upstream "NAME" ADDRESS, origin ["CUSTOMER"] or not_found)
    record it on the review's hop for the carrier and move the traceback on; without, mark it dealt with.
    The same line works in a reply to the digest. --accept applies the change a review proposes (a
    contact_change: the address becomes the provider's contact); without it the proposal is dropped."""
    if accept:
        if answer:
            raise click.UsageError("--accept takes no ANSWER")
        with session_scope(app.engine) as session:
            try:
                review = workflow.resolve_review(session, review_id, app.now(), accept=True)
            except workflow.DeskError as exc:
                raise click.ClickException(str(exc)) from exc
            click.echo(f"review {review_id} resolved; accepted: {views.describe_proposal(review.proposal)}")
        return
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


COMMANDS = (providers_group, traceback_group, review_group)
