// The node agent: one long-lived process per node and process-provider root that supervises the
// services of every workspace under that root as its own children, kubelet-style. A start is a
// request line to it; it forks only the service. The shell supervisor (./supervisor.ts) forks a
// dozen programs per start (its shell, its log writer, setsid, env, date, mv…), which at a
// thousand services made a cold converge many times the floor (docs/concepts.md, "The node
// agent"). Everything here is pure: the agent's source and the shell that reaches it, as data.
//
// The agent is Perl 5 with core modules only (POSIX, Fcntl): perl-base is part of every Debian
// and Ubuntu system, and of macOS. Where the node has no perl, starts keep the shell supervisor.
// It writes the same state files as the shell supervisor, so every reader (service_status,
// node_status, the settle of a start) works unchanged for both; what differs:
//   supervisor.id   "AGENTPID START a FIFO": the agent's identity, and where its requests go.
//                   Removed when the agent stops supervising the service (stopped, exited, dropped):
//                   then no live supervisor is recorded, as when a shell supervisor ends.
//   .reply          FIFO of the service, made by its first start. The agent opens it (read-write:
//                   never blocking) when a start request comes and holds it until the starter says
//                   "done": the starter opens it for reading once the agent holds it and reads one
//                   line, "ready" (the child runs) or "exited" (it ended; its exit code and state
//                   are recorded). An agent that dies meanwhile closes it: the starter reads the end
//                   of the file, not forever.
//   log             written by the service itself (O_APPEND); the agent rotates it by size with a
//                   copy and a truncate (the lines written during the copy are lost).
// Services with a health check keep the shell supervisor for now (its prober runs the checks).
//
// Files of an agent under <root>/.agent/, named by its source's hash (an upgraded vendetta starts
// a new agent beside a running older one, which serves its services until they stop, then exits):
//   agent-HASH.pl   the source
//   agent-HASH.in   FIFO of request lines: "start DIR", "stop DIR", "drop DIR", "done DIR"; the
//                   running agent holds a flock on it (one agent per version and root)
//   agent-HASH.id   "PID START" of the running agent, written once it reads its FIFO
//   agent-HASH.log  what the agent itself says (failures to fork or to write)
import { createHash } from 'node:crypto';
import { posix } from 'node:path';
import { DEFAULT_PATH, SERVICE_RUN_SCRIPT } from './run-script.js';

/** Seconds a stopping service's process group gets after TERM before KILL (the shell's 5 s). */
const GRACE_S = 5;
/** An agent with nothing to supervise for this long exits (the next start starts one again). */
const IDLE_S = 300;

