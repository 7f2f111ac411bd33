import { parseVolumeList } from '../../../../src/providers/volume-dirs.js';
import { describe, expect, it } from 'vitest';
import { API_VERSION, type WorkspaceResource } from '../../../../src/model/types.js';
import type { DesiredWorkspace } from '../../../../src/providers/types.js';
import { guestReadyArgv, metaData, seedBuildArgv, userData } from '../../../../src/providers/qemu/cloudinit.js';
import { QmpLineReader } from '../../../../src/providers/qemu/qmp.js';
import {
  volumeSerial,
  accelProbeArgv,
  bootFailureMessage,
  chooseVmAddress,
  diskCreateArgv,
  hostfwdChanges,
  hostfwdFailure,
  kernelAppend,
  netdevArg,
  observedWorkspace,
  parseAccelProbe,
  parseListeningPorts,
  parseObserveOutput,
  pickFreePort,
  qemuArgv,
  serialTail,
  sshKeyKernelArg,
  vmConfig,
  vmPaths,
  type QemuMeta,
} from '../../../../src/providers/qemu/spec.js';

const KEY = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIEXAMPLE vendetta-guests';

function desired(spec: Partial<WorkspaceResource['spec']>, name = 'vm1'): DesiredWorkspace {
  return {
    resource: { apiVersion: API_VERSION, kind: 'Workspace', metadata: { name }, spec: { node: 'n1', provider: 'qemu', ...spec } },
    specHash: 'h1',
    owner: { id: '0123456789abcdef', name: 'test@host:/home/test/.vendetta' },
    env: {},
  };
}

function meta(spec: Partial<WorkspaceResource['spec']>): QemuMeta {
  return {
    managed: true,
    kind: 'Workspace',
    name: 'vm1',
    node: 'n1',
    specHash: 'h1',
    applySet: 'set',
    running: true,
    createdAt: '2026-01-01T00:00:00.000Z',
    address: '127.86.1.2',
    vm: vmConfig(desired(spec)),
  };
}

const paths = vmPaths('/home/u/.vendetta/qemu', 'n1', 'vm1');

describe('vmConfig', () => {
  it('direct kernel boot: defaults, no disk, no seed', () => {
    expect(vmConfig(desired({ vm: { kernel: '/k', initrd: '/i' } }))).toEqual({
      cpus: 1,
      memoryMiB: 512,
      kernel: '/k',
      initrd: '/i',
      disk: false,
      seed: false,
      guestUser: 'root',
      guestSshPort: 22,
      ports: [],
    });
  });

  it('cloud image: overlay disk + cloud-init seed; resources and ports translated', () => {
    const c = vmConfig(desired({ image: '/img/debian.qcow2', resources: { cpus: 2, memory: '1Gi', disk: '10Gi' }, ports: ['127.0.0.1:8080:80', '9000'], vm: { user: 'dev' } }));
    expect(c).toMatchObject({ cpus: 2, memoryMiB: 1024, image: '/img/debian.qcow2', disk: true, seed: true, guestUser: 'dev' });
    expect(c.ports).toEqual([
      { protocol: 'tcp', hostIp: '127.0.0.1', hostPort: 8080, guestPort: 80 },
      { protocol: 'tcp', hostIp: '', hostPort: 9000, guestPort: 9000 },
    ]);
  });

  it('refuses a workspace with neither image nor kernel, saying what to set', () => {
    expect(() => vmConfig(desired({}))).toThrow(/spec.image .* or spec.vm.kernel/);
  });
});

describe('paths', () => {
  it('puts VMs under the node name and refuses unsafe names', () => {
    expect(paths.dir).toBe('/home/u/.vendetta/qemu/n1/vm1');
    expect(paths.qmp).toBe('/home/u/.vendetta/qemu/n1/vm1/qmp.sock');
    expect(() => vmPaths('/r', 'n1', '../x')).toThrow(/invalid workspace name/);
    expect(() => vmPaths('/r', 'N 1', 'x')).toThrow(/invalid node name/);
  });

  it('refuses a QMP socket path longer than a unix socket allows', () => {
    expect(() => vmPaths(`/${'d'.repeat(60)}`, 'n1', 'w'.repeat(60))).toThrow(/longer than 107/);
  });
});

