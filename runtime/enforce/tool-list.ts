// The pinned tool list: the one component that reads a server's live tool list, keeps what calls are pinned to, and
// reads it again after a change, used alike by `enforce()`, `guardClient()` and the proxy's upstream sessions.
import { MAX_STALE_READS, readToolList, type ToolListPage } from "../manifest/listing.js";

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

export interface PinnedToolListOptions<T> {
  /** Reads one page of the server's own, unfiltered `tools/list`. */
  readonly readPage: (cursor: string | undefined) => Promise<ToolListPage>;
  /** Turns a whole list no change overtook into what is kept; runs in the step that found the read unchanged. */
  readonly keep: (tools: Record<string, unknown>[]) => T;
  /** The error a call gets when the list kept changing under its reads (each side has its own code). */
  readonly unpinnable: () => Error;
  /** Bounds each refresh: calls waiting for it are refused with `timedOut()` once this passes; unbounded when absent. */
  readonly timeoutMs?: number | undefined;
  readonly timedOut?: ((ms: number) => Error) | undefined;
}

/** A call waiting for the refresh in flight to keep a list. */
interface Waiter {
  readonly budget: ReadBudget;
  /** Called in the same step as a list is kept, before anything else can run (a change announced, say). */
  kept(): void;
  failed(error: unknown): void;
}

/**
 * The refresh policy, the same for every enforcement point: the list is read at the first call that needs it and kept
 * until a change is announced (`changed()`: `list_changed`, a restart, an explicit invalidation); a read that a change
 * overtook is stale, never kept, and read again; a call waits through at most MAX_STALE_READS reads in all (its
 * budget) and is refused past them; calls and changes arriving during a refresh share it; a whole listing read
 * elsewhere (the application's own `tools/list`) is kept when no change overtook it (`offer`).
 */
export class PinnedToolList<T> {
  readonly #options: PinnedToolListOptions<T>;
  #current: T | undefined;
  /** Moves on every change announced: a list read under an earlier generation may be stale. */
  #generation = 0;
  #refreshing: Promise<T> | undefined;
  /** Tells refreshes apart: one that failed or timed out must not end the refresh that replaced it. */
  #refreshes = 0;
  #waiting: Waiter[] = [];

  constructor(options: PinnedToolListOptions<T>) {
    this.#options = options;
  }

  /** What is kept now; undefined until a list was read, and after a change. */
  get current(): T | undefined {
    return this.#current;
  }

  get generation(): number {
    return this.#generation;
  }

  /** A change was announced: what is kept no longer stands, and a read across the change is stale. */
  changed(): void {
    this.#generation += 1;
    this.#current = undefined;
  }

  /**
   * A whole listing read under `generation` by someone else (the application): kept when no change came since, and
   * returned built either way, so the caller can filter what it shows by it.
   */
  offer(generation: number, tools: Record<string, unknown>[]): T {
    const built = this.#options.keep(tools);
    if (generation === this.#generation) this.#current = built;
    return built;
  }

  /** Reads the list now (sharing a refresh in flight) and resolves with what is kept. */
  refresh(): Promise<T> {
    this.#refreshing ??= this.#readUntilUnchanged(++this.#refreshes);
    return this.#refreshing;
  }

  /**
   * Runs `use` on what is kept at a moment when no change has been announced since its list was read: at once when a
   * list is kept, else in the same step as a refresh keeps one. Each call waits through at most the reads left in its
   * `budget`, and is refused past them with `unpinnable()`, as when the refresh fails (then with its error).
   */
  use<R>(use: (kept: T) => R, budget: ReadBudget = readBudget()): R | Promise<R> {
    const current = this.#current;
    if (current !== undefined) return use(current);
    // With no reads left, only a read already in flight may still serve the call; none is started for it.
    if (budget.reads === 0 && this.#refreshing === undefined) return Promise.reject(this.#options.unpinnable());
    return new Promise<R>((resolve, reject) => {
      const kept = (): void => {
        try {
          resolve(use(this.#current!));
        } catch (error) {
          reject(error);
        }
      };
      this.#waiting.push({ budget, kept, failed: reject });
      // The refresh's failure reaches this call through `failed`.
      this.refresh().catch(() => undefined);
    });
  }

  async #readUntilUnchanged(mine: number): Promise<T> {
    const timeoutMs = this.#options.timeoutMs;
    let timer: NodeJS.Timeout | undefined;
    // A server that never answers would hold every call waiting for the pin, and its decision, forever.
    if (timeoutMs !== undefined) {
      timer = setTimeout(() => this.#fail(this.#options.timedOut?.(timeoutMs) ?? this.#options.unpinnable(), mine), timeoutMs);
      timer.unref?.();
    }
    try {
      for (let attempt = 0; attempt < MAX_STALE_READS; attempt++) {
        const started = this.#generation;
        this.#chargeWaiting();
        const tools = await readToolList(this.#options.readPage);
        // Kept, and the waiting calls served, in the step that found the read unchanged: a change landing before
        // this function resumes must neither be followed by keeping what it made stale nor join this refresh.
        if (started === this.#generation) return this.#keep(tools, mine);
      }
      throw this.#options.unpinnable();
    } catch (error) {
      this.#fail(error, mine);
      throw error;
    } finally {
      clearTimeout(timer);
    }
  }

  #keep(tools: Record<string, unknown>[], refresh: number): T {
    const kept = this.#options.keep(tools);
    this.#current = kept;
    if (this.#refreshes === refresh) this.#refreshing = undefined;
    for (const waiter of this.#waiting.splice(0)) waiter.kept();
    return kept;
  }

  /** The refresh failed (or timed out): its waiting calls are refused, and the next call starts a new one. */
  #fail(error: unknown, refresh: number): void {
    if (this.#refreshes !== refresh || this.#refreshing === undefined) return;
    this.#refreshing = undefined;
    for (const waiter of this.#waiting.splice(0)) waiter.failed(error);
  }

  /** A read starts: each waiting call spends one of its reads, and one with none left is refused rather than wait. */
  #chargeWaiting(): void {
    this.#waiting = this.#waiting.filter((waiter) => {
      if (waiter.budget.reads > 0) {
        waiter.budget.reads -= 1;
        return true;
      }
      waiter.failed(this.#options.unpinnable());
      return false;
    });
  }
}
