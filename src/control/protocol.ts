/**
 * The control socket's protocol (`tsicorn status|reload|scale|stop|reopen-logs`): one JSON request
 * line from the CLI, one JSON reply line from the master. The CLI side is src/cli/control-client.ts,
 * the master side src/master/control-server.ts; this closed union is all they share.
 */
export type ControlRequest =
  | { command: 'status' }
  /** Waits for the reload's outcome: applied, unchanged, refused (invalid config) or failed. */
  | { command: 'reload' }
  /** `to`: an absolute count, or a change (+1, -2) when `relative`. */
  | { command: 'scale'; to: number; relative: boolean }
  /** The reply comes at once; the connection closes when the master has exited. */
  | { command: 'stop'; quick: boolean }
  | { command: 'reopen-logs' };

export type ControlReply = { ok: true; message: string; data?: unknown } | { ok: false; error: string; details?: string[] };

export function isControlRequest(value: unknown): value is ControlRequest {
  if (typeof value !== 'object' || value === null) return false;
  const v = value as Record<string, unknown>;
  switch (v.command) {
    case 'status':
    case 'reload':
    case 'reopen-logs':
      return true;
    case 'scale':
      return typeof v.to === 'number' && Number.isInteger(v.to) && typeof v.relative === 'boolean';
    case 'stop':
      return typeof v.quick === 'boolean';
    default:
      return false;
  }
}

/** One worker as `tsicorn status` shows it. */
export interface WorkerStatus {
  id: number;
  pid: number;
  generation: number;
  state: string;
  requests: number;
  inflight: number;
  rssBytes: number;
  cpuSeconds: number;
  ageSeconds: number;
  /** Milliseconds since the worker's last heartbeat (an answer to this status is one). */
  heartbeatAgoMs: number;
  /**
   * True: requests, inflight, rssBytes and cpuSeconds are as of this status (the worker answered
   * it). False: the worker did not answer within 0.5 s (its event loop is busy, or it is still
   * loading the app) and they are as of its last heartbeat, heartbeatAgoMs ago (none yet: zeros).
   */
  fresh: boolean;
}

/** What `tsicorn status --json` prints. */
export interface ServerStatus {
  pid: number;
  state: string;
  uptimeSeconds: number;
  configFile: string | null;
  app: string;
  generation: number;
  workersTarget: number;
  listeners: string[];
  workers: WorkerStatus[];
  /** Processes started ahead for the next new workers (`standby_workers`). */
  standbyPids: number[];
  /** Worker exits since the master started, by reason (exit, timeout, max_requests, reload, ...). */
  restarts: Record<string, number>;
  /** The latest exits, newest last. */
  recentExits: { pid: number; generation: number; reason: string; at: string }[];
}
