import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { AggregatorRegistry } from 'prom-client';
import { CounterLedger } from '../../src/metrics/counter-ledger.js';
import { type MetricJSON, perProcess, validMetrics } from '../../src/metrics/metric-json.js';
import * as names from '../../src/metrics/names.js';
import { RequestRecorder } from '../../src/metrics/request-recorder.js';
import { statsdName } from '../../src/metrics/statsd.js';

function sample(metrics: MetricJSON[], name: string, labels: Record<string, string | number>, metricName = name): number | undefined {
  const family = metrics.find((m) => m.name === name);
  const found = family?.values.find(
    (v) => (v.metricName ?? name) === metricName && Object.entries(labels).every(([k, value]) => v.labels[k] === value),
  );
  return found?.value;
}

const requests = (metrics: MetricJSON[], method = 'GET', status = '2xx') => sample(metrics, 'tsicorn_requests_total', { method, status });

test('the recorder labels by method and status class; unknown methods and odd statuses are "other"', () => {
  const r = new RequestRecorder();
  r.record('GET', 200, 1);
  r.record('GET', 204, 1);
  r.record('POST', 503, 1);
  r.record('PROPFIND', 207, 1);
  r.record(undefined, 200, 1);
  r.record('GET', 499, 1);
  r.record('GET', 999, 1);
  const json = r.toJSON();
  assert.equal(requests(json), 2);
  assert.equal(requests(json, 'POST', '5xx'), 1);
  assert.equal(requests(json, 'other', '2xx'), 2);
  assert.equal(requests(json, 'GET', '4xx'), 1, '499 (client gone) is a 4xx');
  assert.equal(requests(json, 'GET', 'other'), 1);
  assert.equal(r.total, 7);
  assert.equal(json[0]?.values.length, 5, 'cells never used are not exported');
});

test('the histogram is cumulative, with +Inf, sum and count per label set', () => {
  const r = new RequestRecorder();
  for (const ms of [3, 7, 40, 40, 20_000]) r.record('GET', 200, ms);
  const json = r.toJSON();
  const bucket = (le: number | string) =>
    sample(json, 'tsicorn_request_duration_seconds', { le, method: 'GET', status: '2xx' }, 'tsicorn_request_duration_seconds_bucket');
  assert.equal(bucket(0.005), 1);
  assert.equal(bucket(0.01), 2);
  assert.equal(bucket(0.05), 4);
  assert.equal(bucket(10), 4, 'a 20 s request is above every finite bucket');
  assert.equal(bucket('+Inf'), 5);
  const labels = { method: 'GET', status: '2xx' };
  assert.equal(sample(json, 'tsicorn_request_duration_seconds', labels, 'tsicorn_request_duration_seconds_count'), 5);
  const sum = sample(json, 'tsicorn_request_duration_seconds', labels, 'tsicorn_request_duration_seconds_sum') ?? 0;
  assert.ok(Math.abs(sum - 20.09) < 1e-9, `sum ${sum}`);
});

/** A worker's report with `n` GET 2xx requests. */
function report(n: number): MetricJSON[] {
  const r = new RequestRecorder();
  for (let i = 0; i < n; i++) r.record('GET', 200, 1);
  return r.toJSON();
}

test('the ledger sums live workers and keeps what exited workers counted', () => {
  const ledger = new CounterLedger();
  ledger.update(1, report(10));
  ledger.update(2, report(5));
  assert.equal(requests(ledger.toJSON()), 15);
  ledger.exited(1);
  assert.equal(requests(ledger.toJSON()), 15, 'an exit takes nothing away');
  ledger.update(3, report(1));
  assert.equal(requests(ledger.toJSON()), 16);
});

