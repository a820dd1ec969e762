"""Source addresses and HELO names of outbound mail (outbound_ips per sender domain, the global
outbound_helo map) through the real daemon, and IPv6 MX delivery: receivers are aiosmtpd sinks on
loopback that record the peer address and the EHLO name they saw. Linux accepts binds to any
127.0.0.0/8 address, so 127.0.0.2 and 127.0.0.3 need no set-up."""

import mgtest
from dnsrig import DnsRig
from mgtest import MailGuard, Sink
from tlsrig import send, shared_port

MX4, MX6 = "127.0.0.71", "::1"


def start():
    dns = DnsRig({"dest.test": [
        ("v4", "MX", "10 mx4.dest.test."), ("mx4", "A", MX4),
        ("v6", "MX", "10 mx6.dest.test."), ("mx6", "AAAA", MX6),
        ("dual", "MX", "10 mxd.dest.test."), ("mxd", "AAAA", MX6), ("mxd", "A", MX4),
    ]})
    port = shared_port([MX4, MX6])
    sink4 = Sink(host=MX4, port=port, data_delay=1.0)
    sink6 = Sink(host=MX6, port=port)
    backend = Sink()
    mg = MailGuard(config={"resolvers": dns.resolver, "dns_timeout_ms": 1000,
                           "outbound_port": port, "retry_min": "1h",
                           "hostname": "mg.example.org",
                           # a repeatable key: one "outbound_helo = IP NAME" line each
                           "outbound_helo": "\noutbound_helo = ".join([
                               "127.0.0.2 out2.example.net", "127.0.0.3 out3.example.net",
                               "::1 out6.example.net"])},
                   domains={"multi.test": {"transport": backend.transport,
                                           "outbound_ips": "127.0.0.2 127.0.0.3"},
                            "plain.test": {"transport": backend.transport},
                            "six.test": {"transport": backend.transport,
                                         "outbound_ips": "::1 127.0.0.3"}}).start()
    return mg, sink4, sink6


def test_source_ips_round_robin_with_helo_per_ip():
    mg, sink4, sink6 = start()
    # the receiver holds each DATA for 1 s, so the two messages use two connections (slow
    # start opens 2 at once for an MX destination), one from each source address
    send(mg, "a@multi.test", "u1@v4.dest.test")
    send(mg, "a@multi.test", "u2@v4.dest.test")
    msgs = sink4.wait_count(2, timeout=30)
    seen = {m.peer[0]: m.helo for m in msgs}
    assert set(seen) == {"127.0.0.2", "127.0.0.3"}, seen
    assert seen["127.0.0.2"] == "out2.example.net" and seen["127.0.0.3"] == "out3.example.net"


def test_domain_without_outbound_ips_uses_the_system_choice():
    mg, sink4, sink6 = start()
    send(mg, "a@plain.test", "u@v4.dest.test")
    m = sink4.wait_count(1, timeout=30)[0]
    assert m.peer[0] == "127.0.0.1" and m.helo == "mg.example.org", (m.peer, m.helo)


def test_ipv6_mx_and_family_matching():
    mg, sink4, sink6 = start()
    send(mg, "a@plain.test", "u@v6.dest.test")
    m = sink6.wait_count(1, timeout=30)[0]
    assert m.peer[0] == "::1"
    mg.wait_log(r"to=<u@v6\.dest\.test> relay=mx6\.dest\.test\[::1\]:\d+ .*status=sent")
    # six.test sends from ::1 over IPv6 and 127.0.0.3 over IPv4
    send(mg, "a@six.test", "w@v6.dest.test")
    m = sink6.wait_count(2, timeout=30)[-1]
    assert m.peer[0] == "::1" and m.helo == "out6.example.net", (m.peer, m.helo)
    send(mg, "a@six.test", "w@v4.dest.test")
    m = sink4.wait_count(1, timeout=30)[0]
    assert m.peer[0] == "127.0.0.3" and m.helo == "out3.example.net", (m.peer, m.helo)
    # multi.test has no IPv6 source address: the AAAA of a dual-stack MX is skipped
    send(mg, "a@multi.test", "x@dual.dest.test")
    m = sink4.wait_count(2, timeout=30)[-1]
    assert m.rcpt_tos == ["x@dual.dest.test"] and m.peer[0] in ("127.0.0.2", "127.0.0.3")
