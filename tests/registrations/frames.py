"""Captured frames the registration tests re-sequence (all cut from real captures)."""

from __future__ import annotations

from tests.fakes.esl_server import event_frames, frame_body

REGISTER_1001 = event_frames("register_1001.json.raw", "sofia::register")[0]
REGISTER_1002 = event_frames("register_1002.json.raw", "sofia::register")[0]
UNREGISTER_1001 = event_frames("unregister_1001.json.raw", "sofia::unregister")[0]
# 1002 registering again from :5091 (new Call-ID, expires 30), then sofia's expire of it.
REREGISTER_1002 = event_frames("register_short_expiry_then_expire.json.raw", "sofia::register")[0]
EXPIRE_1002 = event_frames("register_short_expiry_then_expire.json.raw", "sofia::expire")[0]
PRE_REGISTER_1001 = event_frames("register_1001.json.raw", "sofia::pre_register")[0]
FAILURE_FRAMES = event_frames("register_failure_wrong_password.json.raw")
PLAIN_REGISTER_1001 = event_frames("register_1001.plain.raw", "sofia::register")[0]


def respliced(frame: bytes, old: bytes, new: bytes) -> bytes:
    """The frame with ``old`` in its body replaced and its Content-Length fixed."""
    body = frame_body(frame)
    assert old in body, old
    body = body.replace(old, new, 1)
    head = frame.split(b"\n\n", 1)[0]
    lines = [
        b"Content-Length: %d" % len(body) if line.startswith(b"Content-Length: ") else line
        for line in head.split(b"\n")
    ]
    return b"\n".join(lines) + b"\n\n" + body
# SIPp: 1060 registers, then unregisters (Expires: 0) from another Call-ID and contact.
REGISTER_1060_SIPP = event_frames("unregister_other_call_id_sipp.json.raw", "sofia::register")[0]
UNREGISTER_1060_OTHER_CALL_ID = event_frames("unregister_other_call_id_sipp.json.raw", "sofia::unregister")[0]
UNREGISTER_1002_CONTACT_STAR = event_frames("unregister_contact_star_rawsip.json.raw", "sofia::unregister")[0]
REGISTER_1002_RAWSIP = event_frames("register_expires_header_rawsip.json.raw", "sofia::register")[0]
