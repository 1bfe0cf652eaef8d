/**
 * deploy/kubernetes and deploy/docker, without a cluster or a Docker daemon: the manifests parse,
 * their server.yaml is valid, and the files agree with each other (probe ports and paths, the
 * grace period against graceful_timeout and preStop, WEB_CONCURRENCY from the CPU limit, the
 * Service's ports, the image's user and health check). The HEALTHCHECK command itself is run
 * against a stand-in for /-/healthy.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { join } from 'node:path';
import { test } from 'node:test';
import { loadAll } from 'js-yaml';
import { loadConfig } from '../../src/config/load.js';
import type { Settings } from '../../src/config/settings.js';
import { ROOT, tempDir } from '../helpers/server.js';

const K8S = join(ROOT, 'deploy', 'kubernetes');
const DOCKER = join(ROOT, 'deploy', 'docker');

// biome-ignore lint/suspicious/noExplicitAny: manifests are walked as plain parsed YAML.
type Doc = any;

const docs: Doc[] = readdirSync(K8S)
  .filter((f) => f.endsWith('.yaml'))
  .sort()
  .flatMap((f) => loadAll(readFileSync(join(K8S, f), 'utf8')) as Doc[]);

function only(kind: string): Doc {
  const found = docs.filter((d) => d?.kind === kind);
  assert.equal(found.length, 1, `one ${kind} in deploy/kubernetes`);
  return found[0];
}

/** Loads a server.yaml text with the function check-config runs, in the environment `env`. */
function settingsOf(text: string, env: NodeJS.ProcessEnv, t: Parameters<typeof tempDir>[0]): Settings {
  const file = join(tempDir(t, {}), 'server.yaml');
  writeFileSync(file, text);
  const outcome = loadConfig({ file, env });
  assert.ok(outcome.ok, outcome.ok ? '' : JSON.stringify(outcome.issues, null, 2));
  return outcome.config.settings;
}

function portOf(address: string): number {
  return Number(address.slice(address.lastIndexOf(':') + 1));
}

test('deploy/kubernetes: every document parses and is a ConfigMap, a Deployment or a Service', () => {
  assert.deepEqual(docs.map((d) => d.kind).sort(), ['ConfigMap', 'Deployment', 'Service']);
  for (const d of docs) {
    assert.equal(typeof d.apiVersion, 'string');
    assert.equal(typeof d.metadata?.name, 'string');
  }
});

test("deploy/kubernetes: the Deployment matches its ConfigMap's server.yaml", (t) => {
  const configMap = only('ConfigMap');
  const deployment = only('Deployment');
  const pod = deployment.spec.template.spec;
  assert.equal(pod.containers.length, 1);
  const container = pod.containers[0];

  // The config is mounted where the container's args point, from this ConfigMap.
  assert.deepEqual(container.args, ['-c', '/etc/tsicorn/server.yaml']);
  const configMount = container.volumeMounts.find((m: Doc) => m.mountPath === '/etc/tsicorn');
  const configVolume = pod.volumes.find((v: Doc) => v.name === configMount.name);
  assert.equal(configVolume.configMap.name, configMap.metadata.name);
  assert.ok('server.yaml' in configMap.data);

  // workers from the CPU limit: WEB_CONCURRENCY is limits.cpu of this container, rounded up.
  const concurrency = container.env.find((e: Doc) => e.name === 'WEB_CONCURRENCY');
  assert.deepEqual(concurrency.valueFrom.resourceFieldRef, { containerName: container.name, resource: 'limits.cpu', divisor: '1' });
  assert.match(configMap.data['server.yaml'], /^workers: \$\{WEB_CONCURRENCY(:-\d+)?\}/m);
  const cpuLimit = Math.ceil(Number(String(container.resources.limits.cpu).replace(/m$/, 'e-3')));
  const settings = settingsOf(configMap.data['server.yaml'], { WEB_CONCURRENCY: String(cpuLimit) }, t);
  assert.equal(settings.workers, cpuLimit);
  for (const kind of ['requests', 'limits']) {
    assert.ok(container.resources[kind].cpu && container.resources[kind].memory, `resources.${kind} has cpu and memory`);
  }

  // Probes on the metrics port: readiness on /-/ready, liveness on /-/healthy.
  const ports = Object.fromEntries(container.ports.map((p: Doc) => [p.name, p.containerPort]));
  assert.ok(settings.metrics.bind, 'metrics.bind is set');
  assert.equal(ports.metrics, portOf(settings.metrics.bind));
  assert.ok(settings.metrics.bind.startsWith('0.0.0.0:'), 'the kubelet probes the pod IP: metrics listen on every interface');
  assert.equal(ports.http, portOf(settings.bind[0] ?? ''));
  assert.deepEqual(container.readinessProbe.httpGet, { path: '/-/ready', port: 'metrics' });
  assert.deepEqual(container.livenessProbe.httpGet, { path: '/-/healthy', port: 'metrics' });

  // Stop: preStop's sleep, then graceful_timeout, fit in the grace period with room to spare.
  const [sleep, seconds] = container.lifecycle.preStop.exec.command;
  assert.equal(sleep, 'sleep');
  const budget = Number(seconds) + settings.graceful_timeout;
  assert.ok(pod.terminationGracePeriodSeconds > budget, `terminationGracePeriodSeconds > preStop sleep + graceful_timeout (${budget})`);

  // A read-only root: the control socket goes to a writable emptyDir.
  assert.equal(container.securityContext.readOnlyRootFilesystem, true);
  const socket = settings.control.socket ?? '';
  const writable = container.volumeMounts.filter((m: Doc) => pod.volumes.find((v: Doc) => v.name === m.name)?.emptyDir !== undefined);
  assert.ok(
    writable.some((m: Doc) => socket.startsWith(`${m.mountPath}/`)),
    `control.socket ${socket} is on an emptyDir`,
  );
  assert.equal(settings.reload.config, false, 'config changes roll the Deployment instead of reloading every pod at once');
  assert.equal(deployment.spec.strategy.rollingUpdate.maxUnavailable, 0);

  // Labels: the Deployment selects its pods, the Service selects them and targets named ports.
  const labels = deployment.spec.template.metadata.labels;
  for (const [k, v] of Object.entries(deployment.spec.selector.matchLabels)) assert.equal(labels[k], v);
  const service = only('Service');
  for (const [k, v] of Object.entries(service.spec.selector)) assert.equal(labels[k], v);
  for (const port of service.spec.ports) assert.ok(port.targetPort in ports, `Service targetPort ${port.targetPort} is a container port`);
});

