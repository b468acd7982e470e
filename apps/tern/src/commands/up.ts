import { spawn, type ChildProcess } from 'node:child_process';
import pg from 'pg';
import type { TernConfig } from '@tern/config';
import { ensureAdminKey } from '@tern/runtime';

export interface UpOptions {
  config: TernConfig;
  env: Record<string, string | undefined>;
  /** The gateway's port; 0 picks a free one. */
  port: number;
  instances: number;
  /** The services to run behind the gateway, each `instances` times. */
  services: readonly string[];
  out: (line: string) => void;
  err: (line: string) => void;
}

export const LOCAL_DEFAULTS = {
  DATABASE_URL: 'postgres://postgres@127.0.0.1:5432/tern',
  REDIS_URL: 'redis://127.0.0.1:6379',
  NATS_URL: 'nats://127.0.0.1:4222',
};

interface Child {
  name: string;
  process: ChildProcess;
  exited: Promise<number | null>;
}

/** Creates the database `DATABASE_URL` names when PostgreSQL answers that it does not exist. */
async function ensureDatabase(url: string): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  try {
    await client.connect();
    await client.end();
    return;
  } catch (error) {
    await client.end().catch(() => undefined);
    if ((error as { code?: string }).code !== '3D000') throw error;
  }
  const target = new URL(url);
  const name = decodeURIComponent(target.pathname.slice(1));
  const maintenance = new URL(url);
  maintenance.pathname = '/postgres';
  const admin = new pg.Client({ connectionString: maintenance.toString() });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE "${name.replaceAll('"', '""')}"`);
  } finally {
    await admin.end();
  }
}

/**
 * `tern up`: the services shape on this machine, in the foreground — the gateway, plus `instances`
 * processes of each service, on PostgreSQL, Redis and NATS (`DATABASE_URL`, `REDIS_URL`,
 * `NATS_URL`, the local defaults when unset). Instances register with the gateway through Redis
 * and verify tokens with the keys the gateway serves from auth. Ctrl-C or SIGTERM stops them all
 * gracefully (instances deregister, then drain); if any process exits on its own, the rest are
 * stopped too and the exit code says so.
 */
