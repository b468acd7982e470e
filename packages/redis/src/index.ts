export { connectRedis, closeRedis, describeRedisUrl } from './redis-connection';
