export { startHost, type HostOptions, type RunningHost } from './host';
export { ensureAdminKey, readAdminKey, adminKeyFile, type AdminKey } from './admin-key';
export { createHttpApp, type HttpApp, type HttpAppOptions, type Readiness } from './http/create-http-app';
export { createInfrastructure, closeInfrastructure, type Infrastructure } from './infrastructure';
export {
  defineRoute,
  RawJson,
  type Access,
  type HttpMethod,
  type Identity,
  type MessageContext,
  type ProcessInfo,
  type QueueConsumer,
  type RequestContext,
  type Route,
  type RouteInput,
  type RouteSchema,
  type ServiceDefinition,
  type ServiceDeps,
  type ServiceModule,
} from './service';
export { VERSION } from './version';
export { Type, type Static, type TSchema } from '@sinclair/typebox';
