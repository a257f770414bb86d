import { networkInterfaces } from 'node:os';
import { ConfigInvalidError, type ConfigProblem } from '@muai/core';
import { isEngineEnabled, type MuaiConfig } from '@muai/config';

const REMOTE_ENGINES = ['vllm', 'deepspeed'] as const;

/** Hosts that reach this machine: loopback, the wildcard, and every local interface address. */
function localHosts(): Set<string> {
  const hosts = new Set(['localhost', '127.0.0.1', '::1', '0.0.0.0', '::', '[::1]', '[::]']);
  for (const addresses of Object.values(networkInterfaces())) {
    for (const address of addresses ?? []) hosts.add(address.family === 'IPv6' ? `[${address.address}]` : address.address).add(address.address);
  }
  return hosts;
}

/**
 * Problems for every remote engine endpoint that is this server itself (`host`:`port`): such a
 * server would send each request to itself until it times out (the original guide's merged config
 * enables vLLM without endpoints, and vLLM's default port is `muai serve`'s own 8000). Loops
 * through other servers are caught at run time by the `Via` hop check.
 */
export function selfLoopProblems(config: MuaiConfig, host: string, port: number): ConfigProblem[] {
  if (port === 0) return [];
  const local = localHosts();
  const listensEverywhere = host === '0.0.0.0' || host === '::';
  const reachesUs = (hostname: string): boolean => hostname === host || (local.has(hostname) && (listensEverywhere || local.has(host)));
  const problems: ConfigProblem[] = [];
  for (const engine of REMOTE_ENGINES) {
    if (!isEngineEnabled(config, engine)) continue;
    const section = config.optimization[engine];
    const endpoints = section.endpoints.length > 0 ? section.endpoints : [`http://${section.host}:${section.port}`];
    endpoints.forEach((endpoint, index) => {
      const url = new URL(endpoint);
      const endpointPort = Number(url.port || (url.protocol === 'https:' ? 443 : 80));
      if (endpointPort !== port || !reachesUs(url.hostname)) return;
      const key = section.endpoints.length > 0 ? `optimization.${engine}.endpoints.${index}` : `optimization.${engine}.port`;
      problems.push({
        path: key,
        value: section.endpoints.length > 0 ? endpoint : section.port,
        expected: `the address of a running ${engine === 'vllm' ? 'vLLM' : 'DeepSpeed-MII'} server, not this muai serve (${host}:${port}); set ${key} (MUAI_OPT_${engine.toUpperCase()}_ENDPOINTS) or start muai serve on another port (--port)`,
      });
    });
  }
  return problems;
}

/** Refuses to start a server whose remote engine endpoints point at itself. */
export function assertNoSelfLoop(config: MuaiConfig, host: string, port: number): void {
  const problems = selfLoopProblems(config, host, port);
  if (problems.length > 0) throw new ConfigInvalidError(problems);
}
