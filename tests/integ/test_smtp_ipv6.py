"""Listeners on IPv6 and IPv4 at once: ::1 is in the default mynetworks, both listeners appear in
state_dir/listeners, and mail sent over IPv6 is received, logged with the IPv6 client and relayed."""
import smtplib

import mgtest
from mgtest import MailGuard, Sink


def test_ipv6_and_ipv4_listeners():
    sink = Sink()
    mg = MailGuard(config={"listen": "[::1]:0 127.0.0.1:0"},
        domains={"example.test": {"transport": sink.transport}}).start()
    addrs = {l.host: l.port for l in mg.listeners}
    assert set(addrs) == {"::1", "127.0.0.1"}, f"listeners: {mg.listeners}"
    s = smtplib.SMTP("::1", addrs["::1"], timeout=10)
    s.ehlo("v6.client.test")
    s.sendmail("a@client.test", ["user@example.test"], b"Subject: over v6\r\n\r\nhello\r\n")
    s.quit()
    sink.wait_count(1, 10)
    mg.wait_log(r"connect client=::1 mynetworks=yes")
    mg.wait_log(r"queued from=<a@client\.test> nrcpt=1 .*client=::1")
    received = sink.messages[0].data.decode()
    assert "(unknown [::1])" in received, received[:300]
