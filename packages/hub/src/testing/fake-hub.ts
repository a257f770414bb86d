/**
 * `@muai/hub/testing`: for tests of code that downloads from the Hub (this package's, the CLI's, yours).
 *
 * A stand-in for the Hugging Face Hub on loopback, answering the requests huggingface_hub and
 * @muai/hub make, the way huggingface.co answers them (huggingface_hub's file_download.py and
 * utils/_http.py describe the protocol):
 *   GET  /api/models/{org}/{name}/revision/{rev}    {sha, siblings: [{rfilename}]}
 *   HEAD|GET /{org}/{name}/resolve/{rev}/{path}     regular file: 200, ETag = git blob sha1, X-Repo-Commit
 *                                                   LFS file: 302 to /cdn/<sha256> (absolute URL) with
 *                                                   X-Linked-Etag = sha256, X-Linked-Size, X-Repo-Commit
 *   GET  /cdn/{sha256}                              the bytes; Range -> 206 with Content-Range
 * Errors carry X-Error-Code: RepoNotFound (401 anonymous, 404 with a token), RevisionNotFound (404),
 * EntryNotFound (404), GatedRepo (401 without a token, 403 with a wrong one).
 * Faults for tests: drop the connection after N bytes of a file, serve corrupt bytes, ignore Range.
 */
import { createHash } from 'node:crypto';
import { createServer } from 'node:http';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';

export interface FakeCommit {
  sha: string;
  files: Map<string, Buffer>;
}

export interface FakeRepo {
  id: string;
  /** Branch and tag names -> commit sha. */
  refs: Record<string, string>;
  commits: FakeCommit[];
  /** A gated repository accepts only this Bearer token. */
  gatedToken?: string;
}

export interface RecordedRequest {
  method: string;
  path: string;
  range: string | undefined;
  authorization: string | undefined;
}

export interface Faults {
  /** Repository path -> bytes of a response body to send before destroying the socket, for the next `times` responses. */
  drop: Map<string, { afterBytes: number; times: number }>;
  /** Repository paths whose bytes are served with one byte flipped. */
  corrupt: Set<string>;
}

export interface FakeHub {
  url: string;
  requests: RecordedRequest[];
  faults: Faults;
  addRepo(repo: FakeRepo): void;
  close(): Promise<void>;
}

const isLfs = (path: string): boolean => /\.(onnx|onnx_data|data|bin|safetensors)$/.test(path) || /_data_\d+$/.test(path);

export function gitBlobSha1(content: Buffer): string {
  return createHash('sha1').update(`blob ${content.length}\0`).update(content).digest('hex');
}

export function sha256(content: Buffer): string {
  return createHash('sha256').update(content).digest('hex');
}

/** A commit sha derived from its content, 40 hex digits. */
export function commitSha(label: string): string {
  return createHash('sha1').update(label).digest('hex');
}

/** Every file under `dir` as repository paths -> bytes. */
export function readFolder(dir: string, prefix = ''): Map<string, Buffer> {
  const files = new Map<string, Buffer>();
  for (const name of readdirSync(dir)) {
    const full = join(dir, name);
    const path = prefix === '' ? name : `${prefix}/${name}`;
    if (statSync(full).isDirectory()) for (const [key, value] of readFolder(full, path)) files.set(key, value);
    else files.set(path, readFileSync(full));
  }
  return files;
}