/** Dockerfile instructions: continuation lines joined, comments dropped. */
function dockerfile(): [string, string][] {
  const text = readFileSync(join(DOCKER, 'Dockerfile'), 'utf8')
    .split('\n')
    .filter((line) => !line.trimStart().startsWith('#'))
    .join('\n')
    .replace(/\\\n/g, ' ');
  return text
    .split('\n')
    .map((line) => line.trim())
    .filter(Boolean)
    .map((line) => {
      const space = line.indexOf(' ');
      return [line.slice(0, space).toUpperCase(), line.slice(space + 1).trim()];
    });
}

function instruction(all: [string, string][], name: string): string[] {
  return all.filter(([n]) => n === name).map(([, v]) => v);
}

test('deploy/docker: node:20-slim, production dependencies, a non-root user, SIGTERM, tsicorn -c /etc/tsicorn/server.yaml', (t) => {
  const all = dockerfile();
  assert.deepEqual(instruction(all, 'FROM'), ['node:20-slim']);
  assert.ok(
    instruction(all, 'RUN').some((r) => r.includes('npm ci --omit=dev')),
    'npm ci --omit=dev',
  );
  assert.deepEqual(instruction(all, 'USER'), ['node']);
  assert.deepEqual(instruction(all, 'STOPSIGNAL'), ['SIGTERM']);
  const entrypoint = JSON.parse(instruction(all, 'ENTRYPOINT')[0] ?? '[]') as string[];
  const cmd = JSON.parse(instruction(all, 'CMD')[0] ?? '[]') as string[];
  assert.deepEqual([...entrypoint, ...cmd], ['/usr/bin/tini', '--', '/app/node_modules/.bin/tsicorn', '-c', '/etc/tsicorn/server.yaml']);
  assert.ok(instruction(all, 'COPY').includes('server.yaml /etc/tsicorn/server.yaml'));

  // The image's server.yaml: valid, metrics on, on the port the HEALTHCHECK asks.
  const settings = settingsOf(readFileSync(join(DOCKER, 'server.yaml'), 'utf8'), {}, t);
  assert.equal(settings.chdir, '/app');
  assert.equal(settings.user, null, 'the image runs as USER node; tsicorn changes no user');
  const health = instruction(all, 'HEALTHCHECK')[0] ?? '';
  assert.match(health, /^--interval=\S+ --timeout=\S+ --start-period=\S+ --retries=\d+ +CMD \[/);
  const probe = JSON.parse(health.slice(health.indexOf('CMD') + 4)) as string[];
  assert.ok(settings.metrics.bind);
  assert.ok(probe.join(' ').includes(`http://127.0.0.1:${portOf(settings.metrics.bind)}/-/healthy`));

  // The Deployment runs the image as the same user.
  assert.equal(only('Deployment').spec.template.spec.securityContext.runAsUser, 1000, '`node` is uid 1000 in node:20-slim');
});

/** Runs the HEALTHCHECK's exec form with its port replaced; resolves with the exit code. */
function runHealthcheck(port: number): Promise<number | null> {
  const health = instruction(dockerfile(), 'HEALTHCHECK')[0] ?? '';
  const [command = '', ...args] = (JSON.parse(health.slice(health.indexOf('CMD') + 4)) as string[]).map((a) =>
    a.replace('127.0.0.1:9100', `127.0.0.1:${port}`),
  );
  assert.equal(command, 'node');
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, args, { stdio: 'ignore', timeout: 10_000 });
    child.once('error', reject);
    child.once('exit', (code) => resolvePromise(code));
  });
}

test('deploy/docker: the HEALTHCHECK command exits 0 on 200 from /-/healthy, 1 otherwise or with nothing listening', {
  timeout: 30_000,
}, async () => {
  let status = 200;
  const paths: string[] = [];
  const stub: Server = createServer((req, res) => {
    paths.push(req.url ?? '');
    res.writeHead(status).end();
  });
  await new Promise<void>((done) => stub.listen(0, '127.0.0.1', done));
  const { port } = stub.address() as { port: number };
  try {
    assert.equal(await runHealthcheck(port), 0);
    status = 503;
    assert.equal(await runHealthcheck(port), 1);
    assert.deepEqual(paths, ['/-/healthy', '/-/healthy']);
  } finally {
    await new Promise((done) => stub.close(done));
  }
  assert.equal(await runHealthcheck(port), 1, 'connection refused');
});
