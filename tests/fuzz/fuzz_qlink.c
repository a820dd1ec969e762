/* fuzz_qlink.c: libFuzzer target for the quarantine pages' parsers of the queue's replies
 * (admin/qlink_parse.c): `quarantine show QID --json` and `quarantine search ... --json`, which
 * carry mail-controlled strings, and the search-word encoder. The first input byte picks the
 * parser. Invariants: no crash or leak; an accepted reply yields valid queue ids, non-NULL
 * strings and counts within the caps of admin/qlink.h; a refused one leaves the result empty;
 * an encoded word holds only [A-Za-z0-9@._+%=-] and decodes back to the input. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "admin/qlink.h"
#include "lib/str.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check_msg(const struct qv_msg *m, int show)
{
	if (!qv_qid_ok(m->qid) || m->sender == NULL || m->subject == NULL || m->symbols == NULL ||
	    m->client_addr == NULL || m->helo == NULL || m->preview == NULL ||
	    m->n_rcpts > QV_RCPTS_MAX || m->n_headers > QV_HEADERS_MAX || m->arrival < 0 ||
	    (!show && m->n_headers != 0))
		abort();
	for (size_t i = 0; i < m->n_rcpts; i++)
		if (m->rcpts[i] == NULL)
			abort();
	for (size_t i = 0; i < m->n_headers; i++)
		if (m->hnames[i] == NULL || m->hvalues[i] == NULL)
			abort();
	(void)qv_msg_has_rcpt(m, "user@example.test");
	(void)qv_addr_domain(m->sender);
}

static void
fuzz_word(const char *s, size_t len)
{
	struct buf w;
	char *v = strndup(s, len), *dec;
	size_t o = 0;

	buf_init(&w, 4096);
	if (v == NULL)
		abort();
	if (qv_word(&w, "k", v) == 0) {
		if (w.len < 2 || memcmp(w.data, "k=", 2) != 0)
			abort();
		dec = malloc(w.len + 1);
		for (size_t i = 2; i < w.len; i++) {
			char c = w.data[i];

			if (c == '%') {
				if (i + 2 >= w.len || str_hex_digit((unsigned char)w.data[i + 1]) < 0 ||
				    str_hex_digit((unsigned char)w.data[i + 2]) < 0)
					abort();
				dec[o++] = (char)(str_hex_digit((unsigned char)w.data[i + 1]) * 16 +
				    str_hex_digit((unsigned char)w.data[i + 2]));
				i += 2;
			} else if (strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
			    "0123456789@._+-", c) == NULL || c == '\0') {
				abort();
			} else {
				dec[o++] = c;
			}
		}
		if (o != strlen(v) || memcmp(dec, v, o) != 0)
			abort();
		free(dec);
	} else if (strlen(v) <= QV_ARG_MAX) {
		abort();
	}
	free(v);
	buf_free(&w);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *text = (const char *)data + 1, *err = NULL;

	if (size < 1)
		return 0;
	switch (data[0] % 3) {
	case 0: {
		struct qv_msg m;

		if (qv_show_parse(text, size - 1, &m, &err) < 0) {
			if (err == NULL || m.rcpts != NULL || m.sender != NULL)
				abort();
			return 0;
		}
		check_msg(&m, 1);
		qv_msg_clear(&m);
		break;
	}
	case 1: {
		struct qv_list l;

		if (qv_list_parse(text, size - 1, &l, &err) < 0) {
			if (err == NULL || l.n != 0 || l.msgs != NULL)
				abort();
			return 0;
		}
		if (l.n > QV_MSGS_MAX || l.total < 0)
			abort();
		for (size_t i = 0; i < l.n; i++)
			check_msg(&l.msgs[i], 0);
		qv_list_free(&l);
		break;
	}
	default:
		fuzz_word(text, size - 1);
	}
	return 0;
}
