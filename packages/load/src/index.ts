export type {
  Scenario,
  Journey,
  VirtualUser,
  StepRequest,
  StepResponse,
  SetupContext,
  ErrorClass,
} from './scenario';
export { LoadError } from './load-error';
export { parseDuration, formatDuration } from './parse-duration';
export { parseStages, totalDurationMs, valueAt, ArrivalSchedule, type Stage } from './stages';
export {
  parseThreshold,
  checkThreshold,
  checkThresholds,
  type Threshold,
  type ThresholdResult,
} from './thresholds';
export { Recorder, type IntervalPoint, type StepSummary, type LatencySummary } from './recorder';
export { runLoad, type LoadOptions, type LoadResult } from './run-load';
export { generatorWarnings, type GeneratorStats } from './generator-stats';
export { findLimit, type FindLimitOptions, type LimitFinding, type LimitStep } from './find-limit';
export { signalsBetween, saturated, type Signal } from './saturation';
export { MetricsWatcher, readingOf, type Reading } from './metrics-watcher';
export { parsePrometheusText } from './prometheus-text';
export { renderHtml, writeReports, type Report } from './report';
export { checkTarget } from './check-target';
export { httpScenario } from './scenarios/http-scenario';
export { mobileScenario } from './scenarios/mobile-scenario';