test('reports out of order never lower a total; a report after the exit adds only what is new', () => {
  const ledger = new CounterLedger();
  ledger.update(1, report(10));
  ledger.update(1, report(7));
  assert.equal(requests(ledger.toJSON()), 10, 'an older answer arriving late is ignored');
  ledger.exited(1);
  // Node can emit a child's exit before its last IPC message (the final report) is read.
  ledger.update(1, report(12));
  assert.equal(requests(ledger.toJSON()), 12);
  ledger.update(1, report(12));
  assert.equal(requests(ledger.toJSON()), 12, 'a duplicate final report counts once');
  ledger.exited(1);
  assert.equal(requests(ledger.toJSON()), 12, 'a second exit of the same worker folds nothing twice');
});

test('the ledger keeps only our counters and histograms, with their empty buckets', () => {
  const ledger = new CounterLedger();
  const gauge: MetricJSON = {
    name: 'tsicorn_inflight_requests',
    help: '',
    type: 'gauge',
    aggregator: 'sum',
    values: [{ value: 3, labels: {} }],
  };
  const cpu: MetricJSON = {
    name: 'process_cpu_seconds_total',
    help: '',
    type: 'counter',
    aggregator: 'sum',
    values: [{ value: 1, labels: {} }],
  };
  ledger.update(1, [...report(1), gauge, cpu]);
  const names = ledger.toJSON().map((m) => m.name);
  assert.deepEqual(names, ['tsicorn_requests_total', 'tsicorn_request_duration_seconds']);
  const histogram = ledger.toJSON()[1];
  assert.equal(histogram?.values.length, 14, '11 buckets, +Inf, sum and count, zeros included');
});

test('malformed metrics from the IPC channel are dropped one by one', () => {
  const good = report(1);
  const list: unknown[] = [
    ...good,
    null,
    { name: 'x y', type: 'counter', values: [] },
    { name: 'a', type: 'weird', values: [] },
    { name: 'b', type: 'counter', aggregator: 'nonsense', values: [] },
    { name: 'c', type: 'counter', values: [{ value: '1', labels: {} }] },
    { name: 'd', type: 'gauge', values: [{ value: 1, labels: { a: {} } }] },
  ];
  assert.deepEqual(
    validMetrics(list).map((m) => m.name),
    good.map((m) => m.name),
  );
});

test('workers merge through prom-client: counts summed, process metrics kept apart by worker', async () => {
  const ledger = new CounterLedger();
  ledger.update(1, report(3));
  ledger.update(2, report(4));
  const start = (worker: string, value: number): MetricJSON =>
    perProcess({
      name: 'process_start_time_seconds',
      help: 'h',
      type: 'gauge',
      aggregator: 'omit',
      values: [{ value, labels: { worker } }],
    });
  const text = await AggregatorRegistry.aggregate([[...ledger.toJSON(), start('1', 100), start('2', 200)]]).metrics();
  assert.match(text, /^tsicorn_requests_total\{method="GET",status="2xx"\} 7$/m);
  assert.match(text, /^tsicorn_request_duration_seconds_bucket\{le="\+Inf",method="GET",status="2xx"\} 7$/m);
  assert.match(text, /^process_start_time_seconds\{worker="1"\} 100$/m);
  assert.match(text, /^process_start_time_seconds\{worker="2"\} 200$/m);
});

test('StatsD names: prefix, the Prometheus name without tsicorn_, label values as segments', () => {
  assert.equal(statsdName('tsicorn', 'tsicorn_requests_total', ['GET', '2xx']), 'tsicorn.requests_total.GET.2xx');
  assert.equal(statsdName('', 'tsicorn_workers', ['ready']), 'workers.ready');
  assert.equal(statsdName('app', 'tsicorn_reloads_total', ['a.b:c|d']), 'app.reloads_total.a_b_c_d');
});

test('docs/metrics.md names every metric and every label value', () => {
  const doc = readFileSync(fileURLToPath(new URL('../../../docs/metrics.md', import.meta.url)), 'utf8');
  for (const name of Object.keys(names.HELP)) assert.ok(doc.includes(`\`${name}\``), name);
  const values = [...names.METHODS, ...names.STATUS_CLASSES, ...names.WORKER_STATES, ...names.RESTART_REASONS, ...names.RELOAD_RESULTS];
  for (const value of values) assert.ok(doc.includes(`\`${value}\``), value);
});
