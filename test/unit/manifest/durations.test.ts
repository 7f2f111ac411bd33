import { describe, expect, test } from 'vitest';
import { validateDocument } from '../../../src/manifest/index.js';

const service = (healthcheck: Record<string, unknown>) => ({
  apiVersion: 'vendetta.dev/v1alpha1',
  kind: 'Service',
  metadata: { name: 'web' },
  spec: { workspace: 'ws', command: 'x', healthcheck: { tcp: { port: 80 }, ...healthcheck } },
});

describe('manifest durations are bounded (at most 24h)', () => {
  test('24h is accepted', () => {
    expect(validateDocument(service({ interval: '24h', timeout: '23h59m60s', startPeriod: '0s' })).issues).toEqual([]);
  });

  test.each(['interval', 'timeout', 'startPeriod'])('%s over 24h is an error naming the field and the bound', (field) => {
    const { issues } = validateDocument(service({ [field]: '1000h' }));
    expect(issues).toEqual([
      {
        path: ['spec', 'healthcheck', field],
        part: 'value',
        message: `Service "web" spec.healthcheck.${field} must be at most 24h, got "1000h"; use a duration up to 24h`,
      },
    ]);
  });

  test('a number too large for a timer is refused too, once', () => {
    const { issues } = validateDocument(service({ interval: `${'9'.repeat(400)}h` }));
    expect(issues).toHaveLength(1);
    expect(issues[0]!.message).toMatch(/^Service "web" spec.healthcheck.interval must be at most 24h, got "9{80}…" \(401 characters\)/);
  });
});