const AGENT_BODY = String.raw`use strict;
use warnings;
use POSIX ();
use Fcntl qw(:flock O_RDWR O_WRONLY O_NONBLOCK F_SETFD);

my $prefix = $ARGV[0];
die "usage: agent.pl PREFIX\n" unless defined $prefix;
my $GRACE = ${GRACE_S};
my $IDLE = ${IDLE_S};
my $RUN = <<'VENDETTA_RUN';
${SERVICE_RUN_SCRIPT}
VENDETTA_RUN
chomp $RUN;

POSIX::setsid();
chdir '/';
$0 = "vendetta-agent $prefix";
# Read-write: the FIFO never reads an end of file while we hold it.
sysopen(my $in, "$prefix.in", O_RDWR) or die "vendetta-agent: $prefix.in: $!\n";
# One agent per version and root: the loser of a race of two starters leaves. The lock is on the
# FIFO, which no starter ever replaces (two of them may each write the .pl file: two inodes).
flock($in, LOCK_EX | LOCK_NB) or exit 0;
my $path = defined $ENV{PATH} && $ENV{PATH} ne '' ? $ENV{PATH} : '${DEFAULT_PATH}';
my $home = defined $ENV{HOME} && $ENV{HOME} ne '' ? $ENV{HOME} : '/';
my $me = ident($$) // '-';
put("$prefix.id", "$$ $me");

my %svc;      # service dir -> its record
my %bypid;    # child pid -> service dir
my %replies;  # service dir -> its .reply FIFO, held for a starter (see hold_reply)
my @groups;   # [pgid, KILL at]: groups left behind by services no longer supervised
my $buf = '';
my $idle_since = time;
my $leaving = 0;
my $term = 0;
$SIG{CHLD} = sub { };    # a handler (not the default) so that select wakes for it
$SIG{PIPE} = 'IGNORE';
$SIG{TERM} = $SIG{INT} = sub { $term = 1 };

# proc_stat PID: the fields of /proc/PID/stat after comm (state first, start time at index 19);
# comm may hold spaces and parens, so they are counted from the last ')'. Empty: no such process.
sub proc_stat {
  my ($pid) = @_;
  open(my $f, '<', "/proc/$pid/stat") or return ();
  my $s = <$f>;
  close $f;
  return () unless defined $s;
  $s =~ s/.*\) //s;
  return split ' ', $s;
}

# ident PID: the start time of PID (field 22 of /proc/PID/stat), as the shell's ident_v reads it;
# undef for a zombie or no process. Without /proc: ps's lstart, spaces squeezed into "_".
sub ident {
  my ($pid) = @_;
  if (-d '/proc/self') {
    my @f = proc_stat($pid);
    return undef if @f < 20 || $f[0] eq 'Z';
    return $f[19];
  }
  return undef unless kill 0, $pid;
  my $s = qx(LC_ALL=C ps -o lstart= -p $pid 2>/dev/null);
  $s =~ s/\n+\z//;
  $s =~ tr/ /_/s;
  return $s eq '' ? '-' : $s;
}

sub now_iso { POSIX::strftime('%Y-%m-%dT%H:%M:%SZ', gmtime) }

# put FILE VALUE: the value and a newline, renamed into place (readers never see half of it).
sub put {
  my ($file, $value) = @_;
  my $tmp = "$file.agent-tmp";
  if (open(my $f, '>', $tmp)) {
    print $f "$value\n";
    close $f;
    rename $tmp, $file or unlink $tmp;
  } else {
    warn "vendetta-agent: cannot write $file: $!\n";
  }
}

sub say_log {
  my ($d, $msg) = @_;
  if (open(my $f, '>>', "$d/log")) { print $f "vendetta-supervisor: $msg\n"; close $f }
}

sub first_line {
  my ($file) = @_;
  open(my $f, '<', $file) or return '';
  my $l = <$f> // '';
  close $f;
  chomp $l;
  return $l;
}

sub int_file {
  my ($file, $default, $min) = @_;
  my $v = first_line($file);
  return $v =~ /^\d+$/ && $v >= $min ? $v : $default;
}

# group_alive PGID: a live process (not a zombie: an orphan's may wait long for its reaper) is
# in the group. The /proc scan runs only while kill 0 finds the group.
sub group_alive {
  my ($pg) = @_;
  return 0 unless $pg && kill(0, -$pg);
  return 1 unless -d '/proc/self' && opendir(my $dh, '/proc');
  for my $p (grep { /^\d+$/ } readdir $dh) {
    my @f = proc_stat($p);
    return 1 if @f > 2 && $f[2] == $pg && $f[0] ne 'Z';
  }
  return 0;
}

# reply SERVICE WORD: the starter waiting on the service's .reply FIFO learns the outcome.
sub reply {
  my ($s, $word) = @_;
  return unless delete $s->{waiting};
  syswrite $replies{$s->{dir}}, "$word\n" if $replies{$s->{dir}};
}

# hold_reply DIR: the service's .reply FIFO, held open for its starter until it says "done" (also
# after the service ended: closed before the starter opened it, the answer would be lost). An
# answer no starter read, left by one that was killed, is drained first.
sub hold_reply {
  my ($d) = @_;
  close delete $replies{$d} if $replies{$d};
  sysopen(my $f, "$d/.reply", O_RDWR | O_NONBLOCK) or return;
  my $old;
  1 while sysread($f, $old, 4096);
  $replies{$d} = $f;
}

# done_req DIR: the starter read its answer; the FIFO is let go.
sub done_req { close delete $replies{$_[0]} if $replies{$_[0]} }

# release SERVICE: we no longer supervise it (readers then see no live supervisor).
sub release {
  my ($s) = @_;
  push @groups, [$s->{left}, time + $GRACE] if $s->{left};
  unlink "$s->{dir}/supervisor.id", "$s->{dir}/supervisor.pid";
  delete $svc{$s->{dir}};
  $idle_since = time unless %svc;
}

sub spawn {
  my ($s) = @_;
  my $d = $s->{dir};
  my ($r, $w);
  pipe($r, $w) or return fork_failed($s, "pipe: $!");
  my $pid = fork;
  return fork_failed($s, "fork: $!") unless defined $pid;
  if ($pid == 0) {
    POSIX::setsid();
    open(STDIN, '<', '/dev/null');
    open(STDOUT, '>>', "$d/log") or POSIX::_exit(127);
    open(STDERR, '>&', \*STDOUT);
    # What we ignore, an exec keeps ignoring: the service gets the default SIGPIPE.
    $SIG{PIPE} = 'DEFAULT';
    # The run script's work done here (one shell fewer per start), when every file reads as we
    # write it and the command is found; the pipe closes with the exec (close-on-exec).
    my $run = direct($d);
    if ($run) {
      %ENV = (PATH => $path, HOME => $home, %{$run->{env}});
      if (chdir($run->{workdir}) && found($run->{command})) {
        syswrite $w, "ready\n";
        # A command of plain words runs as the shell would run it, without the shell.
        my @argv = plain_words($run->{command});
        if (@argv) {
          # What dash exports that an exec alone would not: PWD, unless the env file names this
          # directory already.
          my @here = stat '.';
          my @pwd = defined $ENV{PWD} ? stat $ENV{PWD} : ();
          $ENV{PWD} = POSIX::getcwd() // $run->{workdir} unless @pwd && $pwd[0] == $here[0] && $pwd[1] == $here[1];
          exec { $argv[0] } @argv or do { print STDERR "$argv[0]: $!\n"; POSIX::_exit(127) };
        }
        exec { '/bin/sh' } '/bin/sh', '-c', $run->{command} or POSIX::_exit(127);
      }
    }
    # Anything else: the run script, which says exactly what is wrong.
    # fd 3: where the run script says "ready" (dup2 clears close-on-exec; fd 3 itself, not).
    if (fileno($w) == 3) { fcntl($w, F_SETFD, 0) } else { POSIX::dup2(fileno($w), 3) }
    %ENV = (PATH => $path, HOME => $home);
    exec { '/bin/sh' } 'sh', '-c', $RUN, 'sh', $d or POSIX::_exit(127);
  }
  close $w;
  $s->{pid} = $pid;
  $s->{ready} = $r;
  $s->{said} = 0;
  $s->{t0} = time;
  $bypid{$pid} = $d;
  my $cid = ident($pid) // 'gone';
  put("$d/pid.id", "$pid $cid g");
  put("$d/pid", $pid);
  put("$d/started", now_iso());
  put("$d/state", 'running');
}

# read_all FILE: its whole content; undef if unreadable.
sub read_all {
  my ($file) = @_;
  open(my $f, '<', $file) or return undef;
  local $/;
  my $t = <$f> // '';
  close $f;
  return $t;
}

# slurp FILE: its content without trailing newlines, as the run script reads it; undef if unreadable.
sub slurp {
  my $t = read_all($_[0]);
  $t =~ s/\n+\z// if defined $t;
  return $t;
}

# direct DIR: {workdir, command, env} when the env file is exactly as renderEnvFile writes it
# (export NAME=WORD lines, WORD quoted as quoteArg quotes); undef for anything else.
sub direct {
  my ($d) = @_;
  my $workdir = slurp("$d/workdir");
  my $command = slurp("$d/command");
  my $t = read_all("$d/env");
  return undef unless defined $t;
  my %env;
  while ($t =~ /\Gexport ([A-Za-z_][A-Za-z0-9_]*)=((?:'[^']*'|\\'|[A-Za-z0-9_\@%+=:,.\/-])*)\n/gc) {
    my ($k, $w) = ($1, $2);
    my $v = '';
    while ($w =~ /\G(?:'([^']*)'|\\(')|([^'\\]+))/gc) { $v .= $1 // $2 // $3 }
    $env{$k} = $v;
  }
  return undef unless (pos($t) // 0) == length($t) && defined $workdir && defined $command;
  return { workdir => $workdir, command => $command, env => \%env };
}

# found COMMAND: its first word (after an "exec") is a program on PATH, or a path to one, or not a
# plain word (an assignment, a keyword, an expansion: the shell resolves those). A builtin or a
# missing program is left to the run script.
sub found {
  my @w = split /[ \t\n]+/, $_[0];
  shift @w if @w && $w[0] eq '';
  shift @w if @w && $w[0] eq 'exec';
  my $c = $w[0];
  return 1 if !defined $c || $c eq '' || $c =~ m{[^A-Za-z0-9_./+-]};
  return -f $c && -x _ if $c =~ m{/};
  for my $dir (split /:/, $ENV{PATH} // '', -1) {
    my $p = ($dir eq '' ? '.' : $dir) . "/$c";
    return 1 if -f $p && -x _;
  }
  return 0;
}

# plain_words COMMAND: its words when sh -c would exec them as they are (an optional leading
# "exec", then words with nothing a shell expands or treats specially, the first no builtin,
# keyword or assignment); else the empty list. dash execs a -c command's last simple command in
# place, so the process is the same either way: one exec of a shell fewer per start.
my %SHELL_WORD = map { $_ => 1 } qw(. : [ alias bg break cd chdir command continue echo eval exec exit
  export false fc fg getopts hash jobs kill local printf pwd read readonly return set shift test times
  trap true type ulimit umask unalias unset wait ! { } case do done elif else esac fi for if in then
  until while);
sub plain_words {
  my ($c) = @_;
  return () unless $c =~ m{\A[ \t]*(?:exec[ \t]+)?([A-Za-z0-9_@%+=:,./-]+(?:[ \t]+[A-Za-z0-9_@%+=:,./-]+)*)[ \t]*\z};
  my @w = split /[ \t]+/, $1;
  return () if $SHELL_WORD{$w[0]} || $w[0] =~ /=/;
  return @w;
}

sub fork_failed {
  my ($s, $why) = @_;
  warn "vendetta-agent: $s->{dir}: $why\n";
  say_log($s->{dir}, "could not start: $why; retrying in 1 s");
  put("$s->{dir}/state", 'backoff');
  $s->{due} = time + 1;
  reply($s, 'exited');
}

sub start_req {
  my ($d) = @_;
  if (my $old = $svc{$d}) {
    # The starter stopped it first; whatever is left of it goes now.
    kill 'KILL', -$old->{pid} if $old->{pid};
    delete $bypid{$old->{pid}} if $old->{pid};
    delete $svc{$d};
  }
  unlink map { "$d/$_" } qw(supervisor.pid supervisor.id pid.id state pid exit started lock alive health prober.id .ready);
  hold_reply($d);
  my $s = $svc{$d} = { dir => $d, restarts => 0, delay => 1, waiting => 1 };
  $s->{logmax} = int_file("$d/logmax", 10485760, 1);
  $s->{logfiles} = int_file("$d/logfiles", 2, 1);
  put("$d/supervisor.id", "$$ $me a $prefix.in");
  put("$d/supervisor.pid", $$);
  put("$d/restarts", 0);
  spawn($s);
}

sub stop_req {
  my ($d, $drop) = @_;
  done_req($d) if $drop;
  my $s = $svc{$d} or return;
  if ($drop) {
    # A delete: the directory goes next, nothing is recorded; the deleter KILLs what is left.
    kill 'TERM', -$s->{pid} if $s->{pid};
    delete $bypid{$s->{pid}} if $s->{pid};
    release($s);
    return;
  }
  if (!$s->{pid}) {
    say_log($d, 'stopped');
    put("$d/state", 'stopped');
    release($s);
    return;
  }
  $s->{stopping} = 1;
  $s->{kill_at} = time + $GRACE;
  kill 'TERM', -$s->{pid};
}

sub exited {
  my ($s, $code) = @_;
  my $d = $s->{dir};
  my $pg = $s->{pid};
  $s->{pid} = undef;
  close delete $s->{ready} if $s->{ready};
  if ($s->{stopping}) {
    $s->{code} = $code;
    $s->{pg} = $pg;
    return;
  }
  # The main process is gone but its group may not be (a wrapper killed, the server living on,
  # holding its port): TERM it now, KILL it before the next start.
  if (group_alive($pg)) {
    kill 'TERM', -$pg;
    $s->{left} = $pg;
  }
  put("$d/exit", $code);
  my $policy = first_line("$d/restart");
  if ($policy eq 'never' || ($policy eq 'on-failure' && $code == 0)) {
    say_log($d, "exited with code $code; restart policy $policy: not restarting");
    put("$d/state", 'exited');
    reply($s, 'exited');
    release($s);
    return;
  }
  # A child that ran a while was healthy: start over from the shortest backoff.
  $s->{delay} = 1 if time - $s->{t0} >= 10;
  say_log($d, "exited with code $code; restarting in $s->{delay} s");
  put("$d/state", 'backoff');
  $s->{due} = time + $s->{delay};
  $s->{delay} *= 2;
  $s->{delay} = 30 if $s->{delay} > 30;
  reply($s, 'exited');
}

sub reap {
  while ((my $pid = waitpid(-1, POSIX::WNOHANG())) > 0) {
    my $code = $? & 127 ? 128 + ($? & 127) : $? >> 8;
    my $d = delete $bypid{$pid};
    next unless defined $d && $svc{$d} && ($svc{$d}{pid} // 0) == $pid;
    exited($svc{$d}, $code);
  }
}

# Log rotation by size: log.N-1 -> log.N … log -> log.1 (a copy, then log truncated in place:
# the service keeps writing to its O_APPEND descriptor, now at the start of the file).
sub rotate {
  my ($s) = @_;
  my $d = $s->{dir};
  if ($s->{logfiles} > 1) {
    for (my $k = $s->{logfiles} - 1; $k > 1; $k--) {
      rename "$d/log." . ($k - 1), "$d/log.$k" if -f "$d/log." . ($k - 1);
    }
    if (open(my $src, '<', "$d/log") and open(my $dst, '>', "$d/.log.1.tmp")) {
      my $chunk;
      while (sysread($src, $chunk, 65536)) { syswrite $dst, $chunk }
      close $dst;
      rename "$d/.log.1.tmp", "$d/log.1";
    }
  }
  truncate "$d/log", 0;
}

sub request {
  my ($line) = @_;
  my ($verb, $d) = split / /, $line, 2;
  return unless defined $d && $d =~ m{^/};
  if ($verb eq 'start') { start_req($d) }
  elsif ($verb eq 'stop') { stop_req($d, 0) }
  elsif ($verb eq 'drop') { stop_req($d, 1) }
  elsif ($verb eq 'done') { done_req($d) }
}

sub timers {
  my $now = time;
  for my $s (values %svc) {
    my $d = $s->{dir};
    if ($s->{stopping}) {
      if (!$s->{pid} && !group_alive($s->{pg})) {
        put("$d/exit", $s->{code}) if defined $s->{code};
        say_log($d, 'stopped');
        put("$d/state", 'stopped');
        release($s);
      } elsif ($now >= $s->{kill_at}) {
        kill 'KILL', -($s->{pid} // $s->{pg});
      }
      next;
    }
    if (defined $s->{due} && !$s->{pid} && $now >= $s->{due}) {
      delete $s->{due};
      kill 'KILL', -$s->{left} if $s->{left} && group_alive($s->{left});
      delete $s->{left};
      $s->{restarts}++;
      put("$d/restarts", $s->{restarts});
      spawn($s);
      next;
    }
    if ($s->{pid}) {
      my $size = -s "$d/log";
      rotate($s) if defined $size && $size >= $s->{logmax};
    }
  }
  @groups = grep { group_alive($_->[0]) && ($now < $_->[1] || !kill('KILL', -$_->[0])) } @groups;
}

# TERM: stop every service as a stop request would, then leave.
sub shutdown_all {
  stop_req($_, 0) for keys %svc;
  my $until = time + $GRACE + 1;
  while (%svc && time < $until) {
    select(undef, undef, undef, 0.1);
    reap();
    timers();
  }
  unlink "$prefix.id";
  exit 0;
}

while (1) {
  shutdown_all() if $term;
  my $rin = '';
  vec($rin, fileno($in), 1) = 1;
  for my $s (values %svc) { vec($rin, fileno($s->{ready}), 1) = 1 if $s->{ready} }
  # A stop in progress is checked often (its stopper polls the files); else twice a second.
  my $wait = (grep { $_->{stopping} } values %svc) ? 0.05 : %svc ? 0.5 : 1;
  my $n = select(my $rout = $rin, undef, undef, $wait);
  reap();
  if ($n > 0) {
    if (vec($rout, fileno($in), 1)) {
      sysread($in, $buf, 65536, length $buf);
      while ($buf =~ s/^([^\n]*)\n//) { request($1) }
      if ($leaving && %svc) { $leaving = 0; put("$prefix.id", "$$ $me") }
    }
    for my $s (values %svc) {
      next unless $s->{ready} && vec($rout, fileno($s->{ready}), 1);
      my $chunk = '';
      my $got = sysread($s->{ready}, $chunk, 64);
      $s->{said} = 1 if $got && $chunk =~ /ready/;
      next if $got;
      # End of file: the run script became the service ("ready"), or ended before it did (its
      # exit is recorded when it is reaped, and the starter hears then).
      close delete $s->{ready};
      reply($s, 'ready') if $s->{said};
    }
  }
  timers();
  # The root is gone (a test's temp dir, a reinstall): nothing left to serve.
  shutdown_all() unless -p "$prefix.in";
  if (!%svc && time - $idle_since >= $IDLE) {
    # Leaving: no id first, then a moment for a starter that read it just before to be served.
    if (!$leaving) { $leaving = time; unlink "$prefix.id" }
    elsif (time - $leaving >= 2) { exit 0 }
  }
}
`;

