import { describe, expect, test } from 'vitest';
import { parseDuration, parseQuantity } from '../../../src/model/quantity.js';
import { parsePortSpec } from '../../../src/model/ports.js';
import serviceSchema from '../../../schemas/service.schema.json' with { type: 'json' };
import workspaceSchema from '../../../schemas/workspace.schema.json' with { type: 'json' };

describe('parseDuration', () => {
  test.each([
    ['500ms', 500],
    ['2s', 2000],
    ['1m', 60_000],
    ['1h30m', 5_400_000],
    ['1.5s', 1500],
    ['0s', 0],
    ['1m30s250ms', 90_250],
  ])('%s → %d ms', (text, ms) => expect(parseDuration(text)).toBe(ms));

  test.each(['', '2', 's', '2 s', '2sec', '-1s', '1d', 'ms', '1.s'])('rejects %j', (text) => {
    expect(() => parseDuration(text)).toThrow(
      `${JSON.stringify(text)} is not a valid duration: use a number and a unit (ms, s, m, h), e.g. "500ms", "2s", "1h30m"`,
    );
  });
});

describe('parseQuantity', () => {
  test.each([
    ['512Mi', 512 * 2 ** 20],
    ['2Gi', 2 * 2 ** 30],
    ['1G', 1e9],
    ['1k', 1000],
    ['1K', 1000],
    ['1.5Gi', 1.5 * 2 ** 30],
    ['4096', 4096],
  ])('%s → %d bytes', (text, bytes) => expect(parseQuantity(text)).toBe(bytes));

  test.each(['', 'Gi', '2GB', '2 Gi', '-1Mi', '1mi'])('rejects %j', (text) => {
    expect(() => parseQuantity(text)).toThrow(`${JSON.stringify(text)} is not a valid quantity`);
  });
});

describe('parsePortSpec', () => {
  test.each([
    ['3000', { hostPort: 3000, containerPort: 3000, protocol: 'tcp' }],
    ['8080:3000', { hostPort: 8080, containerPort: 3000, protocol: 'tcp' }],
    ['127.0.0.1:8080:3000', { hostIp: '127.0.0.1', hostPort: 8080, containerPort: 3000, protocol: 'tcp' }],
    ['5353:53/udp', { hostPort: 5353, containerPort: 53, protocol: 'udp' }],
    ['[::1]:8080:3000/tcp', { hostIp: '::1', hostPort: 8080, containerPort: 3000, protocol: 'tcp' }],
  ])('%s', (text, spec) => expect(parsePortSpec(text)).toEqual(spec));

  test.each([
    ['99999', '"99999" is not a valid port mapping: host port 99999 is out of range 1-65535'],
    ['8080:0', '"8080:0" is not a valid port mapping: container port 0 is out of range 1-65535'],
    [
      'abc:80',
      '"abc:80" is not a valid port mapping: host port "abc" is not a number; use "[ip:]hostPort:containerPort[/tcp|udp]", e.g. "127.0.0.1:8080:3000"',
    ],
    ['80/sctp', '"80/sctp" is not a valid port mapping: protocol "sctp" is not tcp or udp'],
    [
      '300.0.0.1:80:80',
      '"300.0.0.1:80:80" is not a valid port mapping: "300.0.0.1" is not an IPv4 address (write IPv6 addresses as "[::1]:8080:3000")',
    ],
    ['1:2:3:4', '"1:2:3:4" is not a valid port mapping: use "[ip:]hostPort:containerPort[/tcp|udp]", e.g. "127.0.0.1:8080:3000"'],
    ['', '"" is not a valid port mapping: use'],
  ])('rejects %j', (text, message) => expect(() => parsePortSpec(text)).toThrow(message));
});

// The schemas carry the same grammars as regexes (for editors); they must accept the same strings.
describe('schema patterns agree with the parsers', () => {
  const accepts = (pattern: string, text: string) => new RegExp(pattern, 'u').test(text);
  const accepted = (parse: (s: string) => unknown, text: string) => {
    try {
      parse(text);
      return true;
    } catch {
      return false;
    }
  };
  test.each(['500ms', '2s', '1h30m', '1.5s', '0s', '', '2', '2 s', '1d', 'ms', '1.s'])('duration %j', (text) => {
    expect(accepts(serviceSchema.$defs.duration.pattern, text)).toBe(accepted(parseDuration, text));
  });
  test.each(['512Mi', '1G', '1k', '4096', '1.5Gi', '2GB', 'Gi', '1mi', ''])('quantity %j', (text) => {
    expect(accepts(workspaceSchema.$defs.quantity.pattern, text)).toBe(accepted(parseQuantity, text));
  });
  // The port pattern checks syntax only; ranges are checked by parsePortSpec.
  test.each(['3000', '8080:3000', '127.0.0.1:8080:3000', '53:53/udp', '[::1]:80:80', 'abc:80', '80/sctp', '1:2:3:4'])(
    'port %j',
    (text) => {
      expect(accepts(workspaceSchema.$defs.portSpec.pattern, text)).toBe(accepted(parsePortSpec, text));
    },
  );
});
