/**
 * systemd socket activation (sd_listen_fds(3)): when LISTEN_PID is this process, fds 3 ..
 * 3+LISTEN_FDS-1 are listening sockets. The variables are removed so that workers (and the app)
 * do not take the sockets for their own.
 */
export function systemdListenFds(env: NodeJS.ProcessEnv = process.env): number[] {
  const pid = Number(env.LISTEN_PID);
  const count = Number(env.LISTEN_FDS);
  delete env.LISTEN_PID;
  delete env.LISTEN_FDS;
  delete env.LISTEN_FDNAMES;
  if (pid !== process.pid || !Number.isInteger(count) || count < 1) return [];
  return Array.from({ length: count }, (_, i) => 3 + i);
}
