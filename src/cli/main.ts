// First: the signal handlers (see early-signals.ts for why the import order matters).
import './early-signals.js';
import { Command, CommanderError } from 'commander';
import { ERROR_CODES, TsicornError } from '../errors.js';
import { earlySignals, releaseSignals } from './early-signals.js';
import { addSettingFlags } from './flags.js';

const VERSION = '0.1.0';

/** The config file a command reads: `[FILE]` or `-c FILE`, else ./server.yaml. */
function configFile(positional: string | undefined, opts: { config?: string }): string {
  return positional ?? opts.config ?? 'server.yaml';
}

/** Commands import their modules lazily so that `check-config`, run before every deploy, starts fast. */
function buildProgram(): Command {
  const program = new Command('tsicorn')
    .description('A Gunicorn-class application server for Node.js, driven by one server.yaml.')
    .version(VERSION, '-v, --version')
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride()
    // Only the server keeps the early signal handlers; any other command is stopped by them as usual.
    .hook('preAction', (_program, command) => {
      if (command.name() !== 'serve') releaseSignals();
    });

  const serveCommand = program
    .command('serve', { isDefault: true })
    .description('Serve the app: the master binds the listeners and runs the workers (the default command)')
    .argument('[app]', 'the app, module[:export] or module:factory() (overrides `app` in the config)')
    .option('-c, --config <file>', 'config file (default ./server.yaml when it exists)');
  const serveFlags = addSettingFlags(serveCommand);
  serveCommand.action(async (app: string | undefined, opts) => {
    const { serve } = await import('./commands/serve.js');
    const code = await serve({ config: opts.config, app, flags: serveFlags(opts), signals: earlySignals });
    process.exit(code);
  });

  const check = program
    .command('check-config')
    .description('Validate a config file (exit 0 valid, 1 invalid, 2 unreadable); errors print as FILE:LINE:COL')
    .argument('[file]', 'config file (YAML or JSON)', undefined)
    .option('-c, --config <file>', 'config file (default ./server.yaml)')
    .option('--json', 'print the result as JSON (for CI)', false)
    .option('--app', 'also import the app in a throw-away process and report its interface', false);
  const checkFlags = addSettingFlags(check);
  check.action(async (file: string | undefined, opts) => {
    const { checkConfig } = await import('./commands/check-config.js');
    process.exitCode = await checkConfig({ file: configFile(file, opts), json: opts.json, app: opts.app, flags: checkFlags(opts) });
  });

  const print = program
    .command('print-config')
    .description('Print the fully resolved config: defaults < file < TSICORN_* environment < flags')
    .argument('[file]', 'config file (YAML or JSON)')
    .option('-c, --config <file>', 'config file (default ./server.yaml)')
    .option('--json', 'print JSON instead of YAML', false);
  const printFlags = addSettingFlags(print);
  print.action(async (file: string | undefined, opts) => {
    const { printConfig } = await import('./commands/print-config.js');
    process.exitCode = printConfig({ file: configFile(file, opts), json: opts.json, flags: printFlags(opts) });
  });

  const withConfig = (name: string, description: string) =>
    program
      .command(name)
      .description(description)
      .argument('[file]', 'config file the server runs with (default ./server.yaml)')
      .option('-c, --config <file>', 'config file (default ./server.yaml)');

  const status = withConfig(
    'status',
    "Show the running server (control socket): master, generation, every worker's pid, state, requests, memory, CPU",
  ).option('--json', 'print JSON', false);
  status.option('--wait <seconds>', 'wait until the server is serving with every worker ready (for systemd ExecStartPost=)');
  const statusFlags = addSettingFlags(status);
  status.action(async (file: string | undefined, opts) => {
    const control = await import('./commands/control.js');
    const waitSeconds = opts.wait === undefined ? undefined : Number(opts.wait);
    if (waitSeconds !== undefined && !(waitSeconds > 0))
      throw new TsicornError('TSI_ERR_USAGE', `--wait: expected seconds, got ${opts.wait}`);
    process.exitCode = await control.status({
      file: configFile(file, opts),
      flags: statusFlags(opts),
      json: opts.json,
      ...(waitSeconds === undefined ? {} : { waitSeconds }),
    });
  });

  const scale = program
    .command('scale')
    .description('Change the number of workers: N, +N or -N, until a reload that changes `workers` or a restart (control socket)')
    .argument('<count>', 'N, +N or -N')
    .argument('[file]', 'config file the server runs with (default ./server.yaml)')
    .option('-c, --config <file>', 'config file (default ./server.yaml)')
    // `scale -1` is a count, not a flag: unknown options are left as arguments (and checked as a count).
    .allowUnknownOption();
  const scaleFlags = addSettingFlags(scale);
  scale.action(async (count: string, file: string | undefined, opts) => {
    const control = await import('./commands/control.js');
    process.exitCode = await control.scale({ file: configFile(file, opts), flags: scaleFlags(opts), json: false, count });
  });

  for (const [name, signal, description] of [
    [
      'reload',
      'SIGHUP',
      'Reload: re-read the config and replace every worker with zero downtime; waits for the outcome, exit 1 on failure',
    ],
    ['stop', 'SIGTERM', 'Stop gracefully (in-flight requests finish); waits until the server has exited'],
    ['reopen-logs', 'SIGUSR1', 'Make the master and every worker reopen their log files (for logrotate)'],
  ] as const) {
    const command = withConfig(
      name,
      `${description} (through the control socket; with control.socket null, sends ${signal} to the pid in pidfile and does not wait)`,
    );
    if (name === 'stop') command.option('--quick', 'stop at once, without waiting for in-flight requests (SIGINT)', false);
    const readFlags = addSettingFlags(command);
    command.action(async (file: string | undefined, opts) => {
      const control = await import('./commands/control.js');
      const quick = name === 'stop' && opts.quick === true;
      const request = name === 'stop' ? { command: 'stop' as const, quick } : { command: name };
      process.exitCode = await control.viaSocketOrSignal({
        file: configFile(file, opts),
        flags: readFlags(opts),
        json: false,
        request,
        signal: quick ? 'SIGINT' : signal,
      });
    });
  }

  const upgrade = withConfig(
    'upgrade',
    "Start a new master (new tsicorn or Node binary) on the same sockets; the old one leaves once it is ready (finds the master through the config's pidfile)",
  );
  const upgradeFlags = addSettingFlags(upgrade);
  upgrade.action(async (file: string | undefined, opts) => {
    const { signalMaster } = await import('./commands/signal-master.js');
    process.exitCode = signalMaster({ file: configFile(file, opts), flags: upgradeFlags(opts), signal: 'SIGUSR2', action: 'upgrade' });
  });

  program
    .command('schema')
    .description('Print the JSON Schema of server.yaml (for editors and SchemaStore)')
    .action(async () => {
      const { readFileSync } = await import('node:fs');
      const { SCHEMA_PATH } = await import('../config/schema.js');
      process.stdout.write(readFileSync(SCHEMA_PATH, 'utf8'));
    });

  program
    .command('init')
    .description('Write a commented server.yaml that lists every setting with its default')
    .argument('[file]', 'file to write', 'server.yaml')
    .option('--app <module>', 'the app to serve', 'app.js')
    .option('-f, --force', 'overwrite an existing file', false)
    .action(async (file: string, opts) => {
      const { init } = await import('./commands/init.js');
      process.exitCode = init({ file, app: opts.app, force: opts.force });
    });
  return program;
}

export async function main(argv: string[]): Promise<void> {
  try {
    await buildProgram().parseAsync(argv);
  } catch (err) {
    if (err instanceof CommanderError) {
      // --help and --version end with exit code 0; everything else is a usage error.
      process.exitCode = err.exitCode === 0 ? 0 : ERROR_CODES.TSI_ERR_USAGE.exit;
      return;
    }
    if (err instanceof TsicornError) {
      process.stderr.write(`tsicorn: ${err.message} (${err.code})\n`);
      process.exitCode = err.exitCode;
      return;
    }
    throw err;
  }
}

await main(process.argv);
