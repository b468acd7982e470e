import { parseArgs } from 'node:util';
import { ConfigError, loadConfig } from '@tern/config';
import type { ServiceDefinition } from '@tern/runtime';
import { defaultCatalog } from './catalog';
import { printAdminKey } from './commands/admin-key';
import { printConfig } from './commands/config';
import { printMail } from './commands/mail';
import { gatewayCommand } from './commands/gateway';
import { loadCommand } from './commands/load';
import { startCommand } from './commands/start';
import { upCommand } from './commands/up';

export interface CliOptions {
  env?: Record<string, string | undefined>;
  catalog?: readonly ServiceDefinition[];
  out?: (line: string) => void;
  err?: (line: string) => void;
}

const USAGE = `Usage: tern <command> [options]

Commands:
  start [--service <name>]... [--port <n>]   Serve every service (default) or only the named ones.
                                            --port 0 picks a free port and prints it.
                                            --service gateway runs the API gateway alone, in front
                                            of the instances TERN_GATEWAY_UPSTREAMS lists.
  up [--port <n>] [--instances <n>]         The services shape on this machine: the gateway on --port
                                            (8080) and --instances (2) processes of each service, on
                                            DATABASE_URL, REDIS_URL, NATS_URL (local defaults).
  admin-key                                 Print the admin key generated in the data dir.
  config                                    Print the configuration reference and the current values.
  load <scenario> --target <url> [...]     Load-test a running Tern (or any URL) and report what broke
                                            first; \`tern load --help\` for its options.
  mail [--to <address>] [--limit <n>]       Print the mail the embedded transport recorded (sign-up and
                                            reset codes), newest last.
  services                                  List the services this program can host.
  help                                      Show this text.

Configuration comes from the environment (see \`tern config\`).`;

/** Runs one CLI command and resolves to the process exit code. */
export async function runCli(argv: string[], options: CliOptions = {}): Promise<number> {
  const env = options.env ?? process.env;
  const catalog = options.catalog ?? defaultCatalog;
  const out = options.out ?? ((line: string) => process.stdout.write(`${line}\n`));
  const err = options.err ?? ((line: string) => process.stderr.write(`${line}\n`));
  const [command = 'help', ...rest] = argv;
  if (command === 'load') return loadCommand(rest, { env, out, err });

  let parsed: ReturnType<typeof parseFlags>;
  try {
    parsed = parseFlags(rest);
  } catch (error) {
    err(`tern: ${(error as Error).message}\n\n${USAGE}`);
    return 2;
  }

  try {
    switch (command) {
      case 'start': {
        const overrides: { PORT?: string; TERN_SERVICES?: string } = {};
        if (parsed.port !== undefined) overrides.PORT = parsed.port;
        if (parsed.service.length) overrides.TERN_SERVICES = parsed.service.join(',');
        if (parsed.service.includes('gateway')) {
          if (parsed.service.length > 1) {
            err('tern: the gateway runs in a process of its own: --service gateway alone');
            return 2;
          }
          return await gatewayCommand({ config: loadConfig({ env, overrides }), out, err });
        }
        return await startCommand({ config: loadConfig({ env, overrides }), catalog, out, err });
      }
      case 'up': {
        const instances = parsed.instances === undefined ? 2 : Number(parsed.instances);
        const port = parsed.port === undefined ? 8080 : Number(parsed.port);
        if (!Number.isInteger(instances) || instances < 1 || instances > 16) {
          err('tern: --instances must be a whole number from 1 to 16');
          return 2;
        }
        if (!Number.isInteger(port) || port < 0 || port > 65535) {
          err('tern: --port must be a port number (0 picks a free one)');
          return 2;
        }
        // The processes get the URLs; this one only needs the data directory (the admin key).
        const config = loadConfig({
          env: { ...env, DATABASE_URL: undefined, REDIS_URL: undefined, NATS_URL: undefined },
        });
        const services = (
          parsed.service.length ? parsed.service : catalog.filter((d) => !d.onlyWhenNamed).map((d) => d.name)
        ).filter((name) => name !== 'gateway');
        return await upCommand({ config, env, port, instances, services, out, err });
      }
      case 'admin-key':
        return printAdminKey(loadConfig({ env }), out, err);
      case 'config':
        return printConfig(env, out, err);
      case 'mail': {
        const limit = parsed.limit === undefined ? 20 : Number(parsed.limit);
        if (!Number.isInteger(limit) || limit < 1 || limit > 1000) {
          err('tern: --limit must be a whole number from 1 to 1000');
          return 2;
        }
        return await printMail(loadConfig({ env }), { to: parsed.to, limit }, out, err);
      }
      case 'services':
        for (const definition of catalog) out(definition.name);
        out('gateway');
        return 0;
      case 'help':
      case '--help':
      case '-h':
        out(USAGE);
        return 0;
      default:
        err(`tern: unknown command "${command}"\n\n${USAGE}`);
        return 2;
    }
  } catch (error) {
    if (error instanceof ConfigError) {
      err(`tern: ${error.message}`);
      return 78; // EX_CONFIG
    }
    err(`tern: ${(error as Error).message}`);
    return 1;
  }
}

function parseFlags(args: string[]) {
  const { values } = parseArgs({
    args,
    options: {
      service: { type: 'string', multiple: true, short: 's' },
      port: { type: 'string', short: 'p' },
      to: { type: 'string' },
      limit: { type: 'string' },
      instances: { type: 'string', short: 'n' },
    },
    allowPositionals: false,
    strict: true,
  });
  return {
    service: values.service ?? [],
    port: values.port,
    to: values.to,
    limit: values.limit,
    instances: values.instances,
  };
}
