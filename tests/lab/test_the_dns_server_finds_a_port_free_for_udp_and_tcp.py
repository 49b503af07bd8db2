"""The test lab's own fixtures do not flake: the DNS server finds a port free for both
UDP and TCP even when the first one it is given is taken for TCP."""

from __future__ import annotations

import socket

from dnslib.server import DNSServer

from testlab import peers


def test_the_dns_server_retries_when_tcp_is_taken_on_the_udp_port(monkeypatch):
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    busy = taken.getsockname()[1]
    calls = []
    real = DNSServer.__init__

    def first_udp_port_is_busy(self, resolver, address, port, *args, **kwargs):
        if not kwargs.get("tcp") and not calls:
            calls.append(port)
            port = busy  # the OS "chose" a port that TCP cannot have
        real(self, resolver, address, port, *args, **kwargs)

    monkeypatch.setattr(DNSServer, "__init__", first_udp_port_is_busy)
    try:
        peer = peers.DnsPeer().start()
        try:
            assert peer.port != busy
        finally:
            peer.stop()
    finally:
        taken.close()
