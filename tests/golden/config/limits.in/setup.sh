# Files that should not be checked in: an over-long line, an over-size file, a NUL byte.
{ printf 'smtpd_banner = '; head -c 5000 /dev/zero | tr '\0' x; printf '\n'; printf 'max_recipients = 10\0\n'; printf 'user = caf\303\251\n'; } >> mailguard.conf
{ printf 'transport = [10.0.0.1]\n'; head -c 1100000 /dev/zero | tr '\0' '\n'; } > domains.d/big.example.conf
