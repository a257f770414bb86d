export { startStandInOpenAiServer, refusedEndpoint } from './stand-in-openai-server.js';
export type { StandInFault, StandInOpenAiServer, StandInOpenAiServerOptions, RecordedRequest } from './stand-in-openai-server.js';
export { standInGenerate, standInTokens, standInTokenId } from './stand-in-model.js';
export type { StandInGeneration } from './stand-in-model.js';
export { closeAfterEach, disposeAfterEach, fakeExecutableDir, freePort } from './launch-helpers.js';
