import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { Daemon } from '../daemon.js';
import { loadAgentConfig } from '../config.js';
import { createLogger } from '../log.js';

describe('REST API', () => {
  it('serves exactly the routes the OpenAPI document describes', () => {
    const doc = parse(readFileSync(fileURLToPath(new URL('../../../../packages/api/openapi.yaml', import.meta.url)), 'utf8')) as { paths: Record<string, Record<string, unknown>> };
    const documented = Object.entries(doc.paths)
      .flatMap(([p, ops]) => Object.keys(ops).filter((m) => m !== 'parameters').map((m) => `${m.toUpperCase()} /v1${p}`))
      .sort();
    const daemon = new Daemon(loadAgentConfig({ podCidr: '10.0.0.0/24' }), createLogger('silent' as 'error'));
    expect(daemon.buildApi().routes.sort()).toEqual(documented);
  });
});
