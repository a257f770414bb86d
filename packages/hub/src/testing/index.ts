export { startFakeHub, readFolder, commitSha, gitBlobSha1, sha256 } from './fake-hub.js';
export type { FakeHub, FakeRepo, FakeCommit, Faults, RecordedRequest } from './fake-hub.js';
