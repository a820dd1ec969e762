/* Unit tests for dmarc/psl.c: the Organizational Domain against the Public Suffix List's own
 * conformance vectors (tests/tests.txt "input expected" and tests/test_psl.txt
 * "checkPublicSuffix(input, expected);"), read in place from the shared corpus with the corpus'
 * own public_suffix_list.dat; one CHECK per vector ("null" expected = no registrable domain,
 * i.e. mg_psl_org_domain returns 1 or -1). Then our own cases (final dot, case, the domain that
 * is itself a suffix, bad input, small buffers), loading errors, and concurrent lookups from four
 * threads on one shared handle. MG_PSL_CORPUS overrides the corpus directory. */
#include <pthread.h>

#include "unit.h"

#include "dmarc/dmarc.h"
#include "lib/str.h"

static const char *
corpus_dir(void)
{
	const char *d = getenv("MG_PSL_CORPUS");

	return d != NULL ? d : "/work/shared/corpora/psl";
}

static struct mg_psl *
corpus_psl(void)
{
	char path[512];
	const char *error = NULL;
	struct mg_psl *psl;

	str_fmt(path, sizeof(path), "%s/public_suffix_list.dat", corpus_dir());
	psl = mg_psl_new(path, &error);
	CHECK(psl != NULL, "mg_psl_new(%s): %s", path, error ? error : "?");
	return psl;
}

/* One vector: input (NULL for "null") must give want (NULL: no registrable domain). */
static int
check_vector(const struct mg_psl *psl, const char *file, int line, const char *input,
    const char *want)
{
	char out[1024];
	int rc = input != NULL ? mg_psl_org_domain(psl, input, out, sizeof(out)) :
	    mg_psl_org_domain(psl, NULL, out, sizeof(out));
	const char *got = rc == 0 ? out : NULL;
	int ok = (got == NULL && want == NULL) || (got != NULL && want != NULL &&
	    strcmp(got, want) == 0);

	CHECK(ok, "%s:%d: %s: got %s, want %s", file, line, input ? input : "null",
	    got ? got : "null", want ? want : "null");
	return ok;
}

static char *
unquote(char *s)
{
	size_t len;

	while (*s == ' ')
		s++;
	len = strlen(s);
	while (len > 0 && s[len - 1] == ' ')
		s[--len] = '\0';
	if (strcmp(s, "null") == 0)
		return NULL;
	if (len >= 2 && s[0] == '\'' && s[len - 1] == '\'') {
		s[len - 1] = '\0';
		return s + 1;
	}
	return s;
}

/* Runs every vector of one file; returns the count checked (failures are CHECKs). */
static int
run_file(const char *name, int js)
{
	char path[512], line[1024];
	struct mg_psl *psl = corpus_psl();
	FILE *f;
	int n = 0, bad = 0, lineno = 0;

	str_fmt(path, sizeof(path), "%s/tests/%s", corpus_dir(), name);
	f = fopen(path, "r");
	CHECK(f != NULL, "cannot open %s", path);
	if (f == NULL || psl == NULL) {
		if (f != NULL)
			fclose(f);
		mg_psl_free(&psl);
		return 0;
	}
	while (fgets(line, sizeof(line), f) != NULL) {
		char *in, *want, *p;
		size_t len = strlen(line);

		lineno++;
		while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
			line[--len] = '\0';
		if (len == 0 || strncmp(line, "//", 2) == 0)
			continue;
		if (js) {
			/* checkPublicSuffix(A, B); */
			if (strncmp(line, "checkPublicSuffix(", 18) != 0 ||
			    (p = strrchr(line, ')')) == NULL) {
				CHECK(0, "%s:%d: unparsable line", name, lineno);
				continue;
			}
			*p = '\0';
			in = line + 18;
			if ((p = strchr(in, ',')) == NULL) {
				CHECK(0, "%s:%d: no comma", name, lineno);
				continue;
			}
			*p = '\0';
			want = unquote(p + 1);
			in = unquote(in);
		} else {
			if ((p = strchr(line, ' ')) == NULL) {
				CHECK(0, "%s:%d: no space", name, lineno);
				continue;
			}
			*p = '\0';
			in = unquote(line);
			want = unquote(p + 1);
		}
		n++;
		if (!check_vector(psl, name, lineno, in, want))
			bad++;
	}
	fclose(f);
	mg_psl_free(&psl);
	printf("# %s: %d vectors, %d passed, %d failed\n", name, n, n - bad, bad);
	CHECK(n >= 70, "%s: only %d vectors read", name, n);
	return n;
}

static void
test_vectors_tests_txt(void)
{
	run_file("tests.txt", 0);
}

static void
test_vectors_test_psl_txt(void)
{
	run_file("test_psl.txt", 1);
}

