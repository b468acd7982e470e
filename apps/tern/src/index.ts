export { runCli, type CliOptions } from './cli';
export { defaultCatalog } from './catalog';