export async function upCommand(options: UpOptions): Promise<number> {
  const { config, out, err } = options;
  const urls = {
    DATABASE_URL: options.env.DATABASE_URL ?? LOCAL_DEFAULTS.DATABASE_URL,
    REDIS_URL: options.env.REDIS_URL ?? LOCAL_DEFAULTS.REDIS_URL,
    NATS_URL: options.env.NATS_URL ?? LOCAL_DEFAULTS.NATS_URL,
  };
  try {
    await ensureDatabase(urls.DATABASE_URL);
  } catch (error) {
    err(`tern up: PostgreSQL at DATABASE_URL is not reachable: ${(error as Error).message}`);
    return 1;
  }
  // One admin key for every process: TERN_ADMIN_KEY, else the one kept in the data directory.
  const adminKey = ensureAdminKey(config);
  if (adminKey.generated) {
    err(`Generated an admin key in ${adminKey.file} (\`npx tern admin-key\` prints it again):`);
    err(`  ${adminKey.key.reveal()}`);
  }
  const entry = process.argv[1] ?? 'tern';
  const common: Record<string, string> = {
    ...(Object.fromEntries(Object.entries(options.env).filter(([, v]) => v !== undefined)) as Record<
      string,
      string
    >),
    ...urls,
    TERN_ADMIN_KEY: adminKey.key.reveal(),
    TERN_HOST: '127.0.0.1',
  };
  const children: Child[] = [];
  let stopping = false;

  /** Starts a child; `onLine` sees each line it prints to stdout. */
  const launch = (
    name: string,
    args: string[],
    env: Record<string, string>,
    onLine: (line: string) => void = () => undefined,
  ) => {
    const child = spawn(process.execPath, [entry, ...args], {
      env: { ...common, ...env, TERN_INSTANCE_ID: name },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const prefix = (stream: NodeJS.ReadableStream | null, write: (line: string) => void) => {
      let rest = '';
      stream?.setEncoding('utf8');
      stream?.on('data', (chunk: string) => {
        const lines = (rest + chunk).split('\n');
        rest = lines.pop() ?? '';
        for (const line of lines) {
          if (!line.trim()) continue;
          if (stream === child.stdout) onLine(line);
          write(`[${name}] ${line}`);
        }
      });
    };
    prefix(child.stdout, out);
    prefix(child.stderr, err);
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    children.push({ name, process: child, exited });
    void exited.then((code) => {
      if (!stopping) {
        err(`tern up: ${name} exited (${code}); stopping the rest`);
        void stopAll();
      }
    });
  };

  let resolveDone: (code: number) => void = () => undefined;
  const done = new Promise<number>((resolve) => (resolveDone = resolve));
  async function stopAll(): Promise<void> {
    if (stopping) return;
    stopping = true;
    for (const child of children) if (child.process.exitCode === null) child.process.kill('SIGTERM');
    const codes = await Promise.all(children.map((child) => child.exited));
    resolveDone(codes.every((code) => code === 0) ? 0 : 1);
  }
  process.on('SIGINT', () => void stopAll());
  process.on('SIGTERM', () => void stopAll());

  // The gateway binds its port (a free one for 0) and says where: the services are told.
  const gatewayUrl = await new Promise<string | undefined>((resolve) => {
    launch('gateway', ['start', '--service', 'gateway', '--port', String(options.port)], {}, (line) => {
      const listening = /^Tern gateway is listening on (http:\/\/\S+)/.exec(line);
      if (listening) resolve(listening[1]);
    });
    void (children.at(-1) as Child).exited.then(() => resolve(undefined));
  });
  if (!gatewayUrl || stopping) return done;
  for (const service of options.services) {
    for (let index = 1; index <= options.instances; index++) {
      // Each picks a free port as it binds and registers that: no port picked here and taken by
      // someone else before the child binds it.
      launch(`${service}-${index}`, ['start', '--service', service, '--port', '0'], {
        TERN_ADVERTISE_URL: 'http://127.0.0.1:{port}',
        // Services reach each other's public API through the gateway (auth's mail goes to jobs).
        TERN_API_URL: options.env.TERN_API_URL ?? gatewayUrl,
        // The gateway serves auth's keys (a public route), whichever auth instance answers.
        ...(service === 'auth' ? {} : { TERN_AUTH_JWKS_URL: `${gatewayUrl}/.well-known/jwks.json` }),
      });
    }
  }
  const ready = await waitUntilServed(gatewayUrl, options.services, options.instances, () => stopping);
  if (stopping) return done;
  if (!ready) err('tern up: not every instance is registered and healthy after 60 s; carrying on');
  out(
    `Tern is up: gateway ${gatewayUrl}, ${options.instances} × ${options.services.join(', ')} ` +
      `on ${describe(urls.DATABASE_URL)}, ${describe(urls.REDIS_URL)}, ${describe(urls.NATS_URL)}. Ctrl-C stops it.`,
  );
  out(`Tern gateway is listening on ${gatewayUrl}`);
  const code = await done;
  setTimeout(() => process.exit(code), 50).unref();
  return code;
}

/** Waits until the gateway reports every service with all its instances available. */
async function waitUntilServed(
  gatewayUrl: string,
  services: readonly string[],
  instances: number,
  stopped: () => boolean,
): Promise<boolean> {
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline && !stopped()) {
    try {
      const response = await fetch(`${gatewayUrl}/readyz`, { signal: AbortSignal.timeout(1_000) });
      const body = (await response.json()) as { upstreams?: Record<string, { available: number }> };
      if (services.every((service) => (body.upstreams?.[service]?.available ?? 0) >= instances)) return true;
    } catch {
      // not listening yet
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  return false;
}

/** A URL without its credentials, for printing. */
function describe(url: string): string {
  try {
    const parsed = new URL(url);
    parsed.username = '';
    parsed.password = '';
    return parsed.toString();
  } catch {
    return '(unparsable URL)';
  }
}
