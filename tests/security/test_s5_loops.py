"""Issue 12 §5: no loops with robots, no floods of work for humans."""

from __future__ import annotations

import pytest

from .security_desk import CARRIER, DOMAIN, Desk, answer, reply_to

UNCLEAR = "Thanks, we are looking at it."


def _clarifications(desk: Desk) -> int:
    return sum(1 for m in desk.received(CARRIER[1]) if m["X-Mailbot-Notice"] == "clarification")


def test_at_most_two_clarifications_per_hop(desk: Desk) -> None:
    number = desk.open_traceback()
    notice = desk.notice(CARRIER[1], "first_contact")
    for n in range(5):
        desk.send(answer(notice, f"{UNCLEAR} (#{n})"), CARRIER[1], [reply_to(notice)])
    desk.settled(5)
    desk.cli("outbox", "send")
    assert _clarifications(desk) <= 2
    assert desk.show(number)["hops"][0]["outcome"] is None
    # The hop now waits for a person: one review says so, counting the answers past the cap.
    (waiting,) = [r for r in desk.reviews() if r["kind"] == "clarification_limit"]
    assert waiting["traceback_id"] == number and waiting["count"] == 3


# Automatic replies people's mail systems write, without RFC 3834's Auto-Submitted.
AUTOMATIC = {
    "ticket-en": (
        {},
        "Ticket #48213 received: [Traceback #{n}]",
        "Thank you for contacting the NOC. This is an automated acknowledgement: your request has been "
        "received and assigned ticket number 48213. An engineer will respond shortly.",
    ),
    "ooo-es": (
        {},
        "Respuesta automática: Fuera de la oficina",
        "Estoy fuera de la oficina hasta el lunes con acceso limitado al correo. Para asuntos urgentes "
        "contacte a noc@smartbiz.example.",
    ),
    "ooo-fr": (
        {},
        "Réponse automatique : absent du bureau",
        "Je suis absent du bureau jusqu'au 10 novembre. Je répondrai à votre message à mon retour.",
    ),
    "ooo-pt": (
        {},
        "Resposta automática: Ausente do escritório",
        "Estou fora do escritório até segunda-feira. Responderei à sua mensagem quando retornar.",
    ),
    "suppress": ({"X-Auto-Response-Suppress": "All"}, None, UNCLEAR),
}


@pytest.mark.parametrize("shape", sorted(AUTOMATIC))
def test_automatic_replies_are_never_answered(desk: Desk, shape: str) -> None:
    number = desk.open_traceback()
    notice = desk.notice(CARRIER[1], "first_contact")
    extra, subject, words = AUTOMATIC[shape]
    raw = answer(notice, words, extra=extra, subject=subject.format(n=number) if subject else None)
    desk.send(raw, CARRIER[1], [reply_to(notice)])
    desk.settled(1)
    desk.cli("outbox", "send")
    assert _clarifications(desk) == 0
    assert desk.show(number)["hops"][0]["outcome"] is None


def test_reviews_from_one_stranger_are_grouped(desk: Desk) -> None:
    for n in range(6):
        raw = (
            f"From: someone@stranger.example\r\nTo: traceback@{DOMAIN}\r\nSubject: hello {n}\r\n"
            f"Message-ID: <s-{n}@stranger.example>\r\n\r\nIs this the right address for abuse reports?\r\n"
        )
        desk.pipe(raw.encode(), sender="someone@stranger.example", recipient=f"traceback@{DOMAIN}")
    desk.settled(6)
    mine = [r for r in desk.reviews() if "someone@stranger.example" in r["detail"]]
    assert len(mine) == 1
    assert "6" in mine[0]["detail"]
