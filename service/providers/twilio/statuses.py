"""Twilio's status words for messages and calls, and what each means to Relay."""

from __future__ import annotations

# Where a message or call-out is, as the outcome of its delivery. "sent" moves a delivery
# only as far as sent; any other word changes nothing.
DELIVERY_OUTCOMES = {
    "delivered": "delivered",
    "read": "delivered",
    "completed": "delivered",
    "failed": "failed",
    "undelivered": "failed",
    "canceled": "failed",
    "busy": "failed",
    "no-answer": "failed",
}

# An incoming call's CallStatus while it rings or talks, and once it has ended.
CALL_ACTIVE = ("queued", "ringing", "in-progress")
CALL_FINAL = ("completed", "busy", "failed", "no-answer", "canceled")

# A call-out's final CallStatus when nobody took the call, and what it says.
MISSED_CALLS = {
    "busy": "the line was busy",
    "no-answer": "nobody answered the call",
    "failed": "the call could not be placed",
    "canceled": "the call was canceled before it was answered",
}

# A call nobody took is, in the words of a message's status, one that failed.
MISSED_AS_MESSAGE = {"busy": "failed", "no-answer": "failed"}