export async function startFakeHub(): Promise<FakeHub> {
  const repos = new Map<string, FakeRepo>();
  const blobs = new Map<string, { path: string; content: Buffer }>();
  const requests: RecordedRequest[] = [];
  const faults: Faults = { drop: new Map(), corrupt: new Set() };

  const fail = (res: ServerResponse, status: number, code: string | undefined, message: string): void => {
    const headers: Record<string, string> = { 'content-type': 'application/json', 'x-error-message': message };
    if (code !== undefined) headers['x-error-code'] = code;
    res.writeHead(status, headers).end(JSON.stringify({ error: message }));
  };

  /** The repository and commit a request may see, or undefined after answering the error. */
  const access = (req: IncomingMessage, res: ServerResponse, id: string, revision: string): { repo: FakeRepo; commit: FakeCommit } | undefined => {
    const repo = repos.get(id);
    const auth = req.headers.authorization;
    if (!repo) {
      // The Hub answers 401 to anonymous callers so as not to reveal private repositories.
      fail(res, auth === undefined ? 401 : 404, 'RepoNotFound', 'Repository not found');
      return undefined;
    }
    if (repo.gatedToken !== undefined && auth !== `Bearer ${repo.gatedToken}`) {
      fail(res, auth === undefined ? 401 : 403, 'GatedRepo', `Access to model ${id} is restricted. You must have access to it and be authenticated to access it. Please log in.`);
      return undefined;
    }
    const sha = repo.refs[revision] ?? (repo.commits.some((c) => c.sha === revision) ? revision : undefined);
    const commit = repo.commits.find((c) => c.sha === sha);
    if (!commit) {
      fail(res, 404, 'RevisionNotFound', `Invalid rev id: ${revision}`);
      return undefined;
    }
    return { repo, commit };
  };

  const serveBytes = (req: IncomingMessage, res: ServerResponse, path: string, original: Buffer, headers: Record<string, string>): void => {
    let content = original;
    if (faults.corrupt.has(path)) {
      content = Buffer.from(original);
      const middle = Math.floor(content.length / 2);
      content[middle] = (content[middle] ?? 0) ^ 0xff;
    }
    const range = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
    let start = 0;
    if (range) {
      start = Number(range[1]);
      if (start >= content.length) {
        res.writeHead(416, { 'content-range': `bytes */${content.length}` }).end();
        return;
      }
      res.writeHead(206, { ...headers, 'accept-ranges': 'bytes', 'content-length': String(content.length - start), 'content-range': `bytes ${start}-${content.length - 1}/${content.length}` });
    } else {
      res.writeHead(200, { ...headers, 'accept-ranges': 'bytes', 'content-length': String(content.length) });
    }
    if (req.method === 'HEAD') {
      res.end();
      return;
    }
    const body = content.subarray(start);
    const drop = faults.drop.get(path);
    if (drop && drop.times > 0) {
      drop.times -= 1;
      const cut = Math.min(drop.afterBytes, body.length - 1);
      res.write(body.subarray(0, cut), () => setTimeout(() => res.socket?.destroy(), 20));
      return;
    }
    res.end(body);
  };

  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const path = decodeURIComponent(url.pathname);
    requests.push({ method: req.method ?? 'GET', path, range: req.headers.range, authorization: req.headers.authorization });

    const api = /^\/api\/models\/([^/]+\/[^/]+)\/revision\/(.+)$/.exec(url.pathname);
    if (api && req.method === 'GET') {
      const found = access(req, res, decodeURIComponent(api[1]!), decodeURIComponent(api[2]!));
      if (!found) return;
      const body = {
        id: found.repo.id,
        modelId: found.repo.id,
        sha: found.commit.sha,
        private: false,
        gated: found.repo.gatedToken !== undefined ? 'manual' : false,
        siblings: [...found.commit.files.keys()].map((rfilename) => ({ rfilename })),
      };
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(body));
      return;
    }

    const resolve = /^\/([^/]+\/[^/]+)\/resolve\/([^/]+)\/(.+)$/.exec(url.pathname);
    if (resolve && (req.method === 'GET' || req.method === 'HEAD')) {
      const found = access(req, res, decodeURIComponent(resolve[1]!), decodeURIComponent(resolve[2]!));
      if (!found) return;
      const file = resolve[3]!.split('/').map(decodeURIComponent).join('/');
      const content = found.commit.files.get(file);
      if (content === undefined) {
        fail(res, 404, 'EntryNotFound', `${file} does not exist on "${resolve[2]}"`);
        return;
      }
      const common = { 'x-repo-commit': found.commit.sha };
      if (isLfs(file)) {
        const oid = sha256(content);
        blobs.set(oid, { path: file, content });
        const address = server.address() as AddressInfo;
        res
          .writeHead(302, {
            ...common,
            location: `http://127.0.0.1:${address.port}/cdn/${oid}?download=${encodeURIComponent(file)}`,
            'x-linked-etag': `"${oid}"`,
            'x-linked-size': String(content.length),
            etag: `"${gitBlobSha1(Buffer.from(`version https://git-lfs.github.com/spec/v1\noid sha256:${oid}\nsize ${content.length}\n`))}"`,
          })
          .end();
        return;
      }
      serveBytes(req, res, file, content, { ...common, etag: `"${gitBlobSha1(content)}"` });
      return;
    }

    const cdn = /^\/cdn\/([0-9a-f]{64})$/.exec(url.pathname);
    if (cdn && (req.method === 'GET' || req.method === 'HEAD')) {
      const blob = blobs.get(cdn[1]!);
      if (!blob) {
        res.writeHead(404).end();
        return;
      }
      serveBytes(req, res, blob.path, blob.content, { etag: `"${cdn[1]}"` });
      return;
    }
    fail(res, 404, undefined, 'Not found');
  });
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    faults,
    addRepo: (repo) => repos.set(repo.id, repo),
    close: () =>
      new Promise<void>((done) => {
        server.closeAllConnections();
        server.close(() => done());
      }),
  };
}
