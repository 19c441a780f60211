import { readFileSync, watch, type FSWatcher } from 'node:fs';
import { basename, dirname } from 'node:path';
import { AgentError } from '../errors.js';
import type { Logger } from '../log.js';
import { parseRemoteNodes, type RemoteNode } from './remote-node.js';

/**
 * `--remote-nodes-file`: a JSON list of the other nodes (`[{ "name", "ip", "podCIDRs" }]`), for running
 * several agents without Kubernetes. Read once by start() (a missing file is an empty list), then
 * re-read whenever it changes (fs.watch on its directory, so an atomic rename is seen too) and handed
 * to onChange. A file that does not parse is logged and ignored: the last good list stays in force.
 */
export class RemoteNodesFile {
  #watcher: FSWatcher | undefined;
  #timer: NodeJS.Timeout | undefined;
  #last = '';

  constructor(
    readonly path: string,
    private readonly onChange: (nodes: RemoteNode[]) => void,
    private readonly log: Logger,
  ) {}

  /** Reads the file now (throws if it exists but is invalid) and starts watching it. */
  start(): RemoteNode[] {
    const nodes = this.#read() ?? [];
    this.#watcher = watch(dirname(this.path), { persistent: false }, (_ev, file) => {
      if (file !== null && file !== basename(this.path)) return;
      if (this.#timer) clearTimeout(this.#timer);
      this.#timer = setTimeout(() => this.reload(), 50);
    });
    return nodes;
  }

  /** Re-reads the file and calls onChange if its content changed. */
  reload(): void {
    let nodes: RemoteNode[] | undefined;
    try {
      nodes = this.#read(true);
    } catch (e) {
      this.log.error({ file: this.path, err: e instanceof Error ? e.message : String(e) }, 'remote nodes file is invalid; keeping the previous list');
      return;
    }
    if (nodes === undefined) return;
    try {
      this.onChange(nodes);
    } catch (e) {
      this.log.error({ file: this.path, err: e instanceof Error ? e.message : String(e) }, 'applying the remote nodes file failed');
    }
  }

  /** The nodes, or undefined when onlyIfChanged and the content is the same as last time. */
  #read(onlyIfChanged = false): RemoteNode[] | undefined {
    let text: string;
    try {
      text = readFileSync(this.path, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
      text = '[]';
    }
    if (onlyIfChanged && text === this.#last) return undefined;
    let raw: unknown = [];
    try {
      if (text.trim() !== '') raw = JSON.parse(text) as unknown;
    } catch (e) {
      throw new AgentError('NODE_FILE_INVALID', `remote nodes file ${this.path} is not JSON: ${e instanceof Error ? e.message : String(e)}`, 'write a JSON array of {"name", "ip", "podCIDRs"}');
    }
    const nodes = parseRemoteNodes(raw);
    this.#last = text;
    return nodes;
  }

  stop(): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#watcher?.close();
    this.#watcher = undefined;
  }
}
