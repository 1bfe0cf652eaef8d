import type { ServerResponse } from 'node:http';

/** A response not yet closed, as linked into OpenResponses (the request pipeline's state for it). */
export interface OpenEntry {
  readonly res: ServerResponse;
  prev: OpenEntry | null;
  next: OpenEntry | null;
}

/**
 * The responses not yet closed, oldest first: a drain marks those without headers
 * `Connection: close`, and a heartbeat names the oldest. An intrusive list, not a Set: the
 * pipeline links the one object it keeps per request anyway, and a long-lived Set taking and
 * dropping every young response cost each scavenge dearly under TLS (the worker's heap grew
 * to mark-compacts at 20k req/s; with the list it stays flat, as with no tracking at all).
 */
export class OpenResponses {
  private head: OpenEntry | null = null;
  private tail: OpenEntry | null = null;
  size = 0;

  link(entry: OpenEntry): void {
    entry.prev = this.tail;
    entry.next = null;
    if (this.tail) this.tail.next = entry;
    else this.head = entry;
    this.tail = entry;
    this.size++;
  }

  /** Unlinks an entry of this list (once: the pipeline unlinks when the response closes). */
  unlink(entry: OpenEntry): void {
    if (entry.prev) entry.prev.next = entry.next;
    else this.head = entry.next;
    if (entry.next) entry.next.prev = entry.prev;
    else this.tail = entry.prev;
    entry.prev = null;
    entry.next = null;
    this.size--;
  }

  oldest(): ServerResponse | undefined {
    return this.head?.res;
  }

  *[Symbol.iterator](): IterableIterator<ServerResponse> {
    for (let e = this.head; e; e = e.next) yield e.res;
  }
}
