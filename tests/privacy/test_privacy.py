"""The privacy guard: accuracy floors on the labelled set, redaction, and streamed restoring."""

from __future__ import annotations

import itertools
import json
import random
import string
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.support.paths import DATA
from weighbridge.errors import ConfigError
from weighbridge.privacy import BUILTIN_KINDS, Guard, Span, Vault
from weighbridge.privacy.checks import iban_ok, luhn_ok, ssn_ok
from weighbridge.privacy.evaluate import score
from weighbridge.privacy.secrets import is_random_token

LABELLED = DATA / "privacy" / "labelled.jsonl"
#: Written before the detectors for person names, record numbers, dates of birth and addresses
#: existed (see its first commit); their floors below come from it.
HELD_OUT = DATA / "privacy" / "heldout.jsonl"

# Floors: what the guard achieves on the labelled set, less a margin (bench/privacy.py prints
# the table). All kinds score 1.000 except secret precision (0.974: a YouTube playlist id).
FLOORS = {
    "card": (0.95, 0.95),
    "iban": (0.95, 0.95),
    "ssn": (0.95, 0.95),
    "email": (0.95, 0.95),
    "ip": (0.95, 0.95),
    "phone": (0.95, 0.95),
    "secret": (0.93, 0.95),
}
# On the held-out set: person recall is 0.92 (a name with no cue before it is not found).
HELD_OUT_FLOORS = {
    "person": (0.95, 0.85),
    "mrn": (0.95, 0.9),
    "dob": (0.95, 0.9),
    "address": (0.95, 0.9),
    "email": (0.95, 0.9),
}


def load(path: Path = LABELLED) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def examples(path: Path = LABELLED) -> list[tuple[str, list[tuple[str, str]]]]:
    out = []
    for row in load(path):
        spans = row["spans"]
        assert isinstance(row["text"], str) and isinstance(spans, list)
        out.append((row["text"], [(s["kind"], s["text"]) for s in spans]))
    return out


# ------------------------------------------------------------------------- the labelled set


def test_labelled_set_is_well_formed() -> None:
    rows = load()
    held_out = load(HELD_OUT)
    assert len(rows) >= 150
    for row in rows:
        assert row["note"] in ("positive", "negative", "near-miss")
        assert bool(row["spans"]) == (row["note"] == "positive"), row
    assert sum(row["note"] == "near-miss" for row in rows) >= 50
    kinds: set[str] = set()
    for row in rows + held_out:
        spans = row["spans"]
        assert isinstance(spans, list) and isinstance(row["text"], str)
        for span in spans:
            assert span["kind"] in BUILTIN_KINDS and span["text"] in row["text"], row
            kinds.add(span["kind"])
    assert kinds == set(BUILTIN_KINDS)
    assert sum(not row["spans"] for row in held_out) >= 20  # look-alikes that must stay


@pytest.mark.parametrize("kind", sorted(FLOORS))
def test_precision_and_recall_floors(kind: str) -> None:
    s = score(Guard(), examples())[kind]
    min_precision, min_recall = FLOORS[kind]
    assert s.tp + s.fn >= 10, f"too few labelled {kind} spans to measure"
    assert s.precision >= min_precision, s.misses
    assert s.recall >= min_recall, s.misses


@pytest.mark.parametrize("kind", sorted(HELD_OUT_FLOORS))
def test_held_out_floors(kind: str) -> None:
    s = score(Guard(), examples(HELD_OUT))[kind]
    min_precision, min_recall = HELD_OUT_FLOORS[kind]
    assert s.tp + s.fn >= 7, f"too few held-out {kind} spans to measure"
    assert s.precision >= min_precision, s.misses
    assert s.recall >= min_recall, s.misses


def test_held_out_look_alikes_stay_untouched() -> None:
    guard = Guard()
    for text, labels in examples(HELD_OUT):
        if not labels:
            assert guard.detect(text) == [], text


