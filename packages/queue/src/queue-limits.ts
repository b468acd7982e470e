/** Limits both implementations share, so a deployment behaves the same on a laptop and a fleet. */

/** A republish with the same dedup id within this window is dropped (JetStream duplicate_window). */
export const DEDUP_WINDOW_MS = 2 * 60_000;

/**
 * Messages are kept this long whatever their consumers did (JetStream limits retention), so a
 * group created later still receives everything retained (deliver-all).
 */
export const MESSAGE_RETENTION_MS = 7 * 24 * 60 * 60_000;

export const DEAD_LETTER_RETENTION_MS = 30 * 24 * 60 * 60_000;

export const DEFAULT_DEAD_LETTER_LIMIT = 100;
