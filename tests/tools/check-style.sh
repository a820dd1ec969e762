#!/usr/bin/env bash
# check-style.sh: mechanical house-style checks (shared/STYLE.md §2, §4, §5, §12), run by `make style`.
# Prints one "ok style <rule>" line per clean rule, or one "FAIL style <rule>: <file>:<line>: <what>"
# line per violation, then a summary line; always exits 0 (callers count the ok/FAIL lines).
# Rules:
#   include-deps   lib/ includes only lib/; common/ only lib/ and common/; a subsystem only itself,
#                  common/, lib/, and another subsystem only through its public <dir>/<dir>.h
#   banned-calls   strcpy strcat sprintf vsprintf gets atoi atol atoll, outside tests/ (comments and
#                  string literals are ignored)
#   file-comment   every .c file under lib/, common/ and the subsystems opens with a comment block
#   file-length    no .c or .h file over 1500 lines
# Reads only git-tracked and untracked-not-ignored files (git ls-files -co --exclude-standard).
set -u
cd "$(dirname "$0")/../.." || exit 0

if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
	list_files() { git ls-files -co --exclude-standard; }
else
	# Not a git checkout (e.g. an unpacked tarball): everything but build output.
	list_files() {
		find . -path ./.git -prune -o -path './build*' -prune -o -type f -print | sed 's|^\./||'
	}
fi

read -r -d '' CHECKER <<'PERL'
use strict;
use warnings;

my @subsys = qw(smtpd queue delivery filter dkim dmarc admin config);
my %is_subsys = map { $_ => 1 } @subsys;
my %is_project = map { $_ => 1 } (@subsys, qw(lib common tests));
my %code_dir = map { $_ => 1 } (@subsys, qw(lib common));
my $max_lines = 1500;
my $banned = qr/\b(strcpy|strcat|sprintf|vsprintf|gets|atoi|atol|atoll)\s*\(/;

my %fails = map { $_ => [] } qw(include-deps banned-calls file-comment file-length);
my $nfiles = 0;

sub top_dir { my ($p) = @_; return $p =~ m{^([^/]+)/} ? $1 : ''; }

# Blanks out comments, string and character literals, keeping newlines (so line numbers hold).
sub strip_c {
	my ($s) = @_;
	$s =~ s{
		(/\*.*?\*/) | (//[^\n]*) | ("(?:\\.|[^"\\\n])*") | ('(?:\\.|[^'\\\n])*')
	}{
		my $m = $&;
		(my $k = $m) =~ s/[^\n]/ /g;
		$k;
	}gsex;
	return $s;
}

# Is `target` (an #include path) allowed from a file in directory `dir`? Returns a reason if not.
sub include_violation {
	my ($dir, $target, $quoted, $path) = @_;
	return undef if $quoted && $target !~ m{/};	# "x.h": same directory
	my $tdir = top_dir($target);
	return undef unless $tdir ne '' && $is_project{$tdir};	# system or third-party header
	return undef if $tdir eq $dir;
	if ($dir eq 'lib') {
		return "lib/ may include only lib/";
	}
	if ($dir eq 'common') {
		return undef if $tdir eq 'lib';
		# process plumbing (role dispatch, supervisor) loads every role's configuration
		return undef if $target eq 'config/config.h' && $path =~ m{^common/(main\.c|role\.[ch]|supervisor(\.c|_ctl\.c|_int\.h))$};
		# the supervisor validates and writes configuration edits (IPC_CONFIG_COMMIT)
		return undef if $target eq 'config/edit.h' && $path =~ m{^common/supervisor(_ctl)?\.c$};
		return "common/ may include only lib/ and common/";
	}
	if ($is_subsys{$dir}) {
		return undef if $tdir eq 'lib' || $tdir eq 'common';
		return undef if $is_subsys{$tdir} && $target eq "$tdir/$tdir.h";
		# config/ has two public headers: config.h (reading) and edit.h (editing the files)
		return undef if $target eq 'config/edit.h';
		return "$tdir/ is reachable only through $tdir/$tdir.h" if $is_subsys{$tdir};
		return "$dir/ may not include $tdir/";
	}
	return undef;
}

while (my $path = <STDIN>) {
	chomp $path;
	next unless $path =~ /\.[ch]$/ && -f $path;
	open(my $fh, '<', $path) or next;
	my $text = do { local $/; <$fh> } // '';
	close($fh);
	$nfiles++;
	my $dir = top_dir($path);
	my @lines = split /\n/, $text, -1;
	pop @lines if @lines && $lines[-1] eq '';
	my $nlines = scalar @lines;

	if ($nlines > $max_lines) {
		push @{$fails{'file-length'}}, "$path: $nlines lines (max $max_lines)";
	}
	if ($path =~ /\.c$/ && $code_dir{$dir} && $text !~ m{\A(?:/\*|//)}) {
		my $first = @lines ? $lines[0] : '(empty file)';
		$first = substr($first, 0, 60);
		push @{$fails{'file-comment'}}, "$path:1: does not open with a comment block (starts \"$first\")";
	}
	my @code = split /\n/, strip_c($text), -1;
	if ($code_dir{$dir}) {
		for my $i (0 .. $#code) {
			# The directive must survive comment stripping; its name is read from the original.
			next unless $code[$i] =~ /^\s*#\s*include\b/;
			next unless $lines[$i] =~ /^\s*#\s*include\s*([<"])([^>"]+)[>"]/;
			my ($q, $t) = ($1 eq '"', $2);
			my $why = include_violation($dir, $t, $q, $path);
			push @{$fails{'include-deps'}}, sprintf("%s:%d: includes %s: %s", $path, $i + 1, $t, $why)
				if defined $why;
		}
	}
	if ($dir ne 'tests') {
		for my $i (0 .. $#code) {
			while ($code[$i] =~ /$banned/g) {
				push @{$fails{'banned-calls'}}, sprintf("%s:%d: %s()", $path, $i + 1, $1);
			}
		}
	}
}

my ($ok, $bad) = (0, 0);
for my $rule (qw(include-deps banned-calls file-comment file-length)) {
	if (@{$fails{$rule}}) {
		print "FAIL style $rule: $_\n" for @{$fails{$rule}};
		$bad += @{$fails{$rule}};
	} else {
		print "ok style $rule\n";
		$ok++;
	}
}
print "style: $nfiles files, $ok rules clean, $bad violations\n";
PERL

list_files | LC_ALL=C sort | perl -e "$CHECKER"
exit 0
