/* fuzz_envelope.c: libFuzzer target for envelope_parse (untrusted spool and IPC text).
 * Invariants checked on every input: parse never crashes; on error the envelope is cleared; an
 * accepted input is canonical (envelope_write gives back exactly the input bytes), passes
 * envelope_validate and survives a second round trip; bounce_build on an accepted envelope
 * (all three kinds, a fixed body) yields CRLF lines of at most BOUNCE_LINE_MAX octets. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "common/envelope.h"
#include "lib/buf.h"
#include "queue/bounce.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char body[] = "Subject: fuzz\r\nFrom: a@b\r\n\r\nbody\nline\r\n";
static int body_fd = -1;

static void
check_lines(const struct buf *b)
{
	size_t col = 0;

	for (size_t i = 0; i < b->len; i++) {
		if (b->data[i] == '\r') {
			if (i + 1 >= b->len || b->data[i + 1] != '\n')
				abort();
			i++;
			col = 0;
		} else if (b->data[i] == '\n' || ++col > BOUNCE_LINE_MAX)
			abort();
	}
	if (col != 0)
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct envelope env, back;
	struct buf out, again, dsn;
	const char *error = NULL;
	struct slice in = { (const char *)data, size };

	if (body_fd < 0) {
		body_fd = memfd_create("body", 0);
		if (body_fd < 0 || write(body_fd, body, sizeof(body) - 1) != sizeof(body) - 1)
			abort();
	}
	envelope_init(&env);
	if (envelope_parse(in, &env, &error) < 0) {
		if (error == NULL || env.n_rcpts != 0 || env.rcpts != NULL || env.sender != NULL)
			abort();
		return 0;
	}
	if (envelope_validate(&env, &error) < 0)
		abort();
	buf_init(&out, ENVELOPE_FILE_MAX);
	if (envelope_write(&env, &out) < 0 || out.len != size || memcmp(out.data, data, size) != 0)
		abort();
	envelope_init(&back);
	if (envelope_parse(buf_slice(&out), &back, &error) < 0)
		abort();
	buf_init(&again, ENVELOPE_FILE_MAX);
	if (envelope_write(&back, &again) < 0 || again.len != out.len ||
	    memcmp(again.data, out.data, out.len) != 0)
		abort();
	for (int k = 0; k < 3; k++) {
		size_t n = 0;

		buf_init(&dsn, 64 * 1024 * 1024);
		if (bounce_build(&env, body_fd, (enum bounce_kind)k, "mx.example.net", 1700000000,
		    (size_t)(size % 64), &dsn, &n) < 0)
			abort();
		if (n > 0) {
			struct envelope b;

			check_lines(&dsn);
			envelope_init(&b);
			bounce_envelope(&env, "ffffffffffffffff", 1700000000, buf_slice(&dsn), &b);
			if (envelope_validate(&b, &error) < 0 && env.sender[0] != '\0')
				abort();
			envelope_clear(&b);
		}
		buf_free(&dsn);
	}
	buf_free(&again);
	buf_free(&out);
	envelope_clear(&back);
	envelope_clear(&env);
	return 0;
}
