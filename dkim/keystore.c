/* keystore.c: the signer's per-domain key state (state file parser and writer) and private key
 * files under state_dir/dkim/<domain>/. Runs in the signer role (main thread) and in tests.
 * The state parser takes untrusted bytes (a file anyone with write access to state_dir could
 * have damaged): strict grammar, MG_DKIM_STATE_MAX octets, MG_DKIM_KEYS_MAX entries, selectors
 * as single DNS labels. Key files are accepted only with mode 0600-or-stricter, owned by our
 * uid, not symlinks, at most MG_DKIM_KEYFILE_MAX octets. Files are replaced atomically
 * (lib/atomicfile). Keys are never logged. */
#include "dkim/keystore.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "lib/atomicfile.h"
#include "lib/strnum.h"
#include "lib/str.h"
#include "lib/xalloc.h"

static const char *const alg_names[MG_DKIM_ALG_COUNT] = { "rsa2048", "ed25519" };
static const char *const state_names[] = { "next", "current", "retiring", "retired" };

const char *
mg_dkim_keyalg_name(enum mg_dkim_keyalg a)
{
	return (unsigned)a < MG_DKIM_ALG_COUNT ? alg_names[a] : "?";
}

const char *
mg_dkim_keystate_name(enum mg_dkim_keystate s)
{
	return (unsigned)s <= MG_DKIM_KS_RETIRED ? state_names[s] : "?";
}

int
mg_dkim_selector_is_valid(const char *name)
{
	size_t n = strlen(name);

	if (n == 0 || n > MG_DKIM_SELECTOR_MAX || name[0] == '-' || name[n - 1] == '-')
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!((name[i] >= 'a' && name[i] <= 'z') || (name[i] >= '0' && name[i] <= '9') ||
		    name[i] == '-'))
			return 0;
	return 1;
}

int
mg_dkim_domain_is_valid(const char *name)
{
	size_t n = strlen(name);

	if (n == 0 || n > MG_DKIM_DOMAIN_MAX || name[0] == '.' || name[0] == '-' ||
	    name[n - 1] == '.' || strstr(name, "..") != NULL)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!((name[i] >= 'a' && name[i] <= 'z') || (name[i] >= '0' && name[i] <= '9') ||
		    name[i] == '-' || name[i] == '.'))
			return 0;
	return 1;
}

int
mg_dkim_state_find(const struct mg_dkim_state *st, enum mg_dkim_keyalg alg,
    enum mg_dkim_keystate ks)
{
	for (size_t i = 0; i < st->n; i++)
		if (st->k[i].alg == alg && st->k[i].state == ks)
			return (int)i;
	return -1;
}

/* ---- parser ---- */

/* Splits the next LF-terminated line off *text (without the LF); -1 if there is none. */
static int
next_line(struct slice *text, char *line, size_t size)
{
	const char *nl = memchr(text->p, '\n', text->len);
	size_t n;

	if (nl == NULL)
		return -1;
	n = (size_t)(nl - text->p);
	if (n >= size || memchr(text->p, '\0', n) != NULL)
		return -1;
	memcpy(line, text->p, n);
	line[n] = '\0';
	text->p += n + 1;
	text->len -= n + 1;
	return 0;
}

static int
name_index(const char *s, const char *const *names, int n)
{
	for (int i = 0; i < n; i++)
		if (strcmp(s, names[i]) == 0)
			return i;
	return -1;
}

static int
parse_key_line(char *line, struct mg_dkim_keyent *k, const char **error_r)
{
	char *f[8];
	long long t[3];
	int a, s;

	/* single spaces only: str_split would skip empty fields, so check for doubles first */
	if (strstr(line, "  ") != NULL || line[strlen(line) - 1] == ' ') {
		*error_r = "bad spacing";
		return -1;
	}
	if (str_split(line, " ", f, 8) != 7) {
		*error_r = "key line needs 7 fields";
		return -1;
	}
	if (!mg_dkim_selector_is_valid(f[1])) {
		*error_r = "bad selector";
		return -1;
	}
	if ((a = name_index(f[2], alg_names, MG_DKIM_ALG_COUNT)) < 0 ||
	    (s = name_index(f[3], state_names, 4)) < 0) {
		*error_r = "bad algorithm or state";
		return -1;
	}
	for (int i = 0; i < 3; i++) {
		if (f[4 + i][0] == '0' && f[4 + i][1] != '\0') {
			*error_r = "leading zero";	/* one spelling per state */
			return -1;
		}
		if (strnum_ll(f[4 + i], 0, MG_DKIM_TIME_MAX, &t[i], error_r) < 0)
			return -1;
	}
	str_lcpy(k->selector, f[1], sizeof(k->selector));
	k->alg = (enum mg_dkim_keyalg)a;
	k->state = (enum mg_dkim_keystate)s;
	k->created = t[0];
	k->activates = t[1];
	k->retires = t[2];
	return 0;
}