describe('qemu argv', () => {
  it('direct kernel boot: key on the kernel command line and in fw_cfg, forwards on the VM address', () => {
    const argv = qemuArgv('qemu-system-x86_64', 'tcg', meta({ vm: { kernel: '/k', initrd: '/i', append: 'quiet' }, ports: ['127.0.0.1:18080:8080'] }), paths, 34567, KEY);
    const line = argv.join(' ');
    expect(line).toContain('-accel tcg -cpu max -machine q35 -smp 1 -m 512');
    expect(line).toContain(
      '-netdev user,id=n0,hostfwd=tcp:127.86.1.2:34567-:22,hostfwd=tcp:127.86.1.2:8080-:8080,hostfwd=tcp:127.0.0.1:18080-:8080',
    );
    expect(line).toContain(`-qmp unix:${paths.qmp},server=on,wait=off -pidfile ${paths.pid} -daemonize`);
    expect(line).toContain(`-chardev file,id=ser0,path=${paths.serial} -serial chardev:ser0`);
    expect(argv[argv.indexOf('-append') + 1]).toBe(`quiet console=ttyS0 vendetta.hostname=vm1 ${sshKeyKernelArg(KEY)}`);
    expect(line).toContain(`-fw_cfg name=opt/vendetta/authorized_keys,file=${paths.authorizedKeys}`);
    expect(line).not.toContain('-drive');
  });

  it('cloud image: overlay and read-only seed drives, KVM uses the host CPU', () => {
    const argv = qemuArgv('/opt/q', 'kvm', meta({ image: '/img/base.qcow2' }), paths, 30000, KEY);
    const line = argv.join(' ');
    expect(argv[0]).toBe('/opt/q');
    expect(line).toContain('-accel kvm -cpu host');
    expect(line).toContain(`-drive file=${paths.disk},if=virtio,format=qcow2 -drive file=${paths.seed},if=virtio,format=raw,readonly=on`);
    expect(line).not.toContain('-kernel');
  });

  it('the kernel key argument decodes to the public key', () => {
    const b64 = sshKeyKernelArg(KEY).split('=')[1]!;
    expect(Buffer.from(b64, 'base64').toString()).toBe(`${KEY}\n`);
    expect(kernelAppend('vm1', 'console=hvc0', KEY)).toMatch(/^console=hvc0 vendetta.hostname=vm1 vendetta.ssh_key=/);
    expect(kernelAppend('vm1', undefined, KEY)).toMatch(/^console=ttyS0 vendetta/);
  });

  it('does not forward the same guest port twice on the VM address', () => {
    const m = meta({ vm: { kernel: '/k' }, ports: ['127.0.0.1:8080:80', '127.0.0.2:8081:80'] });
    expect(netdevArg(m, 30000).match(/127\.86\.1\.2:80-/g)).toHaveLength(1);
  });

  it('a wildcard publish of the same number already covers the VM address (no clashing second bind)', () => {
    const m = meta({ vm: { kernel: '/k' }, ports: ['7000'] });
    expect(netdevArg(m, 30000)).toBe('user,id=n0,hostfwd=tcp:127.86.1.2:30000-:22,hostfwd=tcp::7000-:7000');
  });

  it('port changes on a running VM: monitor commands for the forwards that differ, removals first, each with its undo', () => {
    const m = meta({ vm: { kernel: '/k' }, ports: ['127.0.0.1:18080:80', '127.0.0.1:9000:9000'] });
    const steps = hostfwdChanges(m, vmConfig(desired({ vm: { kernel: '/k' }, ports: ['127.0.0.1:18081:80', '127.0.0.1:9000:9000'] })).ports, 30000);
    expect(steps).toEqual([
      { run: 'hostfwd_remove n0 tcp:127.0.0.1:18080', undo: 'hostfwd_add n0 tcp:127.0.0.1:18080-:80' },
      { run: 'hostfwd_add n0 tcp:127.0.0.1:18081-:80', undo: 'hostfwd_remove n0 tcp:127.0.0.1:18081' },
    ]);
    // the VM-address forward of guest port 80 stays: only the user's side moved
    expect(steps.some((s) => s.run.includes('127.86.1.2'))).toBe(false);
    // a new guest port gets its VM-address forward too; a dropped one loses it; udp keeps its protocol
    expect(hostfwdChanges(m, vmConfig(desired({ vm: { kernel: '/k' }, ports: ['127.0.0.1:18080:80', '5353:53/udp'] })).ports, 30000).map((s) => s.run)).toEqual([
      'hostfwd_remove n0 tcp:127.86.1.2:9000',
      'hostfwd_remove n0 tcp:127.0.0.1:9000',
      'hostfwd_add n0 udp:127.86.1.2:53-:53',
      'hostfwd_add n0 udp::5353-:53',
    ]);
    expect(hostfwdChanges(m, m.vm.ports, 30000)).toEqual([]);
  });

  it('monitor replies: hostfwd_add is silent when it worked, hostfwd_remove says "removed"', () => {
    expect(hostfwdFailure('hostfwd_add n0 tcp::1-:2', '')).toBeUndefined();
    expect(hostfwdFailure('hostfwd_add n0 tcp::1-:2', "Could not set up host forwarding rule 'tcp::1-:2'\r\n")).toBe("Could not set up host forwarding rule 'tcp::1-:2'");
    expect(hostfwdFailure('hostfwd_remove n0 tcp::1', 'host forwarding rule for tcp::1 removed\r\n')).toBeUndefined();
    expect(hostfwdFailure('hostfwd_remove n0 tcp::1', 'host forwarding rule for tcp::1 not found\r\n')).toBe('host forwarding rule for tcp::1 not found');
  });

  it('network: isolated adds restrict=on (only forwards reach the guest); nat does not', () => {
    expect(netdevArg(meta({ vm: { kernel: '/k', network: 'isolated' } }), 30000)).toMatch(/^user,id=n0,restrict=on,hostfwd=/);
    expect(netdevArg(meta({ vm: { kernel: '/k' } }), 30000)).not.toMatch(/restrict/);
  });

  it('disk overlay on a base image, or a sized blank disk', () => {
    expect(diskCreateArgv(paths, { path: '/img/b.img', format: 'raw' }, '10Gi').join(' ')).toBe(
      `qemu-img create -q -f qcow2 -b /img/b.img -F raw ${paths.disk} ${10 * 2 ** 30}`,
    );
    expect(diskCreateArgv(paths, undefined, '1Gi')).toEqual(['qemu-img', 'create', '-q', '-f', 'qcow2', paths.disk, String(2 ** 30)]);
    expect(() => diskCreateArgv(paths, undefined, undefined)).toThrow(/needs a size/);
  });
});