def test_redact_then_restore_round_trips_every_labelled_text() -> None:
    guard = Guard()
    for text, _ in examples(HELD_OUT):  # its misses (a name with no cue) stay, but nothing breaks
        vault = Vault()
        assert vault.restore(guard.redact(text, vault)) == text
    for text, labels in examples():
        vault = Vault()
        redacted = guard.redact(text, vault)
        assert vault.restore(redacted) == text
        for _, value in labels:
            assert value not in redacted
        assert guard.detect(redacted) == [], redacted


# ------------------------------------------------------------------------- validators


def test_checksums() -> None:
    assert luhn_ok("4111111111111111") and not luhn_ok("4111111111111112")
    assert iban_ok("GB82WEST12345698765432") and not iban_ok("GB83WEST12345698765432")
    assert not iban_ok("GB82WEST1234569876543")  # one short for GB
    assert ssn_ok("219", "09", "9999")
    assert not any(ssn_ok(*p) for p in [("000", "12", "3456"), ("666", "12", "3456"), ("912", "34", "5678")])
    assert not ssn_ok("123", "00", "4567") and not ssn_ok("123", "45", "0000")


def test_entropy_rule() -> None:
    rng = random.Random(7)
    alphabet = string.ascii_letters + string.digits
    tokens = ["".join(rng.choice(alphabet) for _ in range(32)) for _ in range(200)]
    assert sum(map(is_random_token, tokens)) >= 198
    for word in [
        "9fceb02d0ae598e95dc970b74767f19372d61af8",  # git SHA: one letter case
        "550e8400-e29b-41d4-a716-446655440000",  # UUID
        "SGVsbG8gd29ybGQsIHRoaXMgaXMgYSB0ZXN0",  # base64 of "Hello world, this is a test"
        "getUserById2FactorAuthToken",  # an identifier
        "AbstractSingletonProxyFactoryBean",
    ]:
        assert not is_random_token(word), word


# ------------------------------------------------------------------------- detect


def test_detect_is_sorted_and_longest_wins() -> None:
    guard = Guard(terms={"name": ["jane"]})
    spans = guard.detect("call 555-123-4567 or mail jane@example.com, jane")
    assert [(s.kind, s.text) for s in spans] == [
        ("phone", "555-123-4567"),
        ("email", "jane@example.com"),  # longer than the term "jane" inside it
        ("name", "jane"),
    ]
    assert all(a.end <= b.start for a, b in itertools.pairwise(spans))
    text = "mail jane@example.com"
    assert all(text[s.start : s.end] == s.text for s in guard.detect(text))


def test_span_is_frozen() -> None:
    span = Span("email", 0, 3, "a@b")
    with pytest.raises(AttributeError):
        span.kind = "x"  # type: ignore[misc]


def test_user_patterns_and_terms() -> None:
    guard = Guard(
        patterns={"ticket": r"TCK-\d{6}"},
        terms={"codename": ["Bluebird", "Project Nightjar"], "empty": []},
    )
    text = "TCK-004211: BLUEBIRD slipped; project nightjar is on track. Bluebirds are birds."
    assert [(s.kind, s.text) for s in guard.detect(text)] == [
        ("ticket", "TCK-004211"),
        ("codename", "BLUEBIRD"),
        ("codename", "project nightjar"),
    ]
    vault = Vault()
    assert guard.redact(text, vault).startswith("[TICKET_1]: [CODENAME_1] slipped; [CODENAME_2] is")


def test_user_pattern_beats_builtin_on_a_tie() -> None:
    guard = Guard(patterns={"employee-phone": r"555-123-4567"})
    assert [s.kind for s in guard.detect("ring 555-123-4567")] == ["employee-phone"]
    assert guard.redact("ring 555-123-4567", Vault()) == "ring [EMPLOYEE_PHONE_1]"


def test_kinds_selects_builtins() -> None:
    guard = Guard(kinds={"email"})
    assert [s.kind for s in guard.detect("a@example.com 555-123-4567 4111 1111 1111 1111")] == ["email"]
    assert not Guard(kinds=set()).flags("a@example.com")


def test_bad_configuration_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="unknown privacy kind"):
        Guard(kinds={"emails"})
    with pytest.raises(ConfigError, match="not a valid regular expression"):
        Guard(patterns={"broken": "(unclosed"})


