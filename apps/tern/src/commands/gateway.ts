import type { TernConfig } from '@tern/config';
import { createGateway, DEFAULT_ROUTES } from '@tern/gateway';
import { createLogger, createMetricsRegistry } from '@tern/telemetry';

export interface GatewayCommandOptions {
  config: TernConfig;
  out: (line: string) => void;
  err: (line: string) => void;
}

/**
 * `tern start --service gateway`: the API gateway alone in this process, in front of the
 * instances `TERN_GATEWAY_UPSTREAMS` lists. Serves until SIGTERM/SIGINT, then drains.
 */
export async function gatewayCommand({ config, out, err }: GatewayCommandOptions): Promise<number> {
  const upstreams = config.gateway.upstreams;
  if (Object.keys(upstreams).length === 0) {
    err(
      'tern: the gateway needs TERN_GATEWAY_UPSTREAMS, e.g. auth=http://127.0.0.1:8081;data=http://127.0.0.1:8082',
    );
    return 2;
  }
  const log = createLogger({ service: 'gateway', instance: config.instanceId, level: config.logLevel });
  const metrics = createMetricsRegistry({ service: 'gateway', instance: config.instanceId });
  const gateway = createGateway({
    log,
    metrics,
    routes: config.gateway.routes ?? DEFAULT_ROUTES,
    upstreams,
    upstreamTimeoutMs: config.gateway.upstreamTimeoutMs,
    retries: config.gateway.retries,
    bodyLimitBytes: config.bodyLimitBytes,
    clientTimeoutMs: config.requestTimeoutMs,
  });
  const url = await gateway.listen(config.port, config.host);
  const exitCode = new Promise<number>((resolve) => {
    let signals = 0;
    const onSignal = (signal: NodeJS.Signals) => {
      signals++;
      if (signals > 1) {
        log.warn({ signal }, 'second signal: exiting without draining');
        resolve(1);
        return;
      }
      log.info({ signal }, 'signal received; draining');
      gateway.stop(config.shutdownTimeoutMs).then(
        () => {
          log.info('stopped');
          resolve(0);
        },
        (error: unknown) => {
          log.error({ err: error }, 'shutdown failed');
          resolve(1);
        },
      );
    };
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
  });
  log.info({ url, services: Object.keys(upstreams) }, 'gateway listening');
  out(`Tern gateway is listening on ${url} (upstreams: ${Object.keys(upstreams).join(', ')})`);
  const code = await exitCode;
  setTimeout(() => process.exit(code), 50).unref();
  return code;
}
