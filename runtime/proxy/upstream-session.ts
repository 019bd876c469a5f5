// One MCP session with the upstream server and the tool list pinned for it: the supervisor that reaches the server
// (a child process, or an HTTP session), the ToolPin of what it lists, and the pinned tool list that reads it.
// The proxy keeps one per downstream client by default, or one shared by every client.
import type { Logger } from "pino";
import type { Tool } from "@modelcontextprotocol/sdk/types.js";
import { ProxyError, RPC_UPSTREAM_UNAVAILABLE } from "./errors.js";
import type { PinReport, ToolPin } from "./pin.js";
import { MAX_STALE_READS, type ToolListPage } from "../manifest/listing.js";
import { PinnedToolList, readBudget, type ReadBudget } from "../enforce/tool-list.js";

export { readBudget, type ReadBudget } from "../enforce/tool-list.js";
import type { UpstreamSupervisor } from "./upstream.js";

/** The tool list could not be read without a change overtaking the read, within the reads a refresh or a call may make. */
function unpinnable(): ProxyError {
  return new ProxyError("PQG8017", `the upstream's tool list kept changing while it was read, so it could not be pinned within ${MAX_STALE_READS} reads`, RPC_UPSTREAM_UNAVAILABLE);
}

/** What an upstream session is made of; the core's factory supplies the supervisor and pin for each new one. */
export interface UpstreamParts {
  readonly supervisor: UpstreamSupervisor;
  readonly pin: ToolPin;
}

export class UpstreamSession {
  readonly id: number;
  readonly supervisor: UpstreamSupervisor;
  readonly pin: ToolPin;
  readonly #log: Logger;
  /** The pinned tool list, with the refresh policy every enforcement point shares (enforce/tool-list.ts). */
  readonly #list: PinnedToolList<PinReport>;
  #closed = false;
  #started: Promise<void> | undefined;

  constructor(id: number, parts: UpstreamParts, logger: Logger) {
    this.id = id;
    this.supervisor = parts.supervisor;
    this.pin = parts.pin;
    this.#log = logger.child({ upstream: id });
    this.#list = new PinnedToolList({
      readPage: (cursor) => this.supervisor.request("tools/list", cursor === undefined ? undefined : { cursor }) as Promise<ToolListPage>,
      keep: (tools) => this.#pin(tools as unknown as Tool[]),
      unpinnable,
    });
  }

  get closed(): boolean {
    return this.#closed;
  }

  /**
   * Starts (or connects to) the server and pins its tool list; rejects (PQG8001) when the server cannot be reached.
   * Every caller shares the one start.
   */
  start(): Promise<void> {
    this.#started ??= this.supervisor.start().then(() => this.refreshTools().then(() => undefined));
    return this.#started;
  }

  async close(): Promise<void> {
    this.#closed = true;
    await this.supervisor.close();
  }

  /** After every (re)start of the server: a restarted server must be pinned again. */
  ready(): void {
    this.toolsChanged();
    void this.refreshTools().catch((error: unknown) => this.#log.error({ err: String(error) }, "tool list could not be pinned"));
  }

  /** A change to the tool list was announced: the pin no longer stands, and a list read across the change is stale. */
  toolsChanged(): void {
    this.#list.changed();
    this.pin.invalidate();
  }

  /**
   * Fetches the full tool list from the upstream and compares it with the reviewed digests. A list that a change
   * overtook while it was read (the server may have answered just before changing a tool) is read again, never pinned,
   * at most MAX_STALE_READS reads in all; calls and changes that come meanwhile share this refresh.
   */
  refreshTools(): Promise<PinReport> {
    return this.#list.refresh();
  }

  /**
   * Reads the upstream's tool list again although no change was announced: a server may change a tool without
   * `tools/list_changed`. Calls go on against the current pin while it is read; a tool whose definition changed is
   * refused from the moment the new list is pinned. Shares a refresh already in flight.
   */
  recheckTools(): Promise<PinReport> {
    return this.#list.refresh();
  }

  /** Pins a list no change overtook; runs in the step that found the read unchanged (see PinnedToolList). */
  #pin(tools: Tool[]): PinReport {
    const report = this.pin.update(tools);
    const level = report.changed.length + report.unreviewed.length > 0 ? "warn" : "info";
    this.#log[level]({ ...report }, "upstream tool list pinned");
    return report;
  }

  /**
   * Runs `use` on the pin at a moment when no change has been announced since its list was read: at once when the pin
   * is current, else in the same step as a refresh pins a list (the one in flight, or one this starts), so that nothing
   * can come in between. Each call waits through at most the reads left in its `budget` (MAX_STALE_READS for a new
   * one) and is refused past them with PQG8017, as when the refresh fails (then with its error). Throws or rejects
   * with what `use` throws.
   */
  withPin<T>(use: (pin: ToolPin) => T, budget: ReadBudget = readBudget()): T | Promise<T> {
    return this.#list.use(() => use(this.pin), budget);
  }
}
