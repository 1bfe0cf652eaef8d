import type { Settings } from '../config/settings.js';

/** How a draining worker times its exit (the `stop` message carries these). */
export interface StopTimings {
  /** Hard deadline: whatever is still open then is cut. */
  gracefulMs: number;
  /** A keep-alive socket is closed once it has been idle this long. */
  idleGraceMs: number;
}

/** On shutdown an idle keep-alive socket gets this long at most (a request may be on the wire). */
const SHUTDOWN_IDLE_GRACE_MS = 1000;

/**
 * When the worker is replaced (rotation, max_requests, scaling down) the site stays up, so an idle
 * keep-alive socket is kept as long as the client was promised (`Keep-Alive: timeout=N`): closing
 * it sooner races a request the client may be sending, and the client sees a reset. When the whole
 * server stops, nothing will answer that request anyway, so idle sockets go after a short grace
 * (nginx closes them at once) and a stop takes no longer than its in-flight requests.
 */
export function stopTimings(settings: Settings, shutdown: boolean): StopTimings {
  const keepaliveMs = settings.keepalive * 1000;
  return {
    gracefulMs: settings.graceful_timeout * 1000,
    idleGraceMs: shutdown ? Math.min(keepaliveMs, SHUTDOWN_IDLE_GRACE_MS) : keepaliveMs,
  };
}