/** The agent's source, its second line naming its content (the files of an agent carry it). */
export const NODE_AGENT_HASH = createHash('sha256').update(AGENT_BODY).digest('hex').slice(0, 16);
export const NODE_AGENT_SCRIPT = `#!/usr/bin/perl
# vendetta node agent ${NODE_AGENT_HASH}: supervises the services under one process-provider root.
${AGENT_BODY}`;

/** Where a root's agent keeps its files: the prefix of agent-HASH.{pl,in,id,log}. */
export function nodeAgentPrefix(root: string): string {
  return posix.join(root, '.agent', `agent-${NODE_AGENT_HASH}`);
}

/**
 * Shell functions for a starter (they share the supervisor library's globals, ident_v among
 * them). `agent_up PREFIX SOURCE`: the agent of PREFIX runs, started here when none does (fails
 * where the node has no perl). `agent_start DIR PREFIX`: hands the service dir to it and waits
 * for its one-line answer, in rdy.
 */
export const NODE_AGENT_SHELL = String.raw`agent_alive() {
  ap='' ai=''
  { read -r ap ai < "$1.id"; } 2>/dev/null
  [ -n "$ai" ] && ident_v "$ap" && [ "$iv" = "$ai" ]
}
agent_up() {
  agent_alive "$1" && return 0
  command -v perl >/dev/null 2>&1 || return 1
  [ -d "\${1%/*}" ] || mkdir -p "\${1%/*}" || return 1
  # Two starters may race here: whichever makes the FIFO, both use it.
  [ -p "$1.in" ] || mkfifo -m 600 "$1.in" 2>/dev/null || [ -p "$1.in" ] || return 1
  [ -f "$1.pl" ] || { printf '%s' "$2" > "$1.pl.\${vd_self:-$$}" && mv -f "$1.pl.\${vd_self:-$$}" "$1.pl"; } || return 1
  # From an empty environment plus PATH and HOME (what its services start from): on the local node
  # the starter's environment is the controller's, secrets included, which the agent must not keep.
  if command -v env >/dev/null 2>&1; then
    env -i "PATH=\${PATH:-${DEFAULT_PATH}}" "HOME=\${HOME:-/}" perl "$1.pl" "$1" </dev/null >>"$1.log" 2>&1 &
  else
    perl "$1.pl" "$1" </dev/null >>"$1.log" 2>&1 &
  fi
  i=0
  while [ "$i" -lt 200 ]; do
    agent_alive "$1" && return 0
    sleep 0.05 2>/dev/null || sleep 1
    i=$((i + 1))
  done
  echo "the node agent $1.pl did not start; see $1.log" >&2
  return 1
}
agent_start() {
  [ -p "$1/.reply" ] || mkfifo -m 600 "$1/.reply" || return 1
  printf 'start %s\n' "$1" 1<>"$2.in"
  # The open waits for the agent to hold the FIFO; the read for its answer, or for the end of the
  # file if the agent ends first.
  rdy=''
  { read -r rdy; } < "$1/.reply"
  printf 'done %s\n' "$1" 1<>"$2.in"
  if [ -z "$rdy" ]; then echo "the node agent ($2.pl) ended before it answered; see $2.log" >&2; return 1; fi
}
`.replace(/\\\$\{/g, '${');
