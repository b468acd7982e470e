import type { Logger } from '@tern/telemetry';

/**
 * Resolves to the process's exit code once SIGTERM or SIGINT has stopped it: the first signal
 * runs `stop` (a graceful drain; it resolves to whether it had to force anything), a second one
 * gives up on draining. Installed before the "listening" line: a supervisor may signal the moment
 * it reads it.
 */
export function untilSignal(log: Logger, stop: () => Promise<{ forced: boolean }>): Promise<number> {
  return new Promise<number>((resolve) => {
    let signals = 0;
    const onSignal = (signal: NodeJS.Signals) => {
      signals++;
      if (signals > 1) {
        log.warn({ signal }, 'second signal: exiting without draining');
        resolve(1);
        return;
      }
      log.info({ signal }, 'signal received');
      stop().then(
        ({ forced }) => resolve(forced ? 1 : 0),
        (error: unknown) => {
          log.error({ err: error }, 'shutdown failed');
          resolve(1);
        },
      );
    };
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
  });
}
