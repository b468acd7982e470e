export type { AuthConfig, DataConfig, JobsConfig, TernConfig } from './config';
export {
  loadConfig,
  ConfigError,
  CONFIG_KEYS,
  type ConfigIssue,
  type LoadConfigOptions,
} from './load-config';
export { describeConfig } from './describe-config';
export { Secret, redactUrl } from './secret';
export type { ConfigKey } from './keys';
