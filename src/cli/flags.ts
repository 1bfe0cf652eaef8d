import { type Command, Option } from 'commander';
import type { Override } from '../config/layers.js';
import { isMap } from '../config/layers.js';
import { allSettings, type Setting } from '../config/schema.js';

const collect = (value: string, previous: string[] | undefined) => [...(previous ?? []), value];

function firstSentence(text = ''): string {
  const end = text.search(/\.(\s|$)/);
  return end > 0 ? text.slice(0, end) : text;
}

function acceptsList(s: Setting): boolean {
  const types = [s.schema, ...(s.schema.anyOf ?? []), ...(s.schema.oneOf ?? [])].map((b) => b.type);
  return types.includes('array') || isMap(s);
}

/**
 * Adds one option per setting that declares `x-cli` in the schema, so flags, their help and the
 * environment variable named in it can never drift from the settings. Returns a reader that turns
 * the parsed options into overrides (the highest-precedence layer).
 */
export function addSettingFlags(command: Command): (opts: Record<string, unknown>) => Override[] {
  const bound: { setting: Setting; option: Option }[] = [];
  for (const setting of allSettings()) {
    const spec = setting.schema['x-cli'];
    if (!spec) continue;
    const fallback = setting.schema.default === undefined ? '' : `; default ${JSON.stringify(setting.schema.default)}`;
    const option = new Option(spec, `${firstSentence(setting.schema.description)} [${setting.name}${fallback}; env ${setting.envVar}]`);
    if (acceptsList(setting)) option.argParser(collect);
    option.helpGroup('Settings (override the config file and TSICORN_* variables):');
    command.addOption(option);
    bound.push({ setting, option });
  }
  return (opts) =>
    bound.flatMap(({ setting, option }) => {
      const value = opts[option.attributeName()];
      if (value === undefined) return [];
      const text = typeof value === 'boolean' ? String(value) : (value as string | string[]);
      return [{ pointer: setting.pointer, text, origin: { kind: 'cli', flag: option.long ?? option.flags } } satisfies Override];
    });
}
