export {
  createThresholdState,
  stepThreshold,
  createEwmaState,
  stepEwma,
  createCusumState,
  stepCusum,
  createMadState,
  stepMad,
  createZscoreState,
  stepZscore,
  createBurnRateState,
  stepBurnRate,
  createDetector,
  PAGE_BURN_WINDOWS,
  TICKET_BURN_WINDOWS,
} from './detectors.js';
export type {
  Direction,
  Verdict,
  ThresholdOptions,
  ThresholdState,
  EwmaOptions,
  EwmaState,
  CusumOptions,
  CusumState,
  MadOptions,
  MadState,
  ZscoreOptions,
  ZscoreState,
  BurnRateWindow,
  BurnRateOptions,
  BurnRateState,
  DetectorSpec,
  DetectorKind,
  Detector,
} from './detectors.js';
export { fingerprintOf, alertJson, alertmanagerWebhookBody, slackMessage, isoTime, ZERO_TIME } from './alert.js';
export type { Alert, AlertState, AlertNotification, AlertJson, PostableAlert, Severity } from './alert.js';
export {
  AlertDispatcher,
  DeliveryError,
  parseRetryAfter,
  createLogTarget,
  createWebhookTarget,
  createAlertmanagerWebhookTarget,
  createSlackTarget,
  createAlertmanagerTarget,
} from './delivery.js';
export type {
  AlertTarget,
  AlertmanagerTarget,
  AlertmanagerTargetOptions,
  AnomalyLogger,
  DeliveryOutcome,
  DispatcherOptions,
  HttpTargetOptions,
} from './delivery.js';
export { SERIES, builtinRules, validateAnomalyConfig, assertValidAnomalyConfig, rulesFromConfig } from './rules.js';
export type { SeriesName, SeriesValues, AnomalyRule, BuiltinRuleOptions, AnomalyRuleConfig, AlertTargetConfig, AnomalyConfigInput } from './rules.js';
export { AnomalyDetector, createAnomalyDetector, createAnomalyDetectorFromConfig, targetsFromConfig } from './anomaly-detector.js';
export type { AnomalyDetectorOptions, TargetTestResult } from './anomaly-detector.js';
export { prometheusRulesYaml, promDuration } from './prometheus-rules.js';
export type { PrometheusRulesOptions } from './prometheus-rules.js';
