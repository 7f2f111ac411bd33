// Workspace port mappings in Docker Compose syntax: "[ip:]hostPort:containerPort[/tcp|udp]",
// or "containerPort" alone, which publishes the same port number on the node.

export interface PortSpec {
  hostIp?: string;
  hostPort: number;
  containerPort: number;
  protocol: 'tcp' | 'udp';
}

const PORT_SYNTAX = 'use "[ip:]hostPort:containerPort[/tcp|udp]", e.g. "127.0.0.1:8080:3000"';
const IPV4 = /^[0-9]{1,3}(\.[0-9]{1,3}){3}$/;

/** Parses "127.0.0.1:8080:3000/tcp". Throws an Error that says what is wrong and how to write it. */
export function parsePortSpec(text: string): PortSpec {
  const fail = (reason: string): never => {
    throw new Error(`${JSON.stringify(text)} is not a valid port mapping: ${reason}`);
  };
  if (typeof text !== 'string' || text.trim() === '') fail(PORT_SYNTAX);

  let rest = text;
  let protocol: 'tcp' | 'udp' = 'tcp';
  const slash = rest.lastIndexOf('/');
  if (slash >= 0) {
    const proto = rest.slice(slash + 1);
    if (proto !== 'tcp' && proto !== 'udp') fail(`protocol "${proto}" is not tcp or udp`);
    protocol = proto as 'tcp' | 'udp';
    rest = rest.slice(0, slash);
  }

  let hostIp: string | undefined;
  if (rest.startsWith('[')) {
    // IPv6 host address: "[::1]:8080:3000".
    const close = rest.indexOf(']:');
    if (close < 0) fail(`IPv6 address must be written "[addr]:hostPort:containerPort"`);
    hostIp = rest.slice(1, close);
    if (!/^[0-9A-Fa-f:.]+$/.test(hostIp)) fail(`"${hostIp}" is not an IPv6 address`);
    rest = rest.slice(close + 2);
  }

  const parts = rest.split(':');
  if (parts.length > 3 || (hostIp !== undefined && parts.length !== 2)) fail(PORT_SYNTAX);
  if (parts.length === 3) {
    hostIp = parts.shift()!;
    if (!IPV4.test(hostIp) || hostIp.split('.').some((octet) => Number(octet) > 255)) {
      fail(`"${hostIp}" is not an IPv4 address (write IPv6 addresses as "[::1]:8080:3000")`);
    }
  }
  const [hostText, containerText] = parts.length === 2 ? parts : [parts[0], parts[0]];
  const hostPort = portNumber(hostText!, 'host port', fail);
  const containerPort = portNumber(containerText!, 'container port', fail);
  return { ...(hostIp !== undefined ? { hostIp } : {}), hostPort, containerPort, protocol };
}

function portNumber(text: string, what: string, fail: (reason: string) => never): number {
  if (!/^[0-9]+$/.test(text)) return fail(`${what} "${text}" is not a number; ${PORT_SYNTAX}`);
  const port = Number(text);
  if (port < 1 || port > 65535) return fail(`${what} ${port} is out of range 1-65535`);
  return port;
}