/* Cross-entry rules: unique selectors, one current and one next per algorithm. */
static int
state_check(const struct mg_dkim_state *st, const char **error_r)
{
	for (size_t i = 0; i < st->n; i++)
		for (size_t j = i + 1; j < st->n; j++) {
			if (strcmp(st->k[i].selector, st->k[j].selector) == 0) {
				*error_r = "duplicate selector";
				return -1;
			}
			if (st->k[i].alg == st->k[j].alg && st->k[i].state == st->k[j].state &&
			    (st->k[i].state == MG_DKIM_KS_NEXT ||
			    st->k[i].state == MG_DKIM_KS_CURRENT)) {
				*error_r = "two current or next keys of one algorithm";
				return -1;
			}
		}
	return 0;
}

int
mg_dkim_state_parse(struct slice text, struct mg_dkim_state *st, const char **error_r)
{
	char line[512];

	memset(st, 0, sizeof(*st));
	if (text.len > MG_DKIM_STATE_MAX) {
		*error_r = "state file too large";
		return -1;
	}
	if (memchr(text.p, '\0', text.len) != NULL) {
		*error_r = "NUL in state file";
		return -1;
	}
	if (next_line(&text, line, sizeof(line)) < 0 || strcmp(line, "mgdkim-state 1") != 0) {
		*error_r = "missing or unsupported version line";
		return -1;
	}
	if (next_line(&text, line, sizeof(line)) < 0 || strncmp(line, "domain ", 7) != 0 ||
	    !mg_dkim_domain_is_valid(line + 7)) {
		*error_r = "missing or bad domain line";
		return -1;
	}
	str_lcpy(st->domain, line + 7, sizeof(st->domain));
	for (;;) {
		if (next_line(&text, line, sizeof(line)) < 0) {
			*error_r = "truncated (no end line)";
			goto fail;
		}
		if (strcmp(line, "end") == 0)
			break;
		if (strncmp(line, "key ", 4) != 0) {
			*error_r = "unknown line";
			goto fail;
		}
		if (st->n == MG_DKIM_KEYS_MAX) {
			*error_r = "too many keys";
			goto fail;
		}
		if (parse_key_line(line, &st->k[st->n], error_r) < 0)
			goto fail;
		st->n++;
	}
	if (text.len != 0) {
		*error_r = "data after end line";
		goto fail;
	}
	if (state_check(st, error_r) < 0)
		goto fail;
	return 0;
fail:
	memset(st, 0, sizeof(*st));
	return -1;
}

int
mg_dkim_state_write(const struct mg_dkim_state *st, struct buf *out)
{
	size_t mark = out->len;
	const char *err;
	int r = 0;

	if (st->n > MG_DKIM_KEYS_MAX || !mg_dkim_domain_is_valid(st->domain) ||
	    state_check(st, &err) < 0)
		return -1;
	r |= buf_printf(out, "mgdkim-state %d\ndomain %s\n", MG_DKIM_STATE_VERSION, st->domain);
	for (size_t i = 0; i < st->n && r == 0; i++) {
		const struct mg_dkim_keyent *k = &st->k[i];

		if (!mg_dkim_selector_is_valid(k->selector) || (unsigned)k->alg >= MG_DKIM_ALG_COUNT ||
		    (unsigned)k->state > MG_DKIM_KS_RETIRED || k->created < 0 || k->activates < 0 ||
		    k->retires < 0 || k->created > MG_DKIM_TIME_MAX ||
		    k->activates > MG_DKIM_TIME_MAX || k->retires > MG_DKIM_TIME_MAX) {
			r = -1;
			break;
		}
		r |= buf_printf(out, "key %s %s %s %lld %lld %lld\n", k->selector, alg_names[k->alg],
		    state_names[k->state], k->created, k->activates, k->retires);
	}
	if (r == 0)
		r = buf_append_str(out, "end\n");
	if (r != 0 || out->len - mark > MG_DKIM_STATE_MAX) {
		out->len = mark;
		if (out->data)
			out->data[mark] = '\0';
		return -1;
	}
	return 0;
}

/* ---- files ---- */

static int
domain_dir(const char *root, const char *domain, char *path, size_t size, const char **error_r)
{
	if (!mg_dkim_domain_is_valid(domain) || str_fmt(path, size, "%s/%s", root, domain) < 0) {
		*error_r = "bad domain name or path too long";
		return -1;
	}
	return 0;
}

