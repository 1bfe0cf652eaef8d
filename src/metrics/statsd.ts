import { parseHostPort } from '../config/bind-address.js';
import { ipFamily } from '../config/ip-family.js';
import type { Settings } from '../config/settings.js';
import type { Logger } from '../log/logger.js';

/** Bytes of metrics gathered before a packet goes out; stays under a 1500-byte Ethernet MTU. */
const PACKET_BYTES = 1400;
/** A partly filled packet still goes out after this long. */
const FLUSH_MS = 1000;
/** How long closing the client may take (it flushes first). */
const CLOSE_WAIT_MS = 1000;

/**
 * The StatsD name of one of our metrics: the Prometheus name without `tsicorn_`, after the prefix,
 * with the label values as further segments in the order the label names are declared
 * (`tsicorn_requests_total{method="GET",status="2xx"}` → `tsicorn.requests_total.GET.2xx`).
 * Characters StatsD or Graphite read as syntax (`.:|@#` and spaces) become `_`.
 */
export function statsdName(prefix: string, metric: string, labelValues: readonly string[] = []): string {
  const parts = [metric.replace(/^tsicorn_/, ''), ...labelValues].map((p) => p.replace(/[^A-Za-z0-9_-]/g, '_'));
  return (prefix === '' ? '' : `${prefix}.`) + parts.join('.');
}

/** What the master and the workers send to StatsD; fire and forget (UDP), errors logged once. */
export interface StatsdSink {
  readonly prefix: string;
  increment(name: string, by?: number): void;
  /** A duration in milliseconds (StatsD's unit for timers). */
  timing(name: string, ms: number): void;
  gauge(name: string, value: number): void;
  /** Sends what is buffered now; `done` once it has been handed to the socket (before an exit). */
  flush(done?: () => void): void;
  close(): Promise<void>;
}

/**
 * A StatsD client for `statsd.host`, or null when it is off. hot-shots is imported only then: it
 * costs tens of milliseconds to load, on every worker boot. Plain StatsD (no DogStatsD tags or
 * telemetry, even when DD_* variables are set): the labels are in the names.
 */
export async function createStatsd(settings: Settings['statsd'], log: Logger): Promise<StatsdSink | null> {
  if (settings.host === null) return null;
  const target = parseHostPort(settings.host, false);
  if (!target) return null;
  let failures = 0;
  let client: import('hot-shots').StatsD;
  try {
    const { StatsD } = await import('hot-shots');
    client = new StatsD({
      host: target.host,
      port: target.port,
      prefix: '',
      maxBufferSize: PACKET_BYTES,
      bufferFlushInterval: FLUSH_MS,
      // A host name is looked up once a minute, not on every packet.
      cacheDns: ipFamily(target.host) === 0,
      datadog: false,
      includeDataDogTags: false,
      errorHandler: (err: Error) => {
        // A StatsD that is down must not flood the log: said once.
        if (failures++ === 0) log.warn({ host: settings.host, error: err.message }, 'statsd send failed; further failures are not logged');
      },
    });
  } catch (err) {
    // StatsD is a side channel: a client that cannot start costs the metrics, not the server.
    log.error({ host: settings.host, error: (err as Error).message }, 'statsd client failed to start');
    return null;
  }
  return {
    prefix: settings.prefix,
    increment: (name, by = 1) => client.increment(name, by),
    timing: (name, ms) => client.timing(name, ms),
    gauge: (name, value) => client.gauge(name, value),
    flush: (done) => (done ? client.flush(() => done()) : client.flush()),
    // Bounded: a stop must not wait on a socket that never reports back.
    close: () =>
      new Promise((done) => {
        const timer = setTimeout(done, CLOSE_WAIT_MS);
        client.close(() => {
          clearTimeout(timer);
          done();
        });
      }),
  };
}
