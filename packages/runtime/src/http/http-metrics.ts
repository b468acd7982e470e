import { gauge, histogram, type Registry } from '@tern/telemetry';

/** Labelled by route template and status, never by raw URL, so cardinality stays bounded. */
export function createHttpMetrics(registry: Registry) {
  return {
    duration: histogram(registry, 'tern_http_request_duration_seconds', 'HTTP request duration.', [
      'method',
      'route',
      'status',
    ]),
    inFlight: gauge(registry, 'tern_http_requests_in_flight', 'HTTP requests being served.', []),
  };
}