int
mg_dkim_state_load(const char *root, const char *domain, struct mg_dkim_state *st,
    const char **error_r)
{
	char path[4096];
	struct buf b;
	int fd, r;

	if (domain_dir(root, domain, path, sizeof(path), error_r) < 0 ||
	    str_fmt(path + strlen(path), sizeof(path) - strlen(path), "/state") < 0)
		return -1;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) < 0) {
		if (errno == ENOENT)
			return 0;
		*error_r = "cannot open the state file";
		return -1;
	}
	buf_init(&b, MG_DKIM_STATE_MAX + 1);
	for (;;) {
		ssize_t n;

		if (buf_reserve(&b, 1024) < 0) {
			close(fd);
			buf_free(&b);
			*error_r = "state file too large";
			return -1;
		}
		n = read(fd, b.data + b.len, b.cap - b.len - 1 > 1024 ? 1024 : b.cap - b.len - 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		b.len += (size_t)n;
		b.data[b.len] = '\0';
	}
	close(fd);
	r = mg_dkim_state_parse(buf_slice(&b), st, error_r);
	buf_free(&b);
	if (r == 0 && strcmp(st->domain, domain) != 0) {
		*error_r = "state file names another domain";
		return -1;
	}
	return r < 0 ? -1 : 1;
}

static int
mkdirs(const char *root, const char *dir, const char **error_r)
{
	if ((mkdir(root, 0700) < 0 && errno != EEXIST) || (mkdir(dir, 0700) < 0 && errno != EEXIST)) {
		*error_r = "cannot create the key directory";
		return -1;
	}
	return 0;
}

int
mg_dkim_state_save(const char *root, const struct mg_dkim_state *st, const char **error_r)
{
	char dir[4096], path[4200];
	struct buf b;
	int r;

	if (domain_dir(root, st->domain, dir, sizeof(dir), error_r) < 0 ||
	    mkdirs(root, dir, error_r) < 0)
		return -1;
	str_fmt(path, sizeof(path), "%s/state", dir);
	buf_init(&b, MG_DKIM_STATE_MAX);
	if (mg_dkim_state_write(st, &b) < 0) {
		buf_free(&b);
		*error_r = "state does not serialise";
		return -1;
	}
	r = atomicfile_write(path, b.data, b.len, 0600, error_r);
	buf_free(&b);
	return r;
}

int
mg_dkim_keyfile_save(const char *root, const char *domain, const char *selector,
    const char *pem, size_t len, const char **error_r)
{
	char dir[4096], path[4200];

	if (!mg_dkim_selector_is_valid(selector)) {
		*error_r = "bad selector";
		return -1;
	}
	if (domain_dir(root, domain, dir, sizeof(dir), error_r) < 0 ||
	    mkdirs(root, dir, error_r) < 0)
		return -1;
	str_fmt(path, sizeof(path), "%s/%s.pem", dir, selector);
	return atomicfile_write(path, pem, len, 0600, error_r);
}

int
mg_dkim_keyfile_read_path(const char *path, struct buf *pem, const char **error_r)
{
	struct stat sb;
	int fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) < 0) {
		*error_r = errno == ELOOP ? "key file is a symbolic link" : errno == ENOENT ?
		    "key file not found" : errno == EACCES ? "cannot open key file (permission "
		    "denied: the signer's user must own it)" : "cannot open key file";
		return -1;
	}
	if (fstat(fd, &sb) < 0 || !S_ISREG(sb.st_mode)) {
		*error_r = "key file is not a regular file";
		goto fail;
	}
	if ((sb.st_mode & 077) != 0) {
		*error_r = "key file is accessible by group or others (must be mode 0600)";
		goto fail;
	}
	if (sb.st_uid != geteuid()) {
		*error_r = "key file is not owned by the signer's user";
		goto fail;
	}
	if (sb.st_size > MG_DKIM_KEYFILE_MAX || buf_reserve(pem, (size_t)sb.st_size + 1) < 0) {
		*error_r = "key file too large";
		goto fail;
	}
	buf_reset(pem);
	while (pem->len < (size_t)sb.st_size) {
		ssize_t n = read(fd, pem->data + pem->len, (size_t)sb.st_size - pem->len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			*error_r = "cannot read key file";
			goto fail;
		}
		pem->len += (size_t)n;
	}
	pem->data[pem->len] = '\0';
	close(fd);
	return 0;
fail:
	close(fd);
	return -1;
}

