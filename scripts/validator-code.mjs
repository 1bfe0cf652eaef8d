// Renders src/config/validator.generated.ts from schemas/server.schema.json (called by scripts/generate.mjs):
// ajv's standalone validation code, i.e. the function ajv.compile() would build, written out at build
// time. check-config runs before every deploy; importing ajv and compiling the schema took 0.2–0.6 s of
// each run, and the generated module needs neither.
import { _, Ajv } from 'ajv';
import standaloneCode from 'ajv/dist/standalone/index.js';

/** The format names the schema uses (`"format": "bind"`, ...). */
function formatNames(node, found = new Set()) {
  if (Array.isArray(node)) for (const item of node) formatNames(item, found);
  else if (node && typeof node === 'object') {
    if (typeof node.format === 'string') found.add(node.format);
    for (const value of Object.values(node)) formatNames(value, found);
  }
  return found;
}

export function renderValidator(schema, header) {
  const ajv = new Ajv({
    // Every error at once, each default filled into the data (validate.ts reads both).
    allErrors: true,
    useDefaults: true,
    strict: true,
    allowUnionTypes: true,
    // The draft-07 meta-schema check is test/unit/schema.test.ts's job.
    validateSchema: false,
    // `formats`: the code reads each format as `schemaFormats[name]`, from our module (imported below).
    code: { source: true, esm: true, lines: true, formats: _`schemaFormats` },
  });
  ajv.addVocabulary(['x-cli', 'x-reload', 'x-aliases', 'x-expect', 'x-planned']);
  // Only the kind of a format (a synchronous function) shapes the code; the functions called at run
  // time are src/config/bind-address.ts's schemaFormats. schema.test.ts checks it has every name used here.
  for (const name of formatNames(schema)) ajv.addFormat(name, () => true);
  let code = standaloneCode(ajv, ajv.compile(schema));

  // ajv writes the runtime helpers it uses (ucs2length for minLength) as require() calls, even in
  // ESM output, where there is no require: import them instead. Anything but a runtime helper would
  // pull ajv's compiler back into start-up, so it stops the generation.
  const imports = new Map();
  code = code.replace(/require\("([^"]+)"\)/g, (_call, specifier) => {
    const helper = /^ajv\/dist\/runtime\/(\w+)$/.exec(specifier)?.[1];
    if (!helper) throw new Error(`the standalone validator requires ${specifier}; only ajv/dist/runtime/* is expected`);
    imports.set(specifier, `ajvRuntime_${helper}`);
    return `ajvRuntime_${helper}`;
  });
  // An ES module is strict anyway, and the directive would no longer be first after the imports.
  if (!code.startsWith('"use strict";\n')) throw new Error('unexpected start of ajv standalone code');
  code = code.slice('"use strict";\n'.length);

  return [
    header.trimEnd(),
    '// ajv standalone validation code (https://ajv.js.org/standalone.html) for the options in scripts/validator-code.mjs;',
    '// machine-written JavaScript, so neither type-checked nor linted (biome.json skips *.generated.ts).',
    '// @ts-nocheck',
    "import { schemaFormats } from './bind-address.js';",
    // A CommonJS module's default import is its module.exports; the code reads `.default` itself.
    ...[...imports].map(([specifier, name]) => `import ${name} from '${specifier}.js';`),
    code,
    '',
  ].join('\n');
}