def test_flags() -> None:
    guard = Guard()
    assert guard.flags("my card is 4111 1111 1111 1111")
    assert not guard.flags("version 10.0.0.1.2 shipped on 2024-03-15 for $1,299.99")


# ------------------------------------------------------------------------- redact / restore


def test_same_value_same_placeholder() -> None:
    guard, vault = Guard(), Vault()
    first = guard.redact("a@example.com wrote to b@example.com, then a@example.com again", vault)
    assert first == "[EMAIL_1] wrote to [EMAIL_2], then [EMAIL_1] again"
    assert guard.redact("reply to b@example.com", vault) == "reply to [EMAIL_2]"  # across messages
    assert vault.restore("Sure, [EMAIL_2] and [EMAIL_1].") == "Sure, b@example.com and a@example.com."


def test_restore_leaves_plain_and_garbled_text_alone() -> None:
    guard, vault = Guard(), Vault()
    guard.redact("mail a@example.com", vault)
    for answer in ["No placeholders here [at all].", "Unknown [EMAIL_9] and [email_1] and [EMAIL_1", ""]:
        assert vault.restore(answer) == answer
        restorer = vault.restorer()
        assert restorer.feed(answer) + restorer.flush() == answer


def test_placeholders_already_in_the_text_are_never_issued() -> None:
    guard, vault = Guard(), Vault()
    redacted = guard.redact("literal [EMAIL_1] then a@example.com", vault)
    assert redacted == "literal [EMAIL_1] then [EMAIL_2]"
    assert vault.restore(redacted) == "literal [EMAIL_1] then a@example.com"


# ------------------------------------------------------------------------- streaming

PIECES = ["[EMAIL_1]", "[EMAIL_2]", "[PHONE_1]", "[CARD_1]", "[CODENAME_1]", "[EMAIL_99]", "[EMAIL_1",
          "[", "]", "[EMA", "_1]", "[not one]", "[[", "Dear ", "the number is ", " ok.\n", "é", "[EMAIL_10]"]  # fmt: skip


def streaming_vault() -> Vault:
    guard, vault = Guard(terms={"codename": ["Bluebird"]}), Vault()
    guard.redact("a@example.com, b@example.com, 555-123-4567, 4111 1111 1111 1111, Bluebird", vault)
    for i in range(3, 12):  # enough to issue [EMAIL_10], whose prefix [EMAIL_1 is also [EMAIL_1]'s
        guard.redact(f"user{i}@example.com", vault)
    return vault


def stream(vault: Vault, pieces: list[str]) -> str:
    restorer = vault.restorer()
    return "".join(restorer.feed(p) for p in pieces) + restorer.flush()


def test_stream_every_two_piece_split() -> None:
    vault = streaming_vault()
    answer = "".join(PIECES) + "Write to [EMAIL_1] or [PHONE_1]; [CARD_1] [EMAIL_10][EMAIL_1]"
    expected = vault.restore(answer)
    assert "a@example.com" in expected and "[EMAIL_99]" in expected
    for cut in range(len(answer) + 1):
        assert stream(vault, [answer[:cut], answer[cut:]]) == expected, cut


@settings(max_examples=300, deadline=None)
@given(
    parts=st.lists(st.one_of(st.sampled_from(PIECES), st.text(max_size=6)), max_size=25),
    cuts=st.lists(st.integers(min_value=0, max_value=400), max_size=30),
)
def test_stream_random_splits(parts: list[str], cuts: list[int]) -> None:
    vault = streaming_vault()
    answer = "".join(parts)
    bounds = sorted({c for c in cuts if c <= len(answer)} | {0, len(answer)})
    pieces = [answer[a:b] for a, b in itertools.pairwise(bounds)]
    assert stream(vault, pieces) == vault.restore(answer)


def test_stream_holds_back_only_a_possible_placeholder() -> None:
    vault = streaming_vault()
    restorer = vault.restorer()
    assert restorer.feed("Hello [EMA") == "Hello "
    assert restorer.feed("IL_2] and [x") == "b@example.com and [x"
    assert restorer.feed("") == ""
    assert restorer.feed("[EMAIL_1") == ""  # could still be [EMAIL_1] or [EMAIL_10]
    assert restorer.flush() == "[EMAIL_1"
