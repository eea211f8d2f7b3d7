"""``set_validators`` in the ledger: more than 2/3 of the current validators replace the set,
which applies from the next block; the state commits to it; a key rotated out no longer
counts; refusals have their reason codes (admission: a malformed list, a signer who is no
validator; execution: too few validators' signatures, a second change in one block)."""

from __future__ import annotations

import hashlib

import nacl.signing
import pytest

from lien.ledger import Reason, TxError, check_body, parse_tx
from lien.ledger.signers import check_signer
from lien.ledger.state import ValidatorChange
from lien.ledger.types.set_validators import changeable_validators_max

from ledger_support import World


def keys(label: str, count: int) -> tuple[nacl.signing.SigningKey, ...]:
    return tuple(nacl.signing.SigningKey(hashlib.sha256(f"{label} {i}".encode()).digest())
                 for i in range(count))


def pub(key: nacl.signing.SigningKey) -> str:
    return bytes(key.verify_key).hex()


def world(count: int) -> tuple[World, tuple[nacl.signing.SigningKey, ...]]:
    validators = keys("validator", count)
    return World(validators=validators), validators


def test_a_key_is_rotated_by_three_of_four_validators_from_the_next_block() -> None:
    w, (a, b, c, d) = world(4)
    assert w.state.validators == ValidatorChange(1, tuple(sorted(map(pub, (a, b, c, d)))))
    (new_a,) = keys("new", 1)
    new_set = [pub(new_a), pub(b), pub(c), pub(d)]
    out = w.block([w.mk.set_validators([a, b, c], new_set)])
    assert [r.to_json() for r in out.results] == [{"code": "ok"}]
    change = ValidatorChange(out.height + 1, tuple(sorted(new_set)))
    assert w.state.validators == change
    # the state commits to the new set: its line is the block's change
    assert change.line() in w.state.all_lines()
    assert f"v|{out.height + 1}|" in change.line()
    assert w.state.take_changes()[4] == [change]
    assert w.state.take_changes()[4] == []
    replayed = w.replay(take_changes=True)
    assert replayed.validators == change
    w.reload()
    assert w.state.validators == change


def test_the_change_line_is_part_of_the_state_root() -> None:
    w, (a, b, c, d) = world(4)
    (new_a,) = keys("new", 1)
    root = w.state.state_root
    w.ok(w.mk.set_validators([a, b, c], [pub(new_a), pub(b), pub(c), pub(d)]))
    from lien.ledger.state import next_state_root
    assert w.state.state_root == next_state_root(root, [w.state.validators.line()])


def test_two_of_four_is_not_enough_and_changes_nothing() -> None:
    w, (a, b, c, d) = world(4)
    before = w.state.validators
    result = w.refuse(w.mk.set_validators([a, b], [pub(a), pub(b), pub(c)]),
                      Reason.QUORUM_NOT_MET)
    assert result.to_json() == {"code": "quorum_not_met", "have": 2, "need": 3}
    assert w.state.validators == before


def test_exactly_two_thirds_is_refused_more_than_two_thirds_executes() -> None:
    w, six = world(6)
    new_set = [pub(k) for k in six[:5]]
    result = w.refuse(w.mk.set_validators(six[:4], new_set), Reason.QUORUM_NOT_MET)
    assert result.to_json() == {"code": "quorum_not_met", "have": 4, "need": 5}
    w.ok(w.mk.set_validators(six[:5], new_set))
    assert w.state.validators.keys == tuple(sorted(new_set))


def test_signatures_by_keys_outside_the_set_do_not_count() -> None:
    w, (a, b, c, d) = world(4)
    strangers = keys("stranger", 3)
    result = w.refuse(w.mk.set_validators([a, b, *strangers], [pub(a)]), Reason.QUORUM_NOT_MET)
    assert result.to_json() == {"code": "quorum_not_met", "have": 2, "need": 3}
    result = w.refuse(w.mk.set_validators(strangers, [pub(a)]), Reason.NOT_AUTHORISED)
    assert result.to_json() == {"code": "not_authorised", "role": "validator"}