int
mg_dkim_keyfile_load(const char *root, const char *domain, const char *selector,
    struct buf *pem, const char **error_r)
{
	char path[4200];

	if (!mg_dkim_selector_is_valid(selector) || !mg_dkim_domain_is_valid(domain) ||
	    str_fmt(path, sizeof(path), "%s/%s/%s.pem", root, domain, selector) < 0) {
		*error_r = "bad key name";
		return -1;
	}
	return mg_dkim_keyfile_read_path(path, pem, error_r);
}

void
mg_dkim_keyfile_remove(const char *root, const char *domain, const char *selector)
{
	char path[4200];
	const char *err;

	if (!mg_dkim_selector_is_valid(selector) || !mg_dkim_domain_is_valid(domain) ||
	    str_fmt(path, sizeof(path), "%s/%s/%s.pem", root, domain, selector) < 0)
		return;
	if (unlink(path) == 0)
		(void)atomicfile_fsync_dir(path, &err);
}

/* ---- OpenSSL ---- */

int
mg_dkim_keygen(enum mg_dkim_keyalg alg, struct buf *pem, const char **error_r)
{
	EVP_PKEY *pk = NULL;
	BIO *bio = NULL;
	char *p;
	long n;
	int r = -1;

	if (alg == MG_DKIM_ALG_RSA)
		pk = EVP_RSA_gen(MG_DKIM_RSA_BITS);
	else
		pk = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	if (pk == NULL || (bio = BIO_new(BIO_s_secmem())) == NULL ||
	    !PEM_write_bio_PrivateKey(bio, pk, NULL, NULL, 0, NULL, NULL)) {
		*error_r = "key generation failed (OpenSSL)";
		goto out;
	}
	n = BIO_get_mem_data(bio, &p);
	buf_reset(pem);
	if (n <= 0 || buf_append(pem, p, (size_t)n) < 0) {
		*error_r = "key too large";
		goto out;
	}
	r = 0;
out:
	BIO_free(bio);
	EVP_PKEY_free(pk);
	return r;
}

EVP_PKEY *
mg_dkim_pem_load(const char *pem, size_t len, enum mg_dkim_keyalg *alg_r, const char **error_r)
{
	BIO *bio = BIO_new_mem_buf(pem, (int)len);
	EVP_PKEY *pk;

	if (bio == NULL || len > MG_DKIM_KEYFILE_MAX) {
		BIO_free(bio);
		*error_r = "cannot read key";
		return NULL;
	}
	pk = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
	BIO_free(bio);
	if (pk == NULL) {
		*error_r = "not a PEM private key";
		return NULL;
	}
	if (EVP_PKEY_get_base_id(pk) == EVP_PKEY_RSA && EVP_PKEY_get_bits(pk) >= 1024 &&
	    EVP_PKEY_get_bits(pk) <= 4096) {
		*alg_r = MG_DKIM_ALG_RSA;
	} else if (EVP_PKEY_get_base_id(pk) == EVP_PKEY_ED25519) {
		*alg_r = MG_DKIM_ALG_ED25519;
	} else {
		*error_r = "key is neither RSA (1024..4096 bits, RFC 8301) nor Ed25519";
		EVP_PKEY_free(pk);
		return NULL;
	}
	return pk;
}

int
mg_dkim_txt_record(EVP_PKEY *key, struct buf *out)
{
	unsigned char raw[64], *der = NULL;
	char b64[2048];
	size_t rl = sizeof(raw);
	int n, r;

	if (EVP_PKEY_get_base_id(key) == EVP_PKEY_ED25519) {
		if (EVP_PKEY_get_raw_public_key(key, raw, &rl) != 1)
			return -1;
		EVP_EncodeBlock((unsigned char *)b64, raw, (int)rl);
		return buf_printf(out, "v=DKIM1; k=ed25519; p=%s", b64);
	}
	if ((n = i2d_PUBKEY(key, &der)) <= 0 || (size_t)n > (sizeof(b64) - 1) / 4 * 3) {
		OPENSSL_free(der);
		return -1;
	}
	EVP_EncodeBlock((unsigned char *)b64, der, n);
	OPENSSL_free(der);
	r = buf_printf(out, "v=DKIM1; k=rsa; p=%s", b64);
	return r;
}

int
mg_dkim_txt_strings(const char *record, struct buf *out)
{
	size_t len = strlen(record);
	int r = 0;

	for (size_t off = 0; off < len && r == 0; off += 255) {
		size_t n = len - off < 255 ? len - off : 255;

		r |= buf_printf(out, "%s\"%.*s\"", off ? " " : "", (int)n, record + off);
	}
	return r;
}
