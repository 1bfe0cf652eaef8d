import { spawn } from 'node:child_process';
import type { Logger } from '../log/logger.js';

/**
 * systemd's readiness protocol (Type=notify): READY=1 once every worker is ready, RELOADING=1 …
 * READY=1 around a reload, STOPPING=1 at a stop, MAINPID= when a USR2 successor takes over.
 * Node cannot send to a unix datagram socket, so each message goes through `systemd-notify`, a
 * child process: the unit needs NotifyAccess=all. Since systemd 246 it waits for the manager to
 * have read the message (a barrier), so its early exit loses nothing.
 */
export class SystemdNotifier {
  private warned = false;

  private constructor(private readonly log: Logger) {}

  /** A notifier when systemd asked for one (NOTIFY_SOCKET), else null. */
  static fromEnv(log: Logger, env: NodeJS.ProcessEnv = process.env): SystemdNotifier | null {
    return env.NOTIFY_SOCKET ? new SystemdNotifier(log) : null;
  }

  /** Serving (again): the master is `pid` (a successor names itself, so systemd follows it). */
  ready(status: string, pid = process.pid): void {
    this.send(['READY=1', `MAINPID=${pid}`, `STATUS=${status}`]);
  }

  reloading(): void {
    this.send(['RELOADING=1', 'STATUS=reloading']);
  }

  stopping(): void {
    this.send(['STOPPING=1', 'STATUS=stopping']);
  }

  private send(fields: string[]): void {
    const child = spawn('systemd-notify', fields, { stdio: 'ignore' });
    child.on('error', (err: NodeJS.ErrnoException) => {
      if (this.warned) return;
      this.warned = true;
      this.log.warn({ error: err.message }, 'NOTIFY_SOCKET is set but systemd-notify cannot run; systemd will not see readiness');
    });
  }
}
