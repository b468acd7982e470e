export { createGateway, type Gateway, type GatewayOptions } from './gateway';
export { createRouteTable, DEFAULT_ROUTES, validateRoutes, type GatewayRoute } from './route-table';
export { gatewayErrors } from './gateway-errors';
export { DEFAULT_HEALTH_CHECK, type HealthCheckPolicy } from './health-checker';
export {
  DEFAULT_OUTLIER_POLICY,
  pickInstance,
  UpstreamInstance,
  type OutlierPolicy,
} from './upstream-instance';
export {
  API_KEY_HEADER,
  createEdgeAuth,
  type ApiKey,
  type EdgeAuth,
  type EdgeAuthOptions,
  type EdgeIdentity,
} from './edge-auth';
export {
  createEdgeRateLimit,
  DEFAULT_RATE_POLICIES,
  type EdgeRateLimit,
  type EdgeRateLimitOptions,
  type GatewayRatePolicy,
} from './edge-rate-limit';
export { type CorsPolicy } from './edge-headers';
export { VERSION_HEADER } from './gateway';
