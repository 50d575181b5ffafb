import socket

import pytest

from xstilts import hub


@pytest.fixture(autouse=True)
def fresh_probe(monkeypatch):
    for name in hub.OFFLINE_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(hub, "force_offline", lambda: None)
    hub.hub_reachable.cache_clear()
    yield
    hub.hub_reachable.cache_clear()


def test_offline_variable_is_respected_without_probing(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(hub, "_connects", lambda *a: pytest.fail("probed the network although offline was requested"))
    assert hub.hub_reachable() is False


def test_listening_endpoint_is_reachable_and_probed_once(monkeypatch):
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]
        monkeypatch.setattr(hub, "_endpoint", lambda: f"http://127.0.0.1:{port}")
        calls = []
        real = hub._connects
        monkeypatch.setattr(hub, "_connects", lambda *a: calls.append(a) or real(*a))
        assert hub.hub_reachable() is True
        assert hub.hub_reachable() is True
    assert len(calls) == 1


def test_closed_endpoint_is_unreachable_and_switches_libraries_offline(monkeypatch):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # bound, not listening: connections are refused
        monkeypatch.setattr(hub, "_endpoint", lambda: f"http://127.0.0.1:{port}")
        switched = []
        monkeypatch.setattr(hub, "force_offline", lambda: switched.append(True))
        assert hub.hub_reachable() is False
    assert switched == [True]
