/**
 * Every error tsicorn reports has a stable code from this one table: the code is what scripts,
 * docs/errors.md and support threads refer to, so a code is never reused or renamed.
 * `exit` is the process exit status when the error ends a command.
 */
export const ERROR_CODES = {
  TSI_ERR_USAGE: { exit: 64, summary: 'The command line is wrong (unknown flag, missing argument).' },
  TSI_ERR_CONFIG_READ: { exit: 2, summary: 'The config file cannot be read (missing, a directory, no permission).' },
  TSI_ERR_CONFIG_SYNTAX: { exit: 1, summary: 'The config file is not valid YAML or JSON.' },
  TSI_ERR_CONFIG_EMPTY: { exit: 1, summary: 'The config file has no settings in it.' },
  TSI_ERR_CONFIG_NOT_MAPPING: { exit: 1, summary: 'The config file holds something other than a mapping of settings.' },
  TSI_ERR_CONFIG_DUPLICATE_KEY: { exit: 1, summary: 'A setting is given twice in the same mapping.' },
  TSI_ERR_CONFIG_UNKNOWN_SETTING: { exit: 1, summary: 'A setting name that tsicorn does not know (often a typo, or another tool’s name).' },
  TSI_ERR_CONFIG_MISSING_SETTING: { exit: 1, summary: 'A required setting (such as `app`) is not given anywhere.' },
  TSI_ERR_CONFIG_INVALID_VALUE: { exit: 1, summary: 'A setting has a value of the wrong type or out of range.' },
  TSI_ERR_CONFIG_CONFLICT: { exit: 1, summary: 'Settings that are valid alone but not together (a TLS certificate without its key).' },
  TSI_ERR_CONFIG_ENV_VAR: {
    exit: 1,
    summary: 'A `${VAR}` in the config names an environment variable that is not set and has no default.',
  },
  TSI_WARN_CONFIG_UNKNOWN_ENV: { exit: 0, summary: 'A TSICORN_* environment variable that names no setting; it is ignored.' },
  TSI_WARN_CONFIG_UNUSED: { exit: 0, summary: 'A setting that has no effect with the other settings given.' },
  TSI_ERR_INIT_EXISTS: { exit: 1, summary: '`tsicorn init` would overwrite an existing file (use --force).' },
  TSI_ERR_BIND: { exit: 1, summary: 'A listener cannot be opened (address in use, privileged port, bad socket path or fd).' },
  TSI_ERR_USER: { exit: 1, summary: 'The `user` or `group` in the config does not exist on this machine.' },
  TSI_ERR_PIDFILE: { exit: 1, summary: 'The pidfile names another running process, or cannot be written.' },
  TSI_ERR_NOT_RUNNING: {
    exit: 1,
    summary:
      'A command for a running server (`status`, `scale`, `reload`, `stop`, `reopen-logs`, `upgrade`) found no server for this config.',
  },
  TSI_ERR_WORKER_BOOT: {
    exit: 3,
    summary: 'At start-up the workers did not become ready (the app crashed while starting or exceeded boot_timeout).',
  },
  TSI_ERR_APP_LOAD: {
    exit: 4,
    summary: 'At start-up the app could not be imported or has no usable interface; its error and stack are logged.',
  },
  TSI_ERR_HOOKS: { exit: 1, summary: 'At start-up the `hooks` module could not be imported; its error is shown.' },
  TSI_ERR_APP_PROBE: { exit: 1, summary: '`check-config --app`: the app could not be imported or has no usable interface.' },
} as const;

export type ErrorCode = keyof typeof ERROR_CODES;

/** An error that ends a command: it carries its stable code and so its exit status. */
export class TsicornError extends Error {
  readonly code: ErrorCode;
  readonly exitCode: number;
  constructor(code: ErrorCode, message: string) {
    super(message);
    this.name = 'TsicornError';
    this.code = code;
    this.exitCode = ERROR_CODES[code].exit;
  }
}
