import type { ConfigIssue, Origin } from './issue.js';
import { pointerSegment, settingName } from './position.js';

// ${NAME} or ${NAME:-default}; `$${` writes a literal `${`.
const VARIABLE = /\$(\$?)\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g;
const WHOLE = /^\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}$/;

export interface InterpolationResult {
  value: unknown;
  /** Pointers whose whole value was one variable: their text is coerced to the setting's type. */
  whole: Set<string>;
  issues: ConfigIssue[];
}

/**
 * Replaces `${VAR}` and `${VAR:-default}` in every string value (not in keys), shell style:
 * `:-` applies the default when VAR is unset or empty. A variable that is unset with no
 * default is an error at its position, never a silent empty string.
 */
export function interpolate(value: unknown, env: NodeJS.ProcessEnv, originOf: (pointer: string) => Origin): InterpolationResult {
  const whole = new Set<string>();
  const issues: ConfigIssue[] = [];
  const visit = (v: unknown, pointer: string): unknown => {
    if (typeof v === 'string') return substitute(v, pointer);
    if (Array.isArray(v)) return v.map((item, i) => visit(item, pointer + pointerSegment(i)));
    if (v && typeof v === 'object') {
      const out: Record<string, unknown> = {};
      for (const [k, item] of Object.entries(v)) out[k] = visit(item, pointer + pointerSegment(k));
      return out;
    }
    return v;
  };
  const substitute = (text: string, pointer: string): string => {
    if (!text.includes('${')) return text;
    if (WHOLE.test(text)) whole.add(pointer);
    return text.replace(VARIABLE, (match, escaped: string, name: string, fallback: string | undefined) => {
      if (escaped) return match.slice(1);
      const current = env[name];
      if (current !== undefined && current !== '') return current;
      if (fallback !== undefined) return fallback;
      if (current === '') return '';
      issues.push({
        code: 'TSI_ERR_CONFIG_ENV_VAR',
        severity: 'error',
        origin: originOf(pointer),
        setting: settingName(pointer),
        message: `environment variable ${name} is not set`,
        hint: `set it, or give a default: \${${name}:-value}`,
      });
      return '';
    });
  };
  return { value: visit(value, ''), whole, issues };
}
