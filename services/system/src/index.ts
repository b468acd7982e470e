import type { ServiceDefinition } from '@tern/runtime';
import { createSystemService } from './system-service';

export { createSystemService } from './system-service';
export const systemService: ServiceDefinition = { name: 'system', create: createSystemService };
