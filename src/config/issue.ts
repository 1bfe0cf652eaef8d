import type { ErrorCode } from '../errors.js';

/** Where a value came from: a place in the config file, an environment variable, or a flag. */
export type Origin =
  | { kind: 'file'; file: string; line: number; column: number }
  | { kind: 'env'; name: string }
  | { kind: 'cli'; flag: string }
  | { kind: 'default' };

/** One problem found in a configuration, ready to print as `FILE:LINE:COL: setting: message; hint`. */
export interface ConfigIssue {
  code: ErrorCode;
  severity: 'error' | 'warning';
  origin: Origin;
  /** Dotted setting name (`log.level`), or null for file-level problems (syntax). */
  setting: string | null;
  message: string;
  hint?: string;
}

export function formatOrigin(origin: Origin): string {
  switch (origin.kind) {
    case 'file':
      return `${origin.file}:${origin.line}:${origin.column}`;
    case 'env':
      return `environment ${origin.name}`;
    case 'cli':
      return `command line ${origin.flag}`;
    case 'default':
      return 'default';
  }
}

/** The one-line form check-config prints and reload logs. */
export function formatIssue(issue: ConfigIssue): string {
  const prefix = issue.severity === 'warning' ? 'warning: ' : '';
  const setting = issue.setting ? `${issue.setting}: ` : '';
  const hint = issue.hint ? `; ${issue.hint}` : '';
  return `${formatOrigin(issue.origin)}: ${prefix}${setting}${issue.message}${hint}`;
}

export function compareIssues(a: ConfigIssue, b: ConfigIssue): number {
  const rank = (o: Origin) => (o.kind === 'file' ? [0, o.line, o.column] : [1, 0, 0]);
  const [x, y] = [rank(a.origin), rank(b.origin)];
  for (let i = 0; i < 3; i++) if ((x[i] ?? 0) !== (y[i] ?? 0)) return (x[i] ?? 0) - (y[i] ?? 0);
  return 0;
}
