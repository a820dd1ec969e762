/* test_dane_vectors.c: delivery's DANE set-up (policy_tlsa_usable + policy_dane_setup, the
 * code every DANE connection uses) against OpenSSL's DANE test vectors
 * (shared/corpora/dane/openssl/danetest.in, base domain example.com, as OpenSSL's danetest.c
 * runs them). A vector applies to SMTP DANE when each of its TLSA records is usable for SMTP
 * (usage 2 or 3, RFC 7672 §3.1.3) and, if it has DANE-EE(3) records, it skips name checks as
 * RFC 7672 §3.1.1 requires; those vectors must give OpenSSL's expected verify result and match
 * depth. Vectors with PKIX-TA/PKIX-EE records must leave delivery without any usable record.
 * Corpus: $MG_CORPORA or /work/shared/corpora. */
#include "unit.h"

#include <ctype.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>

#include "delivery/delivery_int.h"
#include "lib/xalloc.h"

#define MAX_TLSA 16
#define MAX_CERTS 8

struct vec {
	int n_tlsa, n_certs, nonamechecks, want_err, want_depth;
	struct dtlsa t[MAX_TLSA];
	X509 *certs[MAX_CERTS];
};

static char *
slurp(const char *path)
{
	FILE *f = fopen(path, "r");
	char *p;
	long n;

	if (f == NULL)
		return NULL;
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	p = xcalloc(1, (size_t)n + 1);
	if (p == NULL || fread(p, 1, (size_t)n, f) != (size_t)n) {
		xfree(p);
		p = NULL;
	}
	fclose(f);
	return p;
}

static int
hexval(int c)
{
	return isdigit(c) ? c - '0' : tolower(c) - 'a' + 10;
}

/* Reads the next vector from *pp (OpenSSL's format, see the corpus file). 1, 0 at the end,
 * -1 on a malformed vector. */
static int
next_vec(char **pp, struct vec *v)
{
	char *line;

	memset(v, 0, sizeof(*v));
	while ((line = strsep(pp, "\n")) != NULL) {
		if (line[0] == '#' || line[0] == '\0')
			continue;
		if (sscanf(line, "%d %d %d %d %d", &v->n_tlsa, &v->n_certs, &v->nonamechecks,
		    &v->want_err, &v->want_depth) != 5)
			return -1;
		break;
	}
	if (line == NULL)
		return 0;
	if (v->n_tlsa > MAX_TLSA || v->n_certs > MAX_CERTS || v->n_tlsa < 0 || v->n_certs < 0)
		return -1;
	for (int i = 0; i < v->n_tlsa; i++) {
		unsigned u, s, m;
		char hex[8192];
		size_t len;

		if ((line = strsep(pp, "\n")) == NULL ||
		    sscanf(line, "%u %u %u %8191s", &u, &s, &m, hex) != 4)
			return -1;
		len = strlen(hex) / 2;
		v->t[i].usage = (uint8_t)u;
		v->t[i].selector = (uint8_t)s;
		v->t[i].mtype = (uint8_t)m;
		v->t[i].len = len;
		v->t[i].data = xmalloc(len + 1);
		for (size_t k = 0; k < len; k++)
			v->t[i].data[k] = (unsigned char)(hexval(hex[2 * k]) << 4 | hexval(hex[2 * k + 1]));
	}
	for (int i = 0; i < v->n_certs; i++) {
		char *begin = strstr(*pp, "-----BEGIN CERTIFICATE-----");
		char *end = begin ? strstr(begin, "-----END CERTIFICATE-----") : NULL;
		BIO *bio;

		if (end == NULL)
			return -1;
		end += strlen("-----END CERTIFICATE-----");
		bio = BIO_new_mem_buf(begin, (int)(end - begin));
		v->certs[i] = PEM_read_bio_X509(bio, NULL, NULL, NULL);
		BIO_free(bio);
		if (v->certs[i] == NULL)
			return -1;
		*pp = end;
	}
	return 1;
}

static void
vec_free(struct vec *v)
{
	for (int i = 0; i < v->n_tlsa; i++)
		xfree(v->t[i].data);
	for (int i = 0; i < v->n_certs; i++)
		X509_free(v->certs[i]);
}

