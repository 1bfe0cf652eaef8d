import { type ConfigIssue, formatIssue } from '../config/issue.js';
import type { LoadOutcome } from '../config/load.js';

/** Issues as plain data for `--json` output (CI tools, editors). */
export function issueToJson(issue: ConfigIssue) {
  const { origin } = issue;
  return {
    code: issue.code,
    severity: issue.severity,
    file: origin.kind === 'file' ? origin.file : null,
    line: origin.kind === 'file' ? origin.line : null,
    column: origin.kind === 'file' ? origin.column : null,
    source:
      origin.kind === 'file'
        ? 'file'
        : origin.kind === 'env'
          ? `env:${origin.name}`
          : origin.kind === 'cli'
            ? `flag:${origin.flag}`
            : 'default',
    setting: issue.setting,
    message: issue.message,
    hint: issue.hint ?? null,
  };
}

/** Prints the issues of a failed load to stderr, one `FILE:LINE:COL: ...` line each, then a count. */
export function printIssues(outcome: Extract<LoadOutcome, { ok: false }>, file: string | null): void {
  for (const issue of [...outcome.issues, ...outcome.warnings]) process.stderr.write(`${formatIssue(issue)}\n`);
  const n = outcome.issues.length;
  process.stderr.write(`tsicorn: ${n} error${n === 1 ? '' : 's'}${file ? ` in ${file}` : ''}\n`);
}

export function printWarnings(warnings: ConfigIssue[]): void {
  for (const w of warnings) process.stderr.write(`${formatIssue(w)}\n`);
}
