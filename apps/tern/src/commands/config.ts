import { CONFIG_KEYS, ConfigError, describeConfig, loadConfig } from '@tern/config';

export function printConfig(
  env: Record<string, string | undefined>,
  out: (line: string) => void,
  err: (line: string) => void,
): number {
  out('Configuration keys (environment, or a JSON file named by TERN_CONFIG_FILE; the environment wins):\n');
  for (const key of Object.values(CONFIG_KEYS)) {
    const meta = [
      'defaultText' in key ? `default ${key.defaultText}` : 'optional',
      'secret' in key && key.secret ? 'secret' : '',
    ].filter(Boolean);
    out(`  ${key.name.padEnd(26)} ${key.description} (${meta.join(', ')})`);
  }
  try {
    out(`\nCurrent values:\n${JSON.stringify(describeConfig(loadConfig({ env })), null, 2)}`);
    return 0;
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    err(`\n${error.message}`);
    return 78;
  }
}