/* Verifies the vector's chain the way a DANE connection of delivery does. */
static int
verify(SSL_CTX *ctx, struct vec *v, int *depth_r)
{
	SSL *ssl = SSL_new(ctx);
	X509_STORE *store = X509_STORE_new();
	X509_STORE_CTX *sctx = X509_STORE_CTX_new();
	STACK_OF(X509) *chain = sk_X509_new_null();
	int err;

	for (int i = 1; i < v->n_certs; i++)
		sk_X509_push(chain, v->certs[i]);
	if (policy_dane_setup(ssl, "example.com", v->t, v->n_tlsa) < 0) {
		err = -2;
		goto done;
	}
	X509_STORE_CTX_init(sctx, store, v->certs[0], chain);
	X509_STORE_CTX_set_default(sctx, "ssl_server");
	X509_VERIFY_PARAM_set1(X509_STORE_CTX_get0_param(sctx), SSL_get0_param(ssl));
	X509_STORE_CTX_set0_dane(sctx, SSL_get0_dane(ssl));
	(void)X509_verify_cert(sctx);
	err = X509_STORE_CTX_get_error(sctx);
	*depth_r = SSL_get0_dane_authority(ssl, NULL, NULL);
done:
	sk_X509_free(chain);
	X509_STORE_CTX_free(sctx);
	X509_STORE_free(store);
	SSL_free(ssl);
	return err;
}

static const char *
corpus(void)
{
	const char *d = getenv("MG_CORPORA");

	return d != NULL ? d : "/work/shared/corpora";
}

static void
test_openssl_vectors(void)
{
	char path[512], *text, *p;
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	struct vec v;
	int rc, n = 0, applied = 0, unusable = 0;

	snprintf(path, sizeof(path), "%s/dane/openssl/danetest.in", corpus());
	CHECK((text = slurp(path)) != NULL, "cannot read %s", path);
	if (text == NULL || ctx == NULL || SSL_CTX_dane_enable(ctx) <= 0)
		return;
	p = text;
	while ((rc = next_vec(&p, &v)) == 1) {
		int usable = 0, has_ee = 0, depth = -1, err;

		n++;
		for (int i = 0; i < v.n_tlsa; i++) {
			usable += policy_tlsa_usable(v.t[i].usage, v.t[i].selector, v.t[i].mtype,
			    v.t[i].len);
			has_ee |= v.t[i].usage == 3;
		}
		if (usable == 0 && v.n_tlsa > 0) {
			unusable++;	/* delivery keeps no record: TLS without DANE */
		} else if (usable == v.n_tlsa && v.n_tlsa > 0 && (!has_ee || v.nonamechecks)) {
			applied++;
			err = verify(ctx, &v, &depth);
			CHECK(err == v.want_err, "vector %d: verify result %d, want %d", n, err,
			    v.want_err);
			CHECK(depth == v.want_depth, "vector %d: match depth %d, want %d", n, depth,
			    v.want_depth);
		}
		vec_free(&v);
	}
	CHECK_INT(rc, 0);
	/* the corpus has 60-odd vectors; most are SMTP-DANE cases: none may be skipped silently */
	CHECK(applied >= 25, "only %d of %d vectors applied", applied, n);
	CHECK(unusable >= 1, "no vector with only PKIX records (%d vectors)", n);
	printf("# dane vectors: %d read, %d verified as SMTP DANE, %d with only unusable records\n",
	    n, applied, unusable);
	xfree(text);
	SSL_CTX_free(ctx);
}

static void
test_usable_records(void)
{
	CHECK_INT(policy_tlsa_usable(3, 1, 1, 32), 1);
	CHECK_INT(policy_tlsa_usable(2, 0, 2, 64), 1);
	CHECK_INT(policy_tlsa_usable(3, 0, 0, 300), 1);
	CHECK_INT(policy_tlsa_usable(1, 1, 1, 32), 0);	/* PKIX-EE */
	CHECK_INT(policy_tlsa_usable(0, 0, 1, 32), 0);	/* PKIX-TA */
	CHECK_INT(policy_tlsa_usable(3, 2, 1, 32), 0);	/* unknown selector */
	CHECK_INT(policy_tlsa_usable(3, 1, 3, 32), 0);	/* unknown matching type */
	CHECK_INT(policy_tlsa_usable(3, 1, 1, 31), 0);	/* SHA-256 of the wrong length */
	CHECK_INT(policy_tlsa_usable(3, 1, 0, 0), 0);
}

static const struct unit_case cases[] = {
	{ "usable_records", test_usable_records },
	{ "openssl_vectors", test_openssl_vectors },
};

UNIT_MAIN(cases)
