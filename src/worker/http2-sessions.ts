import type { Http2ServerResponse, Http2Session, ServerHttp2Session } from 'node:http2';
import { performance } from 'node:perf_hooks';
import type { DrainPart } from './drain.js';
import type { OpenResponses } from './open-responses.js';

interface SessionState {
  retiring: boolean;
  /** The client's last stream the sweep saw (`session.state.lastProcStreamID`): a new one means a request came. */
  lastStream: number;
  /** A request of the session was in flight at the last sweep. */
  busy: boolean;
  /** When the sweep last saw the session busy, or saw it stop being busy (performance.now()). */
  busyAt: number;
}

/**
 * The worker's HTTP/2 sessions: an idle one closes after the keep-alive time, and a drain closes
 * each one gracefully. Counterpart of the HTTP/1 ConnectionTracker (src/worker/connections.ts).
 *
 * Idle means no request in flight and none started, as nginx's keepalive_timeout counts it for
 * HTTP/2 (a client's PINGs do not hold a session open). A sweep finds it, so nothing is done per
 * stream: a `stream` listener and a `close` listener on each stream, or the session's own
 * setTimeout (which re-arms its timer at every frame written or read), cost ~1 µs of a ~20 µs
 * stream (a `--cpu-prof` of one worker under h2load). The sweep reads the requests in flight from
 * the pipeline's list and each session's last stream id from nghttp2. A session closes between
 * `idleMs` and `idleMs` + two sweeps after its last request: never sooner (a load balancer whose
 * own idle timeout is set just under ours must not find the connection gone).
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
  private readonly sweepMs: number;
  private sweeper: NodeJS.Timeout | undefined;
  private draining = false;

  /** `inFlight`: the pipeline's HTTP/2 requests not yet closed. */
  constructor(
    private readonly idleMs: number,
    private readonly inFlight: OpenResponses,
  ) {
    this.sweepMs = Math.min(1000, Math.max(50, idleMs / 4));
  }

  add(session: ServerHttp2Session): void {
    const state: SessionState = { retiring: false, lastStream: 0, busy: false, busyAt: performance.now() };
    this.sessions.set(session, state);
    session.once('close', () => {
      this.sessions.delete(session);
      if (this.sessions.size === 0) this.stopSweeping();
    });
    if (this.draining) {
      this.retire(session, state);
      return;
    }
    if (!this.sweeper) {
      this.sweeper = setInterval(() => this.sweep(), this.sweepMs);
      this.sweeper.unref();
    }
  }

  get open(): number {
    return this.sessions.size;
  }

  start(): void {
    this.draining = true;
    this.stopSweeping();
    for (const [session, state] of this.sessions) this.retire(session, state);
  }

  /** graceful_timeout is over: streams still open are cut. */
  cut(): void {
    for (const session of this.sessions.keys()) session.destroy();
  }

  private sweep(): void {
    const now = performance.now();
    const busy = new Set<Http2Session | undefined>();
    for (const res of this.inFlight) busy.add((res as unknown as Http2ServerResponse).stream?.session);
    for (const [session, state] of this.sessions) {
      if (state.retiring || session.destroyed) continue;
      const lastStream = session.state.lastProcStreamID ?? 0;
      const isBusy = busy.has(session);
      // Busy now, or busy at the last sweep (its last request ended since), or a request came and went.
      if (isBusy || state.busy || lastStream !== state.lastStream) state.busyAt = now;
      else if (now - state.busyAt >= this.idleMs) this.retire(session, state);
      state.busy = isBusy;
      state.lastStream = lastStream;
    }
  }

  private stopSweeping(): void {
    clearInterval(this.sweeper);
    this.sweeper = undefined;
  }

  private retire(session: ServerHttp2Session, state: SessionState): void {
    if (state.retiring || session.closed || session.destroyed) return;
    state.retiring = true;
    session.close();
  }
}
