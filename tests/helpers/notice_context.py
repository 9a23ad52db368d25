"""A notice's context as the desk builds it: one call, one provider, one downstream."""

from __future__ import annotations

from datetime import UTC, datetime

NOW = datetime(2020, 6, 26, 17, 44, tzinfo=UTC)
CALL = {
    "call_time": datetime(2020, 6, 26, 15, 34, tzinfo=UTC),
    "called": "+14072223658",
    "caller": "+14072613544",
    "campaign": "Utility-30MinDisconnect",
    "description": "Likely FRAUD. Recorded message says your electric service will be disconnected in 30 minutes; "
    "press 1 to make payment arrangements.",
}
OTHER_CALL = {
    **CALL,
    "call_time": datetime(2021, 5, 12, 15, 7, 12, tzinfo=UTC),
    "called": "+15129550991",
    "campaign": "Amazon-AuthorizeOrder",
    "description": "Calls impersonating Amazon.",
}
CONTEXT = {
    "traceback_id": 2640,
    "provider_name": "Smartbiz Telecom, LLC",
    "call": CALL,
    "downstream_name": "Big Terminating Carrier",
    "upstream_name": "Smart Network Solutions Communications Corp",
    "recorded": {
        "outcome": "upstream",
        "upstream_name": "Chock Telecom",
        "upstream_email": "noc@chocktelecom.com",
        "evidence": "We received this call from Chock Telecom.",
    },
    "question": "you named two providers",
    "status": "YELLOW",
    "open_requests": [
        {"traceback_id": 2640, "call": CALL, "requested_at": NOW},
        {"traceback_id": 11540, "call": OTHER_CALL, "requested_at": NOW, "downstream_name": "Big Terminating Carrier"},
    ],
    "comment": {
        "author": "David Frankel",
        "organization": "Traceback Desk",
        "text": "Please know that we tried to contact Chock Telecom.\nThey did not answer.",
    },
    "deadline": datetime(2020, 6, 29, 17, 44, tzinfo=UTC),
    "sender": "someone@elsewhere.example",
    "dispute": {"decision": "accepted", "reason": "consent records verified", "disputed": "We dispute this."},
}
