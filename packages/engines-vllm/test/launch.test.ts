import { describe, expect, it } from 'vitest';
import { closeAfterEach, fakeExecutableDir, freePort } from '@muai/engines-http/testing';
import { createVllmEngine, vllmOptionsFromConfig, vllmServeArgs } from '../src/index.js';

const track = closeAfterEach();

describe('vllm serve launcher', () => {
  it('maps options to vllm serve flags', () => {
    expect(
      vllmServeArgs('Qwen/Qwen2.5-0.5B', {
        host: '0.0.0.0',
        port: 9000,
        tensorParallelSize: 2,
        dtype: 'fp16',
        gpuMemoryUtilization: 0.7,
        maxNumSeqs: 128,
        maxModelLen: 4096,
        enablePrefixCaching: false,
        extraArgs: ['--seed', '1'],
      }),
    ).toEqual([
      'serve', 'Qwen/Qwen2.5-0.5B', '--host', '0.0.0.0', '--port', '9000', '--tensor-parallel-size', '2', '--dtype', 'float16',
      '--gpu-memory-utilization', '0.7', '--max-num-seqs', '128', '--max-model-len', '4096', '--no-enable-prefix-caching', '--seed', '1',
    ]);
    expect(vllmServeArgs('m')).toEqual(['serve', 'm', '--host', '127.0.0.1', '--port', '8000']);
  });

  it('maps the optimization.vllm config section (empty endpoints mean http://host:port)', () => {
    expect(vllmOptionsFromConfig({ endpoints: [], host: 'gpu1', port: 8001, timeout_ms: 1000 })).toEqual({ endpoints: ['http://gpu1:8001'], timeoutMs: 1000 });
    expect(vllmOptionsFromConfig({ launch: true, port: 8002, tensor_parallel_size: 2, dtype: 'bf16', enable_prefix_caching: true }).launch).toEqual({
      host: '127.0.0.1',
      port: 8002,
      tensorParallelSize: 2,
      dtype: 'bf16',
      enablePrefixCaching: true,
    });
  });

  it('without vllm on PATH, load() fails with ENGINE_UNAVAILABLE and the install hint', async () => {
    const vllm = track(createVllmEngine({ launch: { env: { PATH: '' }, port: await freePort() } }));
    await expect(vllm.load({ name: 'm', path: 'org/m' })).rejects.toMatchObject({
      code: 'ENGINE_UNAVAILABLE',
      message: expect.stringMatching(/pip install vllm.*MUAI_OPT_VLLM_ENABLED=false/),
    });
  });

  it('launches `vllm serve` (a fake executable), streams its log, serves requests, and stops it on close()', async () => {
    const bin = fakeExecutableDir('vllm', new URL('./fixtures/fake-vllm.mjs', import.meta.url), 'muai-vllm-');
    const port = await freePort();
    const lines: string[] = [];
    const vllm = track(
      createVllmEngine({
        launch: { port, tensorParallelSize: 1, dtype: 'fp16', env: { ...process.env, PATH: `${bin}:${process.env.PATH}` }, startupTimeoutMs: 20_000 },
        log: (line) => lines.push(line),
      }),
    );
    expect(await vllm.load({ name: 'tiny', path: 'org/tiny' })).toMatchObject({ name: 'tiny', contextLength: 32 });
    expect(lines.some((line) => line.includes('"serve","org/tiny","--host","127.0.0.1","--port"') && line.includes('"--dtype","float16"'))).toBe(true);
    expect((await vllm.generate({ prompt: 'one two' })).text).toBe('two one');
    const server = vllm.launchedServer!;
    await vllm.close();
    expect(server.exited).toBe(true);
    expect(lines).toContain('INFO Shutting down');
  });
});
