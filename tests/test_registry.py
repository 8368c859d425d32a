"""The registry is plain bookkeeping: every operation is checked here without an event loop."""

from __future__ import annotations

from pushapp.runtime.registry import Connection, Registry, Removed


def conn(name: str, uid: str | None = None, groups: tuple[str, ...] = ()) -> Connection:
    c = Connection(name * 48, uid, sink=None, handle=None)
    c.groups = groups
    return c


def test_add_indexes_uid_and_groups_and_remove_returns_what_it_held() -> None:
    registry = Registry()
    a = conn("a", "42", ("room", "news"))
    registry.add(a)
    assert (len(registry), a in registry, registry.get(a.client_id)) == (1, True, a)
    assert (registry.uids, registry.groups) == ({"42": (a,)}, {"room": (a,), "news": (a,)})
    a.session = {"k": 1}
    removed = registry.remove(a)
    assert removed is not None
    assert (removed.uid, sorted(removed.groups)) == ("42", ["news", "room"])
    assert (registry.clients, registry.uids, registry.groups, a.groups, a.session) == ({}, {}, {}, (), {})
    assert registry.remove(a) is None  # twice: nothing more to undo


def test_join_and_leave_report_whether_anything_changed() -> None:
    registry = Registry()
    a, stranger = conn("a"), conn("b")
    registry.add(a)
    assert registry.join(a, "room") is True
    assert registry.join(a, "room") is False
    assert registry.join(stranger, "room") is False  # not registered (closed meanwhile)
    assert registry.has_group("room")
    assert registry.leave(a, "room") is True
    assert registry.leave(a, "room") is False
    assert not registry.has_group("room")


def test_bind_moves_a_connection_between_uids() -> None:
    registry = Registry()
    a = conn("a", "1")
    registry.add(a)
    assert registry.bind(a, "2") == (True, "1")
    assert (registry.uids, a.uid) == ({"2": (a,)}, "2")
    assert registry.bind(a, "2") == (False, "2")
    assert registry.bind(a, None) == (True, "2")
    assert (registry.uids, a.uid, registry.has_uid("2")) == ({}, None, False)


def test_ungroup_returns_the_members_it_had() -> None:
    registry = Registry()
    a, b = conn("a", groups=("room",)), conn("b", groups=("room", "x"))
    registry.add(a)
    registry.add(b)
    assert set(registry.ungroup("room")) == {a, b}
    assert (registry.groups, a.groups, b.groups) == ({"x": (b,)}, (), ("x",))
    assert registry.ungroup("room") == []


def test_targets_resolve_every_kind_with_exclusions() -> None:
    registry = Registry()
    a, b, c = conn("a", "1", ("g",)), conn("b", "1", ("g", "h")), conn("c", "2", ("h",))
    for x in (a, b, c):
        registry.add(x)
    assert set(registry.targets("all", None)) == {a, b, c}
    assert set(registry.targets("all", None, [a.client_id])) == {b, c}
    assert registry.targets("cid", [c.client_id, "f" * 48]) == [c]
    assert set(registry.targets("uid", ["1"])) == {a, b}
    assert set(registry.targets("uid", ["1", "2", "3"])) == {a, b, c}
    assert sorted(x.client_id for x in registry.targets("grp", ["g", "h"])) == [
        x.client_id for x in (a, b, c)
    ]  # b, in both, once
    assert registry.targets("grp", ["g", "h"], [b.client_id, c.client_id]) == [a]
    assert registry.targets("grp", ["nobody"]) == []


def test_members_and_silent_connections() -> None:
    registry = Registry()
    a, b = conn("a", groups=("g",)), conn("b")
    registry.add(a)
    registry.add(b)
    assert set(registry.members("")) == {a, b}
    assert set(registry.members("g")) == {a}
    a.last_seen, b.last_seen = 10.0, 20.0
    assert registry.silent_since(15.0) == [a]
    assert list(registry) == [a, b]


def test_removed_is_a_value() -> None:
    assert Removed("1", ["g"]) == Removed("1", ["g"])


def test_a_uid_with_many_connections_is_indexed_by_a_set_and_shrinks_back() -> None:
    """Small members are tuples (an idle server holds one entry per uid: 56 bytes, not a set's 216); past
    SMALL, a set; emptied, gone."""
    from pushapp.runtime.registry import SMALL

    registry = Registry()
    conns = [conn(chr(ord("a") + i), "7", ("g",)) for i in range(SMALL + 2)]
    for c in conns:
        registry.add(c)
    assert registry.uids["7"] == set(conns) and registry.groups["g"] == set(conns)
    assert set(registry.targets("uid", ["7"])) == set(conns)
    for c in conns[:-1]:
        registry.remove(c)
    assert set(registry.uids["7"]) == {conns[-1]} and set(registry.members("g")) == {conns[-1]}
    registry.remove(conns[-1])
    assert (registry.uids, registry.groups) == ({}, {})
