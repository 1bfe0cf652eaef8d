import type { ServerStatus, WorkerStatus } from '../control/protocol.js';

function duration(seconds: number): string {
  const s = Math.floor(seconds);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  if (s < 86400) return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
  return `${Math.floor(s / 86400)}d${String(Math.floor((s % 86400) / 3600)).padStart(2, '0')}h`;
}

function bytes(n: number): string {
  if (n >= 1024 ** 3) return `${(n / 1024 ** 3).toFixed(1)}GiB`;
  if (n >= 1024 ** 2) return `${(n / 1024 ** 2).toFixed(1)}MiB`;
  return `${Math.round(n / 1024)}KiB`;
}

/** `tsicorn status` for a terminal: the master on one line, then a table of its workers. */
export function formatStatus(status: ServerStatus): string {
  const lines = [
    `master ${status.pid}: ${status.state}, up ${duration(status.uptimeSeconds)}, generation ${status.generation}, app ${status.app}`,
    `config ${status.configFile ?? '(flags only)'}; listening on ${status.listeners.join(', ')}`,
    `workers ${status.workers.filter((w) => w.state === 'ready').length} ready of ${status.workersTarget}:`,
  ];
  // A worker that did not answer this status shows its last heartbeat's figures, marked `*`; a
  // booting one that never beat has none to show.
  const figures = (w: WorkerStatus) =>
    !w.fresh && w.state === 'booting'
      ? ['-', '-', '-', '-']
      : [String(w.requests), String(w.inflight), bytes(w.rssBytes), `${w.cpuSeconds.toFixed(2)}s`];
  const rows = [
    ['ID', 'PID', 'GEN', 'STATE', 'REQUESTS', 'INFLIGHT', 'RSS', 'CPU', 'AGE', 'HEARTBEAT'],
    ...status.workers.map((w) => [
      w.fresh ? String(w.id) : `${w.id}*`,
      String(w.pid),
      String(w.generation),
      w.state,
      ...figures(w),
      duration(w.ageSeconds),
      `${(w.heartbeatAgoMs / 1000).toFixed(1)}s ago`,
    ]),
  ];
  const widths = rows[0]?.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length))) ?? [];
  for (const row of rows)
    lines.push(
      `  ${row
        .map((cell, i) => cell.padEnd(widths[i] ?? 0))
        .join('  ')
        .trimEnd()}`,
    );
  if (status.workers.some((w) => !w.fresh))
    lines.push('  * did not answer within 0.5 s (event loop busy, or app loading): figures as of its last heartbeat');
  if (status.standbyPids.length > 0) lines.push(`standby processes: ${status.standbyPids.join(', ')}`);
  const restarts = Object.entries(status.restarts);
  lines.push(`restarts: ${restarts.length ? restarts.map(([reason, n]) => `${reason} ${n}`).join(', ') : 'none'}`);
  return `${lines.join('\n')}\n`;
}
