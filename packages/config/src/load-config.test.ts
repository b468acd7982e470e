import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inspect } from 'node:util';
import { describe, it } from 'node:test';
import { ConfigError, describeConfig, loadConfig } from './index';

const cwd = '/srv/app';

describe('loadConfig', () => {
  it('defaults to the embedded all-in-one shape on port 8080', () => {
    const config = loadConfig({ env: {}, cwd });
    assert.equal(config.port, 8080);
    assert.equal(config.dataDir, '/srv/app/.tern');
    assert.deepEqual(config.store, { kind: 'sqlite', file: '/srv/app/.tern/tern.db' });
    assert.deepEqual(config.cache, { kind: 'memory', maxEntries: 10_000 });
    assert.deepEqual(config.queue, { kind: 'sqlite', file: '/srv/app/.tern/queue.db' });
    assert.equal(config.rateLimit.kind, 'memory');
    assert.deepEqual(config.services, []);
    assert.equal(config.adminKey, undefined);
  });

  it('switches each adapter to production when its URL is set', () => {
    const config = loadConfig({
      env: {
        DATABASE_URL: 'postgres://tern:pw@db:5432/tern',
        TERN_ADMIN_KEY: 'a'.repeat(32),
        REDIS_URL: 'redis://cache:6379',
        NATS_URL: 'nats://bus:4222',
        TERN_DB_POOL_SIZE: '25',
        DATABASE_REPLICA_URLS: 'postgres://tern:pw@replica1/tern, postgres://tern:pw@replica2/tern',
        TERN_DB_REPLICA_MAX_LAG_MS: '2000',
        TERN_REDIS_KEY_PREFIX: 'app1:',
      },
      cwd,
    });
    assert.deepEqual(config.store, {
      kind: 'postgres',
      url: 'postgres://tern:pw@db:5432/tern',
      poolSize: 25,
      replicas: {
        urls: ['postgres://tern:pw@replica1/tern', 'postgres://tern:pw@replica2/tern'],
        maxLagMs: 2000,
      },
    });
    assert.deepEqual(describeConfig(config).replicas, [
      'postgres://[redacted]@replica1/tern',
      'postgres://[redacted]@replica2/tern',
    ]);
    assert.deepEqual(config.cache, {
      kind: 'redis',
      url: 'redis://cache:6379',
      keyPrefix: 'app1:cache:',
      nearEntries: 1_000,
    });
    assert.deepEqual(config.queue, { kind: 'nats', url: 'nats://bus:4222', stream: 'TERN' });
    assert.deepEqual(config.rateLimit, { kind: 'redis', url: 'redis://cache:6379', keyPrefix: 'app1:rl:' });
  });

  it('reports every bad key at once, with the reason, in one error', () => {
    assert.throws(
      () =>
        loadConfig({
          env: {
            PORT: 'eighty',
            TERN_LOG_LEVEL: 'loud',
            DATABASE_URL: 'mysql://x',
            TERN_BODY_LIMIT: '1',
            TERN_SERVICES: 'auth,Bad Name',
          },
          cwd,
        }),
      (error: unknown) => {
        assert.ok(error instanceof ConfigError);
        assert.deepEqual(error.issues.map((issue) => issue.key).sort(), [
          'DATABASE_URL',
          'PORT',
          'TERN_BODY_LIMIT',
          'TERN_LOG_LEVEL',
          'TERN_SERVICES',
        ]);
        assert.match(error.message, /5 problems/);
        assert.match(error.message, /PORT: must be a whole number between 0 and 65535/);
        assert.match(error.message, /TERN_LOG_LEVEL: must be one of fatal, error/);
        return true;
      },
    );
  });

  it('never echoes a secret value in an error or when printed', () => {
    const env = { TERN_ADMIN_KEY: 'short-secret-value', DATABASE_URL: 'postgres://u:topsecretpw@db/x' };
    assert.throws(
      () => loadConfig({ env, cwd }),
      (error: unknown) => {
        assert.ok(error instanceof ConfigError);
        assert.doesNotMatch(error.message, /short-secret-value/);
        assert.match(error.message, /TERN_ADMIN_KEY: must be 32 to 4096 printable ASCII characters/);
        return true;
      },
    );
    const config = loadConfig({ env: { ...env, TERN_ADMIN_KEY: 'k'.repeat(40) }, cwd });
    const printed = [
      JSON.stringify(config),
      inspect(config, { depth: 10 }),
      String(config.adminKey),
      JSON.stringify(describeConfig(config)),
    ];
    for (const text of printed) assert.doesNotMatch(text, /kkkkkkkk/);
    assert.doesNotMatch(JSON.stringify(describeConfig(config)), /topsecretpw/);
    assert.equal(config.adminKey?.reveal(), 'k'.repeat(40));
  });

  it('redacts user names, passwords, tokens and query strings from printed URLs', () => {
    const config = loadConfig({
      env: {
        DATABASE_URL: 'postgres://db:5432/tern?password=querysecret',
        TERN_ADMIN_KEY: 'a'.repeat(32),
        REDIS_URL: 'redis://userpwsecret@cache:6379',
        NATS_URL: 'nats://tokensecret@bus:4222',
      },
      cwd,
    });
    const printed = JSON.stringify(describeConfig(config));
    assert.doesNotMatch(printed, /querysecret|userpwsecret|tokensecret/);
    assert.match(printed, /postgres:\/\/db:5432\/tern\?\[redacted\]/);
    assert.match(printed, /nats:\/\/\[redacted\]@bus:4222/);
  });

  it('refuses replica URLs that are not PostgreSQL, and replicas without a primary', () => {
    const issues = (env: Record<string, string>) => {
      try {
        loadConfig({ env: { TERN_ADMIN_KEY: 'a'.repeat(32), ...env }, cwd });
        return [];
      } catch (error) {
        assert.ok(error instanceof ConfigError);
        return error.issues.map((issue) => `${issue.key}: ${issue.reason}`);
      }
    };
    assert.deepEqual(
      issues({
        DATABASE_URL: 'postgres://db/x',
        DATABASE_REPLICA_URLS: 'postgres://r1/x,mysql://secret@r2/x',
      }),
      ['DATABASE_REPLICA_URLS: entry 2 must use postgres: or postgresql:'],
    );
    assert.deepEqual(issues({ DATABASE_REPLICA_URLS: 'postgres://r1/x' }), [
      'DATABASE_REPLICA_URLS: needs DATABASE_URL: replicas are of a PostgreSQL primary',
    ]);
  });

  it('requires TERN_ADMIN_KEY on PostgreSQL, where several processes must share one key', () => {
    assert.throws(
      () => loadConfig({ env: { DATABASE_URL: 'postgres://db/tern' }, cwd }),
      /TERN_ADMIN_KEY: required when DATABASE_URL is set/,
    );
  });

  it('refuses an admin key with whitespace or characters no Authorization header can carry', () => {
    for (const key of [`${'k'.repeat(40)}\n`, `${'k'.repeat(20)} ${'k'.repeat(20)}`, `${'k'.repeat(40)}é`]) {
      assert.throws(
        () => loadConfig({ env: { TERN_ADMIN_KEY: key }, cwd }),
        /TERN_ADMIN_KEY: must be 32 to 4096 printable ASCII characters/,
      );
    }
  });

  it('reads a JSON config file, with the environment winning', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tern-config-'));
    const file = join(dir, 'tern.json');
    writeFileSync(file, JSON.stringify({ PORT: 9000, TERN_LOG_LEVEL: 'debug', TERN_SERVICES: ['system'] }));
    const config = loadConfig({ env: { TERN_CONFIG_FILE: file, TERN_LOG_LEVEL: 'warn' }, cwd });
    assert.equal(config.port, 9000);
    assert.equal(config.logLevel, 'warn');
    assert.deepEqual(config.services, ['system']);
  });

  it('reports a missing file, bad JSON and unknown keys in the file', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tern-config-'));
    assert.throws(
      () => loadConfig({ env: { TERN_CONFIG_FILE: join(dir, 'none.json') }, cwd }),
      /file not found/,
    );
    writeFileSync(join(dir, 'bad.json'), '{ nope');
    assert.throws(
      () => loadConfig({ env: { TERN_CONFIG_FILE: join(dir, 'bad.json') }, cwd }),
      /not a readable JSON file/,
    );
    writeFileSync(join(dir, 'unknown.json'), JSON.stringify({ PROT: 1, PORT: { nested: true } }));
    assert.throws(
      () => loadConfig({ env: { TERN_CONFIG_FILE: join(dir, 'unknown.json') }, cwd }),
      (error: unknown) => {
        assert.ok(error instanceof ConfigError);
        assert.deepEqual(error.issues.map((issue) => issue.key).sort(), [
          'TERN_CONFIG_FILE.PORT',
          'TERN_CONFIG_FILE.PROT',
        ]);
        return true;
      },
    );
  });

  it('lets overrides (CLI flags) win over the environment', () => {
    const config = loadConfig({
      env: { PORT: '1234' },
      overrides: { PORT: '0', TERN_SERVICES: 'system' },
      cwd,
    });
    assert.equal(config.port, 0);
    assert.deepEqual(config.services, ['system']);
  });
  it('reads the OpenTelemetry settings, with defaults, and refuses bad ones naming the key', () => {
    assert.deepEqual(loadConfig({ env: {}, cwd }).tracing, {
      endpoint: undefined,
      sampleRatio: 0.1,
      exportDelayMs: 100,
      maxQueueSize: 8_192,
      maxExportBatchSize: 512,
    });
    const config = loadConfig({
      env: {
        OTEL_EXPORTER_OTLP_ENDPOINT: 'http://otel-collector:4318/',
        OTEL_TRACES_SAMPLER_ARG: '0.25',
        OTEL_BSP_SCHEDULE_DELAY: '250',
        OTEL_BSP_MAX_QUEUE_SIZE: '2048',
        OTEL_BSP_MAX_EXPORT_BATCH_SIZE: '256',
      },
      cwd,
    });
    assert.deepEqual(config.tracing, {
      endpoint: 'http://otel-collector:4318',
      sampleRatio: 0.25,
      exportDelayMs: 250,
      maxQueueSize: 2_048,
      maxExportBatchSize: 256,
    });
    assert.equal(loadConfig({ env: { OTEL_TRACES_SAMPLER_ARG: '1' }, cwd }).tracing.sampleRatio, 1);
    assert.equal(loadConfig({ env: { OTEL_TRACES_SAMPLER_ARG: '0' }, cwd }).tracing.sampleRatio, 0);
    for (const [key, value] of [
      ['OTEL_TRACES_SAMPLER_ARG', '1.5'],
      ['OTEL_TRACES_SAMPLER_ARG', '-0.1'],
      ['OTEL_TRACES_SAMPLER_ARG', 'half'],
      ['OTEL_EXPORTER_OTLP_ENDPOINT', 'grpc://collector:4317'],
      ['OTEL_EXPORTER_OTLP_ENDPOINT', 'not a url'],
      ['OTEL_BSP_SCHEDULE_DELAY', '0'],
      ['OTEL_BSP_MAX_QUEUE_SIZE', 'many'],
    ] as const) {
      assert.throws(() => loadConfig({ env: { [key]: value }, cwd }), new RegExp(key), `${key}=${value}`);
    }
  });

  it('reads a log level per service, and refuses malformed pairs naming the key', () => {
    const config = loadConfig({ env: { TERN_LOG_LEVELS: ' auth=debug, jobs=warn ,gateway=silent' }, cwd });
    assert.deepEqual(config.logLevels, { auth: 'debug', jobs: 'warn', gateway: 'silent' });
    assert.deepEqual(loadConfig({ env: {}, cwd }).logLevels, {});
    for (const bad of ['auth', 'auth=loud', 'Auth=debug', 'auth=debug=x', '=debug']) {
      assert.throws(() => loadConfig({ env: { TERN_LOG_LEVELS: bad }, cwd }), /TERN_LOG_LEVELS/, bad);
    }
  });

  it('takes an advertised origin whose port is the one bound ({port}), and refuses a malformed one', () => {
    const advertised = (value: string) =>
      loadConfig({ env: { TERN_ADVERTISE_URL: value }, cwd }).registry.advertiseUrl;
    assert.equal(advertised('http://10.0.0.5:8080/'), 'http://10.0.0.5:8080');
    assert.equal(advertised(' http://10.0.0.5:{port} '), 'http://10.0.0.5:{port}');
    assert.equal(advertised('https://pod.internal:{port}'), 'https://pod.internal:{port}');
    for (const bad of [
      'http://a:{port}x',
      'http://a:{port}/v1',
      'ftp://a:{port}',
      'http://u:p@a:{port}',
      '{port}',
    ]) {
      assert.throws(() => advertised(bad), /TERN_ADVERTISE_URL/, bad);
    }
  });

  it("reads the gateway's instances and routes, and refuses malformed ones naming the key", () => {
    const config = loadConfig({
      env: {
        TERN_GATEWAY_UPSTREAMS:
          ' auth=http://10.0.0.5:8080/, http://10.0.0.6:8080 ; data=https://data.internal; data@v2=http://10.0.0.7:8080',
        TERN_GATEWAY_ROUTES: '[{"prefix": "/v1/data", "service": "data", "methods": ["GET"]}]',
        TERN_GATEWAY_TIMEOUT_MS: '5000',
        TERN_GATEWAY_RETRIES: '1',
      },
      cwd,
    });
    assert.deepEqual(config.gateway, {
      upstreams: {
        auth: ['http://10.0.0.5:8080', 'http://10.0.0.6:8080'],
        data: ['https://data.internal'],
        'data@v2': ['http://10.0.0.7:8080'],
      },
      routes: [{ prefix: '/v1/data', service: 'data', methods: ['GET'] }],
      upstreamTimeoutMs: 5000,
      retries: 1,
      rateLimits: undefined,
      rateLimitFailure: 'local',
      corsOrigins: [],
      apiKeys: [],
      tls: undefined,
    });
    assert.equal(loadConfig({ env: {}, cwd }).gateway.routes, undefined, "undefined: Tern's own routes");
    for (const [key, value] of [
      ['TERN_GATEWAY_UPSTREAMS', 'auth'],
      ['TERN_GATEWAY_UPSTREAMS', 'Auth=http://a:1'],
      ['TERN_GATEWAY_UPSTREAMS', 'auth=ftp://a:1'],
      ['TERN_GATEWAY_UPSTREAMS', 'auth=http://user:secret@a:1'],
      ['TERN_GATEWAY_UPSTREAMS', 'auth=http://a:1/v1'],
      ['TERN_GATEWAY_UPSTREAMS', 'auth='],
      ['TERN_GATEWAY_UPSTREAMS', 'auth@=http://a:1'],
      ['TERN_GATEWAY_UPSTREAMS', 'auth@v|2=http://a:1'],
      ['TERN_GATEWAY_ROUTES', '{"prefix": "/v1"}'],
      ['TERN_GATEWAY_ROUTES', '[]'],
      ['TERN_GATEWAY_ROUTES', '[{"prefix": 1, "service": "data"}]'],
      ['TERN_GATEWAY_ROUTES', 'not json'],
      ['TERN_GATEWAY_RETRIES', '9'],
      ['TERN_GATEWAY_RATE_LIMITS', '[{"name": "x", "by": "planet", "limit": 1, "windowMs": 1000}]'],
      ['TERN_GATEWAY_RATE_LIMITS', '[{"name": "x", "by": "ip", "limit": 0, "windowMs": 1000}]'],
      ['TERN_GATEWAY_RATE_LIMIT_FAILURE', 'open'],
      ['TERN_GATEWAY_TLS_CERT_FILE', '/etc/tls/cert.pem'],
      [
        'TERN_GATEWAY_API_KEYS',
        '[{"name": "k", "sha256": "plaintext-key", "prefixes": ["/v1"], "as": "admin"}]',
      ],
      [
        'TERN_GATEWAY_API_KEYS',
        `[{"name": "k", "sha256": "${'a'.repeat(64)}", "prefixes": [], "as": "admin"}]`,
      ],
      [
        'TERN_GATEWAY_API_KEYS',
        `[{"name": "k", "sha256": "${'a'.repeat(64)}", "prefixes": ["/v1"], "as": "root"}]`,
      ],
    ] as const) {
      assert.throws(
        () => loadConfig({ env: { [key]: value }, cwd }),
        (error: unknown) =>
          error instanceof ConfigError && error.message.includes(key) && !error.message.includes('secret@'),
        `${key}=${value}`,
      );
    }
  });
});
