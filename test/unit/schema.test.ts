import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Ajv } from 'ajv';
import { schemaFormats } from '../../src/config/bind-address.js';
import { allSettings, type JsonSchema, serverSchema } from '../../src/config/schema.js';

const schema = serverSchema();

test('the schema is valid draft-07 (the meta-schema check skipped at run time happens here)', () => {
  const ajv = new Ajv({ strict: true, allowUnionTypes: true, validateSchema: true });
  ajv.addVocabulary(['x-cli', 'x-reload', 'x-aliases', 'x-expect', 'x-planned']);
  for (const [name, format] of Object.entries(schemaFormats)) ajv.addFormat(name, format);
  assert.doesNotThrow(() => ajv.compile(schema));
  assert.equal(schema.$schema, 'http://json-schema.org/draft-07/schema#');
});

test('every format the schema names has its function in schemaFormats (the generated validator calls it)', () => {
  // scripts/validator-code.mjs generates a call to schemaFormats[name] for each format in the
  // schema; a name missing there would be a TypeError at the first config with that setting.
  const used = new Set<string>();
  const visit = (node: unknown) => {
    if (!node || typeof node !== 'object') return;
    const { format } = node as JsonSchema;
    if (typeof format === 'string') used.add(format);
    for (const child of Object.values(node)) visit(child);
  };
  visit(schema);
  assert.deepEqual([...used].sort(), Object.keys(schemaFormats).sort());
});

test('every setting has a description, a type, a reload class and a default (or is required)', () => {
  const required = new Set(schema.required);
  for (const s of allSettings()) {
    assert.ok(s.schema.description && s.schema.description.length > 20, `${s.name}: description`);
    assert.ok(s.schema.type || s.schema.oneOf || s.schema.anyOf, `${s.name}: type`);
    assert.ok(['live', 'rotate', 'restart'].includes(s.schema['x-reload'] ?? ''), `${s.name}: x-reload`);
    assert.ok('default' in s.schema || required.has(s.name), `${s.name}: default or required`);
    assert.ok(s.schema.examples?.length, `${s.name}: example`);
    const planned = s.schema['x-planned'];
    assert.ok(planned === undefined || planned === true || (typeof planned === 'string' && planned.length > 20), `${s.name}: x-planned`);
  }
});

test('only `app` is required, and every group is optional with a default', () => {
  assert.deepEqual(schema.required, ['app']);
  for (const [name, s] of Object.entries(schema.properties ?? {})) {
    if (s.type === 'object' && s.properties) assert.deepEqual(s.default, {}, `${name} default`);
  }
});

test('additionalProperties is false on every mapping of settings', () => {
  const visit = (node: JsonSchema, where: string) => {
    if (node.properties) {
      assert.equal(node.additionalProperties, false, `${where} must reject unknown keys`);
      for (const [k, child] of Object.entries(node.properties)) visit(child, where ? `${where}.${k}` : k);
    }
  };
  visit(schema, '');
});

test('the settings of DESIGN.md section 5 are all declared', () => {
  const names = new Set(allSettings().map((s) => s.name));
  for (const n of [
    'app',
    'interface',
    'chdir',
    'env',
    'bind',
    'backlog',
    'workers',
    'worker_class',
    'balance',
    'worker_connections',
    'threads',
    'timeout',
    'graceful_timeout',
    'boot_timeout',
    'max_surge',
    'keepalive',
    'max_requests',
    'max_requests_jitter',
    'max_memory',
    'limit_request_line',
    'limit_request_fields',
    'limit_request_field_size',
    'headers_timeout',
    'request_timeout',
    'tls.certfile',
    'tls.keyfile',
    'tls.ca_certs',
    'tls.cert_reqs',
    'tls.min_version',
    'tls.ciphers',
    'proxy.forwarded_allow_ips',
    'proxy.secure_scheme_headers',
    'proxy.protocol',
    'proxy.allow_ips',
    'log.level',
    'log.format',
    'log.errorlog',
    'log.accesslog',
    'log.access_format',
    'log.capture_output',
    'reload.config',
    'reload.code',
    'reload.extra_files',
    'reload.ignore',
    'hooks',
    'control.socket',
    'metrics.bind',
    'metrics.path',
    'statsd.host',
    'statsd.prefix',
    'pidfile',
    'user',
    'group',
    'umask',
    'proc_name',
  ])
    assert.ok(names.has(n), `missing setting ${n}`);
});

test('flags, environment variables and aliases are unique', () => {
  const seen = new Map<string, string>();
  const claim = (key: string, owner: string) => {
    assert.ok(!seen.has(key), `${key} claimed by ${seen.get(key)} and ${owner}`);
    seen.set(key, owner);
  };
  for (const s of allSettings()) {
    claim(`env:${s.envVar}`, s.name);
    for (const flag of (s.schema['x-cli'] ?? '').match(/--?[a-z][a-z0-9-]*/g) ?? []) claim(`flag:${flag}`, s.name);
    for (const alias of s.schema['x-aliases'] ?? []) claim(`alias:${alias}`, s.name);
  }
});

test('every default and every example is itself valid', async () => {
  const { loadConfig } = await import('../../src/config/load.js');
  const { writeFileSync, mkdtempSync, rmSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const dir = mkdtempSync(`${tmpdir()}/tsicorn-schema-`);
  try {
    for (const s of allSettings()) {
      for (const value of [s.schema.default, ...(s.schema.examples ?? [])]) {
        if (value === undefined) continue;
        const doc: Record<string, unknown> = { app: 'app.js' };
        let node = doc;
        for (const seg of s.path.slice(0, -1)) {
          node[seg] ??= {};
          node = node[seg] as Record<string, unknown>;
        }
        node[s.path[s.path.length - 1] as string] = value;
        if (value !== null && ['tls.certfile', 'tls.keyfile', 'tls.ca_certs', 'tls.cert_reqs'].includes(s.name)) {
          Object.assign(
            doc.tls as object,
            { certfile: 'c.pem', keyfile: 'k.pem', ca_certs: 'ca.pem', cert_reqs: 'optional' },
            { [s.path[1] as string]: value },
          );
        }
        const file = `${dir}/c.json`;
        writeFileSync(file, JSON.stringify(doc));
        const out = loadConfig({ file, env: {} });
        assert.ok(out.ok, `${s.name} = ${JSON.stringify(value)}: ${out.ok ? '' : out.issues.map((i) => i.message).join('; ')}`);
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
