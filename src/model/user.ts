// spec.user (docker only): who a workspace's container runs as, in docker run --user syntax.

/**
 * A user name or uid, optionally ":group" or ":gid". Letters, digits, "_", "." and "-" only (as
 * the schema's containerUser): nothing a shell or docker would read as anything but a name.
 */
export const CONTAINER_USER = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,31}(:[A-Za-z0-9_][A-Za-z0-9_.-]{0,31})?$/;

/** Root (by name or uid) or unset: the container's own root, which needs nothing prepared. */
export function isRootUser(user: string | undefined): boolean {
  if (user === undefined || user === '') return true;
  const [u] = user.split(':');
  return u === 'root' || u === '0';
}
