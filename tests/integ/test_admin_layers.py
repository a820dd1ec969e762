"""The global layer switch (global_disable_layers) on the console's Detection page and in
/api/v1/layers, against the real daemon: checkboxes write the words into mailguard.conf
(comments kept), clearing every box removes the key, a form without the group leaves it alone,
the JSON API reads and writes it as an array, bad words are refused with the file unchanged, and
the table shows what is off globally and per domain after the reload."""

import html
import re
import urllib.parse

from mgtest import wait_for
from test_admin_ops import Console, ctl_token, start

TIMEOUT = 180


def boxes(page):
    """The checked boxes of the global_disable_layers group."""
    return sorted(re.findall(r'name="global_disable_layers" value="([a-z_]+)" checked', page))


def post_layers(con, words, sent=True, extra=None):
    fields = [("csrf", con.csrf)]
    if sent:
        fields.append(("global_disable_layers.sent", "1"))
    fields += [("global_disable_layers", w) for w in words]
    fields += list((extra or {}).items())
    return con.request("POST", "/layers", urllib.parse.urlencode(fields),
        {"Content-Type": "application/x-www-form-urlencoded"})


def test_global_switch_page_and_api():
    mg = start(domains={"example.test": {"transport": "[127.0.0.1]:9",
        "disable_layers": "rbl"}})
    conf = mg.conf_path
    conf.write_text(conf.read_text() + "# keep this comment\n")
    con = Console(mg).login()
    st, _, page = con.get("/layers")
    assert st == 200 and boxes(page) == [], page[-3000:]
    assert 'name="global_disable_layers.sent"' in page
    # tick bayes and neural
    st, _, page = post_layers(con, ["bayes", "neural"])
    assert st == 303, (st, page[-2000:])
    text = conf.read_text()
    assert re.search(r"^global_disable_layers = bayes neural$", text, re.M), text
    assert "# keep this comment" in text
    wait_for(lambda: "off globally" in con.get("/layers")[2] and
        "<code>bayes</code> <code>neural</code>" in con.get("/layers")[2], 10,
        "the table shows the global switch after the reload")
    st, _, page = con.get("/layers")
    assert boxes(page) == ["bayes", "neural"], boxes(page)
    row = re.search(r'<tr><td><a href="/domains/example.test">.*?</tr>', page).group(0)
    assert "<code>bayes</code> <code>neural</code> </td><td><code>rbl</code>" in row, row
    # a form without the group (another field only) leaves the switch alone
    st, _, _ = post_layers(con, [], sent=False, extra={"greylist_delay": "7m"})
    assert st == 303
    text = conf.read_text()
    assert "global_disable_layers = bayes neural" in text and "greylist_delay = 7m" in text, text
    # an unknown word is refused and nothing is written
    before = conf.read_text()
    st, _, page = post_layers(con, ["bayes", "virus"])
    assert st in (400, 422) and "Not saved" in page, (st, page[-2000:])
    assert conf.read_text() == before
    # API: read as an array, write an array, null resets
    token = ctl_token(mg, con, "lay")
    st, j = con.api("GET", "/api/v1/layers", token=token)
    assert st == 200 and j["settings"]["global_disable_layers"] == ["bayes", "neural"], j
    assert j["disabled_globally"] == ["bayes", "neural"], j
    assert j["disabled_per_domain"] == [{"domain": "example.test", "disable_layers": ["rbl"]}]
    st, j = con.api("PUT", "/api/v1/layers", {"global_disable_layers": ["greylist", "uribl"],
        "version": j["version"]}, token=token)
    assert st == 200 and j["ok"] and j["changed"], j
    assert "global_disable_layers = greylist uribl" in conf.read_text()
    st, j = con.api("PUT", "/api/v1/layers", {"global_disable_layers": ["bayes neural"]},
        token=token)
    assert st == 400, (st, j)
    st, j = con.api("PUT", "/api/v1/layers", {"global_disable_layers": ["nonsense"]},
        token=token)
    assert st in (400, 422) and "global_disable_layers = greylist uribl" in conf.read_text()
    wait_for(lambda: con.api("GET", "/api/v1/layers", token=token)[1]["disabled_globally"] ==
        ["greylist", "uribl"], 10, "the reload")
    # clearing every box removes the key (default: nothing off globally)
    st, _, _ = post_layers(con, [])
    assert st == 303
    text = conf.read_text()
    assert "global_disable_layers" not in text and "# keep this comment" in text, text
    st, j = con.api("GET", "/api/v1/layers", token=token)
    assert j["settings"]["global_disable_layers"] == [], j
    page = html.unescape(con.get("/audit")[2])
    assert "global_disable_layers = greylist uribl" in page, "change not audited"
