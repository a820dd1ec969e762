/* mime_date.c: RFC 5322 §3.3 date-time values (Date:, the date after ';' in Received:) to seconds
 * since the epoch, tolerant of the obsolete forms of §4.3 (no weekday, two- or three-digit
 * years, alphabetic zones, no seconds, comments) and of asctime order ("Mon Jan  5 10:00:00
 * 2002"), as mailers write them. Pure, any thread; the value is hostile: tokens are capped at
 * DATE_TOKEN_MAX octets and every field is range-checked (no overflow in the arithmetic). */
#include <ctype.h>
#include <string.h>
#include <strings.h>

#include "common/mime.h"

#define DATE_TOKEN_MAX 32

static const char *const months[] = { "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug",
	"sep", "oct", "nov", "dec" };

static const struct {
	const char *name;
	int minutes;
} zones[] = {	/* RFC 5322 §4.3 obs-zone; military letters other than Z count as +0000 */
	{ "ut", 0 }, { "utc", 0 }, { "gmt", 0 }, { "z", 0 }, { "est", -300 }, { "edt", -240 },
	{ "cst", -360 }, { "cdt", -300 }, { "mst", -420 }, { "mdt", -360 }, { "pst", -480 },
	{ "pdt", -420 },
};

struct dparse {
	int day, month, year, hour, min, sec, zone, have_time, have_zone;
};

/* Days from 1970-01-01 to y-m-d (proleptic Gregorian; H. Hinnant's days_from_civil). */
static long long
days_from_civil(long long y, unsigned m, unsigned d)
{
	long long era;
	unsigned yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = (unsigned)(y - era * 400);
	doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (long long)doe - 719468;
}

static int
word(struct dparse *p, const char *w)
{
	size_t i;

	for (i = 0; i < 12; i++)
		if (strncmp(w, months[i], 3) == 0 && (w[3] == '\0' || strlen(w) <= 9)) {
			if (p->month == 0)
				p->month = (int)i + 1;
			return 0;
		}
	for (i = 0; i < sizeof(zones) / sizeof(zones[0]); i++)
		if (strcmp(w, zones[i].name) == 0) {
			p->zone = zones[i].minutes;
			p->have_zone = 1;
			return 0;
		}
	if (strlen(w) == 1) {	/* military zone (§4.3: treat as +0000) */
		p->have_zone = 1;
		return 0;
	}
	return 0;	/* weekday or noise: ignored */
}

static int
number(struct dparse *p, const char *w, size_t n)
{
	long v = 0;
	size_t i;

	if (n > 4)
		return -1;
	for (i = 0; i < n; i++)
		v = v * 10 + (w[i] - '0');
	if (p->day == 0 && (p->month == 0 || !p->have_time) && n <= 2 && p->year == 0)
		p->day = (int)v;
	else if (p->year == 0)
		p->year = n == 2 ? (int)(v < 50 ? 2000 + v : 1900 + v) : n == 3 ? (int)(1900 + v) :
		    (int)v;
	else
		return -1;
	return 0;
}

static int
time_of_day(struct dparse *p, const char *w)
{
	int f[3] = { 0, 0, 0 }, k = 0, digits = 0;

	for (; *w != '\0'; w++) {
		if (*w == ':') {
			if (digits == 0 || ++k > 2)
				return -1;
			digits = 0;
		} else if (isdigit((unsigned char)*w) && digits < 2) {
			f[k] = f[k] * 10 + (*w - '0');
			digits++;
		} else
			return -1;
	}
	if (k < 1 || digits == 0 || f[0] > 23 || f[1] > 59 || f[2] > 60)
		return -1;
	p->hour = f[0];
	p->min = f[1];
	p->sec = f[2];
	p->have_time = 1;
	return 0;
}

static int
zone_num(struct dparse *p, const char *w)
{
	int v = 0, i;

	if (strlen(w) != 5)
		return -1;
	for (i = 1; i < 5; i++) {
		if (!isdigit((unsigned char)w[i]))
			return -1;
		v = v * 10 + (w[i] - '0');
	}
	if (v % 100 > 59)
		return -1;
	p->zone = (v / 100 * 60 + v % 100) * (w[0] == '-' ? -1 : 1);
	p->have_zone = 1;
	return 0;
}

static int
token(struct dparse *p, const char *w, size_t n)
{
	if (strchr(w, ':') != NULL)
		return time_of_day(p, w);
	if ((w[0] == '+' || w[0] == '-') && n > 1)
		return zone_num(p, w);
	if (isdigit((unsigned char)w[0])) {
		for (size_t i = 0; i < n; i++)
			if (!isdigit((unsigned char)w[i]))
				return -1;
		return number(p, w, n);
	}
	return word(p, w);
}

int
mime_date_parse(const char *s, size_t len, long long *t_r)
{
	struct dparse p;
	char w[DATE_TOKEN_MAX + 1];
	size_t i = 0, n;
	int depth;

	memset(&p, 0, sizeof(p));
	while (i < len) {
		unsigned char c = (unsigned char)s[i];
		if (c == '(') {	/* comment, nested (RFC 5322 §3.2.2), bounded by len */
			for (depth = 0; i < len; i++) {
				depth += s[i] == '(' ? 1 : s[i] == ')' ? -1 : 0;
				if (depth == 0)
					break;
			}
			i++;
			continue;
		}
		if (isspace(c) || c == ',') {
			i++;
			continue;
		}
		for (n = 0; i < len && !isspace((unsigned char)s[i]) && s[i] != ',' && s[i] != '(';
		    i++, n++)
			if (n < DATE_TOKEN_MAX)
				w[n] = (char)tolower((unsigned char)s[i]);
		if (n > DATE_TOKEN_MAX)
			return -1;
		w[n] = '\0';
		if (token(&p, w, n) < 0)
			return -1;
	}
	if (p.day < 1 || p.day > 31 || p.month == 0 || p.year < 1900 || p.year > 9999 ||
	    !p.have_time)
		return -1;
	*t_r = days_from_civil(p.year, (unsigned)p.month, (unsigned)p.day) * 86400 +
	    p.hour * 3600 + p.min * 60 + p.sec - (long long)p.zone * 60;
	return 0;
}
