import { describe, expect, it } from 'vitest';
import { closeAfterEach, fakeExecutableDir, freePort } from '@muai/engines-http/testing';
import { MII_SERVE_SCRIPT, createDeepSpeedEngine, deepspeedOptionsFromConfig, miiOpenAiServerArgs, miiServeArgs } from '../src/index.js';

const track = closeAfterEach();

describe('DeepSpeed-MII launcher', () => {
  it('maps options to mii.serve kwargs (REST) and to the OpenAI server flags', () => {
    const [flag, script, json] = miiServeArgs('org/m', 'dep', { port: 28080, tensorParallel: 2, replicaNum: 3 });
    expect([flag, script]).toEqual(['-c', MII_SERVE_SCRIPT]);
    expect(JSON.parse(json!)).toEqual({
      model: 'org/m',
      deployment_name: 'dep',
      enable_restful_api: true,
      restful_api_port: 28080,
      tensor_parallel: 2,
      replica_num: 3,
    });
    expect(miiOpenAiServerArgs('org/m', 'dep', { tensorParallel: 2, replicaNum: 2 })).toEqual([
      '-m', 'mii.entrypoints.openai_api_server', '--model', 'org/m', '--deployment-name', 'dep', '--host', '127.0.0.1', '--port', '8000',
      '--tensor-parallel', '2', '--replica-num', '2',
    ]);
  });

  it('maps the optimization.deepspeed config section', () => {
    expect(deepspeedOptionsFromConfig({ deployment_name: 'd', port: 51080 })).toEqual({ protocol: 'mii', deploymentName: 'd', endpoints: ['http://127.0.0.1:51080'] });
    expect(deepspeedOptionsFromConfig({ launch: true, tensor_parallel: 2, replica_num: 2 }).launch).toEqual({ port: 51080, tensorParallel: 2, replicaNum: 2 });
  });

  it('without python on PATH, load() is ENGINE_UNAVAILABLE with the pip install deepspeed-mii hint', async () => {
    const ds = track(createDeepSpeedEngine({ launch: { env: { PATH: '' } } }));
    await expect(ds.load({ name: 'm', path: 'org/m' })).rejects.toMatchObject({
      code: 'ENGINE_UNAVAILABLE',
      message: expect.stringContaining('pip install deepspeed-mii'),
    });
  });

  it('with a python that cannot import mii, load() is ENGINE_UNAVAILABLE with the hint', async () => {
    const bin = fakeExecutableDir('python3', { script: '#!/bin/sh\nexit 1\n' }, 'muai-ds-');
    const ds = track(createDeepSpeedEngine({ launch: { env: { PATH: bin } } }));
    await expect(ds.load({ name: 'm', path: 'org/m' })).rejects.toMatchObject({
      code: 'ENGINE_UNAVAILABLE',
      message: expect.stringMatching(/cannot import the `mii` module.*pip install deepspeed-mii/),
    });
  });

  it('launches mii.serve (a fake python), waits for the gateway, serves requests, and stops it on close()', async () => {
    const bin = fakeExecutableDir('python3', new URL('./fixtures/fake-python.mjs', import.meta.url), 'muai-ds-');
    const port = await freePort();
    const lines: string[] = [];
    const ds = track(
      createDeepSpeedEngine({
        deploymentName: 'tiny',
        launch: { port, tensorParallel: 1, replicaNum: 2, env: { ...process.env, PATH: `${bin}:${process.env.PATH}` }, startupTimeoutMs: 20_000 },
        log: (line) => lines.push(line),
      }),
    );
    await ds.load({ name: 'tiny', path: 'org/tiny' });
    expect(lines.some((line) => line.includes('"deployment_name":"tiny"') && line.includes('"replica_num":2'))).toBe(true);
    expect((await ds.generate({ prompt: 'one two' })).text).toBe('two one');
    const server = ds.launchedServer!;
    await ds.close();
    expect(server.exited).toBe(true);
    expect(lines).toContain('fake terminate_server');
  });
});
