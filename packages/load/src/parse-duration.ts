import { LoadError } from './load-error';

const UNITS: Record<string, number> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000 };

/** `500ms`, `30s`, `2m`, `1h`, `1m30s` → milliseconds. A bare number is seconds. */
export function parseDuration(text: string, what = 'a duration'): number {
  const trimmed = text.trim();
  if (/^\d+(\.\d+)?$/.test(trimmed)) return Number(trimmed) * 1_000;
  const parts = [...trimmed.matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h)/g)];
  if (parts.length === 0 || parts.map((part) => part[0]).join('') !== trimmed) {
    throw new LoadError(`${what} must look like 500ms, 30s, 2m or 1m30s, not "${text.slice(0, 40)}"`);
  }
  return parts.reduce((sum, [, value, unit]) => sum + Number(value) * (UNITS[unit ?? 's'] ?? 0), 0);
}

/** 1234 → `1.2s`, 90_000 → `1m30s`: for progress lines and reports. */
export function formatDuration(ms: number): string {
  if (ms < 1_000) return `${Math.round(ms)}ms`;
  if (ms < 60_000) return `${Math.round(ms / 100) / 10}s`;
  const minutes = Math.floor(ms / 60_000);
  const seconds = Math.round((ms % 60_000) / 1_000);
  return seconds ? `${minutes}m${seconds}s` : `${minutes}m`;
}
