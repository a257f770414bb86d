export { DeepSpeedEngine, createDeepSpeedEngine, deepspeedOptionsFromConfig } from './deepspeed-engine.js';
export type { DeepSpeedEngineOptions, DeepSpeedProtocol, DeepSpeedConfigSection } from './deepspeed-engine.js';
export { MiiRestClient, mapMiiFinishReason } from './mii-rest.js';
export type { MiiRestOptions, MiiResponseItem } from './mii-rest.js';
export { miiServeArgs, miiOpenAiServerArgs, MII_SERVE_SCRIPT, DEEPSPEED_INSTALL_HINT } from './launch.js';
export type { DeepSpeedLaunchOptions } from './launch.js';
