import { TernError } from '@tern/errors';

/** The gateway's own refusals; each code is listed in docs/errors.md. */
export const gatewayErrors = {
  routeNotFound: () =>
    new TernError({
      code: 'gateway/route-not-found',
      status: 404,
      title: 'Not Found',
      detail: 'No route of the gateway matches this path.',
    }),
  badPath: () =>
    new TernError({
      code: 'gateway/bad-path',
      status: 400,
      title: 'Bad Request',
      detail:
        'The path must be absolute, without empty, "." or ".." segments, encoded slashes or backslashes.',
    }),
  noUpstream: (service: string) =>
    new TernError({
      code: 'gateway/no-healthy-upstream',
      status: 503,
      title: 'Service Unavailable',
      detail: `No instance of ${service} is available right now.`,
      retryable: true,
      details: { service },
      headers: { 'retry-after': '1' },
    }),
  upstreamUnreachable: (service: string) =>
    new TernError({
      code: 'gateway/upstream-unreachable',
      status: 502,
      title: 'Bad Gateway',
      detail: `The instance of ${service} chosen for this request could not be reached or broke off its answer.`,
      // A write may have reached the service before the connection broke: only reads are safe to repeat blindly.
      retryable: false,
      details: { service },
    }),
  upstreamTimeout: (service: string, timeoutMs: number) =>
    new TernError({
      code: 'gateway/upstream-timeout',
      status: 504,
      title: 'Gateway Timeout',
      detail: `${service} did not answer within ${timeoutMs} ms.`,
      details: { service, timeoutMs },
    }),
  invalidWeights: (detail: string) =>
    new TernError({
      code: 'gateway/invalid-weights',
      status: 400,
      title: 'Invalid Weights',
      detail: `${detail} Send {"weights": {"<version>": 0–100, …}}.`,
    }),
  metricsUnavailable: () =>
    new TernError({
      code: 'gateway/metrics-unavailable',
      status: 503,
      title: 'Service Unavailable',
      detail: 'The metrics could not be collected; see the gateway log.',
      retryable: true,
    }),
  shuttingDown: () =>
    new TernError({
      code: 'gateway/shutting-down',
      status: 503,
      title: 'Service Unavailable',
      detail: 'This gateway instance is shutting down; retry on another.',
      retryable: true,
      headers: { 'retry-after': '1', connection: 'close' },
    }),
};
