#!/bin/bash
# Ansible for bench/compare.mjs, from Debian's packages only: ansible (it carries the
# community.docker collection) and the Docker SDK for Python that docker_container needs on the
# managed nodes (here the nodes are sshd instances on this machine, so "on the node" is here).
set -euo pipefail
[ "$(id -u)" = 0 ] || { echo "bench/ansible.sh must run as root (apt-get)" >&2; exit 1; }
MISSING=()
for p in ansible python3-docker; do dpkg -s "$p" >/dev/null 2>&1 || MISSING+=("$p"); done
if [ ${#MISSING[@]} -gt 0 ]; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${MISSING[@]}" >/dev/null
fi
ansible-playbook --version | head -1
