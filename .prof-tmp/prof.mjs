var __defProp = Object.defineProperty;
var __getOwnPropNames = Object.getOwnPropertyNames;
var __esm = (fn, res, err) => function __init() {
  if (err) throw err[0];
  try {
    return fn && (res = (0, fn[__getOwnPropNames(fn)[0]])(fn = 0)), res;
  } catch (e) {
    throw err = [e], e;
  }
};
var __export = (target, all) => {
  for (var name in all)
    __defProp(target, name, { get: all[name], enumerable: true });
};

// src/model/types.ts
function resourceId(kind, name) {
  return `${kind.toLowerCase()}/${name}`;
}
var API_VERSION, KINDS, LOCAL_ADDRESS, LOCAL_NODE, IMPLICIT_LOCAL_NODE;
var init_types = __esm({
  "src/model/types.ts"() {
    "use strict";
    API_VERSION = "vendetta.dev/v1alpha1";
    KINDS = ["Node", "Workspace", "Service"];
    LOCAL_ADDRESS = "local";
    LOCAL_NODE = "local";
    IMPLICIT_LOCAL_NODE = {
      apiVersion: API_VERSION,
      kind: "Node",
      metadata: { name: LOCAL_NODE },
      spec: { address: LOCAL_ADDRESS }
    };
  }
});

// src/manifest/defaults.ts
function withDefaults(resource) {
  const r2 = structuredClone(resource);
  switch (r2.kind) {
    case "Node":
      r2.spec.port ??= DEFAULTS.nodePort;
      break;
    case "Workspace":
      r2.spec.node ??= DEFAULTS.workspaceNode;
      r2.spec.state ??= DEFAULTS.workspaceState;
      r2.spec.pull ??= DEFAULTS.workspacePull;
      break;
    case "Service": {
      r2.spec.restart ??= DEFAULTS.serviceRestart;
      const dependsOn = r2.spec.dependsOn;
      if (Array.isArray(dependsOn)) {
        r2.spec.dependsOn = Object.fromEntries(dependsOn.map((name) => [name, { condition: "started" }]));
      } else if (dependsOn) {
        for (const entry of Object.values(r2.spec.dependsOn)) {
          entry.condition ??= "started";
        }
      }
      if (r2.spec.healthcheck) r2.spec.healthcheck = { ...DEFAULTS.healthcheck, ...r2.spec.healthcheck };
      break;
    }
  }
  return r2;
}
var DEFAULTS;
var init_defaults = __esm({
  "src/manifest/defaults.ts"() {
    "use strict";
    init_types();
    DEFAULTS = {
      nodePort: 22,
      workspaceNode: LOCAL_NODE,
      workspaceState: "running",
      workspacePull: "missing",
      serviceRestart: "on-failure",
      healthcheck: { interval: "2s", timeout: "1s", retries: 3, startPeriod: "0s" }
    };
  }
});

// src/manifest/errors.ts
import { isAbsolute, relative } from "node:path";
function formatManifestError(e) {
  return formatManifestErrorFrom(process.cwd(), e);
}
function formatManifestErrorFrom(cwd, e) {
  const where = e.line > 0 ? `${displayPath(e.file, cwd)}:${e.line}:${e.col}` : displayPath(e.file, cwd);
  return `${where}: ${e.message}`;
}
function formatPos(pos, cwd = process.cwd()) {
  return `${displayPath(pos.file, cwd)}:${pos.line}:${pos.col}`;
}
function displayPath(file2, cwd) {
  if (!isAbsolute(file2)) return file2;
  const rel = relative(cwd, file2);
  return rel !== "" && !rel.startsWith("..") && !isAbsolute(rel) ? rel : file2;
}
function errorAt(pos, message) {
  return { file: pos.file, line: pos.line, col: pos.col, message };
}
function sortErrors(errors, fileOrder) {
  const rank = (file2) => {
    const i = fileOrder.indexOf(file2);
    return i < 0 ? fileOrder.length : i;
  };
  return [...errors].sort(
    (a, b) => rank(a.file) - rank(b.file) || a.file.localeCompare(b.file) || a.line - b.line || a.col - b.col
  );
}
var init_errors = __esm({
  "src/manifest/errors.ts"() {
    "use strict";
  }
});

// src/manifest/env.ts
import { readFile } from "node:fs/promises";
import { resolve } from "node:path";
async function resolveEnv(env, ctx) {
  const resolved = {};
  const errors = [];
  for (const [name, value] of Object.entries(env ?? {})) {
    const fail3 = (message) => errors.push(errorAt(ctx.at(["spec", "env", name], "key"), `${ctx.subject} spec.env.${name}: ${message}`));
    if (typeof value === "string") {
      resolved[name] = { value, secret: false };
    } else if ("fromEnv" in value) {
      const found = ctx.environ[value.fromEnv];
      if (found === void 0) fail3(`environment variable ${value.fromEnv} is not set; export it before running vendetta`);
      else resolved[name] = { value: found, secret: true };
    } else {
      const file2 = resolve(ctx.manifestDir, value.fromFile);
      try {
        const content = await readFile(file2, "utf8");
        resolved[name] = { value: content.replace(/\r?\n$/, ""), secret: true };
      } catch (err) {
        const reason = err.code === "ENOENT" ? "it does not exist" : err.message;
        fail3(`cannot read ${JSON.stringify(value.fromFile)} (${file2}): ${reason}; create it or fix the path`);
      }
    }
  }
  return { env: resolved, errors };
}
var init_env = __esm({
  "src/manifest/env.ts"() {
    "use strict";
    init_errors();
  }
});

// src/manifest/locate.ts
import { isMap, isScalar, isSeq } from "yaml";
function locator(doc, lineCounter, file2) {
  const at = (offset) => {
    const { line, col } = lineCounter.linePos(offset);
    return { file: file2, line, col };
  };
  const docStart = at(doc.contents?.range?.[0] ?? doc.range?.[0] ?? 0);
  return (path4, part = "value") => {
    let node = doc.contents;
    let pos = docStart;
    for (const [i, segment] of path4.entries()) {
      const last = i === path4.length - 1;
      if (isMap(node)) {
        const pair = node.items.find((p) => isScalar(p.key) && String(p.key.value) === String(segment));
        if (!pair) return pos;
        const keyPos = rangeStart(pair.key, at);
        if (last && part === "key") return keyPos ?? pos;
        pos = rangeStart(pair.value, at) ?? keyPos ?? pos;
        node = pair.value;
      } else if (isSeq(node)) {
        const item = typeof segment === "number" ? node.items[segment] : node.items.find((it) => isScalar(it) && String(it.value) === segment);
        if (item === void 0) return pos;
        pos = rangeStart(item, at) ?? pos;
        node = item;
      } else {
        return pos;
      }
    }
    return pos;
  };
}
function rangeStart(node, at) {
  const range = node?.range;
  return range ? at(range[0]) : void 0;
}
var init_locate = __esm({
  "src/manifest/locate.ts"() {
    "use strict";
  }
});

// src/manifest/text.ts
function pathText(path4) {
  let out = "";
  for (const segment of path4) {
    if (typeof segment === "number") out += `[${segment}]`;
    else if (/^[A-Za-z_][A-Za-z0-9_-]*$/.test(segment)) out += out === "" ? segment : `.${segment}`;
    else out += `[${JSON.stringify(segment)}]`;
  }
  return out;
}
function describeValue(value) {
  if (value === null || value === void 0) return "an empty value";
  if (typeof value === "string") return JSON.stringify(value);
  if (typeof value === "number") return `the number ${value}`;
  if (typeof value === "boolean") return String(value);
  if (Array.isArray(value)) return "a list";
  return "a map";
}
function closest(word, candidates) {
  let best;
  let bestDistance = Infinity;
  for (const candidate of candidates) {
    const d = editDistance(word.toLowerCase(), candidate.toLowerCase());
    if (d < bestDistance) [best, bestDistance] = [candidate, d];
  }
  const limit = Math.min(2, Math.floor(word.length / 2));
  return best !== void 0 && bestDistance <= Math.max(1, limit) ? best : void 0;
}
function didYouMean(word, candidates) {
  const match = closest(word, candidates);
  return match !== void 0 ? ` (did you mean ${JSON.stringify(match)}?)` : "";
}
function editDistance(a, b) {
  const d = Array.from({ length: a.length + 1 }, (_, i) => [i, ...Array(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) d[0][j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let v = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) v = Math.min(v, d[i - 2][j - 2] + 1);
      d[i][j] = v;
    }
  }
  return d[a.length][b.length];
}
var init_text = __esm({
  "src/manifest/text.ts"() {
    "use strict";
  }
});

// src/manifest/references.ts
function checkReferences(declared, cwd, knownNodes = []) {
  const errors = [];
  const fail3 = (at, path4, message, part = "value") => errors.push(errorAt(at(path4, part), message));
  const first = /* @__PURE__ */ new Map();
  for (const d of declared) {
    const key = `${d.kind}/${d.name}`;
    const earlier = first.get(key);
    if (earlier) {
      const where = formatPos(earlier.at(["metadata", "name"]), cwd);
      fail3(d.at, ["metadata", "name"], `${d.kind} "${d.name}" is already declared at ${where}; names must be unique per kind`);
    } else {
      first.set(key, d);
    }
  }
  const known = (kind) => [...first.values()].filter((d) => d.kind === kind).map((d) => d.name);
  const nodeNames = new Set(known("Node"));
  nodeNames.add(LOCAL_NODE);
  for (const n of knownNodes) nodeNames.add(n.metadata.name);
  const workspaceNames = new Set(known("Workspace"));
  const serviceNames = new Set(known("Service"));
  const desired = { nodes: /* @__PURE__ */ new Map(), workspaces: /* @__PURE__ */ new Map(), services: /* @__PURE__ */ new Map() };
  if (!first.has(`Node/${LOCAL_NODE}`)) desired.nodes.set(LOCAL_NODE, structuredClone(IMPLICIT_LOCAL_NODE));
  for (const n of knownNodes) if (!first.has(`Node/${n.metadata.name}`)) desired.nodes.set(n.metadata.name, n);
  const located = /* @__PURE__ */ new Map();
  for (const { resource, at } of first.values()) {
    if (!resource) continue;
    located.set(`${resource.kind}/${resource.metadata.name}`, at);
    if (resource.kind === "Node") desired.nodes.set(resource.metadata.name, resource);
    if (resource.kind === "Workspace") desired.workspaces.set(resource.metadata.name, resource);
    if (resource.kind === "Service") desired.services.set(resource.metadata.name, resource);
  }
  const unknown = (kind, name, names) => {
    const hint = didYouMean(name, names) || (names.size > 0 ? ` (declared: ${[...names].sort().join(", ")})` : "");
    return `no ${kind} named "${name}"${hint}`;
  };
  for (const ws of desired.workspaces.values()) {
    const at = located.get(`Workspace/${ws.metadata.name}`);
    if (!nodeNames.has(ws.spec.node)) {
      fail3(at, ["spec", "node"], `Workspace "${ws.metadata.name}" spec.node: ${unknown("Node", ws.spec.node, nodeNames)}`);
    }
  }
  const portOwners = /* @__PURE__ */ new Map();
  for (const svc of desired.services.values()) {
    const name = svc.metadata.name;
    const at = located.get(`Service/${name}`);
    if (!workspaceNames.has(svc.spec.workspace)) {
      fail3(at, ["spec", "workspace"], `Service "${name}" spec.workspace: ${unknown("Workspace", svc.spec.workspace, workspaceNames)}`);
    }
    for (const target of Object.keys(svc.spec.dependsOn ?? {})) {
      if (target === name) {
        fail3(at, ["spec", "dependsOn", target], `Service "${name}" spec.dependsOn: a service cannot depend on itself`, "key");
      } else if (!serviceNames.has(target)) {
        fail3(at, ["spec", "dependsOn", target], `Service "${name}" spec.dependsOn: ${unknown("Service", target, serviceNames)}`, "key");
      }
    }
    for (const [index, port] of (svc.spec.ports ?? []).entries()) {
      const key = `${svc.spec.workspace}:${port}`;
      const owner = portOwners.get(key);
      if (owner) {
        const where = formatPos(owner.at(["spec", "ports", owner.index]), cwd);
        fail3(
          at,
          ["spec", "ports", index],
          `Service "${name}" spec.ports[${index}]: port ${port} is already used by Service "${owner.service}" in Workspace "${svc.spec.workspace}" (${where})`
        );
      } else {
        portOwners.set(key, { service: name, at, index });
      }
    }
  }
  for (const cycle of dependencyCycles(desired.services)) {
    const [start, next] = cycle;
    const at = located.get(`Service/${start}`);
    fail3(
      at,
      ["spec", "dependsOn", next],
      `Service "${start}" spec.dependsOn: dependency cycle ${cycle.join(" \u2192 ")}; remove one of these dependencies`,
      "key"
    );
  }
  return { errors, desired };
}
function dependencyCycles(services) {
  const edges = (name) => Object.keys(services.get(name)?.spec.dependsOn ?? {}).filter((t) => t !== name && services.has(t));
  const order = [...services.keys()];
  const index = /* @__PURE__ */ new Map();
  const low = /* @__PURE__ */ new Map();
  const stack = [];
  const onStack = /* @__PURE__ */ new Set();
  const components = [];
  const visit = (v) => {
    index.set(v, index.size);
    low.set(v, index.get(v));
    stack.push(v);
    onStack.add(v);
    for (const w of edges(v)) {
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v), low.get(w)));
      } else if (onStack.has(w)) {
        low.set(v, Math.min(low.get(v), index.get(w)));
      }
    }
    if (low.get(v) === index.get(v)) {
      const component = [];
      let w;
      do {
        w = stack.pop();
        onStack.delete(w);
        component.push(w);
      } while (w !== v);
      if (component.length > 1) components.push(component);
    }
  };
  for (const v of order) if (!index.has(v)) visit(v);
  return components.map((component) => {
    const members = new Set(component);
    const start = order.find((s) => members.has(s));
    return [...shortestPathWithin(start, start, members, edges), start];
  }).sort((a, b) => order.indexOf(a[0]) - order.indexOf(b[0]));
}
function shortestPathWithin(from, to, members, edges) {
  const previous = /* @__PURE__ */ new Map();
  const queue = [from];
  while (queue.length > 0) {
    const v = queue.shift();
    for (const w of edges(v)) {
      if (!members.has(w)) continue;
      if (w === to) {
        const path4 = [v];
        while (path4[0] !== from) path4.unshift(previous.get(path4[0]));
        return path4;
      }
      if (!previous.has(w) && w !== from) {
        previous.set(w, v);
        queue.push(w);
      }
    }
  }
  return [from];
}
var init_references = __esm({
  "src/manifest/references.ts"() {
    "use strict";
    init_types();
    init_errors();
    init_text();
  }
});

// schemas/node.schema.json
var node_schema_default;
var init_node_schema = __esm({
  "schemas/node.schema.json"() {
    node_schema_default = {
      $schema: "https://json-schema.org/draft/2020-12/schema",
      $id: "https://vendetta.dev/schemas/node.schema.json",
      title: "vendetta Node",
      description: 'A machine vendetta manages: reached over SSH, or this machine when address is "local". A Node named "local" with address "local" exists implicitly unless a manifest declares its own.',
      type: "object",
      required: [
        "apiVersion",
        "kind",
        "metadata",
        "spec"
      ],
      additionalProperties: false,
      properties: {
        apiVersion: {
          const: "vendetta.dev/v1alpha1",
          description: 'Manifest format version. Always "vendetta.dev/v1alpha1".'
        },
        kind: {
          const: "Node",
          description: 'Resource kind: "Node".'
        },
        metadata: {
          $ref: "#/$defs/metadata",
          description: "Name and labels of this Node."
        },
        spec: {
          type: "object",
          description: "How to reach the machine and its provider settings.",
          required: [
            "address"
          ],
          additionalProperties: false,
          properties: {
            address: {
              type: "string",
              minLength: 1,
              description: 'Host name or IP address to connect to over SSH, or "local" for this machine (no SSH).'
            },
            port: {
              type: "integer",
              minimum: 1,
              maximum: 65535,
              default: 22,
              description: "SSH port. Default 22."
            },
            user: {
              type: "string",
              minLength: 1,
              description: "SSH user name. Default: your local user name (or the ssh config's User for this host)."
            },
            identityFile: {
              type: "string",
              minLength: 1,
              description: 'Private key file for SSH, e.g. "~/.ssh/id_ed25519". Default: detected from ~/.ssh and the SSH agent.'
            },
            hostKey: {
              $ref: "#/$defs/hostKey",
              description: 'Pinned SSH host key, "ssh-ed25519 AAAA\u2026". Default: verify against ~/.ssh/known_hosts, trusting a new host on first use.'
            },
            providers: {
              type: "object",
              description: "Per-node settings for the workspace providers. Everything here is optional.",
              additionalProperties: false,
              properties: {
                docker: {
                  type: "object",
                  description: "Docker Engine on this node.",
                  additionalProperties: false,
                  properties: {
                    socket: {
                      type: "string",
                      minLength: 1,
                      description: "Docker socket path on the node. Default /var/run/docker.sock."
                    }
                  }
                },
                lxc: {
                  type: "object",
                  description: "LXD or Incus on this node.",
                  additionalProperties: false,
                  properties: {
                    socket: {
                      type: "string",
                      minLength: 1,
                      description: "LXD/Incus unix socket path on the node. Default: detected."
                    },
                    flavor: {
                      enum: [
                        "lxd",
                        "incus"
                      ],
                      description: 'Which daemon to use, "lxd" or "incus". Default: detected.'
                    }
                  }
                },
                qemu: {
                  type: "object",
                  description: "QEMU on this node.",
                  additionalProperties: false,
                  properties: {
                    binary: {
                      type: "string",
                      minLength: 1,
                      description: "QEMU system emulator to run. Default: qemu-system-<node architecture>."
                    },
                    accel: {
                      enum: [
                        "auto",
                        "kvm",
                        "tcg"
                      ],
                      description: 'Acceleration: "kvm", "tcg" (software), or "auto" (KVM when /dev/kvm is usable). Default auto.'
                    }
                  }
                },
                process: {
                  type: "object",
                  description: "Plain host-process workspaces on this node.",
                  additionalProperties: false,
                  properties: {
                    root: {
                      type: "string",
                      minLength: 1,
                      description: "Directory on the node that holds process workspaces. Default ~/.vendetta/workspaces."
                    }
                  }
                }
              }
            }
          }
        }
      },
      $defs: {
        name: {
          type: "string",
          pattern: "^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$",
          description: 'A DNS-1123 label: lowercase letters, digits and "-", starting and ending with a letter or digit, at most 63 characters.'
        },
        metadata: {
          type: "object",
          description: "Identity of a resource.",
          required: [
            "name"
          ],
          additionalProperties: false,
          properties: {
            name: {
              $ref: "#/$defs/name",
              description: 'Name, unique per kind: lowercase letters, digits and "-" (max 63), e.g. "api".'
            },
            labels: {
              type: "object",
              description: "Free-form key/value labels for selecting and grouping resources.",
              additionalProperties: {
                type: "string",
                description: "Label value."
              }
            },
            annotations: {
              type: "object",
              description: "Free-form key/value notes; vendetta does not interpret them.",
              additionalProperties: {
                type: "string",
                description: "Annotation value."
              }
            }
          }
        },
        hostKey: {
          type: "string",
          pattern: "^[a-z0-9-]+(@[a-z0-9.-]+)? [A-Za-z0-9+/=]+$",
          description: 'An SSH public host key: "<type> <base64>", as ssh-keyscan prints it without the host name.'
        }
      }
    };
  }
});

// schemas/workspace.schema.json
var workspace_schema_default;
var init_workspace_schema = __esm({
  "schemas/workspace.schema.json"() {
    workspace_schema_default = {
      $schema: "https://json-schema.org/draft/2020-12/schema",
      $id: "https://vendetta.dev/schemas/workspace.schema.json",
      title: "vendetta Workspace",
      description: "One isolated dev environment on a Node: a Docker container, an LXC/LXD/Incus container, a QEMU VM, or a directory of plain host processes.",
      type: "object",
      required: [
        "apiVersion",
        "kind",
        "metadata",
        "spec"
      ],
      additionalProperties: false,
      properties: {
        apiVersion: {
          const: "vendetta.dev/v1alpha1",
          description: 'Manifest format version. Always "vendetta.dev/v1alpha1".'
        },
        kind: {
          const: "Workspace",
          description: 'Resource kind: "Workspace".'
        },
        metadata: {
          $ref: "#/$defs/metadata",
          description: "Name and labels of this Workspace."
        },
        spec: {
          type: "object",
          description: "What the workspace is, where it runs, and what it contains.",
          required: [
            "provider"
          ],
          additionalProperties: false,
          allOf: [
            {
              if: {
                properties: {
                  provider: {
                    const: "docker"
                  }
                },
                required: [
                  "provider"
                ]
              },
              then: {
                required: [
                  "image"
                ]
              }
            },
            {
              if: {
                properties: {
                  provider: {
                    const: "lxc"
                  }
                },
                required: [
                  "provider"
                ]
              },
              then: {
                required: [
                  "image"
                ]
              }
            },
            {
              if: {
                properties: {
                  provider: {
                    const: "qemu"
                  }
                },
                required: [
                  "provider"
                ]
              },
              then: {
                $ref: "#/$defs/qemuBoot"
              }
            }
          ],
          properties: {
            node: {
              $ref: "#/$defs/name",
              default: "local",
              description: 'Name of the Node to run on. Default "local" (this machine).'
            },
            provider: {
              enum: [
                "process",
                "docker",
                "lxc",
                "qemu"
              ],
              description: 'How the workspace is isolated: "docker" (container), "lxc" (LXD/Incus system container), "qemu" (virtual machine) or "process" (plain processes in a directory on the node).'
            },
            image: {
              type: "string",
              minLength: 1,
              description: 'What to boot. docker: an image reference ("node:22-bookworm"); lxc: an image alias ("alpine/3.20"); qemu: a disk image path on the node. Required for docker and lxc; qemu needs image or vm.kernel; unused by process.'
            },
            pull: {
              enum: [
                "never",
                "missing",
                "always"
              ],
              default: "missing",
              description: 'When to pull the image: "missing" (only if not on the node), "always", or "never". Default missing.'
            },
            resources: {
              type: "object",
              description: "Limits for the workspace. Omitted limits are unlimited (or the provider's default).",
              additionalProperties: false,
              properties: {
                cpus: {
                  type: "number",
                  exclusiveMinimum: 0,
                  description: "CPU limit in cores, e.g. 2 or 0.5."
                },
                memory: {
                  $ref: "#/$defs/quantity",
                  description: 'Memory limit, e.g. "512Mi", "2Gi".'
                },
                disk: {
                  $ref: "#/$defs/quantity",
                  description: 'Disk size (lxc, qemu), e.g. "20Gi".'
                }
              }
            },
            source: {
              $ref: "#/$defs/source",
              description: "Code to put in the workspace at /workspace: a local directory (uploaded) or a git repository (cloned on the node)."
            },
            env: {
              $ref: "#/$defs/env",
              description: "Environment variables for everything in the workspace; services add their own."
            },
            ports: {
              type: "array",
              description: 'Ports published on the node, Docker Compose syntax: "[ip:]hostPort:containerPort[/tcp|udp]", or "containerPort" alone (same port on the node).',
              uniqueItems: true,
              items: {
                $ref: "#/$defs/portSpec",
                description: 'One port mapping, e.g. "127.0.0.1:8080:3000".'
              }
            },
            state: {
              enum: [
                "running",
                "stopped"
              ],
              default: "running",
              description: 'Whether the workspace should be running. "stopped" keeps it (and its files) but stops it and its services. Default running.'
            },
            vm: {
              type: "object",
              description: "QEMU only: direct kernel boot and guest login settings.",
              additionalProperties: false,
              properties: {
                kernel: {
                  type: "string",
                  minLength: 1,
                  description: "Kernel image path on the node for direct boot (instead of a disk image's bootloader)."
                },
                initrd: {
                  type: "string",
                  minLength: 1,
                  description: "Initramfs path on the node, used with kernel."
                },
                append: {
                  type: "string",
                  description: "Kernel command line, used with kernel."
                },
                user: {
                  type: "string",
                  minLength: 1,
                  description: "User to SSH into the guest as. Default root."
                },
                sshPort: {
                  type: "integer",
                  minimum: 1,
                  maximum: 65535,
                  description: "SSH port inside the guest. Default 22."
                },
                network: {
                  type: "string",
                  enum: ["nat", "isolated"],
                  description: "Guest networking. nat (default): outbound access through QEMU user networking. isolated: no outbound network at all; only the forwarded ports reach the guest (restrict=on)."
                }
              }
            }
          }
        }
      },
      $defs: {
        name: {
          type: "string",
          pattern: "^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$",
          description: 'A DNS-1123 label: lowercase letters, digits and "-", starting and ending with a letter or digit, at most 63 characters.'
        },
        metadata: {
          type: "object",
          description: "Identity of a resource.",
          required: [
            "name"
          ],
          additionalProperties: false,
          properties: {
            name: {
              $ref: "#/$defs/name",
              description: 'Name, unique per kind: lowercase letters, digits and "-" (max 63), e.g. "api".'
            },
            labels: {
              type: "object",
              description: "Free-form key/value labels for selecting and grouping resources.",
              additionalProperties: {
                type: "string",
                description: "Label value."
              }
            },
            annotations: {
              type: "object",
              description: "Free-form key/value notes; vendetta does not interpret them.",
              additionalProperties: {
                type: "string",
                description: "Annotation value."
              }
            }
          }
        },
        envName: {
          type: "string",
          pattern: "^[A-Za-z_][A-Za-z0-9_]*$",
          description: 'An environment variable name: letters, digits and "_", not starting with a digit.'
        },
        env: {
          type: "object",
          description: "Environment variables, NAME: value. A value is a string, {fromEnv: NAME} (read from your environment when applying) or {fromFile: path} (read from a file next to the manifest). Referenced values are secret: never printed or stored.",
          propertyNames: {
            $ref: "#/$defs/envName"
          },
          additionalProperties: {
            $ref: "#/$defs/envValue"
          }
        },
        envValue: {
          type: [
            "string",
            "object"
          ],
          description: 'A literal string (quote numbers: "3000"), {fromEnv: NAME} or {fromFile: path}.',
          if: {
            type: "object"
          },
          then: {
            minProperties: 1,
            maxProperties: 1,
            additionalProperties: false,
            properties: {
              fromEnv: {
                $ref: "#/$defs/envName",
                description: "Name of an environment variable on the machine running vendetta."
              },
              fromFile: {
                type: "string",
                minLength: 1,
                description: "File whose content (without its trailing newline) is the value; relative to the manifest's directory."
              }
            }
          }
        },
        quantity: {
          type: "string",
          pattern: "^[0-9]+(\\.[0-9]+)?(Ki|Mi|Gi|Ti|Pi|k|K|M|G|T|P)?$",
          description: 'A byte quantity: a number with an optional unit, binary (Ki, Mi, Gi, Ti) or decimal (K, M, G, T), e.g. "512Mi", "2Gi", "1G".'
        },
        portSpec: {
          type: "string",
          pattern: "^((\\[[0-9A-Fa-f:.]+\\]|[0-9]{1,3}(\\.[0-9]{1,3}){3}):)?([0-9]+:)?[0-9]+(/(tcp|udp))?$",
          description: 'A port mapping "[ip:]hostPort:containerPort[/tcp|udp]" or "containerPort"; ports 1-65535.'
        },
        source: {
          type: "object",
          description: "Exactly one of path or git.",
          additionalProperties: false,
          oneOf: [
            {
              required: [
                "path"
              ]
            },
            {
              required: [
                "git"
              ]
            }
          ],
          properties: {
            path: {
              type: "string",
              minLength: 1,
              description: "Local directory to upload, relative to the manifest's directory (or absolute, or ~/\u2026)."
            },
            git: {
              type: "object",
              description: "Repository cloned on the node.",
              required: [
                "url"
              ],
              additionalProperties: false,
              properties: {
                url: {
                  type: "string",
                  minLength: 1,
                  description: "Clone URL, as git on the node understands it."
                },
                ref: {
                  type: "string",
                  minLength: 1,
                  description: "Branch, tag or commit to check out. Default: the remote's default branch."
                }
              }
            }
          }
        },
        qemuBoot: {
          description: "A qemu workspace boots a disk image (image) or a kernel directly (vm.kernel).",
          anyOf: [
            {
              required: [
                "image"
              ]
            },
            {
              required: [
                "vm"
              ],
              properties: {
                vm: {
                  required: [
                    "kernel"
                  ]
                }
              }
            }
          ]
        }
      }
    };
  }
});

// schemas/service.schema.json
var service_schema_default;
var init_service_schema = __esm({
  "schemas/service.schema.json"() {
    service_schema_default = {
      $schema: "https://json-schema.org/draft/2020-12/schema",
      $id: "https://vendetta.dev/schemas/service.schema.json",
      title: "vendetta Service",
      description: "A long-running process inside a Workspace, supervised on the node (it keeps running without vendetta connected), with dependencies, a health check, ports and a restart policy.",
      type: "object",
      required: [
        "apiVersion",
        "kind",
        "metadata",
        "spec"
      ],
      additionalProperties: false,
      properties: {
        apiVersion: {
          const: "vendetta.dev/v1alpha1",
          description: 'Manifest format version. Always "vendetta.dev/v1alpha1".'
        },
        kind: {
          const: "Service",
          description: 'Resource kind: "Service".'
        },
        metadata: {
          $ref: "#/$defs/metadata",
          description: "Name and labels of this Service."
        },
        spec: {
          type: "object",
          description: "What to run, where, and when it counts as up.",
          required: [
            "workspace",
            "command"
          ],
          additionalProperties: false,
          properties: {
            workspace: {
              $ref: "#/$defs/name",
              description: "Name of the Workspace the service runs in."
            },
            command: {
              type: "string",
              minLength: 1,
              description: 'Command line, run with /bin/sh -c inside the workspace, e.g. "npm run dev".'
            },
            workdir: {
              type: "string",
              minLength: 1,
              description: "Working directory inside the workspace. Default: the provider's (the source directory when there is one)."
            },
            env: {
              $ref: "#/$defs/env",
              description: "Environment variables for this service, on top of the workspace's."
            },
            ports: {
              type: "array",
              description: "Ports the service listens on inside the workspace; used for discovery (VENDETTA_SERVICE_<NAME>_PORT). Two services of one workspace cannot share a port.",
              uniqueItems: true,
              items: {
                $ref: "#/$defs/port",
                description: "A TCP port number."
              }
            },
            dependsOn: {
              type: [
                "object",
                "array"
              ],
              description: "Services that must be up before this one starts (they may live in other workspaces or on other nodes): a map {name: {condition}} or a list of names (condition started).",
              if: {
                type: "array"
              },
              then: {
                uniqueItems: true,
                items: {
                  $ref: "#/$defs/name",
                  description: "Name of a Service; waits until it has started."
                }
              },
              else: {
                propertyNames: {
                  $ref: "#/$defs/name"
                },
                additionalProperties: {
                  type: "object",
                  description: "How far the dependency must be.",
                  additionalProperties: false,
                  properties: {
                    condition: {
                      enum: [
                        "started",
                        "healthy",
                        "completed"
                      ],
                      default: "started",
                      description: '"started": its process runs; "healthy": its health check passes; "completed": it exited with code 0. Default started.'
                    }
                  }
                }
              }
            },
            healthcheck: {
              $ref: "#/$defs/healthcheck",
              description: "How to tell the service is healthy. Exactly one of exec, tcp or http."
            },
            restart: {
              enum: [
                "always",
                "on-failure",
                "never"
              ],
              default: "on-failure",
              description: 'Restart policy when the process exits: "always", "on-failure" (non-zero exit) or "never". Restarts back off exponentially. Default on-failure.'
            }
          }
        }
      },
      $defs: {
        name: {
          type: "string",
          pattern: "^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$",
          description: 'A DNS-1123 label: lowercase letters, digits and "-", starting and ending with a letter or digit, at most 63 characters.'
        },
        metadata: {
          type: "object",
          description: "Identity of a resource.",
          required: [
            "name"
          ],
          additionalProperties: false,
          properties: {
            name: {
              $ref: "#/$defs/name",
              description: 'Name, unique per kind: lowercase letters, digits and "-" (max 63), e.g. "api".'
            },
            labels: {
              type: "object",
              description: "Free-form key/value labels for selecting and grouping resources.",
              additionalProperties: {
                type: "string",
                description: "Label value."
              }
            },
            annotations: {
              type: "object",
              description: "Free-form key/value notes; vendetta does not interpret them.",
              additionalProperties: {
                type: "string",
                description: "Annotation value."
              }
            }
          }
        },
        envName: {
          type: "string",
          pattern: "^[A-Za-z_][A-Za-z0-9_]*$",
          description: 'An environment variable name: letters, digits and "_", not starting with a digit.'
        },
        env: {
          type: "object",
          description: "Environment variables, NAME: value. A value is a string, {fromEnv: NAME} (read from your environment when applying) or {fromFile: path} (read from a file next to the manifest). Referenced values are secret: never printed or stored.",
          propertyNames: {
            $ref: "#/$defs/envName"
          },
          additionalProperties: {
            $ref: "#/$defs/envValue"
          }
        },
        envValue: {
          type: [
            "string",
            "object"
          ],
          description: 'A literal string (quote numbers: "3000"), {fromEnv: NAME} or {fromFile: path}.',
          if: {
            type: "object"
          },
          then: {
            minProperties: 1,
            maxProperties: 1,
            additionalProperties: false,
            properties: {
              fromEnv: {
                $ref: "#/$defs/envName",
                description: "Name of an environment variable on the machine running vendetta."
              },
              fromFile: {
                type: "string",
                minLength: 1,
                description: "File whose content (without its trailing newline) is the value; relative to the manifest's directory."
              }
            }
          }
        },
        port: {
          type: "integer",
          minimum: 1,
          maximum: 65535,
          description: "A TCP port number, 1-65535."
        },
        duration: {
          type: "string",
          pattern: "^([0-9]+(\\.[0-9]+)?(ms|h|m|s))+$",
          description: 'A duration: numbers with units ms, s, m, h, e.g. "500ms", "2s", "1h30m".'
        },
        healthcheck: {
          type: "object",
          description: "A health check: exactly one of exec, tcp or http, plus timing.",
          additionalProperties: false,
          oneOf: [
            {
              required: [
                "exec"
              ]
            },
            {
              required: [
                "tcp"
              ]
            },
            {
              required: [
                "http"
              ]
            }
          ],
          properties: {
            exec: {
              type: "object",
              description: "Healthy when this command exits 0 inside the workspace.",
              required: [
                "command"
              ],
              additionalProperties: false,
              properties: {
                command: {
                  type: "string",
                  minLength: 1,
                  description: "Command line, run with /bin/sh -c inside the workspace."
                }
              }
            },
            tcp: {
              type: "object",
              description: "Healthy when a TCP connection to this port (inside the workspace) succeeds. Made by vendetta through SSH: the image needs no tools.",
              required: [
                "port"
              ],
              additionalProperties: false,
              properties: {
                port: {
                  $ref: "#/$defs/port",
                  description: "Port inside the workspace."
                }
              }
            },
            http: {
              type: "object",
              description: "Healthy when an HTTP GET answers 2xx or 3xx. Made by vendetta through SSH: the image needs no curl.",
              required: [
                "port"
              ],
              additionalProperties: false,
              properties: {
                port: {
                  $ref: "#/$defs/port",
                  description: "Port inside the workspace."
                },
                path: {
                  $ref: "#/$defs/httpPath",
                  description: 'Request path, starting with "/". Default "/".'
                },
                scheme: {
                  const: "http",
                  description: 'Only "http" for now.'
                }
              }
            },
            interval: {
              $ref: "#/$defs/duration",
              default: "2s",
              description: 'Time between checks. Default "2s".'
            },
            timeout: {
              $ref: "#/$defs/duration",
              default: "1s",
              description: 'How long one check may take. Default "1s".'
            },
            retries: {
              type: "integer",
              minimum: 1,
              default: 3,
              description: "Consecutive failures before the service counts as unhealthy. Default 3."
            },
            startPeriod: {
              $ref: "#/$defs/duration",
              default: "0s",
              description: 'Grace period after start during which failures do not count. Default "0s".'
            }
          }
        },
        httpPath: {
          type: "string",
          pattern: "^/",
          description: 'An HTTP request path starting with "/", e.g. "/health".'
        }
      }
    };
  }
});

// src/model/quantity.ts
function parseDuration(text) {
  const fail3 = () => {
    throw new Error(`${JSON.stringify(text)} is not a valid duration: ${DURATION_HINT}`);
  };
  if (typeof text !== "string" || text === "") fail3();
  let total = 0;
  DURATION_PART.lastIndex = 0;
  while (DURATION_PART.lastIndex < text.length) {
    const match = DURATION_PART.exec(text);
    if (!match) fail3();
    total += Number(match[1]) * DURATION_UNITS_MS[match[2]];
  }
  return Math.round(total);
}
function parseQuantity(text) {
  const match = typeof text === "string" ? QUANTITY.exec(text) : null;
  if (!match) throw new Error(`${JSON.stringify(text)} is not a valid quantity: ${QUANTITY_HINT}`);
  return Math.round(Number(match[1]) * QUANTITY_UNITS[match[2] ?? ""]);
}
var DURATION_UNITS_MS, DURATION_PART, DURATION_HINT, QUANTITY_UNITS, QUANTITY, QUANTITY_HINT;
var init_quantity = __esm({
  "src/model/quantity.ts"() {
    "use strict";
    DURATION_UNITS_MS = { ms: 1, s: 1e3, m: 6e4, h: 36e5 };
    DURATION_PART = /([0-9]+(?:\.[0-9]+)?)(ms|h|m|s)/y;
    DURATION_HINT = 'use a number and a unit (ms, s, m, h), e.g. "500ms", "2s", "1h30m"';
    QUANTITY_UNITS = {
      "": 1,
      k: 1e3,
      K: 1e3,
      M: 1e6,
      G: 1e9,
      T: 1e12,
      P: 1e15,
      Ki: 2 ** 10,
      Mi: 2 ** 20,
      Gi: 2 ** 30,
      Ti: 2 ** 40,
      Pi: 2 ** 50
    };
    QUANTITY = /^([0-9]+(?:\.[0-9]+)?)(Ki|Mi|Gi|Ti|Pi|k|K|M|G|T|P)?$/;
    QUANTITY_HINT = 'use a number with an optional unit (K, M, G, T or Ki, Mi, Gi, Ti), e.g. "512Mi", "2Gi", "1G"';
  }
});

// src/model/ports.ts
function parsePortSpec(text) {
  const fail3 = (reason) => {
    throw new Error(`${JSON.stringify(text)} is not a valid port mapping: ${reason}`);
  };
  if (typeof text !== "string" || text.trim() === "") fail3(PORT_SYNTAX);
  let rest = text;
  let protocol = "tcp";
  const slash = rest.lastIndexOf("/");
  if (slash >= 0) {
    const proto = rest.slice(slash + 1);
    if (proto !== "tcp" && proto !== "udp") fail3(`protocol "${proto}" is not tcp or udp`);
    protocol = proto;
    rest = rest.slice(0, slash);
  }
  let hostIp;
  if (rest.startsWith("[")) {
    const close = rest.indexOf("]:");
    if (close < 0) fail3(`IPv6 address must be written "[addr]:hostPort:containerPort"`);
    hostIp = rest.slice(1, close);
    if (!/^[0-9A-Fa-f:.]+$/.test(hostIp)) fail3(`"${hostIp}" is not an IPv6 address`);
    rest = rest.slice(close + 2);
  }
  const parts = rest.split(":");
  if (parts.length > 3 || hostIp !== void 0 && parts.length !== 2) fail3(PORT_SYNTAX);
  if (parts.length === 3) {
    hostIp = parts.shift();
    if (!IPV4.test(hostIp) || hostIp.split(".").some((octet) => Number(octet) > 255)) {
      fail3(`"${hostIp}" is not an IPv4 address (write IPv6 addresses as "[::1]:8080:3000")`);
    }
  }
  const [hostText, containerText] = parts.length === 2 ? parts : [parts[0], parts[0]];
  const hostPort = portNumber(hostText, "host port", fail3);
  const containerPort = portNumber(containerText, "container port", fail3);
  return { ...hostIp !== void 0 ? { hostIp } : {}, hostPort, containerPort, protocol };
}
function portNumber(text, what, fail3) {
  if (!/^[0-9]+$/.test(text)) return fail3(`${what} "${text}" is not a number; ${PORT_SYNTAX}`);
  const port = Number(text);
  if (port < 1 || port > 65535) return fail3(`${what} ${port} is out of range 1-65535`);
  return port;
}
var PORT_SYNTAX, IPV4;
var init_ports = __esm({
  "src/model/ports.ts"() {
    "use strict";
    PORT_SYNTAX = 'use "[ip:]hostPort:containerPort[/tcp|udp]", e.g. "127.0.0.1:8080:3000"';
    IPV4 = /^[0-9]{1,3}(\.[0-9]{1,3}){3}$/;
  }
});

// src/manifest/schema.ts
import Ajv2020Module from "ajv/dist/2020.js";
function validateDocument(value) {
  if (!isPlainObject(value)) {
    return {
      issues: [
        { path: [], part: "value", message: `expected a manifest (a map with apiVersion, kind, metadata and spec), got ${describeValue(value)}` }
      ]
    };
  }
  const issues = [];
  const supported = `supported kinds are ${KINDS.join(", ")}`;
  if (!("apiVersion" in value)) {
    issues.push({ path: [], part: "value", message: `missing apiVersion: add "apiVersion: ${API_VERSION}"` });
  } else if (value.apiVersion !== API_VERSION) {
    issues.push({
      path: ["apiVersion"],
      part: "value",
      message: `unsupported apiVersion ${describeValue(value.apiVersion)}: use ${API_VERSION}`
    });
  }
  const kind = KINDS.find((k) => k === value.kind);
  if (!("kind" in value)) {
    issues.push({ path: [], part: "value", message: `missing kind: ${supported}` });
  } else if (kind === void 0) {
    const suggestion = typeof value.kind === "string" ? didYouMean(value.kind, KINDS) : "";
    issues.push({ path: ["kind"], part: "value", message: `unknown kind ${describeValue(value.kind)}: ${supported}${suggestion}` });
  }
  if (kind === void 0) return { issues };
  const validate = validators.get(kind);
  const where = subjectOf(kind, value);
  if (!validate(value)) issues.push(...explain(validate.errors ?? [], where, value));
  if (kind === "Workspace") issues.push(...portMappingIssues(value, where));
  return { kind, issues };
}
function subjectOf(kind, doc) {
  const name = doc.metadata?.name;
  const subject = isValidName(name) ? `${kind} ${JSON.stringify(name)}` : kind;
  return (path4) => path4.length > 0 ? `${subject} ${pathText(path4)}` : subject;
}
function portMappingIssues(doc, where) {
  const ports = doc.spec?.ports;
  if (!Array.isArray(ports)) return [];
  const issues = [];
  ports.forEach((port, i) => {
    if (typeof port !== "string") return;
    try {
      parsePortSpec(port);
    } catch (err) {
      issues.push({ path: ["spec", "ports", i], part: "value", message: `${where(["spec", "ports", i])} ${err.message}` });
    }
  });
  return issues;
}
function explain(errors, where, doc) {
  const branchSchemas = /* @__PURE__ */ new Set();
  for (const e of errors) {
    if (e.keyword === "anyOf" || e.keyword === "oneOf") walkObjects(e.schema, (o) => branchSchemas.add(o));
  }
  const issues = [];
  for (const e of errors) {
    const path4 = instancePath(e.instancePath);
    const def = defOf.get(e.parentSchema);
    const value = e.data;
    if (e.keyword === "if" || e.keyword === "propertyNames") continue;
    if (branchSchemas.has(e.parentSchema)) continue;
    if (path4.length === 1 && (path4[0] === "apiVersion" || path4[0] === "kind")) continue;
    if (def === "portSpec" && e.keyword === "pattern") continue;
    const push2 = (p, part, message) => issues.push({ path: p, part, message });
    const params = e.params;
    switch (e.keyword) {
      case "additionalProperties": {
        const field = String(params.additionalProperty);
        const known = Object.keys(e.parentSchema.properties ?? {});
        const hint = didYouMean(field, known) || (known.length > 0 ? ` (allowed: ${known.join(", ")})` : "");
        push2([...path4, field], "key", `unknown field ${JSON.stringify(field)} in ${where(path4)}${hint}`);
        break;
      }
      case "required": {
        const field = String(params.missingProperty);
        if (path4.length === 0 && (field === "apiVersion" || field === "kind")) break;
        const provider = doc.spec?.provider;
        const why = e.schemaPath.includes("/then/") && typeof provider === "string" ? ` (provider ${provider} needs it)` : "";
        push2(path4, "key", `${where(path4)} is missing required field ${JSON.stringify(field)}${why}`);
        break;
      }
      case "pattern": {
        const check3 = def !== void 0 ? FORMAT_CHECKS[def] : void 0;
        if (e.propertyName !== void 0) {
          const what = check3 ? `is not a valid ${check3.thing}: ${check3.hint}` : `does not match ${String(params.pattern)}`;
          push2([...path4, e.propertyName], "key", `${where(path4)}: ${JSON.stringify(e.propertyName)} ${what}`);
          break;
        }
        const at = path4.length === 2 && path4[0] === "metadata" && path4[1] === "name" ? "metadata.name" : where(path4);
        push2(path4, "value", `${at} ${formatMessage(String(value), check3, String(params.pattern))}`);
        break;
      }
      case "type": {
        const types = [].concat(params.type);
        const expected = def === "envValue" ? 'a string (quote numbers: "3000"), {fromEnv: NAME} or {fromFile: path}' : types.map((t) => TYPE_WORDS[t] ?? t).join(" or ");
        push2(path4, "value", `${where(path4)} must be ${expected}, got ${describeValue(value)}`);
        break;
      }
      case "enum": {
        const allowed = params.allowedValues.map(String);
        const hint = typeof value === "string" ? didYouMean(value, allowed) : "";
        push2(path4, "value", `${where(path4)} must be one of ${allowed.join(", ")}, got ${describeValue(value)}${hint}`);
        break;
      }
      case "const":
        push2(path4, "value", `${where(path4)} must be ${JSON.stringify(params.allowedValue)}, got ${describeValue(value)}`);
        break;
      case "minimum":
      case "maximum":
      case "exclusiveMinimum": {
        const bound = { minimum: "at least", maximum: "at most", exclusiveMinimum: "greater than" }[e.keyword];
        push2(path4, "value", `${where(path4)} must be ${bound} ${String(params.limit)}, got ${describeValue(value)}`);
        break;
      }
      case "minLength":
      case "minItems":
        push2(path4, "value", `${where(path4)} must not be empty`);
        break;
      case "minProperties":
      case "maxProperties":
        push2(
          path4,
          "value",
          def === "envValue" ? `${where(path4)} must be either {fromEnv: NAME} or {fromFile: path}` : `${where(path4)} ${e.message ?? "has the wrong number of fields"}`
        );
        break;
      case "uniqueItems": {
        const later = Number(params.i);
        const item = Array.isArray(value) ? value[later] : void 0;
        push2([...path4, later], "value", `${where(path4)} lists ${describeValue(item)} more than once`);
        break;
      }
      case "anyOf":
      case "oneOf": {
        const text = def !== void 0 ? COMPOSITE_MESSAGES[def] : void 0;
        push2(path4, "key", `${where(path4)} ${text ?? e.parentSchema.description ?? e.message}`);
        break;
      }
      default:
        push2(path4, "value", `${where(path4)} ${e.message ?? "is not valid"}`);
    }
  }
  return issues;
}
function formatMessage(value, check3, pattern) {
  if (check3?.parse) {
    try {
      check3.parse(value);
    } catch (err) {
      return err.message;
    }
  }
  if (check3) return `${JSON.stringify(value)} is not a valid ${check3.thing}: ${check3.hint ?? ""}`;
  return `${JSON.stringify(value)} does not match ${pattern}`;
}
function instancePath(pointer) {
  if (pointer === "") return [];
  return pointer.slice(1).split("/").map((s) => s.replace(/~1/g, "/").replace(/~0/g, "~")).map((s) => /^(0|[1-9][0-9]*)$/.test(s) ? Number(s) : s);
}
function walkObjects(value, visit) {
  if (value === null || typeof value !== "object") return;
  visit(value);
  for (const child of Object.values(value)) walkObjects(child, visit);
}
function isValidName(name) {
  return typeof name === "string" && /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/.test(name);
}
function isPlainObject(value) {
  return value !== null && typeof value === "object" && !Array.isArray(value);
}
var SCHEMAS, Ajv2020, ajv, validators, defOf, FORMAT_CHECKS, COMPOSITE_MESSAGES, TYPE_WORDS;
var init_schema = __esm({
  "src/manifest/schema.ts"() {
    "use strict";
    init_node_schema();
    init_workspace_schema();
    init_service_schema();
    init_types();
    init_quantity();
    init_ports();
    init_text();
    SCHEMAS = {
      Node: node_schema_default,
      Workspace: workspace_schema_default,
      Service: service_schema_default
    };
    Ajv2020 = Ajv2020Module.default ?? Ajv2020Module;
    ajv = new Ajv2020({ allErrors: true, verbose: true, strict: true, strictTypes: false, strictRequired: false });
    validators = new Map(KINDS.map((kind) => [kind, ajv.compile(SCHEMAS[kind])]));
    defOf = /* @__PURE__ */ new Map();
    for (const schema of Object.values(SCHEMAS)) {
      for (const [name, def] of Object.entries(schema.$defs ?? {})) walkObjects(def, (o) => defOf.set(o, name));
    }
    FORMAT_CHECKS = {
      name: { thing: "name", hint: 'use lowercase letters, digits and "-" (max 63)' },
      envName: { thing: "variable name", hint: 'use letters, digits and "_", not starting with a digit' },
      duration: { thing: "duration", parse: parseDuration },
      quantity: { thing: "quantity", parse: parseQuantity },
      hostKey: { thing: "host key", hint: 'write it as "<type> <base64>", e.g. "ssh-ed25519 AAAAC3Nz\u2026" (an ssh-keyscan line without the host)' },
      httpPath: { thing: "path", hint: 'start it with "/", e.g. "/health"' }
    };
    COMPOSITE_MESSAGES = {
      qemuBoot: 'needs "image" (a disk image) or "vm.kernel" (a kernel to boot) for provider qemu',
      source: 'needs exactly one of "path" or "git"',
      healthcheck: 'needs exactly one check: "exec", "tcp" or "http"'
    };
    TYPE_WORDS = {
      string: "a string",
      number: "a number",
      integer: "a whole number",
      boolean: "true or false",
      object: "a map",
      array: "a list",
      null: "empty"
    };
  }
});

// src/manifest/load.ts
import { readdir, readFile as readFile2, realpath, stat } from "node:fs/promises";
import { homedir } from "node:os";
import { dirname, extname, join, resolve as resolve2 } from "node:path";
import { LineCounter, parseAllDocuments } from "yaml";
async function loadManifests(paths, opts2 = {}) {
  const cwd = opts2.cwd ?? process.cwd();
  const environ = opts2.environ ?? process.env;
  const errors = [];
  const { files, order } = await collectFiles(paths, cwd, errors);
  const declared = [];
  const resources = [];
  const locators = /* @__PURE__ */ new Map();
  for (const file2 of files) {
    let text;
    try {
      text = await readFile2(file2, "utf8");
    } catch (err) {
      errors.push({ file: file2, line: 0, col: 0, message: `cannot read file: ${err.message}` });
      continue;
    }
    const lineCounter = new LineCounter();
    for (const doc of parseAllDocuments(text, { lineCounter })) {
      if (doc.errors.length > 0) {
        for (const e of doc.errors) {
          const pos = e.linePos?.[0] ?? { line: 1, col: 1 };
          errors.push({ file: file2, line: pos.line, col: pos.col, message: `invalid YAML: ${parserMessage(e.message)}` });
        }
        continue;
      }
      const value = doc.toJS();
      if (value === null || value === void 0) continue;
      const at = locator(doc, lineCounter, file2);
      const { kind, issues } = validateDocument(value);
      for (const issue of issues) errors.push(errorAt(at(issue.path, issue.part), issue.message));
      if (kind === void 0 || !isPlainObject(value)) continue;
      const name = isPlainObject(value.metadata) ? value.metadata.name : void 0;
      const entry = { kind, name: String(name), at };
      if (isValidName(name)) declared.push(entry);
      if (issues.length > 0) continue;
      const resource = withDefaults({ ...value, source: at([]) });
      if (resource.kind === "Workspace" && resource.spec.source?.path !== void 0) {
        const problem = await absoluteSourcePath(resource, dirname(file2));
        if (problem) errors.push(errorAt(at(["spec", "source", "path"]), problem));
      }
      entry.resource = resource;
      resources.push(resource);
      locators.set(resource, at);
    }
  }
  const references = checkReferences(declared, cwd, opts2.knownNodes ?? []);
  errors.push(...references.errors);
  const { desired } = references;
  const env = /* @__PURE__ */ new Map();
  for (const resource of [...desired.workspaces.values(), ...desired.services.values()]) {
    const at = locators.get(resource);
    const result = await resolveEnv(resource.spec.env, {
      subject: `${resource.kind} "${resource.metadata.name}"`,
      manifestDir: dirname(resource.source.file),
      environ,
      at
    });
    errors.push(...result.errors);
    env.set(resourceId(resource.kind, resource.metadata.name), result.env);
  }
  if (errors.length > 0) return { ok: false, errors: sortErrors(errors, order) };
  return { ok: true, set: { desired, env }, resources };
}
async function absoluteSourcePath(resource, manifestDir) {
  const source = resource.spec.source;
  const written = source.path;
  const expanded = written === "~" || written.startsWith("~/") ? join(homedir(), written.slice(1)) : written;
  const absolute = resolve2(manifestDir, expanded);
  source.path = absolute;
  const where = `Workspace "${resource.metadata.name}" spec.source.path`;
  try {
    if (!(await stat(absolute)).isDirectory()) return `${where}: ${JSON.stringify(written)} (${absolute}) is not a directory`;
  } catch {
    return `${where}: directory ${JSON.stringify(written)} does not exist (resolved to ${absolute}); create it or fix the path`;
  }
  return void 0;
}
async function collectFiles(paths, cwd, errors) {
  if (paths.length === 0) {
    errors.push({ file: cwd, line: 0, col: 0, message: "no manifests given: pass manifest files or directories" });
  }
  const files = [];
  const order = [];
  const seen = /* @__PURE__ */ new Set();
  const add = async (file2) => {
    const real = await realpath(file2);
    if (!seen.has(real)) {
      seen.add(real);
      files.push(file2);
      order.push(file2);
    }
  };
  for (const path4 of paths) {
    const absolute = resolve2(cwd, path4);
    let isDirectory;
    try {
      isDirectory = (await stat(absolute)).isDirectory();
    } catch {
      order.push(absolute);
      errors.push({ file: absolute, line: 0, col: 0, message: "no such file or directory" });
      continue;
    }
    if (!isDirectory) {
      await add(absolute);
      continue;
    }
    const found = (await walk(absolute)).sort();
    if (found.length === 0) {
      order.push(absolute);
      errors.push({ file: absolute, line: 0, col: 0, message: "no manifests found in this directory (looked for *.yaml, *.yml, *.json)" });
    }
    for (const file2 of found) await add(file2);
  }
  return { files, order };
}
async function walk(dir) {
  const out = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    if (entry.name.startsWith(".") || entry.name === "node_modules") continue;
    const path4 = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...await walk(path4));
    else if (MANIFEST_EXTENSIONS.has(extname(entry.name).toLowerCase())) out.push(path4);
  }
  return out;
}
function parserMessage(message) {
  return message.replace(/\s+at line \d+, column \d+:?[\s\S]*$/, "");
}
var MANIFEST_EXTENSIONS;
var init_load = __esm({
  "src/manifest/load.ts"() {
    "use strict";
    init_types();
    init_defaults();
    init_env();
    init_errors();
    init_locate();
    init_references();
    init_schema();
    MANIFEST_EXTENSIONS = /* @__PURE__ */ new Set([".yaml", ".yml", ".json"]);
  }
});

// src/manifest/index.ts
var init_manifest = __esm({
  "src/manifest/index.ts"() {
    "use strict";
    init_load();
    init_errors();
    init_schema();
    init_defaults();
    init_references();
  }
});

// src/model/env.ts
function plainEnv(env) {
  return Object.fromEntries(Object.entries(env).map(([k, v]) => [k, v.value]));
}
var REDACTED;
var init_env2 = __esm({
  "src/model/env.ts"() {
    "use strict";
    REDACTED = "(secret)";
  }
});

// src/model/hash.ts
import { createHash } from "node:crypto";
function canonicalJson(value) {
  return JSON.stringify(sortKeys(value));
}
function sortKeys(value) {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value !== null && typeof value === "object") {
    const out = {};
    for (const key of Object.keys(value).sort()) {
      const v = value[key];
      if (v !== void 0) out[key] = sortKeys(v);
    }
    return out;
  }
  return value;
}
function sha256Short(text) {
  return createHash("sha256").update(text).digest("hex").slice(0, 16);
}
function workspaceSpecHash(ws, env) {
  const { state: _state, env: _envRefs, ...spec } = ws.spec;
  return sha256Short(canonicalJson({ kind: "Workspace", spec, env: plainEnv(env) }));
}
function serviceSpecHash(svc, env) {
  const { env: _envRefs, ...spec } = svc.spec;
  return sha256Short(canonicalJson({ kind: "Service", spec, env }));
}
var init_hash = __esm({
  "src/model/hash.ts"() {
    "use strict";
    init_env2();
  }
});

// src/plan/desired.ts
import { posix } from "node:path";
function resolvedEnvOf(set2, id, specEnv) {
  const resolved = set2.env.get(id);
  if (resolved) return resolved;
  const out = {};
  for (const [key, value] of Object.entries(specEnv ?? {})) {
    if (typeof value !== "string") {
      throw new Error(
        `env ${key} of ${id} references ${"fromEnv" in value ? `fromEnv ${value.fromEnv}` : `fromFile ${value.fromFile}`} but was not resolved: load manifests through src/manifest so references are resolved before planning`
      );
    }
    out[key] = { value, secret: false };
  }
  return out;
}
function desiredWorkspace(set2, name) {
  const resource = set2.desired.workspaces.get(name);
  if (!resource) throw new Error(`workspace ${name} is not in the desired set`);
  const env = resolvedEnvOf(set2, resourceId("Workspace", name), resource.spec.env);
  return { resource, specHash: workspaceSpecHash(resource, env), env: plainEnv(env) };
}
function discoveryPrefix(serviceName) {
  return `VENDETTA_SERVICE_${serviceName.toUpperCase().replace(/-/g, "_")}`;
}
function discoveryEnv(services) {
  const withPorts = [...services].filter((s) => (s.spec.ports?.length ?? 0) > 0).sort((a, b) => compareStrings(a.metadata.name, b.metadata.name));
  const env = {};
  for (const svc of withPorts) {
    const prefix = discoveryPrefix(svc.metadata.name);
    const port = String(svc.spec.ports[0]);
    env[`${prefix}_HOST`] = DISCOVERY_HOST;
    env[`${prefix}_PORT`] = port;
    env[`${prefix}_URL`] = `http://${DISCOVERY_HOST}:${port}`;
  }
  return env;
}
function serviceEnv(set2, name) {
  const svc = set2.desired.services.get(name);
  if (!svc) throw new Error(`service ${name} is not in the desired set`);
  const ws = set2.desired.workspaces.get(svc.spec.workspace);
  const workspaceEnv = ws ? plainEnv(resolvedEnvOf(set2, resourceId("Workspace", ws.metadata.name), ws.spec.env)) : {};
  const ownEnv = plainEnv(resolvedEnvOf(set2, resourceId("Service", name), svc.spec.env));
  const siblings = [...set2.desired.services.values()].filter((s) => s.spec.workspace === svc.spec.workspace);
  return { ...workspaceEnv, ...ownEnv, ...discoveryEnv(siblings) };
}
function serviceWorkdir(workdir, workspaceDir) {
  if (workdir === void 0 || workdir === "") return withoutTrailingSlash(workspaceDir);
  if (workdir === CONTAINER_WORKSPACE_DIR || workdir.startsWith(`${CONTAINER_WORKSPACE_DIR}/`)) {
    return withoutTrailingSlash(posix.join(workspaceDir, workdir.slice(CONTAINER_WORKSPACE_DIR.length)));
  }
  if (!workdir.startsWith("/")) return withoutTrailingSlash(posix.join(workspaceDir, workdir));
  return withoutTrailingSlash(posix.normalize(workdir));
}
function withoutTrailingSlash(path4) {
  return path4.length > 1 && path4.endsWith("/") ? path4.slice(0, -1) : path4;
}
function desiredService(set2, name, workspaceDir) {
  const resource = set2.desired.services.get(name);
  if (!resource) throw new Error(`service ${name} is not in the desired set`);
  const env = serviceEnv(set2, name);
  return {
    resource,
    specHash: serviceSpecHash(resource, env),
    env,
    workdir: serviceWorkdir(resource.spec.workdir, workspaceDir)
  };
}
function compareStrings(a, b) {
  return a < b ? -1 : a > b ? 1 : 0;
}
var CONTAINER_WORKSPACE_DIR, DISCOVERY_HOST;
var init_desired = __esm({
  "src/plan/desired.ts"() {
    "use strict";
    init_env2();
    init_hash();
    init_types();
    CONTAINER_WORKSPACE_DIR = "/workspace";
    DISCOVERY_HOST = "127.0.0.1";
  }
});

// src/plan/diff.ts
function specChanges(from, to, prefix = "spec", ignore = []) {
  const out = [];
  const walker = { ignore: new Set(ignore.map((p) => `${prefix}.${p}`)), envPath: `${prefix}.env`, out };
  walk2(walker, prefix, from, to);
  return out;
}
function walk2(w, path4, from, to) {
  const out = w.out;
  if (w.ignore.has(path4)) return;
  if (path4 === w.envPath) {
    const a = from ?? {};
    const b = to ?? {};
    for (const key of unionKeys(a, b)) {
      if (canonicalJson(a[key]) === canonicalJson(b[key])) continue;
      out.push(change(`${path4}.${key}`, renderEnvValue(a[key]), renderEnvValue(b[key])));
    }
    return;
  }
  if (isPlainObject2(from) && isPlainObject2(to)) {
    for (const key of unionKeys(from, to)) walk2(w, `${path4}.${key}`, from[key], to[key]);
    return;
  }
  if (canonicalJson(from) === canonicalJson(to)) return;
  out.push(change(path4, renderValue(from), renderValue(to)));
}
function envChanges(from, to, prefix) {
  const out = [];
  for (const key of unionKeys(from, to)) {
    if (from[key] === to[key]) continue;
    out.push(change(`${prefix}.${key}`, renderValue(from[key]), renderValue(to[key])));
  }
  return out;
}
function change(path4, from, to) {
  const c = { path: path4 };
  if (from !== void 0) c.from = from;
  if (to !== void 0) c.to = to;
  return c;
}
function renderEnvValue(value) {
  if (value === void 0) return void 0;
  return typeof value === "string" ? JSON.stringify(value) : REDACTED;
}
function renderValue(value) {
  if (value === void 0) return void 0;
  if (typeof value === "string") return JSON.stringify(value);
  return canonicalJson(value);
}
function shortPath(path4) {
  return path4.startsWith("spec.") ? path4.slice("spec.".length) : path4;
}
function isPlainObject2(v) {
  return v !== null && typeof v === "object" && !Array.isArray(v);
}
function unionKeys(a, b) {
  return [.../* @__PURE__ */ new Set([...Object.keys(a), ...Object.keys(b)])].sort(compareStrings);
}
var init_diff = __esm({
  "src/plan/diff.ts"() {
    "use strict";
    init_hash();
    init_env2();
    init_desired();
  }
});

// src/plan/plan.ts
function plan(input) {
  const { set: set2, observed } = input;
  const b = new PlanBuilder((svc) => Object.keys(set2.desired.services.get(svc)?.spec.dependsOn ?? {}));
  const applied = new Map(input.applied.map((r2) => [r2.id, r2]));
  const unreachable = unreachableNodes(observed, [...set2.desired.workspaces.values()].map((w) => w.spec.node));
  const reachable = (node) => {
    const n = observed.get(node);
    return n?.reachable ? n : void 0;
  };
  for (const ws of sortedByName(set2.desired.workspaces.values())) {
    const node = reachable(ws.spec.node);
    if (!node) continue;
    const name = ws.metadata.name;
    const place = { workspace: name, node: ws.spec.node, provider: ws.spec.provider };
    const desired = desiredWorkspace(set2, name);
    const services = sortedByName([...set2.desired.services.values()].filter((s) => s.spec.workspace === name));
    const wantRunning = ws.spec.state !== "stopped";
    const startAll = (after, cause) => {
      if (!wantRunning) return;
      for (const svc of services) b.service("start-service", svc.metadata.name, place, cause, { after: [after.id] });
    };
    const previous = applied.get(resourceId("Workspace", name))?.resource;
    const oldNode = previous?.spec.node;
    if (oldNode && oldNode !== ws.spec.node) {
      const old = findWorkspace(reachable(oldNode), name);
      if (old) b.workspace("delete-workspace", { workspace: name, node: oldNode, provider: old.provider }, `moved to node ${ws.spec.node}`);
    }
    const current = findWorkspace(node, name);
    if (!current) {
      const op = b.workspace("create-workspace", place, `not found on node ${ws.spec.node}`);
      startAll(op, "workspace is being created");
    } else if (current.provider !== ws.spec.provider) {
      const from = { ...place, provider: current.provider };
      b.workspace("delete-workspace", from, `provider changed: ${current.provider} \u2192 ${ws.spec.provider}`);
      b.gone.add(name);
      const op = b.workspace("create-workspace", place, `provider changed: ${current.provider} \u2192 ${ws.spec.provider}`);
      startAll(op, "workspace is being created");
    } else if (current.specHash !== desired.specHash) {
      const changes = workspaceChanges(previous, ws);
      const op = b.workspace("recreate-workspace", place, hashCause(changes, hasSecretEnv(set2, resourceId("Workspace", name))), { changes });
      b.gone.add(name);
      startAll(op, "workspace is being recreated");
    } else if (!current.running) {
      if (wantRunning) {
        const op = b.workspace("start-workspace", place, "stopped on the node, state is running");
        startAll(op, "workspace is being started");
      }
    } else if (!wantRunning) {
      b.workspace("stop-workspace", place, "running, state is stopped");
    } else {
      for (const svc of services) planService(input, b, place, current, svc, applied);
    }
  }
  planServiceMoves(input, b, applied, reachable);
  if (input.prune) planPrune(input, b, applied, reachable);
  return { operations: b.ordered(), unreachable };
}
function planService(input, b, place, ws, svc, applied) {
  const name = svc.metadata.name;
  const current = ws.services.find((s) => s.name === name);
  if (!current) {
    b.service("start-service", name, place, "not running");
    return;
  }
  const hash = serviceSpecHash(svc, serviceEnv(input.set, name));
  if (current.specHash !== hash) {
    const changes = serviceChanges(input, svc, applied);
    b.service("restart-service", name, place, hashCause(changes, hasSecretEnv(input.set, resourceId("Service", name))), { changes });
    return;
  }
  switch (current.state) {
    case "running":
    case "backoff":
      return;
    case "stopped":
      b.service("start-service", name, place, "stopped");
      return;
    case "exited": {
      if (current.exitCode === 0) return;
      if (svc.spec.restart === "never") return;
      const code = current.exitCode === void 0 ? "an unknown code" : `code ${current.exitCode}`;
      b.service("start-service", name, place, `exited with ${code}`);
      return;
    }
  }
}
function planServiceMoves(input, b, applied, reachable) {
  for (const svc of sortedByName(input.set.desired.services.values())) {
    const previous = applied.get(resourceId("Service", svc.metadata.name))?.resource;
    const oldWorkspace = previous?.spec.workspace;
    if (!oldWorkspace || oldWorkspace === svc.spec.workspace) continue;
    deleteServiceIfPresent(input, b, applied, reachable, svc.metadata.name, oldWorkspace, `moved to workspace ${svc.spec.workspace}`);
  }
}
function planPrune(input, b, applied, reachable) {
  const cause = `pruned: no longer declared in apply set ${input.applySet}`;
  const records = [...applied.values()].filter((r2) => r2.applySet === input.applySet).sort((x, y) => compareStrings(x.id, y.id));
  for (const r2 of records) {
    if (r2.kind !== "Workspace" || input.set.desired.workspaces.has(r2.name)) continue;
    const spec = r2.resource.spec;
    const current = findWorkspace(reachable(spec.node), r2.name);
    if (!current) continue;
    b.workspace("delete-workspace", { workspace: r2.name, node: spec.node, provider: current.provider }, cause);
    b.gone.add(r2.name);
  }
  for (const r2 of records) {
    if (r2.kind !== "Service" || input.set.desired.services.has(r2.name)) continue;
    const spec = r2.resource.spec;
    deleteServiceIfPresent(input, b, applied, reachable, r2.name, spec.workspace, cause);
  }
}
function deleteServiceIfPresent(input, b, applied, reachable, name, workspace, cause) {
  if (b.gone.has(workspace)) return;
  const node = workspaceNode(workspace, input.set, applied);
  const ws = node === void 0 ? void 0 : findWorkspace(reachable(node), workspace);
  if (!node || !ws || !ws.services.some((s) => s.name === name)) return;
  const del = b.service("delete-service", name, { workspace, node, provider: ws.provider }, cause);
  const wsOp = b.workspaceOp(workspace);
  if (wsOp?.type === "start-workspace") del.dependsOn.push(wsOp.id);
  if (wsOp?.type === "stop-workspace") wsOp.dependsOn.push(del.id);
}
function planDeletion(input) {
  const b = new PlanBuilder();
  const applied = new Map(input.applied.map((r2) => [r2.id, r2]));
  const ids = [...new Set(input.ids)].sort(compareStrings);
  const unreachable = unreachableNodes(input.observed, []);
  const cause = "deleted on request";
  for (const id of ids) {
    const [kind, name] = splitId(id);
    if (kind !== "workspace") continue;
    for (const { node, ws } of locateWorkspace(name, input.set, applied, input.observed)) {
      b.workspace("delete-workspace", { workspace: name, node, provider: ws.provider }, cause);
      b.gone.add(name);
    }
  }
  for (const id of ids) {
    const [kind, name] = splitId(id);
    if (kind !== "service") continue;
    const workspace = input.set?.desired.services.get(name)?.spec.workspace ?? applied.get(id)?.resource.spec?.workspace ?? findServiceWorkspace(name, input.observed);
    if (!workspace || b.gone.has(workspace)) continue;
    for (const { node, ws } of locateWorkspace(workspace, input.set, applied, input.observed)) {
      if (!ws.services.some((s) => s.name === name)) continue;
      b.service("delete-service", name, { workspace, node, provider: ws.provider }, cause);
    }
  }
  return { operations: b.ordered(), unreachable };
}
function hashCause(changes, hasSecrets) {
  if (changes === void 0) return "spec-hash changed (no applied record to compare with)";
  if (changes.length === 0) {
    return hasSecrets ? "spec-hash changed: env value from fromEnv/fromFile" : "spec-hash changed: the object on the node was made from another spec";
  }
  const names = changes.map((c) => shortPath(c.path));
  const shown = names.slice(0, MAX_FIELDS_IN_CAUSE).join(", ");
  const more = names.length > MAX_FIELDS_IN_CAUSE ? ` and ${names.length - MAX_FIELDS_IN_CAUSE} more` : "";
  return `spec-hash changed: ${shown}${more}`;
}
function workspaceChanges(previous, desired) {
  if (!previous) return void 0;
  return specChanges(previous.spec, desired.spec, "spec", ["state"]);
}
function serviceChanges(input, svc, applied) {
  const previous = applied.get(resourceId("Service", svc.metadata.name))?.resource;
  if (!previous) return void 0;
  const workspace = svc.spec.workspace;
  const appliedSiblings = [...applied.values()].filter((r2) => r2.kind === "Service" && r2.resource.spec.workspace === workspace).map((r2) => r2.resource);
  const desiredSiblings = [...input.set.desired.services.values()].filter((s) => s.spec.workspace === workspace);
  return [
    ...specChanges(previous.spec, svc.spec),
    ...envChanges(discoveryEnv(appliedSiblings), discoveryEnv(desiredSiblings), "env")
  ];
}
function hasSecretEnv(set2, id) {
  return Object.values(set2.env.get(id) ?? {}).some((v) => v.secret);
}
function unreachableNodes(observed, desiredNodes) {
  const out = /* @__PURE__ */ new Map();
  for (const n of observed.values()) if (!n.reachable) out.set(n.name, n.error ?? "unreachable");
  for (const node of desiredNodes) if (!observed.has(node)) out.set(node, "node was not observed");
  return [...out.entries()].sort(([a], [b]) => compareStrings(a, b)).map(([node, error]) => ({ node, error }));
}
function findWorkspace(node, name) {
  return node?.workspaces.find((w) => w.name === name);
}
function workspaceNode(name, set2, applied) {
  return set2?.desired.workspaces.get(name)?.spec.node ?? applied.get(resourceId("Workspace", name))?.resource.spec?.node;
}
function locateWorkspace(name, set2, applied, observed) {
  const known = workspaceNode(name, set2, applied);
  const nodes = known !== void 0 ? [observed.get(known)] : sortedByName([...observed.values()]);
  const out = [];
  for (const n of nodes) {
    if (!n?.reachable) continue;
    const ws = findWorkspace(n, name);
    if (ws) out.push({ node: n.name, ws });
  }
  return out;
}
function findServiceWorkspace(name, observed) {
  for (const n of sortedByName([...observed.values()])) {
    if (!n.reachable) continue;
    const ws = n.workspaces.find((w) => w.services.some((s) => s.name === name));
    if (ws) return ws.name;
  }
  return void 0;
}
function splitId(id) {
  const slash = id.indexOf("/");
  return slash < 0 ? ["", id] : [id.slice(0, slash), id.slice(slash + 1)];
}
function sortedByName(items) {
  const key = (t) => "metadata" in t ? t.metadata.name : t.name;
  return [...items].sort((a, b) => compareStrings(key(a), key(b)));
}
function makeOp(type, kind, name, place, cause, changes) {
  const op = {
    id: `${type}:${name}`,
    type,
    kind,
    name,
    resource: resourceId(kind, name),
    node: place.node,
    provider: place.provider,
    cause,
    dependsOn: []
  };
  if (kind === "Service") op.workspace = place.workspace;
  if (changes && changes.length > 0) op.changes = changes;
  return op;
}
function topological(ops) {
  const byId = new Map(ops.map((o) => [o.id, o]));
  const pending = new Map(ops.map((o) => [o.id, new Set(o.dependsOn.filter((d) => byId.has(d)))]));
  const byName = (a, b) => compareStrings(a.name, b.name) || compareStrings(a.id, b.id);
  const out = [];
  while (pending.size > 0) {
    const ready = [...pending.entries()].filter(([, deps]) => deps.size === 0).map(([id]) => byId.get(id));
    const next = (ready.length > 0 ? ready : [...pending.keys()].map((id) => byId.get(id))).sort(byName)[0];
    out.push(next);
    pending.delete(next.id);
    for (const deps of pending.values()) deps.delete(next.id);
  }
  return out;
}
var MAX_FIELDS_IN_CAUSE, WORKSPACE_VERB_ORDER, PlanBuilder;
var init_plan = __esm({
  "src/plan/plan.ts"() {
    "use strict";
    init_hash();
    init_types();
    init_desired();
    init_diff();
    MAX_FIELDS_IN_CAUSE = 5;
    WORKSPACE_VERB_ORDER = [
      "delete-workspace",
      "stop-workspace",
      "recreate-workspace",
      "create-workspace",
      "start-workspace"
    ];
    PlanBuilder = class {
      /** `dependsOnOf(service)`: names of the services it dependsOn (desired). */
      constructor(dependsOnOf = () => []) {
        this.dependsOnOf = dependsOnOf;
      }
      dependsOnOf;
      workspaceOps = [];
      serviceOps = [];
      /** Workspaces whose current object goes away (deleted or recreated): their services with it. */
      gone = /* @__PURE__ */ new Set();
      workspace(type, place, cause, extra = {}) {
        const op = makeOp(type, "Workspace", place.workspace, place, cause, extra.changes);
        this.workspaceOps.push(op);
        return op;
      }
      /** The create/recreate/start/stop operation of a desired workspace, if any. */
      workspaceOp(name) {
        return this.workspaceOps.find((o) => o.name === name && o.type !== "delete-workspace");
      }
      service(type, name, place, cause, extra = {}) {
        const op = makeOp(type, "Service", name, place, cause, extra.changes);
        op.dependsOn.push(...extra.after ?? []);
        this.serviceOps.push(op);
        return op;
      }
      /**
       * Final order: workspace operations by node, deletions first (creates wait for them), then
       * name; then service operations in
       * dependency order (a service after the services it dependsOn), ties by name. Edges are added
       * here, once every operation is known.
       */
      ordered() {
        this.linkServiceDependencies();
        this.deletionsFirstPerNode();
        const workspaces = [...this.workspaceOps].sort(
          (a, b) => compareStrings(a.node, b.node) || Number(b.type === "delete-workspace") - Number(a.type === "delete-workspace") || compareStrings(a.name, b.name) || WORKSPACE_VERB_ORDER.indexOf(a.type) - WORKSPACE_VERB_ORDER.indexOf(b.type)
        );
        return [...workspaces, ...topological(this.serviceOps)];
      }
      /**
       * start/restart of S also waits for the start/restart of every service S dependsOn that has an
       * operation in this plan. The engine gates on health at run time; this only fixes the order.
       */
      linkServiceDependencies() {
        const starts = /* @__PURE__ */ new Map();
        for (const op of this.serviceOps) if (op.type === "start-service" || op.type === "restart-service") starts.set(op.name, op);
        for (const op of starts.values()) {
          const deps = this.dependsOnOf(op.name);
          for (const dep of [...deps].sort(compareStrings)) {
            const target = starts.get(dep);
            if (target && !op.dependsOn.includes(target.id)) op.dependsOn.push(target.id);
          }
        }
      }
      /**
       * A workspace removed from a node frees its name, ports and resources there: creates, recreates
       * and starts on that node wait for the node's deletions.
       */
      deletionsFirstPerNode() {
        const deletions = this.workspaceOps.filter((o) => o.type === "delete-workspace");
        for (const op of this.workspaceOps) {
          if (op.type !== "create-workspace" && op.type !== "recreate-workspace" && op.type !== "start-workspace") continue;
          for (const del of deletions) if (del.node === op.node) op.dependsOn.push(del.id);
        }
      }
    };
  }
});

// src/services/health.ts
import { request } from "node:http";
function withTimeout(work, ms, onTimeout) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => {
      onTimeout();
      reject(new HealthTimeout());
    }, ms);
  });
  return Promise.race([work, timeout]).finally(() => clearTimeout(timer));
}
function describeError(err) {
  const e = err;
  const text = [e?.code, e?.message, e?.cause?.message].filter(Boolean).join(" ");
  if (/ECONNREFUSED|refused/i.test(text)) return "connection refused";
  if (/EHOSTUNREACH|unreachable/i.test(text)) return "host unreachable";
  return e?.message ?? String(err);
}
async function execCheck(command, rt, timeoutMs) {
  const label = `exec ${JSON.stringify(command)}`;
  try {
    const res = await rt.exec(["/bin/sh", "-c", command], { timeoutMs, cwd: rt.workspaceDir });
    if (res.code === 0) return { ok: true, message: `${label} \u2192 exit 0` };
    const output = (res.stderr || res.stdout).trim().split("\n").slice(-3).join(" ");
    return { ok: false, message: `${label} \u2192 exit ${res.code}${output ? `: ${output}` : ""}` };
  } catch (err) {
    return { ok: false, message: `${label}: ${describeError(err)}` };
  }
}
async function connect(transport, host, port, timeoutMs) {
  let abandoned = false;
  const pending = transport.connectTcp(host, port);
  pending.then((s) => abandoned && s.destroy(), () => {
  });
  return withTimeout(pending, timeoutMs, () => {
    abandoned = true;
  });
}
async function tcpCheck(host, port, transport, timeoutMs) {
  const label = `tcp ${host}:${port}`;
  try {
    const socket = await connect(transport, host, port, timeoutMs);
    socket.destroy();
    return { ok: true, message: `${label}: connected` };
  } catch (err) {
    if (err instanceof HealthTimeout) return { ok: false, message: `${label}: no connection after ${timeoutMs}ms` };
    return { ok: false, message: `${label}: ${describeError(err)}` };
  }
}
async function httpCheck(host, port, path4, transport, timeoutMs) {
  const authority = `${host.includes(":") ? `[${host}]` : host}:${port}`;
  const url = `http://${authority}${path4}`;
  const started = Date.now();
  let socket;
  try {
    socket = await connect(transport, host, port, timeoutMs);
    const stream = socket;
    const status = await withTimeout(
      new Promise((resolve3, reject) => {
        const req = request(
          {
            host,
            port,
            path: path4,
            method: "GET",
            headers: { Host: authority, Connection: "close", "User-Agent": "vendetta-healthcheck" },
            // Our own stream (an SSH channel on remote nodes) instead of a socket node opens.
            createConnection: () => stream
          },
          (res) => {
            res.resume();
            resolve3(res.statusCode ?? 0);
          }
        );
        req.on("error", reject);
        req.end();
      }),
      Math.max(1, timeoutMs - (Date.now() - started)),
      () => stream.destroy()
    );
    const ok = status >= 200 && status < 400;
    return { ok, message: `${url} \u2192 ${status}` };
  } catch (err) {
    if (err instanceof HealthTimeout) return { ok: false, message: `${url}: no response after ${timeoutMs}ms` };
    return { ok: false, message: `${url}: ${describeError(err)}` };
  } finally {
    socket?.destroy();
  }
}
async function checkHealth(hc2, rt, transport, timeoutMs) {
  if (hc2.exec) return execCheck(hc2.exec.command, rt, timeoutMs);
  if (hc2.tcp) return tcpCheck(rt.address, hc2.tcp.port, transport, timeoutMs);
  if (hc2.http) {
    const path4 = hc2.http.path ?? "/";
    return httpCheck(rt.address, hc2.http.port, path4.startsWith("/") ? path4 : `/${path4}`, transport, timeoutMs);
  }
  return { ok: true, message: "no health check configured" };
}
var HealthTimeout;
var init_health = __esm({
  "src/services/health.ts"() {
    "use strict";
    HealthTimeout = class extends Error {
    };
  }
});

// src/transport/quote.ts
function quoteArg(s) {
  if (s.includes("\0")) {
    throw new Error(`cannot pass an argument containing a NUL byte to a shell: ${JSON.stringify(s.slice(0, 40))}`);
  }
  if (s === "") return "''";
  if (SAFE.test(s)) return s;
  return `'${s.replace(/'/g, `'\\''`)}'`;
}
function shellQuote(argv) {
  return argv.map(quoteArg).join(" ");
}
var SAFE;
var init_quote = __esm({
  "src/transport/quote.ts"() {
    "use strict";
    SAFE = /^[A-Za-z0-9_@%+=:,./-]+$/;
  }
});

// src/services/supervisor.ts
function assertServiceName(name) {
  if (!NAME.test(name)) {
    throw new Error(`invalid service name ${JSON.stringify(name)}: use a DNS-1123 label (lowercase letters, digits, '-')`);
  }
}
function script(body) {
  return `${SERVICE_SHELL_LIB}
${body}`;
}
function serviceDir(stateDir, name) {
  assertServiceName(name);
  return `${stateDir}/services/${name}`;
}
function renderEnvFile(env) {
  return Object.entries(env).map(([k, v]) => {
    if (!ENV_KEY.test(k)) {
      throw new Error(`invalid environment variable name ${JSON.stringify(k)}: use letters, digits and '_', not starting with a digit`);
    }
    return `export ${k}=${quoteArg(v)}
`;
  }).join("");
}
function installServiceArgv(stateDir, name, files) {
  assertServiceName(name);
  const body = `set -e
d="$1/services/$2"
mkdir -p "$d"
printf '%s' "$3" > "$1/.supervisor.sh.tmp"
mv -f "$1/.supervisor.sh.tmp" "$1/supervisor.sh"
printf '%s' "$4" > "$d/command"
printf '%s' "$5" > "$d/workdir"
printf '%s' "$6" > "$d/restart"
printf '%s' "$7" > "$d/hash"
(umask 077; cat > "$d/.env.tmp")
mv -f "$d/.env.tmp" "$d/env"`;
  return ["/bin/sh", "-c", body, "sh", stateDir, name, SUPERVISOR_SCRIPT, files.command, files.workdir, files.restart, files.hash];
}
function startServiceArgv(stateDir, name) {
  const dir = serviceDir(stateDir, name);
  const body = `d=$1
if [ ! -f "$d/command" ]; then echo "service $2 is not installed in $d" >&2; exit 1; fi
stop_service "$d"
rm -f "$d/supervisor.pid" "$d/state" "$d/pid" "$d/exit" "$d/started"
if command -v setsid >/dev/null 2>&1; then
  setsid /bin/sh "$3/supervisor.sh" "$d" </dev/null >>"$d/log" 2>&1 &
else
  nohup /bin/sh "$3/supervisor.sh" "$d" </dev/null >>"$d/log" 2>&1 &
fi
i=0
while [ ! -s "$d/supervisor.pid" ] && [ "$i" -lt 50 ]; do nap; i=$((i + 1)); done
if [ ! -s "$d/supervisor.pid" ]; then echo "supervisor for service $2 did not start; see $d/log" >&2; exit 1; fi`;
  return ["/bin/sh", "-c", script(body), "sh", dir, name, stateDir];
}
function stopServiceArgv(stateDir, name) {
  return ["/bin/sh", "-c", script('stop_service "$1"'), "sh", serviceDir(stateDir, name)];
}
function stopAllServicesArgv(stateDir) {
  const body = `for d in "$1"/services/*/; do [ -d "$d" ] && stop_service "\${d%/}"; done; exit 0`;
  return ["/bin/sh", "-c", script(body), "sh", stateDir];
}
function removeServiceArgv(stateDir, name) {
  return ["/bin/sh", "-c", script('stop_service "$1"; rm -rf "$1"'), "sh", serviceDir(stateDir, name)];
}
function serviceStatusArgv(stateDir) {
  return ["/bin/sh", "-c", script('service_status "$1"'), "sh", stateDir];
}
function serviceLogsArgv(stateDir, name, tail, follow) {
  const log2 = `${serviceDir(stateDir, name)}/log`;
  const lines = String(Math.max(0, Math.floor(tail)));
  return follow ? ["tail", "-n", lines, "-f", log2] : ["tail", "-n", lines, log2];
}
function toInt(s) {
  if (s === void 0 || !/^-?\d+$/.test(s)) return void 0;
  return Number(s);
}
function observedState(state, supervisorAlive) {
  if (state === "stopped" || state === "exited") return state;
  if (state !== void 0 && RUN_STATES.has(state)) return supervisorAlive ? state : "exited";
  return supervisorAlive ? "running" : "stopped";
}
function parseServiceStatus(text) {
  const records = [];
  for (const line of text.split("\n")) {
    const tab = line.indexOf("	");
    if (tab < 0) continue;
    const key = line.slice(0, tab);
    const value = line.slice(tab + 1);
    if (key === "service") records.push({ service: value });
    else if (records.length > 0 && value !== "") records[records.length - 1][key] = value;
  }
  return records.map((r2) => {
    const state = observedState(r2.state, r2.alive === "1");
    const svc = {
      name: r2.service,
      specHash: r2.hash ?? "",
      state,
      restarts: toInt(r2.restarts) ?? 0
    };
    const pid = toInt(r2.pid);
    if (pid !== void 0 && state === "running") svc.pid = pid;
    const exitCode3 = toInt(r2.exit);
    if (exitCode3 !== void 0 && state !== "running") svc.exitCode = exitCode3;
    if (r2.started) svc.startedAt = r2.started;
    return svc;
  });
}
var NAME, ENV_KEY, PROC_LIB, SUPERVISOR_SCRIPT, SERVICE_SHELL_LIB, RUN_STATES;
var init_supervisor = __esm({
  "src/services/supervisor.ts"() {
    "use strict";
    init_quote();
    NAME = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
    ENV_KEY = /^[A-Za-z_][A-Za-z0-9_]*$/;
    PROC_LIB = String.raw`nap() { sleep 0.1 2>/dev/null || sleep 1; }
alive() {
  [ -n "$1" ] && kill -0 "$1" 2>/dev/null || return 1
  [ -r "/proc/$1/stat" ] || return 0
  case $(cat "/proc/$1/stat" 2>/dev/null) in *") Z "*) return 1 ;; esac
  return 0
}
group_alive() {
  pg=$1
  kill -0 "-$pg" 2>/dev/null || return 1
  [ -d /proc/self ] || return 0
  for f in /proc/[0-9]*/stat; do
    { read -r s < "$f"; } 2>/dev/null || continue
    set -- \${s##*) }
    if [ "$3" = "$pg" ] && [ "$1" != Z ]; then return 0; fi
  done
  return 1
}
`.replace(/\\\$\{/g, "${");
    SUPERVISOR_SCRIPT = `#!/bin/sh
# vendetta service supervisor: runs one service, restarts it per policy, records state in files.
${PROC_LIB}` + String.raw`
cd "$1" || exit 1
dir=$(pwd)
child=''
grp=''
sleeper=''
stopping=0
code=''

put() { printf '%s\n' "$2" > "$dir/.$1.tmp" && mv -f "$dir/.$1.tmp" "$dir/$1"; }
say() { printf 'vendetta-supervisor: %s\n' "$*" >> "$dir/log"; }
child_alive() { if [ "$grp" = "-$child" ]; then group_alive "$child"; else alive "$child"; fi; }

# The service itself: cd, load env, hand the command text to a fresh shell.
run='cd "$(cat "$1/workdir")" || exit 127
. "$1/env" || exit 127
exec /bin/sh -c "$(cat "$1/command")"'

start_child() {
  if command -v setsid >/dev/null 2>&1; then
    setsid /bin/sh -c "$run" sh "$dir" </dev/null >>"$dir/log" 2>&1 &
    child=$!
    grp="-$child"
  else
    /bin/sh -c "$run" sh "$dir" </dev/null >>"$dir/log" 2>&1 &
    child=$!
    grp=$child
  fi
}

on_term() {
  stopping=1
  if [ -n "$sleeper" ]; then kill "$sleeper" 2>/dev/null; fi
  if [ -n "$child" ]; then kill -TERM $grp 2>/dev/null; fi
}
trap on_term TERM INT

put supervisor.pid "$$"
put restarts 0
restarts=0
delay=1
while [ "$stopping" = 0 ]; do
  start_child
  # A stop that arrived while forking found no child to signal.
  if [ "$stopping" = 1 ]; then kill -TERM $grp 2>/dev/null; break; fi
  put pid "$child"
  put started "$(date -u +%Y-%m-%dT%H:%M:%SZ)"
  put state running
  t0=$(date +%s)
  wait "$child"; code=$?
  # A trapped signal interrupts wait: unless stopping, wait again until the child is really gone.
  while [ "$stopping" = 0 ] && kill -0 "$child" 2>/dev/null; do wait "$child"; code=$?; done
  if [ "$stopping" = 1 ]; then break; fi
  # The main process is gone but its group may not be (e.g. the "sh -c" wrapper was killed and
  # the real server lives on, holding its port): take the whole group down before restarting.
  if [ "$grp" = "-$child" ] && group_alive "$child"; then
    kill -TERM "$grp" 2>/dev/null
    i=0
    while group_alive "$child" && [ "$i" -lt 50 ]; do nap; i=$((i + 1)); done
    if group_alive "$child"; then kill -KILL "$grp" 2>/dev/null; fi
  fi
  child=''
  put exit "$code"
  ran=$(( $(date +%s) - t0 ))
  policy=$(cat "$dir/restart" 2>/dev/null)
  if [ "$policy" = never ] || { [ "$policy" = on-failure ] && [ "$code" = 0 ]; }; then
    say "exited with code $code; restart policy $policy: not restarting"
    put state exited
    exit 0
  fi
  # A child that ran a while was healthy: start over from the shortest backoff.
  if [ "$ran" -ge 10 ]; then delay=1; fi
  say "exited with code $code; restarting in $delay s"
  put state backoff
  sleep "$delay" & sleeper=$!
  if [ "$stopping" = 1 ]; then kill "$sleeper" 2>/dev/null; fi
  wait "$sleeper"
  sleeper=''
  delay=$((delay * 2))
  if [ "$delay" -gt 30 ]; then delay=30; fi
  if [ "$stopping" = 1 ]; then break; fi
  restarts=$((restarts + 1))
  put restarts "$restarts"
done

# Stopping: give the child's group a grace period after TERM, then KILL what is left.
if [ -n "$child" ]; then
  i=0
  while child_alive && [ "$i" -lt 50 ]; do nap; i=$((i + 1)); done
  if child_alive; then kill -KILL $grp 2>/dev/null; fi
  wait "$child" 2>/dev/null
  put exit "$?"
fi
say "stopped"
put state stopped
exit 0
`;
    SERVICE_SHELL_LIB = PROC_LIB + String.raw`stop_service() {
  sp=$(cat "$1/supervisor.pid" 2>/dev/null)
  if alive "$sp"; then
    kill -TERM "$sp" 2>/dev/null
    i=0
    while alive "$sp" && [ "$i" -lt 100 ]; do nap; i=$((i + 1)); done
    if alive "$sp"; then
      # The supervisor did not finish in time: take its child group down with it.
      kill -KILL "$sp" 2>/dev/null
      cp=$(cat "$1/pid" 2>/dev/null)
      if [ -n "$cp" ]; then kill -KILL "-$cp" 2>/dev/null || kill -KILL "$cp" 2>/dev/null; fi
    fi
  fi
  if [ -d "$1" ]; then printf 'stopped\n' > "$1/state"; fi
}
service_status() {
  for d in "$1"/services/*/; do
    [ -f "$d/command" ] || continue
    n=\${d%/}
    printf 'service\t%s\n' "\${n##*/}"
    for f in hash state pid exit restarts started; do
      printf '%s\t%s\n' "$f" "$(cat "$d$f" 2>/dev/null)"
    done
    if alive "$(cat "$d/supervisor.pid" 2>/dev/null)"; then printf 'alive\t1\n'; else printf 'alive\t0\n'; fi
  done
}
`.replace(/\\\$\{/g, "${");
    RUN_STATES = /* @__PURE__ */ new Set(["running", "backoff"]);
  }
});

// src/services/manager.ts
async function readServiceStatus(exec, stateDir, where) {
  const result = await exec(serviceStatusArgv(stateDir));
  if (result.code !== 0) {
    throw new Error(`reading service status in ${where} failed (exit ${result.code}): ${result.stderr.trim() || result.stdout.trim()}`);
  }
  return parseServiceStatus(result.stdout);
}
function createServiceManager(rt) {
  async function run(what, argv, opts2) {
    const res = await rt.exec(argv, opts2);
    if (res.code !== 0) {
      const detail = (res.stderr || res.stdout).trim() || `exit code ${res.code}`;
      throw new Error(`${what} failed in ${rt.stateDir}: ${detail}`);
    }
    return res;
  }
  return {
    async start(svc) {
      const name = svc.resource.metadata.name;
      const files = {
        command: svc.resource.spec.command,
        workdir: svc.workdir,
        restart: svc.resource.spec.restart ?? "always",
        hash: svc.specHash
      };
      await run(`installing service ${name}`, installServiceArgv(rt.stateDir, name, files), {
        stdin: renderEnvFile(svc.env)
      });
      await run(`starting service ${name}`, startServiceArgv(rt.stateDir, name));
    },
    async stop(name) {
      await run(`stopping service ${name}`, stopServiceArgv(rt.stateDir, name));
    },
    async remove(name) {
      await run(`removing service ${name}`, removeServiceArgv(rt.stateDir, name));
    },
    async observe() {
      const res = await run("reading service status", serviceStatusArgv(rt.stateDir));
      return parseServiceStatus(res.stdout);
    },
    async logs(name, opts2) {
      const res = await rt.exec(serviceLogsArgv(rt.stateDir, name, opts2?.tail ?? DEFAULT_TAIL, false));
      return res.code === 0 ? res.stdout : "";
    },
    followLogs(name, opts2) {
      return rt.spawn(serviceLogsArgv(rt.stateDir, name, opts2?.tail ?? DEFAULT_TAIL, true));
    }
  };
}
var DEFAULT_TAIL;
var init_manager = __esm({
  "src/services/manager.ts"() {
    "use strict";
    init_supervisor();
    init_supervisor();
    DEFAULT_TAIL = 100;
  }
});

// src/providers/types.ts
var ProviderError;
var init_types2 = __esm({
  "src/providers/types.ts"() {
    "use strict";
    ProviderError = class extends Error {
      constructor(message, hint, permanent = false, options) {
        super(message, options);
        this.hint = hint;
        this.permanent = permanent;
        this.name = "ProviderError";
      }
      hint;
      permanent;
    };
  }
});

// src/transport/types.ts
var TransportError, HostKeyMismatchError;
var init_types3 = __esm({
  "src/transport/types.ts"() {
    "use strict";
    TransportError = class extends Error {
      constructor(node, message, hint, options) {
        super(message, options);
        this.node = node;
        this.hint = hint;
        this.name = "TransportError";
      }
      node;
      hint;
    };
    HostKeyMismatchError = class extends TransportError {
      constructor(node, expectedFingerprint, presentedFingerprint, hint) {
        super(
          node,
          `host key for node ${node} changed: expected ${expectedFingerprint}, presented ${presentedFingerprint}`,
          hint
        );
        this.expectedFingerprint = expectedFingerprint;
        this.presentedFingerprint = presentedFingerprint;
        this.name = "HostKeyMismatchError";
      }
      expectedFingerprint;
      presentedFingerprint;
    };
  }
});

// src/reconcile/retry.ts
function backoffMs(attempt, policy = DEFAULT_RETRY) {
  return Math.min(policy.capMs, policy.baseMs * 2 ** Math.max(0, attempt - 1));
}
function isTerminal(err) {
  return err instanceof TerminalError || err instanceof HostKeyMismatchError || err instanceof ProviderError && err.permanent;
}
function errorMessage(err) {
  return err instanceof Error ? err.message : String(err);
}
var DEFAULT_RETRY, TerminalError;
var init_retry = __esm({
  "src/reconcile/retry.ts"() {
    "use strict";
    init_types3();
    init_types2();
    DEFAULT_RETRY = { maxAttempts: 5, baseMs: 500, capMs: 8e3 };
    TerminalError = class extends Error {
      constructor(message, hint) {
        super(message);
        this.hint = hint;
        this.name = "TerminalError";
      }
      hint;
    };
  }
});

// src/reconcile/service-machine.ts
import { assign, emit, enqueueActions, fromPromise, setup } from "xstate";
function dependencySatisfied(dep, state) {
  return SATISFIES[dep.condition].includes(state);
}
function describeCondition(condition2) {
  return condition2 === "started" ? "started" : condition2 === "healthy" ? "healthy" : "completed successfully";
}
function unmetDependencies(context) {
  return context.dependsOn.filter((d) => !dependencySatisfied(d, context.dependencies[d.service]?.state ?? "pending"));
}
function failedDependency(context) {
  return context.dependsOn.find((d) => {
    const state = context.dependencies[d.service]?.state ?? "pending";
    return state === "failed" || state === "completed" && d.condition === "healthy";
  });
}
var SATISFIES, serviceMachine;
var init_service_machine = __esm({
  "src/reconcile/service-machine.ts"() {
    "use strict";
    init_retry();
    SATISFIES = {
      started: ["started", "healthy", "completed"],
      healthy: ["healthy"],
      completed: ["completed"]
    };
    serviceMachine = setup({
      types: {
        context: {},
        input: {},
        events: {},
        emitted: {}
      },
      actors: {
        operate: fromPromise(async () => {
          throw new Error("service machine: the operate actor was not provided");
        }),
        observe: fromPromise(async () => {
          throw new Error("service machine: the observe actor was not provided");
        }),
        probe: fromPromise(async () => {
          throw new Error("service machine: the probe actor was not provided");
        })
      },
      guards: {
        targetRunning: ({ context }) => context.target === "running",
        targetStopped: ({ context }) => context.target === "stopped",
        hasOperation: ({ context }) => context.operation !== void 0,
        workspaceReady: ({ context }) => context.workspaceReady,
        dependencyFailed: ({ context }) => failedDependency(context) !== void 0,
        dependenciesMet: ({ context }) => unmetDependencies(context).length === 0,
        hasHealthcheck: ({ context }) => context.health !== void 0,
        canRetry: ({ context }, params) => !isTerminal(params.error) && context.attempts + 1 < context.retry.maxAttempts,
        exitedZero: ({ context }) => context.observed?.state === "exited" && context.observed.exitCode === 0,
        exitedNonZero: ({ context }) => context.observed?.state === "exited",
        runningStable: ({ context }) => context.runningStreak >= context.stableObservations,
        pollsExhausted: ({ context }) => context.polls >= context.maxPolls,
        healthOk: (_, params) => params.result.ok,
        inStartPeriod: ({ context }) => Date.now() - context.probeStartedAt < (context.health?.startPeriodMs ?? 0),
        retriesExhausted: ({ context }) => context.healthFailures + 1 >= (context.health?.retries ?? 1)
      },
      delays: {
        backoff: ({ context }) => backoffMs(context.attempts, context.retry),
        poll: ({ context }) => context.pollMs,
        healthInterval: ({ context }) => context.health?.intervalMs ?? 1e3
      },
      actions: {
        resetAttempts: assign({ attempts: 0 }),
        noteRetry: assign(({ context }, params) => ({
          attempts: context.attempts + 1,
          reason: errorMessage(params.error)
        })),
        emitRetrying: emit(({ context }, params) => ({
          type: "retrying",
          step: params.step,
          attempt: context.attempts,
          delayMs: backoffMs(context.attempts, context.retry),
          error: context.reason ?? ""
        })),
        failStep: assign(({ context }, params) => ({
          reason: isTerminal(params.error) ? `${params.step} failed: ${errorMessage(params.error)}` : `${params.step} failed after ${context.attempts + 1} attempt${context.attempts ? "s" : ""}: ${errorMessage(params.error)}`
        })),
        setReason: assign((_, params) => ({ reason: params.reason })),
        markWorkspaceReady: assign({ workspaceReady: true }),
        noteDependency: enqueueActions(({ context, event, enqueue }) => {
          if (event.type !== "DEPENDENCY_CHANGED") return;
          const before = context.dependencies[event.service]?.state ?? "pending";
          enqueue.assign({
            dependencies: { ...context.dependencies, [event.service]: { state: event.state, reason: event.reason } }
          });
          for (const dep of context.dependsOn) {
            if (dep.service === event.service && !dependencySatisfied(dep, before) && dependencySatisfied(dep, event.state)) {
              enqueue.emit({ type: "dependencyReady", dependency: dep });
            }
          }
        }),
        emitWaiting: enqueueActions(({ context, enqueue }) => {
          const unmet = unmetDependencies(context);
          if (unmet.length > 0 && failedDependency(context) === void 0) enqueue.emit({ type: "waitingForDependencies", unmet });
        }),
        failDependency: assign(({ context }) => {
          const dep = failedDependency(context);
          const info = context.dependencies[dep.service];
          const why = info?.state === "completed" ? "exited before becoming healthy" : info?.reason ?? "failed";
          return { reason: `dependency ${dep.service} cannot become ${describeCondition(dep.condition)}: ${why}` };
        }),
        emitOperated: emit(({ context }) => ({ type: "operated", operation: context.operation })),
        startConfirming: assign({ polls: 0, runningStreak: 0, observed: void 0, attempts: 0 }),
        recordObservation: assign(({ context }, params) => {
          const stillSameRun = params.observed?.state === "running" && (context.observed === void 0 || context.observed.state !== "running" || context.observed.restarts === params.observed.restarts);
          return {
            polls: context.polls + 1,
            observed: params.observed,
            runningStreak: params.observed?.state === "running" ? stillSameRun ? context.runningStreak + 1 : 1 : 0,
            attempts: 0
          };
        }),
        emitStarted: emit(({ context }) => ({ type: "started", observed: context.observed })),
        failExited: assign(({ context }) => ({ reason: `exited with code ${context.observed?.exitCode ?? "unknown"}` })),
        failNotRunning: assign(({ context }) => {
          const o = context.observed;
          const detail = !o ? "no supervisor state found" : o.state === "backoff" ? `restarting after exit code ${o.exitCode ?? "unknown"} (${o.restarts} restarts)` : o.state === "running" ? `kept restarting (${o.restarts} restarts)` : `state ${o.state}`;
          return { reason: `did not stay running: ${detail}` };
        }),
        startProbing: assign({ probeStartedAt: () => Date.now(), healthFailures: 0, lastHealth: void 0 }),
        noteHealth: assign((_, params) => ({ lastHealth: params.result })),
        countHealthFailure: assign(({ context }) => ({ healthFailures: context.healthFailures + 1 })),
        emitHealthy: emit(({ context }) => ({ type: "healthy", message: context.lastHealth?.message ?? "" })),
        emitUnhealthy: emit(({ context }, params) => ({
          type: "unhealthy",
          message: context.lastHealth?.message ?? "",
          failures: context.healthFailures,
          counted: params.counted
        })),
        failUnhealthy: assign(({ context }) => ({
          reason: `unhealthy after ${context.healthFailures} consecutive failed checks: ${context.lastHealth?.message ?? "no result"}`
        }))
      }
    }).createMachine({
      id: "service",
      context: ({ input }) => ({
        name: input.name,
        operation: input.operation,
        target: input.target,
        dependsOn: input.dependsOn ?? [],
        dependencies: {},
        health: input.health,
        workspaceReady: input.workspaceReady ?? false,
        retry: { ...DEFAULT_RETRY, ...input.retry },
        pollMs: input.pollMs ?? 250,
        stableObservations: input.stableObservations ?? 2,
        maxPolls: input.maxPolls ?? 40,
        attempts: 0,
        polls: 0,
        runningStreak: 0,
        probeStartedAt: 0,
        healthFailures: 0
      }),
      initial: "pending",
      // Dependencies can change at any time; only waitingDependencies acts on them.
      on: { DEPENDENCY_CHANGED: { actions: "noteDependency" } },
      states: {
        pending: {
          always: [
            { guard: "targetRunning", target: "waitingWorkspace" },
            { guard: "hasOperation", target: "operating" },
            { guard: "targetStopped", target: "stopped" },
            { target: "deleted" }
          ]
        },
        waitingWorkspace: {
          always: { guard: "workspaceReady", target: "workspaceReady" },
          on: {
            WORKSPACE_READY: { target: "workspaceReady", actions: "markWorkspaceReady" },
            WORKSPACE_FAILED: {
              target: "failed",
              actions: { type: "setReason", params: ({ event }) => ({ reason: `workspace not ready: ${event.reason}` }) }
            }
          }
        },
        // dependsOn gates starting: a service this pass does not start or restart has nothing to wait for.
        workspaceReady: {
          always: [{ guard: "hasOperation", target: "waitingDependencies" }, { target: "confirmingRunning" }]
        },
        waitingDependencies: {
          entry: "emitWaiting",
          always: [
            { guard: "dependencyFailed", target: "failed", actions: "failDependency" },
            { guard: "dependenciesMet", target: "operating" }
          ]
        },
        operating: {
          invoke: {
            src: "operate",
            input: ({ context }) => ({ name: context.name, operation: context.operation }),
            onDone: [
              { guard: "targetRunning", target: "confirmingRunning", actions: ["emitOperated", "resetAttempts"] },
              { guard: "targetStopped", target: "stopped", actions: "emitOperated" },
              { target: "deleted", actions: "emitOperated" }
            ],
            onError: [
              {
                guard: { type: "canRetry", params: ({ event }) => ({ error: event.error }) },
                target: "operateBackoff",
                actions: [
                  { type: "noteRetry", params: ({ event }) => ({ error: event.error }) },
                  { type: "emitRetrying", params: ({ context }) => ({ step: context.operation }) }
                ]
              },
              {
                target: "failed",
                actions: { type: "failStep", params: ({ context, event }) => ({ step: context.operation, error: event.error }) }
              }
            ]
          }
        },
        operateBackoff: { after: { backoff: "operating" } },
        // A process that exits right after starting is not "started": watch it for a moment.
        confirmingRunning: {
          entry: "startConfirming",
          initial: "observing",
          states: {
            observing: {
              invoke: {
                src: "observe",
                input: ({ context }) => ({ name: context.name }),
                onDone: { target: "deciding", actions: { type: "recordObservation", params: ({ event }) => ({ observed: event.output }) } },
                onError: [
                  {
                    guard: { type: "canRetry", params: ({ event }) => ({ error: event.error }) },
                    target: "observeBackoff",
                    actions: [
                      { type: "noteRetry", params: ({ event }) => ({ error: event.error }) },
                      { type: "emitRetrying", params: { step: "observe" } }
                    ]
                  },
                  {
                    target: "#service.failed",
                    actions: { type: "failStep", params: ({ event }) => ({ step: "observing the service", error: event.error }) }
                  }
                ]
              }
            },
            observeBackoff: { after: { backoff: "observing" } },
            deciding: {
              always: [
                { guard: "exitedZero", target: "#service.completed" },
                { guard: "exitedNonZero", target: "#service.failed", actions: "failExited" },
                { guard: "runningStable", target: "#service.started", actions: "emitStarted" },
                { guard: "pollsExhausted", target: "#service.failed", actions: "failNotRunning" },
                { target: "waiting" }
              ]
            },
            waiting: { after: { poll: "observing" } }
          }
        },
        started: {
          always: [{ guard: "hasHealthcheck", target: "waitingHealthy" }, { target: "ready" }]
        },
        waitingHealthy: {
          entry: "startProbing",
          initial: "probing",
          states: {
            probing: {
              invoke: {
                src: "probe",
                input: ({ context }) => ({ name: context.name }),
                onDone: [
                  {
                    guard: { type: "healthOk", params: ({ event }) => ({ result: event.output }) },
                    target: "#service.ready",
                    actions: [{ type: "noteHealth", params: ({ event }) => ({ result: event.output }) }, "emitHealthy"]
                  },
                  {
                    target: "judging",
                    actions: { type: "noteHealth", params: ({ event }) => ({ result: event.output }) }
                  }
                ],
                // A probe that throws is a failed check, not a crash of the machine.
                onError: {
                  target: "judging",
                  actions: {
                    type: "noteHealth",
                    params: ({ event }) => ({ result: { ok: false, message: errorMessage(event.error) } })
                  }
                }
              }
            },
            judging: {
              always: [
                { guard: "inStartPeriod", target: "waiting", actions: { type: "emitUnhealthy", params: { counted: false } } },
                {
                  guard: "retriesExhausted",
                  target: "#service.failed",
                  actions: ["countHealthFailure", { type: "emitUnhealthy", params: { counted: true } }, "failUnhealthy"]
                },
                { target: "waiting", actions: ["countHealthFailure", { type: "emitUnhealthy", params: { counted: true } }] }
              ]
            },
            waiting: { after: { healthInterval: "probing" } }
          }
        },
        ready: { type: "final" },
        completed: { type: "final" },
        stopped: { type: "final" },
        deleted: { type: "final" },
        failed: { type: "final" }
      }
    });
  }
});

// src/reconcile/status.ts
function condition(type, ok, reason, message, now) {
  return { type, status: ok === "Unknown" ? "Unknown" : ok ? "True" : "False", reason, message, lastTransitionTime: now };
}
function carryTransitionTimes(next, previous) {
  if (!previous) return next;
  return {
    ...next,
    conditions: next.conditions.map((c) => {
      const old = previous.conditions.find((p) => p.type === c.type);
      return old && old.status === c.status ? { ...c, lastTransitionTime: old.lastTransitionTime } : c;
    })
  };
}
function topState(value) {
  return typeof value === "string" ? value : Object.keys(value)[0];
}
function workspacePhase(state, operation) {
  switch (state) {
    case "pending":
      return "Pending";
    case "operating":
    case "operateBackoff":
      return operation ? OPERATION_PHASE[operation] : "Pending";
    case "verifying":
    case "verifyBackoff":
      return "Starting";
    case "ready":
      return "Ready";
    case "stopped":
      return "Stopped";
    case "deleted":
      return "Deleting";
    default:
      return "Failed";
  }
}
function servicePhase(state, operation) {
  switch (state) {
    case "pending":
    case "waitingWorkspace":
    case "workspaceReady":
      return "Pending";
    case "waitingDependencies":
      return "WaitingDependencies";
    case "operating":
    case "operateBackoff":
      return operation ? OPERATION_PHASE[operation] : "Pending";
    case "confirmingRunning":
    case "started":
      return "Starting";
    case "waitingHealthy":
      return "WaitingHealthy";
    case "ready":
      return "Ready";
    case "completed":
      return "Completed";
    case "stopped":
      return "Stopped";
    case "deleted":
      return "Deleting";
    default:
      return "Failed";
  }
}
function settledOk(phase) {
  return phase === "Ready" || phase === "Completed" || phase === "Stopped";
}
function httpEndpoint(address, port) {
  const host = address.includes(":") && !address.startsWith("[") ? `[${address}]` : address;
  return `http://${host}:${port}`;
}
function publishedHost(bindIp, nodeAddress) {
  if (bindIp && bindIp !== "0.0.0.0" && bindIp !== "::") return bindIp;
  return nodeAddress === "local" ? "127.0.0.1" : nodeAddress;
}
function failureSignature(failures) {
  return failures.map((f) => `${f.resource}\0${f.reason}`).sort().join("\n");
}
var OPERATION_PHASE;
var init_status = __esm({
  "src/reconcile/status.ts"() {
    "use strict";
    OPERATION_PHASE = {
      create: "Creating",
      recreate: "Creating",
      start: "Starting",
      restart: "Starting",
      stop: "Stopping",
      delete: "Deleting"
    };
  }
});

// src/reconcile/workspace-machine.ts
import { assign as assign2, emit as emit2, fromPromise as fromPromise2, setup as setup2 } from "xstate";
var workspaceMachine;
var init_workspace_machine = __esm({
  "src/reconcile/workspace-machine.ts"() {
    "use strict";
    init_retry();
    workspaceMachine = setup2({
      types: {
        context: {},
        input: {},
        emitted: {}
      },
      actors: {
        operate: fromPromise2(async () => {
          throw new Error("workspace machine: the operate actor was not provided");
        }),
        verify: fromPromise2(async () => {
          throw new Error("workspace machine: the verify actor was not provided");
        })
      },
      guards: {
        hasOperation: ({ context }) => context.operation !== void 0,
        targetRunning: ({ context }) => context.target === "running",
        targetStopped: ({ context }) => context.target === "stopped",
        canRetry: ({ context }, params) => !isTerminal(params.error) && context.attempts + 1 < context.retry.maxAttempts
      },
      delays: {
        backoff: ({ context }) => backoffMs(context.attempts, context.retry)
      },
      actions: {
        resetAttempts: assign2({ attempts: 0, reason: void 0 }),
        noteRetry: assign2(({ context }, params) => ({
          attempts: context.attempts + 1,
          reason: errorMessage(params.error)
        })),
        emitRetrying: emit2(({ context }, params) => ({
          type: "retrying",
          step: params.step,
          attempt: context.attempts,
          delayMs: backoffMs(context.attempts, context.retry),
          error: context.reason ?? ""
        })),
        fail: assign2(({ context }, params) => ({
          attempts: context.attempts + 1,
          reason: isTerminal(params.error) ? `${params.step} failed: ${errorMessage(params.error)}` : `${params.step} failed after ${context.attempts + 1} attempt${context.attempts ? "s" : ""}: ${errorMessage(params.error)}`
        })),
        emitOperated: emit2(({ context }) => ({ type: "operated", operation: context.operation }))
      }
    }).createMachine({
      id: "workspace",
      context: ({ input }) => ({
        name: input.name,
        operation: input.operation,
        target: input.target,
        retry: { ...DEFAULT_RETRY, ...input.retry },
        attempts: 0
      }),
      initial: "pending",
      states: {
        pending: {
          always: [
            { guard: "hasOperation", target: "operating" },
            { guard: "targetRunning", target: "verifying" },
            { guard: "targetStopped", target: "stopped" },
            { target: "deleted" }
          ]
        },
        operating: {
          invoke: {
            src: "operate",
            input: ({ context }) => ({ name: context.name, operation: context.operation }),
            onDone: [
              { guard: "targetRunning", target: "verifying", actions: ["emitOperated", "resetAttempts"] },
              { guard: "targetStopped", target: "stopped", actions: "emitOperated" },
              { target: "deleted", actions: "emitOperated" }
            ],
            onError: [
              {
                guard: { type: "canRetry", params: ({ event }) => ({ error: event.error }) },
                target: "operateBackoff",
                actions: [
                  { type: "noteRetry", params: ({ event }) => ({ error: event.error }) },
                  { type: "emitRetrying", params: { step: "operate" } }
                ]
              },
              {
                target: "failed",
                actions: { type: "fail", params: ({ context, event }) => ({ step: context.operation, error: event.error }) }
              }
            ]
          }
        },
        operateBackoff: { after: { backoff: "operating" } },
        verifying: {
          invoke: {
            src: "verify",
            input: ({ context }) => ({ name: context.name }),
            onDone: { target: "ready", actions: "resetAttempts" },
            onError: [
              {
                guard: { type: "canRetry", params: ({ event }) => ({ error: event.error }) },
                target: "verifyBackoff",
                actions: [
                  { type: "noteRetry", params: ({ event }) => ({ error: event.error }) },
                  { type: "emitRetrying", params: { step: "verify" } }
                ]
              },
              {
                target: "failed",
                actions: { type: "fail", params: ({ event }) => ({ step: "reaching the workspace", error: event.error }) }
              }
            ]
          }
        },
        verifyBackoff: { after: { backoff: "verifying" } },
        ready: { type: "final" },
        stopped: { type: "final" },
        deleted: { type: "final" },
        failed: { type: "final" }
      }
    });
  }
});

// src/reconcile/pass.ts
import { createActor, fromPromise as fromPromise3 } from "xstate";
function deferred() {
  let resolve3;
  const d = { promise: new Promise((r2) => resolve3 = r2), resolve: () => {
  }, settled: false, ok: false };
  d.resolve = (ok) => {
    if (d.settled) return;
    d.settled = true;
    d.ok = ok;
    resolve3(ok);
  };
  return d;
}
function hasProbe(hc2) {
  return !!hc2 && !!(hc2.exec || hc2.tcp || hc2.http);
}
async function executePass(ctx) {
  const { plan: plan2, observed, set: set2, helpers } = ctx;
  const opDone = new Map(plan2.operations.map((op) => [op.id, deferred()]));
  let operationsRun = 0;
  let operationsSucceeded = 0;
  const runtimes = /* @__PURE__ */ new Map();
  const managers = /* @__PURE__ */ new WeakMap();
  const observedWorkspace2 = (node, name) => observed.get(node)?.workspaces.find((w) => w.name === name);
  const driverFor = (provider, node) => {
    const driver = ctx.drivers[provider];
    if (!driver) {
      throw new TerminalError(
        `no ${provider} driver is available on node ${node}`,
        `use a provider this vendetta supports (${Object.keys(ctx.drivers).join(", ") || "none"}) for workspaces on ${node}`
      );
    }
    return driver;
  };
  const driverContext = async (node, resource) => {
    const nodeResource = ctx.nodes.get(node);
    if (!nodeResource) throw new TerminalError(`node ${node} is not declared`);
    return {
      node: nodeResource,
      transport: await ctx.transport(node),
      applySet: ctx.applySet,
      progress: (message) => ctx.progress(resource, message)
    };
  };
  const runtimeFor = (node, provider, workspace, fresh = false) => {
    const key = `${node}/${workspace}`;
    let rt = fresh ? void 0 : runtimes.get(key);
    if (!rt) {
      rt = (async () => driverFor(provider, node).runtime(await driverContext(node, resourceId("Workspace", workspace)), workspace))();
      runtimes.set(key, rt);
      rt.catch(() => runtimes.delete(key));
    }
    return rt;
  };
  const managerFor = (rt) => {
    let m = managers.get(rt);
    if (!m) managers.set(rt, m = helpers.serviceManager(rt));
    return m;
  };
  const runOperation = async (op, work) => {
    if (op) {
      for (const dep of op.dependsOn) {
        const ok = await (opDone.get(dep)?.promise ?? Promise.resolve(true));
        if (!ok) throw new TerminalError(`${dep} did not complete`);
      }
      operationsRun++;
      ctx.progress(op.resource, `${op.type} on ${op.node}: ${op.cause}`);
    }
    await ctx.withNodeSlot(op?.node ?? "", work);
    if (op) {
      operationsSucceeded++;
      opDone.get(op.id).resolve(true);
    }
  };
  const workspaceUnits = [];
  const makeWorkspaceUnit = (name, node, provider, target, op) => {
    const id = resourceId("Workspace", name);
    let unit;
    const machine = workspaceMachine.provide({
      actors: {
        operate: fromPromise3(
          ({ input }) => runOperation(op, async () => {
            const driver = driverFor(provider, node);
            const dctx = await driverContext(node, id);
            switch (input.operation) {
              case "create":
                await driver.create(dctx, helpers.desiredWorkspace(set2, name));
                break;
              case "recreate":
                await driver.delete(dctx, name);
                await driver.create(dctx, helpers.desiredWorkspace(set2, name));
                break;
              case "start":
                await driver.start(dctx, name);
                break;
              case "stop":
                await driver.stop(dctx, name);
                break;
              case "delete":
                await driver.delete(dctx, name);
                break;
            }
          })
        ),
        verify: fromPromise3(async () => {
          const rt = await runtimeFor(node, provider, name, true);
          const result = await rt.exec(["true"], { timeoutMs: 15e3 });
          if (result.code !== 0) {
            throw new Error(`workspace ${name} on ${node} did not run \`true\` (exit ${result.code}): ${result.stderr.trim() || "no output"}`);
          }
          unit.address = rt.address;
        })
      }
    });
    unit = {
      kind: "Workspace",
      name,
      node,
      provider,
      target,
      op,
      observed: observedWorkspace2(node, name),
      services: [],
      actor: createActor(machine, { input: { name, operation: op ? WORKSPACE_OPS[op.type] : void 0, target, retry: ctx.retry } })
    };
    unit.actor.on("operated", (e) => {
      const ev = WORKSPACE_EVENT[e.operation];
      ctx.record({ object: id, type: "Normal", reason: ev.reason, message: `${ev.verb} workspace ${name} on node ${node}${op ? ` (${op.cause})` : ""}` });
    });
    unit.actor.on(
      "retrying",
      (e) => ctx.progress(id, `${e.step} failed (attempt ${e.attempt}), retrying in ${e.delayMs} ms: ${e.error}`)
    );
    workspaceUnits.push(unit);
    return unit;
  };
  const findOp = (kind, name, pred) => plan2.operations.find((op) => op.kind === kind && op.name === name && pred(op));
  for (const ws of set2?.desired.workspaces.values() ?? []) {
    const node = ws.spec.node;
    if (!observed.get(node)?.reachable) continue;
    const op = findOp("Workspace", ws.metadata.name, (o) => o.node === node && o.type !== "delete-workspace");
    makeWorkspaceUnit(ws.metadata.name, node, ws.spec.provider, ws.spec.state === "stopped" ? "stopped" : "running", op);
  }
  for (const op of plan2.operations.filter((o) => o.type === "delete-workspace")) {
    makeWorkspaceUnit(op.name, op.node, op.provider, "deleted", op);
  }
  const desiredWorkspaceUnit = (name) => workspaceUnits.find((u) => u.name === name && u.target !== "deleted");
  const serviceUnits = [];
  const makeServiceUnit = (name, workspace, node, provider, target, op, resource) => {
    const id = resourceId("Service", name);
    const healthcheck = hasProbe(resource?.spec.healthcheck) ? resource.spec.healthcheck : void 0;
    const hc2 = { ...DEFAULT_HEALTH, ...healthcheck };
    const health = healthcheck ? {
      intervalMs: helpers.parseDuration(hc2.interval),
      retries: hc2.retries,
      startPeriodMs: helpers.parseDuration(hc2.startPeriod)
    } : void 0;
    const dependsOn = Object.entries(resource?.spec.dependsOn ?? {}).map(([service, d]) => ({ service, condition: d.condition }));
    const operation = op ? SERVICE_OPS[op.type] : void 0;
    const machine = serviceMachine.provide({
      actors: {
        operate: fromPromise3(
          ({ input }) => runOperation(op, async () => {
            const rt = await runtimeFor(node, provider, workspace);
            const manager = managerFor(rt);
            switch (input.operation) {
              case "start":
                await manager.start(helpers.desiredService(set2, name, rt.workspaceDir));
                break;
              case "restart":
                await manager.stop(name);
                await manager.start(helpers.desiredService(set2, name, rt.workspaceDir));
                break;
              case "stop":
                await manager.stop(name);
                break;
              case "delete":
                await manager.remove(name);
                break;
            }
          })
        ),
        observe: fromPromise3(async () => {
          const services = await managerFor(await runtimeFor(node, provider, workspace)).observe();
          return services.find((s) => s.name === name);
        }),
        probe: fromPromise3(
          async () => helpers.checkHealth(healthcheck, await runtimeFor(node, provider, workspace), await ctx.transport(node), helpers.parseDuration(hc2.timeout))
        )
      }
    });
    const unit = {
      kind: "Service",
      name,
      workspace,
      node,
      provider,
      target,
      op,
      resource,
      healthcheck,
      dependsOn,
      dependencyState: "pending",
      actor: createActor(machine, {
        // A service this pass starts must be seen running twice (it may crash at once); one this
        // pass leaves alone was already running in the pass's observation: one look is enough.
        input: { name, operation, target, dependsOn, health, retry: ctx.retry, pollMs: ctx.servicePollMs, stableObservations: operation ? 2 : 1 }
      })
    };
    const a = unit.actor;
    a.on("operated", (e) => {
      const ev = SERVICE_EVENT[e.operation];
      ctx.record({
        object: id,
        type: "Normal",
        reason: ev.reason,
        message: `${ev.verb} service ${name} in workspace ${workspace} on node ${node}${op ? ` (${op.cause})` : ""}`
      });
    });
    a.on(
      "waitingForDependencies",
      (e) => ctx.record({
        object: id,
        type: "Normal",
        reason: "WaitingForDependency",
        message: `waiting for ${e.unmet.map((d) => `service ${d.service} to be ${describeCondition(d.condition)}`).join(", ")}`
      })
    );
    a.on(
      "dependencyReady",
      (e) => ctx.record({
        object: id,
        type: "Normal",
        reason: "DependencyReady",
        message: `service ${e.dependency.service} is ${describeCondition(e.dependency.condition)}`
      })
    );
    a.on("started", (e) => ctx.progress(id, `running (pid ${e.observed.pid ?? "?"})`));
    a.on(
      "healthy",
      (e) => op ? ctx.record({ object: id, type: "Normal", reason: "Healthy", message: e.message }) : ctx.progress(id, `healthy: ${e.message}`)
    );
    a.on(
      "unhealthy",
      (e) => e.counted ? ctx.record({ object: id, type: "Warning", reason: "Unhealthy", message: `${e.message} (${e.failures} consecutive)` }) : ctx.progress(id, `not healthy yet (start period): ${e.message}`)
    );
    a.on("retrying", (e) => ctx.progress(id, `${e.step} failed (attempt ${e.attempt}), retrying in ${e.delayMs} ms: ${e.error}`));
    serviceUnits.push(unit);
    return unit;
  };
  for (const svc of set2?.desired.services.values() ?? []) {
    const wsUnit = desiredWorkspaceUnit(svc.spec.workspace);
    if (!wsUnit) continue;
    const op = findOp("Service", svc.metadata.name, (o) => o.workspace === svc.spec.workspace && o.type !== "delete-service");
    const target = op?.type === "stop-service" || wsUnit.target !== "running" ? "stopped" : "running";
    wsUnit.services.push(makeServiceUnit(svc.metadata.name, svc.spec.workspace, wsUnit.node, wsUnit.provider, target, op, svc));
  }
  for (const op of plan2.operations.filter((o) => o.type === "delete-service")) {
    makeServiceUnit(op.name, op.workspace ?? "", op.node, op.provider, "deleted", op, void 0);
  }
  const runningServiceUnit = (name) => serviceUnits.find((u) => u.name === name && u.target === "running");
  const allActors = [...workspaceUnits.map((u) => u.actor), ...serviceUnits.map((u) => u.actor)];
  const done = (a) => a.getSnapshot().status !== "active";
  for (const unit of workspaceUnits) {
    let lastPhase;
    unit.actor.subscribe((snap) => {
      const phase = workspacePhase(topState(snap.value), snap.context.operation);
      if (phase !== lastPhase) {
        lastPhase = phase;
        ctx.progress(resourceId("Workspace", unit.name), `${phase.toLowerCase()} on ${unit.node}`);
      }
      if (snap.status !== "done") return;
      if (unit.op) opDone.get(unit.op.id).resolve(false);
      const state = topState(snap.value);
      for (const svc of unit.services) {
        if (state === "ready") svc.actor.send({ type: "WORKSPACE_READY" });
        else if (state === "failed") svc.actor.send({ type: "WORKSPACE_FAILED", reason: snap.context.reason ?? "failed" });
      }
      if (state === "failed") {
        ctx.record({
          object: resourceId("Workspace", unit.name),
          type: "Warning",
          reason: "Failed",
          message: `workspace ${unit.name} on node ${unit.node}: ${snap.context.reason}`
        });
      }
    });
  }
  const dependencyStateOf = (state) => state === "waitingHealthy" ? "started" : state === "ready" ? "healthy" : state === "completed" ? "completed" : state === "failed" || state === "stopped" || state === "deleted" ? "failed" : "pending";
  for (const unit of serviceUnits) {
    let lastPhase;
    unit.actor.subscribe((snap) => {
      const state = topState(snap.value);
      const phase = servicePhase(state, snap.context.operation);
      if (phase !== lastPhase) {
        lastPhase = phase;
        ctx.progress(resourceId("Service", unit.name), phase.toLowerCase());
      }
      if (unit.target === "running") {
        const depState = dependencyStateOf(state);
        if (depState !== unit.dependencyState) {
          unit.dependencyState = depState;
          const reason = state === "failed" ? snap.context.reason : state === "stopped" ? "stopped" : void 0;
          for (const dependent of serviceUnits) {
            if (dependent.dependsOn.some((d) => d.service === unit.name)) {
              dependent.actor.send({ type: "DEPENDENCY_CHANGED", service: unit.name, state: depState, reason });
            }
          }
        }
      }
      if (snap.status !== "done") return;
      if (unit.op) opDone.get(unit.op.id).resolve(false);
      if (state === "failed") {
        ctx.record({
          object: resourceId("Service", unit.name),
          type: "Warning",
          reason: "Failed",
          message: `service ${unit.name} in workspace ${unit.workspace} on node ${unit.node}: ${snap.context.reason}`
        });
      }
    });
  }
  for (const a of allActors) a.start();
  for (const unit of serviceUnits) {
    for (const dep of unit.dependsOn) {
      if (runningServiceUnit(dep.service)) continue;
      unit.actor.send({ type: "DEPENDENCY_CHANGED", service: dep.service, state: "failed", reason: whyNoMachine(dep.service, ctx) });
    }
  }
  await new Promise((resolve3) => {
    const subs = [];
    const check3 = () => {
      const finished = ctx.noWait ? [...opDone.values()].every((d) => d.settled) : allActors.every(done);
      if (finished || ctx.signal.aborted) {
        for (const s of subs) s.unsubscribe();
        ctx.signal.removeEventListener("abort", check3);
        resolve3();
      }
    };
    for (const a of allActors) subs.push(a.subscribe({ next: check3, error: check3, complete: check3 }));
    ctx.signal.addEventListener("abort", check3);
    check3();
  });
  for (const a of allActors) if (!done(a)) a.stop();
  const units = [
    ...workspaceUnits.map((u) => {
      const snap = u.actor.getSnapshot();
      return {
        id: resourceId("Workspace", u.name),
        kind: "Workspace",
        name: u.name,
        node: u.node,
        target: u.target,
        phase: workspacePhase(topState(snap.value), snap.context.operation),
        reason: topState(snap.value) === "failed" ? snap.context.reason : void 0,
        operation: u.op,
        operationDone: u.op ? opDoneOk(opDone.get(u.op.id)) : true,
        address: u.address ?? u.observed?.address
      };
    }),
    ...serviceUnits.map((u) => {
      const snap = u.actor.getSnapshot();
      const state = topState(snap.value);
      return {
        id: resourceId("Service", u.name),
        kind: "Service",
        name: u.name,
        node: u.node,
        workspace: u.workspace,
        target: u.target,
        phase: servicePhase(state, snap.context.operation),
        reason: state === "failed" ? snap.context.reason : void 0,
        operation: u.op,
        operationDone: u.op ? opDoneOk(opDone.get(u.op.id)) : true,
        address: desiredWorkspaceUnit(u.workspace)?.address ?? observedWorkspace2(u.node, u.workspace)?.address,
        observedService: snap.context.observed,
        lastHealth: snap.context.lastHealth,
        hasHealthcheck: u.healthcheck !== void 0,
        dependsOn: u.dependsOn
      };
    })
  ];
  return { units, operationsRun, operationsSucceeded };
}
function opDoneOk(d) {
  return !!d && d.ok;
}
function whyNoMachine(service, ctx) {
  const svc = ctx.set?.desired.services.get(service);
  const ws = svc ? ctx.set?.desired.workspaces.get(svc.spec.workspace) : void 0;
  if (!svc || !ws) return "not declared";
  const node = ctx.observed.get(ws.spec.node);
  if (!node?.reachable) return `its node ${ws.spec.node} is unreachable`;
  if (ws.spec.state === "stopped") return `its workspace ${ws.metadata.name} is stopped`;
  return "not running";
}
var DEFAULT_HEALTH, WORKSPACE_OPS, SERVICE_OPS, WORKSPACE_EVENT, SERVICE_EVENT;
var init_pass = __esm({
  "src/reconcile/pass.ts"() {
    "use strict";
    init_types();
    init_retry();
    init_service_machine();
    init_status();
    init_workspace_machine();
    DEFAULT_HEALTH = { interval: "2s", timeout: "1s", retries: 3, startPeriod: "0s" };
    WORKSPACE_OPS = {
      "create-workspace": "create",
      "recreate-workspace": "recreate",
      "start-workspace": "start",
      "stop-workspace": "stop",
      "delete-workspace": "delete"
    };
    SERVICE_OPS = {
      "start-service": "start",
      "restart-service": "restart",
      "stop-service": "stop",
      "delete-service": "delete"
    };
    WORKSPACE_EVENT = {
      create: { reason: "Created", verb: "created" },
      recreate: { reason: "Recreated", verb: "recreated" },
      start: { reason: "Started", verb: "started" },
      stop: { reason: "Stopped", verb: "stopped" },
      delete: { reason: "Deleted", verb: "deleted" }
    };
    SERVICE_EVENT = {
      start: { reason: "Started", verb: "started" },
      restart: { reason: "Restarted", verb: "restarted" },
      stop: { reason: "Stopped", verb: "stopped" },
      delete: { reason: "Deleted", verb: "deleted" }
    };
  }
});

// src/reconcile/reconciler.ts
import { hostname } from "node:os";
function sleep(ms, signal) {
  return new Promise((resolve3) => {
    if (signal.aborted) return resolve3();
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve3();
    }
    signal.addEventListener("abort", done);
  });
}
function formatMs(ms) {
  return ms < 1e3 ? `${ms}ms` : `${Math.round(ms / 100) / 10}s`;
}
function nodeHint(node, err) {
  if ((err instanceof TransportError || err instanceof ProviderError) && err.hint) return err.hint;
  return `check that node ${node} is up and reachable: vendetta node test ${node}`;
}
function createEngineWith(deps, opts2) {
  const { store: store2 } = opts2;
  const events = opts2.events ?? {};
  const helpers = {
    desiredWorkspace: opts2.desiredWorkspaceFn ?? deps.desiredWorkspace,
    desiredService: opts2.desiredServiceFn ?? deps.desiredService,
    serviceManager: opts2.serviceManagerFn ?? deps.serviceManager,
    checkHealth: opts2.checkHealthFn ?? deps.checkHealth,
    parseDuration: deps.parseDuration
  };
  const planFn = opts2.planFn ?? deps.plan;
  const planDeletionFn = opts2.planDeletionFn ?? deps.planDeletion;
  const semaphore = new KeyedSemaphore(opts2.concurrencyPerNode ?? 4);
  const transports = /* @__PURE__ */ new Map();
  function transportFor(node) {
    const name = node.metadata.name;
    let t = transports.get(name);
    if (!t) {
      t = opts2.connect(node);
      transports.set(name, t);
      t.catch((err) => {
        if (!(err instanceof HostKeyMismatchError)) transports.delete(name);
      });
    }
    return t;
  }
  async function recordEvent(e) {
    const event = { time: (/* @__PURE__ */ new Date()).toISOString(), ...e };
    events.onEvent?.(event);
    await store2.appendEvent(event).catch(() => void 0);
  }
  function resolveNodes(set2, applied) {
    const nodes = /* @__PURE__ */ new Map();
    for (const r2 of applied) if (r2.kind === "Node") nodes.set(r2.name, r2.resource);
    for (const [name, n] of set2?.desired.nodes ?? []) nodes.set(name, n);
    if (!nodes.has(LOCAL_NODE)) nodes.set(LOCAL_NODE, IMPLICIT_LOCAL_NODE);
    return nodes;
  }
  function observationTargets(set2, applied) {
    const targets = /* @__PURE__ */ new Map();
    const add = (spec) => targets.set(spec.node, (targets.get(spec.node) ?? /* @__PURE__ */ new Set()).add(spec.provider));
    for (const ws of set2?.desired.workspaces.values() ?? []) add(ws.spec);
    for (const r2 of applied) if (r2.kind === "Workspace") add(r2.resource.spec);
    return targets;
  }
  async function observe(set2, applied, applySet) {
    const nodes = resolveNodes(set2, applied);
    const observed = /* @__PURE__ */ new Map();
    const latencyMs = /* @__PURE__ */ new Map();
    const hints = /* @__PURE__ */ new Map();
    await Promise.all(
      [...observationTargets(set2, applied)].map(async ([name, providers]) => {
        const node = nodes.get(name);
        if (!node) {
          observed.set(name, { name, reachable: false, error: `node ${name} is not declared in the manifests or the store`, workspaces: [] });
          hints.set(name, `add a Node named ${name} to the manifests`);
          return;
        }
        const started = Date.now();
        let transport;
        try {
          transport = await transportFor(node);
          const ctx = { node, transport, applySet };
          const lists = await Promise.all(
            // A provider without a driver is not observed: its workspaces fail when operated on.
            [...providers].map((p) => opts2.drivers[p]?.observe(ctx) ?? Promise.resolve([]))
          );
          observed.set(name, { name, reachable: true, workspaces: lists.flat() });
          latencyMs.set(name, Date.now() - started);
        } catch (err) {
          const where = transport?.describe ?? (node.spec.address === LOCAL_ADDRESS ? "local" : `${node.spec.user ? `${node.spec.user}@` : ""}${node.spec.address}:${node.spec.port ?? 22}`);
          const what = transport ? "cannot observe" : "cannot connect to";
          const message = errorMessage(err);
          const error = message.includes(`node ${name} `) ? message : `${what} node ${name} (${where}): ${message}`;
          observed.set(name, { name, reachable: false, error, workspaces: [] });
          hints.set(name, nodeHint(name, err));
        }
      })
    );
    return { observed, nodes, latencyMs, hints };
  }
  async function runPass(set2, plan2, observation, applied, p) {
    const outcome = await executePass({
      helpers,
      set: set2,
      plan: plan2,
      observed: observation.observed,
      nodes: observation.nodes,
      drivers: opts2.drivers,
      transport: (node) => transportFor(observation.nodes.get(node)),
      applySet: p.applySet,
      withNodeSlot: (node, work) => semaphore.run(node, work),
      record: (e) => void recordEvent(e),
      progress: (id, message) => events.onProgress?.(id, message),
      signal: p.signal,
      retry: opts2.retry,
      servicePollMs: opts2.servicePollMs,
      noWait: p.noWait
    });
    const result = await summarize(set2, plan2, observation, applied, outcome, p.signal.aborted);
    return { plan: plan2, outcome, result };
  }
  async function summarize(set2, plan2, observation, applied, outcome, timedOut) {
    const now = (/* @__PURE__ */ new Date()).toISOString();
    const records = new Map(applied.map((r2) => [r2.id, r2]));
    const statuses = /* @__PURE__ */ new Map();
    const failures = [];
    const endpoints = /* @__PURE__ */ new Map();
    const generation = (id) => records.get(id)?.generation ?? 0;
    const previousGeneration = (id) => records.get(id)?.status?.observedGeneration ?? 0;
    const nodeNames = new Set([...set2?.desired.workspaces.values() ?? []].map((w) => w.spec.node));
    for (const name of observation.observed.keys()) nodeNames.add(name);
    for (const name of nodeNames) {
      const o = observation.observed.get(name);
      const id = resourceId("Node", name);
      const latency = observation.latencyMs.get(name);
      const reachable = !!o?.reachable;
      statuses.set(id, {
        phase: reachable ? "Ready" : "NotReady",
        conditions: [
          condition("Reachable", reachable, reachable ? "Observed" : "Unreachable", reachable ? `observed in ${latency} ms` : o?.error ?? "not observed", now),
          condition("Ready", reachable, reachable ? "Observed" : "Unreachable", reachable ? "node observed" : o?.error ?? "not observed", now)
        ],
        observedGeneration: generation(id),
        details: { address: observation.nodes.get(name)?.spec.address ?? "unknown", ...latency !== void 0 ? { latencyMs: latency } : {} }
      });
      if (!reachable) {
        failures.push({ resource: id, node: name, reason: o?.error ?? `node ${name} was not observed`, hint: observation.hints.get(name) });
      }
    }
    const byId = /* @__PURE__ */ new Map();
    for (const u of outcome.units) {
      if (u.target === "deleted") continue;
      byId.set(u.id, u);
    }
    for (const u of byId.values()) {
      const ok = settledOk(u.phase);
      const converged2 = ok && !timedOut;
      const reason = u.reason ?? (ok ? void 0 : timedOut ? `timed out while ${u.phase.toLowerCase()}` : `not ready: ${u.phase}`);
      const details = { node: u.node };
      if (u.workspace) details.workspace = u.workspace;
      if (u.address) details.address = u.address;
      const conditions = [
        condition("Ready", u.phase === "Ready" || u.phase === "Completed", u.phase, reason ?? (u.phase === "Stopped" ? "stopped as declared" : "ready"), now)
      ];
      if (u.kind === "Service") {
        const obs = u.observedService;
        if (obs?.pid !== void 0) details.pid = obs.pid;
        if (obs) details.restarts = obs.restarts;
        if (obs?.exitCode !== void 0) details.exitCode = obs.exitCode;
        const svc = set2?.desired.services.get(u.name);
        const port = svc?.spec.ports?.[0];
        if (port !== void 0 && u.address) {
          details.endpoint = httpEndpoint(u.address, port);
          if (u.phase === "Ready") endpoints.set(u.id, details.endpoint);
        }
        if (u.hasHealthcheck) {
          conditions.push(
            condition(
              "Healthy",
              u.lastHealth ? u.lastHealth.ok : "Unknown",
              u.lastHealth ? u.lastHealth.ok ? "Healthy" : "Unhealthy" : "NotChecked",
              u.lastHealth?.message ?? "not checked yet",
              now
            )
          );
        }
        if (u.dependsOn?.length) {
          const waiting = u.phase === "WaitingDependencies" || u.phase === "Failed" && /^dependency /.test(u.reason ?? "");
          conditions.push(condition("DependenciesMet", !waiting, waiting ? "Waiting" : "Met", waiting ? reason ?? "waiting" : "dependencies met", now));
        }
      } else {
        const ws = set2?.desired.workspaces.get(u.name);
        const nodeAddress = observation.nodes.get(u.node)?.spec.address ?? LOCAL_ADDRESS;
        const first = ws?.spec.ports?.[0];
        if (first && u.phase === "Ready") {
          try {
            const port = deps.parsePortSpec(first);
            endpoints.set(u.id, httpEndpoint(publishedHost(port.hostIp, nodeAddress), port.hostPort));
          } catch {
          }
        }
      }
      const status = {
        phase: u.phase,
        conditions,
        observedGeneration: converged2 ? generation(u.id) : previousGeneration(u.id),
        details
      };
      statuses.set(u.id, carryTransitionTimes(status, records.get(u.id)?.status));
      if (!ok) {
        failures.push({ resource: u.id, node: u.node, reason, hint: hintFor(u) });
      }
    }
    const unitless = [];
    for (const ws of set2?.desired.workspaces.values() ?? []) unitless.push({ id: resourceId("Workspace", ws.metadata.name), node: ws.spec.node });
    for (const svc of set2?.desired.services.values() ?? []) {
      const ws = set2?.desired.workspaces.get(svc.spec.workspace);
      unitless.push({ id: resourceId("Service", svc.metadata.name), node: ws?.spec.node ?? "unknown" });
    }
    for (const { id, node } of unitless) {
      if (byId.has(id)) continue;
      const why = observation.observed.get(node)?.error ?? `node ${node} was not observed`;
      statuses.set(id, {
        phase: "NotReady",
        conditions: [condition("Ready", false, "NodeUnreachable", why, now)],
        observedGeneration: previousGeneration(id),
        details: { node }
      });
      failures.push({ resource: id, node, reason: `node ${node} is unreachable`, hint: observation.hints.get(node) });
    }
    await Promise.all([...statuses].map(([id, status]) => store2.setStatus(id, status)));
    const converged = !timedOut && plan2.operations.length === 0 && plan2.unreachable.length === 0 && failures.length === 0;
    return { converged, plan: plan2, operationsRun: outcome.operationsRun, statuses, failures, endpoints };
  }
  function hintFor(u) {
    if (u.kind === "Service" && /unhealthy|exited|did not stay running/.test(u.reason ?? "")) {
      return `see what it printed: vendetta logs ${u.name}`;
    }
    if (u.phase === "Failed") return `see vendetta describe ${u.id.replace("/", " ")}`;
    return void 0;
  }
  async function forgetGone(candidates, all, outcome, observation) {
    const deletedOk = new Set(outcome.units.filter((u) => u.target === "deleted" && u.phase === "Deleting").map((u) => u.id));
    const failedDelete = new Set(outcome.units.filter((u) => u.target === "deleted" && u.phase !== "Deleting").map((u) => u.id));
    const removed = [];
    const ordered = [...candidates].sort((a, b) => Number(a.kind === "Service") - Number(b.kind === "Service"));
    for (const r2 of ordered) {
      if (failedDelete.has(r2.id)) continue;
      const workspaceGone = r2.kind === "Service" && (removed.includes(resourceId("Workspace", r2.resource.spec.workspace)) || !workspaceNodeOf(r2, all));
      if (!deletedOk.has(r2.id) && r2.kind !== "Node" && !workspaceGone) {
        const node = r2.kind === "Workspace" ? r2.resource.spec.node : workspaceNodeOf(r2, all);
        const o = node ? observation.observed.get(node) : void 0;
        if (!o?.reachable) continue;
        if (r2.kind === "Workspace" && o.workspaces.some((w) => w.name === r2.name)) continue;
        if (r2.kind === "Service" && o.workspaces.some((w) => w.services.some((s) => s.name === r2.name) && w.name === r2.resource.spec.workspace)) continue;
      }
      await store2.remove(r2.id);
      removed.push(r2.id);
    }
    const bySet = /* @__PURE__ */ new Map();
    for (const r2 of candidates) if (removed.includes(r2.id)) bySet.set(r2.applySet, [...bySet.get(r2.applySet) ?? [], r2.id]);
    for (const [applySet, ids] of bySet) {
      const inventory = await store2.inventory(applySet);
      await store2.setInventory(applySet, inventory.filter((id) => !ids.includes(id)));
    }
    return removed;
  }
  function workspaceNodeOf(service, records) {
    const ws = service.resource.spec.workspace;
    const rec = records.find((r2) => r2.kind === "Workspace" && r2.name === ws);
    return rec ? rec.resource.spec.node : void 0;
  }
  async function runLoop(set2, loop) {
    const deadline = new AbortController();
    const timer = loop.until === "converged" ? setTimeout(() => deadline.abort(), loop.timeoutMs) : void 0;
    const signal = loop.signal ? AbortSignal.any([loop.signal, deadline.signal]) : deadline.signal;
    let firstPlan;
    let operationsRun = 0;
    let previousFailures;
    let last;
    try {
      for (let pass = 1; ; pass++) {
        const applied = await store2.list();
        const observation = await observe(set2, applied, loop.applySet);
        const plan2 = planFn({ set: set2, observed: observation.observed, applied, applySet: loop.applySet, prune: loop.prune });
        events.onPlan?.(plan2, pass);
        firstPlan ??= plan2;
        for (const u of plan2.unreachable) {
          void recordEvent({ object: resourceId("Node", u.node), type: "Warning", reason: "NodeUnreachable", message: u.error });
        }
        const { outcome, result } = await runPass(set2, plan2, observation, applied, {
          applySet: loop.applySet,
          signal,
          noWait: loop.noWait
        });
        operationsRun += outcome.operationsRun;
        if (loop.prune) {
          const pruned = applied.filter((r2) => r2.applySet === loop.applySet && !declared(set2, r2));
          await forgetGone(pruned, applied, outcome, observation);
        }
        last = { ...result, plan: firstPlan, operationsRun };
        if (deadline.signal.aborted && !result.converged && last.failures.length === 0) {
          last.failures.push({
            resource: "apply",
            reason: `not converged after ${formatMs(loop.timeoutMs)}`,
            hint: "raise --timeout, or see vendetta get for what is still pending"
          });
        }
        loop.onPass?.(last, pass);
        if (signal.aborted || loop.noWait) break;
        const failures = failureSignature(result.failures);
        const stuck = result.failures.length > 0 && (outcome.operationsSucceeded === 0 || failures === previousFailures);
        previousFailures = failures;
        if (loop.until === "converged") {
          if (result.converged || stuck) break;
          await sleep(opts2.passDelayMs ?? 500, signal);
        } else {
          await sleep(result.converged || stuck ? loop.resyncMs ?? 3e4 : opts2.passDelayMs ?? 500, signal);
        }
      }
    } finally {
      clearTimeout(timer);
    }
    return last;
  }
  function declared(set2, r2) {
    const maps = { Node: set2.desired.nodes, Workspace: set2.desired.workspaces, Service: set2.desired.services };
    return maps[r2.kind].has(r2.name);
  }
  async function withLock(command, lockTimeoutMs, work) {
    const release = await store2.lock(command, { timeoutMs: lockTimeoutMs ?? DEFAULT_LOCK_TIMEOUT_MS, onWait: events.onLockWait });
    try {
      return await work();
    } finally {
      await release();
    }
  }
  function allResources(set2) {
    const nodes = [...set2.desired.nodes.values()].filter((n) => n.source || n.metadata.name !== LOCAL_NODE);
    return [...nodes, ...set2.desired.workspaces.values(), ...set2.desired.services.values()];
  }
  return {
    runLoop,
    async plan(set2, p) {
      const applied = await store2.list();
      const observation = await observe(set2, applied, p.applySet);
      return { plan: planFn({ set: set2, observed: observation.observed, applied, applySet: p.applySet, prune: p.prune }), observed: observation.observed };
    },
    apply(set2, applyOpts) {
      return withLock(`apply (${hostname()})`, applyOpts.lockTimeoutMs, async () => {
        const resources = allResources(set2);
        for (const r2 of resources) await store2.putApplied(r2, applyOpts.applySet);
        const ids = resources.map((r2) => resourceId(r2.kind, r2.metadata.name));
        const previous = applyOpts.prune ? [] : await store2.inventory(applyOpts.applySet);
        await store2.setInventory(applyOpts.applySet, [...previous, ...ids]);
        return runLoop(set2, { ...applyOpts, until: "converged" });
      });
    },
    delete(ids, deleteOpts) {
      return withLock(`delete ${ids.join(" ")}`, deleteOpts.lockTimeoutMs, async () => {
        const deadline = AbortSignal.timeout(deleteOpts.timeoutMs);
        const signal = deleteOpts.signal ? AbortSignal.any([deleteOpts.signal, deadline]) : deadline;
        const applied = await store2.list();
        const workspaces = new Set(ids.filter((id) => id.startsWith("workspace/")).map((id) => id.slice("workspace/".length)));
        const targets = applied.filter(
          (r2) => ids.includes(r2.id) || r2.kind === "Service" && workspaces.has(r2.resource.spec.workspace)
        );
        let firstPlan;
        let operationsRun = 0;
        let last;
        const deletedByOperation = /* @__PURE__ */ new Set();
        for (; ; ) {
          const observation = await observe(deleteOpts.set, applied, "default");
          const plan2 = planDeletionFn({ ids, applied, set: deleteOpts.set, observed: observation.observed });
          firstPlan ??= plan2;
          events.onPlan?.(plan2, 1);
          const { outcome, result } = await runPass(void 0, plan2, observation, applied, { applySet: "default", signal });
          operationsRun += outcome.operationsRun;
          const failedOps = outcome.units.filter((u) => u.phase === "Failed");
          last = { ...result, plan: firstPlan, operationsRun, failures: [...result.failures.filter((f) => f.resource.startsWith("node/")), ...failedOps.map((u) => ({ resource: u.id, node: u.node, reason: u.reason ?? "failed", hint: hintFor(u) }))] };
          if (plan2.operations.length === 0 || failedOps.length > 0 || signal.aborted) {
            const reobserved = plan2.operations.length === 0 ? observation : await observe(void 0, applied, "default");
            const removed = await forgetGone(targets, applied, { units: [], operationsRun: 0, operationsSucceeded: 0 }, reobserved);
            for (const id of removed) {
              if (!deletedByOperation.has(id)) void recordEvent({ object: id, type: "Normal", reason: "Deleted", message: `forgot ${id}: no longer on its node` });
            }
            const notGone = targets.filter((r2) => r2.kind !== "Node" && !removed.includes(r2.id));
            for (const r2 of notGone) {
              if (!last.failures.some((f) => f.resource === r2.id)) {
                last.failures.push({ resource: r2.id, reason: "still present or its node could not be observed; kept in the store", hint: "run vendetta delete again once the node is reachable" });
              }
            }
            last.converged = last.failures.length === 0 && !signal.aborted;
            for (const id of removed) last.statuses.delete(id);
            return last;
          }
          for (const u of outcome.units) if (u.target === "deleted" && u.operationDone) deletedByOperation.add(u.id);
          await sleep(opts2.passDelayMs ?? 500, signal);
        }
      });
    },
    async close() {
      const all = [...transports.values()];
      transports.clear();
      await Promise.all(all.map((t) => t.then((x) => x.close()).catch(() => void 0)));
    }
  };
}
var DEFAULT_LOCK_TIMEOUT_MS, KeyedSemaphore;
var init_reconciler = __esm({
  "src/reconcile/reconciler.ts"() {
    "use strict";
    init_types();
    init_types2();
    init_types3();
    init_pass();
    init_retry();
    init_status();
    DEFAULT_LOCK_TIMEOUT_MS = 6e4;
    KeyedSemaphore = class {
      constructor(limit) {
        this.limit = limit;
      }
      limit;
      active = /* @__PURE__ */ new Map();
      waiting = /* @__PURE__ */ new Map();
      async run(key, work) {
        if ((this.active.get(key) ?? 0) >= this.limit) {
          await new Promise((resolve3) => this.waiting.set(key, [...this.waiting.get(key) ?? [], resolve3]));
        } else {
          this.active.set(key, (this.active.get(key) ?? 0) + 1);
        }
        try {
          return await work();
        } finally {
          const next = this.waiting.get(key)?.shift();
          if (next) next();
          else this.active.set(key, (this.active.get(key) ?? 1) - 1);
        }
      }
    };
  }
});

// src/reconcile/engine.ts
var engine_exports = {};
__export(engine_exports, {
  createEngine: () => createEngine,
  realEngineDeps: () => realEngineDeps
});
function createEngine(opts2) {
  return createEngineWith(realEngineDeps, opts2);
}
var realEngineDeps;
var init_engine = __esm({
  "src/reconcile/engine.ts"() {
    "use strict";
    init_ports();
    init_quantity();
    init_desired();
    init_plan();
    init_health();
    init_manager();
    init_reconciler();
    realEngineDeps = {
      plan,
      planDeletion,
      desiredWorkspace,
      desiredService,
      serviceManager: createServiceManager,
      checkHealth,
      parseDuration,
      parsePortSpec
    };
  }
});

// src/store/types.ts
var LockTimeoutError;
var init_types4 = __esm({
  "src/store/types.ts"() {
    "use strict";
    LockTimeoutError = class extends Error {
      constructor(holder, timeoutMs) {
        super(
          `another vendetta (pid ${holder.pid} on ${holder.host}, "${holder.command}", since ${holder.since}) still holds the lock after ${Math.round(timeoutMs / 1e3)}s; wait for it to finish or raise --lock-timeout`
        );
        this.holder = holder;
        this.name = "LockTimeoutError";
      }
      holder;
    };
  }
});

// src/store/file-store.ts
var file_store_exports = {};
__export(file_store_exports, {
  EVENTS_PER_FILE: () => EVENTS_PER_FILE,
  canonicalResource: () => canonicalResource,
  defaultHome: () => defaultHome,
  openStore: () => openStore,
  writeFileAtomic: () => writeFileAtomic
});
import { promises as fs, constants as fsConstants } from "node:fs";
import os from "node:os";
import path from "node:path";
import { randomBytes } from "node:crypto";
function defaultHome() {
  return process.env.VENDETTA_HOME ?? path.join(os.homedir(), ".vendetta");
}
async function openStore(home2 = defaultHome()) {
  const store2 = new FileStore(path.resolve(home2));
  await store2.init();
  return store2;
}
function canonicalResource(resource) {
  const { source: _source, ...rest } = resource;
  return canonicalJson2(rest);
}
function canonicalJson2(value) {
  return JSON.stringify(
    value,
    (_key, v) => v && typeof v === "object" && !Array.isArray(v) ? Object.fromEntries(Object.entries(v).sort(([a], [b]) => a < b ? -1 : a > b ? 1 : 0)) : v
  );
}
async function writeFileAtomic(file2, content) {
  const dir = path.dirname(file2);
  await fs.mkdir(dir, { recursive: true });
  const tmp = path.join(dir, `.${path.basename(file2)}.${process.pid}.${randomBytes(4).toString("hex")}.tmp`);
  const handle = await fs.open(tmp, "w", 384);
  try {
    await handle.writeFile(content);
    await handle.sync();
  } finally {
    await handle.close();
  }
  try {
    await fs.rename(tmp, file2);
  } catch (err) {
    await fs.rm(tmp, { force: true });
    throw err;
  }
}
async function readJson(file2) {
  try {
    return JSON.parse(await fs.readFile(file2, "utf8"));
  } catch (err) {
    if (err.code === "ENOENT") return void 0;
    throw new Error(`cannot read ${file2}: ${err.message}; fix or delete the file`, { cause: err });
  }
}
function parseId(id) {
  const slash = id.indexOf("/");
  if (slash <= 0) throw new Error(`invalid resource id "${id}": expected kind/name`);
  return { kind: id.slice(0, slash), name: id.slice(slash + 1) };
}
function processAlive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return err.code !== "ESRCH";
  }
}
var EVENTS_PER_FILE, LOCK_POLL_MS, FileStore;
var init_file_store = __esm({
  "src/store/file-store.ts"() {
    "use strict";
    init_types();
    init_types4();
    EVENTS_PER_FILE = 1e3;
    LOCK_POLL_MS = 200;
    FileStore = class {
      constructor(home2) {
        this.home = home2;
      }
      home;
      /** Per-file queues: read-modify-write of one file never interleaves within this process. */
      queues = /* @__PURE__ */ new Map();
      eventLines = 0;
      // Directories are made by the first write, not here: read-only commands (validate, get, a
      // rejected apply) must leave VENDETTA_HOME as they found it.
      async init() {
        this.eventLines = (await this.readEventFile(this.eventsFile)).length;
      }
      get eventsFile() {
        return path.join(this.home, "events.jsonl");
      }
      get rotatedEventsFile() {
        return path.join(this.home, "events.1.jsonl");
      }
      get lockFile() {
        return path.join(this.home, "lock");
      }
      recordFile(id) {
        const { kind, name } = parseId(id);
        return path.join(this.home, "resources", kind, `${name}.json`);
      }
      serialize(key, work) {
        const previous = this.queues.get(key) ?? Promise.resolve();
        const next = previous.then(work, work);
        const settled = next.catch(() => void 0);
        this.queues.set(key, settled);
        void settled.then(() => {
          if (this.queues.get(key) === settled) this.queues.delete(key);
        });
        return next;
      }
      get(id) {
        return readJson(this.recordFile(id));
      }
      async list(kind) {
        const kinds = kind ? [kind.toLowerCase()] : await this.readDirSafe(path.join(this.home, "resources"));
        const records = [];
        for (const k of kinds.sort()) {
          const files = (await this.readDirSafe(path.join(this.home, "resources", k))).filter((f) => f.endsWith(".json") && !f.startsWith("."));
          for (const file2 of files.sort()) {
            const record = await readJson(path.join(this.home, "resources", k, file2));
            if (record) records.push(record);
          }
        }
        return records;
      }
      putApplied(resource, applySet) {
        const id = resourceId(resource.kind, resource.metadata.name);
        return this.serialize(id, async () => {
          const existing = await this.get(id);
          const changed = !existing || canonicalResource(existing.resource) !== canonicalResource(resource);
          const record = {
            id,
            kind: resource.kind,
            name: resource.metadata.name,
            resource,
            generation: existing ? existing.generation + (changed ? 1 : 0) : 1,
            applySet,
            appliedAt: changed || !existing ? (/* @__PURE__ */ new Date()).toISOString() : existing.appliedAt,
            ...existing?.status ? { status: existing.status } : {}
          };
          await writeFileAtomic(this.recordFile(id), JSON.stringify(record, null, 2) + "\n");
          return record;
        });
      }
      /** Status of a resource that was never applied (e.g. the implicit local node) is not kept. */
      setStatus(id, status) {
        return this.serialize(id, async () => {
          const existing = await this.get(id);
          if (!existing) return;
          await writeFileAtomic(this.recordFile(id), JSON.stringify({ ...existing, status }, null, 2) + "\n");
        });
      }
      remove(id) {
        return this.serialize(id, () => fs.rm(this.recordFile(id), { force: true }));
      }
      async inventory(applySet) {
        return await readJson(this.inventoryFile(applySet)) ?? [];
      }
      async setInventory(applySet, ids) {
        const file2 = this.inventoryFile(applySet);
        return this.serialize(file2, () => writeFileAtomic(file2, JSON.stringify([...new Set(ids)].sort(), null, 2) + "\n"));
      }
      inventoryFile(applySet) {
        if (!/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(applySet)) {
          throw new Error(`invalid apply set name "${applySet}": use letters, digits, ".", "_" and "-"`);
        }
        return path.join(this.home, "inventory", `${applySet}.json`);
      }
      appendEvent(event) {
        return this.serialize(this.eventsFile, async () => {
          if (this.eventLines >= EVENTS_PER_FILE) {
            await fs.rename(this.eventsFile, this.rotatedEventsFile).catch((err) => {
              if (err.code !== "ENOENT") throw err;
            });
            this.eventLines = 0;
          }
          await fs.mkdir(this.home, { recursive: true, mode: 448 });
          await fs.appendFile(this.eventsFile, JSON.stringify(event) + "\n", { mode: 384 });
          this.eventLines++;
        });
      }
      async events(opts2 = {}) {
        const all = [...await this.readEventFile(this.rotatedEventsFile), ...await this.readEventFile(this.eventsFile)];
        const matching = opts2.object ? all.filter((e) => e.object === opts2.object) : all;
        return opts2.limit !== void 0 ? matching.slice(-opts2.limit) : matching;
      }
      async readEventFile(file2) {
        let text;
        try {
          text = await fs.readFile(file2, "utf8");
        } catch (err) {
          if (err.code === "ENOENT") return [];
          throw err;
        }
        const events = [];
        for (const line of text.split("\n")) {
          if (!line.trim()) continue;
          try {
            events.push(JSON.parse(line));
          } catch {
          }
        }
        return events;
      }
      async readDirSafe(dir) {
        try {
          return await fs.readdir(dir);
        } catch (err) {
          if (err.code === "ENOENT") return [];
          throw err;
        }
      }
      async lock(command, opts2) {
        const mine = { pid: process.pid, host: os.hostname(), command, since: (/* @__PURE__ */ new Date()).toISOString() };
        const deadline = Date.now() + opts2.timeoutMs;
        let waited = false;
        for (; ; ) {
          if (await this.tryCreateLock(mine)) return () => this.releaseLock(mine);
          const holder = await this.readLockHolder();
          if (!holder) continue;
          if (holder.host === mine.host && !processAlive(holder.pid)) {
            await this.removeLockIf(holder);
            continue;
          }
          if (!waited) {
            waited = true;
            opts2.onWait?.(holder);
          }
          if (Date.now() >= deadline) throw new LockTimeoutError(holder, opts2.timeoutMs);
          await new Promise((resolve3) => setTimeout(resolve3, Math.min(LOCK_POLL_MS, Math.max(0, deadline - Date.now()))));
        }
      }
      /**
       * Creates the lock with its full content in one step: the LockInfo is written to a temp file,
       * then hard-linked to `lock` (link fails with EEXIST like O_EXCL), so no one ever reads an
       * empty lock file.
       */
      async tryCreateLock(info) {
        await fs.mkdir(this.home, { recursive: true, mode: 448 });
        const tmp = `${this.lockFile}.${process.pid}.${randomBytes(4).toString("hex")}.tmp`;
        const handle = await fs.open(tmp, fsConstants.O_CREAT | fsConstants.O_EXCL | fsConstants.O_WRONLY, 384);
        try {
          await handle.writeFile(JSON.stringify(info));
          await handle.sync();
        } finally {
          await handle.close();
        }
        try {
          await fs.link(tmp, this.lockFile);
          return true;
        } catch (err) {
          if (err.code === "EEXIST") return false;
          throw new Error(`cannot create lock ${this.lockFile}: ${err.message}`, { cause: err });
        } finally {
          await fs.rm(tmp, { force: true });
        }
      }
      async readLockHolder() {
        try {
          return await readJson(this.lockFile);
        } catch {
          return { pid: -1, host: "unknown", command: `unreadable lock file ${this.lockFile}`, since: "unknown" };
        }
      }
      /** Removes the lock only if it still holds `info` (not a lock someone took meanwhile). */
      async removeLockIf(info) {
        const current = await readJson(this.lockFile).catch(() => void 0);
        if (current && current.pid === info.pid && current.host === info.host && current.since === info.since) {
          await fs.rm(this.lockFile, { force: true });
        }
      }
      releaseLock(info) {
        return this.removeLockIf(info);
      }
    };
  }
});

// src/transport/local.ts
import { spawn as spawnChild } from "node:child_process";
import { constants as osConstants, homedir as homedir2 } from "node:os";
import { cp, mkdir, readFile as readFile3, rename, rm, writeFile, chmod } from "node:fs/promises";
import { dirname as dirname2, basename, join as join2 } from "node:path";
import { connect as connect2 } from "node:net";
function exitCode(code, signal) {
  if (code !== null) return code;
  const n = signal ? osConstants.signals[signal] : void 0;
  return 128 + (n ?? 0);
}
function killGroup(child) {
  try {
    if (child.pid) process.kill(-child.pid, "SIGKILL");
  } catch {
    child.kill("SIGKILL");
  }
}
var LocalTransport;
var init_local = __esm({
  "src/transport/local.ts"() {
    "use strict";
    init_types3();
    LocalTransport = class {
      constructor(node = "local") {
        this.node = node;
      }
      node;
      describe = "local";
      exec(argv, opts2 = {}) {
        if (argv.length === 0) return Promise.reject(new TransportError(this.node, "exec: empty argv"));
        return new Promise((resolve3, reject) => {
          let child;
          try {
            child = spawnChild(argv[0], argv.slice(1), {
              cwd: opts2.cwd,
              env: opts2.env ? { ...process.env, ...opts2.env } : process.env,
              stdio: ["pipe", "pipe", "pipe"],
              // Own process group, so a timeout takes down what a shell command started, too.
              detached: true
            });
          } catch (err) {
            reject(new TransportError(this.node, `cannot run ${argv[0]}: ${err.message}`, void 0, { cause: err }));
            return;
          }
          const stdout = [];
          const stderr = [];
          let settled = false;
          const finish = (fn) => {
            if (settled) return;
            settled = true;
            clearTimeout(timer);
            opts2.signal?.removeEventListener("abort", onAbort);
            fn();
          };
          const fail3 = (message, hint) => {
            killGroup(child);
            finish(() => reject(new TransportError(this.node, message, hint)));
          };
          const timer = opts2.timeoutMs !== void 0 ? setTimeout(
            () => fail3(`${argv[0]} on ${this.node} timed out after ${opts2.timeoutMs}ms`, "raise the timeout or check why the command hangs"),
            opts2.timeoutMs
          ) : void 0;
          const onAbort = () => fail3(`${argv[0]} on ${this.node} was aborted`);
          if (opts2.signal?.aborted) return onAbort();
          opts2.signal?.addEventListener("abort", onAbort, { once: true });
          child.stdout.on("data", (b) => stdout.push(b));
          child.stderr.on("data", (b) => stderr.push(b));
          child.stdin.on("error", () => {
          });
          child.stdin.end(opts2.stdin ?? "");
          child.on("error", (err) => {
            if (err.code === "ENOENT") {
              finish(() => resolve3({ code: 127, stdout: "", stderr: `${argv[0]}: command not found
` }));
            } else {
              finish(() => reject(new TransportError(this.node, `cannot run ${argv[0]}: ${err.message}`, void 0, { cause: err })));
            }
          });
          child.on(
            "close",
            (code, signal) => finish(
              () => resolve3({
                code: exitCode(code, signal),
                stdout: Buffer.concat(stdout).toString("utf8"),
                stderr: Buffer.concat(stderr).toString("utf8")
              })
            )
          );
        });
      }
      /**
       * Long-running command with piped stdio. `pty` allocates no pseudo-terminal here (node has none
       * built in): it only sets TERM, so full-screen programs may still notice they are on pipes.
       */
      async spawn(argv, opts2 = {}) {
        if (argv.length === 0) throw new TransportError(this.node, "spawn: empty argv");
        const env = { ...process.env, ...opts2.env };
        if (opts2.pty) env.TERM = opts2.pty.term ?? process.env.TERM ?? "xterm-256color";
        const child = spawnChild(argv[0], argv.slice(1), { cwd: opts2.cwd, env, stdio: ["pipe", "pipe", "pipe"] });
        const exited = new Promise((resolve3, reject) => {
          child.on(
            "error",
            (err) => err.code === "ENOENT" ? resolve3(127) : reject(new TransportError(this.node, `cannot run ${argv[0]}: ${err.message}`, void 0, { cause: err }))
          );
          child.on("close", (code, signal) => resolve3(exitCode(code, signal)));
        });
        exited.catch(() => {
        });
        child.stdin.on("error", () => {
        });
        return {
          stdin: child.stdin,
          stdout: child.stdout,
          stderr: child.stderr,
          wait: () => exited,
          kill: (signal = "SIGTERM") => {
            child.kill(signal);
          }
        };
      }
      async upload(localPath, remotePath) {
        try {
          await rm(remotePath, { recursive: true, force: true });
          await mkdir(dirname2(remotePath), { recursive: true });
          await cp(localPath, remotePath, { recursive: true, force: true, errorOnExist: false });
        } catch (err) {
          throw new TransportError(this.node, `upload ${localPath} \u2192 ${remotePath} failed: ${err.message}`, void 0, {
            cause: err
          });
        }
      }
      async writeFile(remotePath, content, mode) {
        const tmp = join2(dirname2(remotePath), `.${basename(remotePath)}.${process.pid}.${Date.now()}.tmp`);
        try {
          await mkdir(dirname2(remotePath), { recursive: true });
          await writeFile(tmp, content, { mode: mode ?? 420 });
          if (mode !== void 0) await chmod(tmp, mode);
          await rename(tmp, remotePath);
        } catch (err) {
          await rm(tmp, { force: true }).catch(() => {
          });
          throw new TransportError(this.node, `write ${remotePath} failed: ${err.message}`, void 0, { cause: err });
        }
      }
      async readFile(remotePath) {
        try {
          return await readFile3(remotePath);
        } catch (err) {
          throw new TransportError(this.node, `read ${remotePath} failed: ${err.message}`, void 0, { cause: err });
        }
      }
      connectTcp(host, port) {
        return this.connectSocket(connect2({ host, port }), `${host}:${port}`);
      }
      connectUnix(path4) {
        return this.connectSocket(connect2({ path: path4 }), path4);
      }
      connectSocket(socket, where) {
        return new Promise((resolve3, reject) => {
          const onError = (err) => {
            socket.destroy();
            reject(new TransportError(this.node, `connect ${where} from ${this.node} failed: ${err.message}`, void 0, { cause: err }));
          };
          socket.once("error", onError);
          socket.once("connect", () => {
            socket.off("error", onError);
            socket.setNoDelay(true);
            resolve3(socket);
          });
        });
      }
      async home() {
        return homedir2();
      }
      async close() {
      }
    };
  }
});

// src/transport/hostkeys.ts
import { createHash as createHash2, createHmac } from "node:crypto";
import { appendFile, mkdir as mkdir2, readFile as readFile4 } from "node:fs/promises";
import { homedir as homedir3 } from "node:os";
import { dirname as dirname3, join as join3 } from "node:path";
function knownHostsName(host, port) {
  return port === 22 ? host : `[${host}]:${port}`;
}
function parseKnownHosts(text, file2) {
  const entries = [];
  text.split("\n").forEach((raw, i) => {
    const fields = raw.trim().split(/\s+/);
    if (fields[0] === "" || fields[0].startsWith("#")) return;
    let marker;
    if (fields[0].startsWith("@")) {
      const m = fields.shift();
      if (m !== "@revoked" && m !== "@cert-authority") return;
      marker = m;
    }
    const [hostField, keyType, key] = fields;
    if (!hostField || !keyType || !key) return;
    const entry = { file: file2, line: i + 1, keyType, key, ...marker ? { marker } : {} };
    if (hostField.startsWith("|1|")) {
      const [, , salt, hash] = hostField.split("|");
      if (!salt || !hash) return;
      entry.hashed = { salt: Buffer.from(salt, "base64"), hash: Buffer.from(hash, "base64") };
    } else {
      entry.patterns = hostField.split(",");
    }
    entries.push(entry);
  });
  return entries;
}
function wildcardMatch(pattern, name) {
  const re = pattern.replace(/[.+^${}()|[\]\\]/g, "\\$&").replace(/\*/g, ".*").replace(/\?/g, ".");
  return new RegExp(`^${re}$`, "i").test(name);
}
function entryMatchesHost(entry, host, port) {
  const name = knownHostsName(host, port);
  if (entry.hashed) {
    const digest = createHmac("sha1", entry.hashed.salt).update(name).digest();
    return digest.equals(entry.hashed.hash);
  }
  let matched = false;
  for (const p of entry.patterns ?? []) {
    if (p.startsWith("!")) {
      if (wildcardMatch(p.slice(1), name)) return false;
    } else if (wildcardMatch(p, name)) {
      matched = true;
    }
  }
  return matched;
}
function fingerprint(key) {
  const blob = typeof key === "string" ? Buffer.from(key, "base64") : key;
  return "SHA256:" + createHash2("sha256").update(blob).digest("base64").replace(/=+$/, "");
}
function keyTypeOfBlob(blob) {
  const len = blob.readUInt32BE(0);
  return blob.subarray(4, 4 + len).toString("latin1");
}
function parsePublicKeyLine(line) {
  const [keyType, key] = line.trim().split(/\s+/);
  if (!keyType || !key || !/^[A-Za-z0-9+/]+=*$/.test(key)) return void 0;
  return { keyType, key };
}
function algorithmsForKeyType(keyType) {
  return keyType === "ssh-rsa" ? ["rsa-sha2-512", "rsa-sha2-256", "ssh-rsa"] : [keyType];
}
function preferredHostKeyAlgorithms(knownTypes) {
  const first = knownTypes.flatMap(algorithmsForKeyType);
  return [.../* @__PURE__ */ new Set([...first, ...DEFAULT_HOST_KEY_ALGORITHMS])];
}
function decideHostKey(args) {
  const presented = args.presentedBlob.toString("base64");
  if (args.pinned) {
    const pin = parsePublicKeyLine(args.pinned);
    if (pin && pin.key === presented) return { verdict: "trusted", source: "pinned" };
    return { verdict: "mismatch", expected: pin ? fingerprint(pin.key) : args.pinned, pinned: true };
  }
  const forHost = args.entries.filter(
    (e) => e.marker !== "@cert-authority" && entryMatchesHost(e, args.host, args.port)
  );
  const revoked = forHost.find((e) => e.marker === "@revoked" && e.key === presented);
  if (revoked) return { verdict: "revoked", entry: revoked };
  const known = forHost.filter((e) => e.marker === void 0);
  if (known.some((e) => e.key === presented)) return { verdict: "trusted", source: "known_hosts" };
  if (known.length === 0) return { verdict: "unknown" };
  const presentedType = keyTypeOfBlob(args.presentedBlob);
  const entry = known.find((e) => e.keyType === presentedType) ?? known[0];
  return { verdict: "mismatch", expected: fingerprint(entry.key), pinned: false, entry };
}
function knownHostsLine(host, port, blob) {
  return `${knownHostsName(host, port)} ${keyTypeOfBlob(blob)} ${blob.toString("base64")}`;
}
function knownHostsPath(explicit) {
  return explicit ?? process.env.VENDETTA_KNOWN_HOSTS ?? join3(homedir3(), ".ssh", "known_hosts");
}
async function readKnownHosts(path4) {
  try {
    return parseKnownHosts(await readFile4(path4, "utf8"), path4);
  } catch (err) {
    if (err.code === "ENOENT") return [];
    throw err;
  }
}
async function appendKnownHost(path4, host, port, blob) {
  const entries = await readKnownHosts(path4);
  const key = blob.toString("base64");
  if (entries.some((e) => !e.marker && e.key === key && entryMatchesHost(e, host, port))) return;
  await mkdir2(dirname3(path4), { recursive: true, mode: 448 });
  let prefix = "";
  try {
    const current = await readFile4(path4, "utf8");
    if (current.length > 0 && !current.endsWith("\n")) prefix = "\n";
  } catch {
  }
  await appendFile(path4, `${prefix}${knownHostsLine(host, port, blob)}
`, { mode: 384 });
}
function mismatchHint(args) {
  const where = args.decision.pinned ? `the key pinned in spec.hostKey of Node ${args.node}` : `${args.decision.entry.file}:${args.decision.entry.line}`;
  const fix = args.decision.pinned ? `update spec.hostKey of Node ${args.node}` : `ssh-keygen -R '${knownHostsName(args.host, args.port)}' -f ${args.knownHostsFile}`;
  return `The expected key comes from ${where}. This can mean someone is intercepting the connection, or the node was reinstalled. Nothing was run. If you have verified the new key out of band, run: ${fix}  \u2014 and connect again.`;
}
function unknownHostHint(host, port, knownHostsFile, presented) {
  const portFlag = port === 22 ? "" : `-p ${port} `;
  return `The host presented ${presented}. Verify that fingerprint out of band, then add it: ssh-keyscan ${portFlag}${host} >> ${knownHostsFile}  (or pin it in the Node's spec.hostKey, or connect once without strict host key checking).`;
}
var DEFAULT_HOST_KEY_ALGORITHMS;
var init_hostkeys = __esm({
  "src/transport/hostkeys.ts"() {
    "use strict";
    DEFAULT_HOST_KEY_ALGORITHMS = [
      "ssh-ed25519",
      "ecdsa-sha2-nistp256",
      "ecdsa-sha2-nistp384",
      "ecdsa-sha2-nistp521",
      "rsa-sha2-512",
      "rsa-sha2-256",
      "ssh-rsa"
    ];
  }
});

// src/transport/keys.ts
import { existsSync } from "node:fs";
import { chmod as chmod2, mkdir as mkdir3, readFile as readFile5, rename as rename2, writeFile as writeFile2 } from "node:fs/promises";
import { homedir as homedir4, hostname as hostname2, userInfo } from "node:os";
import { dirname as dirname4, join as join4 } from "node:path";
import ssh2 from "ssh2";
function sshDir() {
  return process.env.VENDETTA_SSH_DIR ?? join4(homedir4(), ".ssh");
}
function expandHome(path4) {
  return path4 === "~" || path4.startsWith("~/") ? join4(homedir4(), path4.slice(1)) : path4;
}
function findDefaultKey(dir = sshDir()) {
  return DEFAULT_KEY_NAMES.map((n) => join4(dir, n)).find((p) => existsSync(p));
}
async function findCredentials(node, identityFile) {
  const creds = { notes: [] };
  const agent = process.env.SSH_AUTH_SOCK;
  if (agent && existsSync(agent)) creds.agent = agent;
  const path4 = identityFile ? expandHome(identityFile) : findDefaultKey();
  if (identityFile && !existsSync(path4)) {
    throw new TransportError(
      node,
      `identity file ${path4} of node ${node} does not exist`,
      `fix spec.identityFile, or remove it to use ${join4(sshDir(), "id_ed25519")} (vendetta node add generates one)`
    );
  }
  if (!path4) return creds;
  const privateKey = await readFile5(path4);
  const parsed = utils.parseKey(privateKey);
  if (parsed instanceof Error) {
    creds.notes.push(`${path4}: ${parsed.message}${/encrypt/i.test(parsed.message) ? " (add it to ssh-agent: ssh-add " + path4 + ")" : ""}`);
    return creds;
  }
  creds.privateKey = privateKey;
  creds.privateKeyPath = path4;
  return creds;
}
function installCommand(node, publicKeyPath) {
  const user = node.spec.user ?? userInfo().username;
  const port = node.spec.port ?? 22;
  const portFlag = port === 22 ? "" : ` -p ${port}`;
  return `ssh-copy-id -i ${publicKeyPath}${portFlag} ${user}@${node.spec.address}`;
}
var utils, DEFAULT_KEY_NAMES;
var init_keys = __esm({
  "src/transport/keys.ts"() {
    "use strict";
    init_types3();
    ({ utils } = ssh2);
    DEFAULT_KEY_NAMES = ["id_ed25519", "id_ecdsa", "id_rsa"];
  }
});

// src/transport/ssh.ts
import { randomBytes as randomBytes2 } from "node:crypto";
import { lstat, readdir as readdir2, readlink } from "node:fs/promises";
import { constants as osConstants2, userInfo as userInfo2 } from "node:os";
import { join as join5, posix as posix2 } from "node:path";
import ssh22 from "ssh2";
function buildCommand(argv, opts2 = {}) {
  if (argv.length === 0) throw new Error("exec: empty argv");
  const envEntries = Object.entries(opts2.env ?? {});
  for (const [k] of envEntries) {
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(k)) throw new Error(`invalid environment variable name: ${JSON.stringify(k)}`);
  }
  const withEnv = envEntries.length ? ["env", ...envEntries.map(([k, v]) => `${k}=${v}`), ...argv] : argv;
  const cmd = shellQuote(withEnv);
  return opts2.cwd !== void 0 ? `cd ${shellQuote([opts2.cwd])} && ${cmd}` : cmd;
}
function exitCodeOf(code, signal) {
  if (typeof code === "number") return code;
  const name = signal && !signal.startsWith("SIG") ? `SIG${signal}` : signal;
  const n = name ? osConstants2.signals[name] : void 0;
  return 128 + (n ?? 0);
}
function sftpCall(fn) {
  return new Promise((resolve3, reject) => fn((err, v) => err ? reject(err) : resolve3(v)));
}
function isNoSuchFile(err) {
  const cause = err instanceof TransportError ? err.cause : err;
  return cause?.code === 2;
}
async function putTree(sftp, local, remote) {
  const st = await lstat(local);
  if (st.isSymbolicLink()) {
    const target = await readlink(local);
    await sftpCall((cb) => sftp.symlink(target, remote, cb));
  } else if (st.isDirectory()) {
    await sftpCall((cb) => sftp.mkdir(remote, { mode: st.mode & 4095 }, cb));
    for (const name of await readdir2(local)) await putTree(sftp, join5(local, name), `${remote}/${name}`);
  } else if (st.isFile()) {
    await sftpCall((cb) => sftp.fastPut(local, remote, { mode: st.mode & 4095 }, (err) => cb(err, void 0)));
    await sftpCall((cb) => sftp.chmod(remote, st.mode & 4095, cb));
  }
}
var Client, Semaphore, TRANSIENT, SshTransport;
var init_ssh = __esm({
  "src/transport/ssh.ts"() {
    "use strict";
    init_hostkeys();
    init_keys();
    init_quote();
    init_types3();
    ({ Client } = ssh22);
    Semaphore = class {
      constructor(size) {
        this.size = size;
      }
      size;
      waiters = [];
      inUse = 0;
      async acquire() {
        if (this.inUse >= this.size) await new Promise((r2) => this.waiters.push(r2));
        else this.inUse++;
        let released = false;
        return () => {
          if (released) return;
          released = true;
          const next = this.waiters.shift();
          if (next) next();
          else this.inUse--;
        };
      }
    };
    TRANSIENT = /* @__PURE__ */ new Set(["ECONNREFUSED", "ECONNRESET", "ETIMEDOUT", "EHOSTUNREACH", "ENETUNREACH", "EPIPE"]);
    SshTransport = class {
      constructor(resource, opts2 = {}) {
        this.resource = resource;
        this.opts = opts2;
        this.node = resource.metadata.name;
        this.host = resource.spec.address;
        this.port = resource.spec.port ?? 22;
        this.user = resource.spec.user ?? userInfo2().username;
        this.describe = `${this.user}@${this.host}:${this.port}`;
        this.channels = new Semaphore(opts2.maxChannels ?? 8);
      }
      resource;
      opts;
      node;
      describe;
      host;
      port;
      user;
      channels;
      conn;
      connecting;
      closed = false;
      homeDir;
      /** Rejecters of calls in flight on the current connection: failed when it drops. */
      inflight = /* @__PURE__ */ new Set();
      /** Connect now (host key verified, logged in). Calls connect lazily otherwise. */
      async connect() {
        await this.client();
      }
      async client() {
        if (this.closed) throw new TransportError(this.node, `transport to ${this.node} is closed`);
        if (this.conn) return this.conn;
        this.connecting ??= this.connectWithRetry().finally(() => this.connecting = void 0);
        return this.connecting;
      }
      async connectWithRetry() {
        const attempts = this.opts.connectAttempts ?? 3;
        let delay = this.opts.backoffMs ?? 250;
        for (let i = 1; ; i++) {
          try {
            return await this.connectOnce();
          } catch (err) {
            const transient = err instanceof TransportError && err.transient;
            if (!transient || i >= attempts) throw err;
            await new Promise((r2) => setTimeout(r2, delay));
            delay *= 2;
          }
        }
      }
      async connectOnce() {
        const knownHosts = knownHostsPath(this.opts.knownHostsPath);
        const entries = await readKnownHosts(knownHosts);
        const pinned = this.resource.spec.hostKey;
        const knownTypes = pinned ? [parsePublicKeyLine(pinned)?.keyType ?? ""] : entries.filter((e) => !e.marker && e.keyType).map((e) => e.keyType);
        const config = {
          host: this.host,
          port: this.port,
          username: this.user,
          readyTimeout: this.opts.readyTimeoutMs ?? 1e4,
          keepaliveInterval: this.opts.keepaliveIntervalMs ?? 5e3,
          keepaliveCountMax: 3,
          algorithms: { serverHostKey: preferredHostKeyAlgorithms(knownTypes.filter(Boolean)) }
        };
        let keyNotes = [];
        if (this.opts.useKeys !== false) {
          const creds = await findCredentials(this.node, this.resource.spec.identityFile);
          if (creds.agent) config.agent = creds.agent;
          if (creds.privateKey) config.privateKey = creds.privateKey;
          keyNotes = creds.notes;
        }
        if (this.opts.password !== void 0) {
          config.password = this.opts.password;
          config.tryKeyboard = true;
        }
        if (!config.agent && !config.privateKey && config.password === void 0) {
          throw new TransportError(
            this.node,
            `no SSH credentials for node ${this.node}: no agent, no identity file, no key in ${sshDir()}${keyNotes.length ? ` (${keyNotes.join("; ")})` : ""}`,
            "run `vendetta node add` to generate and install a key, or set spec.identityFile"
          );
        }
        let hostKeyError;
        let presented;
        config.hostVerifier = (key, verify) => {
          presented = key;
          const decision = decideHostKey({ host: this.host, port: this.port, presentedBlob: key, pinned, entries });
          hostKeyError = this.hostKeyRefusal(decision, key, knownHosts);
          if (hostKeyError) return verify(false);
          if (decision.verdict !== "unknown") return verify(true);
          appendKnownHost(knownHosts, this.host, this.port, key).then(
            () => {
              this.opts.onHostKeyLearned?.({ node: this.node, fingerprint: fingerprint(key), knownHostsPath: knownHosts });
              verify(true);
            },
            (err) => {
              hostKeyError = new TransportError(this.node, `cannot record the host key of ${this.node} in ${knownHosts}: ${err.message}`, "check that the file is writable, or set VENDETTA_KNOWN_HOSTS");
              verify(false);
            }
          );
        };
        const conn = new Client();
        const password = this.opts.password;
        if (password !== void 0) {
          conn.on("keyboard-interactive", (_name, _instructions, _lang, prompts, finish) => finish(prompts.map(() => password)));
        }
        await new Promise((resolve3, reject) => {
          const onError = (err) => {
            conn.removeListener("ready", onReady);
            conn.end();
            reject(hostKeyError ?? this.connectError(err, keyNotes, presented));
          };
          const onReady = () => {
            conn.removeListener("error", onError);
            resolve3();
          };
          conn.once("ready", onReady).once("error", onError).connect(config);
        });
        conn.setNoDelay(true);
        conn.on("error", () => {
        });
        conn.on("close", () => {
          if (this.conn === conn) this.conn = void 0;
          const lost = new TransportError(
            this.node,
            `connection to node ${this.node} (${this.describe}) was lost`,
            "the command may or may not have completed; the next call reconnects, so retry"
          );
          for (const fail3 of this.inflight) fail3(lost);
          this.inflight.clear();
        });
        this.conn = conn;
        return conn;
      }
      hostKeyRefusal(decision, key, knownHosts) {
        switch (decision.verdict) {
          case "trusted":
            return void 0;
          case "unknown":
            if (!this.opts.strictHostKeys) return void 0;
            return new TransportError(
              this.node,
              `host key of node ${this.node} (${this.describe}) is unknown and strict host key checking is on`,
              unknownHostHint(this.host, this.port, knownHosts, fingerprint(key))
            );
          case "revoked":
            return new TransportError(
              this.node,
              `node ${this.node} presented a revoked host key ${fingerprint(key)} (${decision.entry.file}:${decision.entry.line})`,
              "do not connect; find out why the node uses a revoked key"
            );
          case "mismatch":
            return new HostKeyMismatchError(
              this.node,
              decision.expected,
              fingerprint(key),
              mismatchHint({ node: this.node, host: this.host, port: this.port, knownHostsFile: knownHosts, decision })
            );
        }
      }
      connectError(err, keyNotes, presented) {
        const where = `${this.host}:${this.port}`;
        const make = (msg, hint, transient = false) => {
          const e = new TransportError(this.node, `cannot connect to node ${this.node} (${this.describe}): ${msg}`, hint, { cause: err });
          return Object.assign(e, { transient });
        };
        if (err.level === "client-authentication") {
          const pub = this.resource.spec.identityFile ? `${this.resource.spec.identityFile}.pub` : join5(sshDir(), "id_ed25519.pub");
          return make(
            `authentication failed for user ${this.user}${keyNotes.length ? ` (${keyNotes.join("; ")})` : ""}`,
            `install your public key: vendetta node add ${this.node} --password-stdin, or run: ${installCommand(this.resource, pub)}`
          );
        }
        if (err.code === "ECONNREFUSED") return make(`connection refused by ${where}`, `is sshd running on ${where}?`, true);
        if (err.code === "ENOTFOUND" || err.code === "EAI_AGAIN") {
          return make(`cannot resolve host name ${this.host}`, `check spec.address of node ${this.node} and your DNS`);
        }
        if (err.level === "client-timeout" || err.code === "ETIMEDOUT" || /timed out/i.test(err.message)) {
          return make(
            `timed out${presented ? " after the handshake started" : ""}`,
            `is ${where} reachable from here (firewall, VPN)? Is sshd answering on that port?`,
            true
          );
        }
        return make(err.message, `check that sshd is running on ${where} and reachable`, TRANSIENT.has(err.code ?? ""));
      }
      /**
       * Open a session channel under the semaphore and wire its failure to a dropped connection.
       * `release` must be called when the channel is done.
       */
      async session(open, what) {
        const releaseSlot = await this.channels.acquire();
        let conn;
        try {
          conn = await this.client();
        } catch (err) {
          releaseSlot();
          throw err;
        }
        let lostHandler;
        const onLostConn = (e) => lostHandler?.(e);
        const release = () => {
          this.inflight.delete(onLostConn);
          releaseSlot();
        };
        this.inflight.add(onLostConn);
        try {
          const channel = await new Promise((resolve3, reject) => {
            lostHandler = reject;
            if (this.conn !== conn) return reject(this.lostError(what));
            open(conn, (err, ch) => err ? reject(err) : resolve3(ch));
          });
          lostHandler = void 0;
          return { channel, release, onLost: (fn) => lostHandler = fn };
        } catch (err) {
          release();
          if (err instanceof TransportError) throw err;
          throw new TransportError(
            this.node,
            `${what} on node ${this.node}: cannot open a channel: ${err.message}`,
            "retry; if it persists, check MaxSessions in the node's sshd_config",
            { cause: err }
          );
        }
      }
      lostError(what) {
        return new TransportError(this.node, `${what} on node ${this.node}: connection lost`, "retry: the next call reconnects");
      }
      async exec(argv, opts2 = {}) {
        let command;
        try {
          command = buildCommand(argv, opts2);
        } catch (err) {
          throw new TransportError(this.node, err.message);
        }
        if (opts2.signal?.aborted) throw new TransportError(this.node, `${argv[0]} on ${this.node} was aborted`);
        const { channel, release, onLost } = await this.session((c, cb) => c.exec(command, cb), argv[0]);
        return new Promise((resolve3, reject) => {
          const stdout = [];
          const stderr = [];
          let settled = false;
          const finish = (fn) => {
            if (settled) return;
            settled = true;
            clearTimeout(timer);
            opts2.signal?.removeEventListener("abort", onAbort);
            release();
            fn();
          };
          const kill = (message, hint) => {
            try {
              channel.signal("KILL");
            } catch {
            }
            channel.close();
            finish(() => reject(new TransportError(this.node, message, hint)));
          };
          const timer = opts2.timeoutMs !== void 0 ? setTimeout(
            () => kill(`${argv[0]} on ${this.node} timed out after ${opts2.timeoutMs}ms`, "raise the timeout or check why the command hangs"),
            opts2.timeoutMs
          ) : void 0;
          const onAbort = () => kill(`${argv[0]} on ${this.node} was aborted`);
          opts2.signal?.addEventListener("abort", onAbort, { once: true });
          onLost((e) => finish(() => reject(e)));
          channel.on("data", (d) => stdout.push(d));
          channel.stderr.on("data", (d) => stderr.push(d));
          channel.on("close", (code, signal) => {
            if (code === void 0 && signal === void 0) return finish(() => reject(this.lostError(argv[0])));
            const result = {
              code: exitCodeOf(code, signal),
              stdout: Buffer.concat(stdout).toString("utf8"),
              stderr: Buffer.concat(stderr).toString("utf8")
            };
            finish(() => resolve3(result));
          });
          if (opts2.stdin !== void 0) channel.end(opts2.stdin);
          else channel.end();
        });
      }
      async spawn(argv, opts2 = {}) {
        let command;
        try {
          command = buildCommand(argv, opts2);
        } catch (err) {
          throw new TransportError(this.node, err.message);
        }
        const pty = opts2.pty ? { rows: opts2.pty.rows, cols: opts2.pty.cols, term: opts2.pty.term ?? "xterm-256color" } : void 0;
        const { channel, release, onLost } = await this.session(
          (c, cb) => pty ? c.exec(command, { pty }, cb) : c.exec(command, cb),
          argv[0]
        );
        const done = new Promise((resolve3, reject) => {
          onLost((e) => {
            release();
            reject(e);
          });
          channel.on("close", (code, signal) => {
            release();
            if (code === void 0 && signal === void 0) reject(this.lostError(argv[0]));
            else resolve3(exitCodeOf(code, signal));
          });
        });
        done.catch(() => {
        });
        return {
          stdin: channel,
          stdout: channel,
          stderr: channel.stderr,
          wait: () => done,
          kill: (signal = "SIGTERM") => {
            try {
              channel.signal(signal.replace(/^SIG/, ""));
            } catch {
            }
            channel.close();
          },
          ...pty ? { resize: (rows, cols) => channel.setWindow(rows, cols, 0, 0) } : {}
        };
      }
      async withSftp(what, fn) {
        const { channel: sftp, release } = await this.session((c, cb) => c.sftp(cb), what);
        try {
          return await fn(sftp);
        } catch (err) {
          if (err instanceof TransportError) throw err;
          throw new TransportError(this.node, `${what} on node ${this.node} failed: ${err.message}`, void 0, { cause: err });
        } finally {
          sftp.end();
          release();
        }
      }
      /** exec that must succeed (mkdir, rm, mv around file transfers). */
      async run(argv, what) {
        const r2 = await this.exec(argv);
        if (r2.code !== 0) {
          throw new TransportError(this.node, `${what} on node ${this.node} failed (exit ${r2.code}): ${r2.stderr.trim()}`);
        }
      }
      async upload(localPath, remotePath) {
        const tmp = `${remotePath.replace(/\/+$/, "")}.vendetta-tmp-${randomBytes2(4).toString("hex")}`;
        await this.run(["mkdir", "-p", posix2.dirname(tmp)], `upload ${localPath}`);
        try {
          await this.withSftp(`upload ${localPath} \u2192 ${remotePath}`, (sftp) => putTree(sftp, localPath, tmp));
          await this.run(["sh", "-c", 'rm -rf -- "$1" && mv -- "$2" "$1"', "sh", remotePath, tmp], `upload ${localPath}`);
        } catch (err) {
          await this.exec(["rm", "-rf", "--", tmp]).catch(() => {
          });
          throw err;
        }
      }
      async writeFile(remotePath, content, mode = 420) {
        const tmp = `${remotePath}.vendetta-tmp-${randomBytes2(4).toString("hex")}`;
        const attempt = () => this.withSftp(`write ${remotePath}`, async (sftp) => {
          await sftpCall((cb) => sftp.writeFile(tmp, content, { mode }, cb));
          await sftpCall((cb) => sftp.chmod(tmp, mode, cb));
          await sftpCall((cb) => sftp.ext_openssh_rename(tmp, remotePath, cb));
        });
        try {
          await attempt();
        } catch (err) {
          if (!isNoSuchFile(err)) throw err;
          await this.run(["mkdir", "-p", posix2.dirname(remotePath)], `write ${remotePath}`);
          await attempt();
        }
      }
      async readFile(remotePath) {
        return this.withSftp(`read ${remotePath}`, (sftp) => sftpCall((cb) => sftp.readFile(remotePath, cb)));
      }
      async connectTcp(host, port) {
        const conn = await this.client();
        return new Promise(
          (resolve3, reject) => conn.forwardOut(
            "127.0.0.1",
            0,
            host,
            port,
            (err, ch) => err ? reject(new TransportError(this.node, `cannot connect to ${host}:${port} from node ${this.node}: ${err.message}`, `is something listening on ${host}:${port} on the node?`, { cause: err })) : resolve3(ch)
          )
        );
      }
      async connectUnix(path4) {
        const conn = await this.client();
        return new Promise(
          (resolve3, reject) => conn.openssh_forwardOutStreamLocal(
            path4,
            (err, ch) => err ? reject(new TransportError(this.node, `cannot connect to unix socket ${path4} on node ${this.node}: ${err.message}`, `does ${path4} exist on the node, may ${this.user} open it, and does sshd allow AllowStreamLocalForwarding?`, { cause: err })) : resolve3(ch)
          )
        );
      }
      async home() {
        if (this.homeDir === void 0) {
          const r2 = await this.exec(["sh", "-c", 'printf %s "$HOME"']);
          if (r2.code !== 0 || !r2.stdout) throw new TransportError(this.node, `cannot read $HOME on node ${this.node}: ${r2.stderr.trim()}`);
          this.homeDir = r2.stdout;
        }
        return this.homeDir;
      }
      async close() {
        this.closed = true;
        const conn = this.conn ?? await this.connecting?.catch(() => void 0);
        this.conn = void 0;
        if (!conn) return;
        await new Promise((resolve3) => {
          conn.once("close", () => resolve3());
          conn.end();
        });
      }
    };
  }
});

// src/transport/pool.ts
var pool_exports = {};
__export(pool_exports, {
  TransportPool: () => TransportPool,
  createTransport: () => createTransport
});
async function createTransport(node, opts2 = {}) {
  if (node.spec.address === LOCAL_ADDRESS) return new LocalTransport(node.metadata.name);
  const ssh3 = new SshTransport(node, opts2);
  await ssh3.connect();
  return ssh3;
}
var TransportPool;
var init_pool = __esm({
  "src/transport/pool.ts"() {
    "use strict";
    init_types();
    init_local();
    init_ssh();
    TransportPool = class {
      constructor(opts2 = {}) {
        this.opts = opts2;
      }
      opts;
      transports = /* @__PURE__ */ new Map();
      /**
       * The shared transport of `node`. A failed connect is not cached, so the next get retries;
       * a transport whose connection later drops reconnects by itself on its next call.
       */
      get(node) {
        const { address, port, user, identityFile, hostKey } = node.spec;
        const key = JSON.stringify([node.metadata.name, address, port, user, identityFile, hostKey]);
        let t = this.transports.get(key);
        if (!t) {
          t = createTransport(node, this.opts);
          this.transports.set(key, t);
          t.catch(() => {
            if (this.transports.get(key) === t) this.transports.delete(key);
          });
        }
        return t;
      }
      async closeAll() {
        const all = [...this.transports.values()];
        this.transports.clear();
        await Promise.all(all.map((t) => t.then((x) => x.close()).catch(() => {
        })));
      }
    };
  }
});

// src/providers/process/driver.ts
import { posix as posix3 } from "node:path";
function processRoot(node, home2, vendettaHome) {
  const configured = node.spec.providers?.process?.root;
  if (configured) {
    if (configured === "~") return home2;
    return configured.startsWith("~/") ? posix3.join(home2, configured.slice(2)) : configured;
  }
  const isLocal = node.metadata.name === LOCAL_NODE || node.spec.address === LOCAL_ADDRESS;
  if (isLocal && vendettaHome) return posix3.join(vendettaHome, "workspaces");
  return posix3.join(home2, ".vendetta", "workspaces");
}
function workspacePaths(root, name) {
  if (!NAME2.test(name)) {
    throw new Error(`invalid workspace name ${JSON.stringify(name)}: use a DNS-1123 label (lowercase letters, digits, '-')`);
  }
  const base2 = posix3.normalize(root).replace(/\/+$/, "");
  const dir = posix3.join(base2, name);
  if (!base2 || posix3.dirname(dir) !== base2) throw new Error(`workspace ${name} would not be inside ${root}`);
  return {
    dir,
    meta: `${dir}/meta.json`,
    workspaceDir: `${dir}/workspace`,
    stateDir: `${dir}/state`
  };
}
function observeArgv(root) {
  const body = `[ -d "$1" ] || exit 0
for w in "$1"/*/; do
  w=\${w%/}
  [ -f "$w/meta.json" ] || continue
  printf 'workspace\\t%s\\n' "\${w##*/}"
  printf 'meta\\t'; tr -d '\\n' < "$w/meta.json"; printf '\\n'
  service_status "$w/state"
done`;
  return ["/bin/sh", "-c", `${SERVICE_SHELL_LIB}
${body}`, "sh", root];
}
function isOurMeta(value) {
  const m = value;
  return !!m && m.managed === true && m.kind === "Workspace" && typeof m.name === "string";
}
function parseProcessObservation(text) {
  const blocks = text.split(/^workspace\t/m).slice(1);
  const out = [];
  for (const block of blocks) {
    const metaLine = /^meta\t(.*)$/m.exec(block)?.[1];
    let meta;
    try {
      meta = metaLine ? JSON.parse(metaLine) : void 0;
    } catch {
      continue;
    }
    if (!isOurMeta(meta)) continue;
    out.push({
      name: meta.name,
      provider: "process",
      specHash: meta.specHash,
      applySet: meta.applySet,
      running: meta.running,
      address: ADDRESS,
      services: parseServiceStatus(block)
    });
  }
  return out;
}
function gitCloneArgv(url, ref, target) {
  return ["git", "clone", "--depth", "1", ...ref ? ["--branch", ref] : [], "--", url, target];
}
function check(res, what, node, hint) {
  if (res.code === 0) return;
  const detail = (res.stderr || res.stdout).trim() || `exit code ${res.code}`;
  throw new Error(`${what} on node ${node} failed: ${detail}${hint ? ` (${hint})` : ""}`);
}
function createProcessDriver() {
  async function rootOf(ctx) {
    return processRoot(ctx.node, await ctx.transport.home(), process.env.VENDETTA_HOME);
  }
  async function pathsOf(ctx, name) {
    return workspacePaths(await rootOf(ctx), name);
  }
  async function readMeta(ctx, name, paths) {
    let meta;
    try {
      meta = JSON.parse((await ctx.transport.readFile(paths.meta)).toString("utf8"));
    } catch (err) {
      throw new Error(`workspace ${name} not found on node ${ctx.node.metadata.name} (${paths.meta}): ${err.message}`);
    }
    if (!isOurMeta(meta)) throw new Error(`${paths.meta} on node ${ctx.node.metadata.name} is not managed by vendetta`);
    return meta;
  }
  async function writeMeta(ctx, paths, meta) {
    await ctx.transport.writeFile(paths.meta, `${JSON.stringify(meta)}
`, 420);
  }
  async function setRunning(ctx, name, running) {
    const paths = await pathsOf(ctx, name);
    const meta = await readMeta(ctx, name, paths);
    if (!running) {
      const res = await ctx.transport.exec(stopAllServicesArgv(paths.stateDir));
      check(res, `stopping the services of workspace ${name}`, ctx.node.metadata.name);
    }
    if (meta.running !== running) await writeMeta(ctx, paths, { ...meta, running });
  }
  return {
    name: "process",
    async availability() {
      return { available: true, version: "builtin", detail: "plain processes under /bin/sh" };
    },
    async observe(ctx) {
      const res = await ctx.transport.exec(observeArgv(await rootOf(ctx)));
      check(res, "listing process workspaces", ctx.node.metadata.name);
      return parseProcessObservation(res.stdout);
    },
    async create(ctx, ws) {
      const name = ws.resource.metadata.name;
      const node = ctx.node.metadata.name;
      const paths = await pathsOf(ctx, name);
      check(await ctx.transport.exec(["mkdir", "-p", paths.stateDir]), `creating ${paths.dir}`, node);
      const source = ws.resource.spec.source;
      if (source?.path) {
        ctx.progress?.(`copying ${source.path} to ${paths.workspaceDir}`);
        await ctx.transport.upload(source.path, paths.workspaceDir);
      } else if (source?.git) {
        ctx.progress?.(`cloning ${source.git.url}`);
        check(await ctx.transport.exec(["rm", "-rf", "--", paths.workspaceDir]), `clearing ${paths.workspaceDir}`, node);
        const res = await ctx.transport.exec(gitCloneArgv(source.git.url, source.git.ref, paths.workspaceDir));
        check(res, `git clone ${source.git.url}`, node, "is git installed on the node and the repository reachable from it?");
      } else {
        check(await ctx.transport.exec(["mkdir", "-p", paths.workspaceDir]), `creating ${paths.workspaceDir}`, node);
      }
      await writeMeta(ctx, paths, {
        managed: true,
        kind: "Workspace",
        name,
        specHash: ws.specHash,
        applySet: ctx.applySet,
        running: ws.resource.spec.state !== "stopped",
        createdAt: (/* @__PURE__ */ new Date()).toISOString()
      });
    },
    start: (ctx, name) => setRunning(ctx, name, true),
    stop: (ctx, name) => setRunning(ctx, name, false),
    async delete(ctx, name) {
      const paths = await pathsOf(ctx, name);
      const node = ctx.node.metadata.name;
      check(await ctx.transport.exec(stopAllServicesArgv(paths.stateDir)), `stopping the services of workspace ${name}`, node);
      check(await ctx.transport.exec(["rm", "-rf", "--", paths.dir]), `removing ${paths.dir}`, node);
    },
    async runtime(ctx, name) {
      const paths = await pathsOf(ctx, name);
      const { transport } = ctx;
      return {
        workspaceDir: paths.workspaceDir,
        stateDir: paths.stateDir,
        address: ADDRESS,
        exec: (argv, opts2) => transport.exec(argv, { ...opts2, cwd: opts2?.cwd ?? paths.workspaceDir }),
        spawn: (argv, opts2) => transport.spawn(argv, { ...opts2, cwd: opts2?.cwd ?? paths.workspaceDir })
      };
    }
  };
}
var NAME2, ADDRESS;
var init_driver = __esm({
  "src/providers/process/driver.ts"() {
    "use strict";
    init_types();
    init_supervisor();
    NAME2 = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
    ADDRESS = "127.0.0.1";
  }
});

// src/providers/docker/spec.ts
function containerName(workspace) {
  return `vendetta-${workspace}`;
}
function workspaceLabels(ws, applySet) {
  return {
    [LABEL_MANAGED]: "true",
    [LABEL_KIND]: "Workspace",
    [LABEL_NAME]: ws.resource.metadata.name,
    [LABEL_SPEC_HASH]: ws.specHash,
    [LABEL_APPLY_SET]: applySet,
    [LABEL_NODE]: ws.resource.spec.node
  };
}
function portKey(p) {
  return `${p.containerPort}/${p.protocol}`;
}
function portBindings(ports) {
  const specs = (ports ?? []).map(parsePortSpec);
  const exposed = {};
  const bindings = {};
  for (const p of specs) {
    exposed[portKey(p)] = {};
    (bindings[portKey(p)] ??= []).push({ HostIp: p.hostIp ?? "", HostPort: String(p.hostPort) });
  }
  return { exposed, bindings, specs };
}
function containerCreateOptions(ws, applySet, image) {
  const { resource, env } = ws;
  const name = resource.metadata.name;
  const { exposed, bindings } = portBindings(resource.spec.ports);
  const resources = resource.spec.resources ?? {};
  const hostConfig = {
    Init: true,
    PortBindings: bindings
  };
  if (resources.cpus !== void 0) hostConfig.NanoCpus = Math.round(resources.cpus * 1e9);
  if (resources.memory !== void 0) hostConfig.Memory = parseQuantity(resources.memory);
  return {
    name: containerName(name),
    Hostname: name,
    Image: image,
    // Entrypoint, not Cmd: an image's own entrypoint must not wrap our keep-alive.
    Entrypoint: ["/bin/sh", "-c", KEEP_ALIVE_SCRIPT],
    Cmd: [],
    WorkingDir: WORKSPACE_DIR,
    Env: Object.entries(env).map(([k, v]) => `${k}=${v}`),
    Labels: workspaceLabels(ws, applySet),
    ExposedPorts: exposed,
    HostConfig: hostConfig
  };
}
function containerAddress(networks, networkMode) {
  for (const net of Object.values(networks ?? {})) {
    if (net.IPAddress) return net.IPAddress;
  }
  if (networkMode === "host") return "127.0.0.1";
  return void 0;
}
function observedFromContainer(info, services = []) {
  const labels = info.Labels ?? {};
  const name = labels[LABEL_NAME] ?? (info.Names[0] ?? "").replace(/^\/(vendetta-)?/, "");
  const running = info.State === "running";
  const address = containerAddress(info.NetworkSettings?.Networks, info.HostConfig?.NetworkMode);
  return {
    name,
    provider: "docker",
    specHash: labels[LABEL_SPEC_HASH] ?? "",
    ...labels[LABEL_APPLY_SET] ? { applySet: labels[LABEL_APPLY_SET] } : {},
    running,
    ...running && address ? { address } : {},
    services
  };
}
function dockerMessage(err) {
  const e = err;
  return (e?.json?.message ?? e?.message ?? String(err)).trim();
}
function statusCode(err) {
  return err?.statusCode;
}
function isPortConflict(err) {
  return /port is already allocated|address already in use/i.test(dockerMessage(err));
}
function conflictingPorts(err, specs) {
  const text = dockerMessage(err);
  const hit = specs.filter((p) => new RegExp(`[:\\s]${p.hostPort}(?![0-9])`).test(text));
  const list = hit.length > 0 ? hit : specs;
  return list.map((p) => `${p.hostIp ? p.hostIp.includes(":") ? `[${p.hostIp}]` : p.hostIp : "0.0.0.0"}:${p.hostPort}`);
}
function portConflictMessage(err, workspace, node, specs) {
  const ports = conflictingPorts(err, specs).join(", ");
  return `workspace ${workspace}: port ${ports} is already in use on node ${node}; stop whatever listens there or change spec.ports (docker: ${dockerMessage(err)})`;
}
function imageNotFoundMessage(image, node) {
  return `image ${image} not found on node ${node}; build or load it there (docker load / docker import), or set pull: missing`;
}
function pullFailedMessage(image, node, err) {
  return `pulling image ${image} on node ${node} failed: ${dockerMessage(err)}; check the node can reach the registry, or load the image there (docker load / docker import) and set pull: never`;
}
function describeDockerError(err) {
  return dockerMessage(err);
}
var LABEL_MANAGED, LABEL_KIND, LABEL_NAME, LABEL_SPEC_HASH, LABEL_APPLY_SET, LABEL_NODE, MANAGED_SELECTOR, WORKSPACE_DIR, STATE_DIR, KEEP_ALIVE_SCRIPT;
var init_spec = __esm({
  "src/providers/docker/spec.ts"() {
    "use strict";
    init_ports();
    init_quantity();
    LABEL_MANAGED = "vendetta.dev/managed";
    LABEL_KIND = "vendetta.dev/kind";
    LABEL_NAME = "vendetta.dev/name";
    LABEL_SPEC_HASH = "vendetta.dev/spec-hash";
    LABEL_APPLY_SET = "vendetta.dev/applyset";
    LABEL_NODE = "vendetta.dev/node";
    MANAGED_SELECTOR = `${LABEL_MANAGED}=true`;
    WORKSPACE_DIR = "/workspace";
    STATE_DIR = "/var/lib/vendetta";
    KEEP_ALIVE_SCRIPT = 'trap "exit 0" TERM INT; while :; do sleep 3600 & wait $!; done';
  }
});

// src/providers/docker/archive.ts
import tarFs from "tar-fs";
import tarStream from "tar-stream";
function sourceEntryName(name, workspaceDir = WORKSPACE_DIR) {
  const root = relative2(workspaceDir);
  return name === "." || name === "" ? root : `${root}/${name.replace(/^\.\//, "")}`;
}
function workspaceArchive(sourceDir) {
  const pack = tarStream.pack();
  pack.entry({ name: relative2(STATE_DIR), type: "directory", mode: 493 });
  pack.entry({ name: relative2(WORKSPACE_DIR), type: "directory", mode: 493 });
  if (sourceDir === void 0) {
    pack.finalize();
    return pack;
  }
  return tarFs.pack(sourceDir, {
    pack,
    map: (header) => ({ ...header, name: sourceEntryName(header.name), uid: 0, gid: 0 })
  });
}
var relative2;
var init_archive = __esm({
  "src/providers/docker/archive.ts"() {
    "use strict";
    init_spec();
    relative2 = (dir) => dir.replace(/^\/+/, "");
  }
});

// src/transport/unix-agent.ts
import http from "node:http";
function asSocket(stream) {
  const s = stream;
  for (const method of ["setNoDelay", "setKeepAlive", "setTimeout", "ref", "unref"]) {
    if (typeof s[method] !== "function") s[method] = () => s;
  }
  return s;
}
var TransportUnixAgent;
var init_unix_agent = __esm({
  "src/transport/unix-agent.ts"() {
    "use strict";
    TransportUnixAgent = class extends http.Agent {
      constructor(transport, socketPath) {
        super({ keepAlive: false });
        this.transport = transport;
        this.socketPath = socketPath;
      }
      transport;
      socketPath;
      createConnection(_options, callback) {
        this.transport.connectUnix(this.socketPath).then(
          (stream) => callback(null, asSocket(stream)),
          (err) => callback(err)
        );
        return void 0;
      }
    };
  }
});

// src/providers/docker/client.ts
import http2 from "node:http";
import Docker from "dockerode";
function classifyRequest(method, path4) {
  const bare = path4.replace(/^\/v[0-9.]+(?=\/)/, "").split("?")[0];
  if (method === "GET" || method === "HEAD") return "read";
  if (/^\/exec\//.test(bare) || /^\/containers\/[^/]+\/exec$/.test(bare)) return "exec";
  return "mutating";
}
function countRequest(method, path4) {
  dockerApiCalls.total++;
  const kind = classifyRequest(method, path4);
  if (kind === "exec") dockerApiCalls.execs++;
  if (kind === "mutating") {
    dockerApiCalls.mutating++;
    dockerApiCalls.mutations.push(`${method} ${path4.replace(/^\/v[0-9.]+(?=\/)/, "").split("?")[0]}`);
  }
}
function dockerClient(transport, socketPath) {
  let bySocket = clients.get(transport);
  if (!bySocket) clients.set(transport, bySocket = /* @__PURE__ */ new Map());
  let docker2 = bySocket.get(socketPath);
  if (!docker2) {
    const agent = new TransportAgent(transport, socketPath);
    docker2 = new Docker({ protocol: "http", host: "docker", port: 80, agent });
    bySocket.set(socketPath, docker2);
  }
  return docker2;
}
var DEFAULT_DOCKER_SOCKET, dockerApiCalls, TransportAgent, clients;
var init_client = __esm({
  "src/providers/docker/client.ts"() {
    "use strict";
    init_unix_agent();
    DEFAULT_DOCKER_SOCKET = "/var/run/docker.sock";
    dockerApiCalls = { total: 0, mutating: 0, execs: 0, mutations: [] };
    TransportAgent = class extends TransportUnixAgent {
      // Undocumented but stable Agent hook: every request passes through it exactly once.
      addRequest(req, options) {
        countRequest(req.method, req.path);
        http2.Agent.prototype.addRequest.call(this, req, options);
      }
    };
    clients = /* @__PURE__ */ new WeakMap();
  }
});

// src/providers/docker/exec.ts
import { PassThrough, Writable } from "node:stream";
function envList(env) {
  return env ? Object.entries(env).map(([k, v]) => `${k}=${v}`) : void 0;
}
function streamDone(stream) {
  return new Promise((resolve3) => {
    let done = false;
    const finish = () => {
      if (!done) {
        done = true;
        resolve3();
      }
    };
    stream.once("end", finish);
    stream.once("close", finish);
    stream.once("error", finish);
  });
}
async function exitCode2(exec) {
  for (let attempt = 0; ; attempt++) {
    const info = await exec.inspect();
    if (!info.Running && info.ExitCode !== null && info.ExitCode !== void 0) return info.ExitCode;
    if (attempt >= 50) return info.ExitCode ?? -1;
    await new Promise((r2) => setTimeout(r2, 20));
  }
}
async function startExec(target, argv, opts2) {
  if (argv.length === 0) throw new Error(`exec in ${target.where}: empty command`);
  const container = target.docker.getContainer(target.containerId);
  const exec = await container.exec({
    Cmd: argv,
    AttachStdin: opts2.stdin,
    AttachStdout: true,
    AttachStderr: true,
    Tty: opts2.tty,
    ...opts2.env ? { Env: envList(opts2.env) } : {},
    ...opts2.cwd ? { WorkingDir: opts2.cwd } : {}
  });
  const stream = await exec.start({ hijack: true, stdin: opts2.stdin, Tty: opts2.tty });
  return { exec, stream };
}
async function dockerExec(target, argv, opts2 = {}) {
  opts2.signal?.throwIfAborted();
  const hasStdin = opts2.stdin !== void 0;
  const { exec, stream } = await startExec(target, argv, { env: opts2.env, cwd: opts2.cwd, stdin: hasStdin, tty: false });
  const out = [];
  const err = [];
  const collect = (into) => new Writable({
    write(chunk, _enc, cb) {
      into.push(chunk);
      cb();
    }
  });
  target.docker.modem.demuxStream(stream, collect(out), collect(err));
  const done = streamDone(stream);
  if (hasStdin) stream.end(opts2.stdin);
  let cancelled;
  const cancel = (reason) => {
    cancelled ??= reason;
    stream.destroy();
  };
  const timer = opts2.timeoutMs !== void 0 ? setTimeout(
    () => cancel(
      new TransportError(
        target.node,
        `command ${JSON.stringify(argv.join(" "))} in ${target.where} timed out after ${opts2.timeoutMs} ms`
      )
    ),
    opts2.timeoutMs
  ) : void 0;
  const onAbort = () => cancel(new TransportError(target.node, `command in ${target.where} was aborted`));
  opts2.signal?.addEventListener("abort", onAbort, { once: true });
  try {
    await done;
  } finally {
    clearTimeout(timer);
    opts2.signal?.removeEventListener("abort", onAbort);
  }
  if (cancelled) throw cancelled;
  return {
    code: await exitCode2(exec),
    stdout: Buffer.concat(out).toString("utf8"),
    stderr: Buffer.concat(err).toString("utf8")
  };
}
async function initialResize(exec, rows, cols) {
  for (let attempt = 0; attempt < 20; attempt++) {
    try {
      await exec.resize({ h: rows, w: cols });
      return;
    } catch {
      await new Promise((r2) => setTimeout(r2, 10));
    }
  }
}
async function dockerSpawn(target, argv, opts2 = {}) {
  const tty = opts2.pty !== void 0;
  const env = tty ? { TERM: opts2.pty?.term ?? "xterm-256color", ...opts2.env } : opts2.env;
  const { exec, stream } = await startExec(target, argv, { env, cwd: opts2.cwd, stdin: true, tty });
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  if (tty) {
    stream.pipe(stdout);
  } else {
    target.docker.modem.demuxStream(stream, stdout, stderr);
  }
  const done = streamDone(stream).then(() => {
    stdout.end();
    stderr.end();
  });
  stream.on("error", () => void 0);
  const stdin = new Writable({
    write(chunk, enc, cb) {
      if (stream.writable) stream.write(chunk, enc, () => cb());
      else cb();
    },
    final(cb) {
      if (stream.writable) stream.end();
      cb();
    }
  });
  const resize = (rows, cols) => {
    exec.resize({ h: rows, w: cols }).catch(() => void 0);
  };
  if (opts2.pty) await initialResize(exec, opts2.pty.rows, opts2.pty.cols);
  return {
    stdin,
    stdout,
    stderr,
    async wait() {
      await done;
      return exitCode2(exec);
    },
    // No exec-kill in the Engine API: closing the connection hangs up the TTY (SIGHUP) or
    // closes the pipes (SIGPIPE on the next write, e.g. `tail -f`).
    kill() {
      stream.destroy();
    },
    ...tty ? { resize } : {}
  };
}
var init_exec = __esm({
  "src/providers/docker/exec.ts"() {
    "use strict";
    init_types3();
  }
});

// src/providers/docker/driver.ts
function socketOf(ctx) {
  return ctx.node.spec.providers?.docker?.socket ?? DEFAULT_DOCKER_SOCKET;
}
function clientOf(ctx) {
  return dockerClient(ctx.transport, socketOf(ctx));
}
function nodeName(ctx) {
  return ctx.node.metadata.name;
}
function fail(ctx, what, err) {
  return new Error(`docker ${what} on node ${nodeName(ctx)} failed: ${describeDockerError(err)}`, { cause: err });
}
async function inspectManaged(ctx, name) {
  let info;
  try {
    info = await clientOf(ctx).getContainer(containerName(name)).inspect();
  } catch (err) {
    if (statusCode(err) === 404) return void 0;
    throw fail(ctx, `inspect of workspace ${name}`, err);
  }
  if (info.Config.Labels?.[LABEL_MANAGED] !== "true") {
    throw new Error(
      `container ${containerName(name)} on node ${nodeName(ctx)} is not managed by vendetta (no ${MANAGED_SELECTOR} label); vendetta never touches it: rename or remove it yourself, or rename workspace ${name}`
    );
  }
  return info;
}
async function ensureImage(ctx, docker2, image, pull) {
  const present = await docker2.getImage(image).inspect().then(
    () => true,
    (err) => {
      if (statusCode(err) === 404) return false;
      throw fail(ctx, `inspect of image ${image}`, err);
    }
  );
  if (present && pull !== "always") return;
  if (!present && pull === "never") throw new ProviderError(imageNotFoundMessage(image, nodeName(ctx)), void 0, true);
  ctx.progress?.(`pulling image ${image} on node ${nodeName(ctx)}`);
  try {
    const stream = await docker2.pull(image);
    await new Promise(
      (resolve3, reject) => docker2.modem.followProgress(stream, (err) => err ? reject(err) : resolve3())
    );
  } catch (err) {
    throw new Error(pullFailedMessage(image, nodeName(ctx), err), { cause: err });
  }
}
async function startContainer(ctx, container, name, ports) {
  try {
    await container.start();
  } catch (err) {
    if (statusCode(err) === 304) return;
    if (isPortConflict(err)) {
      throw new ProviderError(portConflictMessage(err, name, nodeName(ctx), portBindings(ports).specs), void 0, true, { cause: err });
    }
    throw fail(ctx, `start of workspace ${name}`, err);
  }
}
function execTarget(ctx, containerId, name) {
  return { docker: clientOf(ctx), containerId, node: nodeName(ctx), where: `workspace ${name} on node ${nodeName(ctx)}` };
}
function createDockerDriver() {
  return {
    name: "docker",
    async availability(ctx) {
      try {
        const v = await clientOf(ctx).version();
        return { available: true, version: `${v.Version} (API ${v.ApiVersion})`, detail: `${v.Os}/${v.Arch}` };
      } catch (err) {
        return { available: false, ...await diagnoseSocket(ctx, err) };
      }
    },
    async observe(ctx) {
      const docker2 = clientOf(ctx);
      let containers;
      try {
        containers = await docker2.listContainers({
          all: true,
          filters: { label: [MANAGED_SELECTOR, `${LABEL_KIND}=Workspace`, `${LABEL_NODE}=${nodeName(ctx)}`] }
        });
      } catch (err) {
        const { detail, hint } = await diagnoseSocket(ctx, err);
        throw new ProviderError(detail, hint, false, { cause: err });
      }
      return Promise.all(
        containers.map(async (info) => {
          const observed = observedFromContainer(info);
          if (!observed.running) return observed;
          const target = execTarget(ctx, info.Id, observed.name);
          return { ...observed, services: await readServiceStatus((argv) => dockerExec(target, argv), STATE_DIR, target.where) };
        })
      );
    },
    async create(ctx, ws) {
      const { spec, metadata } = ws.resource;
      const name = metadata.name;
      if (!spec.image) throw new Error(`workspace ${name}: spec.image is required for the docker provider (e.g. debian:12)`);
      const docker2 = clientOf(ctx);
      const options = containerCreateOptions(ws, ctx.applySet, spec.image);
      await ensureImage(ctx, docker2, spec.image, spec.pull ?? "missing");
      let container;
      try {
        container = await docker2.createContainer(options);
      } catch (err) {
        if (statusCode(err) === 409) {
          throw new ProviderError(
            `workspace ${name}: a container named ${containerName(name)} already exists on node ${nodeName(ctx)}; delete the workspace first (vendetta delete workspace ${name}) or remove that container`,
            void 0,
            true,
            { cause: err }
          );
        }
        throw fail(ctx, `create of workspace ${name}`, err);
      }
      try {
        ctx.progress?.(`uploading ${spec.source?.path ?? "workspace directories"} to ${name}:${WORKSPACE_DIR}`);
        await container.putArchive(workspaceArchive(spec.source?.path), { path: "/" }).catch((err) => {
          throw fail(ctx, `upload of ${spec.source?.path ?? "workspace directories"} to workspace ${name}`, err);
        });
        if ((spec.state ?? "running") === "running") await startContainer(ctx, container, name, spec.ports);
      } catch (err) {
        await container.remove({ force: true, v: true }).catch(() => void 0);
        throw err;
      }
    },
    async start(ctx, name) {
      const info = await inspectManaged(ctx, name);
      if (!info) throw new Error(`workspace ${name} does not exist on node ${nodeName(ctx)}; apply it to create it`);
      const ports = Object.entries(info.HostConfig.PortBindings ?? {}).flatMap(
        ([key, binds]) => (binds ?? []).map(
          (b) => `${b.HostIp ? `${b.HostIp}:` : ""}${b.HostPort}:${key}`
        )
      );
      await startContainer(ctx, clientOf(ctx).getContainer(info.Id), name, ports);
    },
    async stop(ctx, name) {
      const info = await inspectManaged(ctx, name);
      if (!info || !info.State.Running) return;
      try {
        await clientOf(ctx).getContainer(info.Id).stop({ t: STOP_TIMEOUT_S });
      } catch (err) {
        if (statusCode(err) === 304 || statusCode(err) === 404) return;
        throw fail(ctx, `stop of workspace ${name}`, err);
      }
    },
    async delete(ctx, name) {
      const info = await inspectManaged(ctx, name);
      if (!info) return;
      try {
        await clientOf(ctx).getContainer(info.Id).remove({ force: true, v: true });
      } catch (err) {
        if (statusCode(err) === 404 || statusCode(err) === 409) return;
        throw fail(ctx, `delete of workspace ${name}`, err);
      }
    },
    async runtime(ctx, name) {
      const info = await inspectManaged(ctx, name);
      if (!info) throw new Error(`workspace ${name} does not exist on node ${nodeName(ctx)}; apply it to create it`);
      if (!info.State.Running) {
        throw new Error(`workspace ${name} on node ${nodeName(ctx)} is stopped; set state: running and apply to start it`);
      }
      const target = execTarget(ctx, info.Id, name);
      const address = containerAddress(info.NetworkSettings.Networks, info.HostConfig.NetworkMode) ?? "127.0.0.1";
      return {
        workspaceDir: WORKSPACE_DIR,
        stateDir: STATE_DIR,
        address,
        exec: (argv, opts2) => dockerExec(target, argv, opts2),
        spawn: (argv, opts2) => dockerSpawn(target, argv, opts2)
      };
    }
  };
}
async function diagnoseSocket(ctx, err) {
  const socket = socketOf(ctx);
  const node = nodeName(ctx);
  const detail = `cannot reach the Docker Engine at ${socket} on node ${node}: ${describeDockerError(err)}`;
  let probe2 = "";
  try {
    const result = await ctx.transport.exec(
      ["/bin/sh", "-c", 'if [ ! -S "$1" ]; then echo missing; elif [ ! -r "$1" ] || [ ! -w "$1" ]; then echo denied; else echo ok; fi; id -un', "sh", socket],
      { timeoutMs: 1e4 }
    );
    probe2 = result.stdout;
  } catch {
  }
  const [state, user] = probe2.trim().split("\n");
  if (state === "denied") {
    return { detail, hint: `add user ${user ?? "the SSH user"} to the docker group on node ${node} (sudo usermod -aG docker ${user ?? "$USER"}), then reconnect` };
  }
  if (state === "missing") {
    return { detail, hint: `install docker.io on node ${node} and start dockerd (no socket at ${socket}), or set spec.providers.docker.socket` };
  }
  return { detail, hint: `check that dockerd is running on node ${node} and listening on ${socket} (docker -H unix://${socket} version)` };
}
var STOP_TIMEOUT_S;
var init_driver2 = __esm({
  "src/providers/docker/driver.ts"() {
    "use strict";
    init_manager();
    init_types2();
    init_archive();
    init_client();
    init_exec();
    init_spec();
    init_client();
    STOP_TIMEOUT_S = 5;
  }
});

// src/providers/qemu/spec.ts
import { posix as posix4 } from "node:path";
function qemuRoot(home2) {
  return posix4.join(home2, ".vendetta", "qemu");
}
function guestKeyPath(root) {
  return `${root}/guest_key`;
}
function nodeDir(root, node) {
  if (!NAME3.test(node)) throw new Error(`invalid node name ${JSON.stringify(node)}: use a DNS-1123 label`);
  return `${root}/${node}`;
}
function vmPaths(root, node, name) {
  if (!NAME3.test(name)) {
    throw new Error(`invalid workspace name ${JSON.stringify(name)}: use a DNS-1123 label (lowercase letters, digits, '-')`);
  }
  const base2 = nodeDir(root, node);
  const dir = `${base2}/${name}`;
  const paths = {
    dir,
    meta: `${dir}/meta.json`,
    pid: `${dir}/qemu.pid`,
    qmp: `${dir}/qmp.sock`,
    serial: `${dir}/serial.log`,
    disk: `${dir}/disk.qcow2`,
    seed: `${dir}/seed.img`,
    seedDir: `${dir}/seed`,
    authorizedKeys: `${dir}/authorized_keys`,
    sourceTar: `${dir}/source.tar`,
    failedSerial: `${base2}/${name}.failed-serial.log`
  };
  if (paths.qmp.length > MAX_SOCKET_PATH) {
    throw new Error(
      `QMP socket path ${paths.qmp} is longer than ${MAX_SOCKET_PATH} characters (a unix socket limit); use a shorter workspace or node name`
    );
  }
  return paths;
}
function mebibytes(quantity) {
  return Math.max(1, Math.ceil(parseQuantity(quantity) / 2 ** 20));
}
function portForwards(ports) {
  return (ports ?? []).map((text) => {
    const p = parsePortSpec(text);
    return { protocol: p.protocol, hostIp: p.hostIp ?? "", hostPort: p.hostPort, guestPort: p.containerPort };
  });
}
function vmConfig(ws) {
  const { spec, metadata } = ws.resource;
  const vm = spec.vm ?? {};
  if (!vm.kernel && !spec.image) {
    throw new Error(
      `workspace ${metadata.name}: the qemu provider needs spec.image (a disk image path on the node, e.g. a cloud image) or spec.vm.kernel (direct kernel boot)`
    );
  }
  const res = spec.resources ?? {};
  return {
    cpus: Math.max(1, Math.ceil(res.cpus ?? DEFAULT_CPUS)),
    memoryMiB: res.memory ? mebibytes(res.memory) : DEFAULT_MEMORY_MIB,
    ...vm.kernel ? { kernel: vm.kernel } : {},
    ...vm.initrd ? { initrd: vm.initrd } : {},
    ...vm.append ? { append: vm.append } : {},
    ...spec.image ? { image: spec.image } : {},
    disk: Boolean(spec.image || res.disk),
    // A disk image without a kernel boots its own bootloader: a cloud image configured by cloud-init.
    seed: Boolean(spec.image && !vm.kernel),
    guestUser: vm.user ?? DEFAULT_GUEST_USER,
    guestSshPort: vm.sshPort ?? DEFAULT_GUEST_SSH_PORT,
    ...vm.network === "isolated" ? { isolated: true } : {},
    ports: portForwards(spec.ports)
  };
}
function fnv1a(text) {
  let h = 2166136261;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 16777619) >>> 0;
  }
  return h;
}
function chooseVmAddress(node, name, used) {
  const taken = new Set(used);
  const slots = 256 * 254;
  const start = fnv1a(`${node}/${name}`) % slots;
  for (let i = 0; i < slots; i++) {
    const slot = (start + i) % slots;
    const address = `${ADDRESS_PREFIX}.${Math.floor(slot / 254)}.${slot % 254 + 1}`;
    if (!taken.has(address)) return address;
  }
  throw new Error(`no free VM address left in ${ADDRESS_PREFIX}.0.0/16`);
}
function parseListeningPorts(procNetTcp) {
  const ports = /* @__PURE__ */ new Set();
  for (const line of procNetTcp.split("\n")) {
    const cols = line.trim().split(/\s+/);
    if (cols.length < 4 || cols[3] !== "0A") continue;
    const port = parseInt(cols[1].split(":").pop() ?? "", 16);
    if (Number.isFinite(port)) ports.add(port);
  }
  return ports;
}
function pickFreePort(listening, random = Math.random) {
  for (let i = 0; i < 1e3; i++) {
    const port = 2e4 + Math.floor(random() * 4e4);
    if (!listening.has(port)) return port;
  }
  throw new Error("no free port found between 20000 and 60000 on the node");
}
function sshKeyKernelArg(publicKey) {
  return `vendetta.ssh_key=${Buffer.from(`${publicKey.trim()}
`).toString("base64")}`;
}
function kernelAppend(name, userAppend, publicKey) {
  const base2 = userAppend?.trim() || "console=ttyS0";
  const console2 = /(^|\s)console=/.test(base2) ? "" : " console=ttyS0";
  return `${base2}${console2} vendetta.hostname=${name} ${sshKeyKernelArg(publicKey)}`;
}
function hostfwd(f) {
  return `hostfwd=${f.protocol}:${f.hostIp}:${f.hostPort}-:${f.guestPort}`;
}
function netdevArg(meta, sshPort) {
  const forwards = [
    hostfwd({ protocol: "tcp", hostIp: meta.address, hostPort: sshPort, guestPort: meta.vm.guestSshPort })
  ];
  const seen = /* @__PURE__ */ new Set();
  for (const p of meta.vm.ports) {
    const identity = `${p.protocol}/${p.guestPort}`;
    const covered = (p.hostIp === "" || p.hostIp === "0.0.0.0") && p.hostPort === p.guestPort;
    if (!covered && !seen.has(identity) && !(p.protocol === "tcp" && p.guestPort === sshPort)) {
      seen.add(identity);
      forwards.push(hostfwd({ protocol: p.protocol, hostIp: meta.address, hostPort: p.guestPort, guestPort: p.guestPort }));
    }
    forwards.push(hostfwd(p));
  }
  return ["user", "id=n0", ...meta.vm.isolated ? ["restrict=on"] : [], ...forwards].join(",");
}
function cpuFor(accel) {
  return accel === "kvm" ? "host" : "max";
}
function qemuArgv(binary, accel, meta, paths, sshPort, publicKey) {
  const { vm } = meta;
  const argv = [
    binary,
    "-name",
    `vendetta-${meta.name}`,
    "-accel",
    accel,
    "-cpu",
    cpuFor(accel),
    "-machine",
    "q35",
    "-smp",
    String(vm.cpus),
    "-m",
    String(vm.memoryMiB),
    "-nodefaults",
    "-no-user-config",
    "-display",
    "none",
    "-netdev",
    netdevArg(meta, sshPort),
    "-device",
    "virtio-net-pci,netdev=n0",
    "-chardev",
    `file,id=ser0,path=${paths.serial}`,
    "-serial",
    "chardev:ser0",
    "-qmp",
    `unix:${paths.qmp},server=on,wait=off`,
    "-pidfile",
    paths.pid,
    "-daemonize"
  ];
  if (vm.disk) argv.push("-drive", `file=${paths.disk},if=virtio,format=qcow2`);
  if (vm.seed) argv.push("-drive", `file=${paths.seed},if=virtio,format=raw,readonly=on`);
  if (vm.kernel) {
    argv.push("-kernel", vm.kernel);
    if (vm.initrd) argv.push("-initrd", vm.initrd);
    argv.push("-append", kernelAppend(meta.name, vm.append, publicKey));
    argv.push("-fw_cfg", `name=opt/vendetta/authorized_keys,file=${paths.authorizedKeys}`);
  }
  return argv;
}
function diskCreateArgv(paths, base2, size) {
  const argv = ["qemu-img", "create", "-q", "-f", "qcow2"];
  if (base2) argv.push("-b", base2.path, "-F", base2.format);
  argv.push(paths.disk);
  if (size) argv.push(String(parseQuantity(size)));
  else if (!base2) throw new Error("a blank disk needs a size (spec.resources.disk)");
  return argv;
}
function accelProbeArgv(binary, wanted) {
  const script2 = `B=$1
command -v "$B" >/dev/null 2>&1 || { echo missing; exit 0; }
[ "$2" = tcg ] && { echo "tcg forced by spec.providers.qemu.accel"; exit 0; }
[ "$2" = kvm ] && { echo kvm; exit 0; }
if [ ! -r /dev/kvm ] || [ ! -w /dev/kvm ]; then echo "tcg /dev/kvm is missing or not usable by user $(id -un)"; exit 0; fi
if out=$(timeout 30 "$B" -accel kvm -cpu host -machine q35 -m 32 -nodefaults -no-user-config -display none -serial none -no-reboot -boot reboot-timeout=0 2>&1); then
  echo kvm
else
  echo "tcg KVM probe failed: $(printf '%s' "$out" | grep -v '^$' | head -n 1)"
fi`;
  return ["/bin/sh", "-c", script2, "sh", binary, wanted];
}
function parseAccelProbe(stdout) {
  const line = stdout.trim().split("\n").pop() ?? "";
  if (line === "missing") return { missing: true, reason: "binary not found" };
  if (line === "kvm") return { accel: "kvm", missing: false, reason: "KVM usable" };
  if (line.startsWith("tcg")) return { accel: "tcg", missing: false, reason: line.slice(3).trim() };
  return { missing: false, reason: `unexpected probe output: ${line || "(none)"}` };
}
function observeArgv2(nodeRoot) {
  const script2 = `[ -d "$1" ] || exit 0
for d in "$1"/*/; do
  d=\${d%/}
  [ -f "$d/meta.json" ] || continue
  printf 'vm\\t%s\\n' "\${d##*/}"
  printf 'meta\\t'; tr -d '\\n' < "$d/meta.json"; printf '\\n'
  p=$(cat "$d/qemu.pid" 2>/dev/null)
  if [ -n "$p" ] && tr '\\0' ' ' < "/proc/$p/cmdline" 2>/dev/null | grep -qF -- "$d/qemu.pid"; then
    echo "alive	$p"
  else
    echo "alive	0"
  fi
done`;
  return ["/bin/sh", "-c", script2, "sh", nodeRoot];
}
function isOurMeta2(value) {
  const m = value;
  return !!m && m.managed === true && m.kind === "Workspace" && typeof m.name === "string" && typeof m.address === "string" && !!m.vm;
}
function parseObserveOutput(text) {
  const out = [];
  for (const block of text.split(/^vm\t/m).slice(1)) {
    const metaLine = /^meta\t(.*)$/m.exec(block)?.[1];
    let meta;
    try {
      meta = metaLine ? JSON.parse(metaLine) : void 0;
    } catch {
      continue;
    }
    if (!isOurMeta2(meta)) continue;
    const pid = Number(/^alive\t(\d+)$/m.exec(block)?.[1] ?? 0);
    out.push({ meta, pid });
  }
  return out;
}
function observedWorkspace(vm, serviceStatus) {
  return {
    name: vm.meta.name,
    provider: "qemu",
    specHash: vm.meta.specHash,
    applySet: vm.meta.applySet,
    running: vm.pid > 0,
    address: vm.meta.address,
    services: serviceStatus === void 0 ? [] : parseServiceStatus(serviceStatus)
  };
}
function serialTail(log2, lines = 20) {
  const clean = log2.replace(/\r/g, "").replace(/\x1b\[[0-9;?]*[A-Za-z]/g, "").split("\n").filter((l) => l.trim() !== "");
  return clean.slice(-lines).join("\n");
}
function bootFailureMessage(opts2) {
  const check3 = opts2.kernelBoot ? "check spec.vm.kernel/initrd/append; the guest must bring up eth0 (user-net 10.0.2.15/24), start an SSH server and authorize the key passed as vendetta.ssh_key=<base64> or fw_cfg opt/vendetta/authorized_keys (docs/qemu.md)" : "check that spec.image is a cloud image with cloud-init (NoCloud) and an SSH server enabled at boot (docs/qemu.md)";
  const tail = opts2.serial.trim() ? opts2.serial : "(empty: the guest wrote nothing to ttyS0)";
  return `workspace ${opts2.name} on node ${opts2.node}: VM did not become ready (stage "${opts2.stage}" failed: ${opts2.reason}); ${check3}. Serial console (${opts2.serialPath}), last lines:
${tail}`;
}
var WORKSPACE_DIR2, STATE_DIR2, DEFAULT_BINARY, DEFAULT_CPUS, DEFAULT_MEMORY_MIB, DEFAULT_GUEST_USER, DEFAULT_GUEST_SSH_PORT, ADDRESS_PREFIX, MAX_SOCKET_PATH, NAME3;
var init_spec2 = __esm({
  "src/providers/qemu/spec.ts"() {
    "use strict";
    init_ports();
    init_quantity();
    init_supervisor();
    WORKSPACE_DIR2 = "/workspace";
    STATE_DIR2 = "/var/lib/vendetta";
    DEFAULT_BINARY = "qemu-system-x86_64";
    DEFAULT_CPUS = 1;
    DEFAULT_MEMORY_MIB = 512;
    DEFAULT_GUEST_USER = "root";
    DEFAULT_GUEST_SSH_PORT = 22;
    ADDRESS_PREFIX = "127.86";
    MAX_SOCKET_PATH = 107;
    NAME3 = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
  }
});

// src/providers/qemu/cloudinit.ts
function metaData(input) {
  return `instance-id: vendetta-${input.name}
local-hostname: ${input.name}
`;
}
function userData(input) {
  const key = JSON.stringify(input.publicKey.trim());
  const user = JSON.stringify(input.user);
  const lines = ["#cloud-config", `hostname: ${input.name}`];
  if (input.user === "root") {
    lines.push("disable_root: false", "users:", "  - name: root", `    ssh_authorized_keys: [${key}]`);
  } else {
    lines.push(
      "users:",
      "  - default",
      `  - name: ${user}`,
      "    shell: /bin/sh",
      "    sudo: 'ALL=(ALL) NOPASSWD:ALL'",
      "    lock_passwd: true",
      `    ssh_authorized_keys: [${key}]`
    );
  }
  lines.push(
    "ssh_pwauth: false",
    "runcmd:",
    `  - [mkdir, -p, ${WORKSPACE_DIR2}, ${STATE_DIR2}]`,
    `  - [chown, ${user}, ${WORKSPACE_DIR2}, ${STATE_DIR2}]`
  );
  return `${lines.join("\n")}
`;
}
function seedBuildArgv(seedDir, seedImage) {
  const script2 = `D=$1; OUT=$2; U=$D/user-data; M=$D/meta-data
if command -v cloud-localds >/dev/null 2>&1; then exec cloud-localds "$OUT" "$U" "$M"; fi
for t in genisoimage mkisofs; do
  if command -v $t >/dev/null 2>&1; then exec $t -quiet -output "$OUT" -volid cidata -joliet -rock "$U" "$M"; fi
done
if command -v xorriso >/dev/null 2>&1; then exec xorriso -as mkisofs -quiet -output "$OUT" -volid cidata -joliet -rock "$U" "$M"; fi
if command -v mkfs.vfat >/dev/null 2>&1 && command -v mcopy >/dev/null 2>&1; then
  rm -f "$OUT"; truncate -s 2M "$OUT" && mkfs.vfat -n CIDATA "$OUT" >/dev/null && mcopy -i "$OUT" "$U" "$M" ::/ && exit 0
  exit 1
fi
echo "no tool to build a cloud-init seed: install cloud-image-utils, genisoimage, xorriso, or dosfstools + mtools" >&2
exit 3`;
  return ["/bin/sh", "-c", script2, "sh", seedDir, seedImage];
}
var init_cloudinit = __esm({
  "src/providers/qemu/cloudinit.ts"() {
    "use strict";
    init_spec2();
  }
});

// src/providers/qemu/guest.ts
import { constants as osConstants3 } from "node:os";
import ssh23 from "ssh2";
function connectGuest(target, readyTimeoutMs = 1e4) {
  return target.open().then(
    (sock) => new Promise((resolve3, reject) => {
      const client = new ssh23.Client();
      let settled = false;
      client.on("error", (err) => {
        if (settled) return;
        settled = true;
        client.end();
        sock.destroy();
        reject(new Error(`SSH to the guest of ${target.where} failed: ${err.message}`, { cause: err }));
      });
      client.once("ready", () => {
        if (settled) return;
        settled = true;
        resolve3(client);
      });
      client.connect({
        sock,
        username: target.user,
        privateKey: target.privateKey,
        readyTimeout: readyTimeoutMs,
        hostVerifier: () => true
      });
    })
  );
}
function exitCodeOf2(code, signal) {
  if (typeof code === "number") return code;
  const name = signal && !signal.startsWith("SIG") ? `SIG${signal}` : signal;
  const n = name ? osConstants3.signals[name] : void 0;
  return 128 + (n ?? 0);
}
function openChannel(client, command, pty) {
  return new Promise((resolve3, reject) => {
    const cb = (err, ch) => err ? reject(err) : resolve3(ch);
    if (pty) client.exec(command, { pty: { rows: pty.rows, cols: pty.cols, term: pty.term ?? "xterm-256color" } }, cb);
    else client.exec(command, cb);
  });
}
async function guestExec(client, where, argv, opts2 = {}) {
  const channel = await openChannel(client, buildCommand(argv, opts2)).catch((err) => {
    throw new Error(`${argv[0]} in ${where}: cannot open an SSH channel to the guest: ${err.message}`, { cause: err });
  });
  return new Promise((resolve3, reject) => {
    const stdout = [];
    const stderr = [];
    let settled = false;
    const finish = (fn) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      opts2.signal?.removeEventListener("abort", onAbort);
      fn();
    };
    const kill = (message) => {
      try {
        channel.signal("KILL");
      } catch {
      }
      channel.close();
      finish(() => reject(new Error(message)));
    };
    const timer = opts2.timeoutMs !== void 0 ? setTimeout(() => kill(`${argv[0]} in ${where} timed out after ${opts2.timeoutMs}ms`), opts2.timeoutMs) : void 0;
    const onAbort = () => kill(`${argv[0]} in ${where} was aborted`);
    opts2.signal?.addEventListener("abort", onAbort, { once: true });
    channel.on("data", (d) => stdout.push(d));
    channel.stderr.on("data", (d) => stderr.push(d));
    channel.on("close", (code, signal) => {
      if (code === void 0 && signal === void 0) {
        return finish(() => reject(new Error(`${argv[0]} in ${where}: the guest closed the channel (VM stopped or SSH lost)`)));
      }
      finish(
        () => resolve3({
          code: exitCodeOf2(code, signal),
          stdout: Buffer.concat(stdout).toString("utf8"),
          stderr: Buffer.concat(stderr).toString("utf8")
        })
      );
    });
    if (opts2.stdin !== void 0) channel.end(opts2.stdin);
    else channel.end();
  });
}
async function guestSpawn(client, where, argv, opts2 = {}) {
  const channel = await openChannel(client, buildCommand(argv, opts2), opts2.pty).catch((err) => {
    throw new Error(`${argv[0]} in ${where}: cannot open an SSH channel to the guest: ${err.message}`, { cause: err });
  });
  const done = new Promise((resolve3, reject) => {
    channel.on("close", (code, signal) => {
      if (code === void 0 && signal === void 0) reject(new Error(`${argv[0]} in ${where}: the guest closed the channel`));
      else resolve3(exitCodeOf2(code, signal));
    });
  });
  done.catch(() => {
  });
  return {
    stdin: channel,
    stdout: channel,
    stderr: channel.stderr,
    wait: () => done,
    kill: (signal = "SIGTERM") => {
      try {
        channel.signal(signal.replace(/^SIG/, ""));
      } catch {
      }
      channel.close();
    },
    ...opts2.pty ? { resize: (rows, cols) => channel.setWindow(rows, cols, 0, 0) } : {}
  };
}
var init_guest = __esm({
  "src/providers/qemu/guest.ts"() {
    "use strict";
    init_ssh();
  }
});

// src/providers/qemu/qmp.ts
function qmpCommand(stream, command, args, opts2 = {}) {
  return new Promise((resolve3, reject) => {
    const reader = new QmpLineReader();
    let phase = "greeting";
    let done = false;
    const finish = (fn) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      stream.destroy();
      fn();
    };
    const timer = setTimeout(
      () => finish(() => reject(new Error(`QMP ${command}: no reply after ${opts2.timeoutMs ?? 1e4}ms`))),
      opts2.timeoutMs ?? 1e4
    );
    const send = (execute, a) => stream.write(`${JSON.stringify(a ? { execute, arguments: a } : { execute })}
`);
    stream.setEncoding?.("utf8");
    stream.on("data", (chunk) => {
      let replies;
      try {
        replies = reader.push(chunk.toString());
      } catch (err) {
        return finish(() => reject(new Error(`QMP ${command}: unreadable reply: ${err.message}`)));
      }
      for (const r2 of replies) {
        if (r2.event) continue;
        if (phase === "greeting" && r2.QMP) {
          phase = "capabilities";
          send("qmp_capabilities");
        } else if (phase === "capabilities") {
          if (r2.error) return finish(() => reject(new Error(`QMP qmp_capabilities: ${r2.error.desc}`)));
          phase = "command";
          send(command, args);
        } else if (phase === "command") {
          if (r2.error) return finish(() => reject(new Error(`QMP ${command}: ${r2.error.class}: ${r2.error.desc}`)));
          return finish(() => resolve3(r2.return));
        }
      }
    });
    const onEnd = () => finish(
      () => phase === "command" && opts2.closeIsSuccess ? resolve3(void 0) : reject(new Error(`QMP ${command}: connection closed by QEMU`))
    );
    stream.on("end", onEnd);
    stream.on("close", onEnd);
    stream.on("error", (err) => finish(() => reject(new Error(`QMP ${command}: ${err.message}`))));
  });
}
var QmpLineReader;
var init_qmp = __esm({
  "src/providers/qemu/qmp.ts"() {
    "use strict";
    QmpLineReader = class {
      buffer = "";
      push(chunk) {
        this.buffer += chunk;
        const lines = this.buffer.split("\n");
        this.buffer = lines.pop() ?? "";
        return lines.filter((l) => l.trim()).map((l) => JSON.parse(l));
      }
    };
  }
});

// src/providers/qemu/driver.ts
import ssh24 from "ssh2";
function bootTimeoutMs() {
  return parseDuration(process.env.VENDETTA_QEMU_BOOT_TIMEOUT ?? "300s");
}
function powerdownTimeoutMs() {
  return parseDuration(process.env.VENDETTA_QEMU_POWERDOWN_TIMEOUT ?? "30s");
}
function nodeName2(ctx) {
  return ctx.node.metadata.name;
}
function binaryOf(ctx) {
  return ctx.node.spec.providers?.qemu?.binary ?? DEFAULT_BINARY;
}
function check2(res, what, ctx, hint) {
  if (res.code === 0) return res;
  const detail = (res.stderr || res.stdout).trim() || `exit code ${res.code}`;
  throw new Error(`${what} on node ${nodeName2(ctx)} failed: ${detail}${hint ? ` (${hint})` : ""}`);
}
function installHint(ctx) {
  const binary = binaryOf(ctx);
  return binary === DEFAULT_BINARY ? `install qemu-system-x86 (and qemu-utils for disk images) on node ${nodeName2(ctx)}: sudo apt-get install qemu-system-x86 qemu-utils` : `install qemu-system-x86 on node ${nodeName2(ctx)}, or fix spec.providers.qemu.binary (${binary} was not found)`;
}
function notInstalled(ctx) {
  const hint = installHint(ctx);
  return new TerminalError(`qemu (${binaryOf(ctx)}) is not installed on node ${nodeName2(ctx)}: ${hint}`, hint);
}
function createQemuDriver() {
  const accels = /* @__PURE__ */ new WeakMap();
  const keys = /* @__PURE__ */ new WeakMap();
  const sessions = /* @__PURE__ */ new WeakMap();
  async function rootOf(ctx) {
    return qemuRoot(await ctx.transport.home());
  }
  async function pathsOf(ctx, name) {
    return vmPaths(await rootOf(ctx), nodeName2(ctx), name);
  }
  function probeAccel(ctx) {
    let p = accels.get(ctx.transport);
    if (!p) {
      const wanted = ctx.node.spec.providers?.qemu?.accel ?? "auto";
      p = ctx.transport.exec(accelProbeArgv(binaryOf(ctx), wanted), { timeoutMs: 6e4 }).then((r2) => parseAccelProbe(r2.stdout));
      p.catch(() => accels.delete(ctx.transport));
      accels.set(ctx.transport, p);
    }
    return p;
  }
  async function accelFor(ctx) {
    const probe2 = await probeAccel(ctx);
    if (probe2.missing) throw notInstalled(ctx);
    if (!probe2.accel) throw new Error(`deciding the accelerator on node ${nodeName2(ctx)} failed: ${probe2.reason}`);
    return probe2.accel;
  }
  function guestKey(ctx) {
    let p = keys.get(ctx.transport);
    if (!p) {
      p = (async () => {
        const root = await rootOf(ctx);
        const path4 = guestKeyPath(root);
        let text = await ctx.transport.readFile(path4).then((b) => b.toString("utf8"), () => void 0);
        if (text === void 0) {
          const pair = sshUtils.generateKeyPairSync("ed25519", { comment: `vendetta-guests@${nodeName2(ctx)}` });
          check2(await ctx.transport.exec(["mkdir", "-p", "-m", "700", root]), `creating ${root}`, ctx);
          const tmp = `${path4}.tmp-${process.pid}-${Date.now()}`;
          await ctx.transport.writeFile(tmp, pair.private, 384);
          const res = await ctx.transport.exec(["/bin/sh", "-c", 'ln "$1" "$2" 2>/dev/null; rm -f "$1"; cat "$2"', "sh", tmp, path4]);
          text = check2(res, `storing the guest key ${path4}`, ctx).stdout;
        }
        const parsed = sshUtils.parseKey(text);
        if (parsed instanceof Error || Array.isArray(parsed)) {
          throw new Error(`the guest key ${path4} on node ${nodeName2(ctx)} is unreadable; remove it to have a new one generated`);
        }
        return { privateKey: text, publicKey: `${parsed.type} ${parsed.getPublicSSH().toString("base64")} vendetta-guests` };
      })();
      p.catch(() => keys.delete(ctx.transport));
      keys.set(ctx.transport, p);
    }
    return p;
  }
  async function readMeta(ctx, paths) {
    let text;
    try {
      text = (await ctx.transport.readFile(paths.meta)).toString("utf8");
    } catch {
      return void 0;
    }
    const meta = JSON.parse(text);
    if (!isOurMeta2(meta)) throw new Error(`${paths.meta} on node ${nodeName2(ctx)} is not managed by vendetta`);
    return meta;
  }
  async function writeMeta(ctx, paths, meta) {
    await ctx.transport.writeFile(paths.meta, `${JSON.stringify(meta)}
`, 420);
  }
  async function livePid(ctx, paths) {
    const res = await ctx.transport.exec([
      "/bin/sh",
      "-c",
      `p=$(cat "$1" 2>/dev/null); if [ -n "$p" ] && tr '\\0' ' ' < "/proc/$p/cmdline" 2>/dev/null | grep -qF -- "$1"; then echo "$p"; else echo 0; fi`,
      "sh",
      paths.pid
    ]);
    return Number(res.stdout.trim()) || 0;
  }
  async function consoleTail(ctx, paths, file2 = paths.serial) {
    const res = await ctx.transport.exec(["tail", "-n", "60", file2]).catch(() => void 0);
    return serialTail(res?.stdout ?? "", 20);
  }
  function guestTarget(ctx, meta, key) {
    return {
      where: `workspace ${meta.name} on node ${nodeName2(ctx)}`,
      user: meta.vm.guestUser,
      privateKey: key.privateKey,
      open: () => ctx.transport.connectTcp(meta.address, meta.sshPort ?? 0)
    };
  }
  function sessionMap(ctx) {
    let m = sessions.get(ctx.transport);
    if (!m) sessions.set(ctx.transport, m = /* @__PURE__ */ new Map());
    return m;
  }
  function remember(ctx, name, pending) {
    const map = sessionMap(ctx);
    map.set(name, pending);
    const drop = () => {
      if (map.get(name) === pending) map.delete(name);
    };
    pending.then((s) => s.client.once("close", drop), drop);
    return pending;
  }
  function forget(ctx, name) {
    const map = sessionMap(ctx);
    const p = map.get(name);
    map.delete(name);
    p?.then((s) => s.client.end(), () => {
    });
  }
  async function qmp(ctx, paths, command, closeIsSuccess = false) {
    const stream = await ctx.transport.connectUnix(paths.qmp);
    return qmpCommand(stream, command, void 0, { timeoutMs: 1e4, closeIsSuccess });
  }
  async function waitGone(ctx, paths, ms) {
    const deadline = Date.now() + ms;
    for (; ; ) {
      if (await livePid(ctx, paths) === 0) return true;
      if (Date.now() >= deadline) return false;
      await sleep2(250);
    }
  }
  async function halt(ctx, name, paths, graceful) {
    forget(ctx, name);
    const pid = await livePid(ctx, paths);
    if (pid === 0) return;
    if (graceful) {
      ctx.progress?.(`powering down VM ${name} (ACPI, up to ${powerdownTimeoutMs() / 1e3}s)`);
      const sent = await qmp(ctx, paths, "system_powerdown").then(() => true, () => false);
      if (sent && await waitGone(ctx, paths, powerdownTimeoutMs())) return;
    }
    await qmp(ctx, paths, "quit", true).catch(() => void 0);
    if (await waitGone(ctx, paths, 5e3)) return;
    await ctx.transport.exec(["kill", "-9", String(pid)]);
    if (!await waitGone(ctx, paths, 5e3)) {
      throw new Error(`qemu (pid ${pid}) of workspace ${name} on node ${nodeName2(ctx)} did not exit after SIGKILL`);
    }
  }
  function bootError(ctx, meta, paths, stage, reason, serial, firstBoot) {
    const serialPath = firstBoot ? paths.failedSerial : paths.serial;
    return new TerminalError(
      bootFailureMessage({ name: meta.name, node: nodeName2(ctx), stage, reason, serial, serialPath, kernelBoot: !!meta.vm.kernel }),
      `the VM is ${meta.vm.kernel ? "a direct kernel boot" : "a disk image boot"}; \`vendetta describe workspace/${meta.name}\` shows this error`
    );
  }
  async function waitReady2(ctx, paths, meta, key, firstBoot) {
    const started = Date.now();
    const deadline = started + bootTimeoutMs();
    const target = guestTarget(ctx, meta, key);
    let client;
    let lastError = "";
    while (!client) {
      try {
        client = await connectGuest(target, Math.max(1e3, Math.min(1e4, deadline - Date.now())));
      } catch (err) {
        lastError = err.message;
        if (await livePid(ctx, paths) === 0) {
          throw bootError(ctx, meta, paths, "qemu process started", "the qemu process exited during boot", await consoleTail(ctx, paths), firstBoot);
        }
        if (Date.now() >= deadline) {
          const reason = `no SSH login as ${meta.vm.guestUser} within ${Math.round(bootTimeoutMs() / 1e3)}s (last error: ${lastError})`;
          const serial = await consoleTail(ctx, paths);
          await halt(ctx, meta.name, paths, false).catch(() => void 0);
          throw bootError(ctx, meta, paths, "guest SSH reachable", reason, serial, firstBoot);
        }
        await sleep2(1e3);
      }
    }
    ctx.progress?.(`VM ${meta.name}: guest SSH reachable after ${((Date.now() - started) / 1e3).toFixed(1)}s`);
    const res = await guestExec(client, target.where, ["mkdir", "-p", WORKSPACE_DIR2, STATE_DIR2], { timeoutMs: 3e4 }).catch(
      (err) => ({ code: -1, stdout: "", stderr: err.message })
    );
    if (res.code !== 0) {
      client.end();
      throw bootError(ctx, meta, paths, "exec in the guest works", `mkdir -p ${WORKSPACE_DIR2} ${STATE_DIR2}: ${res.stderr.trim() || `exit ${res.code}`}`, await consoleTail(ctx, paths), firstBoot);
    }
    return { client, meta };
  }
  async function launch(ctx, paths, meta, firstBoot = false) {
    const accel = await accelFor(ctx);
    const key = await guestKey(ctx);
    const binary = binaryOf(ctx);
    let launched;
    for (let attempt = 1; !launched; attempt++) {
      const procNet = await ctx.transport.exec(["cat", "/proc/net/tcp", "/proc/net/tcp6"]);
      const sshPort = pickFreePort(parseListeningPorts(procNet.stdout));
      check2(await ctx.transport.exec(["rm", "-f", "--", paths.serial, paths.qmp, paths.pid]), `clearing ${paths.dir}`, ctx);
      ctx.progress?.(`booting VM ${meta.name} on node ${nodeName2(ctx)} (${accel}, ${meta.vm.cpus} cpu, ${meta.vm.memoryMiB} MiB)`);
      const res = await ctx.transport.exec(qemuArgv(binary, accel, meta, paths, sshPort, key.publicKey), { timeoutMs: 6e4 });
      if (res.code === 0) {
        launched = { ...meta, sshPort, accel, running: true };
        break;
      }
      const stderr = res.stderr.trim() || `exit code ${res.code}`;
      if (stderr.includes(`:${sshPort}-:`) && attempt < 3) continue;
      if (res.code === 127) throw notInstalled(ctx);
      const portHint = /host forwarding rule/i.test(stderr) ? ": a published port (spec.ports) is already in use on the node" : "";
      throw new TerminalError(`qemu failed to start workspace ${meta.name} on node ${nodeName2(ctx)}${portHint}: ${stderr}`);
    }
    await writeMeta(ctx, paths, launched);
    const ready = waitReady2(ctx, paths, launched, key, firstBoot).then(async (s) => {
      await restoreSource(ctx, paths, s);
      return s;
    });
    return remember(ctx, meta.name, ready);
  }
  async function restoreSource(ctx, paths, s) {
    const tar = await ctx.transport.readFile(paths.sourceTar).catch(() => void 0);
    if (!tar) return;
    const where = `workspace ${s.meta.name} on node ${nodeName2(ctx)}`;
    const empty = await guestExec(s.client, where, ["/bin/sh", "-c", '[ -z "$(ls -A "$1" 2>/dev/null)" ]', "sh", WORKSPACE_DIR2]);
    if (empty.code !== 0) return;
    ctx.progress?.(`copying the source into ${s.meta.name}:${WORKSPACE_DIR2}`);
    const res = await guestExec(s.client, where, ["tar", "-x", "-f", "-", "-C", "/"], { stdin: tar, timeoutMs: 3e5 });
    if (res.code !== 0) throw new Error(`extracting the source into ${where} failed: ${res.stderr.trim() || `tar exit ${res.code}`}`);
  }
  async function storeSource(ctx, paths, sourcePath) {
    const chunks = [];
    for await (const chunk of workspaceArchive(sourcePath)) chunks.push(chunk);
    await ctx.transport.writeFile(paths.sourceTar, Buffer.concat(chunks), 384);
  }
  async function prepareDisks(ctx, ws, paths, meta, key) {
    const { vm } = meta;
    const name = meta.name;
    const size = ws.resource.spec.resources?.disk;
    if (vm.image) {
      const info = await ctx.transport.exec(["qemu-img", "info", "--output=json", "--", vm.image]);
      if (info.code === 127) throw new TerminalError(`qemu-img is not installed on node ${nodeName2(ctx)}: ${installHint(ctx)}`, installHint(ctx));
      check2(info, `reading the disk image ${vm.image} for workspace ${name}`, ctx, "spec.image must be a disk image path on the node");
      const format = JSON.parse(info.stdout).format ?? "raw";
      ctx.progress?.(`creating a qcow2 overlay on ${vm.image} (${format})`);
      check2(await ctx.transport.exec(diskCreateArgv(paths, { path: vm.image, format }, size)), `creating the disk overlay of workspace ${name}`, ctx);
    } else if (vm.disk && size) {
      check2(await ctx.transport.exec(diskCreateArgv(paths, void 0, size)), `creating the disk of workspace ${name}`, ctx);
    }
    if (vm.seed) {
      const seed = { name, user: vm.guestUser, publicKey: key.publicKey };
      check2(await ctx.transport.exec(["mkdir", "-p", paths.seedDir]), `creating ${paths.seedDir}`, ctx);
      await ctx.transport.writeFile(`${paths.seedDir}/user-data`, userData(seed), 420);
      await ctx.transport.writeFile(`${paths.seedDir}/meta-data`, metaData(seed), 420);
      check2(await ctx.transport.exec(seedBuildArgv(paths.seedDir, paths.seed)), `building the cloud-init seed of workspace ${name}`, ctx);
    }
    await ctx.transport.writeFile(paths.authorizedKeys, `${key.publicKey}
`, 420);
  }
  async function requireMeta(ctx, name) {
    const paths = await pathsOf(ctx, name);
    const meta = await readMeta(ctx, paths);
    if (!meta) throw new Error(`workspace ${name} does not exist on node ${nodeName2(ctx)} (no ${paths.meta}); apply it to create it`);
    return { paths, meta };
  }
  function session(ctx, name) {
    return sessionMap(ctx).get(name) ?? remember(ctx, name, openSession(ctx, name));
  }
  async function openSession(ctx, name) {
    const { paths, meta } = await requireMeta(ctx, name);
    if (await livePid(ctx, paths) === 0) {
      throw new Error(`workspace ${name} on node ${nodeName2(ctx)} is stopped (no qemu process); set state: running and apply to start it`);
    }
    const key = await guestKey(ctx);
    try {
      return { client: await connectGuest(guestTarget(ctx, meta, key)), meta };
    } catch (err) {
      throw new Error(
        `${err.message}. Serial console (${paths.serial}), last lines:
${await consoleTail(ctx, paths) || "(empty)"}`,
        { cause: err }
      );
    }
  }
  return {
    name: "qemu",
    async diagnostics(ctx, name) {
      const tail = await consoleTail(ctx, await pathsOf(ctx, name));
      return { "Serial console (last lines)": tail || "<empty>" };
    },
    async availability(ctx) {
      const binary = binaryOf(ctx);
      const res = await ctx.transport.exec([
        "/bin/sh",
        "-c",
        'command -v "$1" >/dev/null 2>&1 || { echo missing; exit 0; }; "$1" --version 2>/dev/null | head -n 1; command -v qemu-img >/dev/null 2>&1 || echo no-qemu-img',
        "sh",
        binary
      ]);
      const lines = res.stdout.trim().split("\n");
      if (lines[0] === "missing") {
        return { available: false, detail: `${binary} not found on node ${nodeName2(ctx)}`, hint: installHint(ctx) };
      }
      const probe2 = await probeAccel(ctx);
      const version = /version ([0-9.]+)/.exec(lines[0] ?? "")?.[1] ?? lines[0];
      const noImg = lines.includes("no-qemu-img") ? "; qemu-img missing: disk images unusable (install qemu-utils)" : "";
      return { available: true, ...version ? { version } : {}, detail: `${probe2.accel ?? "unknown"}: ${probe2.reason}${noImg}` };
    },
    async observe(ctx) {
      const root = await rootOf(ctx);
      const res = await ctx.transport.exec(observeArgv2(nodeDir(root, nodeName2(ctx))));
      check2(res, "listing qemu workspaces", ctx);
      const vms = parseObserveOutput(res.stdout);
      return Promise.all(
        vms.map(async (vm) => {
          if (vm.pid === 0) return observedWorkspace(vm, void 0);
          const status = await session(ctx, vm.meta.name).then((s) => guestExec(s.client, `workspace ${vm.meta.name}`, serviceStatusArgv(STATE_DIR2), { timeoutMs: 15e3 })).then((r2) => r2.code === 0 ? r2.stdout : void 0).catch(() => void 0);
          return observedWorkspace(vm, status);
        })
      );
    },
    async create(ctx, ws) {
      const name = ws.resource.metadata.name;
      const node = nodeName2(ctx);
      const vm = vmConfig(ws);
      await accelFor(ctx);
      const paths = await pathsOf(ctx, name);
      if (await readMeta(ctx, paths)) {
        throw new Error(`workspace ${name}: a VM with that name already exists on node ${node} (${paths.dir}); delete it first`);
      }
      await halt(ctx, name, paths, false);
      const root = await rootOf(ctx);
      const used = await ctx.transport.exec(["/bin/sh", "-c", 'cat "$1"/*/*/meta.json 2>/dev/null; true', "sh", root]);
      const addresses = [...used.stdout.matchAll(/"address":"([0-9.]+)"/g)].map((m) => m[1]);
      check2(
        await ctx.transport.exec(["/bin/sh", "-c", 'rm -rf -- "$1" "$2" && mkdir -p -m 700 "$1"', "sh", paths.dir, paths.failedSerial]),
        `creating ${paths.dir}`,
        ctx
      );
      const key = await guestKey(ctx);
      const meta = {
        managed: true,
        kind: "Workspace",
        name,
        node,
        specHash: ws.specHash,
        applySet: ctx.applySet,
        running: ws.resource.spec.state !== "stopped",
        createdAt: (/* @__PURE__ */ new Date()).toISOString(),
        address: chooseVmAddress(node, name, addresses),
        vm
      };
      try {
        const source = ws.resource.spec.source;
        if (source?.git) {
          throw new TerminalError(`workspace ${name}: source.git is not supported by the qemu provider yet; use source.path`);
        }
        await prepareDisks(ctx, ws, paths, meta, key);
        if (source?.path) {
          ctx.progress?.(`copying ${source.path} to node ${node}`);
          await storeSource(ctx, paths, source.path);
        }
        await writeMeta(ctx, paths, meta);
        if (!meta.running) return;
        await launch(ctx, paths, meta, true);
      } catch (err) {
        await halt(ctx, name, paths, false).catch(() => void 0);
        await ctx.transport.exec(["/bin/sh", "-c", '[ -s "$1" ] && cp "$1" "$2"; rm -rf -- "$3"', "sh", paths.serial, paths.failedSerial, paths.dir]).catch(() => void 0);
        throw err;
      }
    },
    async start(ctx, name) {
      const { paths, meta } = await requireMeta(ctx, name);
      if (await livePid(ctx, paths) > 0) {
        if (!meta.running) await writeMeta(ctx, paths, { ...meta, running: true });
        return;
      }
      try {
        await launch(ctx, paths, meta);
      } catch (err) {
        await halt(ctx, name, paths, false).catch(() => void 0);
        throw err;
      }
    },
    async stop(ctx, name) {
      const paths = await pathsOf(ctx, name);
      const meta = await readMeta(ctx, paths);
      if (!meta) return;
      await halt(ctx, name, paths, true);
      if (meta.running) await writeMeta(ctx, paths, { ...meta, running: false });
    },
    async delete(ctx, name) {
      const paths = await pathsOf(ctx, name);
      const meta = await readMeta(ctx, paths);
      const exists = await ctx.transport.exec(["test", "-d", paths.dir]);
      if (!meta && exists.code !== 0) return;
      await halt(ctx, name, paths, false);
      const res = await ctx.transport.exec([
        "/bin/sh",
        "-c",
        'rm -rf -- "$1" "$2" && { rmdir "$3" 2>/dev/null; true; }',
        "sh",
        paths.dir,
        paths.failedSerial,
        nodeDir(await rootOf(ctx), nodeName2(ctx))
      ]);
      check2(res, `removing ${paths.dir}`, ctx);
    },
    async runtime(ctx, name) {
      const s = await session(ctx, name);
      const where = `workspace ${name} on node ${nodeName2(ctx)}`;
      return {
        workspaceDir: WORKSPACE_DIR2,
        stateDir: STATE_DIR2,
        address: s.meta.address,
        exec: (argv, opts2) => guestExec(s.client, where, argv, { ...opts2, cwd: opts2?.cwd ?? WORKSPACE_DIR2 }),
        spawn: (argv, opts2) => guestSpawn(s.client, where, argv, { ...opts2, cwd: opts2?.cwd ?? WORKSPACE_DIR2 })
      };
    }
  };
}
var sleep2, sshUtils;
var init_driver3 = __esm({
  "src/providers/qemu/driver.ts"() {
    "use strict";
    init_quantity();
    init_retry();
    init_supervisor();
    init_archive();
    init_cloudinit();
    init_guest();
    init_qmp();
    init_spec2();
    sleep2 = (ms) => new Promise((r2) => setTimeout(r2, ms));
    sshUtils = ssh24.utils;
  }
});

// src/providers/lxc/client.ts
import http3 from "node:http";
function statusOf(err) {
  return err instanceof LxcApiError ? err.status : void 0;
}
function lxcClient(transport, socket) {
  let bySocket = clients2.get(transport);
  if (!bySocket) clients2.set(transport, bySocket = /* @__PURE__ */ new Map());
  let client = bySocket.get(socket);
  if (!client) bySocket.set(socket, client = new LxcClient(transport, socket));
  return client;
}
var lxcApiCalls, LxcApiError, LxcClient, clients2;
var init_client2 = __esm({
  "src/providers/lxc/client.ts"() {
    "use strict";
    init_unix_agent();
    lxcApiCalls = { total: 0, mutating: 0, mutations: [] };
    LxcApiError = class extends Error {
      constructor(message, status, request2) {
        super(message);
        this.status = status;
        this.request = request2;
        this.name = "LxcApiError";
      }
      status;
      request;
    };
    LxcClient = class {
      constructor(transport, socket) {
        this.transport = transport;
        this.socket = socket;
        this.agent = new TransportUnixAgent(transport, socket);
      }
      transport;
      socket;
      agent;
      /** One request; returns the envelope's metadata, or waits for the operation of an async answer. */
      async call(method, path4, opts2 = {}) {
        const env = await this.request(method, path4, opts2);
        if (env.type === "async" && env.operation) return await this.wait(env.operation, `${method} ${path4}`);
        return env.metadata;
      }
      /** Waits for a background operation; a failed one rejects with the daemon's own message. */
      async wait(operation, what) {
        const id = operation.replace(/^\/1\.0\/operations\//, "");
        for (; ; ) {
          const env = await this.request("GET", `/1.0/operations/${encodeURIComponent(id)}/wait?timeout=30`);
          const op = env.metadata;
          if (op.status_code >= 400 || op.status === "Failure") throw new LxcApiError(op.err || op.status, op.status_code, what);
          if (op.status === "Success") return op.metadata;
          if (op.status === "Cancelled") throw new LxcApiError("operation cancelled", op.status_code, what);
        }
      }
      request(method, path4, opts2 = {}) {
        lxcApiCalls.total++;
        if (method !== "GET" && method !== "HEAD") {
          lxcApiCalls.mutating++;
          lxcApiCalls.mutations.push(`${method} ${path4.split("?")[0]}`);
        }
        const payload = opts2.raw ?? (opts2.body === void 0 ? void 0 : JSON.stringify(opts2.body));
        const headers = { ...opts2.headers };
        if (payload !== void 0) {
          headers["Content-Length"] = Buffer.byteLength(payload);
          headers["Content-Type"] ??= opts2.raw !== void 0 ? "application/octet-stream" : "application/json";
        }
        return new Promise((resolve3, reject) => {
          const req = http3.request({ agent: this.agent, host: "lxd", path: path4, method, headers }, (res) => {
            const chunks = [];
            res.on("data", (c) => chunks.push(c));
            res.on("error", reject);
            res.on("end", () => {
              const text = Buffer.concat(chunks).toString("utf8");
              let env;
              try {
                env = JSON.parse(text);
              } catch {
                reject(new LxcApiError(`unexpected answer (HTTP ${res.statusCode}): ${text.slice(0, 200)}`, res.statusCode ?? 0, `${method} ${path4}`));
                return;
              }
              if (env.type === "error" || (res.statusCode ?? 500) >= 400) {
                reject(new LxcApiError(env.error || `HTTP ${res.statusCode}`, env.error_code ?? res.statusCode ?? 0, `${method} ${path4}`));
                return;
              }
              resolve3(env);
            });
          });
          req.on("error", reject);
          req.end(payload);
        });
      }
    };
    clients2 = /* @__PURE__ */ new WeakMap();
  }
});

// src/providers/lxc/spec.ts
function instanceName(workspace) {
  return `vendetta-${workspace}`;
}
function checkInstanceName(workspace) {
  const name = instanceName(workspace);
  if (name.length > MAX_INSTANCE_NAME) {
    throw new Error(
      `workspace ${workspace}: instance name ${name} is longer than ${MAX_INSTANCE_NAME} characters (an LXD/Incus limit); use a workspace name of at most ${MAX_INSTANCE_NAME - "vendetta-".length} characters`
    );
  }
}
function knownRemotes(flavor) {
  return {
    images: flavor === "incus" ? "https://images.linuxcontainers.org" : "https://images.lxd.canonical.com",
    ubuntu: "https://cloud-images.ubuntu.com/releases",
    "ubuntu-daily": "https://cloud-images.ubuntu.com/daily"
  };
}
function imageSource(image, flavor) {
  const colon = image.indexOf(":");
  if (colon < 0) return { type: "image", alias: image };
  const remote = image.slice(0, colon);
  const alias = image.slice(colon + 1);
  const server = knownRemotes(flavor)[remote];
  if (!server || alias === "") {
    throw new Error(
      `image ${JSON.stringify(image)}: unknown remote "${remote}" (known: ${Object.keys(knownRemotes(flavor)).join(", ")}); import the image on the node and use its local alias instead (${flavor === "incus" ? "incus" : "lxc"} image import \u2026 --alias NAME)`
    );
  }
  return { type: "image", alias, server, protocol: "simplestreams" };
}
function workspaceConfigKeys(ws, applySet) {
  return {
    [KEY_MANAGED]: "true",
    [KEY_KIND]: "Workspace",
    [KEY_NAME]: ws.resource.metadata.name,
    [KEY_SPEC_HASH]: ws.specHash,
    [KEY_APPLY_SET]: applySet
  };
}
function resourceConfig(resources) {
  const config = {};
  const cpus = resources?.cpus;
  if (cpus !== void 0) {
    if (!(cpus > 0)) throw new Error(`resources.cpus must be greater than 0, got ${cpus}`);
    if (Number.isInteger(cpus)) config["limits.cpu"] = String(cpus);
    else config["limits.cpu.allowance"] = `${Math.round(cpus * 100)}ms/100ms`;
  }
  if (resources?.memory !== void 0) config["limits.memory"] = `${parseQuantity(resources.memory)}B`;
  return config;
}
function portDeviceName(p) {
  return `${PORT_DEVICE_PREFIX}${p.hostPort}-${p.protocol}`;
}
function portDevices(ports) {
  const devices = {};
  for (const p of (ports ?? []).map(parsePortSpec)) {
    const host = p.hostIp ?? "127.0.0.1";
    const listenHost = host.includes(":") ? `[${host}]` : host;
    const name = portDeviceName(p);
    if (devices[name]) throw new Error(`ports: host port ${p.hostPort}/${p.protocol} is published twice`);
    devices[name] = {
      type: "proxy",
      listen: `${p.protocol}:${listenHost}:${p.hostPort}`,
      connect: `${p.protocol}:127.0.0.1:${p.containerPort}`,
      bind: "host"
    };
  }
  return devices;
}
function rootDiskDevice(disk, pool2) {
  if (disk === void 0) return {};
  if (!pool2) throw new Error("resources.disk needs a root disk with a storage pool in the default profile of the node");
  return { root: { type: "disk", path: "/", pool: pool2, size: `${parseQuantity(disk)}B` } };
}
function instanceCreateBody(ws, applySet, flavor, rootPool2) {
  const { spec, metadata } = ws.resource;
  if (!spec.image) throw new Error(`workspace ${metadata.name}: spec.image is required for the lxc provider (a local alias on the node, or e.g. images:debian/12)`);
  checkInstanceName(metadata.name);
  const env = Object.fromEntries(
    Object.entries(ws.env).filter(([, v]) => !/[\r\n]/.test(v)).map(([k, v]) => [`environment.${k}`, v])
  );
  return {
    name: instanceName(metadata.name),
    type: "container",
    source: imageSource(spec.image, flavor),
    // environment.* reaches every exec'd command, i.e. every service.
    config: { ...env, ...resourceConfig(spec.resources), ...workspaceConfigKeys(ws, applySet) },
    devices: { ...portDevices(spec.ports), ...rootDiskDevice(spec.resources?.disk, rootPool2) },
    profiles: ["default"]
  };
}
function isManaged(info) {
  return info.config?.[KEY_MANAGED] === "true" && (info.config?.[KEY_KIND] ?? "Workspace") === "Workspace";
}
function instanceAddress(info) {
  const nets = Object.entries(info.state?.network ?? {}).filter(([nic]) => nic !== "lo");
  for (const family of ["inet", "inet6"]) {
    for (const [, net] of nets) {
      const hit = (net.addresses ?? []).find((a) => a.family === family && a.scope === "global");
      if (hit) return hit.address;
    }
  }
  return void 0;
}
function observedFromInstance(info) {
  const config = info.config ?? {};
  const running = info.status === "Running";
  const address = running ? instanceAddress(info) : void 0;
  return {
    name: config[KEY_NAME] ?? info.name.replace(/^vendetta-/, ""),
    provider: "lxc",
    specHash: config[KEY_SPEC_HASH] ?? "",
    ...config[KEY_APPLY_SET] ? { applySet: config[KEY_APPLY_SET] } : {},
    running,
    ...address ? { address } : {},
    services: []
  };
}
function cliName(flavor) {
  return flavor === "incus" ? "incus" : "lxc";
}
function cliEnv(flavor, socket) {
  const dir = socket.replace(/\/[^/]*$/, "") || "/";
  return flavor === "incus" ? { INCUS_SOCKET: socket, INCUS_DIR: dir } : { LXD_SOCKET: socket, LXD_DIR: dir };
}
function cliExecArgv(flavor, instance, argv, opts2 = {}) {
  const out = [cliName(flavor), "exec", "--force-local", instance];
  out.push(opts2.tty ? "--force-interactive" : "--force-noninteractive");
  if (!opts2.stdin && !opts2.tty) out.push("--disable-stdin");
  out.push("--cwd", opts2.cwd ?? WORKSPACE_DIR3);
  for (const [k, v] of Object.entries(opts2.env ?? {})) out.push("--env", `${k}=${v}`);
  out.push("--", ...argv);
  return out;
}
function installHint2(node, socket) {
  const where = socket ? `no LXD/Incus socket at ${socket}` : `no LXD/Incus socket at ${DEFAULT_SOCKETS.map((s) => s.path).join(", ")}`;
  return `install LXD (apt install lxd, or snap install lxd) or Incus (apt install incus) on node ${node}, start it and run "lxd init" / "incus admin init" (${where}); or set spec.providers.lxc.socket on Node ${node}`;
}
function imageNotFoundMessage2(image, node, flavor) {
  const cli = cliName(flavor);
  return `image ${image} not found on node ${node}: no local image alias ${JSON.stringify(image)}; import it there (${cli} image import META ROOTFS --alias ${image}, or ${cli} image copy REMOTE:${image} local: --alias ${image}), or name a remote image such as images:debian/12`;
}
var KEY_MANAGED, KEY_KIND, KEY_NAME, KEY_SPEC_HASH, KEY_APPLY_SET, WORKSPACE_DIR3, STATE_DIR3, PORT_DEVICE_PREFIX, DEFAULT_SOCKETS, MAX_INSTANCE_NAME;
var init_spec3 = __esm({
  "src/providers/lxc/spec.ts"() {
    "use strict";
    init_ports();
    init_quantity();
    KEY_MANAGED = "user.vendetta.managed";
    KEY_KIND = "user.vendetta.kind";
    KEY_NAME = "user.vendetta.name";
    KEY_SPEC_HASH = "user.vendetta.spec-hash";
    KEY_APPLY_SET = "user.vendetta.applyset";
    WORKSPACE_DIR3 = "/workspace";
    STATE_DIR3 = "/var/lib/vendetta";
    PORT_DEVICE_PREFIX = "vd-port-";
    DEFAULT_SOCKETS = [
      { path: "/var/lib/lxd/unix.socket", flavor: "lxd" },
      { path: "/var/snap/lxd/common/lxd/unix.socket", flavor: "lxd" },
      { path: "/var/lib/incus/unix.socket", flavor: "incus" }
    ];
    MAX_INSTANCE_NAME = 63;
  }
});

// src/providers/lxc/exec.ts
function lxcExec(target, argv, opts2 = {}) {
  const { env, cwd, stdin, ...rest } = opts2;
  const full = cliExecArgv(target.flavor, target.instance, argv, {
    ...env ? { env } : {},
    ...cwd ? { cwd } : {},
    stdin: stdin !== void 0
  });
  return target.transport.exec(full, { ...rest, ...stdin !== void 0 ? { stdin } : {}, env: cliEnv(target.flavor, target.socket) });
}
function lxcSpawn(target, argv, opts2 = {}) {
  const { env, cwd, pty } = opts2;
  const full = cliExecArgv(target.flavor, target.instance, argv, {
    ...env ? { env } : {},
    ...cwd ? { cwd } : {},
    stdin: true,
    tty: pty !== void 0
  });
  return target.transport.spawn(full, { ...pty ? { pty } : {}, env: cliEnv(target.flavor, target.socket) });
}
var init_exec2 = __esm({
  "src/providers/lxc/exec.ts"() {
    "use strict";
    init_spec3();
  }
});

// src/providers/lxc/files.ts
import { lstat as lstat2, readFile as readFile6, readdir as readdir3, readlink as readlink2 } from "node:fs/promises";
import { join as join6 } from "node:path";
function parentChain(dir) {
  const parts = dir.split("/").filter(Boolean);
  return parts.map((_, i) => `/${parts.slice(0, i + 1).join("/")}`);
}
async function listTree(localRoot, remoteRoot) {
  const entries = [];
  async function walk3(local, remote) {
    for (const name of (await readdir3(local)).sort()) {
      const l = join6(local, name);
      const r2 = `${remote}/${name}`;
      const st = await lstat2(l);
      if (st.isSymbolicLink()) entries.push({ type: "symlink", path: r2, target: await readlink2(l) });
      else if (st.isDirectory()) {
        entries.push({ type: "directory", path: r2, mode: st.mode & 4095 });
        await walk3(l, r2);
      } else if (st.isFile()) entries.push({ type: "file", path: r2, mode: st.mode & 4095, local: l });
    }
  }
  await walk3(localRoot, remoteRoot);
  return entries;
}
function octal(mode) {
  return `0${mode.toString(8)}`;
}
async function push(client, instance, entry) {
  const path4 = `/1.0/instances/${encodeURIComponent(instance)}/files?path=${encodeURIComponent(entry.path)}`;
  const headers = { "X-LXD-uid": "0", "X-LXD-gid": "0", "X-LXD-type": entry.type };
  if (entry.type === "directory") {
    await client.call("POST", path4, { raw: "", headers: { ...headers, "X-LXD-mode": octal(entry.mode) } });
  } else if (entry.type === "symlink") {
    await client.call("POST", path4, { raw: entry.target, headers });
  } else {
    const content = await readFile6(entry.local);
    await client.call("POST", path4, { raw: content, headers: { ...headers, "X-LXD-mode": octal(entry.mode), "X-LXD-write": "overwrite" } });
  }
}
async function uploadWorkspace(client, instance, dirs, workspaceDir, sourceDir) {
  const made = /* @__PURE__ */ new Set();
  for (const dir of dirs) {
    for (const p of parentChain(dir)) {
      if (made.has(p)) continue;
      made.add(p);
      await push(client, instance, { type: "directory", path: p, mode: 493 });
    }
  }
  if (sourceDir === void 0) return;
  const entries = await listTree(sourceDir, workspaceDir);
  for (const e of entries) if (e.type === "directory") await push(client, instance, e);
  const rest = entries.filter((e) => e.type !== "directory");
  const CONCURRENCY = 8;
  for (let i = 0; i < rest.length; i += CONCURRENCY) {
    await Promise.all(rest.slice(i, i + CONCURRENCY).map((e) => push(client, instance, e)));
  }
}
var init_files = __esm({
  "src/providers/lxc/files.ts"() {
    "use strict";
  }
});

// src/providers/lxc/driver.ts
function nodeName3(ctx) {
  return ctx.node.metadata.name;
}
function describe(err) {
  return err instanceof Error ? err.message : String(err);
}
function fail2(ctx, daemon, what, err) {
  return new Error(`${daemon.flavor} ${what} on node ${nodeName3(ctx)} failed: ${describe(err)}`, { cause: err });
}
async function probe(client, flavorHint) {
  const info = await client.call("GET", "/1.0");
  const server = info.environment?.server;
  const flavor = flavorHint ?? (server === "incus" ? "incus" : "lxd");
  return { client, socket: client.socket, flavor, version: info.environment?.server_version ?? "unknown" };
}
async function findDaemon(ctx) {
  const settings = ctx.node.spec.providers?.lxc;
  const key = `${settings?.socket ?? ""}|${settings?.flavor ?? ""}`;
  let byKey = daemons.get(ctx.transport);
  if (!byKey) daemons.set(ctx.transport, byKey = /* @__PURE__ */ new Map());
  const cached = byKey.get(key);
  if (cached) return cached;
  const found = (async () => {
    const candidates = settings?.socket ? [{ path: settings.socket, flavor: settings.flavor }] : DEFAULT_SOCKETS.map((s) => ({ path: s.path, flavor: settings?.flavor ?? s.flavor }));
    const errors = [];
    for (const c of candidates) {
      try {
        return await probe(lxcClient(ctx.transport, c.path), c.flavor);
      } catch (err) {
        errors.push(`${c.path}: ${describe(err)}`);
      }
    }
    throw new TransportError(
      nodeName3(ctx),
      `no LXD or Incus daemon answers on node ${nodeName3(ctx)} (${errors.join("; ")})`,
      await diagnose(ctx, candidates.map((c) => c.path))
    );
  })();
  byKey.set(key, found);
  found.catch(() => byKey.delete(key));
  return found;
}
async function diagnose(ctx, sockets) {
  const node = nodeName3(ctx);
  let probeOut = "";
  try {
    const script2 = 'for s in "$@"; do if [ -S "$s" ]; then if [ -r "$s" ] && [ -w "$s" ]; then echo "ok $s"; else echo "denied $s"; fi; fi; done; id -un';
    probeOut = (await ctx.transport.exec(["/bin/sh", "-c", script2, "sh", ...sockets], { timeoutMs: 1e4 })).stdout;
  } catch {
  }
  const lines = probeOut.trim().split("\n");
  const user = lines.pop() || "the SSH user";
  const denied = lines.find((l) => l.startsWith("denied "));
  if (denied) {
    const socket = denied.slice("denied ".length);
    const group = socket.includes("incus") ? "incus-admin" : "lxd";
    return `user ${user} may not use ${socket} on node ${node}: add it to the ${group} group (sudo usermod -aG ${group} ${user}), then reconnect`;
  }
  const present = lines.find((l) => l.startsWith("ok "));
  if (present) return `a socket exists at ${present.slice(3)} on node ${node} but the daemon does not answer: start LXD/Incus there`;
  return installHint2(node, ctx.node.spec.providers?.lxc?.socket);
}
async function getInstance(ctx, daemon, name) {
  try {
    return await daemon.client.call("GET", `/1.0/instances/${encodeURIComponent(instanceName(name))}`);
  } catch (err) {
    if (statusOf(err) === 404) return void 0;
    throw fail2(ctx, daemon, `inspect of workspace ${name}`, err);
  }
}
async function getManaged(ctx, daemon, name) {
  const info = await getInstance(ctx, daemon, name);
  if (info && info.config?.[KEY_MANAGED] !== "true") {
    throw new Error(
      `instance ${instanceName(name)} on node ${nodeName3(ctx)} is not managed by vendetta (no ${KEY_MANAGED}=true); vendetta never touches it: rename or remove it yourself, or rename workspace ${name}`
    );
  }
  return info;
}
function stateUrl(name) {
  return `/1.0/instances/${encodeURIComponent(instanceName(name))}/state`;
}
function execTarget2(ctx, daemon, name) {
  return { transport: ctx.transport, flavor: daemon.flavor, socket: daemon.socket, instance: instanceName(name) };
}
async function waitReady(ctx, daemon, name) {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  let last = "";
  for (let delay = 50; ; delay = Math.min(delay * 2, 500)) {
    const r2 = await lxcExec(execTarget2(ctx, daemon, name), ["true"], { timeoutMs: 1e4 });
    if (r2.code === 0) return;
    last = (r2.stderr || r2.stdout).trim() || `exit ${r2.code}`;
    if (Date.now() > deadline) {
      throw new Error(
        `workspace ${name} on node ${nodeName3(ctx)} started but commands cannot run in it after ${READY_TIMEOUT_MS / 1e3} s: ${last}; check that the ${daemon.flavor === "incus" ? "incus" : "lxc"} CLI is installed on the node and the image has /bin/true`
      );
    }
    await new Promise((r3) => setTimeout(r3, delay));
  }
}
async function startInstance(ctx, daemon, name) {
  try {
    await daemon.client.call("PUT", stateUrl(name), { body: { action: "start", timeout: 30 } });
  } catch (err) {
    if (/already running/i.test(describe(err))) return;
    const msg = describe(err);
    if (/address already in use|bind/i.test(msg)) {
      throw new Error(
        `workspace ${name}: a published port is already in use on node ${nodeName3(ctx)}; stop whatever listens there or change spec.ports (${daemon.flavor}: ${msg})`,
        { cause: err }
      );
    }
    throw fail2(ctx, daemon, `start of workspace ${name}`, err);
  }
  await waitReady(ctx, daemon, name);
}
async function stopInstance(ctx, daemon, name) {
  try {
    await daemon.client.call("PUT", stateUrl(name), { body: { action: "stop", timeout: STOP_TIMEOUT_S2 } });
  } catch (err) {
    if (/not running|already stopped/i.test(describe(err))) return;
    try {
      await daemon.client.call("PUT", stateUrl(name), { body: { action: "stop", force: true } });
    } catch (err2) {
      if (/not running|already stopped/i.test(describe(err2))) return;
      throw fail2(ctx, daemon, `stop of workspace ${name}`, err2);
    }
  }
}
async function rootPool(daemon) {
  const profile = await daemon.client.call("GET", "/1.0/profiles/default");
  return Object.values(profile.devices ?? {}).find((d) => d.type === "disk" && d.path === "/")?.pool;
}
async function ensureLocalImage(ctx, daemon, alias) {
  try {
    await daemon.client.call("GET", `/1.0/images/aliases/${encodeURIComponent(alias)}`);
  } catch (err) {
    if (statusOf(err) === 404) throw new Error(imageNotFoundMessage2(alias, nodeName3(ctx), daemon.flavor));
    throw fail2(ctx, daemon, `lookup of image ${alias}`, err);
  }
}
function createLxcDriver() {
  return {
    name: "lxc",
    async availability(ctx) {
      try {
        const d = await findDaemon(ctx);
        return { available: true, version: `${d.flavor} ${d.version}`, detail: `socket ${d.socket}` };
      } catch (err) {
        return { available: false, detail: describe(err), hint: err instanceof TransportError ? err.hint : installHint2(nodeName3(ctx), void 0) };
      }
    },
    async observe(ctx) {
      const daemon = await findDaemon(ctx);
      let instances;
      try {
        instances = await daemon.client.call("GET", "/1.0/instances?recursion=2");
      } catch (err) {
        throw fail2(ctx, daemon, "listing of workspaces", err);
      }
      return Promise.all(
        instances.filter(isManaged).map(async (info) => {
          const observed = observedFromInstance(info);
          if (!observed.running) return observed;
          const target = execTarget2(ctx, daemon, observed.name);
          const services = await readServiceStatus(
            (argv) => lxcExec(target, argv, { timeoutMs: 3e4 }),
            STATE_DIR3,
            `workspace ${observed.name} on node ${nodeName3(ctx)}`
          );
          return { ...observed, services };
        })
      );
    },
    async create(ctx, ws) {
      const { spec, metadata } = ws.resource;
      const name = metadata.name;
      const daemon = await findDaemon(ctx);
      const pool2 = spec.resources?.disk !== void 0 ? await rootPool(daemon) : void 0;
      const body = instanceCreateBody(ws, ctx.applySet, daemon.flavor, pool2);
      if (!body.source.server) await ensureLocalImage(ctx, daemon, body.source.alias);
      else ctx.progress?.(`${daemon.flavor} on node ${nodeName3(ctx)} fetches image ${spec.image} (first use downloads it)`);
      try {
        await daemon.client.call("POST", "/1.0/instances", { body });
      } catch (err) {
        if (statusOf(err) === 409 || /already exists/i.test(describe(err))) {
          throw new Error(
            `workspace ${name}: an instance named ${body.name} already exists on node ${nodeName3(ctx)}; delete the workspace first (vendetta delete workspace/${name}) or remove that instance`,
            { cause: err }
          );
        }
        throw fail2(ctx, daemon, `create of workspace ${name}`, err);
      }
      try {
        ctx.progress?.(`uploading ${spec.source?.path ?? "workspace directories"} to ${name}:${WORKSPACE_DIR3}`);
        await uploadWorkspace(daemon.client, body.name, [WORKSPACE_DIR3, STATE_DIR3], WORKSPACE_DIR3, spec.source?.path).catch((err) => {
          throw fail2(ctx, daemon, `upload of ${spec.source?.path ?? "workspace directories"} to workspace ${name}`, err);
        });
        if ((spec.state ?? "running") === "running") await startInstance(ctx, daemon, name);
      } catch (err) {
        await forceDelete(daemon, name).catch(() => void 0);
        throw err;
      }
    },
    async start(ctx, name) {
      const daemon = await findDaemon(ctx);
      const info = await getManaged(ctx, daemon, name);
      if (!info) throw new Error(`workspace ${name} does not exist on node ${nodeName3(ctx)}; apply it to create it`);
      if (info.status !== "Running") await startInstance(ctx, daemon, name);
    },
    async stop(ctx, name) {
      const daemon = await findDaemon(ctx);
      const info = await getManaged(ctx, daemon, name);
      if (!info || info.status === "Stopped") return;
      await stopInstance(ctx, daemon, name);
    },
    async delete(ctx, name) {
      const daemon = await findDaemon(ctx);
      const info = await getManaged(ctx, daemon, name);
      if (!info) return;
      try {
        await forceDelete(daemon, name, info.status);
      } catch (err) {
        if (statusOf(err) === 404) return;
        throw fail2(ctx, daemon, `delete of workspace ${name}`, err);
      }
    },
    async runtime(ctx, name) {
      const daemon = await findDaemon(ctx);
      const info = await getManaged(ctx, daemon, name);
      if (!info) throw new Error(`workspace ${name} does not exist on node ${nodeName3(ctx)}; apply it to create it`);
      if (info.status !== "Running") {
        throw new Error(`workspace ${name} on node ${nodeName3(ctx)} is stopped; set state: running and apply to start it`);
      }
      const target = execTarget2(ctx, daemon, name);
      const hasNic = Object.values(info.expanded_devices ?? {}).some((d) => d.type === "nic");
      const address = hasNic ? await waitForAddress(ctx, daemon, name) : "127.0.0.1";
      return {
        workspaceDir: WORKSPACE_DIR3,
        stateDir: STATE_DIR3,
        address,
        exec: (argv, opts2) => lxcExec(target, argv, opts2),
        spawn: (argv, opts2) => lxcSpawn(target, argv, opts2)
      };
    }
  };
}
async function forceDelete(daemon, name, status) {
  if (status !== "Stopped") {
    await daemon.client.call("PUT", stateUrl(name), { body: { action: "stop", force: true } }).catch((err) => {
      if (!(err instanceof LxcApiError) || !/not running|already stopped/i.test(err.message)) throw err;
    });
  }
  await daemon.client.call("DELETE", `/1.0/instances/${encodeURIComponent(instanceName(name))}`);
}
async function waitForAddress(ctx, daemon, name) {
  const deadline = Date.now() + ADDRESS_TIMEOUT_MS;
  for (; ; ) {
    const state = await daemon.client.call("GET", stateUrl(name)).catch((err) => {
      throw fail2(ctx, daemon, `state of workspace ${name}`, err);
    });
    const address = instanceAddress({ name, status: "Running", state });
    if (address) return address;
    if (Date.now() > deadline) {
      throw new Error(
        `workspace ${name} on node ${nodeName3(ctx)} has a network interface but no address after ${ADDRESS_TIMEOUT_MS / 1e3} s; check the network of the default profile (DHCP on its bridge) or that the image runs a DHCP client`
      );
    }
    await new Promise((r2) => setTimeout(r2, 200));
  }
}
var STOP_TIMEOUT_S2, READY_TIMEOUT_MS, ADDRESS_TIMEOUT_MS, daemons;
var init_driver4 = __esm({
  "src/providers/lxc/driver.ts"() {
    "use strict";
    init_manager();
    init_types3();
    init_client2();
    init_exec2();
    init_files();
    init_spec3();
    init_client2();
    STOP_TIMEOUT_S2 = 10;
    READY_TIMEOUT_MS = 15e3;
    ADDRESS_TIMEOUT_MS = 1e4;
    daemons = /* @__PURE__ */ new WeakMap();
  }
});

// src/cli/errors.ts
var ExitError, UsageError;
var init_errors2 = __esm({
  "src/cli/errors.ts"() {
    "use strict";
    ExitError = class extends Error {
      constructor(message, code = 1, hint) {
        super(message);
        this.code = code;
        this.hint = hint;
        this.name = "ExitError";
      }
      code;
      hint;
    };
    UsageError = class extends ExitError {
      constructor(message, hint) {
        super(message, 2, hint);
        this.name = "UsageError";
      }
    };
  }
});

// src/server/wire.ts
function toBundle(set2) {
  const { nodes, workspaces, services } = set2.desired;
  return {
    resources: [...nodes.values(), ...workspaces.values(), ...services.values()],
    env: Object.fromEntries(set2.env)
  };
}
function fromWireResult(r2) {
  return { ...r2, statuses: new Map(Object.entries(r2.statuses)), endpoints: new Map(Object.entries(r2.endpoints)) };
}
var API_PREFIX;
var init_wire = __esm({
  "src/server/wire.ts"() {
    "use strict";
    init_types();
    init_references();
    init_schema();
    init_defaults();
    API_PREFIX = "/api/v1";
  }
});

// src/server/client.ts
async function* ndjsonLines(res) {
  if (!res.body) return;
  const decoder = new TextDecoder();
  let buffered = "";
  for await (const chunk of res.body) {
    buffered += decoder.decode(chunk, { stream: true });
    let newline;
    while ((newline = buffered.indexOf("\n")) >= 0) {
      const line = buffered.slice(0, newline).trim();
      buffered = buffered.slice(newline + 1);
      if (line) yield JSON.parse(line);
    }
  }
  if (buffered.trim()) yield JSON.parse(buffered);
}
function remoteEngine(client, events = {}) {
  return {
    async plan(set2, opts2) {
      const body = { set: toBundle(set2), applySet: opts2.applySet, prune: opts2.prune };
      const { plan: plan2 } = await client.json("/plan", { method: "POST", body: JSON.stringify(body) });
      return { plan: plan2, observed: /* @__PURE__ */ new Map() };
    },
    apply(set2, opts2) {
      const body = { set: toBundle(set2), applySet: opts2.applySet, prune: opts2.prune, timeoutMs: opts2.timeoutMs, noWait: opts2.noWait };
      return client.stream("/apply", { method: "POST", body: JSON.stringify(body), signal: opts2.signal }, events);
    },
    delete(ids, opts2) {
      return client.stream("/delete", { method: "POST", body: JSON.stringify({ ids, timeoutMs: opts2.timeoutMs }), signal: opts2.signal }, events);
    },
    async close() {
    }
  };
}
function remoteStore(client) {
  const readOnly = (what) => () => Promise.reject(new Error(`${what} is not available through the server API`));
  return {
    home: client.base,
    async get(id) {
      const [kind, name] = id.split("/");
      try {
        const { record } = await client.json(`/resources/${encodeURIComponent(kind)}/${encodeURIComponent(name)}`);
        return record;
      } catch (err) {
        if (err instanceof ServerError && err.status === 404) return void 0;
        throw err;
      }
    },
    list(kind) {
      return client.json(`/resources${kind ? `?kind=${kind}` : ""}`);
    },
    async events(opts2 = {}) {
      const q = new URLSearchParams();
      if (opts2.object) q.set("object", opts2.object);
      if (opts2.limit) q.set("limit", String(opts2.limit));
      const out = [];
      for await (const e of ndjsonLines(await client.fetch(`/events?${q}`, { accept: "application/x-ndjson" }))) out.push(e);
      return out;
    },
    putApplied: readOnly("putApplied"),
    setStatus: readOnly("setStatus"),
    remove: readOnly("remove"),
    inventory: readOnly("inventory"),
    setInventory: readOnly("setInventory"),
    appendEvent: readOnly("appendEvent"),
    lock: readOnly("lock")
  };
}
var ServerError, ApiClient;
var init_client3 = __esm({
  "src/server/client.ts"() {
    "use strict";
    init_wire();
    ServerError = class extends Error {
      constructor(message, status, hint, errors) {
        super(message);
        this.status = status;
        this.hint = hint;
        this.errors = errors;
        this.name = "ServerError";
      }
      status;
      hint;
      errors;
    };
    ApiClient = class {
      constructor(url, token) {
        this.token = token;
        this.base = url.replace(/\/+$/, "") + API_PREFIX;
      }
      token;
      base;
      async fetch(path4, init = {}) {
        let res;
        try {
          res = await fetch(this.base + path4, {
            ...init,
            headers: {
              authorization: `Bearer ${this.token}`,
              accept: init.accept ?? "application/json",
              ...init.body ? { "content-type": "application/json" } : {}
            }
          });
        } catch (err) {
          const cause = err.cause?.message ?? err.message;
          throw new ServerError(`cannot reach the vendetta server at ${this.base}: ${cause}`, 0, "start it with `vendetta serve`, or check --server / VENDETTA_SERVER");
        }
        if (res.ok) return res;
        const body = await res.json().catch(() => ({}));
        const hint = res.status === 401 ? "use the token from the server's $VENDETTA_HOME/server.token (--token-file or VENDETTA_TOKEN)" : body.hint;
        throw new ServerError(`server: ${body.error ?? res.statusText} (HTTP ${res.status})`, res.status, hint, body.errors);
      }
      async json(path4, init = {}) {
        return await (await this.fetch(path4, init)).json();
      }
      /** A streamed apply/delete: forwards plans, events and progress to `events`, returns the result. */
      async stream(path4, init, events) {
        const res = await this.fetch(path4, { ...init, accept: "application/x-ndjson" });
        let result;
        for await (const line of ndjsonLines(res)) {
          const m = line;
          if (m.type === "plan") events.onPlan?.(m.plan, m.pass);
          else if (m.type === "event") events.onEvent?.(m.event);
          else if (m.type === "progress") events.onProgress?.(m.resource, m.message);
          else if (m.type === "result") result = m.result;
          else if (m.type === "error") throw new ServerError(`server: ${m.error}`, m.status, m.hint, m.errors);
        }
        if (!result) throw new ServerError("server closed the connection before reporting a result", 0, "see the server log; run the command again");
        return fromWireResult(result);
      }
    };
  }
});

// src/server/token.ts
import path2 from "node:path";
function tokenPath(home2) {
  return path2.join(home2, "server.token");
}
var init_token = __esm({
  "src/server/token.ts"() {
    "use strict";
  }
});

// src/cli/client.ts
import { readFileSync } from "node:fs";
import path3 from "node:path";
function serverToken(env = process.env) {
  if (env.VENDETTA_TOKEN) return env.VENDETTA_TOKEN.trim();
  const file2 = env.VENDETTA_TOKEN_FILE ?? tokenPath(defaultHome());
  try {
    return readFileSync(path3.resolve(file2), "utf8").trim();
  } catch (err) {
    throw new UsageError(
      `cannot read the server token from ${file2}: ${err.code ?? err.message}`,
      "pass --token-file FILE or set VENDETTA_TOKEN (the server writes it to its $VENDETTA_HOME/server.token)"
    );
  }
}
function serverClient(env = process.env) {
  const url = env.VENDETTA_SERVER;
  if (!url) return void 0;
  if (!/^https?:\/\//.test(url)) throw new UsageError(`invalid server URL "${url}"`, "use e.g. --server http://127.0.0.1:7171");
  return new ApiClient(url, serverToken(env));
}
function clientEngine(client, events) {
  const engine2 = remoteEngine(client, events);
  return {
    // diff maps plain errors to exit 2 (an ExitError would keep its code 1 = "changes").
    plan: (set2, opts2) => engine2.plan(set2, opts2).catch((e) => Promise.reject(e instanceof ServerError ? new Error(describe2(e)) : e)),
    apply: (set2, opts2) => engine2.apply(set2, opts2).catch(toExitError),
    delete: (ids, opts2) => engine2.delete(ids, opts2).catch(toExitError),
    close: () => engine2.close()
  };
}
async function serverNodes(client) {
  try {
    return (await client.json("/nodes")).map((r2) => r2.resource);
  } catch (e) {
    return toExitError(e);
  }
}
function describe2(e) {
  const lines = e.errors?.map(formatManifestError) ?? [];
  return [...lines, e.message].join("\n");
}
function toExitError(e) {
  if (e instanceof ServerError) throw new ExitError(describe2(e), 1, e.hint);
  throw e;
}
var init_client4 = __esm({
  "src/cli/client.ts"() {
    "use strict";
    init_errors();
    init_client3();
    init_token();
    init_file_store();
    init_errors2();
  }
});

// src/cli/context.ts
var context_exports = {};
__export(context_exports, {
  drivers: () => drivers,
  flagDuration: () => flagDuration,
  loadOrExit: () => loadOrExit,
  openEngine: () => openEngine,
  storeNodes: () => storeNodes
});
function drivers() {
  return { process: createProcessDriver(), docker: createDockerDriver(), qemu: createQemuDriver(), lxc: createLxcDriver() };
}
async function openEngine(global, events = {}) {
  const pool2 = new TransportPool({ strictHostKeys: global.strictHostKeys });
  const client = serverClient();
  if (client) return { store: remoteStore(client), engine: clientEngine(client, events), pool: pool2 };
  const store2 = await openStore();
  const engine2 = createEngine({ store: store2, connect: (node) => pool2.get(node), drivers: drivers(), events });
  return { store: store2, engine: engine2, pool: pool2 };
}
async function loadOrExit(paths, exitCode3 = 1) {
  if (!paths || paths.length === 0) throw new ExitError("no manifests given", exitCode3, "pass -f FILE_OR_DIR (repeatable)");
  const result = await loadManifests(paths, { knownNodes: await storeNodes() });
  if (!result.ok) {
    const lines = result.errors.map(formatManifestError);
    const n = result.errors.length;
    throw new ExitError(`${lines.join("\n")}
${n} error${n === 1 ? "" : "s"} in manifests; nothing was changed`, exitCode3);
  }
  return result.set;
}
async function storeNodes() {
  const client = serverClient();
  if (client) return serverNodes(client);
  const store2 = await openStore();
  return (await store2.list("Node")).map((r2) => r2.resource);
}
function flagDuration(flag, value, fallbackMs) {
  if (value === void 0) return fallbackMs;
  try {
    return parseDuration(value);
  } catch {
    throw new UsageError(`invalid duration for ${flag}: "${value}"`, "use e.g. 90s, 5m, 500ms");
  }
}
var init_context = __esm({
  "src/cli/context.ts"() {
    "use strict";
    init_manifest();
    init_engine();
    init_file_store();
    init_pool();
    init_driver();
    init_driver2();
    init_driver3();
    init_driver4();
    init_errors2();
    init_quantity();
    init_client4();
    init_client3();
  }
});

// .prof-tmp/prof.ts
import { mkdtempSync, writeFileSync, copyFileSync, mkdirSync, readFileSync as readFileSync2 } from "node:fs";
import { tmpdir } from "node:os";
import { join as join7 } from "node:path";
var infra = JSON.parse(readFileSync2("/tmp/vendetta-e2e/env.json", "utf8"));
var nodeCount = Number(process.argv[2] ?? 1);
var perNode = Number(process.argv[3] ?? 3);
var hc = process.argv[4] === "hc";
var home = mkdtempSync(join7(tmpdir(), "vd-prof-"));
var ssh = join7(home, "ssh");
mkdirSync(ssh);
copyFileSync(infra.clientKey, join7(ssh, "id_ed25519"));
writeFileSync(join7(ssh, "known_hosts"), infra.nodes.map((n) => `[${n.address}]:${n.port} ${n.hostKeyPub}
`).join(""));
Object.assign(process.env, { VENDETTA_HOME: home, VENDETTA_SSH_DIR: ssh, VENDETTA_KNOWN_HOSTS: join7(ssh, "known_hosts"), NO_COLOR: "1" });
var docs = [];
for (const n of infra.nodes.slice(0, nodeCount)) {
  docs.push(`apiVersion: vendetta.dev/v1alpha1
kind: Node
metadata: {name: ${n.name}}
spec: {address: ${n.address}, port: ${n.port}, user: ${infra.user}, identityFile: ${infra.clientKey}, providers: {docker: {socket: ${n.dockerSocket}}}}`);
  for (let i = 0; i < perNode; i++) {
    docs.push(`apiVersion: vendetta.dev/v1alpha1
kind: Workspace
metadata: {name: prof-${n.name}-${i}}
spec: {node: ${n.name}, provider: docker, image: ${infra.image}, pull: never}`);
    docs.push(`apiVersion: vendetta.dev/v1alpha1
kind: Service
metadata: {name: prof-${n.name}-${i}-svc}
spec: {workspace: prof-${n.name}-${i}, command: exec sleep 600${hc ? ', healthcheck: {exec: ["true"], interval: 2s}' : ""}}`);
  }
}
var file = join7(home, "set.yaml");
writeFileSync(file, docs.join("\n---\n") + "\n");
var { openEngine: openEngine2, loadOrExit: loadOrExit2, drivers: drivers2 } = await Promise.resolve().then(() => (init_context(), context_exports));
var { createEngine: createEngine2 } = await Promise.resolve().then(() => (init_engine(), engine_exports));
var { openStore: openStore2 } = await Promise.resolve().then(() => (init_file_store(), file_store_exports));
var { TransportPool: TransportPool2 } = await Promise.resolve().then(() => (init_pool(), pool_exports));
var t0 = () => performance.now();
var base = t0();
var log = (s) => console.log(`${(t0() - base).toFixed(0).padStart(6)} ${s}`);
var ds = drivers2();
var docker = ds.docker;
var wrap = (obj, key, label) => {
  const orig = obj[key].bind(obj);
  obj[key] = async (...a) => {
    const s = t0();
    try {
      return await orig(...a);
    } finally {
      log(`${label(...a)} ${(t0() - s).toFixed(0)}ms`);
    }
  };
};
wrap(docker, "observe", (c) => `observe ${c.node.metadata.name}`);
var origRt = docker.runtime.bind(docker);
docker.runtime = async (c, name) => {
  const s = t0();
  const rt = await origRt(c, name);
  log(`runtime ${name} ${(t0() - s).toFixed(0)}ms`);
  wrap(rt, "exec", (argv) => `  exec ${name} ${argv.join(" ").slice(0, 40)}`);
  return rt;
};
var pool = new TransportPool2({});
var store = await openStore2();
var set = await loadOrExit2([file]);
var engine = createEngine2({ store, connect: (n) => pool.get(n), drivers: ds, events: {} });
var opts = { applySet: "default", prune: false, timeoutMs: 12e4 };
var r = await engine.apply(set, opts);
console.log("first apply converged", r.converged);
for (let i = 0; i < 3; i++) {
  base = t0();
  log("--- pass");
  r = await engine.apply(set, opts);
  log(`--- end converged=${r.converged}`);
}
await engine.delete([...set.desired.workspaces.keys()].map((w) => `workspace/${w}`), { timeoutMs: 6e4, set });
await engine.close();
await pool.closeAll?.();
process.exit(0);