static void
test_own_cases(void)
{
	static const struct {
		const char *in;
		int rc;
		const char *out;
	} cases[] = {
		{ "mail.example.com", 0, "example.com" },
		{ "MAIL.Example.COM.", 0, "example.com" },
		{ "example.com", 0, "example.com" },
		{ "a.b.c.example.co.uk", 0, "example.co.uk" },
		{ "co.uk", 1, "co.uk" },
		{ "com", 1, "com" },
		{ "COM.", 1, "com" },
		{ "example", 1, "example" },	/* implicit "*" rule */
		{ "foo.blogspot.com", 0, "foo.blogspot.com" },	/* private section counts */
		{ "www.city.kobe.jp", 0, "city.kobe.jp" },	/* exception rule */
		{ "", -1, "" },
		{ ".", -1, "" },
		{ ".example.com", -1, "" },
		{ "a..example.com", -1, "" },
		{ "example.com..", -1, "" },
	};
	struct mg_psl *psl = corpus_psl();
	char out[256];

	for (size_t i = 0; psl != NULL && i < sizeof(cases) / sizeof(cases[0]); i++) {
		int rc = mg_psl_org_domain(psl, cases[i].in, out, sizeof(out));

		CHECK(rc == cases[i].rc && strcmp(out, cases[i].out) == 0,
		    "\"%s\": got %d \"%s\", want %d \"%s\"", cases[i].in, rc, out, cases[i].rc,
		    cases[i].out);
	}
	/* Too small an output buffer, too long an input. */
	CHECK_INT(mg_psl_org_domain(psl, "www.example.com", out, 8), -1);
	CHECK_STR(out, "");
	CHECK_INT(mg_psl_org_domain(psl, "www.example.com", out, 12), 0);
	CHECK_STR(out, "example.com");
	{
		char big[1100];

		memset(big, 'a', sizeof(big) - 5);
		memcpy(big + sizeof(big) - 5, ".com", 5);
		CHECK_INT(mg_psl_org_domain(psl, big, out, sizeof(out)), -1);
	}
	CHECK_INT(mg_psl_org_domain(NULL, "example.com", out, sizeof(out)), -1);
	mg_psl_free(&psl);
	CHECK(psl == NULL, "mg_psl_free NULLs the pointer");
	mg_psl_free(&psl);
}

static void
test_load_errors(void)
{
	const char *error = NULL;
	struct mg_psl *psl = mg_psl_new("/nonexistent/psl.dat", &error);

	CHECK(psl == NULL && error != NULL, "missing file: got %p", (void *)psl);
	error = NULL;
	psl = mg_psl_new("/dev/null", &error);
	CHECK(psl == NULL && error != NULL, "empty file: got %p", (void *)psl);
	/* The default path (Debian's publicsuffix package) loads. */
	psl = mg_psl_new(NULL, &error);
	CHECK(psl != NULL, "default list: %s", error ? error : "?");
	mg_psl_free(&psl);
}

struct thread_arg {
	const struct mg_psl *psl;
	int mismatches;
};

static void *
lookup_thread(void *p)
{
	static const char *const names[][2] = {
		{ "a.b.example.co.uk", "example.co.uk" }, { "www.test.k12.ak.us", "test.k12.ak.us" },
		{ "x.foo.blogspot.com", "foo.blogspot.com" }, { "www.xn--85x722f.xn--fiqs8s",
		"xn--85x722f.xn--fiqs8s" }, { "mail.example.com", "example.com" },
	};
	struct thread_arg *a = p;
	char out[256];

	for (int i = 0; i < 20000; i++) {
		size_t k = (size_t)i % (sizeof(names) / sizeof(names[0]));

		if (mg_psl_org_domain(a->psl, names[k][0], out, sizeof(out)) != 0 ||
		    strcmp(out, names[k][1]) != 0)
			a->mismatches++;
	}
	return NULL;
}

static void
test_threads(void)
{
	struct mg_psl *psl = corpus_psl();
	pthread_t t[4];
	struct thread_arg a[4];

	for (int i = 0; psl != NULL && i < 4; i++) {
		a[i].psl = psl;
		a[i].mismatches = 0;
		CHECK_INT(pthread_create(&t[i], NULL, lookup_thread, &a[i]), 0);
	}
	for (int i = 0; psl != NULL && i < 4; i++) {
		pthread_join(t[i], NULL);
		CHECK_INT(a[i].mismatches, 0);
	}
	mg_psl_free(&psl);
}

static const struct unit_case cases[] = {
	{ "vectors_tests_txt", test_vectors_tests_txt },
	{ "vectors_test_psl_txt", test_vectors_test_psl_txt },
	{ "own_cases", test_own_cases },
	{ "load_errors", test_load_errors },
	{ "threads", test_threads },
};

UNIT_MAIN(cases)
