import type { ServerHttp2Session } from 'node:http2';
import type { DrainPart } from './drain.js';

interface SessionState {
  streams: number;
  retiring: boolean;
}

/**
 * The worker's HTTP/2 sessions: an idle one closes after the keep-alive time, and a drain closes
 * each one gracefully. Counterpart of the HTTP/1 ConnectionTracker (src/worker/connections.ts).
 *
 * Closing is Node's session.close(): a GOAWAY naming the last stream processed; streams in flight
 * finish and the session ends with its last one. A stream the client sent before the GOAWAY
 * reached it is refused (REFUSED_STREAM: not processed, safe to send again, RFC 9113 8.7), which
 * browsers and curl do on their own. RFC 9113 6.8's two-step shutdown is not to be had: Node does
 * not expose nghttp2_submit_shutdown_notice, and a first GOAWAY with 2^31-1 sent by hand made
 * nghttp2 leave the racing streams unanswered until the final GOAWAY refused them anyway.
 */
export class Http2Sessions implements DrainPart {
  private readonly sessions = new Map<ServerHttp2Session, SessionState>();
  private draining = false;

  constructor(private readonly idleMs: number) {}

  add(session: ServerHttp2Session): void {
    const state: SessionState = { streams: 0, retiring: false };
    this.sessions.set(session, state);
    session.once('close', () => this.sessions.delete(session));
    session.on('stream', (stream) => {
      state.streams++;
      stream.once('close', () => state.streams--);
    });
    // Fires after idleMs with no frame either way; a session with a quiet stream open stays.
    session.setTimeout(this.idleMs, () => {
      if (state.streams === 0) this.retire(session, state);
    });
    if (this.draining) this.retire(session, state);
  }

  get open(): number {
    return this.sessions.size;
  }

  start(): void {
    this.draining = true;
    for (const [session, state] of this.sessions) this.retire(session, state);
  }

  /** graceful_timeout is over: streams still open are cut. */
  cut(): void {
    for (const session of this.sessions.keys()) session.destroy();
  }

  private retire(session: ServerHttp2Session, state: SessionState): void {
    if (state.retiring || session.closed || session.destroyed) return;
    state.retiring = true;
    session.close();
  }
}