describe('addresses and ports', () => {
  it('VM address is stable per (node, name) and moves on when taken', () => {
    const a = chooseVmAddress('n1', 'vm1', []);
    expect(a).toMatch(/^127\.86\.\d{1,3}\.\d{1,3}$/);
    expect(chooseVmAddress('n1', 'vm1', [])).toBe(a);
    const b = chooseVmAddress('n1', 'vm1', [a]);
    expect(b).not.toBe(a);
    expect(b).toMatch(/^127\.86\./);
  });

  it('reads listening ports from /proc/net/tcp and picks a free one', () => {
    const proc = [
      '  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode',
      '   0: 0B00007F:08AE 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1 1',
      '   1: 0100007F:9C40 0100007F:D431 01 00000000:00000000 00:00000000 00000000     0        0 2 1',
    ].join('\n');
    expect([...parseListeningPorts(proc)]).toEqual([2222]);
    const seq = [0, 0.5];
    expect(pickFreePort(new Set([20000]), () => seq.shift() ?? 0.5)).toBe(40000);
  });
});

describe('accel probe', () => {
  it('parses the probe verdicts', () => {
    expect(parseAccelProbe('missing\n')).toMatchObject({ missing: true });
    expect(parseAccelProbe('kvm\n')).toMatchObject({ accel: 'kvm', missing: false });
    expect(parseAccelProbe('tcg KVM probe failed: error: failed to set MSR\n')).toEqual({
      accel: 'tcg',
      missing: false,
      reason: 'KVM probe failed: error: failed to set MSR',
    });
  });

  it('tries KVM with the same CPU and machine as real VMs', () => {
    const script = accelProbeArgv('qemu-system-x86_64', 'auto')[2]!;
    expect(script).toContain('-accel kvm -cpu host -machine q35');
    expect(script).toContain('/dev/kvm');
  });
});

describe('observation', () => {
  it('parses metas and liveness; skips directories that are not ours', () => {
    const m = meta({ vm: { kernel: '/k' } });
    const text = [
      'vm\tvm1',
      `meta\t${JSON.stringify(m)}`,
      'alive\t4242',
      'vm\tother',
      'meta\t{"name":"other"}',
      'alive\t0',
      'vm\tbroken',
      'meta\t{not json',
      'alive\t0',
    ].join('\n');
    const vms = parseObserveOutput(text);
    expect(vms).toHaveLength(1);
    expect(vms[0]!.pid).toBe(4242);
    expect(observedWorkspace(vms[0]!, undefined)).toEqual({
      name: 'vm1',
      provider: 'qemu',
      specHash: 'h1',
      applySet: 'set',
      running: true,
      address: '127.86.1.2',
      services: [],
    });
    expect(observedWorkspace({ ...vms[0]!, pid: 0 }, undefined).running).toBe(false);
  });
});

describe('boot errors', () => {
  it('serial tail drops carriage returns, escapes and blank lines', () => {
    expect(serialTail('a\r\n\x1b[0mb\r\n\r\n' + Array.from({ length: 30 }, (_, i) => `l${i}`).join('\n'), 3)).toBe('l27\nl28\nl29');
  });

  it('says which stage failed, what to check, and shows the console', () => {
    const msg = bootFailureMessage({
      name: 'vm1',
      node: 'n1',
      stage: 'guest SSH reachable',
      reason: 'no SSH login as root within 20s',
      serial: 'vendetta-guest: vendetta.no_ssh given',
      serialPath: paths.serial,
      kernelBoot: true,
    });
    expect(msg).toContain('workspace vm1 on node n1: VM did not become ready (stage "guest SSH reachable" failed');
    expect(msg).toContain('vendetta.ssh_key=<base64>');
    expect(msg).toContain(`Serial console (${paths.serial}), last lines:\nvendetta-guest: vendetta.no_ssh given`);
  });
});

