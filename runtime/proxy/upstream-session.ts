// One MCP session with the upstream server and the tool list pinned for it: the supervisor that reaches the server
// (a child process, or an HTTP session), the ToolPin of what it lists, and the refresh that reads and pins that list.
// The proxy keeps one per downstream client by default, or one shared by every client.
import type { Logger } from "pino";
import type { Tool } from "@modelcontextprotocol/sdk/types.js";
import { ProxyError, RPC_UPSTREAM_UNAVAILABLE } from "./errors.js";
import type { PinReport, ToolPin } from "./pin.js";
import { MAX_STALE_READS, readToolList, readUnchanged, type ToolListPage } from "../manifest/listing.js";
import type { UpstreamSupervisor } from "./upstream.js";

/**
 * The tool-list reads one call may still wait through, over every check of the pin it makes (before the guard, and
 * again after an approval) and whichever refreshes they belong to: MAX_STALE_READS in all.
 */
export interface ReadBudget {
  reads: number;
}

export function readBudget(): ReadBudget {
  return { reads: MAX_STALE_READS };
}

/** A call waiting for the refresh in flight to pin a list. */
interface PinWaiter {
  readonly budget: ReadBudget;
  /** Called in the same step as a list is pinned, before anything else can run (a change announced, say). */
  pinned(): void;
  failed(error: unknown): void;
}

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
  #refreshing: Promise<PinReport> | undefined;
  /** Calls waiting for the refresh in flight: served as it pins a list, refused when it fails or they run out of reads. */
  #waiting: PinWaiter[] = [];
  /** Counts the changes announced to the tool list (restarts, `list_changed`): a list read across one is stale. */
  #toolsEpoch = 0;
  #closed = false;
  #started: Promise<void> | undefined;

  constructor(id: number, parts: UpstreamParts, logger: Logger) {
    this.id = id;
    this.supervisor = parts.supervisor;
    this.pin = parts.pin;
    this.#log = logger.child({ upstream: id });
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
    this.#toolsEpoch += 1;
    this.pin.invalidate();
  }

  /**
   * Fetches the full tool list from the upstream and compares it with the reviewed digests. A list that a change
   * overtook while it was read (the server may have answered just before changing a tool) is read again, never pinned,
   * at most MAX_STALE_READS reads in all; calls and changes that come meanwhile share this refresh.
   */
  refreshTools(): Promise<PinReport> {
    this.#refreshing ??= this.#pinCurrentList();
    return this.#refreshing;
  }

  /**
   * Reads the upstream's tool list again although no change was announced: a server may change a tool without
   * `tools/list_changed`. Calls go on against the current pin while it is read; a tool whose definition changed is
   * refused from the moment the new list is pinned. Shares a refresh already in flight.
   */
  recheckTools(): Promise<PinReport> {
    return this.refreshTools();
  }

  async #pinCurrentList(): Promise<PinReport> {
    try {
      const report = await readUnchanged(
        () => this.#toolsEpoch,
        () => {
          this.#chargeWaiting();
          return readToolList((cursor) => this.supervisor.request("tools/list", cursor === undefined ? undefined : { cursor }) as Promise<ToolListPage>);
        },
        (tools) => this.#pin(tools as Tool[]),
      );
      if (report === undefined) throw unpinnable();
      return report;
    } catch (error) {
      this.#refreshing = undefined;
      for (const waiter of this.#waiting.splice(0)) waiter.failed(error);
      throw error;
    }
  }

  /**
   * Pins a list no change overtook and serves the calls waiting for it, in one step: a change announced after it
   * finds the pin invalidated and starts a new refresh, instead of joining this finished one.
   */
  #pin(tools: Tool[]): PinReport {
    const report = this.pin.update(tools);
    this.#refreshing = undefined;
    for (const waiter of this.#waiting.splice(0)) waiter.pinned();
    const level = report.changed.length + report.unreviewed.length > 0 ? "warn" : "info";
    this.#log[level]({ ...report }, "upstream tool list pinned");
    return report;
  }

  /** A read starts: each waiting call spends one of its reads, and one with none left is refused rather than wait. */
  #chargeWaiting(): void {
    this.#waiting = this.#waiting.filter((waiter) => {
      if (waiter.budget.reads > 0) {
        waiter.budget.reads -= 1;
        return true;
      }
      waiter.failed(unpinnable());
      return false;
    });
  }

  /**
   * Runs `use` on the pin at a moment when no change has been announced since its list was read: at once when the pin
   * is current, else in the same step as a refresh pins a list (the one in flight, or one this starts), so that nothing
   * can come in between. Calls waiting at once share that refresh; each waits through at most the reads left in its
   * `budget` (MAX_STALE_READS for a new one) and is refused past them with PQG8017, as when the refresh fails (then
   * with its error). Throws or rejects with what `use` throws.
   */
  withPin<T>(use: (pin: ToolPin) => T, budget: ReadBudget = readBudget()): T | Promise<T> {
    const pin = this.pin;
    if (pin.verified) return use(pin);
    // With no reads left, only a read already in flight may still serve the call; none is started for it.
    if (budget.reads === 0 && this.#refreshing === undefined) return Promise.reject(unpinnable());
    return new Promise<T>((resolve, reject) => {
      const pinned = (): void => {
        try {
          resolve(use(pin));
        } catch (error) {
          reject(error);
        }
      };
      this.#waiting.push({ budget, pinned, failed: reject });
      // The refresh's failure reaches this call through `failed`.
      this.refreshTools().catch(() => undefined);
    });
  }
}
