#!/bin/bash
# A bare git repository the test nodes fetch source.git from (test/e2e/git-source.test.ts):
# $W/git/demo.git, owned by the node user, with a branch `main` (2 commits), a branch `feature`, an
# annotated tag `v1` (the first commit). Nodes reach it over their own sshd as
# ssh://vdtest@127.0.0.11:2222$W/git/demo.git (the node user gets a key of its own, authorized for
# itself, and n1's host key in its known_hosts) or as file://$W/git/demo.git.
# Writes $W/git.json. Usage: git-repo.sh up|down (idempotent; up remakes the repository).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/lib.sh"
G=$W/git
HOME_DIR=$(getent passwd "$TEST_USER" | cut -d: -f6)

down() {
  rm -rf "$G" "$W/git.json"
}

up() {
  command -v git >/dev/null || { echo "git is not installed (apt-get install git)" >&2; exit 1; }
  down
  mkdir -p "$G"
  local work; work=$(mktemp -d)
  local g=(git -C "$work" -c user.name=e2e -c user.email=e2e@vendetta.test -c init.defaultBranch=main)
  "${g[@]}" init -q
  mkdir -p "$work/sub dir" "$work/bin"
  printf 'first\n' > "$work/README"
  printf 'nested\n' > "$work/sub dir/a file.txt"
  printf '#!/bin/sh\necho ran\n' > "$work/bin/run.sh"
  chmod 755 "$work/bin/run.sh"
  ln -s README "$work/link"
  "${g[@]}" add -A && "${g[@]}" commit -q -m first
  "${g[@]}" tag -a v1 -m 'version 1'
  "${g[@]}" checkout -q -b feature
  printf 'feature\n' > "$work/FEATURE" && "${g[@]}" add -A && "${g[@]}" commit -q -m feature
  "${g[@]}" checkout -q main
  printf 'second\n' > "$work/README" && "${g[@]}" commit -q -a -m second
  git clone -q --bare "$work" "$G/demo.git"
  rm -rf "$work"
  # The server answers fetches by commit id over protocol v2 anyway; say so for v0 clients too.
  git -C "$G/demo.git" config uploadpack.allowReachableSHA1InWant true
  chown -R "$TEST_USER:" "$G"

  # The node user's own key, authorized for itself, and n1's host key: `git fetch ssh://…` on a
  # node works without a prompt (vendetta runs it with BatchMode).
  local ssh=$HOME_DIR/.ssh
  install -d -m 700 -o "$TEST_USER" -g "$TEST_USER" "$ssh"
  [ -f "$ssh/id_ed25519" ] || runuser -u "$TEST_USER" -- ssh-keygen -q -t ed25519 -N '' -C vendetta-e2e-git -f "$ssh/id_ed25519"
  local pub; pub=$(cat "$ssh/id_ed25519.pub")
  grep -qxF "$pub" "$ssh/authorized_keys" 2>/dev/null || printf '%s\n' "$pub" >> "$ssh/authorized_keys"
  local hk; hk="[$(node_addr n1)]:$SSH_PORT $(cut -d' ' -f1,2 "$(node_dir n1)/ssh_host_ed25519_key.pub")"
  grep -qxF "$hk" "$ssh/known_hosts" 2>/dev/null || printf '%s\n' "$hk" >> "$ssh/known_hosts"
  chown "$TEST_USER:" "$ssh/authorized_keys" "$ssh/known_hosts"
  chmod 600 "$ssh/authorized_keys" "$ssh/known_hosts"

  local rev=(git -c safe.directory='*' -C "$G/demo.git" rev-parse)
  cat > "$W/git.json.tmp" <<JSON
{
  "bare": "$G/demo.git",
  "sshUrl": "ssh://$TEST_USER@$(node_addr n1):$SSH_PORT$G/demo.git",
  "fileUrl": "file://$G/demo.git",
  "main": "$("${rev[@]}" main)",
  "first": "$("${rev[@]}" 'v1^{commit}')",
  "feature": "$("${rev[@]}" feature)"
}
JSON
  mv "$W/git.json.tmp" "$W/git.json"
  ts "git repository $G/demo.git -> $W/git.json"
}

case "${1:-}" in
up) up ;;
down) down ;;
*) echo "usage: $0 up|down" >&2; exit 2 ;;
esac