describe('cloud-init seed', () => {
  it('root guest: root login by key only, workspace dirs made', () => {
    expect(userData({ name: 'vm1', user: 'root', publicKey: KEY })).toBe(
      [
        '#cloud-config',
        'hostname: vm1',
        'disable_root: false',
        'users:',
        '  - name: root',
        `    ssh_authorized_keys: ["${KEY}"]`,
        'ssh_pwauth: false',
        'runcmd:',
        '  - [mkdir, -p, /workspace, /var/lib/vendetta]',
        '  - [chown, "root", /workspace, /var/lib/vendetta]',
        '',
      ].join('\n'),
    );
    expect(metaData({ name: 'vm1', user: 'root', publicKey: KEY })).toBe('instance-id: vendetta-vm1\nlocal-hostname: vm1\n');
  });

  it('other users get passwordless sudo and the key', () => {
    const ud = userData({ name: 'vm1', user: 'dev', publicKey: KEY });
    expect(ud).toContain('  - name: "dev"');
    expect(ud).toContain("    sudo: 'ALL=(ALL) NOPASSWD:ALL'");
    expect(ud).toContain(`    ssh_authorized_keys: ["${KEY}"]`);
  });

  it('seed builder prefers cloud-localds, labels the volume cidata', () => {
    const [sh, , script, , dir, out] = seedBuildArgv('/s', '/s.img');
    expect([sh, dir, out]).toEqual(['/bin/sh', '/s', '/s.img']);
    expect(script!.indexOf('cloud-localds')).toBeLessThan(script!.indexOf('genisoimage'));
    expect(script).toContain('-volid cidata');
    expect(script).toContain('mkfs.vfat -n CIDATA');
  });

  it('readiness waits for cloud-init to finish on seeded guests only', () => {
    expect(guestReadyArgv(false)).toEqual(['mkdir', '-p', '/workspace', '/var/lib/vendetta']);
    const [sh, c, script] = guestReadyArgv(true);
    expect([sh, c]).toEqual(['/bin/sh', '-c']);
    expect(script).toMatch(/while \[ ! -e \/run\/cloud-init\/result.json \].*; mkdir -p \/workspace \/var\/lib\/vendetta$/);
  });
});

describe('QMP line reader', () => {
  it('joins chunks into complete JSON lines', () => {
    const r = new QmpLineReader();
    expect(r.push('{"QMP": {"version"')).toEqual([]);
    expect(r.push(': 1}}\n{"return": {}}\n{"event": "POWER')).toEqual([{ QMP: { version: 1 } }, { return: {} }]);
    expect(r.push('DOWN"}\n')).toEqual([{ event: 'POWERDOWN' }]);
  });
});

describe("volumes", () => {
  it('each volume is a virtio disk with a serial, outside the VM directory', () => {
    const m = meta({ vm: { kernel: '/k' }, volumes: [{ name: 'data', path: '/srv/data' }, { name: 'a-rather-long-volume-name', path: 'cache' }] });
    expect(m.vm.volumes).toEqual([
      { name: 'data', serial: 'data', mount: '/srv/data' },
      { name: 'a-rather-long-volume-name', serial: volumeSerial('a-rather-long-volume-name'), mount: '/workspace/cache' },
    ]);
    expect(volumeSerial('a-rather-long-volume-name')).toMatch(/^a-rather-lo-[0-9a-f]{8}$/);
    const argv = qemuArgv('qemu-system-x86_64', 'tcg', m, paths, 30000, KEY);
    expect(paths.volumesDir).toBe('/home/u/.vendetta/qemu/n1/.volumes/vm1');
    expect(argv.join(' ')).toContain(`-drive file=/home/u/.vendetta/qemu/n1/.volumes/vm1/data.qcow2,if=none,id=vol0,format=qcow2 -device virtio-blk-pci,drive=vol0,serial=data`);
  });

  it('volume listing parses allocated sizes, and ignores what is not ours', () => {
    const text = '196\t/home/u/.vendetta/qemu/n1/.volumes/vm1/data.qcow2\n4\t/home/u/.vendetta/qemu/n1/.volumes/vm1/Bad.qcow2\n';
    expect(parseVolumeList(text, 'qcow2')).toEqual([{ workspace: 'vm1', name: 'data', handle: '/home/u/.vendetta/qemu/n1/.volumes/vm1/data.qcow2', usedBytes: 196 * 1024 }]);
  });
});