def test_after_a_rotation_the_old_key_no_longer_counts() -> None:
    w, (a, b, c, d) = world(4)
    (new_a,) = keys("new", 1)
    rotated = [pub(new_a), pub(b), pub(c), pub(d)]
    w.ok(w.mk.set_validators([a, b, c], rotated))
    # the old key of a signs with b and c: two validators of the set in force, not three
    result = w.refuse(w.mk.set_validators([a, b, c], [pub(b), pub(c), pub(d)]),
                      Reason.QUORUM_NOT_MET)
    assert result.to_json() == {"code": "quorum_not_met", "have": 2, "need": 3}
    # admission refuses a change signed only by a key that left the set
    alone = w.mk.set_validators([a], [pub(a)])
    with pytest.raises(TxError) as refused:
        check_signer(w.state, alone)
    assert refused.value.reason is Reason.UNKNOWN_SIGNER
    check_signer(w.state, w.mk.set_validators([new_a], [pub(a)]))  # the new key may submit
    w.ok(w.mk.set_validators([new_a, c, d], [pub(b), pub(c), pub(d)]))
    assert w.state.validators.keys == tuple(sorted([pub(b), pub(c), pub(d)]))


def test_one_change_per_block() -> None:
    w, (a, b, c, d) = world(4)
    first = w.mk.set_validators([a, b, c], [pub(a), pub(b), pub(c)])
    second = w.mk.set_validators([a, b, c], [pub(a), pub(b)])
    out = w.block([first, second])
    assert [r.to_json() for r in out.results] == [{"code": "ok"},
                                                  {"code": "validators_changed"}]
    assert out.results[1].reason is Reason.VALIDATORS_CHANGED
    assert w.state.validators == ValidatorChange(out.height + 1,
                                                 tuple(sorted([pub(a), pub(b), pub(c)])))
    # the next block may change it again, by more than 2/3 of the set now in force (2 of 3
    # is not)
    w.refuse(w.mk.set_validators([a, b], [pub(a), pub(b)]), Reason.QUORUM_NOT_MET)
    w.ok(w.mk.set_validators([a, b, c], [pub(a), pub(b)]))


def test_admission_wants_a_validator_s_signature() -> None:
    w, (a, _, _, _) = world(4)
    by_account = w.mk.make([w.admins[0]], "set_validators", validators=[pub(a)])
    with pytest.raises(TxError) as refused:
        check_signer(w.state, by_account)
    assert refused.value.reason is Reason.UNKNOWN_SIGNER
    check_signer(w.state, w.mk.set_validators([a], [pub(a)]))


@pytest.mark.parametrize("validators, reason", [
    ([], Reason.BAD_FIELD),
    (["ab" * 32, "ab" * 32], Reason.BAD_FIELD),
    (["AB" * 32], Reason.BAD_FIELD),
    (["ab" * 31], Reason.BAD_FIELD),
    ("ab" * 32, Reason.MALFORMED),
    ([7], Reason.MALFORMED),
    ([f"{i:064x}" for i in range(changeable_validators_max + 1)], Reason.BAD_FIELD),
])
def test_a_malformed_list_is_refused_at_admission(validators: object, reason: Reason) -> None:
    w, (a, _, _, _) = world(4)
    body = w.mk.body("set_validators", validators=validators)
    with pytest.raises(TxError) as refused:
        check_body(body)
    assert refused.value.reason is reason


def test_the_largest_changeable_set_is_accepted() -> None:
    """23 keys: their quorum, 16, is signatures_max; the change still fits a transaction."""
    w, (a, b, c, d) = world(4)
    big = [f"{i + 1:064x}" for i in range(changeable_validators_max)]
    assert changeable_validators_max == 23
    tx = w.mk.set_validators([a, b, c], big)
    parse_tx(tx.to_json())
    w.ok(tx)
    assert len(w.state.validators.keys) == 23


def test_the_schedule_gives_the_set_in_force_at_each_height() -> None:
    from lien.chain import ValidatorSchedule

    genesis = ("aa" * 32, "bb" * 32)
    later = ValidatorChange(5, ("cc" * 32,))
    schedule = ValidatorSchedule(genesis, [later])
    assert [schedule.at(h).keys for h in (0, 1, 4)] == [genesis] * 3
    assert [schedule.at(h).keys for h in (5, 6, 1000)] == [later.keys] * 3
    assert (schedule.latest.keys, schedule.latest_from) == (later.keys, 5)
    assert schedule.changes() == [later]
    with pytest.raises(ValueError):
        schedule.add(ValidatorChange(5, ("dd" * 32,)))  # one change per height, in order
    assert schedule.at(1).quorum == 2 and schedule.at(5).quorum == 1
