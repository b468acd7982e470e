import { createLogger, Registry, type Telemetry } from '@tern/telemetry';

/** Telemetry for adapters under test: nothing logged, metrics in a fresh registry to assert on. */
export function quietTelemetry(instance = 'test'): Telemetry {
  return { log: createLogger({ level: 'silent', service: 'test', instance }), metrics: new Registry() };
}
