/* test_content.c: the structural layer's Received anomalies (filter/content.c check_received):
 * each case is a message; the symbols content_check adds with every other layer off. */
#include <string.h>

#include "config/config.h"
#include "filter/content.h"
#include "filter/filter_int.h"
#include "unit.h"

static const struct {
	const char *name;
	const char *received;	/* Received fields, newest first, each ending "\n" */
	const char *want;	/* RCVD_* symbols expected, comma separated, in check order */
} cases[] = {
	{ "clean chain", "Received: from mx.a.test (mx.a.test [192.0.2.1]) by mx.b.test with ESMTP;"
	    " Mon, 2 Sep 2002 10:00:00 +0000\nReceived: from h.a.test ([192.0.2.9]) by mx.a.test;"
	    " Mon, 2 Sep 2002 09:59:30 +0000\n", "" },
	{ "no Received at all", "", "" },
	{ "bare IP HELO", "Received: from 210.204.3.193 (unknown [210.204.3.193]) by l.test with SMTP;"
	    " Sat, 21 Sep 2002 02:20:46 +0100\n", "RCVD_HELO_BARE_IP,RCVD_NO_RDNS" },
	{ "bracketed literal is fine", "Received: from [192.0.2.1] (h.test [192.0.2.1]) by l.test;"
	    " Sat, 21 Sep 2002 02:20:46 +0100\n", "" },
	{ "five octets are not an IPv4 HELO", "Received: from 1.2.3.4.5 (h.test [192.0.2.1]) by l.test;"
	    " Sat, 21 Sep 2002 02:20:46 +0100\n", "" },
	{ "invalid date", "Received: from a.test (a.test [192.0.2.1]) by b.test with NNFMP;"
	    " sometime yesterday afternoon\n", "RCVD_DATE_INVALID" },
	{ "missing date", "Received: from a.test (a.test [192.0.2.1]) by b.test with SMTP\n",
	    "RCVD_DATE_INVALID" },
	{ "older hop a day later", "Received: from a.test (a.test [192.0.2.1]) by b.test;"
	    " Mon, 2 Sep 2002 10:00:00 +0000\nReceived: from c.test (c.test [192.0.2.2]) by a.test;"
	    " Tue, 3 Sep 2002 10:00:00 +0000\n", "RCVD_DATE_DISORDER" },
	{ "older hop 10 minutes later: clock skew", "Received: from a.test (a.test [192.0.2.1]) by b;"
	    " Mon, 2 Sep 2002 10:00:00 +0000\nReceived: from c.test (c.test [192.0.2.2]) by a.test;"
	    " Mon, 2 Sep 2002 10:10:00 +0000\n", "" },
	{ "may be forged", "Received: from x.test (h.test [192.0.2.1] (may be forged)) by b.test;"
	    " Mon, 2 Sep 2002 10:00:00 +0000\n", "RCVD_MAY_BE_FORGED" },
	{ "our own header is not a missing rDNS", "Received: from helo.test (unknown [192.0.2.7])\n"
	    "\tby mx.test (MailGuard) with ESMTP id 0123456789abcdef; Mon, 2 Sep 2002 10:00:00 +0000\n",
	    "" },
};

static void
run_case(size_t i)
{
	char msg[2048], got[256] = "";
	size_t gl = 0;
	struct filter_score score;
	struct content_ctx c;
	int n = snprintf(msg, sizeof(msg), "%sFrom: <a@a.test>\nTo: <b@b.test>\nSubject: hi\n"
	    "Date: Mon, 2 Sep 2002 10:00:00 +0000\nMessage-ID: <1@a.test>\n\nhello there\n",
	    cases[i].received);

	memset(&score, 0, sizeof(score));
	memset(&c, 0, sizeof(c));
	c.disabled = MG_LAYER_PHISHING | MG_LAYER_SUSPICIOUS_TLD | MG_LAYER_URIBL |
	    MG_LAYER_ATTACHMENTS | MG_LAYER_BAYES | MG_LAYER_NEURAL;
	c.msg = msg;
	c.len = (size_t)n;
	c.score = &score;
	content_check(&c);
	for (size_t k = 0; k < score.n; k++)
		if (strncmp(score.sym[k].name, "RCVD_", 5) == 0 && gl < sizeof(got))
			gl += (size_t)snprintf(got + gl, sizeof(got) - gl, "%s%s", gl ? "," : "",
			    score.sym[k].name);
	if (strcmp(got, cases[i].want) != 0)
		unit_fail(__FILE__, __LINE__, "%s: got \"%s\", want \"%s\"", cases[i].name, got,
		    cases[i].want);
}

static void
test_received(void)
{
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		run_case(i);
}

static void
test_scores(void)
{
	/* every Received symbol has a built-in score row (0 is a row too: configurable) and none
	 * is large enough to matter alone */
	static const char *names[] = { "RCVD_HELO_BARE_IP", "RCVD_DATE_DISORDER",
		"RCVD_DATE_INVALID", "RCVD_NO_RDNS", "RCVD_MAY_BE_FORGED" };
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (filter_score_default(names[i]) > 1.0)
			unit_fail(__FILE__, __LINE__, "%s: got %.1f, want <= 1", names[i],
			    filter_score_default(names[i]));
}

static const struct unit_case unit_cases[] = {
	{ "received anomalies", test_received },
	{ "received scores", test_scores },
};

UNIT_MAIN(unit_cases)
