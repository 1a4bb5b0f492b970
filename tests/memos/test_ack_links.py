"""Reading acknowledgement tokens with the current key and the previous ones."""

from __future__ import annotations

from service.memos.ack_links import make_ack_token, read_ack_token

OLD = "the-old-secret-key-0123456789"
NEW = "the-new-secret-key-9876543210"
MEMO_ID = "0123456789abcdef0123456789abcdef"


def test_a_token_reads_with_any_listed_key_and_with_no_other() -> None:
    token = make_ack_token(secret=OLD, memo_id=MEMO_ID, contact_key="director")

    claim = read_ack_token(secrets=[NEW, OLD], token=token)

    assert claim is not None
    assert (claim.memo_id, claim.contact_key) == (MEMO_ID, "director")
    assert read_ack_token(secrets=[NEW], token=token) is None
    assert read_ack_token(secrets=[], token=token) is None


def test_a_previous_key_does_not_make_an_altered_token_read() -> None:
    token = make_ack_token(secret=OLD, memo_id=MEMO_ID, contact_key="director")
    body, _, mac = token.partition(".")
    altered = f"{body[:-1]}{'A' if body[-1] != 'A' else 'B'}.{mac}"

    assert read_ack_token(secrets=[NEW, OLD], token=altered) is None
