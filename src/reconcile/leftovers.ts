// What a workspace leaves on a node that vendetta could not reach when told to forget it
// (`delete --force`): named exactly, so the user can remove it by hand. Pure.
import type { NodeResource, ProviderName } from '../model/types.js';
import { containerName, dockerStateRoot } from '../providers/docker/spec.js';
import { instanceName } from '../providers/lxc/spec.js';
import { processRoot } from '../providers/process/driver.js';
import { nodeDir, qemuRoot } from '../providers/qemu/spec.js';

/** "docker container vendetta-api", "directory ~/.vendetta/workspaces/api (…)", … */
export function workspaceLeftover(node: NodeResource | undefined, provider: ProviderName, workspace: string): string {
  switch (provider) {
    case 'docker':
      return `docker container ${containerName(workspace)} and its state directory ${dockerStateDirName(node, workspace)}`;
    case 'lxc':
      return `LXD/Incus instance ${instanceName(workspace)}`;
    case 'qemu':
      return `QEMU VM ${workspace} (its qemu process and ${nodeDir(qemuRoot('~'), node?.metadata.name ?? 'NODE')}/${workspace})`;
    case 'process':
      return `directory ${node ? processRoot(node, '~', process.env.VENDETTA_HOME) : '~/.vendetta/workspaces'}/${workspace} and the service processes it supervises`;
  }
}

function dockerStateDirName(node: NodeResource | undefined, workspace: string): string {
  if (!node) return `~/.vendetta/docker/NODE/${workspace}`;
  try {
    return `${dockerStateRoot(node, '~', process.env.VENDETTA_HOME)}/${workspace}`;
  } catch {
    return `${node.spec.providers?.docker?.stateRoot}/${node.metadata.name}/${workspace}`; // an invalid stateRoot, as written
  }
}

/** A service alone: its supervisor and state inside its workspace. */
export function serviceLeftover(service: string, workspace: string, provider: ProviderName): string {
  return `service ${service} (its supervisor and process) in ${provider} workspace ${workspace}`;
}
