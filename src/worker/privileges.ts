type Id = string | number;
// process.initgroups exists on POSIX Node but is missing from @types/node 20.
const posix = process as NodeJS.Process & { initgroups?: (user: Id, extraGroup: Id) => void };

function asId(value: Id): Id {
  return typeof value === 'string' && /^\d+$/.test(value) ? Number(value) : value;
}

/**
 * Drops to `group` then `user` (that order: once the uid is not root, setgid is refused), and
 * resets the supplementary groups so root's do not leak into the app. The master keeps its rights
 * to bind new listeners at reload; only workers, which run the app's code, give them up.
 */
export function dropPrivileges(user: Id | null, group: Id | null): void {
  if (user === null && group === null) return;
  if (!posix.setgid || !posix.setuid || !posix.initgroups) throw new Error('user/group: this platform cannot change the user of a process');
  if (group !== null) posix.setgid(asId(group));
  if (user !== null) {
    posix.initgroups(asId(user), group === null ? (process.getgid?.() ?? 0) : asId(group));
    posix.setuid(asId(user));
  }
}
