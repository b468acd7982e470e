import type { TernConfig } from './config';
import { redactUrl } from './secret';

/** A printable view of the configuration: adapters and their targets, passwords redacted. */
export function describeConfig(config: TernConfig): Record<string, unknown> {
  const target = (adapter: { kind: string } & ({ url: string } | { file: string } | object)) =>
    'url' in adapter
      ? `${adapter.kind} ${redactUrl(adapter.url)}`
      : 'file' in adapter
        ? `${adapter.kind} ${adapter.file}`
        : adapter.kind;
  return {
    port: config.port,
    host: config.host,
    dataDir: config.dataDir,
    instanceId: config.instanceId,
    services: config.services.length ? config.services : 'all',
    adminKey: config.adminKey ? 'set' : 'unset',
    store: target(config.store),
    replicas: config.store.kind === 'postgres' ? (config.store.replicas?.urls ?? []).map(redactUrl) : [],
    cache: target(config.cache),
    queue: target(config.queue),
    rateLimit: target(config.rateLimit),
    mail:
      config.mail.kind === 'smtp' ? `smtp ${redactUrl(config.mail.url)}` : `recording ${config.mail.file}`,
    auth: {
      issuer: config.auth.issuer,
      audience: config.auth.audience,
      signingKeys: config.auth.signingKeys ? 'from config' : 'generated, in the store',
      jwksUrl: config.auth.jwksUrl ?? 'unset',
      apple: config.auth.apple.clientIds.length ? 'enabled' : 'disabled',
      google: config.auth.google.clientIds.length ? 'enabled' : 'disabled',
    },
  };
}
