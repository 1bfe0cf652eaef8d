import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { AggregatorRegistry, collectDefaultMetrics, Registry } from 'prom-client';
import type { Settings } from '../config/settings.js';
import type { Logger } from '../log/logger.js';
import { bindListeners, type Listener } from '../master/listeners.js';
import type { MasterMetrics } from './master-metrics.js';
import { type MetricJSON, perProcess } from './metric-json.js';

/** How often a successor master tries the address its predecessor still holds. */
const RETRY_MS = 250;

export interface MetricsServerOptions {
  settings: Settings['metrics'] & { bind: string };
  metrics: MasterMetrics;
  log: Logger;
  /**
   * Started by USR2: the previous master holds the address until it leaves, so binding is
   * retried in the background instead of failing the upgrade.
   */
  successor: boolean;
}

function json(res: ServerResponse, status: number, body: unknown): void {
  const text = `${JSON.stringify(body)}\n`;
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

/**
 * The master's HTTP listener on `metrics.bind`: the Prometheus endpoint at `metrics.path`
 * (every worker's registry gathered and merged with prom-client's aggregator, plus the master's
 * own), `/-/healthy` and `/-/ready` for load balancers and Kubernetes probes, 404 elsewhere.
 * Requests here are not the app's: they are not counted, access-logged, or sent to a worker.
 * The data comes from MasterMetrics (src/metrics/master-metrics.ts).
 */
export class MetricsServer {
  private readonly server: Server;
  /** The master's own process metrics, labelled `worker="master"`. */
  private readonly registry = new Registry();
  private listener: Listener | null = null;
  private closed = false;
  private retry: NodeJS.Timeout | undefined;

  private constructor(private readonly opts: MetricsServerOptions) {
    collectDefaultMetrics({ register: this.registry, labels: { worker: 'master' } });
    this.server = createServer((req, res) => void this.handle(req, res));
  }

  /** Binds `metrics.bind` (a failure is TSI_ERR_BIND, as for `bind`), or keeps trying in a successor. */
  static async start(opts: MetricsServerOptions): Promise<MetricsServer> {
    const server = new MetricsServer(opts);
    if (opts.successor) server.bindWhenFree(true);
    else await server.bind();
    return server;
  }

  private async bind(): Promise<void> {
    const [listener] = await bindListeners([this.opts.settings.bind]);
    if (!listener) return;
    if (this.closed) {
      listener.close();
      return;
    }
    this.listener = listener;
    await new Promise<void>((resolvePromise) => this.server.listen({ fd: listener.fd }, resolvePromise));
    // Tests and scripts read the address from here when the port was 0, as from "server ready".
    this.opts.log.info({ address: listener.bound, path: this.opts.settings.path }, 'metrics listening');
  }

  private bindWhenFree(first: boolean): void {
    this.bind().catch((err: Error) => {
      if (this.closed) return;
      if (first) this.opts.log.warn({ address: this.opts.settings.bind, error: err.message }, 'metrics address not free yet; retrying');
      this.retry = setTimeout(() => this.bindWhenFree(false), RETRY_MS);
    });
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain' });
      res.end('method not allowed\n');
      return;
    }
    const { metrics } = this.opts;
    if (path === this.opts.settings.path) await this.scrape(res);
    else if (path === '/-/healthy') json(res, 200, { status: 'healthy', state: metrics.readiness().state });
    else if (path === '/-/ready') {
      const r = metrics.readiness();
      json(res, r.ready ? 200 : 503, { status: r.ready ? 'ready' : 'not ready', ready: r.workers, target: r.target, state: r.state });
    } else {
      res.writeHead(404, { 'content-type': 'text/plain' });
      res.end('not found\n');
    }
  }

  private async scrape(res: ServerResponse): Promise<void> {
    try {
      const [gathered, own] = await Promise.all([this.opts.metrics.gather(), this.registry.getMetricsAsJSON()]);
      const all = [...gathered, ...(own as unknown as MetricJSON[]).map(perProcess)];
      const text = await AggregatorRegistry.aggregate([all]).metrics();
      res.writeHead(200, { 'content-type': this.registry.contentType, 'content-length': Buffer.byteLength(text) });
      res.end(text);
    } catch (err) {
      this.opts.log.error({ err }, 'metrics scrape failed');
      if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' });
      res.end('metrics scrape failed\n');
    }
  }

  /** Stops listening; the last scrape in progress finishes. */
  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.retry);
    if (!this.listener) return;
    const listener = this.listener;
    await new Promise<void>((resolvePromise) => {
      this.server.close(() => resolvePromise());
      this.server.closeIdleConnections();
    });
    // The server closed the descriptor: only a unix socket's file is left to remove.
    listener.closedElsewhere();
  }
}
