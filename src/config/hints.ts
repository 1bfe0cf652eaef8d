import { allSettings, type JsonSchema } from './schema.js';

/** Edit distance, to suggest `workers` for `wokers`. */
export function levenshtein(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      row[j] = Math.min((prev[j] ?? 0) + 1, (row[j - 1] ?? 0) + 1, (prev[j - 1] ?? 0) + cost);
    }
    prev = row;
  }
  return prev[b.length] ?? 0;
}

function closest(word: string, candidates: string[]): string | undefined {
  const limit = Math.max(2, Math.floor(word.length / 3));
  let best: string | undefined;
  let bestDistance = limit + 1;
  for (const c of candidates) {
    const d = levenshtein(word.toLowerCase(), c.toLowerCase());
    if (d < bestDistance) [best, bestDistance] = [c, d];
  }
  return best;
}

/**
 * The hint for an unknown key `key` found in the mapping at `parentPath`: a typo of a sibling,
 * another tool's name for one of ours (Gunicorn's `loglevel` is `log.level`), a setting that
 * lives in another group, or a dotted name written flat.
 */
export function unknownKeyHint(key: string, parentPath: string[], parentSchema: JsonSchema | undefined): string | undefined {
  const settings = allSettings();
  const here = parentPath.join('.');
  const siblings = Object.keys(parentSchema?.properties ?? {}).filter((k) => k !== '$schema');
  const fullName = (k: string) => (here ? `${here}.${k}` : k);
  const normalized = key.toLowerCase().replace(/-/g, '_');
  if (key === '<<') return 'YAML merge keys are not supported; write the settings out in full';

  if (siblings.includes(normalized)) return `did you mean \`${fullName(normalized)}\`?`;
  const dotted = settings.find((s) => s.name === (here ? `${here}.${key}` : key) || s.name === key);
  if (dotted && key.includes('.')) {
    const [group, ...rest] = dotted.path;
    return `nest it: \`${group}:\` on one line, then \`  ${rest.join('.')}: ...\` indented below`;
  }
  const alias = settings.find((s) => s.schema['x-aliases']?.includes(normalized));
  if (alias && alias.name !== fullName(normalized)) return `did you mean \`${alias.name}\`? (\`${key}\` is another server's name for it)`;
  const typo = closest(normalized, siblings);
  if (typo) return `did you mean \`${fullName(typo)}\`?`;
  const elsewhere =
    settings.find((s) => s.path[s.path.length - 1] === normalized) ?? settings.find((s) => levenshtein(s.name, normalized) <= 1);
  if (elsewhere) return `did you mean \`${elsewhere.name}\`?`;
  if (siblings.length && siblings.length <= 12) return `known settings here: ${siblings.join(', ')}`;
  return 'run `tsicorn print-config` to see every setting';
}
