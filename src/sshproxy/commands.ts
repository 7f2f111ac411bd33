// What runs inside a workspace for an interactive shell and for the sftp subsystem (LOGIN_SHELL is
// the same login shell `vendetta shell` starts).

/** A login shell the workspace has (busybox images only have sh). */
export const LOGIN_SHELL = ['/bin/sh', '-c', 'if command -v bash >/dev/null 2>&1; then exec bash -l; else exec sh -l; fi'];

/** The sftp subsystem: OpenSSH's sftp-server where distributions put it, else on PATH. */
export const SFTP_SERVER = [
  '/bin/sh',
  '-c',
  'for p in /usr/lib/openssh/sftp-server /usr/lib/sftp-server /usr/libexec/openssh/sftp-server /usr/libexec/sftp-server; do ' +
    '[ -x "$p" ] && exec "$p"; done; ' +
    'command -v sftp-server >/dev/null 2>&1 && exec sftp-server; ' +
    'echo "vendetta ssh-proxy: no sftp-server in this workspace: sftp and scp (without -O) need OpenSSH\'s sftp-server in the image (Debian: openssh-sftp-server)" >&2; exit 127',
];
