/**
 * `app: module[:export]` or `module:factory()`, Gunicorn's `module:callable` for Node. The schema's
 * pattern already guarantees the shape; this splits it into the parts the loader needs.
 */
export interface AppSpec {
  /** The module path as written (relative to `chdir`, or a package name). */
  module: string;
  /** The export to use; `default` when none is named. */
  exportName: string;
  /** `module:create()`: call the export (once per worker, may be async) and serve what it returns. */
  factory: boolean;
}

const SPEC = /^(?<module>[^:]+)(?::(?<name>[A-Za-z_$][A-Za-z0-9_$]*)(?<call>\(\))?)?$/;

export function parseAppSpec(text: string): AppSpec {
  const match = SPEC.exec(text);
  if (!match?.groups?.module) throw new Error(`app ${JSON.stringify(text)} is not module[:export] or module:factory()`);
  return { module: match.groups.module, exportName: match.groups.name ?? 'default', factory: match.groups.call !== undefined };
}
