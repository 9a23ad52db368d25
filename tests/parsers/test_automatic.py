"""Automatic replies beyond RFC 3834 (issue 12 §5): the shapes of parsers/automatic.py, and what they leave alone."""

from __future__ import annotations

import pytest
from mailbot.parsers.message import parse_message

ROBOTS = {
    "x-auto-response-suppress": ({"X-Auto-Response-Suppress": "All"}, "RE: Traceback request", "Thanks."),
    "precedence-junk": ({"Precedence": "junk"}, "RE: Traceback request", "Thanks."),
    "auto-generated": ({"Auto-Submitted": "auto-generated"}, "RE: Traceback request", "Thanks."),
    "ticket-en": ({}, "Ticket #48213 received: [Traceback #7]", "An engineer will respond shortly."),
    "case-created": ({}, "Case 00123 has been created", "We will get back to you."),
    "request-received": ({}, "Request received: Traceback request", "We will get back to you."),
    "ack-body-en": ({}, "RE: Traceback request", "This is an automated acknowledgement of your message."),
    "ooo-es": ({}, "Respuesta automática: Fuera de la oficina", "Vuelvo el lunes."),
    "ticket-es": ({}, "Solicitud 4411 recibida", "Gracias por escribirnos."),
    "ack-body-es": ({}, "RE: Traceback request", "Este es un mensaje automático: su solicitud ha sido recibida."),
    "ooo-fr": ({}, "Réponse automatique : absent du bureau", "Je répondrai à mon retour."),
    "ack-body-fr": ({}, "RE: Traceback request", "Votre demande a bien été reçue et sera traitée."),
    "ooo-pt": ({}, "Resposta automática: Ausente do escritório", "Responderei quando retornar."),
    "ack-body-pt": ({}, "RE: Traceback request", "Esta é uma mensagem automática. Sua solicitação foi recebida."),
}
PEOPLE = {
    "answer": ({}, "RE: Traceback request [Traceback #7]", "We received this call from Lingo Telecom."),
    "mentions-ticket": (
        {},
        "RE: Traceback request [Traceback #7]",
        "We opened ticket #4411 internally; the call came to us from Lingo Telecom.",
    ),
    "helpdesk-tag": ({}, "[Ticket #4411] RE: Traceback request", "The call came from Lingo Telecom."),
    "auto-submitted-no": ({"Auto-Submitted": "no"}, "RE: Traceback request", "The call came from Lingo Telecom."),
    "respuesta": ({}, "RE: Solicitud de rastreo", "Recibimos la llamada de Lingo Telecom."),
}


def _raw(headers: dict[str, str], subject: str, body: str) -> bytes:
    head = {
        "From": "NOC <noc@smartbiz.example>",
        "To": "traceback@desk.example",
        "Subject": subject,
        "Message-ID": "<x@smartbiz.example>",
        "MIME-Version": "1.0",
        "Content-Type": "text/plain; charset=utf-8",
        "Content-Transfer-Encoding": "8bit",
        **headers,
    }
    return ("\r\n".join(f"{k}: {v}" for k, v in head.items()) + "\r\n\r\n" + body + "\r\n").encode()


@pytest.mark.parametrize("name", sorted(ROBOTS))
def test_automatic_shapes_are_recognised(name: str) -> None:
    live = parse_message(_raw(*ROBOTS[name]), live=True).live
    assert live is not None and live.is_automatic


@pytest.mark.parametrize("name", sorted(PEOPLE))
def test_what_people_write_is_read(name: str) -> None:
    live = parse_message(_raw(*PEOPLE[name]), live=True).live
    assert live is not None and not live.is_automatic
